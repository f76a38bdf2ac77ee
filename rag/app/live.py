"""The index the web chat answers from: `LiveIndex`, ready at once or built at start-up.

    live = LiveIndex(answerer=open_answerer(config))
    live = LiveIndex(build=IndexBuild(config, "../shared/corpus").start())
    live.state, live.notice()
    ('building', '⏳ Building the search index from ../shared/corpus: embedding passages: 120 of 900. ...')

A Hugging Face Space ships without an index: `IndexBuild` makes it in a background
thread while the page is already up, and the page polls `LiveIndex.notice()`.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Literal

from rag.app.catalog import Catalog
from rag.app.render import escape_markdown
from rag.config import Config
from rag.errors import RagError
from rag.limits import DEFAULT_PODCAST_NAME
from rag.sources.git import public_source

if TYPE_CHECKING:
    from rag.answers.answerer import Answerer

log = logging.getLogger(__name__)

IndexState = Literal["ready", "building", "failed"]


class IndexBuild:
    """Builds a missing index in a background thread, then loads the answerer; the
    page polls `status` (a Space ships without an index and builds it at start-up)."""

    def __init__(self, config: Config, corpus: str, *, name: str | None = None) -> None:
        self.config = config
        self.corpus = corpus
        self.name = name  # `ingest(name=...)`: what the app and the LLM call the podcast
        self.status = "starting"
        self.error: str | None = None
        self.answerer: Answerer | None = None
        self._thread = threading.Thread(target=self._run, name="index-build", daemon=True)

    def start(self) -> IndexBuild:
        self._thread.start()
        return self

    def wait(self, timeout: float | None = None) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        from rag.index.build import ingest
        from rag.pipeline import ingest_embedder, open_answerer

        try:
            self.status = "loading the embedding model"
            embedder = ingest_embedder(self.config)
            report = ingest([self.corpus], self.config.index_dir, embedder, name=self.name,
                            allow_private_hosts=self.config.private_fetches,
                            cache_dir=self.config.effective_cache_dir, on_progress=self._progress)
            log.info("%s", report.summary())
            self.status = "loading the index"
            self.answerer = open_answerer(self.config)
            self.status = "ready"
        except RagError as exc:
            self.error = str(exc)
            log.error("building the index failed: %s", exc)
        except Exception as exc:  # noqa: BLE001 - the page says so instead of the app dying
            log.exception("building the index failed")
            self.error = f"{type(exc).__name__}: {exc}"

    @property
    def podcast_name(self) -> str:
        """What the index being built will call the podcast (`rag.pipeline.podcast_name`)."""
        return self.config.podcast_name or self.name or DEFAULT_PODCAST_NAME

    def _progress(self, text: str) -> None:
        self.status = text

    def message(self) -> str:
        """The build's progress or failure for the page (Markdown); "" once it is done."""
        if self.error:
            # Why is the operator's business (paths, git's output, hosts): it is in the log.
            return "⚠️ The search index is not ready: building it failed. The app's log says why."
        if self.answerer is not None:
            return ""
        return f"⏳ Building the search index from {escape_markdown(public_source(self.corpus))}: {escape_markdown(self.status)}. " \
               "Questions can be asked when it is ready (a few minutes on 2 CPUs)."


class LiveIndex:
    """The app's index, in one of three states (`state`):

    - "ready": `answerer` answers and `catalog` lists what the filters offer;
    - "building": its `IndexBuild` is still running; `answerer` is None, `catalog` empty;
    - "failed": the build stopped with an error, shown by `notice()`.

    A building index turns ready the first time it is looked at after its build is done.
    """

    def __init__(self, *, answerer: Answerer | None = None, build: IndexBuild | None = None) -> None:
        if (answerer is None) == (build is None):
            raise ValueError("a LiveIndex takes a loaded answerer or a build, exactly one")
        self._answerer = answerer
        self._build = build
        self._catalog: Catalog | None = None

    @property
    def answerer(self) -> Answerer | None:
        if self._answerer is None and self._build is not None:
            self._answerer = self._build.answerer
        return self._answerer

    @property
    def catalog(self) -> Catalog:
        if self._catalog is None:
            answerer = self.answerer
            if answerer is None:
                return Catalog({}, (), ())
            self._catalog = Catalog.from_episodes(answerer.searcher.index.passages.episodes)
        return self._catalog

    @property
    def podcast_name(self) -> str:
        """What the page calls the podcast: the loaded answerer's name, or the build's."""
        answerer = self.answerer
        if answerer is not None:
            return answerer.podcast
        return self._build.podcast_name if self._build is not None else DEFAULT_PODCAST_NAME

    @property
    def state(self) -> IndexState:
        if self.answerer is not None:
            return "ready"
        return "failed" if self._build is not None and self._build.error else "building"

    def notice(self) -> str:
        """What the page says about the index: the build's progress or failure; "" when ready."""
        return "" if self._build is None else self._build.message()

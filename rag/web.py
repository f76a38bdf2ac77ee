"""The web chat: `build_app(config) -> gr.Blocks`, launched by `app.py`.

    >>> demo = build_app(load_config())             # doctest: +SKIP
    >>> demo.queue().launch(**launch_kwargs())      # doctest: +SKIP

One `Answerer` (index + embedder + LLM client) is loaded when the app is built
and shared by every session. Each question streams into the chat; the final
answer links every citation, "Episode title — Speaker @ mm:ss", to YouTube at
that second (new tab) and cues the embedded privacy-enhanced player beside the
chat. Everything that comes from a transcript or the LLM is HTML-escaped and
Markdown-escaped here before Gradio renders (and sanitizes) it.
"""


import html
import logging
import re
import textwrap
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence
from urllib.parse import parse_qs, urlparse

from rag.answer import Answer, Citation, Delta
from rag.chunking import Passage, format_timestamp
from rag.config import Config
from rag.corpus import public_source
from rag.errors import IndexMissingError, RagError
from rag.feedback import FeedbackLog, answer_details, new_answer_id
from rag.retrieve import Filters

log = logging.getLogger(__name__)

DEFAULT_CONCURRENCY = 4  # answers generated at once; the rest wait in Gradio's queue
DEFAULT_QUEUE_SIZE = 100
EXAMPLES = (
    "How do I get my first job as a data engineer?",
    "What does a data team need in its first year?",
    "What are bloom filters used for?",
    "How should a data scientist write technical documentation?",
)
_VIDEO_ID = re.compile(r"^[A-Za-z0-9_-]{11}$")
_MARKER = re.compile(r"\[(\d+)\]")
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~>])")
# What GFM (Gradio's marked) turns into a link by itself: "scheme:" of a URL, "www.",
# an e-mail's "@". Escaping the last character of each match breaks the autolink.
_AUTOLINK = re.compile(r"(?<![a-z0-9+.-])[a-z][a-z0-9+.-]*:|www\.|@", re.IGNORECASE)
REFUSAL_SPLIT = " The closest moments I found:"

# Clicks on moment links drive the embedded player: a YouTube link (which also
# opens its new tab) cues the player at that second; a "play here" link (the
# player's own embed URL) plays it there instead of leaving the page.
PLAYER_JS = """
if (!window.__ragPlayerClicks) {
  window.__ragPlayerClicks = true;
  document.addEventListener('click', function (event) {
    const link = event.target.closest && event.target.closest('a[href]');
    if (!link) return;
    let url;
    try { url = new URL(link.href); } catch (e) { return; }
    let id = null, start = 0, play = false;
    if (url.hostname === 'www.youtube-nocookie.com' && url.pathname.startsWith('/embed/')) {
      id = url.pathname.slice('/embed/'.length);
      start = parseInt(url.searchParams.get('start') || '0', 10);
      play = true;
    } else if (url.hostname === 'www.youtube.com' && url.pathname === '/watch') {
      id = url.searchParams.get('v');
      start = parseInt((url.searchParams.get('t') || '0').replace('s', ''), 10);
    }
    if (!id || !/^[A-Za-z0-9_-]{11}$/.test(id)) return;
    const frame = document.querySelector('#rag-player iframe');
    if (!frame) return;
    if (play) event.preventDefault();
    frame.src = 'https://www.youtube-nocookie.com/embed/' + id + '?start=' + (start || 0) + (play ? '&autoplay=1' : '');
  }, true);
}
"""

CSS = """
#rag-player iframe { width: 100%; aspect-ratio: 16 / 9; border: 0; border-radius: 8px; }
#rag-mode { font-size: 0.9em; opacity: 0.85; }
"""


# --------------------------------------------------------------------------- pure rendering


def escape_markdown(text: str) -> str:
    """Text shown literally: HTML entities for markup, backslashes for Markdown syntax.

    >>> escape_markdown("<b>*hi*</b> [1]")
    '&lt;b&gt;\\\\*hi\\\\*&lt;/b&gt; \\\\[1\\\\]'
    """
    return _MD_SPECIAL.sub(r"\\\1", html.escape(text, quote=False))


def escape_llm(text: str) -> str:
    """LLM text keeps its emphasis and lists but can neither inject HTML nor make
    links or images (only our own citation links are links). Bare URLs, www. names
    and e-mail addresses are broken up with escapes so GFM does not autolink them.

    >>> escape_llm("See https://evil.example/x or www.evil.example, mail a@evil.example")
    'See https\\\\://evil.example/x or www\\\\.evil.example, mail a\\\\@evil.example'
    """
    text = html.escape(text, quote=False)
    text = re.sub(r"([\[\]()!`\\])", r"\\\1", text)
    return _AUTOLINK.sub(lambda m: m.group(0)[:-1] + "\\" + m.group(0)[-1], text)


def video_moment(url: str) -> tuple[str, int] | None:
    """(video id, second) of a YouTube watch link, or None.

    >>> video_moment("https://www.youtube.com/watch?v=dQw4w9WgXcQ&t=75s")
    ('dQw4w9WgXcQ', 75)
    """
    try:
        parsed = urlparse(url or "")
    except ValueError:
        return None
    if parsed.scheme != "https" or parsed.hostname not in ("www.youtube.com", "youtube.com", "youtu.be"):
        return None
    query = parse_qs(parsed.query)
    video = parsed.path.lstrip("/") if parsed.hostname == "youtu.be" else (query.get("v") or [""])[0]
    if not _VIDEO_ID.match(video):
        return None
    raw = (query.get("t") or ["0"])[0].rstrip("s")
    return video, int(raw) if raw.isdigit() else 0


def embed_url(video: str, start: int, *, autoplay: bool = False) -> str:
    """The privacy-enhanced (youtube-nocookie) player URL at `start` seconds."""
    if not _VIDEO_ID.match(video):
        raise ValueError(f"not a YouTube video id: {video!r}")
    return f"https://www.youtube-nocookie.com/embed/{video}?start={max(int(start), 0)}" + ("&autoplay=1" if autoplay else "")


def safe_link(label: str, url: str) -> str:
    """A Markdown link for a known YouTube moment; otherwise the escaped label alone."""
    moment = video_moment(url)
    if moment is None:
        return escape_markdown(label)
    video, start = moment
    return f"[{escape_markdown(label)}](https://www.youtube.com/watch?v={video}&t={start}s)"


def player_html(moment_of: Passage | Citation | None) -> str:
    """The embedded player cued at a citation's line (or a passage's start)."""
    moment = video_moment(moment_of.url) if moment_of else None
    if moment is None:
        return '<div class="rag-player-empty"><iframe title="Episode player" src="about:blank"></iframe>' \
               "<p>Click a citation to play the episode from that moment.</p></div>"
    video, start = moment
    caption = html.escape(moment_of.label())  # type: ignore[union-attr]
    return (
        f'<iframe title="Episode player" src="{embed_url(video, start)}" '
        'allow="autoplay; encrypted-media; picture-in-picture" allowfullscreen '
        'referrerpolicy="strict-origin-when-cross-origin"></iframe>'
        f"<p>{caption}</p>"
    )


def render_streaming(text: str) -> str:
    return escape_llm(text) + " ▌"


def render_answer(answer: Answer) -> str:
    """The final chat message: answer text with linked [n] markers, then the citations."""
    if answer.refused:
        body = escape_llm(answer.text.split(REFUSAL_SPLIT)[0])
        if not answer.sources:
            return body
        closest = "\n".join(f"- {safe_link(hit.label(), hit.url)}" for hit in answer.sources)
        return f"{body}\n\nThe closest moments I found:\n\n{closest}"
    by_n = {c.n: c for c in answer.citations}
    parts = []
    for i, piece in enumerate(_MARKER.split(answer.text)):
        if i % 2 == 0:
            parts.append(escape_llm(piece))
            continue
        citation = by_n.get(int(piece))
        moment = video_moment(citation.url) if citation else None
        if moment:
            parts.append(f"[\\[{piece}\\]](https://www.youtube.com/watch?v={moment[0]}&t={moment[1]}s)")
        else:
            parts.append(f"\\[{piece}\\]")
    text = "".join(parts)
    if answer.citations:
        text += "\n\n**Sources**\n\n" + "\n".join(citation_line(c) for c in answer.citations)
    return text


def citation_line(citation: Citation) -> str:
    mark = "" if citation.verified else " *(not verified against the transcript)*"
    return f"{citation.n}. {safe_link(citation.label(), citation.url)}{mark}"


def render_sources(answer: Answer) -> str:
    """The sources panel: each passage behind the answer with speakers, time, excerpt and links."""
    if not answer.sources:
        return "*No passages matched.*"
    cited = {c.passage.id for c in answer.citations}
    blocks = []
    for n, hit in enumerate(answer.sources, 1):
        passage = hit.passage
        when = f"{format_timestamp(passage.start_s)}–{format_timestamp(passage.end_s)}, opens at {format_timestamp(hit.link_sec)}"
        links = []
        moment = video_moment(hit.url)
        if moment:
            links.append(f"[▶ play here]({embed_url(*moment)})")
            links.append(safe_link("YouTube ↗", hit.url))
        excerpt = textwrap.shorten(" ".join(passage.text.split()), width=420, placeholder=" …")
        speakers = ", ".join(passage.speakers) or "Unknown speaker"
        tag = " · cited" if passage.id in cited else ""
        blocks.append(
            f"**\\[{n}\\] {escape_markdown(passage.episode_title)}**{tag}  \n"
            f"{escape_markdown(speakers)} · {when} · {' · '.join(links)}\n\n"
            f"> {escape_markdown(excerpt)}"
        )
    return "\n\n---\n\n".join(blocks)


def citations_json(answer: Answer) -> list[dict[str, Any]]:
    return [
        {"n": c.n, "label": c.label(), "episode": c.passage.episode_id, "url": c.url, "verified": c.verified}
        for c in answer.citations
    ]


def mode_line(config: Config) -> str:
    if config.llm.configured:
        shown = config.llm.describe().replace("`", "'")  # a code span: shown literally, never a link
        return f"**Answer mode:** LLM — `{shown}`"
    return (
        "**Answer mode:** offline extractive — answers quote the transcripts. To enable an LLM, set "
        "`OPENAI_BASE_URL` and `RAG_LLM_MODEL` (e.g. Ollama), or `OPENAI_API_KEY`, or `HF_TOKEN` "
        "(Hugging Face router), and restart."
    )


def _message(message: Any) -> str:
    """Text of a Chatbot message (a str, or Gradio 6's list of content parts)."""
    content = message.get("content") if isinstance(message, Mapping) else message
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence):
        return " ".join(part.get("text", "") for part in content if isinstance(part, Mapping))
    return ""


@dataclass(frozen=True)
class Catalog:
    """What the filters offer, read once from the loaded index."""

    episodes: dict[str, str]  # id -> title
    guests: tuple[str, ...]
    seasons: tuple[int, ...]

    @classmethod
    def from_passages(cls, passages: Sequence[Passage]) -> "Catalog":
        episodes: dict[str, str] = {}
        guests: set[str] = set()
        seasons: set[int] = set()
        for p in passages:
            episodes.setdefault(p.episode_id, p.episode_title)
            guests.update(g for g in p.guests if g)
            if p.season is not None:
                seasons.add(p.season)
        ordered = dict(sorted(episodes.items(), key=lambda item: item[1].casefold()))
        return cls(ordered, tuple(sorted(guests, key=str.casefold)), tuple(sorted(seasons)))

    def scope_line(self, episode: str | None) -> str:
        if not episode:
            return ""
        if episode not in self.episodes:
            return f"No episode {_shown(episode)} in this index: searching all episodes."
        return f"### Chatting about: {escape_markdown(self.episodes[episode])}"

    def filters(self, episode: Any, guest: Any, season: Any) -> tuple[Filters, list[str]]:
        """The filters chosen, each accepted only from this catalog, and a note per value ignored.

        >>> Catalog({"e1": "Ep"}, ("Ann Lee",), (2,)).filters("e1", "Bob", "2")
        (Filters(episode='e1', guest=None, season=2), ['No guest “Bob” in this index: searched all guests.'])
        """
        notes: list[str] = []

        def known(value: Any, allowed: Any, what: str) -> str | None:
            if value in (None, ""):
                return None
            text = value if isinstance(value, str) else str(value)
            if text in allowed:
                return text
            notes.append(f"No {what} {_shown(text)} in this index: searched all {what}s.")
            return None

        episode_id = known(episode, self.episodes, "episode")
        guest_name = known(guest, self.guests, "guest")
        season_text = known(season, {str(s) for s in self.seasons}, "season")
        return Filters(episode=episode_id, guest=guest_name, season=int(season_text) if season_text else None), notes


def _shown(value: str, width: int = 80) -> str:
    """A value a visitor typed, quoted back to them: shortened and escaped."""
    return f"“{escape_markdown(value if len(value) <= width else value[:width] + '…')}”"


# --------------------------------------------------------------------------- the app


def launch_kwargs() -> dict[str, Any]:
    """What `launch()` needs besides host and port (Gradio 6 takes css/head there)."""
    return {"css": CSS}


class IndexBuild:
    """Builds a missing index in a background thread, then loads the answerer; the
    page polls `status` (a Space ships without an index and builds it at start-up)."""

    def __init__(self, config: Config, corpus: str) -> None:
        self.config = config
        self.corpus = corpus
        self.status = "starting"
        self.error: str | None = None
        self.answerer: Any = None
        self._thread = threading.Thread(target=self._run, name="index-build", daemon=True)

    def start(self) -> "IndexBuild":
        self._thread.start()
        return self

    def wait(self, timeout: float | None = None) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        from rag.cli import ingest_embedder, open_answerer
        from rag.ingest import ingest

        try:
            self.status = "loading the embedding model"
            embedder = ingest_embedder(self.config)
            report = ingest([self.corpus], self.config.index_dir, embedder,
                            cache_dir=self.config.effective_cache_dir, on_progress=self._progress)
            log.info("%s", report.summary())
            self.status = "loading the index"
            self.answerer = open_answerer(self.config)
            self.status = "ready"
        except RagError as exc:
            self.error = str(exc)
        except Exception as exc:  # noqa: BLE001 - shown on the page instead of killing the app
            log.exception("building the index failed")
            self.error = f"{type(exc).__name__}: {exc}"

    def _progress(self, text: str) -> None:
        self.status = text

    def message(self) -> str:
        if self.error:
            return f"⚠️ Building the index failed: {escape_markdown(self.error)}"
        if self.answerer is not None:
            return ""
        return f"⏳ Building the search index from {escape_markdown(public_source(self.corpus))}: {escape_markdown(self.status)}. " \
               "Questions can be asked when it is ready (a few minutes on 2 CPUs)."


def build_app(
    config: Config,
    *,
    feedback_path: str | Path = "feedback.jsonl",
    concurrency: int = DEFAULT_CONCURRENCY,
    build_from: str | None = None,
) -> Any:
    """The chat page over `config.index_dir`.

    When the index is missing and `build_from` names a corpus, the page comes up at
    once and shows the build's progress until the index is ready; without a corpus,
    or when the index is unusable, a page explains how to build it (never a traceback).
    """
    import gradio as gr

    from rag.cli import open_answerer

    build: IndexBuild | None = None
    try:
        answerer = open_answerer(config)
    except IndexMissingError as exc:
        if not build_from:
            return _problem_app(str(exc), config)
        answerer, build = None, IndexBuild(config, build_from).start()
    except RagError as exc:
        return _problem_app(str(exc), config)
    # Filled once the index is loaded: at once, or when the start-up build finishes.
    live: dict[str, Any] = {"answerer": answerer, "catalog": _catalog_of(answerer)}
    feedback = FeedbackLog(feedback_path, secrets=config.llm.secrets)
    limits = config.limits

    def current_answerer() -> Any:
        if live["answerer"] is None and build is not None and build.answerer is not None:
            live["answerer"], live["catalog"] = build.answerer, _catalog_of(build.answerer)
        return live["answerer"]

    def ask(message: str, chat: list, records: list, episode: Any, guest: Any, season: Any) -> Iterator[tuple]:
        """Stream one answer. `records` (session state) keeps the last `max_session_records`
        answers, each with its id and its message's index in the chat, for history and votes."""
        message = (message or "").strip()
        chat = list(chat or [])
        records = list(records or [])[-limits.max_session_records :]
        if not message:
            yield chat, "", gr.skip(), gr.skip(), records
            return
        answerer = current_answerer()
        filters, notes = live["catalog"].filters(episode, guest, season)
        note = "".join(f"*{n}*\n\n" for n in notes)
        shown = message if len(message) <= limits.max_question_chars else message[: limits.max_question_chars] + " …"
        chat = [*chat, {"role": "user", "content": escape_markdown(shown)}, {"role": "assistant", "content": "▌"}]
        if answerer is None:
            chat[-1] = {"role": "assistant", "content": build.message() if build else "⚠️ No index."}
            yield chat, "", gr.skip(), gr.skip(), records
            return
        yield chat, "", gr.skip(), gr.skip(), records
        text = ""
        final: Answer | None = None
        try:
            for event in answerer.stream(message, [r["question"] for r in records], filters):
                if isinstance(event, Delta):
                    text += event.text
                    chat[-1] = {"role": "assistant", "content": note + render_streaming(text)}
                    yield chat, "", gr.skip(), gr.skip(), records
                else:
                    final = event
        except RagError as exc:
            chat[-1] = {"role": "assistant", "content": f"{note}⚠️ {escape_markdown(str(exc))}"}
            yield chat, "", gr.skip(), gr.skip(), records
            return
        except Exception:  # noqa: BLE001 - a bug must not leak a traceback to the page
            log.exception("answering %r failed", message)
            chat[-1] = {"role": "assistant", "content": "⚠️ Something went wrong while answering; please try again."}
            yield chat, "", gr.skip(), gr.skip(), records
            return
        assert final is not None
        chat[-1] = {"role": "assistant", "content": note + render_answer(final)}
        chosen = {"episode": filters.episode, "guest": filters.guest, "season": filters.season}
        records.append(
            {
                "id": new_answer_id(),
                "message": len(chat) - 1,  # the index gr.LikeData gives for this answer
                **answer_details(message, final.text, citations_json(final), mode=final.mode, filters=chosen),
            }
        )
        records = records[-limits.max_session_records :]
        first = final.citations[0] if final.citations else (final.sources[0].passage if final.sources else None)
        yield chat, "", render_sources(final), player_html(first), records

    def vote(records: list, data: gr.LikeData) -> None:
        """One click on a message's thumbs: logged against the answer shown in that message.
        Messages without a record (errors, build notices, turns older than the session
        keeps) take no vote."""
        index = data.index[0] if isinstance(data.index, (list, tuple)) else data.index
        record = next((r for r in records or [] if r.get("message") == index), None)
        liked = data.liked if isinstance(data.liked, (bool, str)) or data.liked is None else "?"
        choice = {True: "up", "Like": "up", False: "down", "Dislike": "down", "": "none", None: "none"}.get(liked)
        if record is None or choice is None:
            return
        details = {key: record[key] for key in ("question", "answer", "citations", "mode", "filters")}
        feedback.vote(record["id"], choice, details)

    def pick_example(data: gr.SelectData) -> str:
        return data.value["text"] if isinstance(data.value, Mapping) else str(data.value)

    def on_load(request: gr.Request) -> tuple:
        current_answerer()
        catalog = live["catalog"]
        episode = request.query_params.get("episode") if request else None
        if episode and episode in catalog.episodes:
            return gr.update(value=episode), catalog.scope_line(episode)
        return gr.update(), catalog.scope_line(episode)

    def scope_line(episode: str | None) -> str:
        return live["catalog"].scope_line(episode)

    def poll_build() -> tuple:
        """While the start-up build runs: its progress; once ready, the filters' choices."""
        if current_answerer() is None:
            return build.message() if build else "", gr.skip(), gr.skip(), gr.skip(), gr.Timer(active=build is not None and build.error is None)
        catalog = live["catalog"]
        return ("", gr.update(choices=_episode_choices(catalog)), gr.update(choices=_guest_choices(catalog)),
                gr.update(choices=_season_choices(catalog)), gr.Timer(active=False))

    def clear() -> tuple:
        return [], [], "*Ask a question: the passages behind the answer appear here.*", player_html(None)

    with gr.Blocks(title="Ask the DataTalks.Club podcast", fill_height=True) as demo:
        gr.Markdown("## Ask the DataTalks.Club podcast")
        scope = gr.Markdown("", elem_id="rag-scope")
        gr.Markdown(mode_line(config), elem_id="rag-mode")
        status = gr.Markdown(build.message() if build else "", elem_id="rag-status")
        timer = gr.Timer(2.0, active=build is not None)
        records = gr.State([])
        catalog = live["catalog"]
        with gr.Row():
            with gr.Column(scale=3):
                chatbot = gr.Chatbot(
                    elem_id="rag-chat",
                    height=520,
                    sanitize_html=True,
                    placeholder="Ask anything discussed on the podcast. Answers cite the episode, speaker and second.",
                    examples=[{"text": q} for q in EXAMPLES],
                    feedback_options=("Like", "Dislike"),
                    buttons=["copy"],
                )
                with gr.Row():
                    textbox = gr.Textbox(
                        placeholder="Your question", show_label=False, scale=5, elem_id="rag-question", submit_btn=True
                    )
                    new_chat = gr.Button("New chat", scale=1, variant="secondary")
                # Every filter is checked against the live catalog in `ask` (`Catalog.filters`):
                # a value not in it is ignored with a note in the chat, never searched. Gradio's
                # own check is off (allow_custom_value) because it checks the choices a session
                # was sent — empty for API callers while the start-up build runs — and answers
                # with an error listing every choice instead of a note.
                with gr.Accordion("Filters", open=True):
                    with gr.Row():
                        episode = gr.Dropdown(
                            _episode_choices(catalog), value="", label="Episode", filterable=True,
                            allow_custom_value=True, elem_id="rag-episode", scale=3,
                        )
                        guest = gr.Dropdown(
                            _guest_choices(catalog),
                            value="", label="Guest", filterable=True, allow_custom_value=True, elem_id="rag-guest",
                        )
                        season = gr.Dropdown(
                            _season_choices(catalog), value="", label="Season", allow_custom_value=True,
                            elem_id="rag-season",
                        )
            with gr.Column(scale=2):
                player = gr.HTML(player_html(None), elem_id="rag-player", js_on_load=PLAYER_JS)
                sources = gr.Markdown(
                    "*Ask a question: the passages behind the answer appear here.*",
                    elem_id="rag-sources", sanitize_html=True, max_height=520, label="Sources",
                )

        outputs = [chatbot, textbox, sources, player, records]
        inputs = [textbox, chatbot, records, episode, guest, season]
        textbox.submit(ask, inputs, outputs, api_name="ask", concurrency_limit=concurrency, concurrency_id="answer")
        chatbot.example_select(pick_example, None, textbox, queue=False).then(
            ask, inputs, outputs, concurrency_limit=concurrency, concurrency_id="answer", api_name=False
        )
        chatbot.like(vote, [records], None, queue=False, api_name=False)
        new_chat.click(clear, None, [chatbot, records, sources, player], queue=False, api_name=False)
        chatbot.clear(clear, None, [chatbot, records, sources, player], queue=False, api_name=False)
        episode.change(scope_line, episode, scope, queue=False, api_name=False)
        timer.tick(poll_build, None, [status, episode, guest, season, timer], queue=False, api_name=False)
        demo.load(on_load, None, [episode, scope], queue=False, api_name=False)
    demo.queue(default_concurrency_limit=concurrency, max_size=DEFAULT_QUEUE_SIZE)
    return demo


def _catalog_of(answerer: Any) -> Catalog:
    return Catalog.from_passages(answerer.searcher.index.passages if answerer is not None else [])


def _episode_choices(catalog: Catalog) -> list[tuple[str, str]]:
    return [("All episodes", "")] + [(title, eid) for eid, title in catalog.episodes.items()]


def _guest_choices(catalog: Catalog) -> list[tuple[str, str]]:
    return [("All guests", "")] + [(g, g) for g in catalog.guests]


def _season_choices(catalog: Catalog) -> list[tuple[str, str]]:
    return [("All seasons", "")] + [(f"Season {s}", str(s)) for s in catalog.seasons]


def _problem_app(problem: str, config: Config) -> Any:
    """A page that says what is wrong and how to fix it, for a missing or broken index."""
    import gradio as gr

    shown = problem.replace("`", "'")  # inside a code block: shown literally
    with gr.Blocks(title="Ask the DataTalks.Club podcast") as demo:
        gr.Markdown("## Ask the DataTalks.Club podcast")
        gr.Markdown(
            "### The search index is not ready\n\n"
            f"```\n{shown}\n```\n\n"
            "Build it from the transcripts, then restart the app:\n\n"
            f"```\nrag ingest ../shared/corpus --index {config.index_dir}\n```\n\n"
            "or run `make demo`, or start the app with `--corpus PATH_OR_GIT_URL` to build it at start-up. "
            "`RAG_INDEX` (or `--index`) chooses another index directory.",
            elem_id="rag-problem",
        )
    return demo

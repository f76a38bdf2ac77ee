"""The web chat: `build_app(config) -> gr.Blocks`, launched by `app.py`.

    demo = build_app(load_config())
    demo.queue().launch(**launch_kwargs())

One `Answerer` (index + embedder + LLM client) is loaded when the app is built
and shared by every session (`rag.live.LiveIndex`; on a Space it is built at
start-up). Each question streams into the chat; the final answer links every
citation, "Episode title — Speaker @ mm:ss", to YouTube at that second (new tab)
and cues the embedded privacy-enhanced player beside the chat; an audio-only
episode plays in an HTML5 <audio> player from that second instead. `ChatApp` holds the
handlers Gradio calls and lays out the page; what they show is rendered, escaped,
by `rag.render`. Each finished answer ends with a "Share" link (`rag.share`: the answer
frozen into a signed token) that reopens it on this page; the two MCP tools of
`rag.mcp_tools` are registered as API endpoints, which Gradio's MCP server serves.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Iterator, Mapping

import gradio as gr

from rag.answer import Answer, Answerer, Delta
from rag.budget import within_budget
from rag.config import Config
from rag.errors import IndexMissingError, RagError
from rag.feedback import FeedbackLog, answer_details, new_answer_id
from rag.live import IndexBuild, LiveIndex
from rag.mcp_tools import PodcastTools
from rag.moment import VIDEO_ID
from rag.render import (
    NO_SOURCES_YET,
    answer_cue,
    citations_json,
    escape_markdown,
    player_html,
    render_answer,
    render_sources,
    render_streaming,
    share_line,
    shared_header,
)
from rag.retrieve import Filters
from rag.share import SharedAnswer, ShareLinkError, ShareSigner, load_signer, share_query

log = logging.getLogger(__name__)

# The empty chat's one line on what the bot does (the examples follow it).
PLACEHOLDER = "Ask anything discussed on the podcast: answers cite the episode, the speaker and the second."
SHARED_SOURCES = "*A shared answer: its moments are linked in the chat. Ask a new question to search again.*"
DEFAULT_CONCURRENCY = 4  # answers generated at once; the rest wait in Gradio's queue
DEFAULT_QUEUE_SIZE = 100
EXAMPLES = (
    "How do I get my first job as a data engineer?",
    "What does a data team need in its first year?",
    "What are bloom filters used for?",
    "How should a data scientist write technical documentation?",
)

# Clicks on moment links drive the embedded player: a YouTube link (which also
# opens its new tab) cues the player at that second; a "play here" link (the
# player's own embed URL) plays it there instead of leaving the page. A media-file
# link (http(s) with `#t=N`, `rag.moment.MediaMoment`) plays in the page's <audio>
# (or <video>) from that second instead of opening the file. The JS reads the same
# link forms `rag.moment` writes, and checks ids with its VIDEO_ID.
PLAYER_JS = """
if (!window.__ragPlayerClicks) {
  window.__ragPlayerClicks = true;
  // Put `element` where the player's iframe/audio/video is (the player is rebuilt per answer).
  const ragSwap = function (box, element) {
    const old = box.querySelector('iframe, audio, video');
    if (old) old.replaceWith(element); else box.prepend(element);
    return element;
  };
  document.addEventListener('click', function (event) {
    const link = event.target.closest && event.target.closest('a[href]');
    if (!link) return;
    let url;
    try { url = new URL(link.href); } catch (e) { return; }
    const box = document.querySelector('#rag-player');
    const timed = /^#t=(\\d+)$/.exec(url.hash);
    if (timed && (url.protocol === 'https:' || url.protocol === 'http:')) {
      if (!box) return;
      event.preventDefault();
      const start = parseInt(timed[1], 10);
      const file = url.href.split('#')[0];
      let media = box.querySelector('audio, video');
      if (!media || media.dataset.ragMedia !== file) {
        media = document.createElement(/\\.(mp4|webm)$/i.test(url.pathname) ? 'video' : 'audio');
        media.controls = true;
        media.preload = 'none';
        media.dataset.ragMedia = file;
        media.src = file + '#t=' + start;
        ragSwap(box, media);
      }
      media.currentTime = start;
      const playing = media.play();
      if (playing && playing.catch) playing.catch(function () {});
      return;
    }
    let id = null, start = 0, play = false;
    if (url.hostname === 'www.youtube-nocookie.com' && url.pathname.startsWith('/embed/')) {
      id = url.pathname.slice('/embed/'.length);
      start = parseInt(url.searchParams.get('start') || '0', 10);
      play = true;
    } else if (url.hostname === 'www.youtube.com' && url.pathname === '/watch') {
      id = url.searchParams.get('v');
      start = parseInt((url.searchParams.get('t') || '0').replace('s', ''), 10);
    }
    if (!id || !/^VIDEO_ID$/.test(id)) return;
    if (!box) return;
    let frame = box.querySelector('iframe');
    if (!frame) {
      const media = box.querySelector('audio, video');
      if (media) media.pause();
      frame = document.createElement('iframe');
      frame.title = 'Episode player';
      frame.allow = 'autoplay; encrypted-media; picture-in-picture';
      frame.allowFullscreen = true;
      frame.referrerPolicy = 'strict-origin-when-cross-origin';
      ragSwap(box, frame);
    }
    if (play) event.preventDefault();
    frame.src = 'https://www.youtube-nocookie.com/embed/' + id + '?start=' + (start || 0) + (play ? '&autoplay=1' : '');
  }, true);
}
""".replace("VIDEO_ID", VIDEO_ID.pattern)

CSS = """
#rag-player iframe, #rag-player video { width: 100%; aspect-ratio: 16 / 9; border: 0; border-radius: 8px; }
#rag-player audio { width: 100%; }
#rag-mode { font-size: 0.9em; opacity: 0.85; }
#rag-mode p { display: inline-block; margin: 0; padding: 2px 10px; border-radius: 999px;
              border: 1px solid var(--border-color-primary); }
/* A phone (390 px): the chat, then the player and sources, each the full width. */
@media (max-width: 640px) {
  #rag-layout { flex-direction: column; }
  #rag-layout > div { min-width: 100% !important; }
  #rag-chat { height: 60vh !important; }
}
"""

Reply = tuple[Any, ...]  # what `ask` yields: chat, textbox, sources, player, records


# The scope a page opened with `?episode=ID` asks in travels with each question: the load
# handler that sets the Episode filter may answer after the first question is sent (under
# load it did, and that question searched every episode). While the URL still names the
# episode and the filter says "All", the URL's episode is sent. Choosing an episode in the
# filter (All included) removes it from the URL (FORGET_URL_SCOPE). The server accepts it
# only from the catalog, as any filter value.
SCOPE_FROM_URL = """(message, chat, records, episode, guest, season) => {
    const fromUrl = new URLSearchParams(window.location.search).get("episode");
    return [message, chat, records, episode || fromUrl || "", guest, season];
}"""
FORGET_URL_SCOPE = """() => {
    const url = new URL(window.location.href);
    if (url.searchParams.has("episode")) { url.searchParams.delete("episode"); history.replaceState(null, "", url); }
}"""
MAX_UPLOAD_BYTES = 0
# A request's body: a question, the filters and the chat the page holds (each answer a few KB;
# the chat is cut to the session's records). 60 MB of chat history cost 53 s of server time
# and its validation errors 18 MB of log; a body over this is refused before it is read.
MAX_REQUEST_BYTES = 2 * 1024 * 1024


class RequestBodyLimit:
    """ASGI middleware: a request body over `max_bytes` (by its Content-Length, or as it
    arrives) gets a short 413 and is never handed to the app, parsed or logged."""

    def __init__(self, app: Any, max_bytes: int = MAX_REQUEST_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length", b"0")
        if not declared.isdigit() or int(declared) > self.max_bytes:
            await self._refuse(send)
            return
        received = 0
        started = refused = False

        async def counted_receive() -> dict:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b"")) if message.get("type") == "http.request" else 0
            if received > self.max_bytes:
                raise _BodyTooLarge
            return message

        async def watched_send(message: dict) -> None:
            nonlocal started, refused
            if received > self.max_bytes and not started:
                # The app answered the cut-off body itself (a 400 for broken JSON): the
                # visitor gets the reason instead.
                if not refused:
                    refused = True
                    await self._refuse(send)
                return
            started = started or message.get("type") == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, watched_send)
        except _BodyTooLarge:
            if not started and not refused:
                await self._refuse(send)

    async def _refuse(self, send: Any) -> None:
        body = f"request body over {self.max_bytes // (1024 * 1024)} MB".encode()
        await send({"type": "http.response.start", "status": 413,
                    # Closing stops the rest of the body from being received at all.
                    "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})


class _BodyTooLarge(Exception):
    pass
# Gradio's cache (anything a component ever wrote there) is emptied hourly of files over an hour old.
DELETE_CACHE = (3600, 3600)


def launch_kwargs(*, mcp_server: bool = False) -> dict[str, Any]:
    """What `launch()` needs besides host and port (Gradio 6 takes css/head there); with
    `mcp_server`, Gradio also serves the API endpoints (`rag.mcp_tools`) as MCP tools at
    /gradio_api/mcp/."""
    # The page has no file inputs: an upload to /gradio_api/upload is refused (413) before
    # a byte of it is kept, instead of landing in Gradio's cache for good.
    from starlette.middleware import Middleware

    return {"css": CSS, "mcp_server": mcp_server, "max_file_size": MAX_UPLOAD_BYTES,
            "app_kwargs": {"middleware": [Middleware(RequestBodyLimit)]}}


def mode_badge(config: Config) -> str:
    """The visitor's one line on how answers are made. Setup steps are the operator's:
    `rag.llm.LLM_SETUP_HINT`, printed in the terminal.

    >>> mode_badge(Config())
    'Answers quote the transcripts'
    """
    if config.llm.configured:
        return f"Answers written by {escape_markdown(config.llm.model or '')}"
    return "Answers quote the transcripts"


def page_title(podcast: str) -> str:
    """The page's heading and browser title, from what the podcast is called (`rag.pipeline.podcast_name`).

    >>> page_title("the DataTalks.Club podcast")
    'Ask the DataTalks.Club podcast'
    """
    return f"Ask {podcast}"


def build_app(
    config: Config,
    *,
    feedback_path: str | Path = "feedback.jsonl",
    concurrency: int = DEFAULT_CONCURRENCY,
    build_from: str | None = None,
    build_name: str | None = None,
    share: ShareSigner | None = None,
) -> gr.Blocks:
    """The chat page over `config.index_dir`.

    When the index is missing and `build_from` names a corpus, the page comes up at
    once and shows the build's progress until the index is ready; without a corpus,
    or when the index is unusable, the page says it is not ready and the terminal how to
    build it (never a traceback). `build_name` is the name that build gives the podcast
    (`rag ingest --name`). `share` signs the answers' share links (default:
    `rag.share.load_signer(config)`).
    """
    from rag.pipeline import open_answerer

    try:
        index = LiveIndex(answerer=open_answerer(config))
    except IndexMissingError as exc:
        if not build_from:
            return _problem_app(str(exc), config)
        index = LiveIndex(build=IndexBuild(config, build_from, name=build_name).start())
    except RagError as exc:
        return _problem_app(str(exc), config)
    feedback = FeedbackLog(feedback_path, secrets=(*config.llm.secrets, config.share_secret))
    return ChatApp(config, index, feedback, share or load_signer(config), concurrency=concurrency).layout()


class ChatApp:
    """The chat page over one `LiveIndex`: the handlers Gradio calls, and `layout()`.

    Per-session state is the `records` list Gradio keeps for each page: the last
    `max_session_records` answers, each with its id and its message's index in the
    chat, for follow-up history and votes.
    """

    def __init__(self, config: Config, index: LiveIndex, feedback: FeedbackLog, share: ShareSigner, *,
                 concurrency: int = DEFAULT_CONCURRENCY) -> None:
        self.config = config
        self.index = index
        self.feedback = feedback
        self.share = share
        self.budget = config.llm_budget()  # LLM-written answers, shared by the chat and the MCP tool
        self.tools = PodcastTools(index, config.limits, self.budget)
        self.concurrency = concurrency
        self.limits = config.limits

    # ----------------------------------------------------------------------- handlers

    def ask(self, message: str, chat: list, records: list, episode: Any, guest: Any, season: Any,
            request: gr.Request = None) -> Iterator[Reply]:  # type: ignore[assignment]
        """Stream one answer into the chat; the final reply also fills the sources and the player."""
        question = (message or "").strip()
        # The chat comes from the browser: it is shown, never trusted, and kept to the last
        # turns the session remembers (each a question and an answer).
        chat = list(chat or [])[-2 * self.limits.max_session_records :]
        records = list(records or [])[-self.limits.max_session_records :]
        if not question:
            yield _reply(chat, records)
            return
        answerer = self.index.answerer
        filters, notes = self.index.catalog.filters(episode, guest, season)
        note = "".join(f"*{n}*\n\n" for n in notes)
        chat = [*chat, _message("user", escape_markdown(self._echo(question))), _message("assistant", "▌")]
        if answerer is None:
            chat[-1] = _message("assistant", self.index.notice() or "⚠️ No index.")
            yield _reply(chat, records)
            return
        answerer, spent = within_budget(answerer, self.budget, request)
        note += f"*{spent}*\n\n" if spent else ""
        yield _reply(chat, records)
        for event in self._stream(answerer, question, [r["question"] for r in records], filters, note):
            if isinstance(event, Answer):
                try:
                    shown = note + render_answer(event) + self._share_line(question, event, filters)
                except Exception:  # noqa: BLE001 - the chat says so; the stream must not stay on "▌"
                    log.exception("showing the answer to %r failed", question)
                    chat[-1] = _message("assistant", "⚠️ Something went wrong while showing the answer; please try again.")
                    yield _reply(chat, records)
                    return
                chat[-1] = _message("assistant", shown)
                records = self._remember(records, question, event, filters, message=len(chat) - 1)
                yield _reply(chat, records, event)
            else:
                chat[-1] = _message("assistant", event)
                yield _reply(chat, records)

    def vote(self, records: list, data: gr.LikeData) -> None:
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
        self.feedback.vote(record["id"], choice, details)

    def on_load(self, request: gr.Request) -> tuple:
        """A page opened with `?episode=ID` starts scoped to that episode; one opened with
        `?share=TOKEN` shows that frozen answer (no search, no LLM call), or why it cannot."""
        catalog = self.index.catalog
        params = request.query_params if request else {}
        episode = params.get("episode")
        scoped = (gr.update(value=episode) if episode and episode in catalog.episodes else gr.update(),
                  catalog.scope_line(episode))
        token = params.get("share")
        if not token:
            return *scoped, gr.skip(), gr.skip(), gr.skip(), gr.skip()
        try:
            shared = self.share.open(token)
        except ShareLinkError as exc:
            return *scoped, [_message("assistant", f"⚠️ {escape_markdown(str(exc))}")], [], gr.skip(), gr.skip()
        answer = shared.to_answer()
        chat = [
            _message("user", escape_markdown(self._echo(shared.question))),
            _message("assistant", shared_header(shared.asked, shared.shortened) + render_answer(answer)
                     + share_line(share_query(token, shared.episode))),
        ]
        records = self._remember([], shared.question, answer, Filters(episode=shared.episode), message=1)
        return *scoped, chat, records, SHARED_SOURCES, player_html(answer_cue(answer))

    def scope_line(self, episode: str | None) -> str:
        return self.index.catalog.scope_line(episode)

    def poll(self) -> tuple:
        """While the start-up build runs: its progress; once ready, the filters' choices."""
        if self.index.state != "ready":
            return self.index.notice(), gr.skip(), gr.skip(), gr.skip(), gr.Timer(active=self.index.state == "building")
        catalog = self.index.catalog
        return ("", gr.update(choices=catalog.episode_choices()), gr.update(choices=catalog.guest_choices()),
                gr.update(choices=catalog.season_choices()), gr.Timer(active=False))

    def clear(self) -> tuple:
        return [], [], NO_SOURCES_YET, player_html(None)

    @staticmethod
    def pick_example(data: gr.SelectData) -> str:
        return data.value["text"] if isinstance(data.value, Mapping) else str(data.value)

    # ----------------------------------------------------------------------- helpers

    def _stream(self, answerer: Answerer, question: str, history: list[str], filters: Filters,
                note: str) -> Iterator[str | Answer]:
        """The reply as it grows (Markdown, after `note`), then the final `Answer`; an
        error ends it with a message instead, never a traceback."""
        text = ""
        try:
            for event in answerer.stream(question, history, filters):
                if isinstance(event, Delta):
                    text += event.text
                    yield note + render_streaming(text)
                else:
                    yield event
        except RagError as exc:
            yield f"{note}⚠️ {escape_markdown(exc.for_visitors())}"
        except Exception:  # noqa: BLE001 - a bug must not leak a traceback to the page
            log.exception("answering %r failed", question)
            yield "⚠️ Something went wrong while answering; please try again."

    def _share_line(self, question: str, answer: Answer, filters: Filters) -> str:
        """The "Share" link under a finished answer (none when it cannot fit in a link)."""
        token = self.share.sign(SharedAnswer.freeze(question, answer, episode=filters.episode))
        return share_line(share_query(token, filters.episode)) if token else ""

    def _echo(self, question: str) -> str:
        """The question as the chat shows it: cut to the question limit."""
        limit = self.limits.max_question_chars
        return question if len(question) <= limit else question[:limit] + " …"

    def _remember(self, records: list, question: str, final: Answer, filters: Filters, *, message: int) -> list:
        """`records` with this answer added (the oldest dropped past the session's limit)."""
        chosen = {"episode": filters.episode, "guest": filters.guest, "season": filters.season}
        record = {
            "id": new_answer_id(),
            "message": message,  # the index gr.LikeData gives for this answer
            **answer_details(question, final.text, citations_json(final), mode=final.mode, filters=chosen),
        }
        return [*records, record][-self.limits.max_session_records :]

    # ----------------------------------------------------------------------- the page

    def layout(self) -> gr.Blocks:
        """The page: chat, question box and filters on the left; player and sources on the right."""
        title = page_title(self.index.podcast_name)
        with gr.Blocks(title=title, fill_height=True, delete_cache=DELETE_CACHE) as demo:
            gr.Markdown(f"## {escape_markdown(title)}")
            scope = gr.Markdown("", elem_id="rag-scope")
            gr.Markdown(mode_badge(self.config), elem_id="rag-mode")
            status = gr.Markdown(self.index.notice(), elem_id="rag-status")
            timer = gr.Timer(2.0, active=self.index.state == "building")
            records = gr.State([])
            with gr.Row(elem_id="rag-layout"):
                with gr.Column(scale=3):
                    chatbot, textbox, new_chat = self._chat_box()
                    episode, guest, season = self._filters()
                with gr.Column(scale=2):
                    player = gr.HTML(player_html(None), elem_id="rag-player", js_on_load=PLAYER_JS)
                    sources = gr.Markdown(NO_SOURCES_YET, elem_id="rag-sources", sanitize_html=True,
                                          max_height=520, label="Sources")

            outputs = [chatbot, textbox, sources, player, records]
            inputs = [textbox, chatbot, records, episode, guest, season]
            answering = {"concurrency_limit": self.concurrency, "concurrency_id": "answer"}
            quick = {"queue": False, "api_name": False}
            # The chat's endpoint stays callable (gradio_client, eval/bench_app.py) but undocumented,
            # so the MCP server offers only the tools written for assistants.
            textbox.submit(self.ask, inputs, outputs, api_name="ask", api_visibility="undocumented",
                           js=SCOPE_FROM_URL, **answering)
            chatbot.example_select(self.pick_example, None, textbox, queue=False, api_visibility="private").then(
                self.ask, inputs, outputs, api_name=False, js=SCOPE_FROM_URL, **answering
            )
            # A visitor's own choice of episode ends the URL's say (see SCOPE_FROM_URL).
            episode.input(None, None, None, js=FORGET_URL_SCOPE)
            chatbot.like(self.vote, [records], None, **quick)
            new_chat.click(self.clear, None, [chatbot, records, sources, player], **quick)
            chatbot.clear(self.clear, None, [chatbot, records, sources, player], **quick)
            episode.change(self.scope_line, episode, scope, **quick)
            timer.tick(self.poll, None, [status, episode, guest, season, timer], **quick)
            demo.load(self.on_load, None, [episode, scope, chatbot, records, sources, player], **quick)
            gr.api(self.tools.ask_podcast, api_name="ask_podcast", **answering)
            gr.api(self.tools.find_moments, api_name="find_moments")
        demo.queue(default_concurrency_limit=self.concurrency, max_size=DEFAULT_QUEUE_SIZE)
        return demo

    def _chat_box(self) -> tuple[gr.Chatbot, gr.Textbox, gr.Button]:
        chatbot = gr.Chatbot(
            elem_id="rag-chat",
            height=520,
            sanitize_html=True,
            placeholder=PLACEHOLDER,
            examples=[{"text": q} for q in EXAMPLES],
            feedback_options=("Like", "Dislike"),
            buttons=["copy"],
        )
        with gr.Row():
            textbox = gr.Textbox(
                placeholder="Your question", show_label=False, scale=5, elem_id="rag-question", submit_btn=True
            )
            new_chat = gr.Button("New chat", scale=1, variant="secondary")
        return chatbot, textbox, new_chat

    def _filters(self) -> tuple[gr.Dropdown, gr.Dropdown, gr.Dropdown]:
        # Every filter is checked against the live catalog in `ask` (`Catalog.filters`):
        # a value not in it is ignored with a note in the chat, never searched. Gradio's
        # own check is off (allow_custom_value) because it checks the choices a session
        # was sent — empty for API callers while the start-up build runs — and answers
        # with an error listing every choice instead of a note.
        catalog = self.index.catalog
        with gr.Accordion("Filters", open=True):
            with gr.Row():
                episode = gr.Dropdown(
                    catalog.episode_choices(), value="", label="Episode", filterable=True,
                    allow_custom_value=True, elem_id="rag-episode", scale=3,
                )
                guest = gr.Dropdown(
                    catalog.guest_choices(), value="", label="Guest", filterable=True,
                    allow_custom_value=True, elem_id="rag-guest",
                )
                season = gr.Dropdown(
                    catalog.season_choices(), value="", label="Season", allow_custom_value=True,
                    elem_id="rag-season",
                )
        return episode, guest, season


def _message(role: str, content: str) -> dict[str, str]:
    return {"role": role, "content": content}


def _reply(chat: list, records: list, answer: Answer | None = None) -> Reply:
    """What `ask` yields: the chat, an emptied question box, and, with the final
    answer, its sources panel and the player cued at its first citation (else unchanged)."""
    if answer is None:
        return chat, "", gr.skip(), gr.skip(), records
    return chat, "", render_sources(answer), player_html(answer_cue(answer)), records


def problem_instructions(problem: str, config: Config) -> str:
    """What the operator reads in the terminal when the index is missing or broken."""
    return (
        f"The search index is not ready: {problem}\n"
        f"Build it from the transcripts, then restart the app:\n"
        f"    rag ingest ../shared/corpus --index {config.index_dir}\n"
        "or run `make demo`, or start the app with --corpus PATH_OR_GIT_URL to build it at start-up; "
        "RAG_INDEX (or --index) chooses another index directory."
    )


def _problem_app(problem: str, config: Config) -> gr.Blocks:
    """For a missing or broken index: the visitor reads that the app is not ready; the
    operator reads what is wrong and how to fix it in the terminal (setup steps and
    setting names are never shown on the page)."""
    log.error("%s", problem_instructions(problem, config))
    from rag.pipeline import podcast_name

    title = page_title(podcast_name(config))
    with gr.Blocks(title=title, delete_cache=DELETE_CACHE) as demo:
        gr.Markdown(f"## {escape_markdown(title)}")
        gr.Markdown(
            "### Not ready yet\n\nThe podcast's search index is not available right now, so questions cannot "
            "be answered. Please come back later.",
            elem_id="rag-problem",
        )
    return demo

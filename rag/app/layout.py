"""The web chat: `build_app(config) -> gr.Blocks`, launched by `app.py`.

    demo = build_app(load_config())
    demo.queue().launch(**launch_kwargs())

One `Answerer` (index + embedder + LLM client) is loaded when the app is built
and shared by every session (`rag.app.live.LiveIndex`; on a Space it is built at
start-up). Each question streams into the chat; the final answer links every
citation, "Episode title — Speaker @ mm:ss", to YouTube at that second (new tab)
and cues the embedded privacy-enhanced player beside the chat; an audio-only
episode plays in an HTML5 <audio> player from that second instead. `ChatApp` (rag.app.chat) holds the
handlers Gradio calls and `lay_out` wires them to the page; what they show is rendered, escaped,
by `rag.app.render`. Each finished answer ends with a "Share" link (`rag.app.share`: the answer
frozen into a signed token) that reopens it on this page; the two MCP tools of
`rag.app.mcp_tools` are registered as API endpoints, which Gradio's MCP server serves.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Mapping

import gradio as gr

from rag.app.chat import ChatApp
from rag.app.feedback import FeedbackLog
from rag.app.live import IndexBuild, LiveIndex
from rag.app.render import escape_markdown
from rag.app.share import ShareSigner, load_signer
from rag.config import Config
from rag.errors import IndexMissingError, RagError
from rag.moment import VIDEO_ID

log = logging.getLogger(__name__)
from rag.app.catalog import Catalog
from rag.app.chat import DEFAULT_CONCURRENCY
from rag.app.http import DELETE_CACHE, MAX_UPLOAD_BYTES, RequestBodyLimit
from rag.app.render import NO_SOURCES_YET, player_html

# The empty chat's one line on what the bot does (the examples follow it).
PLACEHOLDER = "Ask anything discussed on the podcast: answers cite the episode, the speaker and the second."






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


def launch_kwargs(*, mcp_server: bool = False) -> dict[str, Any]:
    """What `launch()` needs besides host and port (Gradio 6 takes css/head there); with
    `mcp_server`, Gradio also serves the API endpoints (`rag.app.mcp_tools`) as MCP tools at
    /gradio_api/mcp/."""
    # The page has no file inputs: an upload to /gradio_api/upload is refused (413) before
    # a byte of it is kept, instead of landing in Gradio's cache for good.
    from starlette.middleware import Middleware

    return {"css": CSS, "mcp_server": mcp_server, "max_file_size": MAX_UPLOAD_BYTES,
            "app_kwargs": {"middleware": [Middleware(RequestBodyLimit)]}}


def mode_badge(config: Config) -> str:
    """The visitor's one line on how answers are made. Setup steps are the operator's:
    `rag.answers.llm.LLM_SETUP_HINT`, printed in the terminal.

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
    `rag.app.share.load_signer(config)`).
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
    return lay_out(ChatApp(config, index, feedback, share or load_signer(config), concurrency=concurrency))


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


def lay_out(app: ChatApp) -> gr.Blocks:
    """The page of `app`: chat, question box and filters on the left; player and sources on the right."""
    title = page_title(app.index.podcast_name)
    with gr.Blocks(title=title, fill_height=True, delete_cache=DELETE_CACHE) as demo:
        gr.Markdown(f"## {escape_markdown(title)}")
        scope = gr.Markdown("", elem_id="rag-scope")
        gr.Markdown(mode_badge(app.config), elem_id="rag-mode")
        status = gr.Markdown(app.index.notice(), elem_id="rag-status")
        timer = gr.Timer(2.0, active=app.index.state == "building")
        records = gr.State([])
        with gr.Row(elem_id="rag-layout"):
            with gr.Column(scale=3):
                chatbot, textbox, new_chat = _chat_box()
                episode, guest, season = _filters(app.index.catalog)
            with gr.Column(scale=2):
                player = gr.HTML(player_html(None), elem_id="rag-player", js_on_load=PLAYER_JS)
                sources = gr.Markdown(NO_SOURCES_YET, elem_id="rag-sources", sanitize_html=True,
                                      max_height=520, label="Sources")

        outputs = [chatbot, textbox, sources, player, records]
        inputs = [textbox, chatbot, records, episode, guest, season]
        answering = {"concurrency_limit": app.concurrency, "concurrency_id": "answer"}
        quick = {"queue": False, "api_name": False}
        # The chat's endpoint stays callable (gradio_client, eval/bench_app.py) but undocumented,
        # so the MCP server offers only the tools written for assistants.
        textbox.submit(app.ask, inputs, outputs, api_name="ask", api_visibility="undocumented",
                       js=SCOPE_FROM_URL, **answering)
        chatbot.example_select(pick_example, None, textbox, queue=False, api_visibility="private").then(
            app.ask, inputs, outputs, api_name=False, js=SCOPE_FROM_URL, **answering
        )
        # A visitor's own choice of episode ends the URL's say (see SCOPE_FROM_URL).
        episode.input(None, None, None, js=FORGET_URL_SCOPE)
        chatbot.like(app.vote, [records], None, **quick)
        new_chat.click(app.clear, None, [chatbot, records, sources, player], **quick)
        chatbot.clear(app.clear, None, [chatbot, records, sources, player], **quick)
        episode.change(app.scope_line, episode, scope, **quick)
        timer.tick(app.poll, None, [status, episode, guest, season, timer], **quick)
        demo.load(app.on_load, None, [episode, scope, chatbot, records, sources, player], **quick)
        gr.api(app.tools.ask_podcast, api_name="ask_podcast", **answering)
        gr.api(app.tools.find_moments, api_name="find_moments")
    demo.queue(default_concurrency_limit=app.concurrency, max_size=DEFAULT_QUEUE_SIZE)
    return demo

def _chat_box() -> tuple[gr.Chatbot, gr.Textbox, gr.Button]:
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

def _filters(catalog: Catalog) -> tuple[gr.Dropdown, gr.Dropdown, gr.Dropdown]:
    # Every filter is checked against the live catalog in `ask` (`Catalog.filters`):
    # a value not in it is ignored with a note in the chat, never searched. Gradio's
    # own check is off (allow_custom_value) because it checks the choices a session
    # was sent — empty for API callers while the start-up build runs — and answers
    # with an error listing every choice instead of a note.
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


def pick_example(data: gr.SelectData) -> str:
    """The question of the example a visitor clicked."""
    return data.value["text"] if isinstance(data.value, Mapping) else str(data.value)

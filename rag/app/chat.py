"""The chat's handlers: `ChatApp` answers a question into the chat, takes votes, opens
`?episode=` and `?share=` links and reports the start-up build, for one `LiveIndex`.
What they show is rendered, escaped, by `rag.app.render`; `rag.app.layout` wires them
to the page."""

from __future__ import annotations

import logging
from typing import Any, Iterator

import gradio as gr

from rag.answers.answerer import Answer, Answerer
from rag.answers.budget import within_budget
from rag.answers.llm import Delta
from rag.app.feedback import FeedbackLog, answer_details, new_answer_id
from rag.app.live import LiveIndex
from rag.app.mcp_tools import PodcastTools
from rag.app.render import (
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
from rag.app.share import SharedAnswer, ShareLinkError, ShareSigner, share_query
from rag.config import Config
from rag.errors import RagError
from rag.search.hits import Filters

log = logging.getLogger(__name__)

DEFAULT_CONCURRENCY = 4  # answers generated at once; the rest wait in Gradio's queue

SHARED_SOURCES = "*A shared answer: its moments are linked in the chat. Ask a new question to search again.*"

Reply = tuple[Any, ...]  # what `ask` yields: chat, textbox, sources, player, records


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


def _message(role: str, content: str) -> dict[str, str]:
    return {"role": role, "content": content}


def _reply(chat: list, records: list, answer: Answer | None = None) -> Reply:
    """What `ask` yields: the chat, an emptied question box, and, with the final
    answer, its sources panel and the player cued at its first citation (else unchanged)."""
    if answer is None:
        return chat, "", gr.skip(), gr.skip(), records
    return chat, "", render_sources(answer), player_html(answer_cue(answer)), records

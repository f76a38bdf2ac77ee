"""The podcast as tools for assistants: `ask_podcast` and `find_moments`.

    tools = PodcastTools(live_index, config.limits)
    json.loads(tools.ask_podcast("What are bloom filters used for?"))["citations"][0]["url"]
    json.loads(tools.find_moments("bloom filters", k=3))["moments"][0]["second"]

The web app registers both with `gr.api`, and Gradio's MCP server (`mcp_server=True`)
serves every such endpoint as an MCP tool: the tool's name is the method's name, its
description and its parameters' descriptions come from the docstrings below, which is
why they are written for an assistant reading them. Both return JSON text (Gradio's MCP
server sends a tool's return value as text). The chat's rules apply unchanged: the same
`Answerer` (its input limits and its one LLM deadline per answer), the same catalog
check of the episode and guest scope (an unknown value is ignored with a note, never
searched), and the chat's concurrency limit (`rag.app.layout` gives both the same queue).

No `from __future__ import annotations` here: Gradio reads the type hints at runtime
to build each tool's input schema.
"""

import json
import textwrap
from typing import Any

import gradio as gr

from rag.answers.answerer import Answer, Answerer
from rag.answers.budget import LLMBudget, within_budget
from rag.app.live import LiveIndex
from rag.errors import RagError
from rag.limits import Limits, check_question

MAX_MOMENTS = 20  # find_moments' k: enough to survey a topic, small enough for one reply
EXCERPT_CHARS = 600  # each moment's text in find_moments: what was said there, shortened


class PodcastTools:
    """The functions Gradio serves as MCP tools, over the app's `LiveIndex`."""

    def __init__(self, index: LiveIndex, limits: Limits, budget: LLMBudget | None = None) -> None:
        self.index = index
        self.limits = limits
        self.budget = budget or LLMBudget()  # the app passes the chat's: one budget for both

    def ask_podcast(self, question: str, episode: str = "", guest: str = "",
                    request: gr.Request = None) -> str:  # type: ignore[assignment]
        """Answer a question from the podcast's transcripts, citing the exact moments (episode, speaker, second) it comes from. Use it for anything that was or might have been discussed on the podcast: advice, opinions, experiences and explanations of guests. Quote or paraphrase the answer and give the user the citation URLs, which open the recording at that second. If the podcast does not cover the question, `refused` is true and `closest` lists the nearest moments instead: say it is not covered rather than answering from elsewhere.

        Args:
            question: The question in plain words, at most 2,000 characters, e.g. "How do I get my first job as a data engineer?".
            episode: Optional. Only search this episode, given by its id (the `episode` field of a citation or of a find_moments result). Empty searches every episode.
            guest: Optional. Only search episodes with this guest, by full name as the podcast writes it, e.g. "Dat Tran". Empty searches every guest.

        Returns:
            JSON object: `answer` (text with [n] markers), `refused`, `mode` ("llm" for an answer written by a language model, "extractive" for quotes), `citations` (list of {n, episode, title, speaker, second, url, verified}; [n] in the answer is citation n), `closest` (the nearest moments when refused, same fields without n and verified), `notes` (filters that were ignored because no episode or guest matches them, and a note when this client's share of LLM-written answers is spent and the answer quotes the transcripts).
        """
        answerer, spent = within_budget(self._answerer(), self.budget, request)
        filters, notes = self.index.catalog.filters(episode, guest, "", markdown=False)
        notes += [spent] if spent else []
        try:
            answer = answerer.answer(question or "", (), filters)
        except RagError as exc:
            raise refusal(exc.for_visitors()) from None
        return _json({"question": question, **answer_json(answer), "notes": notes})

    def find_moments(self, query: str, k: int = 5) -> str:
        """Find the moments of the podcast where a topic is discussed, best match first, without writing an answer. Use it to survey what was said about a subject, to find which episodes talk about it, or to get episode ids for ask_podcast's `episode` filter. Each moment links to the recording at the second it starts being relevant.

        Args:
            query: What to look for, in plain words, at most 2,000 characters, e.g. "bloom filters" or "hiring a first data scientist".
            k: How many moments to return, 1 to 20 (default 5).

        Returns:
            JSON object: `moments`, a list of {episode, title, speaker, second, url, text}: the episode id and title, who speaks at that second (null when the transcript names nobody), the second the link opens at, the link, and what is said there (shortened).
        """
        answerer = self._answerer()
        try:
            count = int(k)
        except (TypeError, ValueError):
            raise refusal(f"k must be a whole number from 1 to {MAX_MOMENTS}, not {k!r}") from None
        if not 1 <= count <= MAX_MOMENTS:
            raise refusal(f"k must be a whole number from 1 to {MAX_MOMENTS}, not {k!r}")
        try:
            text = check_question(query or "", self.limits)
        except RagError as exc:
            raise refusal(exc.for_visitors()) from None
        if not text:
            raise refusal("the query is empty: say what to look for")
        hits = answerer.searcher.search(text, k=count)
        return _json({"query": text, "moments": [
            {"episode": h.passage.episode_id, "title": h.passage.episode_title,
             "speaker": h.speaker if h.passage.speakers else None,
             "second": h.link_sec, "url": h.url,
             "text": textwrap.shorten(" ".join(h.passage.text.split()), width=EXCERPT_CHARS, placeholder=" …")}
            for h in hits
        ]})

    def _answerer(self) -> Answerer:
        answerer = self.index.answerer
        if answerer is None:  # the start-up build is still running, or failed
            raise refusal("the podcast's search index is not ready yet; try again in a few minutes")
        return answerer


def refusal(message: str) -> gr.Error:
    """The tool error an assistant gets for a call it can mend (too long, empty, out of
    range, not ready): the message only, and no traceback in the server's log, which is
    for faults of the server."""
    return gr.Error(message, print_exception=False)


def answer_json(answer: Answer) -> dict[str, Any]:
    """An `Answer` as the tool returns it: text, citations as moments, a refusal's closest moments."""
    return {
        "answer": answer.text,
        "refused": answer.refused,
        "mode": answer.mode,
        "citations": [
            {"n": c.n, "episode": c.passage.episode_id, "title": c.passage.episode_title,
             "speaker": c.speaker if c.passage.speakers else None,
             "second": c.start_s, "url": c.url, "verified": c.verified}
            for c in answer.citations
        ],
        "closest": [
            {"episode": h.passage.episode_id, "title": h.passage.episode_title,
             "speaker": h.speaker if h.passage.speakers else None,
             "second": h.link_sec, "url": h.url}
            for h in (answer.sources if answer.refused else ())
        ],
    }


def _json(data: dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False)

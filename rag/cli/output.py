"""What the `rag` command prints: answers, moments and their JSON, made safe for a terminal."""

from __future__ import annotations

import json
import re
import textwrap

import click

from rag.answers.answerer import Answer
from rag.answers.llm import LLM_SETUP_HINT
from rag.index.chunking import format_timestamp
from rag.search.hits import Hit

# What a transcript, a title or an LLM reply must not send to a terminal: C0/C1 controls
# (ESC starts colour, cursor and title sequences; CSI is one byte in C1) and the
# bidirectional overrides that reorder what is shown. Newlines and tabs stay.
_TERMINAL_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def terminal_text(text: object) -> str:
    r"""`text` as the terminal may show it (`_TERMINAL_UNSAFE` removed).

    >>> terminal_text("Bloom\x1b]0;pwned\x07 filters\u202e\n")
    'Bloom]0;pwned filters\n'
    """
    return _TERMINAL_UNSAFE.sub("", str(text))


def echo(message: object = "", **kwargs: object) -> None:
    """`click.echo` of human-readable output, through `terminal_text` (JSON goes out as
    `json.dumps` writes it: control characters escaped)."""
    click.echo(terminal_text(message), **kwargs)  # type: ignore[arg-type]


def print_answer_end(final: Answer, streamed: bool, *, llm_configured: bool) -> None:
    """What follows the streamed text: a refusal's closest moments, the sources, warnings,
    and how to set up an LLM when none is (a configured one that failed has its warning)."""
    if not streamed:  # a refusal is decided before any text is generated
        echo(final.text, nl=False)
    if final.refused and final.sources:  # the refusal's sources are the closest moments
        echo(" The closest moments I found:")
        echo("\n".join(f"- {hit.label()}: {hit.url}" if hit.url else f"- {hit.label()}" for hit in final.sources))
    else:
        echo()
    if final.citations:
        echo("\nSources:")
        for citation in final.citations:
            mark = "" if citation.verified else "  (not verified)"
            # A moment of an episode with no link (no video, media file or page) has no URL line.
            echo(f"[{citation.n}] {citation.label()}{mark}" + (f"\n    {citation.url}" if citation.url else ""))
    for warning in final.warnings:
        echo(f"warning: {warning}", err=True)
    if not llm_configured and not final.refused:
        echo(f"note: {LLM_SETUP_HINT}", err=True)  # the answer itself carries no setup text


def answer_to_json(answer: Answer) -> dict:
    """`rag ask --json`: the answer, its citations, and on a refusal the closest moments."""
    return {
        "answer": answer.text,
        "refused": answer.refused,
        "mode": answer.mode,
        "warnings": list(answer.warnings),
        "closest": [
            {"episode": hit.passage.episode_id, "title": hit.passage.episode_title,
             "speaker": hit.speaker if hit.passage.speakers else None,
             "link_sec": hit.link_sec, "url": hit.url}
            for hit in (answer.sources if answer.refused else ())
        ],
        "citations": [
            {
                "n": c.n,
                "episode": c.passage.episode_id,
                "title": c.passage.episode_title,
                "speaker": c.speaker if c.passage.speakers else None,
                "start_sec": c.start_s,
                "end_sec": c.passage.end_s,
                "url": c.url,
                "verified": c.verified,
            }
            for c in answer.citations
        ],
    }


def hit_to_json(hit: Hit) -> dict:
    passage = hit.passage
    return {
        "episode": passage.episode_id,
        "title": passage.episode_title,
        "description": passage.episode_description,
        "speakers": list(passage.speakers),
        "speaker": hit.speaker if passage.speakers else None,  # null, not "Unknown speaker", when nobody is named
        "start_sec": passage.start_s,
        "end_sec": passage.end_s,
        "link_sec": hit.link_sec,
        "url": hit.url,
        "text": passage.text,
        "score": round(hit.score, 6),
    }


def print_hits(question: str, hits: list[Hit], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps({"results": [hit_to_json(h) for h in hits]}, ensure_ascii=False))
        return
    if not hits:
        echo(f"No passage matches {question.strip()!r}.")
        return
    for rank, hit in enumerate(hits, 1):
        passage = hit.passage
        echo(f"{rank}. {hit.label()}  [{format_timestamp(passage.start_s)}–{format_timestamp(passage.end_s)}]")
        if hit.url:
            echo(f"   {hit.url}")
        excerpt = textwrap.shorten(passage.text.replace("\n", " "), width=300, placeholder=" …")
        echo(textwrap.indent(textwrap.fill(excerpt, width=96), "   "))
        echo()

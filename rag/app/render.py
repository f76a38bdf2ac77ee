"""`Answer`s and `Hit`s -> escaped Markdown and HTML for the web chat.

    print(render_answer(answer))
    # Bloom filters skip pages already seen [\\[1\\]](https://www.youtube.com/watch?v=RiQa-9LguW8&t=1902s).

Three places show an answer: the chat message (`render_streaming` while it streams,
then `render_answer`), the sources panel (`render_sources`) and the embedded player
(`player_html`). Everything that comes from a transcript or the LLM is HTML-escaped
and Markdown-escaped here, and only http(s) links read by `rag.moment.media_link`
become links: YouTube moments, media files (`#t=N`, played in the page's <audio>)
and pages (linked as is, "at mm:ss" in the label). Pure functions: no Gradio, no I/O.
"""

from __future__ import annotations

import html
import re
import textwrap
from datetime import date
from typing import Any

from rag.answers.answerer import Answer
from rag.answers.citations import Citation
from rag.index.chunking import UNKNOWN_SPEAKER, Passage, format_timestamp
from rag.moment import MediaMoment, Moment, PageMoment, media_link
from rag.search.hits import Hit

CLOSEST_MOMENTS = "The closest moments I found:"
NO_SOURCES_YET = "*Ask a question: the passages behind the answer appear here.*"
# A marker names one of a handful of sources: four digits at most. "[" + 5,000 digits + "]"
# from a transcript or an LLM is text (int() of over 4,300 digits raises).
_MARKER = re.compile(r"\[(\d{1,4})\]")
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~>])")
# What GFM (Gradio's marked) turns into a link by itself: "scheme:" of a URL, "www.",
# an e-mail's "@". Escaping the last character of each match breaks the autolink.
_AUTOLINK = re.compile(r"(?<![a-z0-9+.-])[a-z][a-z0-9+.-]*:|www\.|@", re.IGNORECASE)
# In text shown literally, a scheme is a word with a colon right before more text
# ("https://", "mailto:x"); "Note: this" keeps its colon as it is.
_SCHEME = re.compile(r"(?<![a-z0-9+.\\-])[a-z][a-z0-9+.-]*:(?=\S)", re.IGNORECASE)


def escape_markdown(text: str) -> str:
    """Text shown literally: HTML entities for markup, backslashes for Markdown syntax,
    and no autolink: a URL's "scheme:" is broken with an escape (a host written
    `evil%2Eexample` or `2130706433` has no dot for the escapes to break), and the dots
    of `www.` names and e-mail domains are escaped already.

    >>> escape_markdown("<b>*hi*</b> [1]")
    '&lt;b&gt;\\\\*hi\\\\*&lt;/b&gt; \\\\[1\\\\]'
    >>> escape_markdown("https://2130706433/x, Ann @ 1:15")
    'https\\\\://2130706433/x, Ann @ 1:15'
    """
    escaped = _MD_SPECIAL.sub(r"\\\1", html.escape(text, quote=False))
    return _SCHEME.sub(lambda m: m.group(0)[:-1] + "\\:", escaped)


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


def safe_link(label: str, url: str, second: int | None = None) -> str:
    """A Markdown link to an http(s) moment (at `second` when given); otherwise the
    escaped label alone. A page link's label says when, as the page cannot seek.

    >>> safe_link("Ep — Ann @ 1:15", "https://youtu.be/dQw4w9WgXcQ?t=75")
    '[Ep — Ann @ 1:15](https://www.youtube.com/watch?v=dQw4w9WgXcQ&t=75s)'
    >>> safe_link("Ep", "https://pod.example/ep1", 75)
    '[Ep \\\\(at 1:15\\\\)](https://pod.example/ep1)'
    >>> safe_link("x", "javascript:alert(1)")
    'x'
    """
    link = media_link(url, second)
    if link is None:
        return escape_markdown(label)
    return f"[{escape_markdown(label + link.label_suffix)}]({markdown_url(link.link_url)})"


def markdown_url(url: str) -> str:
    """A link target that cannot end a Markdown link early: parentheses percent-encoded.
    (`media_link` already refused quotes, spaces and angle brackets.)"""
    return url.replace("(", "%28").replace(")", "%29")


def render_streaming(text: str) -> str:
    """The chat message while the answer streams: the text so far and a cursor."""
    return escape_llm(text) + " ▌"


def render_answer(answer: Answer) -> str:
    """The final chat message: answer text with linked [n] markers, then the citations;
    a refusal says so, then lists the closest moments (`answer.sources`)."""
    if answer.refused:
        return _render_refusal(answer)
    by_n = {c.n: c for c in answer.citations}
    parts = []
    for i, piece in enumerate(_MARKER.split(answer.text)):
        if i % 2 == 0:
            parts.append(escape_llm(piece))
            continue
        citation = by_n.get(int(piece))
        link = media_link(citation.url) if citation else None
        parts.append(f"[\\[{piece}\\]]({markdown_url(link.link_url)})" if link else f"\\[{piece}\\]")
    text = "".join(parts)
    if answer.citations:
        text += "\n\n**Sources**\n\n" + "\n".join(citation_line(c) for c in answer.citations)
    return text


def _render_refusal(answer: Answer) -> str:
    body = escape_llm(answer.text)
    if not answer.sources:
        return body
    closest = "\n".join(f"- {safe_link(hit.label(), hit.url, hit.link_sec)}" for hit in answer.sources)
    return f"{body}\n\n{CLOSEST_MOMENTS}\n\n{closest}"


def citation_line(citation: Citation) -> str:
    """`n. [Episode title — Speaker @ mm:ss](link)`, marked when the transcript does not back it."""
    mark = "" if citation.verified else " *(not verified against the transcript)*"
    return f"{citation.n}. {safe_link(citation.label(), citation.url, citation.start_s)}{mark}"


def render_sources(answer: Answer) -> str:
    """The sources panel: each passage behind the answer with speakers, time, excerpt and links."""
    if not answer.sources:
        return "*No passages matched.*"
    cited = {c.passage.id for c in answer.citations}
    blocks = []
    for n, hit in enumerate(answer.sources, 1):
        passage = hit.passage
        when = f"{format_timestamp(passage.start_s)}–{format_timestamp(passage.end_s)}, opens at {format_timestamp(hit.link_sec)}"
        links = _source_links(hit)
        excerpt = textwrap.shorten(" ".join(passage.text.split()), width=420, placeholder=" …")
        speakers = ", ".join(passage.speakers) or UNKNOWN_SPEAKER
        tag = " · cited" if passage.id in cited else ""
        blocks.append(
            f"**\\[{n}\\] {escape_markdown(passage.episode_title)}**{tag}  \n"
            f"{escape_markdown(speakers)} · {when} · {' · '.join(links)}\n\n"
            f"> {escape_markdown(excerpt)}"
        )
    return "\n\n---\n\n".join(blocks)


def _source_links(hit: Hit) -> list[str]:
    """A source's links: play it in the page (YouTube embed or media file), and open it."""
    link = media_link(hit.url)
    if isinstance(link, Moment):
        return [f"[▶ play here]({link.embed_url})", safe_link("YouTube ↗", hit.url)]
    if isinstance(link, MediaMoment):
        return [f"[▶ play here]({markdown_url(link.link_url)})"]
    if isinstance(link, PageMoment):
        return [safe_link("episode page ↗", hit.url, hit.link_sec)]
    return []


def player_html(cue: Citation | Hit | Passage | None) -> str:
    """The player cued at a citation's line (or a passage's start): YouTube's embed for a
    video, an HTML5 <audio> (or <video>) for a media file, opening at the second with the
    `#t=N` fragment; an empty player with a hint when there is nothing to play here.

    >>> print(player_html(Passage("e#0", "e", "Ep <1>", "", ("Ann",), 75, 80, "Ann: hi",
    ...                           "https://cdn.example/e.mp3#t=75", 0)))
    <audio controls preload="none" src="https://cdn.example/e.mp3#t=75" data-rag-media="https://cdn.example/e.mp3"></audio><p>Ep &lt;1&gt; — Ann @ 1:15</p>
    """
    link = media_link(cue.url) if cue else None
    if cue is None or link is None or isinstance(link, PageMoment):
        return '<div class="rag-player-empty"><iframe title="Episode player" src="about:blank"></iframe>' \
               "<p>Click a citation to play the episode from that moment.</p></div>"
    if isinstance(link, MediaMoment):
        return (
            f'<{link.kind} controls preload="none" src="{html.escape(link.link_url)}" '
            f'data-rag-media="{html.escape(link.url)}"></{link.kind}>'
            f"<p>{html.escape(cue.label())}</p>"
        )
    return (
        f'<iframe title="Episode player" src="{link.embed_url}" '
        'allow="autoplay; encrypted-media; picture-in-picture" allowfullscreen '
        'referrerpolicy="strict-origin-when-cross-origin"></iframe>'
        f"<p>{html.escape(cue.label())}</p>"
    )


def answer_cue(answer: Answer) -> Citation | Passage | None:
    """What the player opens at after an answer: its first citation, else its first source's passage."""
    if answer.citations:
        return answer.citations[0]
    return answer.sources[0].passage if answer.sources else None


def share_line(query: str) -> str:
    """The link under a finished answer that reopens it: `query` is `rag.app.share.share_query`'s
    "?share=..." (relative, so it is this app's URL wherever it is served; tokens are base64url)."""
    return f"\n\n[Share this answer]({markdown_url(query)})"


def shared_header(asked: date, shortened: bool = False) -> str:
    """Above an answer opened from a share link: when it was asked, and that it is not re-run.

    >>> shared_header(date(2026, 12, 4))
    '*Shared answer, asked on 4 December 2026, shown as it was given.*\\n\\n'
    """
    cut = " Its text was shortened to fit the link." if shortened else ""
    return f"*Shared answer, asked on {asked.day} {asked:%B %Y}, shown as it was given.{cut}*\n\n"


def citations_json(answer: Answer) -> list[dict[str, Any]]:
    """The citations as the feedback log records them."""
    return [
        {"n": c.n, "label": c.label(), "episode": c.passage.episode_id, "url": c.url, "verified": c.verified}
        for c in answer.citations
    ]

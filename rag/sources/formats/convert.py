"""An `Episode` -> the text of each transcript format `rag.sources.formats` reads, and its sidecar.

What the format fixtures (tests/data/formats/make_fixtures.py) and the format
evaluation (eval/formats.py) write: a DTC episode as other podcasts publish it.

    vtt        WebVTT with `<v Speaker>` voice tags
    youtube    YouTube auto-caption layout: rolling lines, word timings, no speakers
    youtube_asr  the same as speech recognition writes it: lower case, no punctuation
    srt        SRT with `NAME:` on each turn's first cue
    whisper    Whisper JSON: plain segments, no speakers
    whisperx   whisperX JSON: words with `SPEAKER_0N` labels (named by the sidecar's `speakers:`)
    podcast20  Podcasting 2.0 JSON

Words are spread evenly between a line's second and the next line's, so every
line's first word keeps the front-matter second. Section headers have no place
in these formats: the sidecar lists them as `chapters:` (`rag.sources.formats.chapters`).
Deterministic: the same episode gives the same bytes.

    >>> from rag.sources.episode import Line
    >>> ep = Episode("e", "T", None, (), None, None, None, (Line("Hi there.", 5, "Ann", ""),), "e.md")
    >>> print(srt(ep), end="")
    1
    00:00:05,000 --> 00:00:16,000
    Ann: Hi there.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from typing import Callable

from rag.sources.episode import Episode
from rag.sources.formats.chapters import Chapter

CUE_WORDS = 12  # a caption cue of ~4 s of speech
LAST_LINE_S = 20  # the last line has no next line to end at
FIXTURE_DESCRIPTION = "Converted from the DataTalks.Club transcript by make_fixtures.py."


@dataclass(frozen=True)
class TimedWord:
    second: float
    word: str
    speaker: str
    starts_line: bool


@dataclass(frozen=True)
class CaptionCue:
    start: float
    end: float
    speaker: str
    text: str
    starts_turn: bool  # the speaker differs from the previous cue's
    words: tuple[tuple[float, str], ...]  # (second, word) of each word


def timed_words(episode: Episode) -> list[TimedWord]:
    """Every word of the episode with a second, spread over its line's time."""
    words = []
    lines = episode.lines
    for i, line in enumerate(lines):
        end = lines[i + 1].sec if i + 1 < len(lines) else line.sec + LAST_LINE_S
        tokens = line.text.split()
        step = max(end - line.sec, 1) / len(tokens)
        words += [TimedWord(round(line.sec + n * step, 3), w, line.speaker, n == 0) for n, w in enumerate(tokens)]
    return words


def caption_cues(episode: Episode) -> list[CaptionCue]:
    """Cues of at most `CUE_WORDS` words, never across lines; each ends where the next starts."""
    groups: list[list[TimedWord]] = []
    group: list[TimedWord] = []
    for word in timed_words(episode):
        if group and (word.starts_line or len(group) == CUE_WORDS):
            groups.append(group)
            group = []
        group.append(word)
    groups.append(group)
    cues = []
    for n, group in enumerate(groups):
        end = groups[n + 1][0].second if n + 1 < len(groups) else group[-1].second + 1
        previous_speaker = groups[n - 1][0].speaker if n else None
        cues.append(CaptionCue(group[0].second, end, group[0].speaker, " ".join(w.word for w in group),
                               group[0].speaker != previous_speaker, tuple((w.second, w.word) for w in group)))
    return cues


def clock(seconds: float, comma: bool = False) -> str:
    """62.5 -> '00:01:02.500' (SRT's ',' decimals with `comma`)."""
    ms = round(seconds * 1000)
    text = f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"
    return text.replace(".", ",") if comma else text


def vtt(episode: Episode) -> str:
    blocks = ["WEBVTT\nKind: captions\nLanguage: en", "NOTE converted from the DTC front matter by make_fixtures.py"]
    blocks += [f"{clock(c.start)} --> {clock(c.end)} line:90%\n<v {c.speaker}>{c.text}" for c in caption_cues(episode)]
    return "\n\n".join(blocks) + "\n"


def youtube(episode: Episode) -> str:
    """YouTube auto-caption layout: each cue shows the previous line, then the new words
    with `<time><c> word</c>` timings; a 10 ms cue repeats the finished line."""
    blocks = ["WEBVTT\nKind: captions\nLanguage: en"]
    previous = " "  # YouTube's first cue has a line of one space above the words
    for cue in caption_cues(episode):
        timed = cue.words[0][1] + "".join(f"<{clock(t)}><c> {w}</c>" for t, w in cue.words[1:])
        blocks.append(f"{clock(cue.start)} --> {clock(cue.end - 0.01)} align:start position:0%\n{previous}\n{timed}")
        blocks.append(f"{clock(cue.end - 0.01)} --> {clock(cue.end)} align:start position:0%\n{cue.text}\n ")
        previous = cue.text
    return "\n\n".join(blocks) + "\n"


def youtube_asr(episode: Episode) -> str:
    """`youtube` with the words as most auto-captions have them: lower case, no punctuation.

    >>> from rag.sources.episode import Line
    >>> said = Line("Hi, I'm Ann. 'Quoted' t-shirt -- ok!", 5, "", "")
    >>> youtube_asr(Episode("e", "T", None, (), None, None, None, (said,), "e.md")).splitlines()[-2]
    "hi i'm ann quoted t-shirt ok"
    """
    lines = tuple(replace(line, text=_ASR_DROPPED.sub("", line.text).lower()) for line in episode.lines)
    return youtube(replace(episode, lines=tuple(line for line in lines if line.text.strip())))


_ASR_DROPPED = re.compile(r"[^\w\s'-]|(?<!\w)['-]|['-](?!\w)")  # punctuation, but not inside words (it's, t-shirt)


def srt(episode: Episode) -> str:
    blocks = []
    for n, cue in enumerate(caption_cues(episode), 1):
        prefix = f"{cue.speaker}: " if cue.starts_turn else ""
        blocks.append(f"{n}\n{clock(cue.start, True)} --> {clock(cue.end, True)}\n{prefix}{cue.text}")
    return "\n\n".join(blocks) + "\n"


def whisper(episode: Episode) -> str:
    segments = [{"id": n, "start": c.start, "end": c.end, "text": " " + c.text} for n, c in enumerate(caption_cues(episode))]
    return dump_segments({"language": "en", "segments": segments})


def speaker_labels(episode: Episode) -> dict[str, str]:
    """Speaker name -> diarization label (`SPEAKER_00`, ...), in order of first appearance."""
    names = list(dict.fromkeys(line.speaker for line in episode.lines))
    return {name: f"SPEAKER_{n:02d}" for n, name in enumerate(names)}


def whisperx(episode: Episode) -> str:
    label = speaker_labels(episode)
    segments = []
    for cue in caption_cues(episode):
        words = [{"word": w, "start": t, "speaker": label[cue.speaker]} for t, w in cue.words]
        segments.append({"start": cue.start, "end": cue.end, "text": " " + cue.text, "speaker": label[cue.speaker],
                         "words": words})
    return dump_segments({"segments": segments})


def podcast20(episode: Episode) -> str:
    segments = [{"speaker": c.speaker, "startTime": c.start, "endTime": c.end, "body": c.text}
                for c in caption_cues(episode)]
    return dump_segments({"version": "1.0.0", "segments": segments})


def dump_segments(data: dict) -> str:
    """JSON with one segment per line: small, and a diff shows which segment changed."""
    head = {k: v for k, v in data.items() if k != "segments"}
    rows = ",\n".join(json.dumps(x, ensure_ascii=False, separators=(",", ":")) for x in data["segments"])
    opening = json.dumps(head, ensure_ascii=False)[:-1] + (", " if head else "")
    return f'{opening}"segments": [\n{rows}\n]}}\n'


def episode_chapters(episode: Episode) -> list[Chapter]:
    """The episode's section headers as chapters, each starting at its first line's second."""
    return [Chapter(line.sec, line.section) for i, line in enumerate(episode.lines)
            if line.section and (i == 0 or episode.lines[i - 1].section != line.section)]


def sidecar(episode: Episode, speakers: dict[str, str] | None = None, chapters: bool = True) -> str:
    """The episode's `NAME.yaml`: title, url, guests, season, date, description (each
    when known; strings as JSON, which YAML reads as double-quoted scalars), its
    section headers as `chapters:` (unless not `chapters`) and, for diarized formats,
    `speakers:` naming each label."""
    url = f"https://www.youtube.com/watch?v={episode.youtube_id}" if episode.youtube_id else episode.media_url
    description = episode.description or FIXTURE_DESCRIPTION
    fields = [
        f"title: {json.dumps(episode.title, ensure_ascii=False)}",
        f"url: {url}" if url else "",
        f"guests: {json.dumps(list(episode.guests), ensure_ascii=False)}",
        f"season: {episode.season}" if episode.season is not None else "",
        f"date: {episode.date}" if episode.date else "",
        f"description: {description if description == FIXTURE_DESCRIPTION else json.dumps(description, ensure_ascii=False)}",
    ]
    lines = [field for field in fields if field]
    if chapters:
        lines.append("chapters:")
        lines += [f"  - {{start: {c.start}, title: {json.dumps(c.title, ensure_ascii=False)}}}" for c in episode_chapters(episode)]
    if speakers:
        lines.append("speakers:")
        lines += [f"  {label}: {json.dumps(name, ensure_ascii=False)}" for name, label in speakers.items()]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Writer:
    suffix: str
    write: Callable[[Episode], str]
    diarized: bool = False  # speakers are labels the sidecar names
    verbatim: bool = True  # the front matter's words as written (youtube_asr drops case and punctuation)


WRITERS: dict[str, Writer] = {
    "vtt": Writer(".vtt", vtt),
    "youtube": Writer(".vtt", youtube),
    "youtube_asr": Writer(".vtt", youtube_asr, verbatim=False),
    "srt": Writer(".srt", srt),
    "whisper": Writer(".json", whisper),
    "whisperx": Writer(".json", whisperx, diarized=True),
    "podcast20": Writer(".json", podcast20),
}


def converted_files(episode: Episode, kind: str, *, chapters: bool = True) -> dict[str, str]:
    """File name -> text of `episode` in format `kind` (a `WRITERS` key): the transcript
    and its sidecar (with the section headers as chapters unless not `chapters`)."""
    writer = WRITERS[kind]
    speakers = speaker_labels(episode) if writer.diarized else None
    return {episode.id + writer.suffix: writer.write(episode),
            episode.id + ".yaml": sidecar(episode, speakers, chapters)}

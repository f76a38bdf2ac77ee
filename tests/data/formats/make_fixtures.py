"""Write the format fixtures: 2 real DTC episodes (tests/data/corpus) in every format.

    .venv/bin/python tests/data/formats/make_fixtures.py   # rewrites tests/data/formats/*/

One folder per format, each with both episodes and their `NAME.yaml` sidecars:
vtt (voice tags), youtube (auto-caption style: rolling lines, word timings, no
speakers), srt (`NAME:` prefixes on each turn's first cue), whisper (plain
segments, no speakers), whisperx (words with `SPEAKER_0N` labels, named by the
sidecar's `speakers:`), podcast20 (Podcasting 2.0 JSON).

Words are spread evenly between a line's second and the next line's, so every
line's first word keeps the front-matter second. Deterministic: the test
`test_regenerating_the_fixtures_gives_the_same_files` runs it again and compares.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2]))

from rag.corpus import Episode, load_corpus  # noqa: E402

EPISODES = ("building-data-team", "technical-writing-for-data-scientists")
CUE_WORDS = 12  # a caption cue of ~4 s of speech
LAST_LINE_S = 20  # the last line has no next line to end at


def timed_words(episode: Episode) -> list[tuple[float, str, str, bool]]:
    """(second, word, speaker, first word of its line) for every word of the episode."""
    words = []
    lines = episode.lines
    for i, line in enumerate(lines):
        end = lines[i + 1].sec if i + 1 < len(lines) else line.sec + LAST_LINE_S
        tokens = line.text.split()
        step = max(end - line.sec, 1) / len(tokens)
        words += [(round(line.sec + n * step, 3), w, line.speaker, n == 0) for n, w in enumerate(tokens)]
    return words


def cues(episode: Episode) -> list[tuple[float, float, str, str, bool, list[tuple[float, str]]]]:
    """(start, end, speaker, text, starts a turn, timed words): ≤ CUE_WORDS words, never across lines."""
    out = []
    words = timed_words(episode)
    group: list[tuple[float, str, str, bool]] = []
    for i, word in enumerate(words):
        if group and (word[3] or len(group) == CUE_WORDS):
            out.append(group)
            group = []
        group.append(word)
    out.append(group)
    result = []
    for n, group in enumerate(out):
        end = out[n + 1][0][0] if n + 1 < len(out) else group[-1][0] + 1
        previous_speaker = out[n - 1][0][2] if n else None
        result.append((group[0][0], end, group[0][2], " ".join(w[1] for w in group),
                       group[0][2] != previous_speaker, [(w[0], w[1]) for w in group]))
    return result


def clock(seconds: float, comma: bool = False) -> str:
    ms = round(seconds * 1000)
    text = f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"
    return text.replace(".", ",") if comma else text


def vtt(episode: Episode) -> str:
    blocks = ["WEBVTT\nKind: captions\nLanguage: en", "NOTE converted from the DTC front matter by make_fixtures.py"]
    blocks += [f"{clock(s)} --> {clock(e)} line:90%\n<v {who}>{text}" for s, e, who, text, _, _ in cues(episode)]
    return "\n\n".join(blocks) + "\n"


def youtube(episode: Episode) -> str:
    """YouTube auto-caption layout: each cue shows the previous line, then the new words
    with `<time><c> word</c>` timings; a 10 ms cue repeats the finished line."""
    blocks = ["WEBVTT\nKind: captions\nLanguage: en"]
    previous = " "  # YouTube's first cue has a line of one space above the words
    for start, end, _, text, _, words in cues(episode):
        timed = words[0][1] + "".join(f"<{clock(t)}><c> {w}</c>" for t, w in words[1:])
        blocks.append(f"{clock(start)} --> {clock(end - 0.01)} align:start position:0%\n{previous}\n{timed}")
        blocks.append(f"{clock(end - 0.01)} --> {clock(end)} align:start position:0%\n{text}\n ")
        previous = text
    return "\n\n".join(blocks) + "\n"


def srt(episode: Episode) -> str:
    blocks = []
    for n, (s, e, who, text, turn, _) in enumerate(cues(episode), 1):
        blocks.append(f"{n}\n{clock(s, True)} --> {clock(e, True)}\n{f'{who}: ' if turn else ''}{text}")
    return "\n\n".join(blocks) + "\n"


def whisper(episode: Episode) -> str:
    segments = [{"id": n, "start": s, "end": e, "text": " " + text} for n, (s, e, _, text, _, _) in enumerate(cues(episode))]
    return dump({"language": "en", "segments": segments})


def dump(data: dict) -> str:
    """JSON with one segment per line: small, and a diff shows which segment changed."""
    head = {k: v for k, v in data.items() if k != "segments"}
    rows = ",\n".join(json.dumps(x, ensure_ascii=False, separators=(",", ":")) for x in data["segments"])
    opening = json.dumps(head, ensure_ascii=False)[:-1] + (", " if head else "")
    return f'{opening}"segments": [\n{rows}\n]}}\n'


def labels(episode: Episode) -> dict[str, str]:
    names = list(dict.fromkeys(line.speaker for line in episode.lines))
    return {name: f"SPEAKER_{n:02d}" for n, name in enumerate(names)}


def whisperx(episode: Episode) -> str:
    label = labels(episode)
    segments = []
    for s, e, who, text, _, timed in cues(episode):
        words = [{"word": w, "start": t, "speaker": label[who]}
                 for t, w in timed]
        segments.append({"start": s, "end": e, "text": " " + text, "speaker": label[who], "words": words})
    return dump({"segments": segments})


def podcast20(episode: Episode) -> str:
    segments = [{"speaker": who, "startTime": s, "endTime": e, "body": text} for s, e, who, text, _, _ in cues(episode)]
    return dump({"version": "1.0.0", "segments": segments})


def sidecar(episode: Episode, speakers: dict[str, str] | None = None) -> str:
    lines = [
        f"title: {json.dumps(episode.title, ensure_ascii=False)}",
        f"url: https://www.youtube.com/watch?v={episode.youtube_id}",
        f"guests: {json.dumps(list(episode.guests), ensure_ascii=False)}",
        f"season: {episode.season}",
        f"date: {episode.date}",
        "description: Converted from the DataTalks.Club transcript by make_fixtures.py.",
    ]
    if speakers:
        lines.append("speakers:")
        lines += [f"  {label}: {json.dumps(name, ensure_ascii=False)}" for name, label in speakers.items()]
    return "\n".join(lines) + "\n"


FORMATS = {
    "vtt": (".vtt", vtt), "youtube": (".vtt", youtube), "srt": (".srt", srt),
    "whisper": (".json", whisper), "whisperx": (".json", whisperx), "podcast20": (".json", podcast20),
}


def write_fixtures(out: Path, corpus: Path = HERE.parent / "corpus") -> list[Path]:
    """Write every format folder under `out`; returns the files written, sorted."""
    episodes = {e.id: e for e in load_corpus([corpus]).episodes}
    written = []
    for folder, (suffix, convert) in FORMATS.items():
        (out / folder).mkdir(parents=True, exist_ok=True)
        for episode_id in EPISODES:
            episode = episodes[episode_id]
            speakers = labels(episode) if folder == "whisperx" else None
            for name, text in ((episode_id + suffix, convert(episode)), (episode_id + ".yaml", sidecar(episode, speakers))):
                (out / folder / name).write_text(text, encoding="utf-8")
                written.append(out / folder / name)
    return sorted(written)


if __name__ == "__main__":
    for path in write_fixtures(HERE):
        print(path.relative_to(HERE))

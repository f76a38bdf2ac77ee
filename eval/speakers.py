"""Who speaks in each real transcript, as the readers see it: words per speaker, cues and sentences.

    python eval/speakers.py [--external ../shared/external] [--json]

Reads every transcript under `--external` (real files nobody on the project wrote, with
their `NAME.yaml` sidecars: see SOURCES.md there) the way `rag ingest` does, and prints
for each: its format, the cues (Whisper segments) in the file, the lines, speaker turns
and sentences read from it, and the words each speaker says ("-" for words nobody is
named for). A change in a reader (turns, stage directions, names) shows up as a number
here. A file that cannot be read is one line naming it.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

from rag.answers.citations import split_sentences
from rag.errors import RagError
from rag.sources.formats.sniff import detect_format
from rag.sources.formats.vtt import split_blocks, timed_cues
from rag.sources.sidecar import episode_from_transcript, sidecar_path

EXTERNAL = Path(__file__).resolve().parents[2] / "shared" / "external"
SUFFIXES = (".vtt", ".srt", ".json")
NOBODY = "-"


@dataclass(frozen=True)
class FileSpeakers:
    name: str  # folder/file under --external
    format: str
    cues: int  # timed cues (VTT, SRT) or segments (JSON) in the file
    lines: int
    turns: int  # runs of lines by one speaker
    sentences: int  # sentences quotes are cut from (`rag.answers.citations.split_sentences` of each line)
    words: dict[str, int]  # speaker ("-" for nobody named) -> words, most first


def count_cues(text: str, kind: str) -> int:
    """Timed cues of a VTT/SRT file, or segments of a JSON one (what the reader starts from)."""
    if kind in ("whisper", "podcast20"):
        return len(json.loads(text.lstrip("\ufeff"))["segments"])
    return len(timed_cues(split_blocks(text), Counter()))


def file_speakers(path: Path, root: Path) -> FileSpeakers:
    """What the readers make of `path`; raises `RagError` (naming it) when it cannot be read."""
    text = path.read_text(encoding="utf-8")
    sidecar = sidecar_path(path)
    episode, _ = episode_from_transcript(text, path.name, sidecar.read_text(encoding="utf-8") if sidecar else None,
                                         sidecar_name=str(sidecar) if sidecar else None)
    words: Counter[str] = Counter()
    for line in episode.lines:
        words[line.speaker or NOBODY] += len(line.text.split())
    lines = episode.lines
    return FileSpeakers(
        name=str(path.relative_to(root)),
        format=detect_format(text, path.name) or "?",
        cues=count_cues(text, detect_format(text, path.name) or ""),
        lines=len(lines),
        turns=sum(1 for i, line in enumerate(lines) if i == 0 or lines[i - 1].speaker != line.speaker),
        sentences=sum(len(split_sentences(line.text)) for line in lines),
        words=dict(words.most_common()),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--external", type=Path, default=EXTERNAL, help=f"the real transcripts [{EXTERNAL}]")
    parser.add_argument("--json", action="store_true", help="one JSON object per file instead of the table")
    args = parser.parse_args(argv)
    paths = sorted(p for p in args.external.glob("*/*") if p.suffix in SUFFIXES)
    if not paths:
        parser.error(f"no .vtt, .srt or .json transcript in the folders of {args.external}")
    rows: list[FileSpeakers] = []
    for path in paths:
        try:
            rows.append(file_speakers(path, args.external))
        except (RagError, OSError, UnicodeDecodeError, ValueError) as exc:
            print(f"{path}: cannot be read: {exc}", file=sys.stderr)
    if args.json:
        for row in rows:
            print(json.dumps(asdict(row), ensure_ascii=False))
    else:
        width = max([len("file"), *(len(row.name) for row in rows)])
        print(f"{'file':<{width}} {'format':<8} {'cues':>5} {'lines':>5} {'turns':>5} {'sentences':>9}  words per speaker")
        for row in rows:
            said = ", ".join(f"{speaker} {n}" for speaker, n in row.words.items())
            print(f"{row.name:<{width}} {row.format:<8} {row.cues:>5} {row.lines:>5} {row.turns:>5} {row.sentences:>9}  {said}")
    return 0 if len(rows) == len(paths) else 1


if __name__ == "__main__":
    sys.exit(main())

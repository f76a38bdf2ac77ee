"""Write the format fixtures: 2 real DTC episodes (tests/data/corpus) in every format.

    .venv/bin/python tests/data/formats/make_fixtures.py   # rewrites tests/data/formats/*/

One folder per format of `rag.sources.formats.convert.WRITERS` (vtt, youtube, youtube_asr, srt,
whisper, whisperx, podcast20), each with both episodes and their `NAME.yaml` sidecars.
Deterministic: the test `test_regenerating_the_fixtures_gives_the_same_files` runs
it again and compares.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2]))

from rag.sources.formats.convert import WRITERS, converted_files  # noqa: E402
from rag.sources.load import load_corpus  # noqa: E402

EPISODES = ("building-data-team", "technical-writing-for-data-scientists")


def write_fixtures(out: Path, corpus: Path = HERE.parent / "corpus") -> list[Path]:
    """Write every format folder under `out`; returns the files written, sorted."""
    episodes = {e.id: e for e in load_corpus([corpus]).episodes}
    written = []
    for kind in WRITERS:
        (out / kind).mkdir(parents=True, exist_ok=True)
        for episode_id in EPISODES:
            for name, text in converted_files(episodes[episode_id], kind).items():
                (out / kind / name).write_text(text, encoding="utf-8")
                written.append(out / kind / name)
    return sorted(written)


if __name__ == "__main__":
    for path in write_fixtures(HERE):
        print(path.relative_to(HERE))

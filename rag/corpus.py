"""Transcript files -> `Episode`s.

The episode files are Markdown with YAML front matter (the DataTalks.Club website
layout): `title`, `guests`, `season`, `episode`, `ids.youtube` and a `transcript`
list of `{header: ...}` and `{line, sec, time, who}` items. Real files are messy, so
every oddity has a deliberate outcome: the file is either skipped or repaired, and
one `FileNote` says which and why.

    >>> people = {"dattran": "Dat Tran"}
    >>> text = "---\\ntitle: Hi\\nguests: [dattran]\\nids: {youtube: abc}\\n" \\
    ...        "transcript:\\n- line: Hello\\n  sec: 5\\n  who: Dat\\n---\\n"
    >>> episode, repairs = parse_episode(text, "hi.md", people)
    >>> episode.lines[0].speaker, episode.lines[0].sec, repairs
    ('Dat Tran', 5, [])
"""

from __future__ import annotations

import hashlib
import subprocess
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import yaml
from tqdm import tqdm

from rag.errors import CorpusError, TranscriptParseError

YOUTUBE_WATCH = "https://www.youtube.com/watch?v={video}&t={sec}s"

# libyaml's loader is ~10x faster than the pure-Python one: it keeps re-ingest quick.
_YamlLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class Line:
    """One spoken transcript line."""

    text: str
    sec: int
    speaker: str  # display name; "" when the transcript does not say
    section: str  # the nearest `header:` above it; "" before the first one


@dataclass(frozen=True)
class Episode:
    id: str  # the file name without one `.md`
    title: str
    youtube_id: str | None
    guests: tuple[str, ...]  # display names
    season: int | None
    number: int | None
    date: str | None
    lines: tuple[Line, ...]
    source: str  # the file it came from

    def url_at(self, sec: int) -> str:
        """Link that opens the episode's video at `sec`; "" when it has no video."""
        if not self.youtube_id:
            return ""
        return YOUTUBE_WATCH.format(video=self.youtube_id, sec=int(sec))

    def transcript_fingerprint(self) -> str:
        digest = hashlib.sha256()
        for line in self.lines:
            digest.update(line.text.encode("utf-8") + b"\x00")
        return digest.hexdigest()


@dataclass(frozen=True)
class FileNote:
    """What happened to one input file that was not simply indexed as is."""

    path: str
    action: str  # "skipped" | "repaired" | "duplicate" | "error"
    reason: str

    def __str__(self) -> str:
        return f"{self.action}: {self.path}: {self.reason}"


@dataclass
class Corpus:
    episodes: list[Episode] = field(default_factory=list)
    notes: list[FileNote] = field(default_factory=list)

    def count(self, action: str) -> int:
        return sum(1 for note in self.notes if note.action == action)


@dataclass(frozen=True)
class CorpusFiles:
    episode_files: tuple[Path, ...]
    people_files: tuple[Path, ...]


def episode_id_from_path(path: str | Path) -> str:
    """`x.md` -> `x`; `x.md.md` -> `x.md` (only one `.md` is removed)."""
    name = Path(path).name
    return name[: -len(".md")] if name.endswith(".md") else name


# --------------------------------------------------------------------------- parsing


def split_front_matter(text: str, name: str) -> tuple[str, int, int]:
    """Return (yaml_text, first_yaml_line_number, junk_line_count).

    Anything before the first `---` line is junk that some exports left behind;
    it is counted so that the caller can report the repair.
    """
    lines = text.splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == "---")
    except StopIteration:
        raise TranscriptParseError(f"{name}: no YAML front matter (no '---' line)") from None
    try:
        end = next(i for i in range(start + 1, len(lines)) if lines[i].strip() == "---")
    except StopIteration:
        raise TranscriptParseError(
            f"{name}:{start + 1}: front matter is never closed (no second '---' line)"
        ) from None
    junk = sum(1 for line in lines[:start] if line.strip())
    return "\n".join(lines[start + 1 : end]), start + 2, junk


def parse_timestamp(raw: object) -> int | None:
    """'1:02:03' -> 3723, '2:06' -> 126, 75 -> 75; None when unusable."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, (int, float)):
        return int(raw) if raw >= 0 else None
    if not isinstance(raw, str):
        return None
    parts = raw.strip().split(":")
    if not 1 <= len(parts) <= 3 or not all(p.strip().isdigit() for p in parts):
        return None
    seconds = 0
    for part in parts:
        seconds = seconds * 60 + int(part)
    return seconds


def _speaker_names(guests: Sequence[str]) -> dict[str, str]:
    """Map how transcripts name a guest (first name or full name) to the display name."""
    names: dict[str, str] = {}
    for display in guests:
        names.setdefault(display.casefold(), display)
        first = display.split()[0].casefold() if display.split() else ""
        if first:
            names.setdefault(first, display)
    return names


def parse_episode(text: str, name: str, people: dict[str, str]) -> tuple[Episode, list[str]]:
    """Parse one episode file's text.

    Returns the episode and the repairs made (human-readable phrases, empty when the
    file was clean). Raises `TranscriptParseError` when the file cannot be indexed.
    """
    if not text.strip():
        raise TranscriptParseError(f"{name}: empty file")
    yaml_text, first_line, junk = split_front_matter(text, name)
    try:
        meta = yaml.load(yaml_text, Loader=_YamlLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{name}:{first_line + mark.line}" if mark is not None else name
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise TranscriptParseError(f"{where}: broken YAML front matter: {problem}") from None
    if not isinstance(meta, dict):
        raise TranscriptParseError(f"{name}: front matter is not a mapping")

    repairs: list[str] = []
    if junk:
        repairs.append(f"ignored {junk} line(s) of junk before the front matter")
    episode_id = episode_id_from_path(name)
    if Path(name).name.endswith(".md.md"):
        repairs.append(f"file name ends in '.md.md'; episode id is {episode_id!r}")

    guest_ids = meta.get("guests") or []
    if isinstance(guest_ids, str):
        guest_ids = [guest_ids]
    guests = tuple(people.get(str(g), str(g)) for g in guest_ids if g)
    ids = meta.get("ids") if isinstance(meta.get("ids"), dict) else {}
    youtube_id = str(ids["youtube"]) if ids.get("youtube") else None
    title = str(meta.get("title") or meta.get("short") or episode_id).strip()

    transcript = meta.get("transcript")
    if not transcript:
        raise TranscriptParseError(f"{name}: no transcript")
    if not isinstance(transcript, list):
        raise TranscriptParseError(f"{name}: 'transcript' is not a list")

    lines, line_repairs = _parse_transcript(transcript, _speaker_names(guests))
    repairs.extend(line_repairs)
    if not lines:
        raise TranscriptParseError(f"{name}: transcript has no spoken lines")

    return (
        Episode(
            id=episode_id,
            title=title,
            youtube_id=youtube_id,
            guests=guests,
            season=_as_int(meta.get("season")),
            number=_as_int(meta.get("episode")),
            date=str(meta.get("date") or meta.get("dateadded") or "") or None,
            lines=tuple(lines),
            source=name,
        ),
        repairs,
    )


def _as_int(value: object) -> int | None:
    try:
        return int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _parse_transcript(items: list, speakers: dict[str, str]) -> tuple[list[Line], list[str]]:
    counts: Counter[str] = Counter()
    timed_texts = {
        _clean(item["line"])
        for item in items
        if isinstance(item, dict) and "line" in item and parse_timestamp(item.get("sec")) is not None
    }
    lines: list[Line] = []
    section = ""
    previous_sec = 0
    for item in items:
        if not isinstance(item, dict):
            counts["item(s) that are not mappings ignored"] += 1
            continue
        if "header" in item and "line" not in item:
            section = _clean(item["header"])
            continue
        if "line" not in item:
            counts["item(s) with neither 'line' nor 'header' ignored"] += 1
            continue
        text = _clean(item["line"])
        if not text:
            counts["empty line(s) dropped"] += 1
            continue
        sec = parse_timestamp(item.get("sec"))
        if sec is None:
            if text in timed_texts:
                # Some exports repeat a line once without its timestamp just
                # before the timed copy; keeping both would index it twice.
                counts["untimed duplicate line(s) dropped"] += 1
                continue
            sec = parse_timestamp(item.get("time"))
            if sec is not None:
                counts["line(s) without 'sec' timed from 'time'"] += 1
            else:
                sec = previous_sec
                counts["line(s) without 'sec' or 'time' given the previous line's second"] += 1
        who = _clean(item.get("who") or "")
        if not who:
            counts["line(s) without 'who' left without a speaker"] += 1
        lines.append(Line(text=text, sec=sec, speaker=speakers.get(who.casefold(), who), section=section))
        previous_sec = sec
    return lines, [f"{n} {what}" for what, n in counts.items()]


def _clean(value: object) -> str:
    return " ".join(str(value).split())


def parse_people_file(text: str, name: str) -> tuple[str, str]:
    """Return (person id, display name) from a people file's front matter."""
    yaml_text, _, _ = split_front_matter(text, name)
    try:
        meta = yaml.load(yaml_text, Loader=_YamlLoader)
    except yaml.YAMLError:
        raise TranscriptParseError(f"{name}: broken YAML front matter") from None
    if not isinstance(meta, dict) or not meta.get("title"):
        raise TranscriptParseError(f"{name}: people file has no 'title'")
    return episode_id_from_path(name), " ".join(str(meta["title"]).split())


# --------------------------------------------------------------------------- sources


def is_git_url(source: str) -> bool:
    return source.startswith(("http://", "https://", "git@", "file://", "ssh://")) or (
        source.endswith(".git") and not Path(source).exists()
    )


def clone_repository(url: str, into: Path) -> Path:
    """Shallow-clone `url` into `into`; raise `CorpusError` naming the URL on failure."""
    into.parent.mkdir(parents=True, exist_ok=True)
    try:
        subprocess.run(
            ["git", "clone", "--quiet", "--depth", "1", url, str(into)],
            check=True,
            capture_output=True,
            text=True,
            timeout=600,
        )
    except FileNotFoundError:
        raise CorpusError(f"{url}: cannot clone, 'git' is not installed") from None
    except subprocess.TimeoutExpired:
        raise CorpusError(f"{url}: git clone timed out") from None
    except subprocess.CalledProcessError as exc:
        detail = (exc.stderr or "").strip().splitlines()
        raise CorpusError(f"{url}: git clone failed: {detail[-1] if detail else exc}") from None
    return into


def find_corpus_files(source: Path) -> CorpusFiles:
    """Episode and people files of one local source.

    A source is a corpus folder (`podcast/` + `people/`, or the website's
    `_podcast/` + `_people/`), a folder of episode files, or one episode file.
    """
    if source.is_file():
        return CorpusFiles((source,), ())
    if not source.is_dir():
        raise CorpusError(f"{source}: no such file or folder")
    for episodes_dir, people_dir in (("podcast", "people"), ("_podcast", "_people")):
        if (source / episodes_dir).is_dir():
            people = source / people_dir
            return CorpusFiles(
                tuple(sorted((source / episodes_dir).glob("*.md"))),
                tuple(sorted(people.glob("*.md"))) if people.is_dir() else (),
            )
    return CorpusFiles(tuple(sorted(p for p in source.glob("*.md") if p.name.lower() != "readme.md")), ())


def load_people(files: Iterable[Path], notes: list[FileNote]) -> dict[str, str]:
    people: dict[str, str] = {}
    for path in files:
        try:
            person_id, display = parse_people_file(path.read_text(encoding="utf-8"), str(path))
        except (TranscriptParseError, UnicodeDecodeError, OSError) as exc:
            notes.append(FileNote(str(path), "skipped", _reason(exc, path)))
            continue
        people[person_id] = display
    return people


def _reason(exc: Exception, path: Path) -> str:
    message = str(exc)
    for prefix in (f"{path}: ", f"{path}:"):
        if message.startswith(prefix):
            return message[len(prefix) :]
    if isinstance(exc, UnicodeDecodeError):
        return "not a UTF-8 text file"
    return message


def read_episode_file(path: Path, people: dict[str, str]) -> tuple[Episode, list[str]]:
    raw = path.read_bytes()
    if b"\x00" in raw:
        raise TranscriptParseError(f"{path}: binary file, not a transcript")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise TranscriptParseError(f"{path}: not a UTF-8 text file") from None
    return parse_episode(text, str(path), people)


def load_corpus(
    sources: Sequence[str | Path], *, clone_dir: Path | None = None, show_progress: bool = False
) -> Corpus:
    """Read every episode of `sources`; bad files become notes, never exceptions.

    Raises `CorpusError` only when no source could be read at all.
    """
    corpus = Corpus()
    all_files: list[CorpusFiles] = []
    for source in sources:
        try:
            all_files.append(find_corpus_files(_local_source(str(source), clone_dir)))
        except CorpusError as exc:
            corpus.notes.append(FileNote(str(source), "error", _reason(exc, Path(str(source)))))
    if not all_files:
        raise CorpusError("; ".join(f"{n.path}: {n.reason}" for n in corpus.notes) or "no corpus source given")

    people = load_people((p for files in all_files for p in files.people_files), corpus.notes)
    episode_files = [p for files in all_files for p in files.episode_files]
    parsed: list[Episode] = []
    for path in tqdm(episode_files, desc="parsing", unit="file", disable=not show_progress):
        try:
            episode, repairs = read_episode_file(path, people)
        except (TranscriptParseError, OSError) as exc:
            corpus.notes.append(FileNote(str(path), "skipped", _reason(exc, path)))
            continue
        if repairs:
            corpus.notes.append(FileNote(str(path), "repaired", "; ".join(repairs)))
        parsed.append(episode)
    corpus.episodes = drop_duplicate_episodes(parsed, corpus.notes)
    return corpus


def _local_source(source: str, clone_dir: Path | None) -> Path:
    if not is_git_url(source):
        return Path(source)
    if clone_dir is None:
        raise CorpusError(f"{source}: a git URL needs a clone folder")
    target = clone_dir / hashlib.sha256(source.encode()).hexdigest()[:16]
    if target.exists():
        import shutil

        shutil.rmtree(target)
    return clone_repository(source, target)


def drop_duplicate_episodes(episodes: list[Episode], notes: list[FileNote]) -> list[Episode]:
    """Keep one episode per YouTube id and per transcript.

    Between duplicates, keep the one whose guests actually speak in the transcript
    (a copied transcript under another guest's episode is the usual mistake), then
    the one with the richer transcript (more sections), then the first seen.
    """
    kept: list[Episode] = []
    for episode in episodes:
        twin_index = next(
            (
                i
                for i, other in enumerate(kept)
                if (episode.youtube_id and episode.youtube_id == other.youtube_id)
                or episode.transcript_fingerprint() == other.transcript_fingerprint()
            ),
            None,
        )
        if twin_index is None:
            kept.append(episode)
            continue
        other = kept[twin_index]
        what = "YouTube id" if episode.youtube_id and episode.youtube_id == other.youtube_id else "transcript"
        winner, loser = (
            (episode, other) if _duplicate_rank(episode) > _duplicate_rank(other) else (other, episode)
        )
        kept[twin_index] = winner
        notes.append(
            FileNote(
                loser.source,
                "duplicate",
                f"same {what} as {winner.source}; kept {winner.id!r} ({_why_kept(winner, loser)})",
            )
        )
    return kept


def _guests_speak(episode: Episode) -> bool:
    speakers = {line.speaker for line in episode.lines}
    return any(guest in speakers for guest in episode.guests)


def _duplicate_rank(episode: Episode) -> tuple[bool, int]:
    return (_guests_speak(episode), len({line.section for line in episode.lines}))


def _why_kept(winner: Episode, loser: Episode) -> str:
    if _guests_speak(winner) and not _guests_speak(loser):
        return f"its guest {', '.join(winner.guests)} speaks in the transcript"
    if _duplicate_rank(winner) != _duplicate_rank(loser):
        return "it has the richer transcript"
    return "it came first"

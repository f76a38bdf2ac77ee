"""Transcript files -> `Episode`s.

The episode files are Markdown with YAML front matter (the DataTalks.Club website
layout): `title`, `guests`, `season`, `episode`, `ids.youtube` and a `transcript`
list of `{header: ...}` and `{line, sec, time, who}` items. Real files are messy, so
every oddity has a deliberate outcome: the file is either skipped or repaired, and
one `FileNote` says which and why.

    >>> people = {"dattran": "Dat Tran"}
    >>> text = "---\\ntitle: Hi\\nguests: [dattran]\\nids: {youtube: ScDIB-3O77A}\\n" \\
    ...        "transcript:\\n- line: Hello\\n  sec: 5\\n  who: Dat\\n---\\n"
    >>> episode, repairs = parse_episode(text, "hi.md", people)
    >>> episode.lines[0].speaker, episode.lines[0].sec, repairs
    ('Dat Tran', 5, [])
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterable, Sequence

import yaml
from tqdm import tqdm

from rag.errors import CorpusError, TranscriptParseError
from rag.feed import is_feed_text, is_feed_url, load_feed, local_transcript_files
from rag.fetch import LastGoodCopies, PrivateHosts
from rag.limits import (
    MAX_DESCRIPTION_CHARS,
    MAX_GUESTS,
    MAX_NAME_CHARS,
    MAX_TITLE_CHARS,
    MAX_TRANSCRIPT_BYTES,
    megabytes,
    read_capped,
)
from rag.moment import VIDEO_ID, Moment, media_link
from rag.urls import public_url

_PASTED_YOUTUBE_ID = re.compile(rf"({VIDEO_ID.pattern})[&?#].*")  # a valid id, then a pasted link's tail

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
    youtube_id: str | None  # a `rag.moment.VIDEO_ID`; parse_episode repairs or drops any other
    guests: tuple[str, ...]  # display names
    season: int | None
    number: int | None
    date: str | None
    lines: tuple[Line, ...]
    source: str  # the file it came from
    # The episode's page, audio or video file (an http(s) URL) when there is no YouTube
    # id: sidecar metadata, a feed's enclosure or a DTC file's `links:`. See rag.moment.
    media_url: str | None = None
    # True when `media_url` is known to be an audio/video file even without a media
    # extension (an RSS enclosure): it then plays in the page's <audio> player.
    media_is_file: bool = False
    # What the episode is about, in a sentence or two: DTC front matter `description:`,
    # a sidecar's `description:`. "" when none.
    description: str = ""

    def url_at(self, sec: int) -> str:
        """Link that opens the episode at `sec`: the YouTube video (`&t=Ns`), else the
        media file (`#t=N`), else the page as is; "" when it has none (or not http(s))."""
        if self.youtube_id:
            return Moment(self.youtube_id, sec).watch_url
        link = media_link(self.media_url, sec, media=self.media_is_file)
        return link.link_url if link else ""

    def transcript_fingerprint(self) -> str:
        """Hash of the spoken words only: two files with the same words are duplicates,
        even when one resolves the speakers differently."""
        digest = hashlib.sha256()
        for line in self.lines:
            digest.update(line.text.encode("utf-8") + b"\x00")
        return digest.hexdigest()

    def fingerprint(self) -> str:
        """Hash of everything that reaches the index: metadata and every line's text,
        second, speaker and section (all fields but `source`). A corrected speaker,
        second or header changes it, so that re-ingest rebuilds the index."""
        record = [
            self.id, self.title, self.youtube_id, list(self.guests), self.season, self.number, self.date,
            [[line.text, line.sec, line.speaker, line.section] for line in self.lines],
        ]
        if self.media_url:  # only then: the fingerprints of episodes without one stay as they were
            record.append([self.media_url, self.media_is_file])
        if self.description:  # likewise
            record.append(["description", self.description])
        return hashlib.sha256(json.dumps(record, ensure_ascii=False).encode("utf-8")).hexdigest()


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
    feed_files: tuple[Path, ...] = ()  # RSS feeds in the folder; the transcripts they link are not in episode_files
    empty_folders: tuple[Path, ...] = ()  # subfolders (shows) with no transcript or feed in them


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
    meta, junk = _front_matter(text, name)
    repairs: list[str] = []
    if junk:
        repairs.append(f"ignored {junk} line(s) of junk before the front matter")
    episode_id = episode_id_from_path(name)
    if Path(name).name.endswith(".md.md"):
        repairs.append(f"file name ends in '.md.md'; episode id is {episode_id!r}")
    guests = guest_names(meta.get("guests"), people)
    youtube_id = _youtube_id(meta.get("ids"), repairs)
    lines, line_repairs = _parse_transcript(_transcript_items(meta, name), _speaker_names(guests))
    repairs.extend(line_repairs)
    if not lines:
        raise TranscriptParseError(f"{name}: transcript has no spoken lines")
    return (
        Episode(
            id=episode_id,
            title=_clean(meta.get("title") or meta.get("short") or episode_id),
            youtube_id=youtube_id,
            guests=guests,
            season=_as_int(meta.get("season")),
            number=_as_int(meta.get("episode")),
            date=_clean(meta.get("date") or meta.get("dateadded") or "") or None,
            lines=tuple(lines),
            source=name,
            media_url=_media_file_link(meta.get("links")) if youtube_id is None else None,
            description=_clean(meta.get("description") or ""),
        ),
        repairs,
    )


def _front_matter(text: str, name: str) -> tuple[dict, int]:
    """(the front matter's mapping, junk lines before it); raises `TranscriptParseError`
    naming the file (and the line, for broken YAML)."""
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
    return meta, junk


def guest_names(raw: object, people: dict[str, str]) -> tuple[str, ...]:
    """Display names of a `guests:` value (a list or one id); ids found in `people` are
    replaced by their names.

    >>> guest_names(["dattran", "Ann  Lee"], {"dattran": "Dat Tran"}), guest_names("x", {})
    (('Dat Tran', 'Ann Lee'), ('x',))
    """
    ids = [raw] if isinstance(raw, str) else raw if isinstance(raw, list) else []
    return tuple(_clean(people.get(str(g), str(g))) for g in ids if g)


def _youtube_id(ids: object, repairs: list[str]) -> str | None:
    """The `ids: {youtube: ...}` video id, repaired or dropped (with a note in `repairs`)."""
    if not isinstance(ids, dict) or not ids.get("youtube"):
        return None
    youtube_id = str(ids["youtube"]).strip()
    if VIDEO_ID.fullmatch(youtube_id):
        return youtube_id
    # A pasted link's tail ("NfAJAr7FvyY&t") leaves a valid id in front of it.
    pasted = _PASTED_YOUTUBE_ID.fullmatch(youtube_id)
    if pasted:
        repairs.append(f"YouTube id {youtube_id!r} cut to {pasted[1]!r}")
        return pasted[1]
    repairs.append(f"invalid YouTube id {youtube_id!r} dropped (no video link)")
    return None


def _transcript_items(meta: dict, name: str) -> list:
    transcript = meta.get("transcript")
    if not transcript:
        raise TranscriptParseError(f"{name}: no transcript")
    if not isinstance(transcript, list):
        raise TranscriptParseError(f"{name}: 'transcript' is not a list")
    return transcript


# `links:` keys of a DTC file that name the episode's own audio file (played in the page).
MEDIA_LINK_KEYS = ("mp3", "audio")


def _media_file_link(links: object) -> str | None:
    """The http(s) audio file of a DTC file's `links:` (`mp3:` or `audio:`), else None."""
    if not isinstance(links, dict):
        return None
    for key in MEDIA_LINK_KEYS:
        url = str(links.get(key) or "").strip()
        if media_link(url, media=True):
            return url
    return None


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


_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"]+")
_TRANSPORT = re.compile(r"[A-Za-z0-9+.-]+::")  # git's `<transport>::<address>` (ext::, fd::, ...)
_SCP_USER = re.compile(r"(?<!\S)[^\s/@]+@(?=[^\s/@:]+:)")  # "user[:secret]@" of user@host:path (ssh)
_CLONE_SCHEMES = ("https://", "file://")


def public_source(text: str) -> str:
    """A source, command line or git message fit to show or save: every URL in `text`
    passed through `rag.urls.public_url` (no user info, query or fragment), and the
    user of a `user@host:path` dropped. Local paths are kept as they are.

        >>> public_source("rag ingest https://user:token@github.com/o/corpus.git?x=1 --index idx")
        'rag ingest https://github.com/o/corpus.git --index idx'
    """
    return _SCP_USER.sub("", _URL_IN_TEXT.sub(lambda m: public_url(m[0]), text))


def is_git_url(source: str) -> bool:
    """A source to clone (or refuse) rather than read as a local folder: any URL, git's
    `transport::` and `[user@]host:path` forms, or a missing or bare `*.git` path."""
    if "://" in source or _TRANSPORT.match(source) or ":" in source.split("/")[0]:
        return True
    path = Path(source)
    return source.endswith(".git") and (not path.exists() or (path / "HEAD").is_file())


def check_clone_url(url: str) -> None:
    """Raise `CorpusError` unless `url` is https://, file:// or a local path.

    ssh (and `user@host:path`), git://, http:// and `transport::` URLs are refused:
    an index built for a public page must not reach servers or run helpers that an
    operator did not mean to trust.
    """
    lowered = url.lower()
    if lowered.startswith(_CLONE_SCHEMES):
        return
    if "://" in url or _TRANSPORT.match(url) or ":" in url.split("/")[0]:
        raise CorpusError(f"{public_source(url)}: refused: only https:// and file:// URLs or local paths can be cloned")


# Only https and local (file) transports, whatever the user's git config says (insteadOf
# rewrites included); no credential prompt; symlinks checked out as plain files.
_GIT_SAFETY = (
    "-c", "protocol.allow=never",
    "-c", "protocol.https.allow=always",
    "-c", "protocol.file.allow=always",
    "-c", "core.symlinks=false",
)


def clone_repository(url: str, into: Path) -> Path:
    """Shallow-clone `url` into the empty or missing folder `into`.

    Raises `CorpusError` naming the URL without its credentials when the URL is
    refused (`check_clone_url`) or the clone fails. The clone itself may use them.
    """
    shown = public_source(url)
    check_clone_url(url)
    into.parent.mkdir(parents=True, exist_ok=True)
    try:
        subprocess.run(
            ["git", *_GIT_SAFETY, "clone", "--quiet", "--depth", "1", "--", url, str(into)],
            check=True,
            capture_output=True,
            stdin=subprocess.DEVNULL,
            text=True,
            timeout=600,
            env={**os.environ, "GIT_TERMINAL_PROMPT": "0"},
        )
    except FileNotFoundError:
        raise CorpusError(f"{shown}: cannot clone, 'git' is not installed") from None
    except subprocess.TimeoutExpired:
        raise CorpusError(f"{shown}: git clone timed out") from None
    except subprocess.CalledProcessError as exc:
        lines = [line.strip() for line in (exc.stderr or "").splitlines() if line.strip()]
        detail = next((line for line in lines if line.startswith("fatal:")), lines[-1] if lines else "")
        detail = public_source(detail.replace(url, shown)) or f"exit code {exc.returncode}"
        raise CorpusError(f"{shown}: git clone failed: {detail}") from None
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
            return _folder_files(source / episodes_dir, tuple(sorted(people.glob("*.md"))) if people.is_dir() else ())
    return _folder_files(source, ())


MAX_FOLDER_DEPTH = 3  # a library of shows, a show's seasons, a season's parts; deeper is not a layout


# Episode files: DTC Markdown and the `rag.formats` caption/JSON transcripts. A sidecar
# (`NAME.yaml`) is metadata, never an episode.
TRANSCRIPT_SUFFIXES = (".md", ".vtt", ".srt", ".json")
SIDECAR_SUFFIXES = (".yaml", ".yml")


def _folder_files(folder: Path, people_files: tuple[Path, ...], depth: int = 0) -> CorpusFiles:
    """The transcripts and RSS feeds of one folder and of its subfolders (a folder of
    shows: each show's transcripts sit beside their own sidecars). A transcript that a
    feed links is left to the feed, which brings its metadata: read on its own too, it
    would be indexed twice. Symlinked folders are not followed (no cycles, nothing
    outside the corpus); a subfolder with nothing readable is listed in `empty_folders`."""
    entries = sorted(folder.iterdir())
    files = [p for p in entries if p.is_file()]
    feeds = tuple(p for p in files if _is_feed_file(p))
    linked = {path for feed in feeds for path in local_transcript_files(feed)}
    transcripts = tuple(
        p for p in files
        if p.suffix.lower() in TRANSCRIPT_SUFFIXES and p.name.lower() != "readme.md" and p.resolve() not in linked
    )
    found = CorpusFiles(transcripts, people_files, feeds)
    if depth >= MAX_FOLDER_DEPTH:
        return found
    for sub in (p for p in entries if p.is_dir() and not p.is_symlink() and not p.name.startswith((".", "_"))
                and not _written_by_rag(p)):
        inner = _folder_files(sub, (), depth + 1)
        empty = () if inner.episode_files or inner.feed_files else (sub,)
        found = CorpusFiles(found.episode_files + inner.episode_files, people_files,
                            found.feed_files + inner.feed_files, found.empty_folders + inner.empty_folders + empty)
    return found


def _written_by_rag(folder: Path) -> bool:
    """An index, its embedding cache or a relevance model (or a folder of only those), as
    `rag ingest` and `rag tune` write them, e.g. an index built inside the corpus folder:
    never transcripts, and not worth a note.

    >>> import tempfile; root = Path(tempfile.mkdtemp())
    >>> (root / "idx").mkdir(); _ = (root / "idx" / "manifest.json").write_text("{}")
    >>> _written_by_rag(root / "idx"), _written_by_rag(root)
    (True, True)
    """
    entries = list(folder.iterdir())
    files = [p for p in entries if p.is_file()]
    if any(p.name in ("manifest.json", "relevance.json") or p.suffix == ".npz" for p in files):
        return True
    # A folder of indexes (indexes/: their lock files, a share key) holds no transcript.
    folders = [p for p in entries if p.is_dir() and not p.is_symlink()]
    return (bool(folders) and all(_written_by_rag(p) for p in folders)
            and not any(p.suffix.lower() in TRANSCRIPT_SUFFIXES and p.name.lower() != "readme.md" for p in files))


def _is_feed_file(path: Path) -> bool:
    """A file of a folder that holds an RSS feed (`is_feed_source`: a .xml or .rss name,
    or `<?xml` ... `<rss` in its first bytes). Transcripts and sidecars are never feeds."""
    return path.suffix.lower() not in TRANSCRIPT_SUFFIXES + SIDECAR_SUFFIXES and is_feed_source(str(path))


def drop_outside_links(files: CorpusFiles, root: Path, notes: list[FileNote]) -> CorpusFiles:
    """Keep the files that resolve inside `root`; a symlink out of the corpus gets a note.

    A link inside the corpus is fine. One that leads out could make a public index
    show any text file of the machine.
    """
    root = root.resolve()

    def inside(path: Path) -> bool:
        if path.resolve().is_relative_to(root):
            return True
        notes.append(FileNote(str(path), "skipped", "symlink points outside the corpus"))
        return False

    return CorpusFiles(
        tuple(p for p in files.episode_files if inside(p)),
        tuple(p for p in files.people_files if inside(p)),
        tuple(p for p in files.feed_files if inside(p)),
        files.empty_folders,
    )


def load_people(files: Iterable[Path], notes: list[FileNote]) -> dict[str, str]:
    people: dict[str, str] = {}
    for path in files:
        try:
            person_id, display = parse_people_file(_read_transcript_bytes(path).decode("utf-8"), str(path))
        except (TranscriptParseError, UnicodeDecodeError, OSError) as exc:
            notes.append(FileNote(str(path), "skipped", _reason(exc, path)))
            continue
        people[person_id] = display
    return people


def _reason(exc: Exception, path: str | Path) -> str:
    message = str(exc)
    for prefix in (f"{path}: ", f"{path}:"):
        if message.startswith(prefix):
            return message[len(prefix) :]
    if isinstance(exc, UnicodeDecodeError):
        return "not a UTF-8 text file"
    return message


def read_episode_file(path: Path, people: dict[str, str]) -> tuple[Episode, list[str]]:
    raw = _read_transcript_bytes(path)
    if b"\x00" in raw:
        raise TranscriptParseError(f"{path}: binary file, not a transcript")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise TranscriptParseError(f"{path}: not a UTF-8 text file") from None
    if path.suffix.lower() == ".md" or not text.strip():
        return parse_episode(text, str(path), people)
    from rag.formats.episode import episode_from_transcript, sidecar_path  # rag.formats imports this module

    sidecar = sidecar_path(path)
    sidecar_text = None
    if sidecar is not None and sidecar.resolve().is_relative_to(path.resolve().parent):
        sidecar_text = _read_transcript_bytes(sidecar).decode("utf-8-sig", errors="replace")
    return episode_from_transcript(text, str(path), sidecar_text, people,
                                   sidecar_name=str(sidecar or path.with_suffix(".yaml")))


def _read_transcript_bytes(path: Path) -> bytes:
    raw = read_capped(path, MAX_TRANSCRIPT_BYTES)
    if raw is None:
        raise TranscriptParseError(f"{path}: larger than {megabytes(MAX_TRANSCRIPT_BYTES)}, not read")
    return raw


def load_corpus(
    sources: Sequence[str | Path], *, clone_dir: Path | None = None, show_progress: bool = False,
    fetched_dir: Path | None = None, allow_private_hosts: PrivateHosts = False,
) -> Corpus:
    """Read every episode of `sources`; bad files become notes, never exceptions.

    A git URL is cloned into a private temporary folder under `clone_dir` (or the
    system's temporary folder), removed once the files are read. An RSS feed
    (`is_feed_source`) gives one episode per item with a readable transcript
    (`rag.feed.load_feed`); every other item is a note on the feed. With
    `fetched_dir`, what feeds fetch is kept there, and a fetch that fails later is
    served from that copy (`rag.fetch.LastGoodCopies`). Feeds and their transcripts are
    fetched from public addresses only, unless `allow_private_hosts` (an operator's own
    network).
    Raises `CorpusError` only when no source could be read at all.
    """
    clones: list[Path] = []
    copies = LastGoodCopies(fetched_dir, allow_private=allow_private_hosts) if fetched_dir is not None else None
    try:
        return _load_corpus(sources, clone_dir, clones, show_progress, copies, allow_private_hosts)
    finally:
        for clone in clones:
            shutil.rmtree(clone, ignore_errors=True)


def _load_corpus(sources: Sequence[str | Path], clone_dir: Path | None, clones: list[Path],
                 show_progress: bool, copies: LastGoodCopies | None, allow_private: PrivateHosts = False) -> Corpus:
    corpus = Corpus()
    all_files: list[CorpusFiles] = []
    feed_episodes: list[Episode] = []
    feeds_read = 0
    for source in sources:
        if is_feed_source(str(source)):
            episodes = _read_feed(str(source), corpus.notes, show_progress, copies, allow_private)
            feeds_read += episodes is not None
            feed_episodes.extend(episodes or ())
            continue
        try:
            root = _local_source(str(source), clone_dir, clones)
            files = find_corpus_files(root)
            all_files.append(files if root.is_file() else drop_outside_links(files, root, corpus.notes))
        except CorpusError as exc:
            shown = public_source(str(source))
            corpus.notes.append(FileNote(shown, "error", _reason(exc, shown)))
    if not all_files and not feeds_read:
        raise CorpusError("; ".join(f"{n.path}: {n.reason}" for n in corpus.notes) or "no corpus source given")
    for folder in (folder for files in all_files for folder in files.empty_folders):
        corpus.notes.append(FileNote(str(folder), "skipped", "no transcript (.md, .vtt, .srt, .json) or feed in this folder"))
    for feed in (feed for files in all_files for feed in files.feed_files):
        feed_episodes.extend(_read_feed(str(feed), corpus.notes, show_progress, copies, allow_private) or ())
    people = load_people((p for files in all_files for p in files.people_files), corpus.notes)
    episode_files = [p for files in all_files for p in files.episode_files]
    parsed = _parse_episode_files(episode_files, people, corpus.notes, show_progress)
    capped = []
    for episode in parsed + feed_episodes:
        episode, cut = cap_fields(episode)
        if cut:
            corpus.notes.append(FileNote(public_source(episode.source), "repaired", "; ".join(cut)))
        capped.append(episode)
    corpus.episodes = drop_duplicate_episodes(capped, corpus.notes)
    return corpus


def _read_feed(source: str, notes: list[FileNote], show_progress: bool,
               copies: LastGoodCopies | None, allow_private: PrivateHosts = False) -> list[Episode] | None:
    """The feed's episodes, its items' notes added to `notes`; None (and an error note)
    when the feed itself cannot be read."""
    shown = public_source(source)
    try:
        episodes, item_notes = load_feed(source, show_progress=show_progress, copies=copies, allow_private=allow_private)
    except CorpusError as exc:
        notes.append(FileNote(shown, "error", _reason(exc, shown)))
        return None
    notes.extend(FileNote(shown, note.action, note.reason) for note in item_notes)
    return episodes


def _parse_episode_files(paths: Sequence[Path], people: dict[str, str], notes: list[FileNote],
                         show_progress: bool) -> list[Episode]:
    """The episodes of the files that parse; every other file is a note."""
    parsed: list[Episode] = []
    for path in tqdm(paths, desc="parsing", unit="file", disable=not show_progress):
        try:
            episode, repairs = read_episode_file(path, people)
        except (TranscriptParseError, OSError) as exc:
            notes.append(FileNote(str(path), "skipped", _reason(exc, path)))
            continue
        if repairs:
            notes.append(FileNote(str(path), "repaired", "; ".join(repairs)))
        parsed.append(episode)
    return parsed


def is_feed_source(source: str) -> bool:
    """An RSS feed rather than a corpus folder, episode file or git URL: an http(s)
    URL that `rag.feed.is_feed_url` accepts, a path ending in .xml or .rss, or a file
    whose first bytes are `<?xml` ... `<rss`."""
    if "://" in source:
        return is_feed_url(source)
    path = Path(source)
    if path.suffix.lower() in (".xml", ".rss"):
        return True
    try:
        with path.open("rb") as handle:
            return path.is_file() and is_feed_text(handle.read(1024))
    except OSError:
        return False


def _local_source(source: str, clone_dir: Path | None, clones: list[Path]) -> Path:
    """The folder to read `source` from; a git URL is cloned into a new private folder
    (appended to `clones` for the caller to remove), never a shared fixed path."""
    if not is_git_url(source):
        return Path(source)
    check_clone_url(source)
    if clone_dir is not None:
        clone_dir.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="clone-", dir=clone_dir))
    clones.append(folder)
    return clone_repository(source, folder / "repo")


def cap_fields(episode: Episode) -> tuple[Episode, list[str]]:
    """`episode` with its title, description, guests and speaker names within
    `rag.limits` (cut with "…"), and what was cut, for a `repaired:` note.

    >>> e = Episode("e", "T" * 400, None, tuple(f"G{n}" for n in range(30)), None, None, None, (), "e.md")
    >>> capped, cut = cap_fields(e)
    >>> len(capped.title), len(capped.guests), cut
    (300, 20, ['title cut to 300 characters', '30 guests, the first 20 kept'])
    """
    cut: list[str] = []

    def bounded(text: str, limit: int, what: str) -> str:
        if len(text) <= limit:
            return text
        if what not in " ".join(cut):
            cut.append(f"{what} cut to {limit:,} characters")
        return text[: limit - 1].rstrip() + "…"

    title = bounded(episode.title, MAX_TITLE_CHARS, "title")
    description = bounded(episode.description, MAX_DESCRIPTION_CHARS, "description")
    guests = episode.guests
    if len(guests) > MAX_GUESTS:
        cut.append(f"{len(guests)} guests, the first {MAX_GUESTS} kept")
        guests = guests[:MAX_GUESTS]
    guests = tuple(bounded(guest, MAX_NAME_CHARS, "a guest's name") for guest in guests)
    lines = episode.lines
    if any(len(line.speaker) > MAX_NAME_CHARS for line in lines):
        lines = tuple(replace(line, speaker=bounded(line.speaker, MAX_NAME_CHARS, "a speaker's name"))
                      if len(line.speaker) > MAX_NAME_CHARS else line for line in lines)
    if not cut:
        return episode, []
    return replace(episode, title=title, description=description, guests=guests, lines=lines), cut


def drop_duplicate_episodes(episodes: list[Episode], notes: list[FileNote]) -> list[Episode]:
    """Keep one episode per YouTube id and per transcript.

    Between duplicates, keep the one whose guests actually speak in the transcript
    (a copied transcript under another guest's episode is the usual mistake), then
    the one with the richer transcript (more sections), then the first seen.
    """
    kept: list[Episode] = []
    # Each episode is hashed once and looked up by its keys: comparing every pair (and
    # hashing both transcripts each time) took 118 s for 995 episodes.
    by_key: dict[tuple[str, str], int] = {}
    kept_keys: list[list[tuple[str, str]]] = []
    for episode in episodes:
        keys = _duplicate_keys(episode)
        matches = [by_key[key] for key in keys if key in by_key]
        if not matches:
            for key in keys:
                by_key[key] = len(kept)
            kept.append(episode)
            kept_keys.append(keys)
            continue
        twin_index = min(matches)  # the first kept episode it repeats, as a scan in order would find
        other = kept[twin_index]
        shared = {kind for kind, _ in set(keys) & set(kept_keys[twin_index])}
        what = "YouTube id" if "YouTube id" in shared else "transcript" if "transcript" in shared else "episode id"
        winner, loser = (
            (episode, other) if _duplicate_rank(episode) > _duplicate_rank(other) else (other, episode)
        )
        if winner is episode:  # the kept episode's keys are now the winner's
            for key in kept_keys[twin_index]:
                if by_key.get(key) == twin_index:
                    del by_key[key]
            for key in keys:
                by_key.setdefault(key, twin_index)
            kept_keys[twin_index] = keys
        kept[twin_index] = winner
        notes.append(
            FileNote(
                loser.source,
                "duplicate",
                f"same {what} as {winner.source}; kept {winner.id!r} ({_why_kept(winner, loser)})",
            )
        )
    return kept


def _duplicate_keys(episode: Episode) -> list[tuple[str, str]]:
    """What makes two episodes one: the same id (x.md and x.vtt: passage ids must stay
    unique), the same spoken words, the same YouTube video."""
    keys = [("episode id", episode.id), ("transcript", episode.transcript_fingerprint())]
    if episode.youtube_id:
        keys.append(("YouTube id", episode.youtube_id))
    return keys


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

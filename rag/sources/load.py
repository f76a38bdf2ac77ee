"""Sources -> a `Corpus` of `Episode`s: folders (a show, or a library of shows), single
files, git repositories and RSS feeds, each file read by its format's reader.

Bad input never stops a load: each file that is skipped or repaired gets one `FileNote`
naming it and why, and the rest is read. Duplicates are dropped last (`rag.sources.dedup`).
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterable, Sequence

from tqdm import tqdm

from rag.errors import CorpusError, TranscriptParseError
from rag.limits import (
    MAX_DESCRIPTION_CHARS,
    MAX_GUESTS,
    MAX_NAME_CHARS,
    MAX_TITLE_CHARS,
    MAX_TRANSCRIPT_BYTES,
    megabytes,
    read_capped,
)
from rag.sources.dedup import drop_duplicate_episodes
from rag.sources.episode import Episode, FileNote
from rag.sources.feed import is_feed_url, load_feed, local_transcript_files
from rag.sources.fetch import LastGoodCopies, PrivateHosts
from rag.sources.formats.dtc import parse_episode, parse_people_file
from rag.sources.git import check_clone_url, clone_repository, is_git_url, public_source
from rag.sources.rss import is_feed_text
from rag.sources.sidecar import SIDECAR_SUFFIXES, episode_from_transcript, sidecar_path


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

# Episode files: DTC Markdown and the `rag.sources.formats` caption/JSON transcripts. A sidecar
# (`NAME.yaml`) is metadata, never an episode.
TRANSCRIPT_SUFFIXES = (".md", ".vtt", ".srt", ".json")




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
    (`rag.sources.feed.load_feed`); every other item is a note on the feed. With
    `fetched_dir`, what feeds fetch is kept there, and a fetch that fails later is
    served from that copy (`rag.sources.fetch.LastGoodCopies`). Feeds and their transcripts are
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
    URL that `rag.sources.feed.is_feed_url` accepts, a path ending in .xml or .rss, or a file
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

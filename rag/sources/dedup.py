"""The same episode twice (a re-published file, a copy under another name) is indexed
once: duplicates are found by id, YouTube id and spoken words, in one linear pass."""

from __future__ import annotations

from rag.sources.episode import Episode, FileNote


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

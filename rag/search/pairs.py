"""The transcripts' own supervision: an interviewer's question and where its answer starts.

An interview is a long list of (question, answer) pairs in the show's own words: a
speaker asks ("...what does a data engineer do all day?"), another speaker answers,
and the answer starts exactly where that speaker begins. `mine_pairs` finds them in
an indexed episode's lines; a trained relevance model (`rag.search.relevance`) learns from
them which window of talk answers a question, and where that answer starts.

    >>> lines = [
    ...     SpokenLine("Ann", 0, "Welcome. So how did you get into data engineering?", ""),
    ...     SpokenLine("Bob", 12, "I started as a backend developer and my team needed someone to own the "
    ...                          "pipelines, so I learned Spark on the job.", ""),
    ...     SpokenLine("Ann", 40, "Nice, right?", ""),
    ...     SpokenLine("Bob", 42, "Yes.", ""),
    ... ]
    >>> [(p.question, p.answer_sec) for p in mine_pairs("ep", lines, guests=("Bob",))]
    [('So how did you get into data engineering?', 12)]

Nothing here reads the evaluation questions: pairs come from transcripts only, and
the validation part is chosen by a hash of the episode id, never by results.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

from rag.index.store import PassageStore

MIN_QUESTION_WORDS = 4  # "Really?", "And then?" are fillers, not questions
MAX_QUESTION_WORDS = 60  # a question is its last sentences, not the host's whole preamble
MIN_ANSWER_WORDS = 15  # "Yes." answers nothing a listener would search for
VALIDATION_SHARE = 0.2
# Ends that make a line a tag or a check, not a question ("It's a bit like SQL, right?").
_TAGS = ("right", "no", "yeah", "yes", "okay", "ok", "correct", "huh", "eh", "true", "isn't it", "you know",
         "don't you think", "wouldn't you say", "is that right", "isn't that right", "makes sense", "does that make sense")
_TAG_END = re.compile(r"(?:^|[\s,.;:–—-])(?:" + "|".join(re.escape(t) for t in _TAGS) + r")\W*\?$", re.IGNORECASE)
_SENTENCE = re.compile(r"[^.!?…]+(?:[.!?…]+[\"'”’)\]]*|$)")


@dataclass(frozen=True)
class SpokenLine:
    """One line of an indexed episode: who says it (`""` when the transcript does not
    say), the second it starts, its words and its chapter."""

    speaker: str
    sec: int
    text: str
    section: str


@dataclass(frozen=True)
class Pair:
    """A question asked in an episode, and the line of that episode where its answer starts.

    `kind` is "turn" (a speaker asks, another answers), "line" (a transcript without
    speakers: a question line, then the next line) or "chapter" (a chapter's title and
    its first line).
    """

    episode_id: str
    question: str
    answer_line: int  # index into the episode's lines
    answer_sec: int
    kind: str


def episode_lines(store: PassageStore) -> dict[str, list[SpokenLine]]:
    """Every indexed episode's lines, in order, read back from its passages.

    Passages are cut from an episode's lines without overlap (`rag.index.build` default), so
    reading them in order gives the lines back; a line repeated by an overlapping window
    is kept once.
    """
    lines: dict[str, list[SpokenLine]] = {}
    for passage in store:
        episode = lines.setdefault(passage.episode_id, [])
        for index, (speaker, text) in enumerate(passage.spoken_lines()):
            line = SpokenLine(speaker, passage.line_at(index)[1], text, passage.section)
            if not episode or episode[-1] != line:
                episode.append(line)
    return lines


def question_of(turn_text: str) -> str | None:
    """The question a turn ends with: its trailing sentences that end in "?", up to
    `MAX_QUESTION_WORDS`; None when it does not end with a question, or ends with a tag.

    >>> question_of("Thanks for joining. What is a feature store? Why would I want one?")
    'What is a feature store? Why would I want one?'
    >>> question_of("And you used Kafka there, right?") is None, question_of("Okay?") is None
    (True, True)
    """
    text = " ".join(turn_text.split()).rstrip("\"'”’) ")
    if not text.endswith("?") or _TAG_END.search(text):
        return None
    sentences = [s.strip() for s in _SENTENCE.findall(text) if s.strip()]
    chosen: list[str] = []
    for sentence in reversed(sentences):
        if not sentence.rstrip("\"'”’)]").endswith("?"):
            break
        if chosen and len(" ".join([sentence, *chosen]).split()) > MAX_QUESTION_WORDS:
            break
        chosen.insert(0, sentence)
    question = " ".join(chosen)
    words = question.split()
    if len(words) < MIN_QUESTION_WORDS:
        return None
    return " ".join(words[-MAX_QUESTION_WORDS:])


def _turns(lines: Sequence[SpokenLine]) -> list[tuple[int, int]]:
    """[start, end) line ranges of consecutive lines by one speaker."""
    turns: list[tuple[int, int]] = []
    for index, line in enumerate(lines):
        if turns and lines[turns[-1][0]].speaker == line.speaker:
            turns[-1] = (turns[-1][0], index + 1)
        else:
            turns.append((index, index + 1))
    return turns


def mine_pairs(episode_id: str, lines: Sequence[SpokenLine], guests: Sequence[str] = ()) -> list[Pair]:
    """The question/answer pairs of one episode, in order (see the module docstring).

    With speakers: a turn that ends with a question, by someone who is not a guest (a
    guest's "...right?" is rhetoric), followed by another speaker's turn of at least
    `MIN_ANSWER_WORDS`. Without speakers (no line names one): a line that ends with a
    question, followed by a line of at least `MIN_ANSWER_WORDS` that does not. Chapters
    add (title, first line) pairs.
    """
    pairs: list[Pair] = []
    guest_names = {g.casefold() for g in guests}
    if any(line.speaker for line in lines):
        turns = _turns(lines)
        for (q_start, q_end), (a_start, a_end) in zip(turns, turns[1:]):
            asker, answerer = lines[q_start].speaker, lines[a_start].speaker
            if not asker or not answerer or asker.casefold() in guest_names:
                continue
            question = question_of(" ".join(line.text for line in lines[q_start:q_end]))
            answer_words = sum(len(line.text.split()) for line in lines[a_start:a_end])
            if question and answer_words >= MIN_ANSWER_WORDS:
                pairs.append(Pair(episode_id, question, a_start, lines[a_start].sec, "turn"))
    else:
        for index, (line, following) in enumerate(zip(lines, lines[1:])):
            question = question_of(line.text)
            if (question and len(following.text.split()) >= MIN_ANSWER_WORDS
                    and not following.text.rstrip().endswith("?")):
                pairs.append(Pair(episode_id, question, index + 1, following.sec, "line"))
    pairs.extend(_chapter_pairs(episode_id, lines))
    return sorted(pairs, key=lambda p: (p.answer_line, p.kind))


def _chapter_pairs(episode_id: str, lines: Sequence[SpokenLine]) -> list[Pair]:
    pairs = []
    for index, line in enumerate(lines):
        opens = index == 0 or lines[index - 1].section != line.section
        if opens and len(line.section.split()) >= 2:
            pairs.append(Pair(episode_id, line.section, index, line.sec, "chapter"))
    return pairs


def normalized(question: str) -> str:
    return " ".join(re.findall(r"[^\W_]+", question.casefold()))


def drop_stock_questions(pairs: Iterable[Pair]) -> list[Pair]:
    """Each question once: a host's stock questions ("Can you tell us about your career
    journey so far?") would otherwise teach the model one question a hundred times with
    a hundred different answers. The first asking is kept.

    >>> a = Pair("e1", "Can you tell us about your career journey?", 3, 40, "turn")
    >>> b = Pair("e2", "can you tell us about your career journey", 2, 31, "turn")
    >>> drop_stock_questions([a, b]) == [a]
    True
    """
    seen: set[str] = set()
    kept = []
    for pair in pairs:
        key = normalized(pair.question)
        if key not in seen:
            seen.add(key)
            kept.append(pair)
    return kept


def is_validation_episode(episode_id: str, share: float = VALIDATION_SHARE, seed: int = 0) -> bool:
    """Whether `episode_id` is held back for validation: a hash of the id, so the split
    depends on nothing else and an episode's pairs all fall on one side.

    >>> is_validation_episode("some-episode") == is_validation_episode("some-episode")
    True
    """
    digest = hashlib.sha256(f"{seed}:{episode_id}".encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share


def split_by_episode(pairs: Sequence[Pair], share: float = VALIDATION_SHARE,
                     seed: int = 0) -> tuple[list[Pair], list[Pair]]:
    """(training, validation) pairs, split by episode (`is_validation_episode`)."""
    training = [p for p in pairs if not is_validation_episode(p.episode_id, share, seed)]
    validation = [p for p in pairs if is_validation_episode(p.episode_id, share, seed)]
    return training, validation


def mine_store(store: PassageStore) -> tuple[dict[str, list[SpokenLine]], list[Pair]]:
    """Every episode's lines and its pairs (stock questions dropped), from an index's passages."""
    lines = episode_lines(store)
    guests: Mapping[str, Sequence[str]] = {info.id: info.guests for info in store.episodes}
    pairs = [pair for episode_id, episode in lines.items() for pair in mine_pairs(episode_id, episode, guests.get(episode_id, ()))]
    return lines, drop_stock_questions(pairs)

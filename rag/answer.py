"""Question (+ chat history) -> a grounded, cited `Answer`, streamed.

    >>> answerer = Answerer(searcher, llm=None)                       # doctest: +SKIP
    >>> for event in answerer.stream("What are bloom filters used for?"):  # doctest: +SKIP
    ...     print(event.text if isinstance(event, Delta) else event.citations)

Flow: rewrite a follow-up into a standalone question -> retrieve -> refuse when
retrieval confidence is low or the passages lack the question's rare terms (no LLM
call) -> LLM answer with [n] citations, or an
extractive answer (quoted sentences) when no LLM is configured or it fails ->
parse and verify the citations.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import yaml

from rag.chunking import Passage, format_timestamp
from rag.errors import LLMError, RagError
from rag.index import term_coverage
from rag.limits import Limits, check_question, trim_history
from rag.llm import LLM, MAX_REPLY_CHARS, Deadline
from rag.rerank import LLMReranker
from rag.retrieve import Filters, Hit, Searcher

PROMPTS_FILE = Path(__file__).with_name("prompts.yaml")

# Calibrated on ../shared/eval/dev-questions.jsonl with `python eval/calibrate.py`
# for the default all-MiniLM-L6-v2+onnx-int8 index: the best question-passage cosine
# among the retrieved passages is at least 0.42 for every answerable question and at
# most 0.29 for two of the three unanswerable ones (the third, 0.64, asks about a
# detail of an episode that exists: only the LLM can refuse that one). The threshold
# sits in the middle of the gap. Other models need their own (RAG_REFUSAL_MIN_COSINE).
REFUSAL_MIN_COSINE = 0.36
# Second gate, for questions on a covered topic about a detail never said: coverage is
# the IDF-weighted share of the question's terms (bm25s tokens) found in the text, title
# and guests of the best of the top COVERAGE_SOURCES passages. `eval/calibrate.py`, same
# index and dev set, cosine gate at 0.36: the unanswerable question the cosine lets
# through with rare terms never said ("quantum annealing ... gradient boosting") covers
# 0.31; no answerable question the cosine accepts covers less than 0.36 over the top 5
# (over the top 3 merged moments one did at 0.32, over the top 1 four did). 0.34 is the
# middle of that gap. 2-fold (two_fold_split, seed 0): 3/4 unanswerable refused on each
# half, 2/34 answerable on A and 0/33 on B (both false refusals are the cosine gate's).
# The two other unanswerable ones (a salary, a revenue comparison, in episodes that
# exist) cover ~0.7: no coverage threshold under ~0.7 refuses them; an LLM can.
REFUSAL_MIN_COVERAGE = 0.34
COVERAGE_SOURCES = 5  # all the moments retrieved for the answer
# A cited sentence is "verified" when its share of content words found in the cited
# passage, or its best cosine to one of the passage's sentences, reaches these.
# `eval/calibrate.py` on the dev set's reference answers (paraphrases, like an LLM's):
# 82% of supported claim-passage pairs accepted, 9% of unsupported ones.
SUPPORT_MIN_COSINE = 0.5
# Extractive answers. The first quote comes from the top hit's moment: a line said at
# most this long after its link. Dev set, 2-fold: the first citation then lands for
# 0.58 of the answerable questions (0.52 quoting the best span anywhere in the top
# hit, 0.46 the best of the top three); windows of 0 to 30 s do about as well on
# both halves, 45 s and more worse.
QUOTE_WINDOW_S = 30
# A second quote must score (cosine + word overlap) within this of the first.
SECOND_QUOTE_MARGIN = 0.05
# Besides the quotes, an extractive answer points to the top hits up to this rank
# ("Also discussed: [2] [3]"), each opening at its own moment.
MORE_MOMENTS = 2
SUPPORT_MIN_OVERLAP = 0.5


@dataclass(frozen=True)
class Prompts:
    system: str
    user: str
    source: str
    not_covered: str
    rewrite: str
    extractive_hint: str
    judge: str


def load_prompts(path: str | Path = PROMPTS_FILE) -> Prompts:
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        return Prompts(**{name: str(data[name]).strip() for name in Prompts.__dataclass_fields__})
    except (OSError, yaml.YAMLError, KeyError, TypeError) as exc:
        raise RagError(f"{path}: unusable prompt file ({type(exc).__name__}: {exc})") from None


@dataclass(frozen=True)
class Citation:
    """Source `n` of an answer, pinned to the line that backs the claim citing it."""

    n: int  # the source number used in the answer text
    passage: Passage
    verified: bool
    line: int = 0  # which line of the passage: its speaker and second are the moment

    @property
    def speaker(self) -> str:
        speaker, _ = self.passage.line_at(self.line)
        return speaker or (self.passage.speakers[0] if self.passage.speakers else "Unknown speaker")

    @property
    def start_s(self) -> int:
        return self.passage.line_at(self.line)[1]

    @property
    def url(self) -> str:
        return self.passage.url_at(self.start_s)

    def label(self) -> str:
        """`Episode title — Speaker @ mm:ss` for the cited line."""
        return f"{self.passage.episode_title} — {self.speaker} @ {format_timestamp(self.start_s)}"


@dataclass(frozen=True)
class Answer:
    text: str
    citations: tuple[Citation, ...]
    refused: bool
    mode: str  # "llm" or "extractive"
    warnings: tuple[str, ...] = ()
    question: str = ""  # the standalone question that was searched
    sources: tuple[Hit, ...] = ()  # [1]..[k] as given to the LLM, or the closest moments on refusal
    confidence: float = 0.0
    coverage: float = 0.0  # IDF-weighted share of the question's terms the best source contains


@dataclass(frozen=True)
class Delta:
    text: str


# --------------------------------------------------------------------------- pure parts

_MARKER = re.compile(r"\[\s*(\d+(?:\s*,\s*\d+)*)\s*\]")
# A sentence ends at . ! or ? before a capital, digit, quote or list mark; never
# before "[", so that "... it. [2]" keeps its marker with the sentence it cites.
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"“'(*-])")
_WORD = re.compile(r"[a-z0-9]+")
# Space before punctuation, from the first space of a run on: without the look-behind
# every space of a run starts a scan to its end, quadratic in the run's length (an
# LLM reply of 50,000 spaces took seconds).
_SPACE_BEFORE_PUNCT = re.compile(r"(?<![ \t])[ \t]+([.,;:!?])")
_WHITESPACE_BEFORE_PUNCT = re.compile(r"(?<!\s)\s+([.,;:!?])")
_STOPWORDS = frozenset(
    "a an the and or but of to in on at for with from by is are was were be been it its this that these those "
    "he she they them his her their we you i me my our your as so if then than there here what which who whom "
    "how why when where do does did not no yes can could would should will just also about into over more most "
    "very really like one some any all".split()
)
# A question leans on the conversation when it opens as a continuation ("And the
# fees?", "What about Spark?") or speaks of a person it never introduces ("Why does he
# rewrite the outline?"). "It", "that" and "why" are left alone: most standalone
# questions use them ("Why is Kubernetes hard for data scientists?").
_CONTINUATION = re.compile(r"^(and|but|so|also|then|what about|how about|what else)\b", re.IGNORECASE)
_PERSON_PRONOUN = re.compile(r"\b(he|she|him|her|his|hers)\b", re.IGNORECASE)
# "They" also stands for things ("let both of them submit"); it leans on the conversation
# when it opens the question ("Why don't they measure ...").
_OPENING_THEY = re.compile(r"^(\S+\s+){0,3}(they|them|their|theirs)\b", re.IGNORECASE)
# Words that introduce the person a later pronoun refers to, inside the question itself.
_PERSON_NOUN = re.compile(
    r"\b(guest|guests|speaker|host|interviewer|someone|somebody|person|people|founder|founders|co-founders?"
    r"|engineers?|scientists?|analysts?|manager|managers|recruiters?|team|teams|company|companies|candidates?)\b",
    re.IGNORECASE,
)
_NAME = re.compile(r"(?<!^)(?<![.?!] )\b[A-Z][a-z]+")  # a capitalised word that does not start a sentence
SHORT_QUESTION_WORDS = 3

def _as_data(text: str) -> str:
    """A transcript cannot close the <<< >>> data block around it."""
    return text.replace("<<<", "‹‹‹").replace(">>>", "›››")


def _one_line(text: str) -> str:
    """A transcript's field (title, speaker) on one line: it cannot start a line of its own."""
    return " ".join(text.split())


def format_sources(hits: Sequence[Hit], prompts: Prompts) -> str:
    """Each source numbered, with everything that comes from a transcript (title,
    speakers, text) inside its <<< >>> data block; the number and time are ours."""
    return "\n".join(
        prompts.source.format(
            n=n,
            title=_as_data(_one_line(hit.passage.episode_title)),
            speakers=_as_data(_one_line(", ".join(hit.passage.speakers)) or "unknown"),
            time=format_timestamp(hit.passage.start_s),
            text=_as_data(hit.passage.text),
        )
        for n, hit in enumerate(hits, 1)
    )


def build_messages(question: str, hits: Sequence[Hit], prompts: Prompts) -> list[dict[str, str]]:
    """System rules + user turn with numbered sources; transcripts stay inside <<< >>>."""
    return [
        {"role": "system", "content": prompts.system.format(not_covered=prompts.not_covered)},
        {"role": "user", "content": prompts.user.format(sources=format_sources(hits, prompts), question=question)},
    ]


def parse_citations(text: str, n_sources: int) -> tuple[str, list[int], list[str]]:
    """Normalize markers and list cited source numbers in order of first use.

    `[1, 2]` becomes `[1][2]`; markers pointing to no source are removed and
    reported. Returns (clean text, cited numbers, warnings).

    >>> parse_citations("A [1, 2]. B [ 3 ][9].", 3)
    ('A [1][2]. B [3].', [1, 2, 3], ['dropped citation [9]: there are only 3 sources'])
    """
    cited: list[int] = []
    warnings: list[str] = []

    def replace_marker(match: re.Match[str]) -> str:
        kept = []
        for raw in match.group(1).split(","):
            n = int(raw)
            if 1 <= n <= n_sources:
                kept.append(f"[{n}]")
                if n not in cited:
                    cited.append(n)
            else:
                warnings.append(f"dropped citation [{n}]: there are only {n_sources} sources")
        return "".join(kept)

    clean = _MARKER.sub(replace_marker, text)
    clean = _SPACE_BEFORE_PUNCT.sub(r"\1", clean)
    return clean.strip(), cited, warnings


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.split(text.replace("\n", " ")) if s.strip()]


def content_words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOPWORDS and len(w) > 1}


def claims_by_source(text: str) -> dict[int, list[str]]:
    """Each cited source number -> the sentences (markers removed) that cite it."""
    claims: dict[int, list[str]] = {}
    sentences: list[str] = []
    # "It works. [1] Next" -> "It works [1]. Next": the marker cites the sentence before it.
    text = re.sub(r"([.!?])((?:\s*\[\s*\d+(?:\s*,\s*\d+)*\s*\])+)", lambda m: m.group(2) + m.group(1), text)
    for sentence in split_sentences(text):
        if sentences and not _MARKER.sub("", sentence).strip(" .,;:!?"):
            sentences[-1] += " " + sentence  # a stray marker belongs to the sentence before it
        else:
            sentences.append(sentence)
    for sentence in sentences:
        numbers = [int(n) for group in _MARKER.findall(sentence) for n in group.split(",")]
        bare = _WHITESPACE_BEFORE_PUNCT.sub(r"\1", _MARKER.sub("", sentence)).strip()
        for n in numbers:
            if bare:
                claims.setdefault(n, []).append(bare)
    return claims


def lexical_support(claim: str, passage_text: str) -> float:
    """Share of the claim's content words that the passage contains."""
    words = content_words(claim)
    if not words:
        return 1.0
    return len(words & content_words(passage_text)) / len(words)


def is_followup(question: str) -> bool:
    """Whether `question` cannot be understood without the conversation before it.

    >>> is_followup("Why does he rewrite the outline?"), is_followup("And the fees?")
    (True, True)
    >>> is_followup("Why is Kubernetes hard for data scientists?")
    False
    >>> is_followup("Which guest caught an agent removing a test, and how did he notice?")
    False
    >>> is_followup("During his sabbatical, which startup excited Krzysztof?")
    False
    """
    question = question.strip()
    if len(question.split()) <= SHORT_QUESTION_WORDS or _CONTINUATION.match(question) or _OPENING_THEY.match(question):
        return True
    # "he" or "her" with nobody named in the question ("... his sabbatical ... Krzysztof" names him).
    return bool(_PERSON_PRONOUN.search(question)) and not (_PERSON_NOUN.search(question) or _NAME.search(question))


# --------------------------------------------------------------------------- the stage


@dataclass
class Answerer:
    """Answers questions over one loaded index; safe to share between chat sessions."""

    searcher: Searcher
    llm: LLM | None = None
    prompts: Prompts = field(default_factory=load_prompts)
    k: int = 5
    refusal_min_cosine: float = REFUSAL_MIN_COSINE
    refusal_min_coverage: float = REFUSAL_MIN_COVERAGE
    support_min_cosine: float = SUPPORT_MIN_COSINE
    support_min_overlap: float = SUPPORT_MIN_OVERLAP
    second_quote_margin: float = SECOND_QUOTE_MARGIN
    llm_rewrites_followups: bool = True
    reranker: LLMReranker | None = None  # off by default: one more LLM call per question
    limits: Limits = field(default_factory=Limits)  # question length, history turns (rag/limits.py)

    max_answer_chars: int = MAX_REPLY_CHARS  # an LLM answer is cut here (the stream closed), with a warning

    @property
    def mode(self) -> str:
        return "llm" if self.llm is not None else "extractive"

    def deadline(self) -> Deadline | None:
        """One answer's LLM budget, shared by the follow-up rewrite, re-ranking and the answer."""
        return Deadline.after(self.llm.total_timeout_s) if self.llm is not None else None

    def answer(self, question: str, history: Sequence[str] = (), filters: Filters | None = None) -> Answer:
        final = None
        for event in self.stream(question, history, filters):
            if isinstance(event, Answer):
                final = event
        assert final is not None
        return final

    def stream(
        self, question: str, history: Sequence[str] = (), filters: Filters | None = None
    ) -> Iterator[Delta | Answer]:
        """Yield text deltas as they arrive, then the final `Answer` (always last).

        Raises `QuestionTooLongError` before any retrieval or LLM call when the question
        is over `limits.max_question_chars`; keeps the last `limits.max_history_turns`.
        """
        question = " ".join(check_question(question, self.limits).split())
        history = trim_history(history, self.limits)
        if not question:
            yield Answer("Please type a question.", (), True, self.mode, ("empty question",))
            return
        warnings: list[str] = []
        deadline = self.deadline()
        query, context = self.search_request(question, history, warnings, deadline)
        standalone = f"{context} {query}" if context else query
        if self.reranker is None:
            hits = self.searcher.search(query, k=self.k, filters=filters, context=context)
        else:
            found = self.searcher.search(query, k=max(self.k, self.reranker.candidates), filters=filters, context=context)
            hits = self.reranker.rerank(standalone, found, warnings, deadline)[: self.k]
        confidence = self.confidence(standalone, hits)
        coverage = self.coverage(standalone, hits)
        if not hits or confidence < self.refusal_min_cosine or coverage < self.refusal_min_coverage:
            yield self._refusal(standalone, hits, confidence, warnings, coverage)
            return

        if self.llm is not None:
            text, failure = "", None
            deltas = self.llm.stream(build_messages(standalone, hits, self.prompts), deadline)
            try:
                for delta in deltas:
                    delta = delta[: self.max_answer_chars - len(text)]
                    text += delta
                    if delta:
                        yield Delta(delta)
                    if len(text) >= self.max_answer_chars:
                        warnings.append(f"the LLM's answer was cut at {self.max_answer_chars:,} characters")
                        break
            except LLMError as exc:
                failure = exc
            finally:
                close = getattr(deltas, "close", None)
                if close is not None:
                    close()  # ends the HTTP stream when the answer was cut or the reader left
            if failure is None:
                yield replace(self._finish_llm(text, standalone, hits, confidence, warnings), coverage=coverage)
                return
            warnings.append(f"{failure}; showing the most relevant quotes instead")
        answer = replace(self.extractive(query, hits, confidence, warnings), question=standalone, coverage=coverage)
        yield Delta(answer.text)
        yield answer

    # -- steps

    def search_request(
        self, question: str, history: Sequence[str], warnings: list[str], deadline: Deadline | None = None
    ) -> tuple[str, str]:
        """(what to search for, the conversation that scopes it).

        With an LLM, a follow-up is rewritten into a standalone question (no context).
        Without one, a question that leans on the conversation is searched on its own
        within the scope of the last user turn (`Searcher.search(context=)`).
        """
        history = [h for h in history if h and h.strip()]
        if not history:
            return question, ""
        if self.llm is not None and self.llm_rewrites_followups and is_followup(question):
            prompt = self.prompts.rewrite.format(history="\n".join(f"- {h}" for h in history[-3:]), question=question)
            try:
                rewritten = " ".join(self.llm.complete([{"role": "user", "content": prompt}], deadline).split())
                if rewritten:
                    return rewritten, ""
            except (LLMError, AttributeError) as exc:
                warnings.append(f"could not rewrite the follow-up with the LLM ({exc}); used the conversation instead")
        return question, (history[-1].strip() if is_followup(question) else "")

    def confidence(self, question: str, hits: Sequence[Hit]) -> float:
        """Best cosine between the question and the retrieved passages' own words.

        The stored vectors also carry the episode title and section, which makes
        an off-topic question look closer than it is; the plain text separates
        answerable from unanswerable questions better on the dev set.
        """
        if not hits:
            return 0.0
        vectors = self.searcher.embedder.embed([question, *[h.passage.text for h in hits]])
        return float(np.max(vectors[1:] @ vectors[0]))

    def coverage(self, question: str, hits: Sequence[Hit]) -> float:
        """How much of the question's rare vocabulary the best of the top passages holds.

        The IDF-weighted share of the question's terms (bm25s tokens: stemmed, no
        stopwords) found in a passage's text, episode title and guests, maximised over
        the first `COVERAGE_SOURCES` hits. An episode can be on topic while the detail
        asked for was never said ("quantum annealing for gradient boosting"): its rare
        words are then missing, though the cosine is high. 0.0 without hits.
        """
        weights = self.searcher.index.lexical.term_idf(question)
        return max(
            (
                term_coverage(weights, "\n".join([h.passage.episode_title, *h.passage.guests, h.passage.text]))
                for h in hits[:COVERAGE_SOURCES]
            ),
            default=0.0,
        )

    def _refusal(
        self, question: str, hits: Sequence[Hit], confidence: float, warnings: list[str], coverage: float = 0.0
    ) -> Answer:
        closest = tuple(hits[:3])
        text = self.prompts.not_covered
        if closest:
            text += " The closest moments I found:\n" + "\n".join(
                f"- {hit.label()}: {hit.url}" if hit.url else f"- {hit.label()}"
                for hit in closest
            )
        return Answer(text, (), True, self.mode, tuple(warnings), question, closest, confidence, coverage)

    def _finish_llm(self, text: str, question: str, hits: Sequence[Hit], confidence: float, warnings: list[str]) -> Answer:
        clean, cited, marker_warnings = parse_citations(text, len(hits))
        warnings = [*warnings, *marker_warnings]
        refused = self.prompts.not_covered.rstrip(".").lower() in clean.lower() and not cited
        citations = self.verify(clean, cited, hits)
        if not refused and not citations:
            warnings.append("the LLM answer cites no source")
        unsupported = [c.n for c in citations if not c.verified]
        if unsupported:
            warnings.append(f"citation(s) {', '.join(f'[{n}]' for n in unsupported)} not supported by their passage")
        sources = tuple(hits[:3]) if refused else tuple(hits)
        return Answer(clean, citations, refused, "llm", tuple(warnings), question, sources, confidence)

    def verify(self, text: str, cited: Sequence[int], hits: Sequence[Hit]) -> tuple[Citation, ...]:
        """Check every claim citing each source; pin the citation to the line that best
        supports its first claim."""
        claims = claims_by_source(text)
        citations = []
        for n in cited:
            passage = hits[n - 1].passage
            sentences = claims.get(n, [])
            checks = [self.support(s, passage) for s in sentences]
            verified = bool(checks) and all(ok for ok, _ in checks)
            citations.append(Citation(n, passage, verified, checks[0][1] if checks else 0))
        return tuple(citations)

    def support(self, claim: str, passage: Passage) -> tuple[bool, int]:
        """(is the claim supported by the passage, index of the line that supports it best)."""
        lines = passage.text.split("\n")
        units = [(index, sentence) for index, line in enumerate(lines) for sentence in split_sentences(line.partition(": ")[2] or line)]
        units = units or [(0, passage.text)]
        vectors = self.searcher.embedder.embed([claim, *[sentence for _, sentence in units]])
        similarities = vectors[1:] @ vectors[0]
        best = int(np.argmax(similarities))
        supported = (
            lexical_support(claim, passage.text) >= self.support_min_overlap
            or float(similarities[best]) >= self.support_min_cosine
        )
        return supported, units[best][0]

    def extractive(self, question: str, hits: Sequence[Hit], confidence: float, warnings: list[str]) -> Answer:
        """Quote the moment: the span of the top hit that best answers the question, and
        a second span of the same episode only when it answers nearly as well.

        A span is up to three consecutive sentences of one speaker's turn: the
        sentence that matches the question usually introduces the answer that
        follows it. Questions (ending in "?") are passed over: they restate the
        question rather than answer it.
        """
        spans = candidate_spans(hits[:3])
        if not spans:
            return self._refusal(question, hits, confidence, warnings)
        # Embed each sentence once; a span's vector is the mean of its sentences'.
        sentences = list(dict.fromkeys(sentence for span in spans for sentence in span.sentences))
        vectors = self.searcher.embedder.embed([question, *sentences])
        by_sentence = dict(zip(sentences, vectors[1:]))
        question_words = content_words(question)
        scores = []
        for span in spans:
            mean = np.mean([by_sentence[sentence] for sentence in span.sentences], axis=0)
            cosine = float(mean @ vectors[0]) / max(float(np.linalg.norm(mean)), 1e-9)
            overlap = len(question_words & content_words(span.text)) / max(len(question_words), 1)
            # The guest's own words over the host's set-up of the question.
            guest_bonus = 0.05 if span.speaker in hits[span.n - 1].passage.guests else 0.0
            scores.append(cosine + 0.2 * overlap + guest_bonus)
        chosen = [spans[self._first_quote(spans, scores, hits)]]
        first_score = scores[spans.index(chosen[0])]
        # A second quote only from the same episode, and only when it answers the
        # question nearly as well: never a filler from whatever moment came next.
        # Other episodes are pointed to ("Also discussed"), not quoted.
        episode = hits[chosen[0].n - 1].passage.episode_id
        second = max(
            (
                i for i, span in enumerate(spans)
                if hits[span.n - 1].passage.episode_id == episode
                and not span.overlaps(chosen[0]) and span.line != chosen[0].line
            ),
            key=lambda i: scores[i],
            default=None,
        )
        if second is not None and scores[second] >= first_score - self.second_quote_margin:
            chosen.append(spans[second])
        text = "\n".join(f"- {span.speaker}: “{span.text}” [{span.n}]" for span in chosen)
        first_span: dict[int, Span] = {}
        for span in chosen:
            first_span.setdefault(span.n, span)
        citations = [Citation(n, hits[n - 1].passage, True, span.line) for n, span in first_span.items()]
        # The next moments are offered as places to listen, not quoted as answers.
        more = [n for n in range(1, min(len(hits), MORE_MOMENTS + 1) + 1) if n not in first_span]
        if more:
            text += "\n\nAlso discussed: " + " ".join(f"[{n}]" for n in more)
            citations += [Citation(n, hits[n - 1].passage, True, hits[n - 1].link_line) for n in more]
        text += "\n\n" + self.prompts.extractive_hint
        return Answer(text, tuple(citations), False, "extractive", tuple(warnings), question, tuple(hits), confidence)


    @staticmethod
    def _first_quote(spans: Sequence["Span"], scores: Sequence[float], hits: Sequence[Hit]) -> int:
        """The best span said within `QUOTE_WINDOW_S` after the top hit's link (where the
        listener lands), a guest's if there is one; else the top hit's best span; else
        the best span of all."""
        top = hits[0]

        def said_at(span: "Span") -> int:
            return hits[span.n - 1].passage.line_at(span.line)[1]

        def in_window(span: "Span") -> bool:
            return span.n == 1 and top.link_sec <= said_at(span) <= top.link_sec + QUOTE_WINDOW_S

        # The guest's words before the host's set-up of the question (same figures on
        # the dev set, and "What did Dat Tran look for ..." then quotes Dat Tran).
        for keep in (
            lambda span: in_window(span) and span.speaker in top.passage.guests,
            in_window,
            lambda span: span.n == 1,
            lambda span: True,
        ):
            candidates = [i for i, span in enumerate(spans) if keep(span)]
            if candidates:
                return max(candidates, key=lambda i: scores[i])
        raise ValueError("no span to quote")


@dataclass(frozen=True)
class Span:
    n: int  # source number
    line: int  # which line of the passage
    first: int  # first sentence index within the line
    last: int
    speaker: str
    sentences: tuple[str, ...]

    @property
    def text(self) -> str:
        return " ".join(self.sentences)

    def overlaps(self, other: "Span") -> bool:
        return (self.n, self.line) == (other.n, other.line) and self.first <= other.last and other.first <= self.last


def candidate_spans(hits: Sequence[Hit], width: int = 3, min_words: int = 6) -> list[Span]:
    spans: list[Span] = []
    for n, hit in enumerate(hits, 1):
        for line_no, line in enumerate(hit.passage.text.split("\n")):
            speaker, _, spoken = line.partition(": ")
            sentences = split_sentences(spoken or line)
            for first, sentence in enumerate(sentences):
                if sentence.endswith("?") or len(sentence.split()) < min_words:
                    continue
                last = min(first + width, len(sentences)) - 1
                while last > first and sentences[last].endswith("?"):
                    last -= 1
                spans.append(Span(n, line_no, first, last, speaker or "Unknown speaker", tuple(sentences[first : last + 1])))
    return spans

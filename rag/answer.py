"""Question (+ chat history) -> a grounded, cited `Answer`, streamed.

    answerer = Answerer(searcher, llm=None)
    for event in answerer.stream("What are bloom filters used for?"):
    ...     print(event.text if isinstance(event, Delta) else event.citations)

Flow: rewrite a follow-up into a standalone question (rag/followup.py) -> retrieve ->
refuse when retrieval confidence is low or the passages lack the question's rare terms
(no LLM call) -> LLM answer with [n] citations, parsed and verified (rag/citations.py),
or an extractive answer quoting the moment (rag/extractive.py) when no LLM is
configured or it fails.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Generator, Iterator, Sequence

import yaml

from rag.chunking import format_timestamp
from rag.citations import SUPPORT_MIN_COSINE, SUPPORT_MIN_OVERLAP, Citation, CitationVerifier, parse_citations
from rag.errors import LLMError, RagError
from rag.extractive import SECOND_QUOTE_MARGIN, ExtractiveAnswerer
from rag.followup import LLMRewriter, search_request
from rag.index import term_coverage
from rag.limits import DEFAULT_PODCAST_NAME, Limits, check_question, trim_history
from rag.llm import LLM, MAX_REPLY_CHARS, Deadline, echoes_instructions
from rag.rerank import LLMReranker
from rag.retrieve import Filters, Hit, Searcher

PROMPTS_FILE = Path(__file__).with_name("prompts.yaml")

# The refusal gate answers a question only when one retrieved moment covers it on its own
# (`Answerer.covering_moment`): its own words are close enough to the question (cosine of
# question and passage text) *and* hold enough of the question's rare vocabulary (coverage:
# the IDF-weighted share of the question's terms, bm25s tokens, in its text, title and
# guests). Until 2026-12-07 the best cosine and the best coverage were taken over all five
# moments separately, so one episode's title could lend a rare word to another episode's
# text. Calibrated with `python eval/gate.py` on all 105 dev questions (94 answerable, 11
# unanswerable), the all-MiniLM-L6-v2+onnx-int8 index, at most 2 answerable refused: the
# middle of the thresholds that then refuse the most unanswerable ones. 2-fold
# (two_fold_split, seed 0), each fold's pick on the other fold: 3/6 unanswerable and 3/46
# answerable refused (picked on A), 3/5 and 3/48 (picked on B). On all 105: 5/11 and 2/94
# (the thresholds before refused 8/11 and 6/94, and 10 of 71 held-out answerable ones).
# The unanswerable ones let through ask about a detail of a topic the podcast covers (a
# salary, a revenue comparison): their words are all there; only an LLM can refuse those.
# Other embedding models need their own values (RAG_REFUSAL_MIN_COSINE, ..._COVERAGE).
REFUSAL_MIN_COSINE = 0.34
REFUSAL_MIN_COVERAGE = 0.10
# The relevance model's score (`rag tune`) does not separate unanswerable questions from
# answerable ones on the dev set (docs/relevance.md): no relevance gate by default.
REFUSAL_MIN_RELEVANCE: float | None = None
COVERAGE_SOURCES = 5  # all the moments retrieved for the answer
CLOSEST_MOMENTS = 3  # the moments a refusal offers instead (`Answer.sources`)


@dataclass(frozen=True)
class Prompts:
    system: str
    user: str
    source: str
    not_covered: str
    rewrite: str
    judge: str


def load_prompts(path: str | Path = PROMPTS_FILE) -> Prompts:
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        return Prompts(**{name: str(data[name]).strip() for name in Prompts.__dataclass_fields__})
    except (OSError, yaml.YAMLError, KeyError, TypeError) as exc:
        raise RagError(f"{path}: unusable prompt file ({type(exc).__name__}: {exc})") from None


@dataclass(frozen=True)
class Answer:
    """The final event of `Answerer.stream`.

    A refusal has `refused=True`; its `text` is the prompts' "not covered" sentence (or
    the LLM's own refusal) and its `sources` are the closest moments, for the caller to
    show: the text never lists them.
    """

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


@dataclass(frozen=True)
class MomentSignals:
    """One retrieved moment's evidence that it covers the question (`Answerer.moment_signals`)."""

    cosine: float  # question against the moment's own words
    coverage: float  # IDF-weighted share of the question's terms in its text, title and guests
    relevance: float | None  # the trained relevance model's score (None without one)


def _coverage_text(hit: Hit) -> str:
    return "\n".join([hit.passage.episode_title, *hit.passage.guests, hit.passage.text])


# --------------------------------------------------------------------------- prompts


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


def build_messages(question: str, hits: Sequence[Hit], prompts: Prompts,
                   podcast: str = DEFAULT_PODCAST_NAME) -> list[dict[str, str]]:
    """System rules + user turn with numbered sources; transcripts stay inside <<< >>>.
    `podcast` is the operator's name for the show (`Config.podcast_name`, `rag ingest --name`)."""
    return [
        {"role": "system", "content": prompts.system.format(not_covered=prompts.not_covered, podcast=podcast)},
        {"role": "user", "content": prompts.user.format(sources=format_sources(hits, prompts), question=question)},
    ]


# --------------------------------------------------------------------------- the stage


@dataclass(frozen=True)
class Answerer:
    """Answers questions over one loaded index; safe to share between chat sessions.

    Every threshold is given here; the parts that use them (the follow-up rewriter, the
    citation verifier, the extractive answerer) are built from them once.
    """

    searcher: Searcher
    llm: LLM | None = None
    prompts: Prompts = field(default_factory=load_prompts)
    k: int = 5
    refusal_min_cosine: float = REFUSAL_MIN_COSINE
    refusal_min_coverage: float = REFUSAL_MIN_COVERAGE
    refusal_min_relevance: float | None = REFUSAL_MIN_RELEVANCE  # used only on moments the model scored
    support_min_cosine: float = SUPPORT_MIN_COSINE
    support_min_overlap: float = SUPPORT_MIN_OVERLAP
    second_quote_margin: float = SECOND_QUOTE_MARGIN
    llm_rewrites_followups: bool = True
    reranker: LLMReranker | None = None  # off by default: one more LLM call per question
    limits: Limits = field(default_factory=Limits)  # question length, history turns (rag/limits.py)
    podcast: str = DEFAULT_PODCAST_NAME  # what the LLM's instructions call the show
    max_answer_chars: int = MAX_REPLY_CHARS  # an LLM answer is cut here (the stream closed), with a warning

    rewriter: LLMRewriter | None = field(init=False, repr=False)
    verifier: CitationVerifier = field(init=False, repr=False)
    quoter: ExtractiveAnswerer = field(init=False, repr=False)

    def __post_init__(self) -> None:
        embedder = self.searcher.embedder
        llm = self.llm if self.llm_rewrites_followups else None
        object.__setattr__(self, "rewriter", LLMRewriter(llm, self.prompts.rewrite) if llm is not None else None)
        object.__setattr__(self, "verifier", CitationVerifier(embedder, self.support_min_cosine, self.support_min_overlap))
        object.__setattr__(self, "quoter", ExtractiveAnswerer(embedder, self.second_quote_margin))

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
        query, context = search_request(question, history, warnings, self.rewriter, deadline)
        standalone = f"{context} {query}" if context else query
        hits = self.retrieve(query, context, standalone, filters, warnings, deadline)
        signals = self.moment_signals(standalone, hits)
        covered = self.covering_moment(signals)
        # Shown with the answer: the covering moment's signals, else the best of each.
        best = signals[covered] if covered is not None else MomentSignals(
            max((s.cosine for s in signals), default=0.0), max((s.coverage for s in signals), default=0.0), None)
        confidence, coverage = best.cosine, best.coverage
        if covered is None:
            yield self.refusal(standalone, hits, confidence, coverage, warnings)
            return
        if self.llm is not None:
            text = yield from self._llm_deltas(standalone, hits, warnings, deadline)
            if text is not None and echoes_instructions(text, self.prompts.system):
                # A weak model echoing its prompt: its "citations" would be the rules' own
                # examples ("[2] or [1][3]"). The quotes are the answer instead.
                warnings.append("the LLM's answer repeated its instructions; showing the most relevant quotes instead")
            elif text is not None:
                yield self._finish_llm(text, standalone, hits, confidence, coverage, warnings)
                return
        answer = self._extractive(query, standalone, hits, confidence, coverage, warnings)
        yield Delta(answer.text)
        yield answer

    # -- steps

    def retrieve(
        self, query: str, context: str, standalone: str, filters: Filters | None, warnings: list[str],
        deadline: Deadline | None = None,
    ) -> list[Hit]:
        """The top `k` moments for `query` within `context`; with a re-ranker, the LLM
        re-orders a longer list for the `standalone` question first."""
        if self.reranker is None:
            return self.searcher.search(query, k=self.k, filters=filters, context=context)
        found = self.searcher.search(query, k=max(self.k, self.reranker.candidates), filters=filters, context=context)
        return self.reranker.rerank(standalone, found, warnings, deadline)[: self.k]

    def moment_signals(self, question: str, hits: Sequence[Hit]) -> list[MomentSignals]:
        """Each of the first `COVERAGE_SOURCES` moments' own evidence that it covers the
        question: its cosine, its coverage and the relevance model's score. Per moment,
        never pooled: one episode's title holding one rare word and another's text the
        other does not make either of them an answer.

        The cosine is against the passage's own words: the stored vectors also carry the
        episode title and section, which makes an off-topic question look closer than it
        is. Coverage is the IDF-weighted share of the question's terms (bm25s tokens) in
        the text, title and guests: an episode can be on topic while the detail asked for
        was never said ("quantum annealing for gradient boosting")."""
        hits = hits[:COVERAGE_SOURCES]
        if not hits:
            return []
        vectors = self.searcher.embedder.embed([question, *[h.passage.text for h in hits]])
        weights = self.searcher.index.lexical.term_idf(question)
        return [
            MomentSignals(float(vector @ vectors[0]), term_coverage(weights, _coverage_text(hit)), hit.relevance)
            for hit, vector in zip(hits, vectors[1:])
        ]

    def covering_moment(self, signals: Sequence[MomentSignals]) -> int | None:
        """The first moment whose own signals all pass the refusal gates; None: refuse."""
        for position, moment in enumerate(signals):
            if moment.cosine < self.refusal_min_cosine or moment.coverage < self.refusal_min_coverage:
                continue
            if (self.refusal_min_relevance is not None and moment.relevance is not None
                    and moment.relevance < self.refusal_min_relevance):
                continue
            return position
        return None

    def refusal(
        self, question: str, hits: Sequence[Hit], confidence: float, coverage: float, warnings: list[str]
    ) -> Answer:
        """"Not covered", with the closest moments as `sources` (the text does not list them)."""
        return Answer(self.prompts.not_covered, (), True, self.mode, tuple(warnings), question,
                      tuple(hits[:CLOSEST_MOMENTS]), confidence, coverage)

    def _llm_deltas(
        self, question: str, hits: Sequence[Hit], warnings: list[str], deadline: Deadline | None
    ) -> Generator[Delta, None, str | None]:
        """Stream the LLM's answer as deltas, cut at `max_answer_chars`; return its whole
        text, or None when the LLM failed (with a warning: the quotes come instead)."""
        assert self.llm is not None
        text = ""
        deltas = self.llm.stream(build_messages(question, hits, self.prompts, self.podcast), deadline)
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
            warnings.append(f"{exc}; showing the most relevant quotes instead")
            return None
        finally:
            close = getattr(deltas, "close", None)
            if close is not None:
                close()  # ends the HTTP stream when the answer was cut or the reader left
        return text

    def _finish_llm(
        self, text: str, question: str, hits: Sequence[Hit], confidence: float, coverage: float, warnings: list[str]
    ) -> Answer:
        """The LLM's text with clean markers and verified citations; a reply that says
        "not covered" and cites nothing is a refusal."""
        clean, cited, marker_warnings = parse_citations(text, len(hits))
        warnings = [*warnings, *marker_warnings]
        refused = self.prompts.not_covered.rstrip(".").lower() in clean.lower() and not cited
        citations = self.verifier.verify(clean, cited, hits)
        if not refused and not citations:
            warnings.append("the LLM answer cites no source")
        unsupported = [c.n for c in citations if not c.verified]
        if unsupported:
            warnings.append(f"citation(s) {', '.join(f'[{n}]' for n in unsupported)} not supported by their passage")
        sources = tuple(hits[:CLOSEST_MOMENTS]) if refused else tuple(hits)
        return Answer(clean, citations, refused, "llm", tuple(warnings), question, sources, confidence, coverage)

    def _extractive(
        self, query: str, question: str, hits: Sequence[Hit], confidence: float, coverage: float, warnings: list[str]
    ) -> Answer:
        """Quotes for `query` from the hits; a refusal when there is nothing worth quoting.
        The text is the quotes alone: how to enable an LLM is the operator's business
        (`rag.llm.LLM_SETUP_HINT`, printed by `rag ask` and at the app's start-up)."""
        quotes = self.quoter.quote(query, hits)
        if quotes is None:
            return self.refusal(question, hits, confidence, coverage, warnings)
        return Answer(quotes.text, quotes.citations, False, "extractive", tuple(warnings), question, tuple(hits),
                      confidence, coverage)

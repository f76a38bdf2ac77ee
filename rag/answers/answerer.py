"""Question (+ chat history) -> a grounded, cited `Answer`, streamed.

    answerer = Answerer(searcher, llm=None)
    for event in answerer.stream("What are bloom filters used for?"):
    ...     print(event.text if isinstance(event, Delta) else event.citations)

Flow: rewrite a follow-up into a standalone question (rag/answers/followup.py) -> retrieve ->
refuse when retrieval confidence is low or the passages lack the question's rare terms
(no LLM call) -> LLM answer with [n] citations, parsed and verified (rag/answers/citations.py),
or an extractive answer quoting the moment (rag/answers/extractive.py) when no LLM is
configured or it fails.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator, Sequence

from rag.answers.citations import SUPPORT_MIN_COSINE, SUPPORT_MIN_OVERLAP, Citation, CitationVerifier, parse_citations
from rag.answers.extractive import SECOND_QUOTE_MARGIN, ExtractiveAnswerer
from rag.answers.followup import LLMRewriter, search_request
from rag.answers.llm import LLM, MAX_REPLY_CHARS, Deadline, Delta, capped_stream, echoes_instructions
from rag.answers.prompts import Prompts, build_messages, load_prompts
from rag.answers.refusal import (
    REFUSAL_MIN_COSINE,
    REFUSAL_MIN_COVERAGE,
    REFUSAL_MIN_RELEVANCE,
    MomentSignals,
    covering_moment,
    moment_signals,
    shown_signals,
)
from rag.answers.rerank import LLMReranker
from rag.limits import DEFAULT_PODCAST_NAME, Limits, check_question, trim_history
from rag.search.hits import Filters, Hit
from rag.search.searcher import Searcher

CLOSEST_MOMENTS = 3  # the moments a refusal offers instead (`Answer.sources`)


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
        best = shown_signals(signals, covered)
        confidence, coverage = best.cosine, best.coverage
        if covered is None:
            yield self.refusal(standalone, hits, confidence, coverage, warnings)
            return
        if self.llm is not None:
            messages = build_messages(standalone, hits, self.prompts, self.podcast)
            text = yield from capped_stream(self.llm, messages, deadline, self.max_answer_chars, warnings)
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
        """Each of the first moments' own evidence that it covers `question` (`rag.answers.refusal`)."""
        return moment_signals(self.searcher, question, hits)

    def covering_moment(self, signals: Sequence[MomentSignals]) -> int | None:
        """The first moment whose own signals all pass this answerer's gates; None: refuse."""
        return covering_moment(signals, self.refusal_min_cosine, self.refusal_min_coverage, self.refusal_min_relevance)

    def refusal(
        self, question: str, hits: Sequence[Hit], confidence: float, coverage: float, warnings: list[str]
    ) -> Answer:
        """"Not covered", with the closest moments as `sources` (the text does not list them)."""
        return Answer(self.prompts.not_covered, (), True, self.mode, tuple(warnings), question,
                      tuple(hits[:CLOSEST_MOMENTS]), confidence, coverage)

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
        (`rag.answers.llm.LLM_SETUP_HINT`, printed by `rag ask` and at the app's start-up)."""
        quotes = self.quoter.quote(query, hits)
        if quotes is None:
            return self.refusal(question, hits, confidence, coverage, warnings)
        return Answer(quotes.text, quotes.citations, False, "extractive", tuple(warnings), question, tuple(hits),
                      confidence, coverage)

"""Questions asked in a conversation: which lean on it, and what to search for then.

    >>> is_followup("Why does he rewrite the outline?"), is_followup("Why is Kubernetes hard?")
    (True, False)
    >>> search_request("Why does he rewrite the outline?", ["How does Eugene Yan write a blog post?"], [])
    ('Why does he rewrite the outline?', 'How does Eugene Yan write a blog post?')

With an LLM (`LLMRewriter`), a follow-up is rewritten into a standalone question instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

from rag.answers.llm import LLM, Deadline, echoes_instructions
from rag.errors import LLMError

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
# The earlier user turns the LLM rewrite sees (the search context uses the last one).
REWRITE_TURNS = 3


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


@dataclass(frozen=True)
class LLMRewriter:
    """Rewrites a follow-up into a standalone question with one LLM call.

        LLMRewriter(llm, load_prompts().rewrite).rewrite("Why does he do that?", ["How does Eugene Yan write?"])
    """

    llm: LLM
    prompt: str  # with {history} and {question}: `Prompts.rewrite` in rag/answers/prompts.yaml

    def rewrite(self, question: str, history: Sequence[str], deadline: Deadline | None = None) -> str:
        """The standalone question on one line ("" when the LLM replies nothing); raises `LLMError`."""
        prompt = self.prompt.format(history="\n".join(f"- {h}" for h in history[-REWRITE_TURNS:]), question=question)
        return " ".join(self.llm.complete([{"role": "user", "content": prompt}], deadline).split())


MAX_REWRITE_CHARS = 400  # a question that stands alone is a sentence or two


def rewrite_problem(rewritten: str, question: str, history: Sequence[str], prompt: str) -> str | None:
    """Why `rewritten` is not a standalone question to search for (None when it is one):
    empty, longer than the conversation could explain, or the prompt's own words back.

    >>> rewrite_problem("Why does Eugene Yan rewrite outlines?", "Why does he?", ["How does Eugene Yan write?"], "")
    >>> rewrite_problem("x" * 500, "Why?", ["How?"], "")
    'was 500 characters, not a question'
    """
    if not rewritten:
        return "was empty"
    longest = max([len(question), *(len(turn) for turn in history)])
    if len(rewritten) > max(MAX_REWRITE_CHARS, 2 * longest):
        return f"was {len(rewritten):,} characters, not a question"
    if echoes_instructions(rewritten, prompt):
        return "repeated its instructions"
    return None


def search_request(
    question: str,
    history: Sequence[str],
    warnings: list[str],
    rewriter: LLMRewriter | None = None,
    deadline: Deadline | None = None,
) -> tuple[str, str]:
    """(what to search for, the conversation that scopes it).

    With a `rewriter`, a follow-up is rewritten into a standalone question (no context);
    when the rewrite fails a warning is added and the conversation is used instead.
    Without one, a question that leans on the conversation is searched on its own
    within the scope of the last user turn (`Searcher.search(context=)`).

    >>> search_request("What are Bloom filters used for?", ["How does Eugene Yan write?"], [])
    ('What are Bloom filters used for?', '')
    """
    history = [h for h in history if h and h.strip()]
    if not history:
        return question, ""
    if rewriter is not None and is_followup(question):
        try:
            rewritten = rewriter.rewrite(question, history, deadline)
            problem = rewrite_problem(rewritten, question, history, rewriter.prompt)
            if problem is None:
                return rewritten, ""
            warnings.append(f"the LLM's rewrite of the follow-up {problem}; used the conversation instead")
        except LLMError as exc:
            warnings.append(f"could not rewrite the follow-up with the LLM ({exc}); used the conversation instead")
    return question, (history[-1].strip() if is_followup(question) else "")

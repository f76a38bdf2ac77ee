"""Who speaks: speaker labels told apart from stage directions, short names made full.

Hand-edited captions describe sounds in brackets ("[chuckles]", "[Dan and Bekah chuckle]",
"(laughing)"): such a text is never a speaker and never spoken words. A turn's first cue
often names its speaker in full and later ones by first name ("Bekah Hawrot Weigel:",
then "Bekah:"): both are one person.

    >>> drop_stage_directions("[chuckles] Good to have community [Bekah chuckles]. But yeah (laughing) it is.")
    'Good to have community. But yeah it is.'
    >>> is_stage_direction("Bekah chuckles"), is_stage_direction("Dat Tran")
    (True, False)
    >>> lines = [Line("Hello.", 0, "Bekah Hawrot Weigel", ""), Line("Hi.", 5, "Bekah", ""), Line("Yo.", 9, "Dan", "")]
    >>> [line.speaker for line in name_speakers(lines, {}, ["Dan Ott", "Dan Brown"])]
    ['Bekah Hawrot Weigel', 'Bekah Hawrot Weigel', 'Dan']
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Iterable, Mapping, Sequence

from rag.sources.episode import Line

# The sound words of the directions in ../shared/external (Virtual Coffee: chuckles, laughs,
# cough, clear throat, clap hands; Talk Python: [NOISE], (laughing)) and Whisper's usual
# ones ("[Music]", "[BLANK_AUDIO]", "(upbeat music)").
_SOUND = (r"(?:laugh\w*|chuckl\w*|giggl\w*|music\w*|applause|crosstalk|cross-talk|inaudible|unintelligible"
          r"|indistinct|silence|noise|cough\w*|sigh\w*|clears?|throat|clap\w*|pause|beeps?|blank_audio|static)")
_SOUND_WORD = re.compile(rf"\b{_SOUND}\b", re.IGNORECASE)
# "(upbeat music)", "(music playing)": a sound word first or last. Spoken words in
# parentheses ("the API (application programming interface)") stay.
_SOUND_ASIDE = re.compile(rf"^\(\W*{_SOUND}\b|\b{_SOUND}\W*\)$", re.IGNORECASE)
_NAME_WORD = re.compile(r"[A-Z][\w.'-]*")
_BRACKETED = re.compile(r"\s*(\[[^\[\]\n]*\]|\([^()\n]*\))")


def is_stage_direction(label: str) -> bool:
    """Whether a bracketed text or `NAME:` label describes what happens rather than names
    someone: more than four words, a word not capitalised ("[Bekah chuckles]", "[??]"),
    or a sound word ("[Laughs]", "[NOISE]")."""
    words = label.split()
    return not 0 < len(words) <= 4 or not all(_NAME_WORD.fullmatch(w) for w in words) or bool(_SOUND_WORD.search(label))


def drop_stage_directions(text: str) -> str:
    """`text` without its stage directions: brackets that name nobody, and parentheses
    that open or close with a sound word. A name in brackets stays (`[Dat Tran]`).
    "" when nothing else was said.

    >>> drop_stage_directions("[laughs]-"), drop_stage_directions("as [Dat] said (in 2020)")
    ('', 'as [Dat] said (in 2020)')
    """

    def drop(match: re.Match[str]) -> str:
        aside = match[1]
        direction = _SOUND_ASIDE.search(aside) if aside.startswith("(") else is_stage_direction(aside[1:-1])
        return "" if direction else match[0]

    said = _BRACKETED.sub(drop, text)
    if said == text:
        return text
    # "[laughs]. So" leaves the full stop of a sentence that ended before the direction;
    # "[laughs]-" leaves nothing said.
    said = " ".join(said.split()).lstrip(".,;:!? ")
    return said if any(char.isalnum() for char in said) else ""


def full_name(short: str, full_names: Iterable[str]) -> str:
    """The one full name whose first word is `short` (case aside); else `short`.

    >>> full_name("David", ["David Alpert", "Dan Ott"]), full_name("Dan", ["Dan Ott", "Dan Brown"])
    ('David Alpert', 'Dan')
    """
    if len(short.split()) != 1:
        return short
    matches = {name for name in full_names if len(name.split()) > 1 and name.split()[0].casefold() == short.casefold()}
    return matches.pop() if len(matches) == 1 else short


def name_speakers(lines: Sequence[Line], renames: Mapping[str, str], known: Iterable[str] = ()) -> list[Line]:
    """`lines` with each speaker as `renames` (a sidecar's `speakers:`) says, else as the
    one full name its first name stands for: among the transcript's speakers, the
    `renames` names and the `known` people (the sidecar's guests and hosts). A name
    `renames` gives is final."""
    labels = {line.speaker for line in lines if line.speaker}
    full_names = {renames.get(label, label) for label in labels} | set(renames.values()) | set(known)
    named = {label: renames[label] if label in renames else full_name(label, full_names) for label in labels}
    return [replace(line, speaker=named[line.speaker]) if line.speaker else line for line in lines]

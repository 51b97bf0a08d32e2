"""Tokenise text once; find listed words and phrases whole-word and inflection-aware.

A Lexicon is built once from (term, payload) entries. Every word a term ends with is expanded
into its regular inflections (plural / third person, past, gerund; "attack" -> "attacks",
"attacked", "attacking"), so matching is one dictionary lookup per token: no per-keyword regex
and no substring test, so "sport" never matches "port" and "Europe" never matches "euro".
Multi-word terms ("red sea", "supply chain") match as phrases, longest first, and the tokens of
a matched phrase are not matched again as single words.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, NamedTuple, TypeVar

T = TypeVar("T")

_TOKEN = re.compile(r"[^\W_]+")
_VOWELS = frozenset("aeiou")
#: Separates title tokens from description tokens so that no phrase spans the two.
BOUNDARY = ""


# ASCII text (most market text) takes a path three times faster than the regex with the same
# result: every ASCII character that is not a letter or digit becomes a space, then split().
_ASCII_SEPARATORS = {
    code: " " for code in range(128) if not (chr(code).isascii() and chr(code).isalnum())
}


def tokenize(text: str) -> list[str]:
    """Lower-case word tokens: runs of letters and digits; everything else separates."""
    lowered = text.lower()
    if lowered.isascii():
        return lowered.translate(_ASCII_SEPARATORS).split()
    return _TOKEN.findall(lowered)


def inflections(word: str) -> set[str]:
    """The word and its regular English inflections. Short words and non-words stay exact."""
    forms = {word}
    if len(word) < 3 or not word.isalpha():
        return forms
    consonant_y = word.endswith("y") and word[-2] not in _VOWELS
    if word.endswith(("s", "x", "z", "ch", "sh")):
        forms.add(word + "es")
    elif consonant_y:
        forms.add(word[:-1] + "ies")
    else:
        forms.add(word + "s")
    if word.endswith("e"):
        forms |= {word + "d", word[:-1] + "ing"}
    elif consonant_y:
        forms |= {word[:-1] + "ied", word + "ing"}
    else:
        forms |= {word + "ed", word + "ing"}
        # Consonant-vowel-consonant endings double: ban -> banned, stop -> stopping.
        if (
            len(word) <= 5
            and word[-1] not in _VOWELS | {"w", "x", "y"}
            and word[-2] in _VOWELS
            and word[-3] not in _VOWELS
        ):
            forms |= {word + word[-1] + "ed", word + word[-1] + "ing"}
    return forms


@dataclass(slots=True)
class TermMatch(Generic[T]):
    """One occurrence of a listed term: its canonical text, payloads, and token span."""

    term: str
    payloads: tuple[T, ...]
    start: int
    length: int


class LexiconTables(NamedTuple, Generic[T]):
    """A built Lexicon's lookups, for a compiled matcher that must agree with Lexicon.match.

    surface: every surface form -> the listed word it stands for (listed words map to themselves).
    terms: listed words of a term, in order -> (its canonical text, its payloads).
    starts: surface forms that can start a term -> (the word, the longest term starting there).
    """

    surface: Mapping[str, str]
    terms: Mapping[tuple[str, ...], tuple[str, tuple[T, ...]]]
    starts: Mapping[str, tuple[str, int]]


class LexiconError(ValueError):
    """The term list is ambiguous (one surface form would stand for two different words)."""


class Lexicon(Generic[T]):
    """Words and phrases with payloads, matched over a token list in one pass."""

    def __init__(
        self, entries: Iterable[tuple[str, T]], irregular: Mapping[str, str] | None = None
    ):
        """`entries`: (term, payload); a term may repeat, its payloads are kept in order.
        `irregular`: extra surface forms -> the listed word they stand for ("crises": "crisis").
        """
        grouped: dict[tuple[str, ...], tuple[str, list[T]]] = {}
        for term, payload in entries:
            words = tuple(tokenize(term))
            if not words:
                raise LexiconError(f"term {term!r} has no words")
            canonical = " ".join(words)
            grouped.setdefault(words, (canonical, []))[1].append(payload)
        listed = {w for words in grouped for w in words}
        surface: dict[str, str] = {w: w for w in listed}
        conflicts: list[str] = []
        for words in sorted(grouped):
            head = words[-1]
            for form in sorted(inflections(head)):
                if form in listed:
                    continue  # a listed word always stands for itself
                owner = surface.setdefault(form, head)
                if owner != head:
                    conflicts.append(f"{form!r} inflects both {owner!r} and {head!r}")
        for form, word in (irregular or {}).items():
            if word not in listed:
                raise LexiconError(f"irregular form {form!r} names {word!r}, which is not listed")
            surface[form.lower()] = word
        if conflicts:
            raise LexiconError("ambiguous terms: " + "; ".join(sorted(set(conflicts))))
        self._surface = surface
        self._terms: dict[tuple[str, ...], tuple[str, tuple[T, ...]]] = {}
        self._longest: dict[str, int] = {}
        for words, (canonical, payloads) in grouped.items():
            key = tuple(surface[w] for w in words)
            if key in self._terms:
                previous, earlier = self._terms[key]
                self._terms[key] = (previous, earlier + tuple(payloads))
            else:
                self._terms[key] = (canonical, tuple(payloads))
            self._longest[key[0]] = max(self._longest.get(key[0], 0), len(key))
        # Surface forms that can start a term, with the word they stand for and the longest
        # term starting there: a C-level set intersection finds them in a token list.
        self._starts = {
            form: (word, self._longest[word])
            for form, word in surface.items()
            if word in self._longest
        }
        self._start_forms = frozenset(self._starts)

    def __len__(self) -> int:
        return len(self._terms)

    @property
    def tables(self) -> LexiconTables[T]:
        """Read-only views of the lookups match() uses (copy them before changing anything)."""
        return LexiconTables(self._surface, self._terms, self._starts)

    def normalise(self, tokens: Sequence[str]) -> list[str]:
        """Each token as the listed word it is a form of, or unchanged."""
        get = self._surface.get
        return [get(t, t) for t in tokens]

    def match(self, tokens: Sequence[str]) -> list[TermMatch[T]]:
        """Non-overlapping matches in token order, the longest term winning at each position.

        Most tokens start no term, so positions are found with a set intersection and
        list.index (both in C) instead of a Python loop over every token.
        """
        present = self._start_forms.intersection(tokens)
        if not present:
            return []
        positions: list[int] = []
        for form in present:
            at = -1
            for _ in range(tokens.count(form)):
                at = tokens.index(form, at + 1)
                positions.append(at)
        positions.sort()
        get = self._surface.get
        terms = self._terms
        starts = self._starts
        n = len(tokens)
        found: list[TermMatch[T]] = []
        free = 0
        for i in positions:
            if i < free:
                continue  # inside a phrase matched earlier
            head, span = starts[tokens[i]]
            if span > n - i:
                span = n - i
            if span == 1:
                hit = terms.get((head,))
                if hit is not None:
                    found.append(TermMatch(hit[0], hit[1], i, 1))
                    free = i + 1
                continue
            window = (head, *[get(t, t) for t in tokens[i + 1 : i + span]])
            for size in range(span, 0, -1):
                hit = terms.get(window[:size])
                if hit is not None:
                    found.append(TermMatch(hit[0], hit[1], i, size))
                    free = i + size
                    break
        return found

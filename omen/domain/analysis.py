"""The per-event analysis every rule shares: text matches, geography and market history.

Built once per event by the pipeline, so no rule tokenises, geocodes or reads history twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol, TypeVar

from omen.domain.events import Location, RawEvent
from omen.domain.text import BOUNDARY, Lexicon, TermMatch, tokenize

P = TypeVar("P")


@dataclass(slots=True)
class TextAnalysis:
    """Tokens of title + description (separated by BOUNDARY) and every term matched in them."""

    tokens: tuple[str, ...]
    matches: tuple[TermMatch[object], ...]

    def payloads(self, kind: type[P]) -> list[tuple[TermMatch[object], P]]:
        """(match, payload) for every payload of type `kind`, in text order."""
        return [(m, p) for m in self.matches for p in m.payloads if isinstance(p, kind)]


class TextMatcher(Protocol):
    """Tokenises an event's title and description and matches a lexicon's terms in them: the
    port omen._native.textmatch implements. TextAnalyzer below is the reference; any matcher
    must return equal TextAnalysis values (same tokens, same matches, same payload objects).

    A Protocol rather than an ABC because a Cython cdef class cannot inherit from an ABC.
    """

    def analyze(self, event: RawEvent) -> TextAnalysis: ...


class TextMatcherFactory(Protocol):
    """Builds a TextMatcher from (term, payload) entries and irregular forms, as TextAnalyzer's
    constructor does (the pipeline builds its matcher from its ruleset through one of these)."""

    def __call__(
        self, entries: Iterable[tuple[str, object]], irregular: Mapping[str, str] | None = None
    ) -> TextMatcher: ...


class TextAnalyzer:
    """One lexicon built from every section's terms; one pass over each event's text."""

    def __init__(
        self, entries: Iterable[tuple[str, object]], irregular: Mapping[str, str] | None = None
    ):
        self._lexicon: Lexicon[object] = Lexicon(entries, irregular)

    @property
    def lexicon(self) -> Lexicon[object]:
        return self._lexicon

    def analyze(self, event: RawEvent) -> TextAnalysis:
        tokens = tokenize(event.title)
        if event.description:
            tokens.append(BOUNDARY)
            tokens += tokenize(event.description)
        return TextAnalysis(tuple(tokens), tuple(self._lexicon.match(tokens)))


@dataclass(slots=True)
class ChokepointHit:
    """A chokepoint the event concerns, found by name/alias in the text or by distance."""

    name: str
    lat: float
    lon: float
    via: str  # "name" or "distance"
    distance_km: float = 0.0


@dataclass(slots=True)
class GeoFindings:
    """Where the event matters. Tuples are sorted and unique unless stated otherwise."""

    chokepoints: tuple[ChokepointHit, ...] = ()
    regions: tuple[str, ...] = ()
    places: tuple[str, ...] = ()  # place names matched in the text, in text order
    coordinates: tuple[Location, ...] = ()  # the event's locations, then matched chokepoints

    @property
    def has_logistics_geography(self) -> bool:
        return bool(self.chokepoints or self.places or self.regions)


@dataclass(slots=True)
class MarketHistory:
    """What the market's earlier emitted events say about this one's probability change."""

    market_key: str
    points: int = 0  # probability changes recorded for the market so far
    last_probability: float | None = None
    change: float | None = None  # this probability minus last_probability
    zscore: float | None = None  # robust z-score of `change`; None without enough history


@dataclass(slots=True)
class EventContext:
    """Everything a rule may look at for one event."""

    event: RawEvent
    text: TextAnalysis
    geo: GeoFindings
    history: MarketHistory

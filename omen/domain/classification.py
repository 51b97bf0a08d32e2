"""Classification of a relevant event: category, signal type, impact direction, domains, keywords.

Every distinct matched term counts once, however often the text repeats it, and adds the weight
of each of its topic payloads to that payload's signal type. A chokepoint adds the ruleset's
chokepoint weight to its type (SHIPPING_ROUTE_RISK by default), and a port named in the text the
port weight to its type (PORT_OPERATIONS by default).

- signal type: the highest summed weight; equal sums go to the type listed first in the
  ruleset's `type_order`. Sums are exact (fsum) and totals within 1e-9 are equal, so neither
  the order of the words nor float rounding can change the winner. No typed evidence: UNCLASSIFIED.
- category: decided by the evidence for the chosen type (the category with the highest summed
  weight among that type's payloads; ties by `category_order`), so a type and its category
  always describe the same words. Without typed evidence, the same vote over every payload that
  names a category; with none at all, OTHER.
- direction: NEGATIVE if the negative weights outweigh the positive ones, POSITIVE if the
  reverse, NEUTRAL when they are equal (including when there are none).
- domains: the union of the matched topics' domains (and the chokepoint's), sorted.
- keywords: matched topic terms in canonical form, unique, in order of first occurrence
  (title first, then description).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from omen.domain.analysis import TextAnalysis
from omen.domain.geography import PlaceTerm
from omen.domain.semantic import TOLERANCE, DirectionTerm, SemanticParams, TopicTerm, weigh
from omen.domain.signals import ImpactDirection, SignalCategory, SignalType

K = TypeVar("K", SignalType, SignalCategory)
_NEGATIVE = ImpactDirection.NEGATIVE


@dataclass(slots=True)
class Classification:
    category: SignalCategory
    signal_type: SignalType
    direction: ImpactDirection
    domains: tuple[str, ...]  # sorted, unique
    keywords: tuple[str, ...]  # first-occurrence order


def classify(
    text: TextAnalysis, geo_has_chokepoint: bool, params: SemanticParams
) -> Classification:
    """Classify from the text's matches (a handful per event); never walks the lexicon."""
    seen: set[str] = set()
    keywords: list[str] = []
    # (type, category) -> weights: one flat vote table serves both the type and the category.
    votes: dict[tuple[SignalType | None, SignalCategory | None], list[float]] = {}
    domain_sets: set[tuple[str, ...]] = set()
    negative: list[float] = []
    positive: list[float] = []
    port_named = False
    for match in text.matches:
        term = match.term
        if term in seen:
            continue  # repetition is not more evidence
        seen.add(term)
        topical = False
        for payload in match.payloads:
            # `type() is` rather than isinstance(): payload classes are final, and it is faster.
            if type(payload) is TopicTerm:
                topical = True
                key = (payload.signal_type, payload.category)
                weights = votes.get(key)
                if weights is None:
                    votes[key] = [payload.weight]
                else:
                    weights.append(payload.weight)
                domain_sets.add(payload.domains)
            elif type(payload) is PlaceTerm and payload.kind == "port":
                port_named = True
            elif type(payload) is DirectionTerm:
                if payload.direction is _NEGATIVE:
                    negative.append(payload.weight)
                else:
                    positive.append(payload.weight)
        if topical:
            keywords.append(term)
    if geo_has_chokepoint:
        chokepoint = params.chokepoint
        votes.setdefault((chokepoint.signal_type, chokepoint.category), []).append(
            chokepoint.weight
        )
        domain_sets.add(chokepoint.domains)
    if port_named:
        port = params.port
        votes.setdefault((port.signal_type, port.category), []).append(port.weight)
        domain_sets.add(port.domains)
    if not votes and not negative and not positive:
        return _NOTHING

    by_type: dict[SignalType, list[float]] = {}
    for (kind_of, _), weights in votes.items():
        if kind_of is not None:
            by_type.setdefault(kind_of, []).extend(weights)
    signal_type = _winner(by_type, params.type_order)
    by_category: dict[SignalCategory, list[float]] = {}
    for (kind_of, category_of), weights in votes.items():
        if category_of is not None and kind_of is signal_type:
            by_category.setdefault(category_of, []).extend(weights)
    if not by_category:
        for (_, category_of), weights in votes.items():
            if category_of is not None:
                by_category.setdefault(category_of, []).extend(weights)
    category = _winner(by_category, params.category_order)

    direction = ImpactDirection.NEUTRAL
    if negative or positive:
        down, up = weigh(negative), weigh(positive)
        if down > up + TOLERANCE:
            direction = ImpactDirection.NEGATIVE
        elif up > down + TOLERANCE:
            direction = ImpactDirection.POSITIVE
    return Classification(
        category if category is not None else SignalCategory.OTHER,
        signal_type if signal_type is not None else SignalType.UNCLASSIFIED,
        direction,
        tuple(sorted({d for domains in domain_sets for d in domains})),
        tuple(keywords),
    )


_NOTHING = Classification(
    SignalCategory.OTHER, SignalType.UNCLASSIFIED, ImpactDirection.NEUTRAL, (), ()
)


def _winner(votes: Mapping[K, Sequence[float]], order: Sequence[K]) -> K | None:
    """The key with the highest total; equal totals go to the key listed first in `order`."""
    if len(votes) < 2:
        return next(iter(votes), None)
    totals = {k: weigh(ws) for k, ws in votes.items()}
    top = max(totals.values()) - TOLERANCE
    return min((k for k, total in totals.items() if total >= top), key=order.index)

"""Semantic relevance to supply-chain and logistics risk: topic, off-topic and direction terms."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn, TypeVar, final

from omen.domain.analysis import EventContext
from omen.domain.signals import (
    ImpactDirection,
    RuleStatus,
    SignalCategory,
    SignalType,
    ValidationResult,
)
from omen.domain.text import tokenize

E = TypeVar("E", SignalType, SignalCategory)


# --- Payloads carried by the shared Lexicon -------------------------------------------------


@final  # matched with `type(p) is TopicTerm`, the fastest test on the hot path
@dataclass(frozen=True, slots=True)
class TopicTerm:
    """The term is evidence of `topic`: it adds `weight` to relevance and to its type/category."""

    topic: str
    weight: float
    signal_type: SignalType | None
    category: SignalCategory | None
    domains: tuple[str, ...]


@final  # matched with `type(p) is OffTopicTerm`, the fastest test on the hot path
@dataclass(frozen=True, slots=True)
class OffTopicTerm:
    """The term marks an off-topic market (sports, entertainment): the event is rejected."""

    group: str


@final  # matched with `type(p) is DirectionTerm`, the fastest test on the hot path
@dataclass(frozen=True, slots=True)
class DirectionTerm:
    """The term pulls the impact direction NEGATIVE or POSITIVE with `weight`."""

    direction: ImpactDirection
    weight: float


# --- Parameters -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Topic:
    """Terms that share a signal type, category and domains; each weighs `weight` unless
    `term_weights` says otherwise. Terms are stored in canonical form (tokens joined by spaces).
    """

    key: str
    weight: float
    signal_type: SignalType | None
    category: SignalCategory | None
    domains: tuple[str, ...]
    terms: tuple[str, ...]
    term_weights: tuple[tuple[str, float], ...] = ()

    def weight_of(self, term: str) -> float:
        return dict(self.term_weights).get(term, self.weight)


@dataclass(frozen=True, slots=True)
class DirectionGroup:
    """Terms that pull the impact direction one way, `weight` each unless overridden."""

    direction: ImpactDirection
    weight: float
    terms: tuple[str, ...]
    term_weights: tuple[tuple[str, float], ...] = ()

    def weight_of(self, term: str) -> float:
        return dict(self.term_weights).get(term, self.weight)


@dataclass(frozen=True, slots=True)
class ChokepointWeight:
    """What a chokepoint match counts for: relevance (named in the text) and classification."""

    weight: float = 1.0
    signal_type: SignalType = SignalType.SHIPPING_ROUTE_RISK
    category: SignalCategory = SignalCategory.INFRASTRUCTURE
    domains: tuple[str, ...] = ("shipping",)


DEFAULT_PORT_WEIGHT = ChokepointWeight(
    1.0, SignalType.PORT_OPERATIONS, SignalCategory.INFRASTRUCTURE, ("ports", "shipping")
)

#: Types and categories a topic may name; UNCLASSIFIED and OTHER mean "no evidence" instead.
RANKED_TYPES = tuple(t for t in SignalType if t is not SignalType.UNCLASSIFIED)
RANKED_CATEGORIES = tuple(c for c in SignalCategory if c is not SignalCategory.OTHER)


@dataclass(frozen=True, slots=True)
class SemanticParams:
    """The `[semantic]` section of the ruleset.

    Relevance: a distinct matched term weighs the sum of its topic payloads; the event passes
    when the total (plus `chokepoint.weight` once if the text names a chokepoint) reaches
    `min_weight`, and scores min(1, total / saturation_weight).
    Classification ties (equal summed weights) go to the earlier entry of `type_order` /
    `category_order`, which must each list every ranked value exactly once.
    """

    topics: tuple[Topic, ...] = ()
    off_topic: tuple[tuple[str, tuple[str, ...]], ...] = ()
    direction: tuple[DirectionGroup, ...] = ()
    irregular: tuple[tuple[str, str], ...] = ()
    min_weight: float = 1.0
    saturation_weight: float = 3.0
    chokepoint: ChokepointWeight = ChokepointWeight()
    port: ChokepointWeight = DEFAULT_PORT_WEIGHT
    type_order: tuple[SignalType, ...] = RANKED_TYPES
    category_order: tuple[SignalCategory, ...] = RANKED_CATEGORIES

    def __post_init__(self) -> None:
        if not 0 < self.min_weight <= self.saturation_weight:
            raise ValueError("need 0 < min_weight <= saturation_weight")
        # classify() ranks by position in these tuples; a missing value would crash there.
        if sorted(self.type_order) != sorted(RANKED_TYPES):
            raise ValueError("type_order must list every signal type but UNCLASSIFIED once")
        if sorted(self.category_order) != sorted(RANKED_CATEGORIES):
            raise ValueError("category_order must list every category but OTHER once")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SemanticParams:
        """Build from the `[semantic]` table; ValueError names the offending key path."""
        return _Loader().load(data)


def lexicon_entries(params: SemanticParams) -> list[tuple[str, object]]:
    """(term, payload) for the shared Lexicon: topics, then off-topic groups, then direction."""
    entries: list[tuple[str, object]] = []
    for topic in params.topics:
        for term in topic.terms:
            payload = TopicTerm(
                topic.key, topic.weight_of(term), topic.signal_type, topic.category, topic.domains
            )
            entries.append((term, payload))
    for group, terms in params.off_topic:
        marker = OffTopicTerm(group)
        entries.extend((term, marker) for term in terms)
    for direction in params.direction:
        for term in direction.terms:
            entries.append((term, DirectionTerm(direction.direction, direction.weight_of(term))))
    return entries


def irregular_forms(params: SemanticParams) -> dict[str, str]:
    """Surface forms the regular inflection rules miss ("crises" -> "crisis")."""
    return dict(params.irregular)


#: Totals closer than this are equal, so that 0.1 + 0.2 ties 0.3 and reaches a threshold of 0.3.
TOLERANCE = 1e-9


def weigh(weights: Sequence[float]) -> float:
    """An order-independent total: fsum is exact, so no order of the words changes it."""
    return math.fsum(weights)


def fmt_weight(value: float) -> str:
    """1.0 -> "1.0", 0.5 -> "0.5", 0.25 -> "0.25"."""
    text = f"{value:.2f}"
    return text[:-1] if text.endswith("0") else text


# --- The rule ---------------------------------------------------------------------------------


class SemanticRule:
    """Is the market about supply-chain or logistics risk? Off-topic terms reject outright."""

    name = "semantic"
    version = "1.0.0"

    def __init__(self, params: SemanticParams) -> None:
        self._min = params.min_weight
        self._min_text = fmt_weight(params.min_weight)
        self._saturation = params.saturation_weight
        self._chokepoint = params.chokepoint.weight

    def evaluate(self, ctx: EventContext) -> ValidationResult:
        # One pass over the matches (a handful per event), never over the lexicon.
        seen: set[str] = set()
        weights: list[float] = []
        topics: dict[str, list[str]] = {}
        off_topic: dict[str, list[str]] = {}
        for match in ctx.text.matches:
            term = match.term
            if term in seen:
                continue  # a term repeated in the description is still one piece of evidence
            seen.add(term)
            for payload in match.payloads:
                if type(payload) is TopicTerm:
                    weights.append(payload.weight)
                    topics.setdefault(payload.topic, []).append(term)
                elif type(payload) is OffTopicTerm:
                    off_topic.setdefault(payload.group, []).append(term)
        if off_topic:
            return self._result(RuleStatus.FAILED, 0.0, "off-topic: " + _groups(off_topic))
        # Only a chokepoint the text names: one found by distance says nothing about the topic.
        named = [c.name for c in ctx.geo.chokepoints if c.via == "name"]
        if named:
            weights.append(self._chokepoint)
        elif not weights:
            return self._result(
                RuleStatus.FAILED, 0.0, "not about supply-chain or logistics risk: no topic terms"
            )
        total = weigh(weights)
        score = min(1.0, total / self._saturation)
        found = _groups(topics)
        if named:
            found = (found + "; " if found else "") + "chokepoint (" + ", ".join(named) + ")"
        if total < self._min - TOLERANCE:
            return self._result(
                RuleStatus.FAILED,
                score,
                "not about supply-chain or logistics risk: "
                f"weight {fmt_weight(total)} < {self._min_text}: {found}",
            )
        return self._result(
            RuleStatus.PASSED, score, f"{found}; weight {fmt_weight(total)} >= {self._min_text}"
        )

    def _result(self, status: RuleStatus, score: float, reason: str) -> ValidationResult:
        return ValidationResult(self.name, self.version, status, score, reason)


def _groups(found: Mapping[str, Sequence[str]]) -> str:
    return "; ".join(f"{key} ({', '.join(terms)})" for key, terms in found.items())


# --- Loading ----------------------------------------------------------------------------------


def _fail(path: str, message: str) -> NoReturn:
    raise ValueError(f"{path}: {message}")


def _table(value: object, path: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        _fail(path, "must be a table")
    return value


def _known_keys(
    table: Mapping[str, Any], path: str, required: Sequence[str], optional: Sequence[str] = ()
) -> None:
    for key in required:
        if key not in table:
            _fail(f"{path}.{key}", "is required")
    for key in table:
        if key not in required and key not in optional:
            _fail(f"{path}.{key}", "unknown key")


def _number(value: object, path: str) -> float:
    # bool is an int in Python; `true` is never a weight.
    if isinstance(value, bool) or not isinstance(value, int | float):
        _fail(path, "must be a number")
    number = float(value)
    if not math.isfinite(number) or number <= 0:
        _fail(path, "must be a positive finite number")
    return number


def _name(value: object, path: str) -> str:
    if not isinstance(value, str) or not value.strip():
        _fail(path, "must be a non-empty string")
    return value


def _term(value: object, path: str) -> str:
    words = tokenize(_name(value, path))
    if not words:
        _fail(path, "has no words")
    return " ".join(words)


def _list(value: object, path: str) -> Sequence[Any]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        _fail(path, "must be a list")
    if not value:
        _fail(path, "must not be empty")
    return value


def _terms(value: object, path: str) -> tuple[str, ...]:
    terms: list[str] = []
    for i, item in enumerate(_list(value, path)):
        term = _term(item, f"{path}[{i}]")
        if term in terms:
            _fail(f"{path}[{i}]", f"{term!r} is listed twice")
        terms.append(term)
    return tuple(terms)


def _term_weights(
    value: object, path: str, terms: tuple[str, ...]
) -> tuple[tuple[str, float], ...]:
    weights: dict[str, float] = {}
    for key, weight in _table(value, path).items():
        term = _term(key, f"{path}.{key}")
        if term not in terms:
            _fail(f"{path}.{key}", "is not one of the terms")
        weights[term] = _number(weight, f"{path}.{key}")
    return tuple(weights.items())


def _member(value: object, path: str, kind: type[E], allowed: tuple[E, ...]) -> E:
    name = _name(value, path)
    member = kind.__members__.get(name)
    if member is None or member not in allowed:
        _fail(path, f"{name!r} is not one of {', '.join(m.name for m in allowed)}")
    return member


def _order(value: object, path: str, kind: type[E], allowed: tuple[E, ...]) -> tuple[E, ...]:
    order: list[E] = []
    for i, item in enumerate(_list(value, path)):
        member = _member(item, f"{path}[{i}]", kind, allowed)
        if member in order:
            _fail(f"{path}[{i}]", f"{member.name} is listed twice")
        order.append(member)
    missing = [m.name for m in allowed if m not in order]
    if missing:
        _fail(path, "missing " + ", ".join(missing))
    return tuple(order)


def _domains(value: object, path: str) -> tuple[str, ...]:
    domains = [_name(item, f"{path}[{i}]") for i, item in enumerate(_list(value, path))]
    return tuple(sorted(set(domains)))


class _Loader:
    def load(self, data: Mapping[str, Any]) -> SemanticParams:
        root = "semantic"
        table = _table(data, root)
        _known_keys(
            table,
            root,
            ("min_weight", "saturation_weight", "type_order", "category_order", "topics"),
            ("chokepoint", "port", "off_topic", "direction", "irregular"),
        )
        topics = tuple(
            self._topic(key, value, f"{root}.topics.{key}")
            for key, value in _table(table["topics"], f"{root}.topics").items()
        )
        if not topics:
            _fail(f"{root}.topics", "must not be empty")
        off_topic = tuple(
            (_name(group, f"{root}.off_topic"), _terms(terms, f"{root}.off_topic.{group}"))
            for group, terms in _table(table.get("off_topic", {}), f"{root}.off_topic").items()
        )
        direction = self._direction(table.get("direction", {}), f"{root}.direction")
        words = {
            word
            for terms in [t.terms for t in topics]
            + [terms for _, terms in off_topic]
            + [d.terms for d in direction]
            for term in terms
            for word in term.split()
        }
        irregular: list[tuple[str, str]] = []
        for form, word in _table(table.get("irregular", {}), f"{root}.irregular").items():
            path = f"{root}.irregular.{form}"
            surface, listed = _term(form, path), _term(word, path)
            if " " in surface or " " in listed:
                _fail(path, "must map one word to one word")
            if listed not in words:
                _fail(path, f"{listed!r} is not a word of any listed term")
            if surface in words:
                _fail(path, f"{surface!r} is itself a listed word")
            irregular.append((surface, listed))
        min_weight = _number(table["min_weight"], f"{root}.min_weight")
        saturation = _number(table["saturation_weight"], f"{root}.saturation_weight")
        if saturation < min_weight:
            _fail(f"{root}.saturation_weight", "must be >= min_weight")
        return SemanticParams(
            topics=topics,
            off_topic=off_topic,
            direction=direction,
            irregular=tuple(irregular),
            min_weight=min_weight,
            saturation_weight=saturation,
            chokepoint=self._chokepoint(table.get("chokepoint", {}), f"{root}.chokepoint"),
            port=self._chokepoint(table.get("port", {}), f"{root}.port", DEFAULT_PORT_WEIGHT),
            type_order=_order(table["type_order"], f"{root}.type_order", SignalType, RANKED_TYPES),
            category_order=_order(
                table["category_order"], f"{root}.category_order", SignalCategory, RANKED_CATEGORIES
            ),
        )

    def _topic(self, key: str, value: object, path: str) -> Topic:
        table = _table(value, path)
        _known_keys(
            table,
            path,
            ("weight", "domains", "terms"),
            ("signal_type", "category", "term_weights"),
        )
        terms = _terms(table["terms"], f"{path}.terms")
        signal_type = category = None
        if "signal_type" in table:
            signal_type = _member(
                table["signal_type"], f"{path}.signal_type", SignalType, RANKED_TYPES
            )
        if "category" in table:
            category = _member(
                table["category"], f"{path}.category", SignalCategory, RANKED_CATEGORIES
            )
        return Topic(
            key=key,
            weight=_number(table["weight"], f"{path}.weight"),
            signal_type=signal_type,
            category=category,
            domains=_domains(table["domains"], f"{path}.domains"),
            terms=terms,
            term_weights=_term_weights(
                table.get("term_weights", {}), f"{path}.term_weights", terms
            ),
        )

    def _direction(self, value: object, path: str) -> tuple[DirectionGroup, ...]:
        table = _table(value, path)
        _known_keys(table, path, (), ("negative", "positive"))
        groups: list[DirectionGroup] = []
        for key, direction in (
            ("negative", ImpactDirection.NEGATIVE),
            ("positive", ImpactDirection.POSITIVE),
        ):
            if key not in table:
                continue
            sub = _table(table[key], f"{path}.{key}")
            _known_keys(sub, f"{path}.{key}", ("weight", "terms"), ("term_weights",))
            terms = _terms(sub["terms"], f"{path}.{key}.terms")
            groups.append(
                DirectionGroup(
                    direction=direction,
                    weight=_number(sub["weight"], f"{path}.{key}.weight"),
                    terms=terms,
                    term_weights=_term_weights(
                        sub.get("term_weights", {}), f"{path}.{key}.term_weights", terms
                    ),
                )
            )
        if len(groups) == 2:
            both = [t for t in groups[1].terms if t in set(groups[0].terms)]
            if both:
                _fail(f"{path}.positive.terms", f"{both[0]!r} is also listed as negative")
        return tuple(groups)

    def _chokepoint(
        self, value: object, path: str, default: ChokepointWeight = ChokepointWeight()
    ) -> ChokepointWeight:
        table = _table(value, path)
        _known_keys(table, path, (), ("weight", "signal_type", "category", "domains"))
        return ChokepointWeight(
            weight=_number(table["weight"], f"{path}.weight")
            if "weight" in table
            else default.weight,
            signal_type=_member(
                table["signal_type"], f"{path}.signal_type", SignalType, RANKED_TYPES
            )
            if "signal_type" in table
            else default.signal_type,
            category=_member(
                table["category"], f"{path}.category", SignalCategory, RANKED_CATEGORIES
            )
            if "category" in table
            else default.category,
            domains=_domains(table["domains"], f"{path}.domains")
            if "domains" in table
            else default.domains,
        )

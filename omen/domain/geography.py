"""Geographic relevance: a gazetteer of logistics places, where an event is, and the rule."""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from omen.domain.analysis import ChokepointHit, EventContext, GeoFindings, TextAnalysis
from omen.domain.events import Location, RawEvent
from omen.domain.signals import RuleStatus, ValidationResult
from omen.domain.text import Lexicon, LexiconError, tokenize

#: Mean Earth radius (IUGG), in km.
EARTH_RADIUS_KM = 6371.0088

PlaceKind = Literal["chokepoint", "port", "sea", "area", "country"]
#: Kinds in the order a rule's reason lists them.
PLACE_KINDS: tuple[PlaceKind, ...] = ("chokepoint", "port", "sea", "area", "country")

_ISO = re.compile(r"[A-Z]{2}")
# Longer than two characters so that a macro region code can never be read as an ISO code.
_MACRO = re.compile(r"[A-Z][A-Z_]{2,}")


@dataclass(frozen=True, slots=True)
class PlaceTerm:
    """What a gazetteer word or phrase stands for (the payload it carries in the shared Lexicon).

    `regions`: the codes the place implies: macro regions, plus the ISO code of a country or of
    a port's country.
    """

    kind: PlaceKind
    key: str
    regions: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Chokepoint:
    """A narrow passage much shipping depends on, at a representative point of it."""

    name: str
    lat: float
    lon: float
    aliases: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    # Its own distance limit (<= the section's distance_km) where the default would reach far
    # inland: Paris is 247 km from the Dover Strait. None: the section's distance_km.
    radius_km: float | None = None


@dataclass(frozen=True, slots=True)
class Port:
    """A major port; `country` is an ISO 3166-1 alpha-2 code."""

    name: str
    lat: float
    lon: float
    country: str
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Area:
    """A sea or a named area (the Middle East, the Horn of Africa) and its macro regions."""

    name: str
    aliases: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Country:
    """A country named in text; its macro region comes from its ISO code."""

    name: str
    iso: str
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class GeoScores:
    """The rule's score for each kind of geography found; the best one found counts."""

    chokepoint: float = 1.0
    port: float = 0.85
    sea: float = 0.7
    area: float = 0.7
    country: float = 0.6
    # A location whose region code is known, and nothing else.
    location: float = 0.5


@dataclass(frozen=True, slots=True)
class GeographyParams:
    """The [geographic] ruleset section: radius, scores and the gazetteer."""

    distance_km: float = 500.0
    scores: GeoScores = field(default_factory=GeoScores)
    # (macro region code, ISO codes in it), in file order.
    macro_regions: tuple[tuple[str, tuple[str, ...]], ...] = ()
    chokepoints: tuple[Chokepoint, ...] = ()
    ports: tuple[Port, ...] = ()
    seas: tuple[Area, ...] = ()
    areas: tuple[Area, ...] = ()
    countries: tuple[Country, ...] = ()
    # Lookups built once, so that locate() does dictionary lookups instead of scanning lists.
    _index: _Index = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", _Index(self))

    def region_codes(self, code: str) -> tuple[str, ...]:
        """What a Location.region_code adds to an event's regions: an ISO code and its macro
        region, a macro region code itself, or nothing when the code is unknown."""
        return self._index.region_codes.get(code.strip().upper(), ())

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GeographyParams:
        """Parameters from the parsed [geographic] table; ValueError names the offending key."""
        return _parse(data, "geographic")


class _Index:
    """Lookups derived from GeographyParams."""

    __slots__ = (
        "distance_table",
        "kinds_of",
        "latitudes",
        "max_dlat",
        "name_hits",
        "points",
        "region_codes",
    )

    def __init__(self, params: GeographyParams) -> None:
        codes: dict[str, tuple[str, ...]] = {}
        for macro, members in params.macro_regions:
            codes[macro] = (macro,)
            for iso in members:
                codes[iso] = (iso, macro)
        self.region_codes = codes
        # Findings values are immutable, so the ones that do not depend on the event are built
        # once here: constructing frozen dataclasses is a large part of locate()'s cost.
        self.name_hits = {
            c.name: ChokepointHit(c.name, c.lat, c.lon, "name") for c in params.chokepoints
        }
        self.points = {c.name: Location(c.lat, c.lon, c.name, "") for c in params.chokepoints}
        kinds: dict[str, dict[PlaceKind, None]] = {}
        listed: tuple[tuple[PlaceKind, list[str]], ...] = (
            ("chokepoint", [c.name for c in params.chokepoints]),
            ("port", [p.name for p in params.ports]),
            ("sea", [s.name for s in params.seas]),
            ("area", [a.name for a in params.areas]),
            ("country", [k.name for k in params.countries]),
        )
        for kind, names in listed:
            for name in names:
                kinds.setdefault(name, {})[kind] = None
        # A name may be a place of more than one kind: Singapore is a port and a country.
        self.kinds_of = {name: tuple(k) for name, k in kinds.items()}
        # Chokepoints by latitude with its radians and cosine: the great-circle distance is at
        # least R * |latitude difference|, so only the band of rows within max_dlat radians of a
        # location (found by bisection) can be in range. The margin absorbs rounding.
        self.distance_table = sorted(
            ((c, math.radians(c.lat), math.cos(math.radians(c.lat))) for c in params.chokepoints),
            key=lambda row: row[1],
        )
        self.latitudes = [row[1] for row in self.distance_table]
        self.max_dlat = params.distance_km / EARTH_RADIUS_KM + 1e-9


def _haversine(
    phi1: float, cos1: float, lon1: float, phi2: float, cos2: float, lon2: float
) -> float:
    s_phi = math.sin((phi2 - phi1) / 2.0)
    s_lam = math.sin(math.radians(lon2 - lon1) / 2.0)
    a = s_phi * s_phi + cos1 * cos2 * s_lam * s_lam
    return 2.0 * EARTH_RADIUS_KM * math.asin(math.sqrt(min(1.0, a)))


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in km between two points in decimal degrees."""
    phi1 = math.radians(lat1)
    phi2 = math.radians(lat2)
    return _haversine(phi1, math.cos(phi1), lon1, phi2, math.cos(phi2), lon2)


def lexicon_entries(params: GeographyParams) -> list[tuple[str, PlaceTerm]]:
    """Every name and alias of every place, with the PlaceTerm it stands for."""
    macro_of = {iso: macro for macro, members in params.macro_regions for iso in members}

    def iso_regions(iso: str) -> tuple[str, ...]:
        macro = macro_of.get(iso)
        return (iso, macro) if macro else (iso,)

    places: list[tuple[str, tuple[str, ...], PlaceTerm]] = []
    for c in params.chokepoints:
        places.append((c.name, c.aliases, PlaceTerm("chokepoint", c.name, c.regions)))
    for p in params.ports:
        places.append((p.name, p.aliases, PlaceTerm("port", p.name, iso_regions(p.country))))
    for s in params.seas:
        places.append((s.name, s.aliases, PlaceTerm("sea", s.name, s.regions)))
    for a in params.areas:
        places.append((a.name, a.aliases, PlaceTerm("area", a.name, a.regions)))
    for k in params.countries:
        places.append((k.name, k.aliases, PlaceTerm("country", k.name, iso_regions(k.iso))))
    entries: list[tuple[str, PlaceTerm]] = []
    for name, aliases, term in places:
        # One entry per distinct word sequence, so a place never carries its payload twice.
        seen: set[tuple[str, ...]] = set()
        for text in (name, *aliases):
            words = tuple(tokenize(text))
            if words and words not in seen:
                seen.add(words)
                entries.append((text, term))
    return entries


def locate(event: RawEvent, text: TextAnalysis, params: GeographyParams) -> GeoFindings:
    """Chokepoints, regions, places and coordinates of one event.

    A chokepoint named in the text is found "by name"; one within distance_km of any of the
    event's locations "by distance". Named wins over distance, and distance_km is then the
    nearest location's distance if one is in range (else 0). Chokepoints are sorted by name.
    """
    index = params._index
    places: dict[str, None] = {}
    regions: set[str] = set()
    named: list[str] = []
    for match in text.matches:
        for payload in match.payloads:
            if isinstance(payload, PlaceTerm):
                places[payload.key] = None
                regions.update(payload.regions)
                if payload.kind == "chokepoint":
                    named.append(payload.key)
    locations = event.locations
    if not places and not locations:
        return _NOWHERE
    nearest: dict[str, float] = {}
    limit = params.distance_km
    max_dlat = index.max_dlat
    latitudes = index.latitudes
    for loc in locations:
        code = loc.region_code
        if code:
            known = index.region_codes.get(code) or index.region_codes.get(code.strip().upper())
            if known:
                regions.update(known)
        phi = math.radians(loc.lat)
        lo = bisect.bisect_left(latitudes, phi - max_dlat)
        hi = bisect.bisect_right(latitudes, phi + max_dlat, lo)
        if lo == hi:
            continue
        cos_phi = math.cos(phi)
        for chokepoint, phi2, cos2 in index.distance_table[lo:hi]:
            km = _haversine(phi, cos_phi, loc.lon, phi2, cos2, chokepoint.lon)
            if km <= (chokepoint.radius_km or limit):
                name = chokepoint.name
                if name not in nearest or km < nearest[name]:
                    nearest[name] = km
                regions.update(chokepoint.regions)
    if not named and not nearest:
        return GeoFindings((), tuple(sorted(regions)), tuple(places), locations)
    hits: list[ChokepointHit] = []
    points: list[Location] = []
    for name in sorted({*named, *nearest}):
        hit = index.name_hits.get(name)
        if hit is None:
            continue  # a term from another gazetteer than these params'
        distance = nearest.get(name)
        if distance is not None:
            via = "name" if name in named else "distance"
            hit = ChokepointHit(name, hit.lat, hit.lon, via, round(distance, 1))
        hits.append(hit)
        points.append(index.points[name])
    return GeoFindings(
        tuple(hits), tuple(sorted(regions)), tuple(places), locations + tuple(points)
    )


_NOWHERE = GeoFindings()


class GeographicRule:
    """Events about places shipping does not touch carry no supply-chain risk.

    Passes when the event has logistics geography: a chokepoint named in the text or within
    distance_km of one of its locations, a port, sea, area or country of the gazetteer named in
    the text, or a location whose region code is a known ISO or macro region code. The score is
    the best of the kinds found (GeoScores); a failure scores 0.
    """

    name = "geographic"
    version = "1.0.0"

    def __init__(self, params: GeographyParams) -> None:
        scores = params.scores
        self._chokepoint = scores.chokepoint
        self._location = scores.location
        self._score_of: dict[str, float] = {
            "port": scores.port,
            "sea": scores.sea,
            "area": scores.area,
            "country": scores.country,
        }
        self._kinds_of = params._index.kinds_of
        self._distance_km = params.distance_km

    def evaluate(self, ctx: EventContext) -> ValidationResult:
        geo = ctx.geo
        if not geo.has_logistics_geography:
            return ValidationResult(
                self.name, self.version, RuleStatus.FAILED, 0.0, self._nothing(ctx.event)
            )
        score_of = self._score_of
        best = self._chokepoint if geo.chokepoints else 0.0
        if geo.regions:
            best = max(best, self._location)
        parts: list[str] = []
        if geo.chokepoints:
            described = ", ".join(f"{h.name} ({_how(h)})" for h in geo.chokepoints)
            parts.append(_label("chokepoint", len(geo.chokepoints)) + " " + described)
        if geo.places:
            by_kind: dict[str, list[str]] = {}
            # A name is one place, of every kind listed under it: "Port of Singapore" reports
            # Singapore as port and country, which share their regions anyway.
            for place in geo.places:
                for kind in self._kinds_of.get(place, ()):
                    if kind in score_of:  # chokepoints are listed above, with how found
                        by_kind.setdefault(kind, []).append(place)
                        best = max(best, score_of[kind])
            for kind in PLACE_KINDS:
                names = by_kind.get(kind)
                if names:
                    parts.append(_label(kind, len(names)) + " " + ", ".join(names))
        if geo.regions:
            parts.append("regions " + ", ".join(geo.regions))
        return ValidationResult(
            self.name, self.version, RuleStatus.PASSED, min(1.0, best), "; ".join(parts)
        )

    def _nothing(self, event: RawEvent) -> str:
        reason = (
            "no logistics geography: no chokepoint, port, sea, area or country named in the text"
        )
        n = len(event.locations)
        if n == 0:
            return reason + ", and no event locations"
        return (
            f"{reason}, and none of {n} location(s) is within {self._distance_km:g} km of a"
            " chokepoint or has a known region code"
        )


def _how(hit: ChokepointHit) -> str:
    if hit.via == "name":
        return f"by name, {hit.distance_km:.1f} km" if hit.distance_km else "by name"
    return f"by distance, {hit.distance_km:.1f} km"


def _label(kind: str, count: int) -> str:
    if count == 1:
        return kind
    return "countries" if kind == "country" else kind + "s"


# --- parsing the [geographic] table -------------------------------------------------------

_TOP_KEYS = (
    "distance_km",
    "scores",
    "macro_regions",
    "chokepoints",
    "ports",
    "seas",
    "areas",
    "countries",
)
_SCORE_KEYS = ("chokepoint", "port", "sea", "area", "country", "location")

E = TypeVar("E")


def _parse(data: Mapping[str, Any], path: str) -> GeographyParams:
    table = _table(data, path, _TOP_KEYS, ())
    defaults = GeographyParams()
    distance = defaults.distance_km
    if "distance_km" in table:
        distance = _number(table["distance_km"], f"{path}.distance_km")
        if not math.isfinite(distance) or distance <= 0:
            raise ValueError(f"{path}.distance_km: must be a finite number > 0, got {distance!r}")
    scores = defaults.scores
    if "scores" in table:
        given = _table(table["scores"], f"{path}.scores", _SCORE_KEYS, ())
        values = {k: _within(v, f"{path}.scores.{k}", 0, 1) for k, v in given.items()}
        scores = GeoScores(**values)
    macro_regions = _macro_regions(table.get("macro_regions", {}), f"{path}.macro_regions")
    macros = {m for m, _ in macro_regions}
    isos = {iso for _, members in macro_regions for iso in members}

    def regions(value: object, where: str) -> tuple[str, ...]:
        codes = _strings(value, where)
        if not codes:
            raise ValueError(f"{where}: must name at least one macro region")
        for i, code in enumerate(codes):
            if code not in macros:
                raise ValueError(f"{where}[{i}]: unknown macro region {code!r}")
        return codes

    def iso(value: object, where: str) -> str:
        code = _string(value, where)
        if code not in isos:
            raise ValueError(f"{where}: unknown ISO country code {code!r}")
        return code

    def chokepoint(t: Mapping[str, Any], at: str) -> Chokepoint:
        radius = None
        if "radius_km" in t:
            radius = _number(t["radius_km"], f"{at}.radius_km")
            if not 0 < radius <= distance:
                raise ValueError(
                    f"{at}.radius_km: must be > 0 and <= distance_km ({distance:g}), got {radius!r}"
                )
        return Chokepoint(
            _name(t, at),
            _lat(t, at),
            _lon(t, at),
            _aliases(t, at),
            regions(_required(t, at, "regions"), f"{at}.regions"),
            radius,
        )

    def port(t: Mapping[str, Any], at: str) -> Port:
        country = iso(_required(t, at, "country"), f"{at}.country")
        return Port(_name(t, at), _lat(t, at), _lon(t, at), country, _aliases(t, at))

    def area(t: Mapping[str, Any], at: str) -> Area:
        return Area(
            _name(t, at), _aliases(t, at), regions(_required(t, at, "regions"), f"{at}.regions")
        )

    def country(t: Mapping[str, Any], at: str) -> Country:
        return Country(_name(t, at), iso(_required(t, at, "iso"), f"{at}.iso"), _aliases(t, at))

    params = GeographyParams(
        distance_km=distance,
        scores=scores,
        macro_regions=macro_regions,
        chokepoints=_list(
            table,
            path,
            "chokepoints",
            ("name", "lat", "lon", "aliases", "regions", "radius_km"),
            chokepoint,
        ),
        ports=_list(table, path, "ports", ("name", "lat", "lon", "country", "aliases"), port),
        seas=_list(table, path, "seas", ("name", "aliases", "regions"), area),
        areas=_list(table, path, "areas", ("name", "aliases", "regions"), area),
        countries=_list(table, path, "countries", ("name", "iso", "aliases"), country),
    )
    try:
        Lexicon(lexicon_entries(params))
    except LexiconError as err:
        raise ValueError(f"{path}: {err}") from None
    return params


def _list(
    table: Mapping[str, Any],
    path: str,
    key: str,
    keys: tuple[str, ...],
    build: Callable[[Mapping[str, Any], str], E],
) -> tuple[E, ...]:
    value = table.get(key, [])
    where = f"{path}.{key}"
    if not isinstance(value, list):
        raise ValueError(f"{where}: must be a list of tables, got {value!r}")
    names: set[str] = set()
    items: list[E] = []
    for i, raw in enumerate(value):
        at = f"{where}[{i}]"
        entry = _table(raw, at, keys, ("name",))
        name = _name(entry, at)
        if name in names:
            raise ValueError(f"{at}.name: duplicate name {name!r}")
        names.add(name)
        items.append(build(entry, at))
    return tuple(items)


def _macro_regions(value: object, path: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    if not isinstance(value, Mapping):
        raise ValueError(f"{path}: must be a table, got {value!r}")
    owner: dict[str, str] = {}
    result: list[tuple[str, tuple[str, ...]]] = []
    for macro, members in value.items():
        where = f"{path}.{macro}"
        if not _MACRO.fullmatch(macro):
            raise ValueError(f"{where}: a macro region code is 3+ upper-case letters or '_'")
        codes = _strings(members, where)
        for i, code in enumerate(codes):
            if not _ISO.fullmatch(code):
                raise ValueError(f"{where}[{i}]: must be an ISO 3166-1 alpha-2 code, got {code!r}")
            if code in owner:
                raise ValueError(f"{where}[{i}]: {code!r} is already in {owner[code]}")
            owner[code] = macro
        result.append((macro, codes))
    return tuple(result)


def _table(
    value: object, path: str, allowed: Sequence[str], required: Sequence[str]
) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"{path}: must be a table, got {value!r}")
    for key in value:
        if key not in allowed:
            raise ValueError(f"{path}.{key}: unknown key (expected one of {', '.join(allowed)})")
    for key in required:
        if key not in value:
            raise ValueError(f"{path}.{key}: is required")
    return value


def _required(table: Mapping[str, Any], path: str, key: str) -> object:
    if key not in table:
        raise ValueError(f"{path}.{key}: is required")
    return table[key]


def _number(value: object, path: str) -> float:
    # bool is an int subclass, but `lat = true` is a mistake, not 1.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{path}: must be a number, got {value!r}")
    return float(value)


def _within(value: object, path: str, lo: float, hi: float) -> float:
    number = _number(value, path)
    if not lo <= number <= hi:  # also refuses NaN
        raise ValueError(f"{path}: must be within [{lo:g}, {hi:g}], got {value!r}")
    return number


def _lat(table: Mapping[str, Any], path: str) -> float:
    return _within(_required(table, path, "lat"), f"{path}.lat", -90, 90)


def _lon(table: Mapping[str, Any], path: str) -> float:
    return _within(_required(table, path, "lon"), f"{path}.lon", -180, 180)


def _string(value: object, path: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{path}: must be a non-empty string, got {value!r}")
    return value


def _name(table: Mapping[str, Any], path: str) -> str:
    name = _string(_required(table, path, "name"), f"{path}.name")
    if not tokenize(name):
        raise ValueError(f"{path}.name: must contain a letter or digit, got {name!r}")
    return name


def _strings(value: object, path: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise ValueError(f"{path}: must be a list of strings, got {value!r}")
    return tuple(_string(v, f"{path}[{i}]") for i, v in enumerate(value))


def _aliases(table: Mapping[str, Any], path: str) -> tuple[str, ...]:
    aliases = _strings(table.get("aliases", []), f"{path}.aliases")
    for i, alias in enumerate(aliases):
        if not tokenize(alias):
            raise ValueError(f"{path}.aliases[{i}]: must contain a letter or digit, got {alias!r}")
    return aliases

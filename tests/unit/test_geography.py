"""Geographic relevance: the gazetteer, locate() and the geographic rule."""

from __future__ import annotations

import copy
import math
from typing import Any

import pytest

from omen.domain.analysis import (
    ChokepointHit,
    EventContext,
    GeoFindings,
    MarketHistory,
    TextAnalyzer,
)
from omen.domain.events import Location, RawEvent
from omen.domain.geography import (
    GeographicRule,
    GeographyParams,
    GeoScores,
    PlaceTerm,
    haversine_km,
    lexicon_entries,
    locate,
)
from omen.domain.signals import RuleStatus
from omen.domain.text import Lexicon
from tests.rulesets import section

SECTION = section("geographic")
PARAMS = GeographyParams.from_dict(SECTION)
ANALYZER = TextAnalyzer(lexicon_entries(PARAMS))
RULE = GeographicRule(PARAMS)

# The gazetteer's point for the Strait of Hormuz; along its meridian the haversine distance is
# exactly R * (latitude difference in radians), R = 6371.0088 km: 1 degree = 111.19508 km.
HORMUZ = (26.57, 56.25)


def north_of_hormuz(degrees: float, region_code: str = "") -> Location:
    return Location(HORMUZ[0] + degrees, HORMUZ[1], "", region_code)


def event(title: str, description: str = "", locations: tuple[Location, ...] = ()) -> RawEvent:
    return RawEvent(
        event_id="e-1",
        source="polymarket",
        title=title,
        probability=0.5,
        observed_at_ns=0,
        description=description,
        locations=locations,
    )


def geo(title: str, description: str = "", locations: tuple[Location, ...] = ()) -> GeoFindings:
    raw = event(title, description, locations)
    return locate(raw, ANALYZER.analyze(raw), PARAMS)


def verdict(title: str, locations: tuple[Location, ...] = ()):
    raw = event(title, locations=locations)
    text = ANALYZER.analyze(raw)
    return RULE.evaluate(EventContext(raw, text, locate(raw, text, PARAMS), MarketHistory("m")))


def names(findings: GeoFindings) -> tuple[str, ...]:
    return tuple(h.name for h in findings.chokepoints)


# --- names and aliases ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("title", "chokepoints"),
    [
        ("Will the Strait of Hormuz be closed by June?", ("Strait of Hormuz",)),
        ("Will Iran mine Hormuz?", ("Strait of Hormuz",)),
        ("Houthis fire on ships near Bab-el-Mandeb", ("Bab el-Mandeb",)),
        ("Transits through Bab al-Mandab fall below 20 a day?", ("Bab el-Mandeb",)),
        ("Piracy returns to the Gulf of Aden?", ("Bab el-Mandeb",)),
        ("Suez Canal reopens to container ships?", ("Suez Canal",)),
        ("Malacca Strait congestion worsens?", ("Strait of Malacca",)),
        ("Panama Canal draft restrictions in 2026?", ("Panama Canal",)),
        ("Bosphorus closed to tankers?", ("Bosporus",)),
        ("Will Turkey close the Turkish Straits?", ("Bosporus",)),
        ("Ships queue at the Dardanelles", ("Bosporus",)),
        ("Strait of Gibraltar ferry halt", ("Strait of Gibraltar",)),
        ("China blockades the Taiwan Strait?", ("Taiwan Strait",)),
        ("Naval drills in the Taiwan Straits", ("Taiwan Strait",)),
        ("Patrols in the Formosa Strait", ("Taiwan Strait",)),
        ("English Channel crossings suspended?", ("Dover Strait",)),
        ("Carriers reroute via the Cape of Good Hope", ("Cape of Good Hope",)),
        ("Russian shadow fleet stopped in the Danish Straits?", ("Danish Straits",)),
        ("Øresund bridge closed?", ("Danish Straits",)),
        ("Kerch Strait bridge struck?", ("Kerch Strait",)),
        ("Suez and Hormuz both disrupted?", ("Strait of Hormuz", "Suez Canal")),
    ],
)
def test_a_chokepoint_is_found_by_its_name_or_any_alias(title, chokepoints):
    found = geo(title)
    assert names(found) == chokepoints
    assert all(h.via == "name" and h.distance_km == 0.0 for h in found.chokepoints)


def test_red_sea_shipping_disruption_names_both_ends_of_the_red_sea_in_the_middle_east():
    found = geo("Red Sea shipping disruption due to Houthi attacks")
    assert found.chokepoints == (
        ChokepointHit("Bab el-Mandeb", 12.58, 43.33, "name"),
        ChokepointHit("Suez Canal", 30.5, 32.35, "name"),
    )
    assert "MIDDLE_EAST" in found.regions
    assert found.regions == ("AFRICA", "MIDDLE_EAST", "YE")
    assert found.places == ("Suez Canal", "Bab el-Mandeb", "Yemen")


@pytest.mark.parametrize(
    ("title", "places"),
    [
        ("Houthis seize another ship?", ("Yemen",)),
        ("Chinese export curbs on gallium?", ("China",)),
        ("Will the U.S. impose tariffs on Chinese steel?", ("United States", "China")),
        ("USA and UK strike Houthi targets?", ("United States", "United Kingdom", "Yemen")),
        ("Port of Rotterdam strike in March?", ("Rotterdam",)),
        ("Shanghai lockdown extended?", ("Shanghai",)),
        ("Congestion at the Port of Los Angeles?", ("Port of Los Angeles",)),
        ("Grain exports from Odesa resume?", ("Odesa",)),
        ("Black Sea grain corridor reopens?", ("Black Sea",)),
        ("Standoff in the South China Sea?", ("South China Sea",)),
        ("Drought in the Horn of Africa?", ("Horn of Africa",)),
        ("South Africa port strike?", ("South Africa",)),
        ("Will Türkiye raise tariffs?", ("Turkey",)),
        ("Trade deal with the People's Republic of China?", ("China",)),
        ("Singapore bunker prices above $700?", ("Singapore",)),
    ],
)
def test_places_are_named_canonically_in_text_order_including_inflected_forms(title, places):
    assert geo(title).places == places


@pytest.mark.parametrize(
    "title",
    [
        "Will it rain in Paris?",
        "Suezmax tanker rates above $50k a day?",  # a tanker size, not the canal
        "Will us all get a raise?",  # "us" is a pronoun, never the United States
        "Baltic Dry Index above 2000?",  # a freight index, not the Baltic Sea
        "Los Angeles Lakers win the title?",  # only the Port of Los Angeles is listed
        "Who wins the New York mayoral race?",
        "Passport fees rise?",  # whole words only: no "port" inside "passport"
        "Michael Jordan documentary tops charts?",  # Jordan is left out as ambiguous
    ],
)
def test_text_with_no_listed_place_finds_nothing(title):
    assert geo(title) == GeoFindings()


def test_the_word_us_never_yields_the_united_states():
    found = geo("Will the US strike Iran?", "Tell us by Friday.")
    assert found.places == ("Iran",)
    assert "US" not in found.regions and "NORTH_AMERICA" not in found.regions


def test_panamanian_is_the_country_not_the_canal():
    found = geo("Panamanian-flagged tanker seized")
    assert found.chokepoints == ()
    assert found.places == ("Panama",)


def test_a_phrase_is_matched_once_so_its_words_do_not_add_places():
    # "South China Sea" is a sea, not China; "Turkish Straits" is the Bosporus, not Turkey.
    assert geo("South China Sea standoff").regions == ("EAST_ASIA", "SOUTHEAST_ASIA")
    assert geo("Turkish Straits closed").places == ("Bosporus",)


def test_title_and_description_are_both_searched_and_places_stay_unique():
    found = geo("Red Sea transits fall?", "Resolves YES if Red Sea transits halve.")
    assert found.places == ("Suez Canal", "Bab el-Mandeb")
    assert names(found) == ("Bab el-Mandeb", "Suez Canal")


# --- distance ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("degrees_north", "expected"),
    [
        (0.6, 66.7),  # 0.6 * 111.19508 = 66.717
        (3.6, 400.3),  # 400.302: about 400 km, in range
        (4.49, 499.3),  # 499.266: just inside 500 km
        (4.5, None),  # 500.378: just outside
        (5.4, None),  # 600.453: about 600 km, out of range
        (-3.6, 400.3),  # the same distance south
    ],
)
def test_a_chokepoint_within_500_km_of_a_location_is_found_by_distance(degrees_north, expected):
    found = geo("Will it rain?", locations=(north_of_hormuz(degrees_north),))
    if expected is None:
        assert found.chokepoints == ()
    else:
        assert found.chokepoints == (
            ChokepointHit("Strait of Hormuz", 26.57, 56.25, "distance", expected),
        )
        assert found.regions == ("MIDDLE_EAST",)
        assert found.places == ()


@pytest.mark.parametrize(
    ("lat1", "lon1", "lat2", "lon2", "km"),
    [
        (0.0, 0.0, 0.0, 1.0, 111.19508),  # R * pi / 180
        (0.0, 0.0, 0.0, 180.0, 20015.11444),  # half the circumference: pi * R
        (-90.0, 0.0, 90.0, 0.0, 20015.11444),
        (90.0, 0.0, 90.0, 123.0, 0.0),  # longitude means nothing at a pole
        (26.57, 56.25, 30.17, 56.25, 400.30229),  # along a meridian: R * 3.6 degrees
        (51.5074, -0.1278, 48.8566, 2.3522, 343.55653),  # London - Paris, about 344 km
    ],
)
def test_haversine_distance_uses_the_mean_earth_radius(lat1, lon1, lat2, lon2, km):
    assert haversine_km(lat1, lon1, lat2, lon2) == pytest.approx(km, abs=1e-5)
    assert haversine_km(lat2, lon2, lat1, lon1) == haversine_km(lat1, lon1, lat2, lon2)


def test_the_reported_distance_is_the_haversine_distance_rounded_to_a_tenth():
    loc = Location(28.123, 57.987)
    (hit,) = geo("Will it rain?", locations=(loc,)).chokepoints
    assert hit.distance_km == round(haversine_km(28.123, 57.987, *HORMUZ), 1)


def test_the_nearest_of_several_locations_gives_the_distance_and_a_chokepoint_appears_once():
    locations = (north_of_hormuz(2.7), north_of_hormuz(-0.9), north_of_hormuz(10.0))
    found = geo("Strait of Hormuz closure?", "Hormuz traffic halts.", locations)
    assert found.chokepoints == (ChokepointHit("Strait of Hormuz", 26.57, 56.25, "name", 100.1),)


def test_a_chokepoint_named_and_in_range_is_found_by_name_with_its_distance():
    found = geo("Strait of Hormuz closure?", locations=(north_of_hormuz(0.6),))
    assert found.chokepoints == (ChokepointHit("Strait of Hormuz", 26.57, 56.25, "name", 66.7),)


def test_coordinates_are_the_event_locations_then_the_chokepoints_in_name_order():
    here = north_of_hormuz(0.6, "IR")
    found = geo("Suez Canal or Bab el-Mandeb?", locations=(here,))
    assert names(found) == ("Bab el-Mandeb", "Strait of Hormuz", "Suez Canal")
    assert found.coordinates == (
        here,
        Location(12.58, 43.33, "Bab el-Mandeb", ""),
        Location(26.57, 56.25, "Strait of Hormuz", ""),
        Location(30.5, 32.35, "Suez Canal", ""),
    )


def test_the_dover_strait_has_its_own_radius_so_paris_is_not_on_it():
    # Paris is ~247 km from the Dover Strait: inside the section's 500 km, outside its 150 km.
    found = geo("Will it rain in Paris?", locations=(Location(48.8566, 2.3522, "Paris", "FR"),))
    assert found.chokepoints == ()
    assert found.regions == ("EUROPE", "FR")  # the location's country still counts
    calais = geo("Ferry delays?", locations=(Location(50.95, 1.86, "Calais", "FR"),))
    assert [(h.name, h.via) for h in calais.chokepoints] == [("Dover Strait", "distance")]


# --- regions -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("title", "locations", "regions"),
    [
        ("Strait of Hormuz closure?", (), ("MIDDLE_EAST",)),
        ("Port of Rotterdam strike?", (), ("EUROPE", "NL")),
        ("Shanghai lockdown extended?", (), ("CN", "EAST_ASIA")),
        ("Bosphorus closed?", (), ("EUROPE", "MIDDLE_EAST")),
        ("Latin America tariffs?", (), ("CENTRAL_AMERICA", "SOUTH_AMERICA")),
        ("Will it rain?", (Location(-40.0, -120.0, "", "YE"),), ("MIDDLE_EAST", "YE")),
        ("Will it rain?", (Location(-40.0, -120.0, "", " ye "),), ("MIDDLE_EAST", "YE")),
        ("Will it rain?", (Location(-40.0, -120.0, "", "EAST_ASIA"),), ("EAST_ASIA",)),
        ("Will it rain?", (Location(-40.0, -120.0, "", "ZZ"),), ()),
        ("Will it rain?", (Location(-40.0, -120.0, "", "Red Sea"),), ()),
        ("Yemen ceasefire?", (Location(-40.0, -120.0, "", "YE"),), ("MIDDLE_EAST", "YE")),
    ],
)
def test_regions_come_from_places_chokepoints_and_location_region_codes(title, locations, regions):
    assert geo(title, locations=locations).regions == regions


# --- determinism ---------------------------------------------------------------------------


def test_the_same_event_always_gives_equal_sorted_findings():
    locations = (north_of_hormuz(0.6, "IR"), Location(15.5, 41.9, "Red Sea", "YE"))
    title = "Red Sea and Strait of Hormuz shipping disruption: Houthis and Iran"
    first = geo(title, locations=locations)
    assert first == geo(title, locations=locations)
    assert names(first) == tuple(sorted(names(first)))
    assert first.regions == tuple(sorted(set(first.regions)))
    reversed_locations = geo(title, locations=locations[::-1])
    assert reversed_locations.chokepoints == first.chokepoints
    assert reversed_locations.regions == first.regions


# --- the rule ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("title", "locations", "score", "reason"),
    [
        (
            "Will the Strait of Hormuz be closed?",
            (),
            1.0,
            "chokepoint Strait of Hormuz (by name); regions MIDDLE_EAST",
        ),
        (
            "Red Sea shipping disruption due to Houthi attacks",
            (),
            1.0,
            "chokepoints Bab el-Mandeb (by name), Suez Canal (by name); country Yemen;"
            " regions AFRICA, MIDDLE_EAST, YE",
        ),
        (
            "Will it rain?",
            (north_of_hormuz(3.6),),
            1.0,
            "chokepoint Strait of Hormuz (by distance, 400.3 km); regions MIDDLE_EAST",
        ),
        (
            "Hormuz closure?",
            (north_of_hormuz(0.6),),
            1.0,
            "chokepoint Strait of Hormuz (by name, 66.7 km); regions MIDDLE_EAST",
        ),
        ("Port of Rotterdam strike?", (), 0.85, "port Rotterdam; regions EUROPE, NL"),
        (
            "Singapore port congestion?",
            (),
            0.85,
            "port Singapore; country Singapore; regions SG, SOUTHEAST_ASIA",
        ),
        ("Black Sea grain deal?", (), 0.7, "sea Black Sea; regions EUROPE"),
        ("Horn of Africa drought?", (), 0.7, "area Horn of Africa; regions AFRICA"),
        ("Will Chile raise copper royalties?", (), 0.6, "country Chile; regions CL, SOUTH_AMERICA"),
        (
            "Will Iran and Israel agree a ceasefire?",
            (),
            0.6,
            "countries Iran, Israel; regions IL, IR, MIDDLE_EAST",
        ),
        ("Will it rain?", (Location(-40.0, -120.0, "", "YE"),), 0.5, "regions MIDDLE_EAST, YE"),
    ],
)
def test_the_rule_passes_with_the_best_kind_found_and_says_what(title, locations, score, reason):
    result = verdict(title, locations)
    assert (result.status, result.score, result.reason) == (RuleStatus.PASSED, score, reason)


@pytest.mark.parametrize(
    ("title", "locations", "reason"),
    [
        (
            "Will it rain in Paris?",
            (),
            "no logistics geography: no chokepoint, port, sea, area or country named in the text,"
            " and no event locations",
        ),
        (
            "Will it rain?",
            (Location(-40.0, -120.0, "", "ZZ"),),
            "no logistics geography: no chokepoint, port, sea, area or country named in the text,"
            " and none of 1 location(s) is within 500 km of a chokepoint or has a known region code",
        ),
    ],
)
def test_the_rule_fails_with_score_zero_without_logistics_geography(title, locations, reason):
    result = verdict(title, locations)
    assert (result.status, result.score, result.reason) == (RuleStatus.FAILED, 0.0, reason)


def test_the_rule_is_named_geographic_at_version_1():
    result = verdict("Hormuz?")
    assert (RULE.name, RULE.version) == ("geographic", "1.0.0")
    assert (result.rule_name, result.rule_version) == ("geographic", "1.0.0")


# --- the gazetteer and its parameters ------------------------------------------------------


def test_the_packaged_gazetteer_is_broad_and_builds_an_unambiguous_lexicon():
    assert PARAMS.distance_km == 500.0
    assert PARAMS.scores == GeoScores()
    assert len(PARAMS.chokepoints) >= 11
    assert len(PARAMS.ports) >= 25
    assert len(PARAMS.countries) >= 60
    assert len(Lexicon(lexicon_entries(PARAMS))) > 400
    codes = [iso for _, members in PARAMS.macro_regions for iso in members]
    assert len(codes) == len(set(codes)) >= 240


def test_every_name_and_alias_is_a_lexicon_term_with_its_place_once():
    entries = lexicon_entries(PARAMS)
    suez = PlaceTerm("chokepoint", "Suez Canal", ("MIDDLE_EAST",))
    mandeb = PlaceTerm("chokepoint", "Bab el-Mandeb", ("MIDDLE_EAST", "AFRICA"))
    assert [t for t, p in entries if p == suez] == ["Suez Canal", "suez", "gulf of suez", "red sea"]
    # "bab el mandeb" reads as the same words as the name "Bab el-Mandeb", so it is not repeated.
    assert [t for t, p in entries if p == mandeb][:3] == [
        "Bab el-Mandeb",
        "bab al mandab",
        "bab el mandab",
    ]
    assert ("u s", PlaceTerm("country", "United States", ("US", "NORTH_AMERICA"))) in entries
    assert ("Rotterdam", PlaceTerm("port", "Rotterdam", ("NL", "EUROPE"))) in entries
    assert all(term not in {"us", "america", "jordan", "baltic"} for term, _ in entries)


def test_an_empty_section_gives_the_defaults():
    assert GeographyParams.from_dict({}) == GeographyParams()


def mutated(path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    data = copy.deepcopy(SECTION)
    target: Any = data
    for key in path[:-1]:
        target = target[key]
    if value is DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return data


DELETE = object()


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (
            ("chokepoints", 3, "lat"),
            91,
            "geographic.chokepoints[3].lat: must be within [-90, 90], got 91",
        ),
        (
            ("chokepoints", 0, "lon"),
            -180.5,
            "geographic.chokepoints[0].lon: must be within [-180, 180], got -180.5",
        ),
        (
            ("chokepoints", 0, "lat"),
            "north",
            "geographic.chokepoints[0].lat: must be a number, got 'north'",
        ),
        (
            ("chokepoints", 0, "lat"),
            True,
            "geographic.chokepoints[0].lat: must be a number, got True",
        ),
        (
            ("chokepoints", 0, "lat"),
            math.nan,
            "geographic.chokepoints[0].lat: must be within [-90, 90], got nan",
        ),
        (("chokepoints", 1, "name"), DELETE, "geographic.chokepoints[1].name: is required"),
        (
            ("chokepoints", 1, "name"),
            "Suez Canal",
            "geographic.chokepoints[1].name: duplicate name 'Suez Canal'",
        ),
        (
            ("chokepoints", 2, "regions"),
            [],
            "geographic.chokepoints[2].regions: must name at least one macro region",
        ),
        (
            ("seas", 0, "regions"),
            ["EUROPE", "ATLANTIS"],
            "geographic.seas[0].regions[1]: unknown macro region 'ATLANTIS'",
        ),
        (
            ("ports", 2, "country"),
            "XX",
            "geographic.ports[2].country: unknown ISO country code 'XX'",
        ),
        (("countries", 1, "iso"), DELETE, "geographic.countries[1].iso: is required"),
        (
            ("countries", 1, "aliases"),
            ["--"],
            "geographic.countries[1].aliases[0]: must contain a letter or digit, got '--'",
        ),
        (
            ("areas", 0, "aliases"),
            "mideast",
            "geographic.areas[0].aliases: must be a list of strings, got 'mideast'",
        ),
        (("distance_km",), 0, "geographic.distance_km: must be a finite number > 0, got 0.0"),
        (("scores", "port"), 1.5, "geographic.scores.port: must be within [0, 1], got 1.5"),
        (
            ("macro_regions", "AFRICA", 0),
            "US",
            "geographic.macro_regions.AFRICA[0]: 'US' is already in NORTH_AMERICA",
        ),
        (
            ("macro_regions", "EUROPE", 0),
            "FRA",
            "geographic.macro_regions.EUROPE[0]: must be an ISO 3166-1 alpha-2 code, got 'FRA'",
        ),
        (
            ("chokepoints", 0, "latitude"),
            1.0,
            "geographic.chokepoints[0].latitude: unknown key (expected one of name, lat, lon, aliases, regions, radius_km)",
        ),
        (
            ("chokepoints", 0, "radius_km"),
            600.0,
            "geographic.chokepoints[0].radius_km: must be > 0 and <= distance_km (500), got 600.0",
        ),
        (
            ("radius_km",),
            100.0,
            "geographic.radius_km: unknown key (expected one of distance_km, scores, macro_regions, chokepoints, ports, seas, areas, countries)",
        ),
    ],
)
def test_a_bad_parameter_is_refused_with_its_key_path(path, value, message):
    with pytest.raises(ValueError) as refused:
        GeographyParams.from_dict(mutated(path, value))
    assert str(refused.value) == message


def test_terms_that_inflect_into_each_other_are_refused():
    data = mutated(("seas", 0, "aliases"), ["pose"])
    data["areas"][0]["aliases"] = ["pos"]  # "posed" would stand for both "pose" and "pos"
    with pytest.raises(ValueError, match=r"^geographic: ambiguous terms: 'posed' inflects both"):
        GeographyParams.from_dict(data)

"""Structural validation of raw events: each problem named by its field path."""

from __future__ import annotations

import math

import pytest

from omen.domain.events import Location, Movement
from omen.domain.validation import FieldViolation, validate_event
from tests.support import raw_event


def fields(event) -> list[str]:
    return [v.field for v in validate_event(event)]


def test_a_well_formed_event_has_no_violations():
    assert validate_event(raw_event()) == []


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (
            {"probability": 1.5},
            FieldViolation("event.probability", "must be within [0, 1], got 1.5"),
        ),
        (
            {"probability": -0.01},
            FieldViolation("event.probability", "must be within [0, 1], got -0.01"),
        ),
        (
            {"probability": math.nan},
            FieldViolation("event.probability", "must be a finite number within [0, 1], got nan"),
        ),
        (
            {"liquidity_usd": -1.0},
            FieldViolation("event.liquidity_usd", "must be a finite number >= 0, got -1"),
        ),
        ({"event_id": ""}, FieldViolation("event.event_id", "is required and must not be blank")),
        (
            {"event_id": "x" * 257},
            FieldViolation("event.event_id", "must be at most 256 characters, got 257"),
        ),
        ({"num_traders": -1}, FieldViolation("event.num_traders", "must be >= 0, got -1")),
    ],
)
def test_each_problem_is_described_precisely(overrides, expected):
    assert validate_event(raw_event(**overrides)) == [expected]


def test_boundaries_are_inclusive():
    assert validate_event(raw_event(probability=0.0)) == []
    assert validate_event(raw_event(probability=1.0)) == []
    assert validate_event(raw_event(title="t" * 1000, liquidity_usd=0.0)) == []
    assert validate_event(raw_event(locations=(Location(-90, 180), Location(90, -180)))) == []


def test_nested_fields_are_named_by_index():
    event = raw_event(
        locations=(Location(0, 0), Location(0, 181, name="n" * 257)),
        keywords=("ok",) * 3 + (" ",),
        source_metrics=(("spread", math.inf),),
    )
    assert fields(event) == [
        "event.keywords[3]",
        "event.locations[1].lon",
        "event.locations[1].name",
        'event.source_metrics["spread"]',
    ]


def test_movement_must_agree_with_the_probability():
    ok = raw_event(probability=0.6, movement=Movement(0.4, 0.2, 24))
    assert validate_event(ok) == []
    off = raw_event(probability=0.6, movement=Movement(0.4, 0.3, 24))
    assert fields(off) == ["event.movement.delta"]
    assert fields(raw_event(movement=Movement(0.62, 0.0, 0))) == ["event.movement.window_hours"]


def test_too_many_entries_are_reported_once_not_per_entry():
    event = raw_event(keywords=tuple(f"k{i}" for i in range(65)))
    assert fields(event) == ["event.keywords"]


def test_every_violation_is_reported_together():
    event = raw_event(event_id="", source="", title="", probability=2.0, volume_usd=-1.0)
    assert fields(event) == [
        "event.event_id",
        "event.source",
        "event.title",
        "event.probability",
        "event.volume_usd",
    ]


def test_a_source_metric_key_may_appear_only_once():
    event = raw_event(source_metrics=(("spread", 0.1), ("spread", 0.2)))
    assert validate_event(event) == [
        FieldViolation('event.source_metrics["spread"]', "key appears more than once")
    ]

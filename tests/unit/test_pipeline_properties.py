"""Property tests: no well-formed event crashes the pipeline, and every score stays in [0, 1]."""

from __future__ import annotations

import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from omen.domain.events import Location, MarketState, Movement, RawEvent
from omen.domain.signals import Outcome
from omen.domain.validation import validate_event
from tests.support import T0_NS, make_pipeline

PIPELINE = make_pipeline()
WORDS = [
    "shipping",
    "red",
    "sea",
    "houthi",
    "attacks",
    "strait",
    "of",
    "hormuz",
    "port",
    "sport",
    "europe",
    "euro",
    "tariffs",
    "sanctions",
    "oil",
    "strike",
    "air",
    "nba",
    "oscar",
    "rain",
    "paris",
    "typhoon",
    "shanghai",
    "panama",
    "canal",
    "china",
    "taiwan",
    "blockade",
    "the",
    "will",
    "ceasefire",
    "reopen",
    "drought",
    "Bab-el-Mandeb",
    "ports",
    "é",
    "🚢",
    "2026",
]
text = st.lists(st.sampled_from(WORDS) | st.text(max_size=12), max_size=40).map(" ".join)
unit = st.floats(0.0, 1.0, allow_nan=False)
money = st.floats(0.0, 1e9, allow_nan=False)
times = st.none() | st.integers(T0_NS - 10**17, T0_NS + 10**17)


@st.composite
def events(draw) -> RawEvent:
    probability = draw(unit)
    movement = None
    if draw(st.booleans()):
        previous = draw(unit)
        movement = Movement(previous, probability - previous, draw(st.floats(0.01, 1e4)))
    return RawEvent(
        event_id=draw(st.text(min_size=1, max_size=20).filter(str.strip)),
        source=draw(st.sampled_from(["polymarket", "other", "PolyMarket"])),
        market_id=draw(st.sampled_from(["", "m1", "m2", "m3"])),
        title=draw(text.filter(str.strip)),
        description=draw(text),
        probability=probability,
        observed_at_ns=T0_NS,
        movement=movement,
        liquidity_usd=draw(money),
        volume_usd=draw(money),
        num_traders=draw(st.integers(0, 10**6)),
        locations=tuple(
            Location(
                draw(st.floats(-90, 90)),
                draw(st.floats(-180, 180)),
                "",
                draw(st.sampled_from(["", "US", "CN", "XX", "ye"])),
            )
            for _ in range(draw(st.integers(0, 3)))
        ),
        created_at_ns=draw(times),
        resolution_date_ns=draw(times),
        market_state=draw(st.sampled_from(list(MarketState))),
        outcome_prices=tuple(draw(st.lists(unit, max_size=3))),
    )


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events())
def test_no_well_formed_event_crashes_the_pipeline_and_every_score_is_a_fraction(event):
    if validate_event(event):
        return  # the server answers INVALID_ARGUMENT before the pipeline sees it
    result = PIPELINE.process(event)
    assert result.outcome in (Outcome.EMITTED, Outcome.REJECTED, Outcome.DUPLICATE)
    assert len(result.validation_results) == 5
    for r in result.validation_results:
        assert 0.0 <= r.score <= 1.0 and math.isfinite(r.score), r
        assert r.reason
    if result.outcome is Outcome.REJECTED:
        assert result.reason and result.signal is None
    else:
        s = result.signal
        assert 0.3 <= s.confidence_score <= 1.0
        assert (
            0.0
            <= s.confidence_interval.lower
            <= s.confidence_score
            <= s.confidence_interval.upper
            <= 1.0
        )
        assert all(0.0 <= f.value <= 1.0 for f in s.confidence_factors)
        assert abs(sum(f.weight for f in s.confidence_factors) - 1.0) < 1e-9
        assert list(s.geographic.regions) == sorted(set(s.geographic.regions))
        assert list(s.impact_hints.domains) == sorted(set(s.impact_hints.domains))

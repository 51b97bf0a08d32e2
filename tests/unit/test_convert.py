"""omen.v1 messages <-> domain values: presence, timestamps, enums, lossless round trips."""

from __future__ import annotations

from google.protobuf import timestamp_pb2

from omen._proto import service_pb2, signal_pb2
from omen.domain.events import Location, MarketState, Movement
from omen.domain.signals import Outcome
from omen.entrypoints.grpc.convert import event_from_proto, process_response_to_proto
from tests.support import NS, T0_NS, event_message, make_pipeline


def test_every_field_of_a_wire_event_reaches_the_domain():
    msg = event_message(
        movement=signal_pb2.Movement(previous=0.5, delta=0.12, window_hours=24),
        created_at=timestamp_pb2.Timestamp(seconds=1_700_000_000, nanos=5),
        resolution_date=timestamp_pb2.Timestamp(seconds=1_800_000_000),
        observed_at=timestamp_pb2.Timestamp(seconds=1_795_000_000, nanos=999_999_999),
        source_metrics={"spread": 0.01, "best_bid": 0.61},
        raw_payload=b"{}",
        market_state=signal_pb2.MARKET_STATE_OPEN,
        outcome_prices=[0.62, 0.38],
    )
    event, violations = event_from_proto(msg, received_at_ns=1)
    assert violations == []
    assert event.movement == Movement(0.5, 0.12, 24)
    assert event.created_at_ns == 1_700_000_000 * NS + 5
    assert event.resolution_date_ns == 1_800_000_000 * NS
    assert event.observed_at_ns == 1_795_000_000 * NS + 999_999_999
    assert event.source_metrics == (("best_bid", 0.61), ("spread", 0.01))
    assert event.locations == (Location(15.5, 41.9, "Red Sea", "YE"),)
    assert event.market_state is MarketState.OPEN
    assert event.outcome_prices == (0.62, 0.38)
    assert event.keywords == ("shipping", "red sea")


def test_an_unset_observed_at_takes_the_receive_time():
    event, _ = event_from_proto(event_message(), received_at_ns=T0_NS)
    assert event.observed_at_ns == T0_NS
    assert event.created_at_ns is None and event.resolution_date_ns is None


def test_pre_epoch_timestamps_are_exact():
    msg = event_message(created_at=timestamp_pb2.Timestamp(seconds=-1, nanos=500_000_000))
    event, violations = event_from_proto(msg, received_at_ns=0)
    assert violations == []
    assert event.created_at_ns == -NS // 2


def test_presence_enum_and_timestamp_problems_are_violations():
    msg = event_message(probability=None, market_state=42)
    msg.resolution_date.seconds = 300_000_000_000
    _, violations = event_from_proto(msg, received_at_ns=0)
    assert [v.field for v in violations] == [
        "event.probability",
        "event.market_state",
        "event.resolution_date",
    ]


def test_a_signal_survives_the_trip_to_the_wire_and_back_unchanged():
    pipeline = make_pipeline()
    event, _ = event_from_proto(
        event_message(resolution_date=timestamp_pb2.Timestamp(seconds=1_800_000_000)), T0_NS
    )
    result = pipeline.process(event, trace_id="0af7651916cd43dd8448eb211c80319c")
    assert result.outcome is Outcome.EMITTED
    response = process_response_to_proto(result)
    parsed = service_pb2.ProcessResponse.FromString(response.SerializeToString())
    s = parsed.signal
    assert parsed.outcome == service_pb2.OUTCOME_EMITTED
    assert s.signal_id == result.signal.signal_id
    assert s.trace_id == "0af7651916cd43dd8448eb211c80319c"
    assert s.observed_at.ToNanoseconds() == T0_NS
    assert s.temporal.resolution_date.seconds == 1_800_000_000
    assert [r.rule_name for r in s.validation_results] == [
        "liquidity",
        "semantic",
        "geographic",
        "anomaly",
        "freshness",
    ]
    assert s.impact_hints.routing_key == "infrastructure:m-1"
    assert list(s.geographic.chokepoints) == ["Bab el-Mandeb", "Suez Canal"]
    assert s.signal_type == signal_pb2.SIGNAL_TYPE_SHIPPING_ROUTE_RISK
    assert not parsed.HasField("ledger_position")  # no ledger yet: documented as unset


def test_serialisation_is_byte_identical_for_equal_results():
    pipeline = make_pipeline()
    event, _ = event_from_proto(event_message(), T0_NS)
    first = process_response_to_proto(pipeline.process(event)).signal
    again = process_response_to_proto(pipeline.process(event)).signal  # the duplicate's signal
    assert first.SerializeToString(deterministic=True) == again.SerializeToString(
        deterministic=True
    )

"""The publishers' JSON: message_json equals protobuf's own json_format, field for field."""

from __future__ import annotations

import math

import pytest
from google.protobuf import json_format, timestamp_pb2

from omen._proto import service_pb2, signal_pb2
from omen.adapters.outbox.envelope import message_json
from omen.adapters.proto_codec import signal_to_proto
from tests.support import make_pipeline, raw_event


def _reference(message):
    return json_format.MessageToDict(message, preserving_proto_field_name=True)


def _signals():
    pipeline = make_pipeline()
    out = []
    for i in range(20):
        result = pipeline.process(
            raw_event(event_id=f"e-{i}", market_id=f"m-{i}", probability=0.4 + i / 100)
        )
        if result.signal is not None:
            out.append(signal_to_proto(result.signal))
    assert out
    return out


def test_signals_encode_exactly_as_json_format_does():
    for message in _signals():
        assert message_json(message) == _reference(message)


@pytest.mark.parametrize(
    "message",
    [
        signal_pb2.RawSignalEvent(),
        signal_pb2.RawSignalEvent(
            event_id="e",
            probability=math.nan,
            liquidity_usd=math.inf,
            volume_usd=-math.inf,
            num_traders=-(2**40),
            source_metrics={"spread": 0.01, "b": -2.5},
            raw_payload=b"\x00\xffraw",
            keywords=["a", "b"],
            observed_at=timestamp_pb2.Timestamp(seconds=1_795_000_000, nanos=5_000),
        ),
        signal_pb2.OmenSignal(ledger_sequence=2**63, confidence_level=999, signal_id="x"),
        service_pb2.PublisherStatus(breaker_state=2, lag_seconds=1.5, cursor_lsn=7),
    ],
)
def test_edge_values_encode_exactly_as_json_format_does(message):
    assert message_json(message) == _reference(message)

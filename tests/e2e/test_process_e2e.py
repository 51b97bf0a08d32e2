"""SignalService over a real `omen serve` process, through the generated stub."""

from __future__ import annotations

import math

import grpc
import pytest
from google.protobuf import timestamp_pb2
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status

from omen._proto import service_pb2, service_pb2_grpc, signal_pb2
from tests.support import TEST_API_KEY, process_request

pytestmark = pytest.mark.e2e


def field_violations(error: grpc.RpcError) -> dict[str, str]:
    status = rpc_status.from_call(error)
    assert status is not None, "INVALID_ARGUMENT must carry google.rpc rich details"
    bad_request = error_details_pb2.BadRequest()
    assert status.details[0].Unpack(bad_request)
    return {v.field: v.description for v in bad_request.field_violations}


def test_process_emits_a_signal_for_a_liquid_market(signals, auth):
    response = signals.Process(process_request(event_id="emit-1"), metadata=auth, timeout=5)
    assert response.outcome == service_pb2.OUTCOME_EMITTED
    signal = response.signal
    assert signal.signal_id.startswith("sig-") and len(signal.signal_id) == 36
    assert len(signal.input_event_hash) == 64 == len(response.input_event_hash)
    assert signal.input_event_hash == response.input_event_hash
    assert signal.source_event_id == "emit-1"
    assert signal.probability == pytest.approx(0.62)
    assert signal.status == signal_pb2.SIGNAL_STATUS_ACTIVE
    assert signal.confidence_level == signal_pb2.CONFIDENCE_LEVEL_HIGH
    assert signal.ruleset_version == "2026.11.2"
    assert [r.rule_name for r in response.validation_results] == [
        "liquidity",
        "semantic",
        "geographic",
        "anomaly",
        "freshness",
    ]
    assert {r.status for r in response.validation_results} == {signal_pb2.RULE_STATUS_PASSED}
    assert signal.signal_type == signal_pb2.SIGNAL_TYPE_SHIPPING_ROUTE_RISK
    assert signal.category == signal_pb2.SIGNAL_CATEGORY_INFRASTRUCTURE
    assert signal.impact_hints.direction == signal_pb2.IMPACT_DIRECTION_NEGATIVE
    assert list(signal.geographic.chokepoints) == ["Bab el-Mandeb", "Suez Canal"]
    assert list(signal.geographic.regions) == ["AFRICA", "MIDDLE_EAST", "YE"]
    assert signal.generated_at == signal.observed_at


def test_sending_the_same_event_again_answers_duplicate_of_the_first_signal(signals, auth):
    first = signals.Process(process_request(event_id="dup-1"), metadata=auth, timeout=5)
    later = process_request(event_id="dup-1")
    # A later observation of the unchanged market is still the same event.
    later.event.observed_at.CopyFrom(timestamp_pb2.Timestamp(seconds=1_900_000_000))
    later.event.raw_payload = b'{"re-polled": true}'
    again = signals.Process(later, metadata=auth, timeout=5)
    assert first.outcome == service_pb2.OUTCOME_EMITTED
    assert again.outcome == service_pb2.OUTCOME_DUPLICATE
    assert again.duplicate_of == first.signal.signal_id
    assert again.signal == first.signal
    assert again.input_event_hash == first.input_event_hash


def test_a_one_cent_change_of_liquidity_is_a_new_event(signals, auth):
    a = signals.Process(process_request(event_id="cent", liquidity_usd=5000.00), metadata=auth)
    b = signals.Process(process_request(event_id="cent", liquidity_usd=5000.01), metadata=auth)
    assert a.outcome == b.outcome == service_pb2.OUTCOME_EMITTED
    assert a.signal.signal_id != b.signal.signal_id


def test_a_thin_market_is_rejected_with_every_rule_result_and_the_reason(signals, auth):
    response = signals.Process(
        process_request(event_id="thin-1", liquidity_usd=500.0), metadata=auth, timeout=5
    )
    assert response.outcome == service_pb2.OUTCOME_REJECTED
    assert not response.HasField("signal")
    assert response.reason == "liquidity: liquidity $500.00 < $1,000.00"
    assert len(response.validation_results) == 5  # every rule ran, the first failure decided
    result = response.validation_results[0]
    assert (result.rule_name, result.status) == ("liquidity", signal_pb2.RULE_STATUS_FAILED)
    assert result.score == pytest.approx(0.05)
    assert {r.status for r in response.validation_results[1:]} == {signal_pb2.RULE_STATUS_PASSED}


def test_an_off_topic_market_is_rejected_by_the_semantic_rule(signals, auth):
    response = signals.Process(
        process_request(
            event_id="nba-1",
            title="Will the Lakers win the NBA championship?",
            description="",
            locations=[],
        ),
        metadata=auth,
    )
    assert response.outcome == service_pb2.OUTCOME_REJECTED
    assert response.reason.startswith("semantic: off-topic: sports")


def test_get_signal_returns_an_emitted_signal_and_not_found_otherwise(signals, auth):
    emitted = signals.Process(process_request(event_id="get-1"), metadata=auth).signal
    assert (
        signals.GetSignal(service_pb2.GetSignalRequest(signal_id=emitted.signal_id), metadata=auth)
        == emitted
    )
    with pytest.raises(grpc.RpcError) as missing:
        signals.GetSignal(service_pb2.GetSignalRequest(signal_id="sig-" + "0" * 32), metadata=auth)
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as bad:
        signals.GetSignal(service_pb2.GetSignalRequest(signal_id="nope"), metadata=auth)
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "signal_id" in field_violations(bad.value)


def test_list_signals_pages_through_emitted_signals_in_order(signals, auth):
    ids = [
        signals.Process(process_request(event_id=f"list-{i}"), metadata=auth).signal.signal_id
        for i in range(5)
    ]
    seen, token = [], ""
    while True:
        page = signals.ListSignals(
            service_pb2.ListSignalsRequest(page_size=2, page_token=token), metadata=auth
        )
        seen += [s.signal_id for s in page.signals]
        assert len(page.signals) <= 2
        token = page.next_page_token
        if not token:
            break
    assert [i for i in seen if i in ids] == ids
    with pytest.raises(grpc.RpcError) as bad:
        signals.ListSignals(service_pb2.ListSignalsRequest(page_token="garbage!"), metadata=auth)
    assert "page_token" in field_violations(bad.value)


def test_probability_above_one_is_invalid_argument_naming_probability(signals, auth):
    with pytest.raises(grpc.RpcError) as error:
        signals.Process(process_request(probability=1.5), metadata=auth, timeout=5)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field_violations(error.value) == {"event.probability": "must be within [0, 1], got 1.5"}


@pytest.mark.parametrize(
    ("overrides", "field", "fragment"),
    [
        ({"probability": math.nan}, "event.probability", "finite"),
        ({"probability": None}, "event.probability", "is required"),
        ({"event_id": ""}, "event.event_id", "is required"),
        ({"source": "  "}, "event.source", "is required"),
        ({"title": ""}, "event.title", "is required"),
        ({"liquidity_usd": -1.0}, "event.liquidity_usd", ">= 0"),
        ({"volume_usd": math.inf}, "event.volume_usd", ">= 0"),
        ({"num_traders": -3}, "event.num_traders", ">= 0"),
        ({"title": "x" * 1001}, "event.title", "at most 1000 characters"),
        ({"keywords": ["ok", ""]}, "event.keywords[1]", "is required"),
        (
            {"locations": [signal_pb2.Location(lat=91, lon=0)]},
            "event.locations[0].lat",
            "within [-90, 90]",
        ),
        ({"outcome_prices": [0.5, 1.2]}, "event.outcome_prices[1]", "within [0, 1]"),
        ({"market_state": 9}, "event.market_state", "unknown value 9"),
        (
            {"movement": signal_pb2.Movement(previous=0.5, delta=0.5, window_hours=24)},
            "event.movement.delta",
            "must equal probability",
        ),
        (
            {"created_at": timestamp_pb2.Timestamp(seconds=1, nanos=-5)},
            "event.created_at",
            "valid timestamp",
        ),
        ({"raw_payload": b"x" * (256 * 1024 + 1)}, "event.raw_payload", "at most 262144 bytes"),
    ],
)
def test_malformed_events_are_invalid_argument_naming_the_field(
    signals, auth, overrides, field, fragment
):
    with pytest.raises(grpc.RpcError) as error:
        signals.Process(process_request(**overrides), metadata=auth, timeout=5)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    violations = field_violations(error.value)
    assert field in violations, violations
    assert fragment in violations[field]


def test_every_violation_of_one_event_is_reported(signals, auth):
    with pytest.raises(grpc.RpcError) as error:
        signals.Process(
            process_request(event_id="", title="", probability=-0.1, liquidity_usd=-5),
            metadata=auth,
        )
    assert set(field_violations(error.value)) == {
        "event.event_id",
        "event.title",
        "event.probability",
        "event.liquidity_usd",
    }


def test_a_missing_event_is_invalid_argument(signals, auth):
    with pytest.raises(grpc.RpcError) as error:
        signals.Process(service_pb2.ProcessRequest(), metadata=auth)
    assert field_violations(error.value) == {"event": "is required"}


def test_an_oversize_event_is_invalid_argument_naming_the_event(signals, auth):
    # Above max_event_bytes (1 MiB) but within the transport limit (16 MiB): our own check.
    request = process_request(raw_payload=b"p" * (2 * 1024 * 1024))
    with pytest.raises(grpc.RpcError) as error:
        signals.Process(request, metadata=auth, timeout=10)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field_violations(error.value) == {
        "event": f"must be at most 1048576 bytes serialised, got {request.event.ByteSize()}"
    }


def test_a_message_above_the_transport_limit_is_refused_by_grpc(signals, auth):
    request = process_request(raw_payload=b"p" * (17 * 1024 * 1024))
    with pytest.raises(grpc.RpcError) as error:
        signals.Process(request, metadata=auth, timeout=20)
    assert error.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


@pytest.mark.parametrize("metadata", [None, [("x-api-key", "wrong-key-0000")]])
def test_omen_services_refuse_calls_without_a_valid_api_key(channel, metadata):
    signals = service_pb2_grpc.SignalServiceStub(channel)
    ledger = service_pb2_grpc.LedgerServiceStub(channel)
    reconcile = service_pb2_grpc.ReconcileServiceStub(channel)
    calls = [
        lambda: signals.Process(process_request(), metadata=metadata),
        lambda: signals.GetSignal(service_pb2.GetSignalRequest(), metadata=metadata),
        lambda: list(signals.WatchSignals(service_pb2.WatchSignalsRequest(), metadata=metadata)),
        lambda: list(signals.ProcessStream(iter(()), metadata=metadata)),
        lambda: ledger.ListPartitions(service_pb2.ListPartitionsRequest(), metadata=metadata),
        lambda: reconcile.Reconcile(service_pb2.ReconcileRequest(), metadata=metadata),
    ]
    for call in calls:
        with pytest.raises(grpc.RpcError) as error:
            call()
        assert error.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert "x-api-key" in error.value.details()


def test_health_is_serving_and_needs_no_key(channel):
    stub = health_pb2_grpc.HealthStub(channel)
    for service in ("", "omen.v1.SignalService", "omen.v1.LedgerService"):
        reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING


@pytest.mark.parametrize(
    ("stub_name", "method", "request_message", "streaming", "names"),
    [
        ("SignalServiceStub", "PullSource", service_pb2.PullSourceRequest(), "unary", "source"),
        (
            "ReconcileServiceStub",
            "Reconcile",
            service_pb2.ReconcileRequest(),
            "unary",
            "reconciler",
        ),
        (
            "ReconcileServiceStub",
            "ReconcileStream",
            service_pb2.ReconcileRequest(),
            "unary_stream",
            "reconciler",
        ),
    ],
)
def test_rpcs_not_built_yet_answer_unimplemented_naming_what_is_missing(
    channel, auth, stub_name, method, request_message, streaming, names
):
    stub = getattr(service_pb2_grpc, stub_name)(channel)
    with pytest.raises(grpc.RpcError) as error:
        if streaming == "stream_stream":
            list(getattr(stub, method)(iter([service_pb2.ProcessStreamRequest()]), metadata=auth))
        elif streaming == "unary_stream":
            list(getattr(stub, method)(request_message, metadata=auth))
        else:
            getattr(stub, method)(request_message, metadata=auth)
    assert error.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert error.value.details().startswith(f"{method} is not implemented by this server yet: ")
    assert names in error.value.details()


def test_valid_keys_are_accepted_in_any_configured_position(channel):
    response = service_pb2_grpc.SignalServiceStub(channel).Process(
        process_request(event_id="key-ok"), metadata=[("x-api-key", TEST_API_KEY)]
    )
    assert response.outcome == service_pb2.OUTCOME_EMITTED

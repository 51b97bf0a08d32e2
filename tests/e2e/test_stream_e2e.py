"""SignalService.ProcessStream over a real `omen serve` process, through the generated stub."""

from __future__ import annotations

import queue
import socket
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status

from omen._proto import service_pb2, service_pb2_grpc
from tests.support import (
    TEST_API_KEY,
    ServerProcess,
    event_message,
    process_request,
    start_server,
    wait_until,
)

pytestmark = pytest.mark.e2e

AUTH = [("x-api-key", TEST_API_KEY)]
EMITTED = service_pb2.OUTCOME_EMITTED
DUPLICATE = service_pb2.OUTCOME_DUPLICATE
REJECTED = service_pb2.OUTCOME_REJECTED
INVALID = service_pb2.OUTCOME_INVALID
_END = object()


def item(correlation_id: str, **overrides: Any) -> service_pb2.StreamEvent:
    """A StreamEvent; event_id defaults to the correlation id (so each one is a new event)."""
    overrides.setdefault("event_id", correlation_id)
    return service_pb2.StreamEvent(correlation_id=correlation_id, event=event_message(**overrides))


def message(*events: service_pb2.StreamEvent) -> service_pb2.ProcessStreamRequest:
    return service_pb2.ProcessStreamRequest(events=events)


def run_stream(
    stub: service_pb2_grpc.SignalServiceStub, messages: list[service_pb2.ProcessStreamRequest]
) -> list[service_pb2.ProcessStreamResponse]:
    return list(stub.ProcessStream(iter(messages), metadata=AUTH, timeout=30))


class OpenStream:
    """A stream the test feeds one message at a time (the request iterator blocks between)."""

    def __init__(self, stub: service_pb2_grpc.SignalServiceStub, timeout: float = 30):
        self._outbox: queue.Queue[Any] = queue.Queue()
        self.call = stub.ProcessStream(self._requests(), metadata=AUTH, timeout=timeout)

    def _requests(self) -> Iterator[service_pb2.ProcessStreamRequest]:
        while (request := self._outbox.get()) is not _END:
            yield request

    def send(self, request: service_pb2.ProcessStreamRequest) -> None:
        self._outbox.put(request)

    def exchange(self, request: service_pb2.ProcessStreamRequest) -> service_pb2.StreamResult:
        self.send(request)
        return next(self.call)

    def close(self) -> None:
        self._outbox.put(_END)


def outcomes(response: service_pb2.ProcessStreamResponse) -> list[tuple[str, int]]:
    return [(r.correlation_id, r.outcome) for r in response.results]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def metric(port: int, name: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        for line in reply.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    raise AssertionError(f"no metric {name} on 127.0.0.1:{port}")


@pytest.fixture
def stub(channel: grpc.Channel) -> service_pb2_grpc.SignalServiceStub:
    return service_pb2_grpc.SignalServiceStub(channel)


# ------------------------------------------------------------------ results


def test_a_stream_batch_with_one_malformed_event_processes_its_neighbours(stub):
    [response] = run_stream(
        stub,
        [
            message(
                item("ok-1"),
                item("thin-1", liquidity_usd=500.0),
                item("bad-1", probability=1.5),
                service_pb2.StreamEvent(correlation_id="empty-1"),  # no event at all
                item("ok-2", market_id="m-2"),
            )
        ],
    )
    assert outcomes(response) == [
        ("ok-1", EMITTED),
        ("thin-1", REJECTED),
        ("bad-1", INVALID),
        ("empty-1", INVALID),
        ("ok-2", EMITTED),
    ]
    ok1, thin, bad, empty, ok2 = response.results
    for emitted in (ok1, ok2):
        assert emitted.signal_id == emitted.signal.signal_id
        assert emitted.signal.source_event_id == emitted.correlation_id
        assert emitted.ledger_position.sequence > 0
    assert thin.reason == "liquidity: liquidity $500.00 < $1,000.00"
    assert thin.validation_results[0].rule_name == "liquidity"
    assert len(thin.validation_results) == 5 and not thin.signal_id
    assert [(v.field, v.description) for v in bad.field_violations] == [
        ("events[2].event.probability", "must be within [0, 1], got 1.5")
    ]
    assert "events[2].event.probability" in bad.reason
    assert [v.field for v in empty.field_violations] == ["events[3].event"]
    assert not bad.signal_id and not bad.HasField("ledger_position")


def _delimited(field: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field, built by hand (so a test can send broken bytes)."""
    size, length = len(payload), b""
    while True:
        byte, size = size & 0x7F, size >> 7
        length += bytes([byte | (0x80 if size else 0)])
        if not size:
            return bytes([field << 3 | 2]) + length + payload


def raw_stream(channel: grpc.Channel, messages: list[bytes]) -> Any:
    """ProcessStream with hand-made request bytes (the server sees exactly these)."""
    call = channel.stream_stream(
        "/omen.v1.SignalService/ProcessStream",
        request_serializer=None,
        response_deserializer=service_pb2.ProcessStreamResponse.FromString,
    )
    return call(iter(messages), metadata=AUTH, timeout=30)


def test_an_event_whose_bytes_are_not_a_raw_signal_event_fails_alone(channel):
    good = [item(f"wire-ok-{i}").SerializeToString() for i in range(2)]
    # A StreamEvent holding a correlation id and an `event` whose bytes end inside a varint.
    broken = _delimited(1, b"wire-bad") + _delimited(2, b"\x08\xff")
    request = b"".join(_delimited(1, e) for e in (good[0], broken, good[1]))
    [response] = list(raw_stream(channel, [request]))
    assert outcomes(response) == [
        ("wire-ok-0", EMITTED),
        ("wire-bad", INVALID),
        ("wire-ok-1", EMITTED),
    ]
    [violation] = response.results[1].field_violations
    assert violation.field == "events[1].event"
    assert violation.description.startswith("is not a valid RawSignalEvent")


def test_a_message_that_is_not_a_request_ends_the_stream_after_answering_those_before(channel):
    first = message(item("frame-ok")).SerializeToString()
    truncated = _delimited(1, item("frame-cut").SerializeToString())[:-3]
    responses = raw_stream(channel, [first, truncated, first])
    assert outcomes(next(responses)) == [("frame-ok", EMITTED)]
    with pytest.raises(grpc.RpcError) as raised:
        next(responses)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "message 1 of this stream is not a valid ProcessStreamRequest" in (
        raised.value.details() or ""
    )


def test_each_message_gets_one_response_with_its_results_in_order(stub):
    sizes = [1, 100, 3, 17]
    messages = [
        message(*(item(f"order-{m}-{i}", market_id=f"order-{m}-{i}") for i in range(n)))
        for m, n in enumerate(sizes)
    ]
    responses = run_stream(stub, messages)
    assert [len(r.results) for r in responses] == sizes
    for request, response in zip(messages, responses, strict=True):
        assert [r.correlation_id for r in response.results] == [
            e.correlation_id for e in request.events
        ]
    results = [r for response in responses for r in response.results]
    assert {r.outcome for r in results} == {EMITTED}
    positions = [(r.ledger_position.partition, r.ledger_position.sequence) for r in results]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)


def test_a_message_larger_than_one_part_is_answered_as_one_in_order(stub):
    """The server decides a large message in parts (128 events): one response still answers
    every event in order, with malformed events failing alone by their index in the message
    and duplicates found across parts."""
    size = 300
    bad = {5, 130, 259, 299}  # in the first, second and third part, and the last event
    events = []
    for i in range(size):
        if i in bad:
            events.append(item(f"big-{i}", probability=1.5))
        elif i == 200:
            events.append(item("big-200", event_id="big-3", market_id="big-3"))  # of part one
        else:
            events.append(item(f"big-{i}", market_id=f"big-{i}"))
    full = message(*events)
    basic = message(*(item(f"big-basic-{i}", market_id=f"big-b-{i}") for i in range(size)))
    basic.view = service_pb2.RESULT_VIEW_BASIC
    response, basic_response = run_stream(stub, [full, basic])
    assert [r.correlation_id for r in response.results] == [e.correlation_id for e in events]
    for i, result in enumerate(response.results):
        if i in bad:
            assert result.outcome == INVALID, i
            [violation] = result.field_violations
            assert violation.field == f"events[{i}].event.probability"
        elif i == 200:
            assert result.outcome == DUPLICATE
            assert result.duplicate_of == response.results[3].signal_id
        else:
            assert result.outcome == EMITTED, (i, result)
            assert result.signal.source_event_id == f"big-{i}"
    assert [(r.outcome, r.HasField("signal")) for r in basic_response.results] == [
        (EMITTED, False)
    ] * size
    positions = [
        (r.ledger_position.partition, r.ledger_position.sequence)
        for r in [*response.results, *basic_response.results]
        if r.outcome == EMITTED
    ]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)


def test_ledger_positions_returned_are_those_get_signal_reports(stub):
    [response] = run_stream(stub, [message(*(item(f"pos-{i}") for i in range(5)))])
    for result in response.results:
        stored = stub.GetSignal(
            service_pb2.GetSignalRequest(signal_id=result.signal_id), metadata=AUTH, timeout=5
        )
        assert stored.ledger_partition == result.ledger_position.partition
        assert stored.ledger_sequence == result.ledger_position.sequence
        assert stored == result.signal


def test_a_basic_view_message_is_answered_without_the_signals(stub):
    basic = message(
        *(item(f"basic-{i}") for i in range(3)), item("basic-0-again", event_id="basic-0")
    )
    basic.view = service_pb2.RESULT_VIEW_BASIC
    full = message(item("full-0"))
    full.view = service_pb2.RESULT_VIEW_FULL
    unset = message(item("unset-0"))
    basic_response, full_response, unset_response = run_stream(stub, [basic, full, unset])
    *emitted, again = basic_response.results
    assert [(r.outcome, r.HasField("signal")) for r in emitted] == [(EMITTED, False)] * 3
    assert (again.outcome, again.duplicate_of) == (DUPLICATE, emitted[0].signal_id)
    for result in emitted:
        stored = stub.GetSignal(
            service_pb2.GetSignalRequest(signal_id=result.signal_id), metadata=AUTH, timeout=5
        )
        assert stored.signal_id == result.signal_id
        assert stored.ledger_partition == result.ledger_position.partition
        assert stored.ledger_sequence == result.ledger_position.sequence
    # The view is per message: the next ones on the same stream carry their signals again.
    for response in (full_response, unset_response):
        [result] = response.results
        assert result.outcome == EMITTED and result.signal.signal_id == result.signal_id


def test_duplicates_are_found_within_a_message_across_messages_and_across_streams(stub):
    first, second = run_stream(
        stub,
        [
            message(item("dup-a"), item("dup-a-again", event_id="dup-a")),
            message(item("dup-a-later", event_id="dup-a"), item("dup-b", market_id="m-b")),
        ],
    )
    original = first.results[0]
    assert original.outcome == EMITTED
    for again in (first.results[1], second.results[0]):
        assert again.outcome == DUPLICATE
        assert again.signal_id == again.duplicate_of == original.signal_id
        assert not again.HasField("signal")
    [other_stream] = run_stream(
        stub, [message(item("dup-b-elsewhere", event_id="dup-b", market_id="m-b"))]
    )
    assert other_stream.results[0].outcome == DUPLICATE
    assert other_stream.results[0].duplicate_of == second.results[1].signal_id
    unary = stub.Process(process_request(event_id="dup-a"), metadata=AUTH, timeout=5)
    assert unary.outcome == DUPLICATE and unary.duplicate_of == original.signal_id


def test_several_streams_at_once_each_get_their_own_results(stub):
    streams, messages, per_message = 6, 10, 40
    answers: dict[int, list[service_pb2.ProcessStreamResponse]] = {}
    errors: list[BaseException] = []

    def one(s: int) -> None:
        try:
            answers[s] = run_stream(
                stub,
                [
                    message(
                        *(
                            item(f"conc-{s}-{m}-{i}", market_id=f"conc-{s}-{m}-{i}")
                            for i in range(per_message)
                        )
                    )
                    for m in range(messages)
                ],
            )
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(s,)) for s in range(streams)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=50)
    assert not errors
    ids = set()
    for s in range(streams):
        results = [r for response in answers[s] for r in response.results]
        assert [r.correlation_id for r in results] == [
            f"conc-{s}-{m}-{i}" for m in range(messages) for i in range(per_message)
        ]
        assert {r.outcome for r in results} == {EMITTED}
        ids.update(r.signal_id for r in results)
    assert len(ids) == streams * messages * per_message


def test_an_empty_message_gets_an_empty_response_and_an_oversize_one_only_invalid_results(stub):
    oversize = message(*(service_pb2.StreamEvent(correlation_id=f"big-{i}") for i in range(10_001)))
    responses = run_stream(stub, [message(), oversize, message(item("after-big"))])
    assert [len(r.results) for r in responses] == [0, 10_001, 1]
    big = responses[1].results
    assert {r.outcome for r in big} == {INVALID}
    assert [r.correlation_id for r in big[:2]] == ["big-0", "big-1"]
    assert [v.field for v in big[0].field_violations] == ["events"]
    assert "at most 10,000" in big[0].field_violations[0].description
    assert responses[2].results[0].outcome == EMITTED


# ------------------------------------------------------------------ limits


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, int]]:
    """A server allowing 2 open streams and 8 events in flight per stream, with metrics."""
    metrics_port = free_port()
    server = start_server(
        tmp_path_factory.mktemp("limited"),
        OMEN_MAX_STREAMS="2",
        OMEN_MAX_STREAM_EVENTS="8",
        OMEN_METRICS_PORT=str(metrics_port),
        # Each group commit waits 100 ms to fill: a slow ledger, so a fast client would run ahead.
        OMEN_LEDGER_BATCH_DELAY_MS="100",
    )
    try:
        yield server, metrics_port
    finally:
        server.stop()


def test_a_stream_beyond_max_streams_gets_resource_exhausted_with_retry_info(limited):
    server, metrics_port = limited
    with server.channel() as channel:
        stub = service_pb2_grpc.SignalServiceStub(channel)
        held = [OpenStream(stub), OpenStream(stub)]
        for n, stream in enumerate(held):  # both are open and served
            assert stream.exchange(message(item(f"held-{n}"))).results[0].outcome == EMITTED
        assert metric(metrics_port, "omen_process_streams_open") == 2
        with pytest.raises(grpc.RpcError) as refused:
            run_stream(stub, [message(item("third"))])
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "max_streams" in refused.value.details()
        status = rpc_status.from_call(refused.value)
        assert status is not None
        retry = error_details_pb2.RetryInfo()
        assert status.details[0].Unpack(retry)
        assert retry.retry_delay.ToMilliseconds() == 1000
        for stream in held:
            stream.close()
            assert list(stream.call) == []
        # The slots are free again (the handler's cleanup runs just after the call ends).
        responses = wait_until(
            lambda: _try_stream(stub, message(item("after-close"))), 10, "a stream slot"
        )
        assert responses[0].results[0].outcome == EMITTED


def _try_stream(stub, request):
    try:
        return run_stream(stub, [request])
    except grpc.RpcError as exc:
        if exc.code() != grpc.StatusCode.RESOURCE_EXHAUSTED:
            raise
        return None


def test_a_full_stream_stops_reading_so_the_client_is_held_back(limited):
    """8 events in flight per stream, 4-event messages, each commit held ~100 ms: the server
    admits two messages and stops reading, so the client's sender never runs far ahead of the
    responses. Without the limit the server would read (and the client send) nearly all 150
    messages before the first commit; with it the lag stays at what sockets and HTTP/2 windows
    buffer (~20 of these 800 KB messages here)."""
    server, metrics_port = limited
    total, per_message = 150, 4
    sent = [0]
    payload = b"x" * 200_000  # 800 KB a message: transport buffers hold only a few

    def requests() -> Iterator[service_pb2.ProcessStreamRequest]:
        for m in range(total):
            yield message(
                *(
                    item(f"flow-{m}-{i}", market_id=f"flow-{m}-{i}", raw_payload=payload)
                    for i in range(per_message)
                )
            )
            sent[0] += 1

    lags, in_flight, results = [], [], []
    with server.channel() as channel:
        stub = service_pb2_grpc.SignalServiceStub(channel)
        for received, response in enumerate(
            stub.ProcessStream(requests(), metadata=AUTH, timeout=55), start=1
        ):
            results.extend(response.results)
            lags.append(sent[0] - received)
            in_flight.append(metric(metrics_port, "omen_process_stream_events_in_flight"))
    assert len(results) == per_message * total and {r.outcome for r in results} == {EMITTED}
    assert [r.correlation_id for r in results[:5]] == [
        "flow-0-0",
        "flow-0-1",
        "flow-0-2",
        "flow-0-3",
        "flow-1-0",
    ]
    assert max(in_flight) <= 8, f"up to {max(in_flight)} events in flight, limit 8"
    assert max(lags) <= total // 3, f"the client ran up to {max(lags)} messages ahead: {lags}"
    wait_until(
        lambda: metric(metrics_port, "omen_process_stream_events_in_flight") == 0,
        10,
        "in-flight events back to 0",
    )
    # Every streamed event is counted by outcome, as Process counts its calls.
    emitted = metric(metrics_port, 'omen_events_processed_total{outcome="emitted"}')
    assert emitted >= per_message * total


# ------------------------------------------------------------------ cancellation


def test_a_client_that_cancels_mid_stream_loses_nothing_acknowledged(tmp_path: Path):
    metrics_port = free_port()
    settings = {"OMEN_METRICS_PORT": str(metrics_port), "OMEN_MAX_STREAMS": "1"}
    server = start_server(tmp_path, **settings)
    acknowledged: list[service_pb2.StreamResult] = []
    try:
        with server.channel() as channel:
            stub = service_pb2_grpc.SignalServiceStub(channel)
            stream = OpenStream(stub)
            for m in range(5):
                response = stream.exchange(
                    message(*(item(f"cancel-{m}-{i}", market_id=f"c-{m}-{i}") for i in range(20)))
                )
                acknowledged.extend(response.results)
            # More in flight when the client goes away: maybe processed, never acknowledged.
            for m in range(5, 10):
                stream.send(message(*(item(f"cancel-{m}-{i}") for i in range(20))))
            stream.call.cancel()
            stream.close()
            # Nothing leaked: the one stream slot and the in-flight events are given back.
            wait_until(
                lambda: (
                    metric(metrics_port, "omen_process_streams_open") == 0
                    and metric(metrics_port, "omen_process_stream_events_in_flight") == 0
                ),
                10,
                "the cancelled stream's slot and events to be released",
            )
            [again] = run_stream(stub, [message(item("after-cancel"))])
            assert again.results[0].outcome == EMITTED
            health = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=5
            )
            assert health.status == health_pb2.HealthCheckResponse.SERVING
    finally:
        server.proc.kill()  # no graceful shutdown: only what was durable survives
        server.wait(timeout=10)
    assert len(acknowledged) == 100 and {r.outcome for r in acknowledged} == {EMITTED}

    restarted = start_server(tmp_path)
    try:
        with restarted.channel() as channel:
            stub = service_pb2_grpc.SignalServiceStub(channel)
            [resent] = run_stream(
                stub,
                [message(*(item(r.correlation_id, market_id=_market(r)) for r in acknowledged))],
            )
            assert {r.outcome for r in resent.results} == {DUPLICATE}
            assert [r.duplicate_of for r in resent.results] == [r.signal_id for r in acknowledged]
            for original in acknowledged[::17]:
                stored = stub.GetSignal(
                    service_pb2.GetSignalRequest(signal_id=original.signal_id), metadata=AUTH
                )
                assert stored.ledger_sequence == original.ledger_position.sequence
    finally:
        restarted.stop()


def _market(result: service_pb2.StreamResult) -> str:
    _, m, i = result.correlation_id.split("-")
    return f"c-{m}-{i}"


def test_sigterm_ends_an_idle_open_stream_at_once_with_unavailable(tmp_path: Path):
    """An ingester's stream stays open between batches; shutdown must not wait the whole grace
    period for it: the stream is answered up to what was read, then ends with UNAVAILABLE."""
    import signal
    import time

    server = start_server(tmp_path / "data", OMEN_GRACE_PERIOD_S="60")
    try:
        with server.channel() as channel:
            stream = OpenStream(service_pb2_grpc.SignalServiceStub(channel), timeout=90)
            first = stream.exchange(message(item("before-term", market_id="m-term")))
            assert outcomes(first) == [("before-term", EMITTED)]
            started = time.monotonic()
            server.signal(signal.SIGTERM)
            with pytest.raises(grpc.RpcError) as ended:
                next(stream.call)
            assert ended.value.code() == grpc.StatusCode.UNAVAILABLE
            assert "shutting down" in ended.value.details()
            assert server.wait(timeout=30) == 0
            took = time.monotonic() - started
            stream.close()
    finally:
        server.stop()
    assert took < 20, f"shutdown took {took:.1f}s of a 60s grace period"

"""The ledger behind a real `omen serve`: durable answers, restarts, and the LedgerService RPCs."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import grpc
import pytest
from google.protobuf import timestamp_pb2

from omen._proto import service_pb2, service_pb2_grpc
from tests.support import NS, TEST_API_KEY, ServerProcess, event_message, start_server

AUTH = [("x-api-key", TEST_API_KEY)]
# One fixed observation time today (UTC), so every run puts the events in today's partition
# and two servers fed the same events produce byte-identical answers.
OBSERVED_NS = (time.time_ns() // NS) * NS
TODAY = time.strftime("%Y-%m-%d", time.gmtime(OBSERVED_NS / NS))


def _ts(ns: int) -> timestamp_pb2.Timestamp:
    return timestamp_pb2.Timestamp(seconds=ns // NS, nanos=ns % NS)


def _event(i: int, probability: float, market: str = "m-hist") -> service_pb2.ProcessRequest:
    return service_pb2.ProcessRequest(
        event=event_message(
            event_id=f"pm-{market}-{i}",
            market_id=market,
            probability=probability,
            observed_at=_ts(OBSERVED_NS + i * NS),
        )
    )


# Ten quiet points build the market's history; then a jump the history makes anomalous, and a
# return to the old level.
HISTORY = [0.50, 0.51, 0.50, 0.52, 0.51, 0.50, 0.51, 0.52, 0.50, 0.51]
AFTER = [0.95, 0.51]


def _process(server: ServerProcess, requests: list[service_pb2.ProcessRequest]) -> list[bytes]:
    with server.channel() as channel:
        stub = service_pb2_grpc.SignalServiceStub(channel)
        return [
            stub.Process(r, metadata=AUTH, timeout=10).SerializeToString(deterministic=True)
            for r in requests
        ]


def _decode(raw: bytes) -> service_pb2.ProcessResponse:
    response = service_pb2.ProcessResponse()
    response.ParseFromString(raw)
    return response


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> list[bytes]:
    """What one server that never restarts answers to HISTORY + AFTER."""
    server = start_server(tmp_path_factory.mktemp("uninterrupted"))
    try:
        requests = [_event(i, p) for i, p in enumerate(HISTORY + AFTER)]
        return _process(server, requests)
    finally:
        server.stop()


def test_acknowledged_signals_survive_kill_9_and_history_is_rebuilt(
    tmp_path: Path, uninterrupted: list[bytes]
) -> None:
    data = tmp_path / "data"
    first = start_server(data)
    try:
        before = _process(first, [_event(i, p) for i, p in enumerate(HISTORY)])
    finally:
        first.signal(signal.SIGKILL)
        first.wait(timeout=10)
    assert before == uninterrupted[: len(HISTORY)]
    emitted = [_decode(r) for r in before if _decode(r).outcome == service_pb2.OUTCOME_EMITTED]
    assert emitted, "the history events must emit signals for this test to mean anything"

    second = start_server(data)
    try:
        after = _process(second, [_event(len(HISTORY) + i, p) for i, p in enumerate(AFTER)])
        # Every event acknowledged before the kill is a duplicate of its durable signal now.
        again = [_decode(r) for r in _process(second, [_event(0, HISTORY[0])])]
        with second.channel() as channel:
            stub = service_pb2_grpc.SignalServiceStub(channel)
            fetched = stub.GetSignal(
                service_pb2.GetSignalRequest(signal_id=emitted[0].signal.signal_id),
                metadata=AUTH,
                timeout=10,
            )
    finally:
        second.stop()
    assert "rebuilt the duplicate index" in second.log
    # The anomaly statistics were rebuilt from the ledger: the answers after the restart are
    # byte-identical to those of a server that never stopped.
    assert after == uninterrupted[len(HISTORY) :]
    assert again[0].outcome == service_pb2.OUTCOME_DUPLICATE
    assert again[0].duplicate_of == emitted[0].signal.signal_id
    assert again[0].signal == emitted[0].signal
    assert fetched == emitted[0].signal
    assert fetched.ledger_partition == TODAY and fetched.ledger_sequence == 1


def test_history_matters_so_the_restart_test_can_fail(tmp_path: Path, uninterrupted) -> None:
    """A server without the history answers the jump differently: the restart test above would
    catch a rebuild that lost the statistics."""
    fresh = start_server(tmp_path / "fresh")
    try:
        alone = _process(fresh, [_event(len(HISTORY) + i, p) for i, p in enumerate(AFTER)])
    finally:
        fresh.stop()
    with_history = _decode(uninterrupted[len(HISTORY)])
    without = _decode(alone[0])
    assert [r.status for r in with_history.validation_results] != [
        r.status for r in without.validation_results
    ] or with_history.reason != without.reason


@pytest.fixture(scope="module")
def ledger_server(tmp_path_factory: pytest.TempPathFactory):
    server = start_server(tmp_path_factory.mktemp("ledger-rpcs"))
    try:
        yield server
    finally:
        server.stop()


def test_ledger_rpcs_list_read_seal_verify_and_late_partition(ledger_server: ServerProcess):
    responses = [
        _decode(r)
        for r in _process(ledger_server, [_event(i, 0.5 + i / 100, "m-rpc") for i in range(5)])
    ]
    emitted = [r for r in responses if r.outcome == service_pb2.OUTCOME_EMITTED]
    assert emitted
    for response in emitted:
        assert response.ledger_position.partition == TODAY
        assert response.ledger_position.sequence == response.signal.ledger_sequence >= 1
    with ledger_server.channel() as channel:
        ledger = service_pb2_grpc.LedgerServiceStub(channel)
        listed = ledger.ListPartitions(service_pb2.ListPartitionsRequest(), metadata=AUTH)
        [today] = [p for p in listed.partitions if p.name == TODAY]
        assert not today.sealed and today.record_count >= len(emitted)
        assert today.last_sequence == today.record_count and today.size_bytes > 0

        records = list(
            ledger.ReadPartition(service_pb2.ReadPartitionRequest(partition=TODAY), metadata=AUTH)
        )
        by_id = {r.signal.signal_id: r for r in records}
        for response in emitted:
            record = by_id[response.signal.signal_id]
            assert record.signal == response.signal
            assert record.position == response.ledger_position
        tail = list(
            ledger.ReadPartition(
                service_pb2.ReadPartitionRequest(
                    partition=TODAY, from_sequence=emitted[-1].ledger_position.sequence
                ),
                metadata=AUTH,
            )
        )
        assert [r.signal.signal_id for r in tail] == [emitted[-1].signal.signal_id]

        sealed = ledger.SealPartition(
            service_pb2.SealPartitionRequest(partition=TODAY), metadata=AUTH
        )
        assert sealed.partition.sealed and len(sealed.fingerprint) == 64
        assert sealed.partition.record_count == today.record_count
        verified = ledger.VerifyPartition(
            service_pb2.VerifyPartitionRequest(partition=TODAY), metadata=AUTH
        )
        assert verified.ok and verified.records_verified == today.record_count
        assert list(verified.problems) == []

        # Records for a sealed date go to its -late partition.
        late = _decode(_process(ledger_server, [_event(99, 0.55, "m-late")])[0])
        assert late.outcome == service_pb2.OUTCOME_EMITTED
        assert late.ledger_position.partition == TODAY + "-late"
        assert late.ledger_position.sequence == 1
        names = [
            p.name
            for p in ledger.ListPartitions(
                service_pb2.ListPartitionsRequest(), metadata=AUTH
            ).partitions
        ]
        assert names == sorted(names) and TODAY + "-late" in names

        # With the -late partition sealed too, an event of that date is refused before it is
        # decided (the index and statistics must not hold what the ledger cannot), by name.
        ledger.SealPartition(
            service_pb2.SealPartitionRequest(partition=TODAY + "-late"), metadata=AUTH
        )
        with ledger_server.channel() as channel2:
            stub = service_pb2_grpc.SignalServiceStub(channel2)
            with pytest.raises(grpc.RpcError) as refused:
                stub.Process(_event(100, 0.55, "m-closed"), metadata=AUTH, timeout=10)
            assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert "event.observed_at" in refused.value.details()
            assert "both sealed" in refused.value.details()
            # Another date is still fine.
            tomorrow = _event(101, 0.55, "m-next")
            tomorrow.event.observed_at.seconds += 86_400
            ok = stub.Process(tomorrow, metadata=AUTH, timeout=10)
            assert ok.outcome == service_pb2.OUTCOME_EMITTED
            # In a stream message, each closed-date event fails alone, whatever its neighbours.
            days = [1, 0, 1, 1, 0, 2, 0]  # days after TODAY: 0 is closed
            request = service_pb2.ProcessStreamRequest()
            for n, day in enumerate(days):
                item = request.events.add(correlation_id=f"c{n}")
                item.event.CopyFrom(_event(200 + n, 0.4 + n / 50, f"m-mixed-{n}").event)
                item.event.observed_at.seconds += 86_400 * day
            [response] = list(stub.ProcessStream(iter([request]), metadata=AUTH, timeout=10))
            results = list(response.results)
            assert [r.correlation_id for r in results] == [f"c{n}" for n in range(len(days))]
            for n, (day, result) in enumerate(zip(days, results, strict=True)):
                if day == 0:
                    assert result.outcome == service_pb2.OUTCOME_INVALID, n
                    [violation] = result.field_violations
                    assert violation.field == f"events[{n}].event.observed_at"
                    assert "both sealed" in violation.description
                else:
                    assert result.outcome == service_pb2.OUTCOME_EMITTED, (n, result)


@pytest.mark.parametrize(
    ("method", "request_message", "code", "text"),
    [
        ("SealPartition", service_pb2.SealPartitionRequest(), "INVALID_ARGUMENT", "is required"),
        (
            "VerifyPartition",
            service_pb2.VerifyPartitionRequest(partition="yesterday"),
            "INVALID_ARGUMENT",
            "YYYY-MM-DD",
        ),
        (
            "SealPartition",
            service_pb2.SealPartitionRequest(partition="1999-01-01"),
            "NOT_FOUND",
            "no partition 1999-01-01",
        ),
    ],
)
def test_ledger_rpcs_reject_bad_partition_names(
    ledger_server: ServerProcess, method, request_message, code, text
):
    with ledger_server.channel() as channel:
        stub = service_pb2_grpc.LedgerServiceStub(channel)
        with pytest.raises(grpc.RpcError) as error:
            getattr(stub, method)(request_message, metadata=AUTH)
    assert error.value.code() == getattr(grpc.StatusCode, code)
    assert text in error.value.details()


def test_a_second_server_on_the_same_data_dir_is_refused(ledger_server: ServerProcess, tmp_path):
    data_dir = next(
        Path(arg)
        for arg, prev in zip(ledger_server.proc.args[1:], ledger_server.proc.args, strict=False)
        if prev == "--data-dir"
    )
    with pytest.raises(AssertionError) as error:
        start_server(data_dir, timeout=15)
    assert "in use by another writer" in str(error.value)

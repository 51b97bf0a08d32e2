"""WatchSignals against a real `omen serve`: live tail, resume, since, filters, bad requests,
a subscriber that never reads (the server's memory stays bounded), shutdown."""

from __future__ import annotations

import signal as signals_module
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import timestamp_pb2
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from omen._proto import service_pb2, service_pb2_grpc, signal_pb2
from tests.support import NS, TEST_API_KEY, ServerProcess, event_message, start_server, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]

AUTH = [("x-api-key", TEST_API_KEY)]
DAY = 86_400 * NS
NOW_NS = (time.time_ns() // NS) * NS
ECONOMIC = signal_pb2.SIGNAL_CATEGORY_ECONOMIC
GEOPOLITICAL = signal_pb2.SIGNAL_CATEGORY_GEOPOLITICAL
_counter = iter(range(10**9))


def _ts(ns: int) -> timestamp_pb2.Timestamp:
    return timestamp_pb2.Timestamp(seconds=ns // NS, nanos=ns % NS)


def _request(name: str = "", **overrides: Any) -> service_pb2.ProcessRequest:
    """An event that emits a signal (unless overridden), with a unique id and market."""
    n = next(_counter)
    fields: dict[str, Any] = dict(
        event_id=f"watch-{name or n}-{n}", market_id=f"watch-m{n % 10}", probability=0.6
    )
    fields.update(overrides)
    return service_pb2.ProcessRequest(event=event_message(**fields))


def _process(
    server: ServerProcess, requests: list[service_pb2.ProcessRequest], threads: int = 1
) -> list[service_pb2.ProcessResponse]:
    with server.channel() as channel:
        stub = service_pb2_grpc.SignalServiceStub(channel)
        if threads == 1:
            return [stub.Process(r, metadata=AUTH, timeout=10) for r in requests]
        with ThreadPoolExecutor(threads) as pool:
            return list(pool.map(lambda r: stub.Process(r, metadata=AUTH, timeout=30), requests))


def _emitted(server: ServerProcess, requests: list[service_pb2.ProcessRequest]) -> list[Any]:
    responses = _process(server, requests)
    assert all(r.outcome == service_pb2.OUTCOME_EMITTED for r in responses), [
        (r.outcome, r.reason) for r in responses
    ]
    return [r.signal for r in responses]


def _position(signal: signal_pb2.OmenSignal) -> service_pb2.LedgerPosition:
    return service_pb2.LedgerPosition(
        partition=signal.ledger_partition, sequence=signal.ledger_sequence
    )


class Watcher:
    """One WatchSignals stream on its own channel; `read=False` opens it and never reads."""

    def __init__(self, server: ServerProcess, read: bool = True, **request: Any):
        self.channel = server.channel()
        stub = service_pb2_grpc.SignalServiceStub(self.channel)
        self.call = stub.WatchSignals(service_pb2.WatchSignalsRequest(**request), metadata=AUTH)
        # The server sends initial metadata once the cursor is resolved: from then on every
        # acknowledged signal is in this stream.
        self.call.initial_metadata()
        self.signals: list[signal_pb2.OmenSignal] = []
        self.error: grpc.RpcError | None = None
        self.ended = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True) if read else None
        if self._thread is not None:
            self._thread.start()

    def _read(self) -> None:
        try:
            for message in self.call:
                self.signals.append(message)
        except grpc.RpcError as exc:
            self.error = exc
        finally:
            self.ended.set()

    def take(self, n: int, timeout: float = 20.0) -> list[signal_pb2.OmenSignal]:
        def enough() -> bool:
            if self.error is not None and self.error.code() != grpc.StatusCode.CANCELLED:
                raise AssertionError(f"watch failed: {self.error}")
            return len(self.signals) >= n

        wait_until(enough, timeout, f"{n} signals on the watch (got {len(self.signals)})")
        return self.signals[:n]

    def close(self) -> None:
        self.call.cancel()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.channel.close()


@pytest.fixture
def watchers() -> Iterator[list[Watcher]]:
    opened: list[Watcher] = []
    try:
        yield opened
    finally:
        for w in opened:
            w.close()


def _ids(signals: list[signal_pb2.OmenSignal]) -> list[str]:
    return [s.source_event_id for s in signals]


def test_a_live_watch_sees_each_new_signal_as_emitted(server: ServerProcess, watchers) -> None:
    _emitted(server, [_request("before")])
    watchers.append(live := Watcher(server))
    emitted = _emitted(server, [_request(f"live{i}") for i in range(5)])
    # Exactly what Process answered (same bytes as GetSignal: position included), in order;
    # the signal emitted before the call is not in the stream.
    assert live.take(5) == emitted
    with server.channel() as channel:
        stub = service_pb2_grpc.SignalServiceStub(channel)
        fetched = stub.GetSignal(
            service_pb2.GetSignalRequest(signal_id=emitted[0].signal_id), metadata=AUTH, timeout=5
        )
    assert fetched == live.signals[0]
    # Still live: one more arrives later.
    [later] = _emitted(server, [_request("later")])
    assert live.take(6)[5] == later
    assert len(live.signals) == 6


def test_resuming_after_the_kth_position_yields_every_later_signal_once_in_order(
    server: ServerProcess, watchers
) -> None:
    [marker] = _emitted(server, [_request("resume-marker")])
    requests = []
    for i in range(40):
        # Two dates interleaved (two partitions in one LSN order), and rejected events in
        # between (their observation records take LSNs and sequences but are never streamed).
        observed = NOW_NS - (i % 2) * DAY + i * NS
        requests.append(_request(f"resume{i}", observed_at=_ts(observed)))
        if i % 5 == 0:
            requests.append(_request(f"rejected{i}", liquidity_usd=10.0, observed_at=_ts(observed)))
    responses = _process(server, requests)
    emitted = [r.signal for r in responses if r.outcome == service_pb2.OUTCOME_EMITTED]
    assert len(emitted) == 40 and len({s.ledger_partition for s in emitted}) == 2
    assert len(responses) - len(emitted) == 8  # the rejected ones

    watchers.append(full := Watcher(server, after=_position(marker)))
    everything = full.take(40)
    assert everything == emitted  # in LSN order: the order Process acknowledged them
    for k in (1, 7, 23, 39):
        first = Watcher(server, after=_position(marker))
        watchers.append(first)
        got = first.take(k)[:k]
        first.close()  # disconnect after k signals
        second = Watcher(server, after=_position(got[-1]))
        watchers.append(second)
        rest = second.take(40 - k)
        assert got + rest == everything, f"resume after {k}"
        assert len({s.signal_id for s in got + rest}) == 40


def test_filters_keep_only_the_matching_signals(server: ServerProcess, watchers) -> None:
    [marker] = _emitted(server, [_request("filter-marker")])
    corpus = {
        # INFRASTRUCTURE, confidence ~0.91, regions AFRICA, MIDDLE_EAST, YE
        "A": _request("A"),
        # INFRASTRUCTURE, ~0.64 (thin liquidity), CN, EAST_ASIA
        "B": _request(
            "B",
            title="Will a typhoon close the port of Shanghai?",
            description="",
            keywords=[],
            locations=[],
            liquidity_usd=3000.0,
        ),
        # ECONOMIC, ~0.91, MIDDLE_EAST
        "C": _request(
            "C",
            title="Will OPEC cut oil output through the Strait of Hormuz?",
            description="",
            keywords=[],
            locations=[],
        ),
        # ECONOMIC, ~0.66, EUROPE, NL
        "D": _request(
            "D",
            title="Will dockworkers strike at the port of Rotterdam?",
            description="",
            keywords=[],
            locations=[],
            liquidity_usd=3000.0,
        ),
        # rejected (liquidity): never streamed
        "R": _request("R", liquidity_usd=10.0),
        # ECONOMIC, ~0.85, EUROPE, NL: matches every filter below, so it ends each stream
        "Z": _request(
            "Z",
            title="Will dockworkers strike at the port of Rotterdam?",
            description="",
            keywords=[],
            locations=[],
        ),
    }
    responses = dict(zip(corpus, _process(server, list(corpus.values())), strict=True))
    signal_of = {k: r.signal for k, r in responses.items()}
    assert responses["R"].outcome == service_pb2.OUTCOME_REJECTED
    # The corpus is what the expectations below assume.
    assert [signal_of[k].category for k in "ABCDZ"] == [2, 2, ECONOMIC, ECONOMIC, ECONOMIC]
    assert [signal_of[k].confidence_score > 0.8 for k in "ABCDZ"] == [1, 0, 1, 0, 1]
    assert "EAST_ASIA" in signal_of["B"].geographic.regions
    assert "NL" in signal_of["D"].geographic.regions and "NL" in signal_of["Z"].geographic.regions
    assert "MIDDLE_EAST" in signal_of["C"].geographic.regions

    cases = {
        "ABCDZ": {},
        "CDZ": {"categories": [ECONOMIC]},
        "ACZ": {"min_confidence": 0.8},
        "BDZ": {"regions": ["east_asia", "NL"]},  # case-insensitive
        "CZ": {
            "categories": [ECONOMIC, GEOPOLITICAL],
            "min_confidence": 0.8,
            "regions": ["MIDDLE_EAST", "NL"],
        },
    }
    # Every case at once: several watchers of one server.
    opened = {want: Watcher(server, after=_position(marker), **req) for want, req in cases.items()}
    watchers.extend(opened.values())
    for want, watcher in opened.items():
        got = watcher.take(len(want))
        assert got[-1].source_event_id == signal_of["Z"].source_event_id
        assert got == [signal_of[k] for k in want], (want, _ids(got))


def test_since_starts_at_the_first_signal_generated_at_or_after_the_time(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data")
    watchers: list[Watcher] = []
    try:
        day = NOW_NS - NOW_NS % DAY
        times = {
            "d-3": day - 3 * DAY + 1000 * NS,
            "d-2 early": day - 2 * DAY + 10 * NS,
            "d-2 late": day - 2 * DAY + 50_000 * NS,
            "d-1": day - DAY + 100 * NS,
            "d-2 noon": day - 2 * DAY + 43_200 * NS,  # after d-1's: later LSN, earlier date
            "today": NOW_NS,
        }
        names = list(times)
        emitted = dict(
            zip(
                names,
                _emitted(server, [_request(n, observed_at=_ts(t)) for n, t in times.items()]),
                strict=True,
            )
        )
        since = day - 2 * DAY + 43_200 * NS  # d-2 at noon
        expected = ["d-2 late", "d-1", "d-2 noon", "today"]  # generated_at >= since, LSN order
        watchers.append(w := Watcher(server, since=_ts(since)))
        assert w.take(4) == [emitted[n] for n in expected]

        # A record for a sealed date goes to <date>-late and is seen by `since` too; a signal
        # generated before `since` is not, live or not.
        partition = emitted["d-2 early"].ledger_partition
        with server.channel() as channel:
            service_pb2_grpc.LedgerServiceStub(channel).SealPartition(
                service_pb2.SealPartitionRequest(partition=partition), metadata=AUTH, timeout=10
            )
        late = _emitted(
            server,
            [
                _request("d-2 too early", observed_at=_ts(since - NS)),
                _request("d-2 in time", observed_at=_ts(since + NS)),
            ],
        )
        assert late[1].ledger_partition == partition + "-late"
        assert w.take(5)[4] == late[1]

        # A new watch with the same `since` reads the -late partition in LSN order too.
        watchers.append(again := Watcher(server, since=_ts(since)))
        assert again.take(5) == [emitted[n] for n in expected] + [late[1]]
        [last] = _emitted(server, [_request("today again")])
        assert again.take(6)[5] == last == w.take(6)[5]
        assert len(w.signals) == 6 and len(again.signals) == 6
    finally:
        for w in watchers:
            w.close()
        server.stop()


def _violations(error: grpc.RpcError) -> list[str]:
    status = rpc_status.from_call(error)
    assert status is not None, "INVALID_ARGUMENT must carry google.rpc rich details"
    bad_request = error_details_pb2.BadRequest()
    assert status.details[0].Unpack(bad_request)
    return [v.field for v in bad_request.field_violations]


@pytest.mark.parametrize(
    ("request_fields", "code", "violations", "text"),
    [
        ({"after": {"partition": "yesterday", "sequence": 0}}, "INVALID_ARGUMENT",
         ["after.partition", "after.sequence"], "YYYY-MM-DD"),
        ({"after": {"partition": "1999-01-01", "sequence": 1}}, "NOT_FOUND", None,
         "no partition 1999-01-01"),
        ({"categories": [99]}, "INVALID_ARGUMENT", ["categories[0]"], "unknown category 99"),
        ({"min_confidence": 1.5}, "INVALID_ARGUMENT", ["min_confidence"], "within [0, 1]"),
        ({"regions": [""]}, "INVALID_ARGUMENT", ["regions[0]"], "must not be empty"),
        ({"since": {"seconds": -10**12}}, "INVALID_ARGUMENT", ["since"], "valid timestamp"),
    ],
)  # fmt: skip
def test_malformed_or_unknown_cursors_and_filters_are_refused(
    server: ServerProcess, request_fields, code, violations, text
) -> None:
    with server.channel() as channel:
        stub = service_pb2_grpc.SignalServiceStub(channel)
        call = stub.WatchSignals(service_pb2.WatchSignalsRequest(**request_fields), metadata=AUTH)
        with pytest.raises(grpc.RpcError) as error:
            next(call)
    assert error.value.code() == getattr(grpc.StatusCode, code)
    assert text in error.value.details()
    if violations is not None:
        assert _violations(error.value) == violations


def test_a_position_past_the_end_of_a_partition_is_not_found(server: ServerProcess) -> None:
    [sig] = _emitted(server, [_request("past-end")])
    beyond = service_pb2.LedgerPosition(partition=sig.ledger_partition, sequence=10**9)
    with server.channel() as channel:
        stub = service_pb2_grpc.SignalServiceStub(channel)
        with pytest.raises(grpc.RpcError) as error:
            next(stub.WatchSignals(service_pb2.WatchSignalsRequest(after=beyond), metadata=AUTH))
        assert error.value.code() == grpc.StatusCode.NOT_FOUND
        assert f"no record {sig.ledger_partition}/1000000000" in error.value.details()
        with pytest.raises(grpc.RpcError) as error:
            next(stub.WatchSignals(service_pb2.WatchSignalsRequest()))
        assert error.value.code() == grpc.StatusCode.UNAUTHENTICATED


def _rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def _flood(server: ServerProcess, n: int, description: str) -> list[service_pb2.StreamResult]:
    """n signals through ProcessStream (500 events a message); the results in order."""
    events = [
        service_pb2.StreamEvent(
            correlation_id=str(i), event=_request(description=description).event
        )
        for i in range(n)
    ]
    batches = (
        service_pb2.ProcessStreamRequest(events=events[i : i + 500]) for i in range(0, n, 500)
    )
    with server.channel() as channel:
        stub = service_pb2_grpc.SignalServiceStub(channel)
        stream = stub.ProcessStream(batches, metadata=AUTH, timeout=60)
        results = [result for response in stream for result in response.results]
    assert [r.outcome for r in results] == [service_pb2.OUTCOME_EMITTED] * n
    return results


def _ledger_order(results: list[service_pb2.StreamResult]) -> list[str]:
    # One partition (today's), so sequence order is LSN order.
    ordered = sorted(
        results, key=lambda r: (r.ledger_position.partition, r.ledger_position.sequence)
    )
    return [r.signal_id for r in ordered]


def test_subscribers_that_never_read_keep_the_servers_memory_bounded(tmp_path: Path) -> None:
    """Subscribers that never read, live and from the start, while 20k signals of ~6 KB
    (~120 MB serialised) are emitted: buffering them would add >= 120 MB per subscriber to the
    server's RSS. The server also keeps every signal it emitted in its index, so the live
    phase compares with a control flood without them; after a restart (the index then holds
    positions only) the backlog phase bounds the RSS outright. Readers meanwhile get
    everything, in ledger order."""
    data = tmp_path / "data"
    padding = "padding " + "z" * 5000  # one long token: cheap to match, heavy to buffer
    n = 20_000
    server = start_server(data, OMEN_GRACE_PERIOD_S="2")
    watchers: list[Watcher] = []
    try:
        warm = _flood(server, 2000, padding)
        after_first = {"after": service_pb2.LedgerPosition(
            partition=warm[0].ledger_position.partition,
            sequence=warm[0].ledger_position.sequence,
        )}  # fmt: skip
        watchers.append(reader := Watcher(server))
        before = _rss_kib(server.proc.pid)
        control = _flood(server, n, padding)
        reader.take(n, timeout=40)
        control_mib = (_rss_kib(server.proc.pid) - before) / 1024

        watchers.append(Watcher(server, read=False))  # live, never reads
        watchers.append(Watcher(server, read=False, **after_first))  # backlog, never reads
        before = _rss_kib(server.proc.pid)
        flood = _flood(server, n, padding)
        got = [s.signal_id for s in reader.take(2 * n, timeout=40)]
        stuck_mib = (_rss_kib(server.proc.pid) - before) / 1024
        everything = _ledger_order(warm + control + flood)
        assert got == _ledger_order(control + flood)
        print(f"live: RSS +{control_mib:.0f} MiB control, +{stuck_mib:.0f} MiB with non-readers")
        assert stuck_mib < control_mib + 50, (control_mib, stuck_mib)
    finally:
        for w in watchers:
            w.close()
        watchers.clear()
        server.stop()

    server = start_server(data, OMEN_GRACE_PERIOD_S="2")
    try:
        watchers.append(Watcher(server, read=False, **after_first))
        watchers.append(Watcher(server, read=False, since=_ts(0)))
        before = _rss_kib(server.proc.pid)
        watchers.append(reader := Watcher(server, since=_ts(0)))
        assert [s.signal_id for s in reader.take(len(everything), timeout=40)] == everything
        grown_mib = (_rss_kib(server.proc.pid) - before) / 1024
        print(f"backlog after restart: RSS +{grown_mib:.0f} MiB")
        assert grown_mib < 40, f"server RSS grew {grown_mib:.1f} MiB with non-reading watchers"
    finally:
        for w in watchers:
            w.close()
        server.stop()


def test_shutdown_ends_watch_streams_with_ok_without_waiting_for_the_grace_period(
    tmp_path: Path,
) -> None:
    # A 60 s grace: a watch holding shutdown would outlive the 20 s wait below.
    server = start_server(tmp_path / "data", OMEN_GRACE_PERIOD_S="60")
    try:
        live = Watcher(server)
        backlog = Watcher(server, since=_ts(0))
        emitted = _emitted(server, [_request("bye")])
        assert live.take(1) == emitted == backlog.take(1)
        started = time.monotonic()
        server.signal(signals_module.SIGTERM)
        assert server.wait(timeout=20) == 0
        assert time.monotonic() - started < 20
        for w in (live, backlog):
            assert w.ended.wait(10)
            assert w.error is None and w.call.code() == grpc.StatusCode.OK
            w.close()
    finally:
        server.stop()

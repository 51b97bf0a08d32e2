"""Delivery end to end: a real `omen serve` with a webhook publisher in its config file, posting to
a real HTTP receiver in its own process (tests/webhook_receiver.py)."""

from __future__ import annotations

import itertools
import json
import signal
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from omen._proto import service_pb2, service_pb2_grpc
from tests.outbox_support import Receiver
from tests.support import (
    OMEN,
    TEST_API_KEY,
    ServerProcess,
    event_message,
    server_env,
    start_server,
    wait_until,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]

AUTH = [("x-api-key", TEST_API_KEY)]
SECRET = "whsec-0123456789abcdef"
#: The kill -9 test's client stops pushing here (a bound on the test's length).
MAX_EVENTS = 3000


def _config(path: Path, url: str, **publisher: object) -> Path:
    lines = [
        "[[publishers]]",
        'name = "hook"',
        'kind = "webhook"',
        f'url = "{url}"',
        f'secret = "{SECRET}"',
        "timeout_s = 5",
    ]
    lines += [f"{key} = {json.dumps(value)}" for key, value in publisher.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[Receiver]:
    running = Receiver(tmp_path / "requests.jsonl", secret=SECRET)
    try:
        yield running
    finally:
        running.stop()


def _serve(tmp_path: Path, config: Path) -> ServerProcess:
    return start_server(tmp_path / "data", OMEN_CONFIG=str(config))


def _event(i: int, prefix: str = "pm") -> object:
    return event_message(event_id=f"{prefix}-{i}", market_id=f"{prefix}-market-{i}")


def _process(server: ServerProcess, ids: range, prefix: str = "pm") -> list[str]:
    """Process events one by one (so LSN order is call order); the emitted signal ids."""
    out = []
    with server.channel() as channel:
        stub = service_pb2_grpc.SignalServiceStub(channel)
        for i in ids:
            reply = stub.Process(
                service_pb2.ProcessRequest(event=_event(i, prefix)), metadata=AUTH, timeout=10
            )
            assert reply.outcome == service_pb2.OUTCOME_EMITTED, reply.reason
            out.append(reply.signal.signal_id)
    return out


def _publishers(server: ServerProcess) -> list[service_pb2.PublisherStatus]:
    with server.channel() as channel:
        stub = service_pb2_grpc.OutboxServiceStub(channel)
        reply = stub.ListPublishers(service_pb2.ListPublishersRequest(), metadata=AUTH, timeout=10)
    return list(reply.publishers)


def _first_arrivals(receiver: Receiver) -> list[str]:
    """Signal ids in the order the receiver first accepted each."""
    seen: dict[str, None] = {}
    for body in receiver.accepted_bodies():
        seen.setdefault(body["signal"]["signal_id"], None)
    return list(seen)


def _omen(*args: str, config: Path, data: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(OMEN), *args, "--config", str(config), "--data-dir", str(data)],
        env=server_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_signals_reach_the_webhook_signed_in_ledger_order_keyed_by_signal_id(
    tmp_path: Path, receiver: Receiver
):
    config = _config(tmp_path / "omen.toml", receiver.url, batch_size=8)
    server = _serve(tmp_path, config)
    try:
        ids = _process(server, range(30))
        wait_until(lambda: len(receiver.accepted_bodies()) >= 30, 30, "30 deliveries")
        requests = receiver.requests()
        assert all(r["signature_ok"] is True and r["status"] == 200 for r in requests)
        bodies = [json.loads(r["body"]) for r in requests]
        assert [b["signal"]["signal_id"] for b in bodies] == ids
        lsns = [b["lsn"] for b in bodies]
        assert lsns == sorted(lsns) and len(set(lsns)) == 30
        for request, body in zip(requests, bodies, strict=True):
            headers = {k.lower(): v for k, v in request["headers"].items()}
            assert headers["idempotency-key"] == body["signal"]["signal_id"]
            assert body["signal"]["ledger_partition"] == body["partition"]
        wait_until(lambda: _publishers(server)[0].cursor_lsn == lsns[-1], 10, "the cursor")
        [status] = _publishers(server)
        assert (status.name, status.kind, status.delivered, status.lag_records) == (
            "hook",
            "webhook",
            30,
            0,
        )
        assert status.breaker_state == service_pb2.BREAKER_STATE_CLOSED
        listed = _omen("outbox", "ls", "--json", config=config, data=tmp_path / "data")
        assert listed.returncode == 0, listed.stderr
        row = json.loads(listed.stdout)
        assert (row["name"], row["cursor_lsn"], row["lag_records"]) == ("hook", lsns[-1], 0)
        server.stop()
        offline = _omen("outbox", "ls", config=config, data=tmp_path / "data")
        assert offline.returncode == 0, offline.stderr
        header, line = offline.stdout.splitlines()
        assert header.split() == ["NAME", "KIND", "CURSOR", "LAG", "LAG_S", "DEAD_LETTERS"]
        assert line.split() == ["hook", "webhook", str(lsns[-1]), "0", "0.0", "0"]
    finally:
        server.stop()


def test_webhook_down_opens_the_breaker_then_it_recovers_and_the_backlog_drains_in_order(
    tmp_path: Path, receiver: Receiver
):
    config = _config(
        tmp_path / "omen.toml",
        receiver.url,
        batch_size=10,
        backoff_initial_s=0.05,
        backoff_max_s=0.2,
        breaker_failures=3,
        breaker_reset_s=1.0,
    )
    receiver.control(mode="fail", status=503)
    server = _serve(tmp_path, config)
    try:
        ids = _process(server, range(20))

        def opened() -> service_pb2.PublisherStatus | None:
            [status] = _publishers(server)
            return status if status.breaker_state == service_pb2.BREAKER_STATE_OPEN else None

        status = wait_until(opened, 30, "the breaker to open")
        assert status.lag_records == 20 and status.delivered == 0
        assert status.last_error.startswith("HTTP 503 from http://127.0.0.1:")
        assert status.retries >= 3 and status.lag_seconds > 0
        assert "WARNING omen.outbox: outbox: publisher hook: circuit breaker closed -> open" in (
            server.log
        )
        ids += _process(server, range(20, 30))  # more backlog while it is down
        receiver.control(mode="ok")
        wait_until(lambda: _first_arrivals(receiver) == ids, 30, "the backlog to drain")
        # Strictly in ledger order once it recovered: nothing delivered twice after a 503.
        accepted = [b["lsn"] for b in receiver.accepted_bodies()]
        assert accepted == sorted(accepted) and len(accepted) == 30
        wait_until(lambda: _publishers(server)[0].lag_records == 0, 10, "no lag")
        [status] = _publishers(server)
        assert status.breaker_state == service_pb2.BREAKER_STATE_CLOSED
        assert status.delivered == 30
        assert "circuit breaker open -> half_open" in server.log
        assert "circuit breaker half_open -> closed" in server.log
    finally:
        server.stop()


def test_a_400_is_dead_lettered_delivery_goes_on_and_omen_outbox_replay_delivers_it(
    tmp_path: Path, receiver: Receiver
):
    config = _config(tmp_path / "omen.toml", receiver.url)
    data = tmp_path / "data"
    receiver.control(reject_containing='"source_event_id":"poison-1"', reject_status=400)
    server = _serve(tmp_path, config)
    try:
        good = _process(server, range(2))
        poison = _process(server, range(1, 2), prefix="poison")
        good += _process(server, range(2, 4))
        wait_until(lambda: _first_arrivals(receiver) == good, 30, "the good signals")
        wait_until(lambda: _publishers(server)[0].dead_lettered == 1, 10, "a dead letter")
        assert _publishers(server)[0].last_error.startswith("HTTP 400 from")
        listed = _omen("outbox", "deadletters", "hook", "--json", config=config, data=data)
        assert listed.returncode == 0, listed.stderr
        [letter] = [json.loads(line) for line in listed.stdout.splitlines()]
        assert letter["signal_id"] == poison[0]
        assert letter["reason"].startswith("HTTP 400 from http://127.0.0.1:")
        assert letter["signal"]["source_event_id"] == "poison-1"
        table = _omen("outbox", "deadletters", "hook", config=config, data=data)
        assert poison[0] in table.stdout and "HTTP 400" in table.stdout

        # Still refused: the replay reports it and keeps it.
        again = _omen("outbox", "replay", "hook", config=config, data=data)
        assert again.returncode == 1
        assert "replayed 0 of 1 dead letters to hook; 1 remain" in again.stdout
        receiver.control(reject_containing=None)
        replayed = _omen("outbox", "replay", "hook", config=config, data=data)
        assert replayed.returncode == 0, replayed.stdout + replayed.stderr
        assert "replayed 1 of 1 dead letters to hook; 0 remain" in replayed.stdout
        assert _first_arrivals(receiver) == [*good, poison[0]]
        empty = _omen("outbox", "deadletters", "hook", "--json", config=config, data=data)
        assert empty.stdout == ""
        unknown = _omen("outbox", "replay", "nope", config=config, data=data)
        assert unknown.returncode == 2 and "no publisher named 'nope'" in unknown.stderr
    finally:
        server.stop()


def _stream_until_killed(
    server: ServerProcess, acked: list[str], stop: threading.Event, ended: list[str]
) -> None:
    """Push batches of 10 events (at most MAX_EVENTS) on one ProcessStream (unary Process calls
    if the server has no ProcessStream); collect the ids of every signal acknowledged as
    EMITTED. `ended` says how the stream ended."""
    counter = itertools.count()

    def batches() -> Iterator[service_pb2.ProcessStreamRequest]:
        while not stop.is_set() and len(acked) < MAX_EVENTS:
            events = []
            for _ in range(10):
                i = next(counter)
                events.append(service_pb2.StreamEvent(correlation_id=str(i), event=_event(i)))
            yield service_pb2.ProcessStreamRequest(events=events)

    with server.channel() as channel:
        stub = service_pb2_grpc.SignalServiceStub(channel)
        try:
            for response in stub.ProcessStream(batches(), metadata=AUTH, timeout=60):
                for result in response.results:
                    if result.outcome == service_pb2.OUTCOME_EMITTED:
                        acked.append(result.signal_id)
            ended.append("completed")
            return
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.UNIMPLEMENTED:
                ended.append(f"cut: {exc.code().name}")  # the server died under it
                return
        while not stop.is_set() and len(acked) < MAX_EVENTS:
            i = next(counter)
            try:
                reply = stub.Process(
                    service_pb2.ProcessRequest(event=_event(i)), metadata=AUTH, timeout=10
                )
            except grpc.RpcError as exc:
                ended.append(f"cut: {exc.code().name}")
                return
            if reply.outcome == service_pb2.OUTCOME_EMITTED:
                acked.append(reply.signal.signal_id)


def test_kill_9_mid_stream_and_restart_every_acknowledged_signal_reaches_the_webhook(
    tmp_path: Path, receiver: Receiver
):
    config = _config(tmp_path / "omen.toml", receiver.url, batch_size=20)
    receiver.control(delay_ms=3)  # a slow receiver: a backlog builds up behind the stream
    server = _serve(tmp_path, config)
    acked: list[str] = []
    ended: list[str] = []
    stop = threading.Event()
    client = threading.Thread(target=_stream_until_killed, args=(server, acked, stop, ended))
    client.start()
    try:
        wait_until(lambda: len(acked) >= 400, 30, "400 acknowledged signals")
        saved = wait_until(lambda: _publishers(server)[0].cursor_lsn, 30, "a saved cursor")
        server.signal(signal.SIGKILL)
        assert server.wait(10) == -signal.SIGKILL
    finally:
        stop.set()
        client.join(30)
        server.stop()
    assert ended == ["cut: UNAVAILABLE"], ended  # killed mid-stream
    acknowledged = set(acked)
    arrived = set(_first_arrivals(receiver))
    before_restart = len(receiver.accepted_bodies())
    assert acknowledged - arrived, "no backlog at the kill: the restart would prove nothing"
    receiver.control(delay_ms=0)
    restarted = _serve(tmp_path, config)
    try:
        wait_until(
            lambda: acknowledged <= set(_first_arrivals(receiver)),
            60,
            "every acknowledged signal at the receiver after the restart",
        )
        # The restart resumed after the durable cursor: it did not start over from LSN 1.
        # (A batch in flight at the kill is sent again: at least once.)
        after = [b["lsn"] for b in receiver.accepted_bodies()[before_restart:]]
        assert after[0] > saved
        assert after == sorted(set(after))
    finally:
        restarted.stop()

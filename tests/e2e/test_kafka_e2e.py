"""A real `omen serve` delivering to a real Kafka-protocol broker (tansu) through its outbox."""

from __future__ import annotations

import itertools
import json
import signal
import threading
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from confluent_kafka import Message

from omen._proto import service_pb2, service_pb2_grpc
from tests.kafka_broker import KafkaBroker, running_broker
from tests.support import TEST_API_KEY, ServerProcess, event_message, start_server, wait_until

pytestmark = pytest.mark.e2e

AUTH = [("x-api-key", TEST_API_KEY)]
TOPIC = "omen-signals"
MARKETS = 6


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[KafkaBroker]:
    with running_broker(tmp_path) as running:
        yield running


def kafka_config(tmp_path: Path, broker: KafkaBroker) -> Path:
    """A config file with one kafka publisher; short timeouts so outages are noticed fast."""
    path = tmp_path / "omen.toml"
    path.write_text(
        f"""
[[publishers]]
name = "kafka"
kind = "kafka"
bootstrap_servers = "{broker.bootstrap}"
topic = "{TOPIC}"
timeout_s = 2.0
batch_size = 200
backoff_initial_s = 0.05
backoff_max_s = 0.5
breaker_reset_s = 1.0
"""
    )
    return path


def serve(data: Path, config: Path) -> ServerProcess:
    return start_server(data, OMEN_CONFIG=str(config))


def event(n: int) -> service_pb2.StreamEvent:
    """The n-th distinct event; markets take turns and move by small steps (no anomaly)."""
    return service_pb2.StreamEvent(
        correlation_id=f"c-{n}",
        event=event_message(
            event_id=f"pm-kafka-{n}",
            market_id=f"m-{n % MARKETS}",
            probability=0.40 + 0.0001 * n,
        ),
    )


def process(server: ServerProcess, numbers: range) -> dict[str, int]:
    """Unary Process for each event; {signal_id: ledger LSN order key} of the emitted ones."""
    emitted: dict[str, int] = {}
    with server.channel() as channel:
        stub = service_pb2_grpc.SignalServiceStub(channel)  # type: ignore[no-untyped-call]
        for n in numbers:
            reply = stub.Process(
                service_pb2.ProcessRequest(event=event(n).event), metadata=AUTH, timeout=10
            )
            if reply.outcome == service_pb2.OUTCOME_EMITTED:
                emitted[reply.signal.signal_id] = n
    assert emitted, "the events must emit signals for this test to mean anything"
    return emitted


def envelope(record: Message) -> dict[str, object]:
    value = record.value()
    assert value is not None
    parsed: dict[str, object] = json.loads(value)
    return parsed


def signal_ids(records: list[Message]) -> set[str]:
    return {str(envelope(r)["signal"]["signal_id"]) for r in records}  # type: ignore[index]


def await_on_topic(
    broker: KafkaBroker, wanted: set[str], timeout: float, server: ServerProcess | None = None
) -> list[Message]:
    """Read the topic until every wanted signal id is on it (repeats allowed)."""
    records: list[Message] = []

    def all_there() -> bool:
        records[:] = broker.consume(TOPIC, len(wanted), timeout=2, quiet_s=0.3)
        return wanted <= signal_ids(records)

    try:
        wait_until(all_there, timeout, f"{len(wanted)} signals on {TOPIC}", interval=0.2)
    except AssertionError:
        missing = wanted - signal_ids(records)
        log = server.log[-4000:] if server is not None else ""
        raise AssertionError(
            f"{len(missing)} of {len(wanted)} signals never reached {TOPIC}; server log:\n{log}"
        ) from None
    return records


def assert_ledger_order_per_key(records: list[Message]) -> None:
    """Per key, the last copy of each signal arrives in LSN order (repeats from an attempt
    that failed, or from the killed server, may land before a resend), and each key stays in
    one partition."""
    last: dict[bytes | None, dict[int, int]] = defaultdict(dict)
    partitions: dict[bytes | None, set[int | None]] = defaultdict(set)
    ordered = sorted(records, key=lambda r: (r.partition(), r.offset()))
    for position, record in enumerate(ordered):
        body = envelope(record)
        last[record.key()][int(str(body["lsn"]))] = position
        partitions[record.key()].add(record.partition())
        assert record.key() == body["signal"]["impact_hints"]["routing_key"].encode()  # type: ignore[index]
    for key, positions in last.items():
        seen = sorted(positions, key=positions.__getitem__)
        assert seen == sorted(seen), f"{key!r}: {seen}"
        assert len(partitions[key]) == 1, f"{key!r} in partitions {partitions[key]}"


def test_every_emitted_signal_reaches_the_kafka_topic_in_order_per_key(
    tmp_path: Path, broker: KafkaBroker
) -> None:
    server = serve(tmp_path / "data", kafka_config(tmp_path, broker))
    try:
        emitted = process(server, range(60))
        records = await_on_topic(broker, set(emitted), timeout=30, server=server)
    finally:
        server.stop()
    assert signal_ids(records) == set(emitted)
    assert_ledger_order_per_key(records)
    headers = dict(records[0].headers() or [])
    assert set(headers) == {"signal_id", "lsn", "ledger_partition", "ledger_sequence"}


def test_kill_9_mid_stream_then_restart_delivers_every_acknowledged_signal(
    tmp_path: Path, broker: KafkaBroker
) -> None:
    data, config = tmp_path / "data", kafka_config(tmp_path, broker)
    server = serve(data, config)
    acknowledged: set[str] = set()
    numbers = itertools.count()
    stop = threading.Event()

    def batches() -> Iterator[service_pb2.ProcessStreamRequest]:
        while not stop.is_set():
            yield service_pb2.ProcessStreamRequest(events=[event(next(numbers)) for _ in range(25)])

    try:
        with server.channel() as channel:
            stub = service_pb2_grpc.SignalServiceStub(channel)  # type: ignore[no-untyped-call]
            call = stub.ProcessStream(batches(), metadata=AUTH, timeout=60)
            with pytest.raises(grpc.RpcError):
                for responses, response in enumerate(call, start=1):
                    acknowledged |= {
                        r.signal_id
                        for r in response.results
                        if r.outcome == service_pb2.OUTCOME_EMITTED
                    }
                    if responses == 10:
                        # From here on this server cannot deliver: whatever it acknowledges
                        # reaches the topic only through the restarted server's cursor.
                        broker.pause()
                    if responses == 40:
                        # Batches are still in flight: sent, not yet answered.
                        server.signal(signal.SIGKILL)
            stop.set()
    finally:
        stop.set()
        server.signal(signal.SIGKILL)
        server.wait(timeout=10)
        broker.resume()
    assert len(acknowledged) >= 500

    restarted = serve(data, config)
    try:
        records = await_on_topic(broker, acknowledged, timeout=60, server=restarted)
    finally:
        restarted.stop()
    assert_ledger_order_per_key(records)


def test_broker_stopped_and_restarted_while_serving_then_the_backlog_arrives(
    tmp_path: Path, broker: KafkaBroker
) -> None:
    server = serve(tmp_path / "data", kafka_config(tmp_path, broker))
    try:
        await_on_topic(broker, set(process(server, range(20))), timeout=30, server=server)
        broker.stop()
        backlog = process(server, range(20, 80))  # acknowledged while the broker is down
        broker.start()
        # Memory storage: the restarted broker starts empty, so the backlog is all it can hold.
        records = await_on_topic(broker, set(backlog), timeout=45, server=server)
        # And delivery goes on for new signals.
        later = process(server, range(80, 90))
        records = await_on_topic(broker, set(backlog) | set(later), timeout=30, server=server)
    finally:
        server.stop()
    assert_ledger_order_per_key(records)

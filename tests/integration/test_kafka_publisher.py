"""KafkaPublisher against a real Kafka-protocol broker (tansu), read back with confluent-kafka."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Message

from omen.adapters.outbox.envelope import delivery_body, delivery_from_json
from omen.adapters.publishers.kafka import KafkaPublisher
from omen.application.ports import Delivery, DeliveryError
from omen.config import PublisherSettings
from omen.domain.signals import OmenSignal
from tests.kafka_broker import KafkaBroker, running_broker
from tests.support import T0_NS, make_pipeline, raw_event

PARTITION = "2026-11-18"
TIMEOUT_S = 2.0
# librdkafka reports every message within message.timeout.ms; publish adds a grace of 5 s at
# most, and the first request after an outage may wait for one reconnect.
FAILS_WITHIN_S = TIMEOUT_S + 6.0


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[KafkaBroker]:
    with running_broker(tmp_path) as running:
        yield running


def pipeline_signals(count: int, markets: int = 5, **overrides: Any) -> list[OmenSignal]:
    """`count` emitted signals from the real pipeline, round-robin over `markets` markets."""
    pipeline = make_pipeline()
    signals = []
    for i in range(count):
        fields: dict[str, Any] = dict(
            event_id=f"pm-{i}",
            market_id=f"m-{i % markets}",
            probability=0.60 + 0.001 * i,
            observed_at_ns=T0_NS + i,
        )
        fields.update(overrides)
        result = pipeline.process(raw_event(**fields))
        assert result.signal is not None, result.reason
        signals.append(result.signal)
    return signals


def deliveries(signals: Sequence[OmenSignal], first_lsn: int = 1) -> list[Delivery]:
    return [Delivery(first_lsn + i, PARTITION, first_lsn + i - 1, s) for i, s in enumerate(signals)]


def publisher(broker: KafkaBroker, topic: str, **config: Any) -> KafkaPublisher:
    settings = PublisherSettings.model_validate(
        {
            "name": "kafka-test",
            "kind": "kafka",
            "bootstrap_servers": broker.bootstrap,
            "topic": topic,
            "timeout_s": TIMEOUT_S,
        }
    )
    return KafkaPublisher(settings, config={"reconnect.backoff.max.ms": 200, **config})


def headers(record: Message) -> dict[str, bytes]:
    raw = record.headers() or []
    pairs = raw.items() if isinstance(raw, dict) else raw
    return {k: v.encode() if isinstance(v, str) else v for k, v in pairs if v is not None}


def lsn(record: Message) -> int:
    return int(headers(record)["lsn"])


def read_delivery(record: Message) -> Delivery:
    value = record.value()
    assert value is not None
    return delivery_from_json(json.loads(value))


def assert_lsn_order_per_key(records: Sequence[Message]) -> None:
    """Per key, the last copy of each signal arrives in LSN order (copies from a failed attempt
    may land before the retry's), and each key stays in one partition."""
    last: dict[bytes | None, dict[int, int]] = defaultdict(dict)
    partitions: dict[bytes | None, set[int | None]] = defaultdict(set)
    ordered = sorted(records, key=lambda r: (r.partition(), r.offset()))
    for position, record in enumerate(ordered):
        last[record.key()][lsn(record)] = position
        partitions[record.key()].add(record.partition())
    for key, positions in last.items():
        lsns = sorted(positions, key=positions.__getitem__)
        assert lsns == sorted(lsns), f"key {key!r} out of LSN order: {lsns}"
        assert len(partitions[key]) == 1, f"key {key!r} spread over {partitions[key]}"


async def publish_until_delivered(
    pub: KafkaPublisher, batch: Sequence[Delivery], timeout: float
) -> list[DeliveryError]:
    """What the outbox dispatcher does: resend the undelivered rest until it all arrives."""
    failures: list[DeliveryError] = []
    deadline = time.monotonic() + timeout
    rest = list(batch)
    while rest:
        try:
            await pub.publish(rest)
            return failures
        except DeliveryError as exc:
            assert exc.retryable, exc.reason
            failures.append(exc)
            rest = rest[exc.delivered :]
        if time.monotonic() > deadline:
            raise AssertionError(f"not delivered after {timeout}s: {failures[-3:]}")
    return failures


def test_every_published_signal_reads_back_keyed_by_routing_key_with_its_headers(
    broker: KafkaBroker,
) -> None:
    broker.create_topic("signals", partitions=3)
    signals = pipeline_signals(40)
    batch = deliveries(signals)

    async def scenario() -> None:
        pub = publisher(broker, "signals")
        await pub.start()
        await pub.publish(batch[:15])
        await pub.publish(batch[15:])
        await pub.close()

    asyncio.run(scenario())

    records = broker.consume("signals", len(batch), quiet_s=0.5)
    assert len(records) == len(batch)  # idempotent producer, no failure: no duplicates
    by_lsn = {lsn(r): r for r in records}
    assert sorted(by_lsn) == [d.lsn for d in batch]
    for d in batch:
        record = by_lsn[d.lsn]
        assert record.key() == d.signal.impact_hints.routing_key.encode()
        assert headers(record) == {
            "signal_id": d.signal.signal_id.encode(),
            "lsn": str(d.lsn).encode(),
            "ledger_partition": PARTITION.encode(),
            "ledger_sequence": str(d.sequence).encode(),
        }
        signal = dataclasses.replace(
            d.signal, ledger_partition=d.partition, ledger_sequence=d.sequence
        )
        assert read_delivery(record) == dataclasses.replace(d, signal=signal)
        assert record.value() == delivery_body(d)  # what the webhook POSTs, byte for byte
    assert_lsn_order_per_key(records)
    assert len({r.key() for r in records}) == 5


def test_a_signal_without_routing_key_is_keyed_by_its_signal_id(broker: KafkaBroker) -> None:
    (plain,) = pipeline_signals(1)
    keyless = dataclasses.replace(
        plain, impact_hints=dataclasses.replace(plain.impact_hints, routing_key="")
    )

    async def scenario() -> None:
        pub = publisher(broker, "keyless")
        await pub.publish(deliveries([keyless]))
        await pub.close()

    asyncio.run(scenario())
    (record,) = broker.consume("keyless", 1)
    assert record.key() == keyless.signal_id.encode()


def test_an_empty_publish_returns_without_touching_the_broker(tmp_path: Path) -> None:
    settings = PublisherSettings.model_validate(
        {"name": "idle", "kind": "kafka", "bootstrap_servers": "127.0.0.1:1", "topic": "never"}
    )
    asyncio.run(KafkaPublisher(settings).publish([]))


def test_an_oversized_signal_is_not_retryable_and_its_predecessors_are_delivered(
    broker: KafkaBroker,
) -> None:
    normal = pipeline_signals(4, markets=1)
    huge = pipeline_signals(1, markets=1, event_id="pm-huge", description="Red Sea. " * 4000)
    batch = deliveries([*normal[:3], *huge, normal[3]])

    async def scenario() -> DeliveryError:
        pub = publisher(broker, "sized", **{"message.max.bytes": 20_000})
        try:
            with pytest.raises(DeliveryError) as refused:
                await pub.publish(batch)
        finally:
            await pub.close()
        return refused.value

    error = asyncio.run(scenario())
    assert not error.retryable
    assert error.delivered == 3
    assert "MSG_SIZE_TOO_LARGE" in error.reason and huge[0].signal_id in error.reason
    records = broker.consume("sized", 3, quiet_s=0.5)
    assert [lsn(r) for r in records] == [1, 2, 3]


def test_broker_down_fails_retryably_in_bounded_time_and_delivery_resumes_after_restart(
    broker: KafkaBroker,
) -> None:
    signals = pipeline_signals(60)
    before, during = deliveries(signals[:20]), deliveries(signals[20:], first_lsn=21)

    async def scenario() -> tuple[DeliveryError, float, list[DeliveryError]]:
        pub = publisher(broker, "resume")
        await pub.publish(before)
        broker.stop()
        started = time.monotonic()
        with pytest.raises(DeliveryError) as down:
            await pub.publish(during)
        elapsed = time.monotonic() - started
        broker.start()
        retries = await publish_until_delivered(pub, during, timeout=30)
        await pub.close()
        return down.value, elapsed, retries

    down, elapsed, retries = asyncio.run(scenario())
    assert down.retryable and down.delivered == 0, down.reason
    assert elapsed < FAILS_WITHIN_S
    # Memory storage: the restarted broker is empty, so only records produced since are there.
    records = broker.consume("resume", len(during), quiet_s=0.5)
    assert {lsn(r) for r in records} == {d.lsn for d in during}
    assert_lsn_order_per_key(records)
    assert all(e.retryable for e in retries)


def test_a_hung_broker_fails_publish_without_blocking_the_event_loop_then_recovers(
    broker: KafkaBroker,
) -> None:
    signals = pipeline_signals(30)
    first, second = deliveries(signals[:10]), deliveries(signals[10:], first_lsn=11)

    async def scenario() -> tuple[DeliveryError, float, int]:
        pub = publisher(broker, "hung")
        await pub.publish(first)
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        ticking = asyncio.create_task(ticker())
        broker.pause()
        started = time.monotonic()
        try:
            with pytest.raises(DeliveryError) as hung:
                await pub.publish(second)
        finally:
            broker.resume()
        elapsed = time.monotonic() - started
        ticking.cancel()
        await publish_until_delivered(pub, second[hung.value.delivered :], timeout=30)
        await pub.close()
        return hung.value, elapsed, ticks

    hung, elapsed, ticks = asyncio.run(scenario())
    assert hung.retryable, hung.reason
    assert elapsed < FAILS_WITHIN_S
    assert ticks > elapsed / 0.01 / 4, f"the event loop ticked only {ticks} times in {elapsed:.1f}s"
    # The broker kept its data: everything is there, at least once, in order per key.
    records = broker.consume("hung", 30, quiet_s=1.0)
    assert {lsn(r) for r in records} == set(range(1, 31))
    assert_lsn_order_per_key(records)


def test_the_readme_kafka_example_is_a_valid_config_that_builds_a_kafka_publisher(
    tmp_path: Path,
) -> None:
    from omen.adapters.publishers import build_publisher
    from omen.config import load_settings
    from tests.support import ROOT

    section = (ROOT / "README.md").read_text().split("## Delivering signals", 1)[1]
    section = section.split("\n## ", 1)[0]
    blocks = [b.split("```", 1)[0] for b in section.split("```toml\n")[1:]]
    examples = [b for b in blocks if 'kind = "kafka"' in b]
    assert len(examples) == 2  # a local plaintext broker; TLS + SASL
    for example in examples:
        (tmp_path / "omen.toml").write_text(example)
        settings, _ = load_settings(tmp_path / "omen.toml", env={})
        (kafka,) = settings.publishers
        publisher = build_publisher(kafka)
        assert isinstance(publisher, KafkaPublisher)
        assert (publisher.name, publisher.kind, publisher.topic) == (
            kafka.name,
            "kafka",
            kafka.topic,
        )
    assert 'security_protocol = "sasl_ssl"' in examples[1]

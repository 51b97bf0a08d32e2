"""Prometheus metrics of one server instance (own registry: no process-global state)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    from omen.application.outbox import PublisherStatus


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.rpc_in_flight = Gauge(
            "omen_grpc_in_flight_calls", "gRPC calls being served now", ["method"], registry=r
        )
        self.rpc_started = Counter(
            "omen_grpc_calls_started", "gRPC calls started", ["method"], registry=r
        )
        self.rpc_unauthenticated = Counter(
            "omen_grpc_unauthenticated_calls",
            "gRPC calls refused for a missing or bad API key",
            ["method"],
            registry=r,
        )
        self.events = Counter(
            "omen_events_processed", "Events processed, by outcome", ["outcome"], registry=r
        )
        self.process_seconds = Histogram(
            "omen_process_seconds",
            "Time to process one event: pipeline plus waiting for its ledger group commit",
            buckets=(1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0),
            registry=r,
        )
        self.ledger_failed = Gauge(
            "omen_ledger_failed",
            "1 once the ledger failed closed (a write or fsync error): nothing is acknowledged",
            registry=r,
        )
        self.shutting_down = Gauge(
            "omen_shutting_down", "1 while the server drains in-flight calls", registry=r
        )
        self.streams_open = Gauge(
            "omen_process_streams_open", "ProcessStream calls open now", registry=r
        )
        self.stream_events_in_flight = Gauge(
            "omen_process_stream_events_in_flight",
            "ProcessStream events admitted whose results are not yet sent, all streams together",
            registry=r,
        )


class OutboxCollector:
    """Publisher metrics, read from the dispatcher at scrape time (label `publisher`).

    omen_outbox_breaker_state is 1 closed, 2 open, 3 half-open (omen.v1.BreakerState)."""

    def __init__(self, statuses: Callable[[], Sequence[PublisherStatus]]):
        self._statuses = statuses

    def collect(self) -> Iterator[Metric]:
        statuses = self._statuses()
        families = [
            (
                GaugeMetricFamily,
                "omen_outbox_cursor_lsn",
                "LSN of the publisher's durable cursor",
                "cursor_lsn",
            ),
            (
                GaugeMetricFamily,
                "omen_outbox_lag_records",
                "Signals in the ledger after the cursor",
                "lag_records",
            ),
            (
                GaugeMetricFamily,
                "omen_outbox_lag_seconds",
                "Age of the oldest undelivered signal",
                "lag_seconds",
            ),
            (
                GaugeMetricFamily,
                "omen_outbox_breaker_state",
                "Circuit breaker: 1 closed, 2 open, 3 half-open",
                "breaker_state",
            ),
            (
                CounterMetricFamily,
                "omen_outbox_delivered",
                "Signals delivered since start",
                "delivered",
            ),
            (
                CounterMetricFamily,
                "omen_outbox_retries",
                "Failed delivery attempts retried",
                "retries",
            ),
            (
                CounterMetricFamily,
                "omen_outbox_dead_lettered",
                "Signals written to the dead letters",
                "dead_lettered",
            ),
        ]
        for kind, name, documentation, attribute in families:
            family = kind(name, documentation, labels=["publisher"])
            for status in statuses:
                family.add_metric([status.name], float(getattr(status, attribute)))
            yield family

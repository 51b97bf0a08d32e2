"""Prometheus metrics of one server instance (own registry: no process-global state)."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


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

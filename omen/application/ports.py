"""Ports: the small abstract interfaces the application needs from adapters."""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from omen.domain.events import RawEvent
from omen.domain.signals import OmenSignal, SignalCategory

#: Computes input_event_hash (SHA-256 hex of the canonical encoding) of one event.
EventHasher = Callable[[RawEvent], str]


@dataclass(frozen=True, slots=True)
class SignalPage:
    signals: tuple[OmenSignal, ...]
    next_offset: int | None


class SignalRepository(abc.ABC):
    """Index of emitted signals by id and by input_event_hash, in emission order."""

    @abc.abstractmethod
    def add(self, signal: OmenSignal) -> None:
        """Store a newly emitted signal. Adding a second signal for one hash is an error."""

    @abc.abstractmethod
    def get(self, signal_id: str) -> OmenSignal | None:
        """The signal with this id, or None."""

    @abc.abstractmethod
    def get_by_event_hash(self, input_event_hash: str) -> OmenSignal | None:
        """The signal emitted for this input_event_hash, or None."""

    @abc.abstractmethod
    def page(
        self,
        offset: int,
        limit: int,
        categories: Sequence[SignalCategory] = (),
        min_confidence: float = 0.0,
    ) -> SignalPage:
        """Signals from emission index `offset` on that pass the filters, at most `limit`."""


class Durable(Protocol):
    """Completes when a ledger append is durable (raises LedgerUnavailableError if it never
    will be). Many appends share one: a group commit."""

    @property
    def done(self) -> bool: ...

    async def wait_async(self) -> None: ...

    def wait(self, timeout: float | None = None) -> None: ...


@dataclass(frozen=True, slots=True)
class LedgerTicket:
    """Where an append went, and when it is durable."""

    partition: str
    sequence: int
    durable: Durable


class SignalLedger(abc.ABC):
    """The system of record: emitted signals, and the rejected events' observations that the
    anomaly statistics were fed (so that replaying the ledger rebuilds them exactly)."""

    @abc.abstractmethod
    def append_signal(
        self, signal: OmenSignal, market_key: str, probability: float
    ) -> LedgerTicket:
        """Queue an emitted signal; it is durable when the ticket's `durable` completes."""

    @abc.abstractmethod
    def append_observation(
        self, event_hash: str, market_key: str, probability: float, observed_at_ns: int
    ) -> LedgerTicket:
        """Queue the observation of a rejected event (recorded in the market's history)."""

    @property
    @abc.abstractmethod
    def failed(self) -> Exception | None:
        """Why the ledger stopped accepting appends, or None while it is healthy."""


@dataclass(frozen=True, slots=True)
class Delivery:
    """One signal on its way to a publisher, with where it is in the ledger."""

    lsn: int
    partition: str
    sequence: int
    signal: OmenSignal


class DeliveryError(Exception):
    """A publisher could not deliver deliveries[delivered] (the ones before it did arrive).

    retryable: the same delivery may succeed later (timeout, 5xx, 429, broker down); the
    dispatcher backs off and retries. Otherwise (4xx, a message the broker refuses) retrying
    cannot help: the dispatcher dead-letters it with `reason` and moves on.
    retry_after_s: the receiver asked for this delay (HTTP Retry-After), honoured as the minimum.
    """

    def __init__(
        self,
        reason: str,
        *,
        retryable: bool,
        delivered: int = 0,
        retry_after_s: float | None = None,
    ):
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable
        self.delivered = delivered
        self.retry_after_s = retry_after_s


class Publisher(abc.ABC):
    """Delivers signals downstream (console, webhook, Kafka). At least once: a delivery may be
    repeated after a crash or a retry, so receivers dedupe by signal_id."""

    name: str
    kind: str

    async def start(self) -> None:  # noqa: B027 - optional hook; most publishers need none
        """Connect (called once before the first publish)."""

    @abc.abstractmethod
    async def publish(self, deliveries: Sequence[Delivery]) -> None:
        """Deliver all of `deliveries`, in order, or raise DeliveryError saying how many did."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Flush and disconnect."""

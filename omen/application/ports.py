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

    def settle(self) -> None:
        """The ledger has accepted the records of every signal added so far (their ledger
        positions are set). A repository that can read signals back by position lets go of
        their objects here, so that none outlives the message that made it. Nothing to do
        for a repository that keeps every signal in memory."""
        return None

    def signal_id_by_event_hash(self, input_event_hash: str) -> str | None:
        """The id of the signal emitted for this input_event_hash, or None: all a duplicate
        check needs. Repositories that keep older signals out of memory override this so that
        it reads none."""
        signal = self.get_by_event_hash(input_event_hash)
        return None if signal is None else signal.signal_id

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


class LedgerTicket(Protocol):
    """Where an append went, and when it is durable. A Protocol: the ledger adapter hands back
    the objects its own append made (one per streamed event; a copy of each cost ~2% of an
    event's time)."""

    @property
    def partition(self) -> str: ...

    @property
    def sequence(self) -> int: ...

    @property
    def durable(self) -> Durable: ...


# SignalRecord and ObservationRecord are made once per streamed event: slots dataclasses that
# nothing mutates, not frozen=True, whose __init__ costs ~3x more (see omen.domain.signals).


@dataclass(slots=True)
class SignalRecord:
    """An emitted signal to append (as SignalLedger.append_signal takes it)."""

    signal: OmenSignal
    market_key: str
    probability: float


@dataclass(slots=True)
class ObservationRecord:
    """A rejected event's observation to append (as SignalLedger.append_observation takes it)."""

    event_hash: str
    market_key: str
    probability: float
    observed_at_ns: int


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

    def append_many(
        self, records: Sequence[SignalRecord | ObservationRecord]
    ) -> Sequence[LedgerTicket]:
        """Queue `records` in order, one ticket each. Adapters override this to queue them in
        one step (usually one group commit); the last ticket's `durable` completing means every
        one of them is durable."""
        return [
            self.append_signal(r.signal, r.market_key, r.probability)
            if isinstance(r, SignalRecord)
            else self.append_observation(
                r.event_hash, r.market_key, r.probability, r.observed_at_ns
            )
            for r in records
        ]

    def refuses(self, observed_at_ns: int) -> str | None:
        """Why an event observed at `observed_at_ns` cannot be recorded (e.g. its date is
        sealed for good), or None. Checked before the event is decided."""
        return None

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


@dataclass(frozen=True, slots=True)
class FeedBatch:
    """Acknowledged signals read from the ledger, and how far the read looked."""

    deliveries: tuple[Delivery, ...]
    #: Every record with an LSN up to this one was examined: the ones that are not signals
    #: (observations of rejected events) need no delivery, so a cursor may move here once all
    #: of `deliveries` are done.
    scanned_lsn: int


class SignalFeed(abc.ABC):
    """The ledger's acknowledged signals in LSN order, as the outbox reads them.

    read_after and signals_after may read files: call them off the event loop (a thread).
    """

    @property
    @abc.abstractmethod
    def acked_lsn(self) -> int:
        """Every record with an LSN up to this one is acknowledged (durable)."""

    @abc.abstractmethod
    def open(self, base_lsn: int) -> None:
        """Start hearing commits (on the running event loop); no cursor will go below base_lsn."""

    @abc.abstractmethod
    def close(self) -> None:
        """Stop hearing commits."""

    @abc.abstractmethod
    def read_after(self, lsn: int, limit: int) -> FeedBatch:
        """Up to `limit` acknowledged signals with an LSN above `lsn`, in LSN order."""

    @abc.abstractmethod
    async def wait_beyond(self, lsn: int) -> None:
        """Return once acked_lsn > lsn."""

    @abc.abstractmethod
    def signals_after(self, lsn: int) -> int:
        """How many acknowledged signals have an LSN above `lsn` (lsn >= the open's base_lsn)."""

    def forget_through(self, lsn: int) -> None:  # noqa: B027 - optional hint
        """No cursor will ask about LSNs up to `lsn` again (what a count index may drop)."""


class CursorStore(abc.ABC):
    """Each publisher's durable cursor: the LSN of the last record it is done with."""

    @abc.abstractmethod
    def load(self, publisher: str) -> int:
        """The saved cursor, 0 when there is none yet."""

    @abc.abstractmethod
    def save(self, publisher: str, lsn: int) -> None:
        """Replace the cursor durably (it survives a crash once this returns)."""


class DeadLetterStore(abc.ABC):
    """Where signals a publisher refused for good are kept, with why, for a later replay."""

    @abc.abstractmethod
    def add(self, publisher: str, delivery: Delivery, reason: str, failed_at_ns: int) -> None:
        """Record one dead letter durably (it survives a crash once this returns)."""

"""Ports: the small abstract interfaces the application needs from adapters."""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from dataclasses import dataclass

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

"""The outbox's SignalFeed on top of the ledger: acknowledged SIGNAL records in LSN order.

Commits are heard through the ledger's commit listeners (called in its writer thread after each
group commit) and turned into one wake-up of the event loop at a time, however many commits
happen meanwhile. The backlog count (signals after a cursor) comes from a sorted array of the
LSNs of SIGNAL records after the lowest cursor, extended lazily: only when someone asks
(ListPublishers, a metrics scrape), by reading the records committed since the last ask. So the
delivery path pays nothing for it, the count is exact (as of the moment it is asked), and its
memory is 8 bytes per undelivered signal.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from array import array
from bisect import bisect_right

from omen.adapters.ledger.ledger import Ledger
from omen.adapters.ledger.records import RecordType
from omen.adapters.ledger.signals import signal_of
from omen.application.ports import Delivery, FeedBatch, SignalFeed

# A read examines at most about this many records per signal asked for, so that a stretch of
# rejected events (observations) cannot make one read arbitrarily long.
_SCAN_FACTOR = 16
# Forgetting shifts the array; do it in chunks.
_FORGET_CHUNK = 4096


class LedgerFeed(SignalFeed):
    def __init__(self, ledger: Ledger):
        self._ledger = ledger
        self._loop: asyncio.AbstractEventLoop | None = None
        self._event: asyncio.Event | None = None
        self._wake_pending = False
        self._lock = threading.Lock()
        self._lsns = array("Q")
        self._indexed = 0

    @property
    def acked_lsn(self) -> int:
        return self._ledger.acked_lsn

    def open(self, base_lsn: int) -> None:
        self._loop = asyncio.get_running_loop()
        self._event = asyncio.Event()
        with self._lock:
            self._lsns = array("Q")
            self._indexed = base_lsn
        self._ledger.add_commit_listener(self._heard)

    def close(self) -> None:
        self._ledger.remove_commit_listener(self._heard)

    def _heard(self, acked_lsn: int) -> None:  # the ledger's writer thread
        if self._wake_pending or self._loop is None:
            return
        self._wake_pending = True
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
            self._loop.call_soon_threadsafe(self._wake)

    def _wake(self) -> None:
        self._wake_pending = False
        if self._event is not None:
            self._event.set()
            self._event.clear()

    async def wait_beyond(self, lsn: int) -> None:
        assert self._event is not None, "open() first"
        while self._ledger.acked_lsn <= lsn:
            await self._event.wait()

    def read_after(self, lsn: int, limit: int) -> FeedBatch:
        acked = self._ledger.acked_lsn
        out: list[Delivery] = []
        scanned = lsn
        # LSNs are dense (one counter over every record), so `limit` signals lie within the
        # next `limit` LSNs unless observations are mixed in: read that window (the ledger
        # then reads only its bytes), and widen it while observations leave the batch short.
        window = limit
        while scanned < acked and len(out) < limit and scanned - lsn < limit * _SCAN_FACTOR:
            upto = min(acked, scanned + window)
            for entry in self._ledger.entries_after(scanned, upto):
                if entry.type == RecordType.SIGNAL:
                    position = entry.position
                    out.append(
                        Delivery(entry.lsn, position.partition, position.sequence, signal_of(entry))
                    )
                    if len(out) >= limit:
                        upto = entry.lsn
                        break
            scanned = upto
            window *= 2
        return FeedBatch(tuple(out), scanned)

    def signals_after(self, lsn: int) -> int:
        with self._lock:
            upto = self._ledger.acked_lsn
            if upto > self._indexed:
                lsns = self._lsns
                for entry in self._ledger.entries_after(self._indexed, upto):
                    if entry.type == RecordType.SIGNAL:
                        lsns.append(entry.lsn)
                self._indexed = upto
            return len(self._lsns) - bisect_right(self._lsns, lsn)

    def forget_through(self, lsn: int) -> None:
        with self._lock:
            drop = bisect_right(self._lsns, lsn)
            if drop >= _FORGET_CHUNK or (drop and drop * 2 >= len(self._lsns)):
                del self._lsns[:drop]

"""Follow the ledger from an LSN: acknowledged SIGNAL records in LSN order, then live ones.

Every follower keeps its own cursor (the last LSN it passed) and reads the ledger itself with
`Ledger.entries_after(cursor, upto)`, at most `chunk_records` LSNs at a time; it reads the next
chunk only when its consumer has taken everything of the previous one. So a follower holds at
most one chunk whatever its backlog, and a consumer that stops reading stops its follower (a
gRPC stream awaits each write, and gRPC's flow control stops the writes) without holding up the
others or making anything buffer. LSNs are one counter over every record of every partition, so
an LSN range of N holds at most N records.

Caught-up followers wait for the ledger's next group commit. All followers of one `LedgerTail`
(one per ledger and event loop) share one commit listener, registered while at least one of
them runs: the writer thread calls it after each commit, and it wakes the loop at most once per
loop iteration, however many commits and followers there are.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Callable
from typing import TypeVar

from omen.adapters.ledger.ledger import Entry, Ledger
from omen.adapters.ledger.records import RecordType

T = TypeVar("T")

#: LSNs read per chunk: the most a follower holds at once (records of ~1-2 KiB: ~0.5 MiB).
CHUNK_RECORDS = 256
#: Chunks this small (a live tail's usual commit) are read on the event loop: the bytes were
#: just written, so they are in the page cache, and a thread hop would cost more than the read.
INLINE_RECORDS = 32


def _entry(entry: Entry) -> Entry:
    return entry


class LedgerTail:
    """The followers of one ledger on one event loop. `close()` ends every one of them."""

    def __init__(
        self,
        ledger: Ledger,
        *,
        chunk_records: int = CHUNK_RECORDS,
        inline_records: int = INLINE_RECORDS,
    ):
        if chunk_records < 1:
            raise ValueError(f"chunk_records must be >= 1, got {chunk_records}")
        self.ledger = ledger
        self._chunk = chunk_records
        self._inline = inline_records
        self._loop: asyncio.AbstractEventLoop | None = None
        # Resolved (and dropped) at the next commit or at close; created by the first waiter.
        self._changed: asyncio.Future[None] | None = None
        # A wake-up is scheduled on the loop and has not run yet (set by the writer thread).
        self._pending = False
        self._followers = 0
        self._closed = False
        # One bound method, so remove_commit_listener (which compares identity) finds it.
        self._listener = self._on_commit

    @property
    def followers(self) -> int:
        """Followers running now."""
        return self._followers

    @property
    def listening(self) -> bool:
        """True while the shared commit listener is registered (some follower runs)."""
        return self._followers > 0

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """End every follower (each returns at its next step: when it waits for a commit, or
        once its consumer took what it was handed) and make later ones end at once."""
        self._closed = True
        self._wake()

    async def follow(self, after_lsn: int) -> AsyncGenerator[Entry, None]:
        """Acknowledged SIGNAL entries with LSN > `after_lsn`, in LSN order, forever (until
        `close()`). OBSERVATION records are skipped."""
        # aclosing: closing this generator must close the inner one (and leave the listener).
        async with contextlib.aclosing(self.select(after_lsn, _entry)) as entries:
            async for entry in entries:
                yield entry

    async def select(
        self, after_lsn: int, pick: Callable[[Entry], T | None]
    ) -> AsyncGenerator[T, None]:
        """As `follow`, through `pick`, which decodes and filters each SIGNAL entry where the
        chunk is read (a worker thread for chunks above `inline_records`) and returns None to
        skip it: what a selective consumer skips never reaches its loop."""
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
        elif self._loop is not loop:
            raise RuntimeError("a LedgerTail serves one event loop; make one per loop")
        self._join()
        try:
            cursor = after_lsn
            while not self._closed:
                acked = self.ledger.acked_lsn
                if acked <= cursor:
                    changed = self._next_change()
                    if self.ledger.acked_lsn <= cursor and not self._closed:
                        # Shielded: the future is shared, and one follower being cancelled
                        # (its client went away) must not cancel the others' wait.
                        await asyncio.shield(changed)
                    continue
                upto = min(acked, cursor + self._chunk)
                if upto - cursor <= self._inline:
                    items = self._read(cursor, upto, pick)
                else:
                    items = await asyncio.to_thread(self._read, cursor, upto, pick)
                cursor = upto
                for item in items:
                    yield item
                    if self._closed:
                        return
                del items
        finally:
            self._leave()

    def _read(self, after: int, upto: int, pick: Callable[[Entry], T | None]) -> list[T]:
        out: list[T] = []
        for entry in self.ledger.entries_after(after, upto):
            if entry.type == RecordType.SIGNAL:
                item = pick(entry)
                if item is not None:
                    out.append(item)
        return out

    # ------------------------------------------------------------------ the shared listener

    def _join(self) -> None:
        self._followers += 1
        if self._followers == 1:
            self.ledger.add_commit_listener(self._listener)

    def _leave(self) -> None:
        self._followers -= 1
        if self._followers == 0:
            self.ledger.remove_commit_listener(self._listener)

    def _next_change(self) -> asyncio.Future[None]:
        if self._changed is None:
            assert self._loop is not None
            self._changed = self._loop.create_future()
        return self._changed

    def _on_commit(self, acked_lsn: int) -> None:
        """Runs in the ledger's writer thread after every group commit."""
        if self._pending:  # a wake-up is on its way; it will see this commit's acked_lsn too
            return
        loop = self._loop
        if loop is None:
            return
        self._pending = True
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is waiting
            loop.call_soon_threadsafe(self._wake)

    def _wake(self) -> None:
        self._pending = False
        changed, self._changed = self._changed, None
        if changed is not None and not changed.done():
            changed.set_result(None)


async def follow(ledger: Ledger, after_lsn: int) -> AsyncGenerator[Entry, None]:
    """`LedgerTail(ledger).follow(after_lsn)` for a single follower (no shared listener)."""
    async with contextlib.aclosing(LedgerTail(ledger).follow(after_lsn)) as entries:
        async for entry in entries:
            yield entry

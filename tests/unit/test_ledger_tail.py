"""Ledger.entries_after and commit listeners: what a live tail (WatchSignals, the outbox) reads.
Only acknowledged records are shown, in LSN order across partitions."""

from __future__ import annotations

import random
import threading

from omen.adapters.ledger.files import FileLayer
from omen.adapters.ledger.ledger import Ledger, LedgerOptions
from tests.support import NS, T0_NS

DAY = 86_400 * NS


class HeldSync(FileLayer):
    """The writer's fdatasync waits until released: the bytes are written but not yet
    acknowledged. (The background thread preparing the spare segment syncs too; holding that
    one would signal `entered` before the record is written.)"""

    def __init__(self) -> None:
        self.hold = False
        self.entered = threading.Event()
        self.release = threading.Event()

    def fdatasync(self, fd: int) -> None:
        if self.hold and threading.current_thread().name == "omen-ledger":
            self.entered.set()
            self.release.wait(10)
        super().fdatasync(fd)


def _fill(ledger: Ledger, n: int, seed: int) -> list[tuple[int, bytes]]:
    rng = random.Random(seed)
    written = []
    for i in range(n):
        body = rng.randbytes(rng.randrange(1, 300)) + i.to_bytes(4, "little")
        day = rng.randrange(3)
        a = ledger.append(T0_NS + day * DAY, 1 + (i % 2), body)
        written.append((a.lsn, body))
    a.commit.wait()
    return written


def test_entries_after_is_the_lsn_ordered_suffix_across_partitions_and_segments(tmp_path):
    with Ledger.open(tmp_path, LedgerOptions(segment_bytes=8 * 1024, seal_grace_s=None)) as led:
        written = _fill(led, 600, 1)
        assert len(led.partition_names()) == 3
        assert sum(len(led.segments(n)) for n in led.partition_names()) > 6
        for after in (0, 1, 17, 299, 598, 599, 600, 1000):
            got = [(e.lsn, e.body) for e in led.entries_after(after)]
            assert got == [(lsn, body) for lsn, body in written if lsn > after]
        assert [e.lsn for e in led.entries_after(100, upto=120)] == list(range(101, 121))
        # A sealed partition reads the same.
        led.seal(led.partition_names()[0])
        assert [(e.lsn, e.body) for e in led.entries_after(0)] == written


def test_written_but_unacknowledged_records_are_not_shown_and_listeners_hear_commits(tmp_path):
    files = HeldSync()
    heard: list[int] = []
    with Ledger.open(tmp_path, LedgerOptions(seal_grace_s=None), files=files) as led:
        led.add_commit_listener(heard.append)
        first = led.append(T0_NS, 1, b"first")
        first.commit.wait()
        assert heard == [first.lsn] and led.acked_lsn == first.lsn
        files.hold = True
        second = led.append(T0_NS, 1, b"second")
        assert files.entered.wait(10)  # written, now syncing
        assert led.segments(led.partition_names()[0])[0].count == 2
        name = led.partition_names()[0]
        assert led.holds(name, 2) and led.holds(name, 1)  # written: readable, not yet acked
        assert not led.holds(name, 3) and not led.holds(name, 0)
        assert not led.holds("1999-01-01", 1)
        assert [e.body for e in led.entries_after(0)] == [b"first"]
        files.hold = False
        files.release.set()
        second.commit.wait()
        assert [e.body for e in led.entries_after(0)] == [b"first", b"second"]
        assert heard == [first.lsn, second.lsn]

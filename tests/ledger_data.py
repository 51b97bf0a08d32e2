"""Small real ledgers for the ledger maintenance tests: realistic records, known contents."""

from __future__ import annotations

import errno
import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from omen._proto import signal_pb2
from omen.adapters.ledger.files import FileLayer
from omen.adapters.ledger.ledger import Ledger, LedgerOptions
from omen.adapters.ledger.records import RecordType, encode_observation, encode_signal
from tests.support import NS, T0_NS

DAY1 = "2026-11-18"  # T0_NS is 2026-11-18T07:33:20Z
DAY2 = "2026-11-19"
DAY_NS = 86_400 * NS
#: Small segments, so a partition of a few dozen records spans several; no automatic sealing.
OPTIONS = LedgerOptions(segment_bytes=4096, seal_grace_s=None)

_TITLES = (
    "Will shipping through the Red Sea be disrupted by Houthi attacks in December?",
    "Will the Port of Rotterdam suspend container operations before January 15?",
    "Will the EU adopt a new sanctions package against Russia by year end?",
    "Will a category 4 hurricane make landfall in the Gulf of Mexico this season?",
    "Will dockworkers on the US East Coast strike before the contract deadline?",
)


@dataclass(frozen=True)
class Written:
    """One record as the test wrote it."""

    partition: str
    lsn: int
    type: int
    body: bytes


def signal_id(i: int) -> str:
    return "sig-" + hashlib.sha256(b"signal %d" % i).hexdigest()[:32]


def record(i: int, observed_ns: int) -> tuple[int, bytes]:
    """Record number `i`: every fifth an OBSERVATION, the rest SIGNALs with a real OmenSignal."""
    event_hash = hashlib.sha256(b"event %d" % i).hexdigest()
    market = f"polymarket:m-{i % 7}"
    probability = 0.30 + (i % 50) / 100
    if i % 5 == 4:
        return RecordType.OBSERVATION, encode_observation(event_hash, probability, market)
    message = signal_pb2.OmenSignal(
        signal_id=signal_id(i),
        input_event_hash=event_hash,
        source_event_id=f"pm-{i}",
        source="polymarket",
        market_id=f"m-{i % 7}",
        title=_TITLES[i % len(_TITLES)],
        description="Resolves YES if major carriers suspend transits for at least 7 days. "
        "Market data: liquidity, volume and trader counts as reported by the venue.",
        probability=probability,
        confidence_score=0.5 + (i % 10) / 40,
        ruleset_version="2026.11.2",
        trace_id=f"trace-{i:08d}",
    )
    message.observed_at.FromNanoseconds(observed_ns)
    body = encode_signal(event_hash, signal_id(i), probability, market, message.SerializeToString())
    return RecordType.SIGNAL, body


def append(ledger: Ledger, numbers: Iterable[int], day_ns: int = T0_NS) -> list[Written]:
    """Append records `numbers` for the UTC day of `day_ns`; return once they are durable."""
    written = []
    commits = []
    for i in numbers:
        rtype, body = record(i, day_ns + i * NS)
        appended = ledger.append(day_ns + i * NS, rtype, body)
        commits.append(appended.commit)
        written.append(Written(appended.position.partition, appended.lsn, rtype, body))
    for commit in commits:
        commit.wait(30)
    return written


def build(root: Path, day1: int = 40, day2: int = 12) -> list[Written]:
    """A ledger with `day1` records on DAY1 (several segments) and `day2` on DAY2."""
    with Ledger.open(root, OPTIONS) as ledger:
        return append(ledger, range(day1)) + append(
            ledger, range(1000, 1000 + day2), T0_NS + DAY_NS
        )


def contents(root: Path, archive: Path | None = None) -> list[Written]:
    """Every record readable from the ledger at `root`, plus those of archived partitions
    that are not (also) in the ledger, in LSN order. Raises if a record appears twice."""
    found: list[Written] = []
    with Ledger.open(root, read_only=True) as ledger:
        live = set(ledger.partition_names())
        for name in sorted(live):
            found.extend(Written(name, e.lsn, e.type, e.body) for e in ledger.read(name))
    if archive is not None and archive.is_dir():
        with Ledger.open(archive, read_only=True) as archived:
            for name in archived.partition_names():
                if name not in live:
                    found.extend(Written(name, e.lsn, e.type, e.body) for e in archived.read(name))
    lsns = [w.lsn for w in found]
    assert len(lsns) == len(set(lsns)), "a record is readable twice"
    return sorted(found, key=lambda w: w.lsn)


class Crash(OSError):
    """The simulated crash: the process 'dies' before the step that raised it."""


class CrashingFiles(FileLayer):
    """A file layer that dies at its N-th mutating call once armed: that call and every later
    one raise Crash, so nothing after the crash point reaches the files."""

    def __init__(self) -> None:
        self.crash_at: int | None = None
        self.calls = 0
        self.crashed = False
        self.steps: list[str] = []

    def arm(self, n: int) -> None:
        self.crash_at, self.calls, self.crashed, self.steps = n, 0, False, []

    def _step(self, what: str) -> None:
        if self.crashed:
            raise Crash(errno.EIO, f"the process is dead; {what} never happened")
        if self.crash_at is None:
            return
        self.calls += 1
        self.steps.append(what)
        if self.calls >= self.crash_at:
            self.crashed = True
            raise Crash(errno.EIO, f"simulated crash before step {self.calls}: {what}")

    def open(self, path: str, flags: int, mode: int = 0o644) -> int:
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC):
            self._step(f"open {path}")
        return super().open(path, flags, mode)

    def pwrite(self, fd: int, data: bytes | memoryview, offset: int) -> None:
        self._step(f"pwrite fd {fd} at {offset}")
        super().pwrite(fd, data, offset)

    def fdatasync(self, fd: int) -> None:
        self._step(f"fdatasync fd {fd}")
        super().fdatasync(fd)

    def fsync(self, fd: int) -> None:
        self._step(f"fsync fd {fd}")
        super().fsync(fd)

    def ftruncate(self, fd: int, size: int) -> None:
        self._step(f"ftruncate fd {fd} to {size}")
        super().ftruncate(fd, size)

    def rename(self, src: str, dst: str) -> None:
        self._step(f"rename {src} -> {dst}")
        super().rename(src, dst)

    def unlink(self, path: str) -> None:
        self._step(f"unlink {path}")
        super().unlink(path)

    def mkdir(self, path: str) -> None:
        self._step(f"mkdir {path}")
        super().mkdir(path)

    def rmdir(self, path: str) -> None:
        self._step(f"rmdir {path}")
        super().rmdir(path)

    def fsync_dir(self, path: str) -> None:
        self._step(f"fsync_dir {path}")
        super().fsync_dir(path)

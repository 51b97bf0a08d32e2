"""The ledger core on real files in tmp_path: appends, positions, segments, group commit,
durability modes, failing closed, the lock, sealing, and recovery from torn and damaged tails.

The file layer is the seam (tests/ledger_support.py): it logs every call, so ordering claims
(nothing completes before its bytes are synced; the manifest is renamed only after its fsync) are
checked against what the ledger actually asked the operating system to do, and it injects ENOSPC
and EIO and simulates the loss of unsynced writes.

Under OMEN_NO_EXTENSIONS=1 the same tests run on the pure-Python twins; sizes are kept small so
that they stay fast there.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import hashlib
import itertools
import json
import mmap
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from errno import EOPNOTSUPP
from pathlib import Path

import pytest

from omen import native
from omen.adapters.ledger.format import (
    HEADER_BYTES,
    NS_PER_DAY,
    RECORD_OVERHEAD,
    LedgerCorruptError,
    LedgerError,
    LedgerFailedError,
    LedgerLockedError,
    SegmentHeader,
)
from omen.adapters.ledger.ledger import Commit, Entry, Ledger, LedgerOptions, Position
from omen.adapters.ledger.records import RecordType
from tests.ledger_support import (
    EIO,
    ENOSPC,
    Event,
    FaultyFiles,
    FreshFdFiles,
    GatedFiles,
    final_path,
)
from tests.support import ROOT, wait_until

DAY0_NS = 20_775 * NS_PER_DAY
DAY0 = "2026-11-18"
DAY1 = "2026-11-19"
DAY2 = "2026-11-20"
RTYPE = 5


def at(day: int = 0, ns: int = 0) -> int:
    """A timestamp `ns` into day DAY0 + `day` (UTC)."""
    return DAY0_NS + day * NS_PER_DAY + ns


def opts(**overrides: object) -> LedgerOptions:
    settings: dict[str, object] = {"segment_bytes": 64 * 1024, "seal_grace_s": None}
    settings.update(overrides)
    return LedgerOptions(**settings)  # type: ignore[arg-type]


def make_body(n: int, size: int = 40) -> bytes:
    """A deterministic body with no zero byte (so zeroing any part of it changes it)."""
    rng = random.Random(n)
    return bytes(rng.randrange(1, 256) for _ in range(size))


def signal_body(n: int, size: int = 80) -> bytes:
    """A SIGNAL-shaped body: 32-byte event hash, 16-byte signal id, then anything."""
    return (
        hashlib.sha256(b"event-%d" % n).digest()
        + hashlib.md5(b"id-%d" % n).digest()
        + (make_body(n, max(0, size - 48)))
    )


def bodies_of(ledger: Ledger, name: str) -> list[bytes]:
    return [entry.body for entry in ledger.read(name)]


def append_all(
    ledger: Ledger, bodies: list[bytes], day: int = 0, rtype: int = RTYPE
) -> list[Position]:
    appended = [ledger.append(at(day, i), rtype, body) for i, body in enumerate(bodies)]
    for a in appended:
        a.commit.wait(10)
    return [a.position for a in appended]


def segment_files(root: Path, name: str) -> list[Path]:
    return sorted((root / name).glob("signals-*.wal"))


def _tmp(path: str) -> bool:
    return path.endswith(".tmp")


def _segment(path: str) -> bool:
    return path.endswith(".wal")


def _synced_after_last_write(files: FaultyFiles, under: str) -> bool:
    events = list(files.events)
    writes = [
        i
        for i, e in enumerate(events)
        if e.op == "pwrite" and f"/{under}/" in e.path and _segment(e.path)
    ]
    last = events[writes[-1]].path
    return any(e.op == "fdatasync" and e.path == last for e in events[writes[-1] :])


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "ledger"


@pytest.fixture
def ledger(root: Path) -> Iterator[Ledger]:
    with Ledger.open(root, opts()) as opened:
        yield opened


# ---------------------------------------------------------------------------------- appending


def test_appended_records_read_back_identical_by_read_get_and_replay(ledger: Ledger) -> None:
    bodies = [make_body(n, n * 7 % 300) for n in range(50)] + [b""]
    positions = append_all(ledger, bodies)

    assert bodies_of(ledger, DAY0) == bodies
    assert [ledger.get(p).body for p in positions] == bodies
    replayed = list(ledger.replay())
    assert [e.body for e in replayed] == bodies
    assert all(e.type == RTYPE for e in replayed)
    assert [e.lsn for e in replayed] == list(range(1, len(bodies) + 1))


def test_get_reads_records_shorter_and_longer_than_one_read_ahead(ledger: Ledger) -> None:
    """get reads a record with one 4 KiB pread and the rest of a longer one with a second."""
    edge = 4096 - RECORD_OVERHEAD
    sizes = [0, 1, edge - 1, edge, edge + 1, 4096, 20_000, 3]
    bodies = [make_body(n, size) for n, size in enumerate(sizes)]
    positions = append_all(ledger, bodies)
    assert [ledger.get(p).body for p in positions] == bodies
    assert [ledger.get(p).lsn for p in positions] == list(range(1, len(bodies) + 1))


def test_positions_are_the_utc_date_and_a_sequence_from_one_per_partition(ledger: Ledger) -> None:
    stamps = [at(0), at(1), at(0, NS_PER_DAY - 1), at(2, 5), at(1, NS_PER_DAY - 1), at(0, 1)]
    appended = [ledger.append(ts, RTYPE, make_body(i)) for i, ts in enumerate(stamps)]
    appended[-1].commit.wait(10)

    assert [(a.position.partition, a.position.sequence) for a in appended] == [
        (DAY0, 1),
        (DAY1, 1),
        (DAY0, 2),
        (DAY2, 1),
        (DAY1, 2),
        (DAY0, 3),
    ]
    assert [a.lsn for a in appended] == [1, 2, 3, 4, 5, 6]
    assert ledger.partition_names() == [DAY0, DAY1, DAY2]
    assert [e.position.sequence for e in ledger.read(DAY0)] == [1, 2, 3]
    assert [e.body for e in ledger.read(DAY0, from_sequence=2)] == [make_body(2), make_body(5)]


def test_replay_merges_the_partitions_in_lsn_order(ledger: Ledger) -> None:
    rng = random.Random(3)
    days = [rng.randrange(3) for _ in range(60)]
    appended = [ledger.append(at(d, i), RTYPE, make_body(i)) for i, d in enumerate(days)]
    appended[-1].commit.wait(10)

    replayed = list(ledger.replay())
    assert [e.body for e in replayed] == [make_body(i) for i in range(60)]
    assert [e.position for e in replayed] == [a.position for a in appended]
    assert all(isinstance(e, Entry) for e in replayed)


def test_get_of_a_position_that_does_not_exist_raises(ledger: Ledger) -> None:
    append_all(ledger, [make_body(1)])
    with pytest.raises(LedgerError, match="no record"):
        ledger.get(Position(DAY0, 2))
    with pytest.raises(LedgerError, match="no partition"):
        ledger.get(Position(DAY1, 1))


@contextlib.contextmanager
def _opened(gate: threading.Event) -> Iterator[None]:
    """Open the gate on the way out, also when the test fails (or close would wait)."""
    try:
        yield
    finally:
        gate.set()


def test_get_reads_a_record_the_writer_has_not_written_yet(root: Path) -> None:
    """Accepted records are readable at once (the signal index relies on it): the one in the
    batch being written and those queued behind it, then the same bytes from the segment."""
    files = GatedFiles()
    with Ledger.open(root, opts(), files=files) as ledger, _opened(files.gate):
        first = ledger.append(at(0, 0), RTYPE, make_body(0))
        assert files.writing.wait(10)  # the writer holds the first batch
        rest = [ledger.append(at(0, n), RTYPE + 1, make_body(n)) for n in (1, 2)]
        appended = [first, *rest]
        for n, a in enumerate(appended):
            assert not ledger.holds(a.position.partition, a.position.sequence)
            entry = ledger.get(a.position)
            assert (entry.body, entry.lsn, entry.type) == (make_body(n), a.lsn, RTYPE + (n > 0))
        with pytest.raises(LedgerError, match="no record"):
            ledger.get(Position(DAY0, 4))
        files.gate.set()
        appended[-1].commit.wait(10)
        for n, a in enumerate(appended):
            assert ledger.holds(a.position.partition, a.position.sequence)
            assert ledger.get(a.position).body == make_body(n)


def test_a_queued_batch_over_two_dates_reads_back_by_position_before_and_after_writing(
    root: Path,
) -> None:
    """One batch holding two partitions' records, interleaved: each position reads its own
    record while queued and once written, and the last LSN is what the writer acknowledges."""
    files = GatedFiles()
    with Ledger.open(root, opts(), files=files) as ledger, _opened(files.gate):
        ledger.append(at(0, 0), RTYPE, make_body(0))
        assert files.writing.wait(10)  # the writer holds the first batch; the next one queues
        queued = ledger.append_many(
            [(at(n % 2, n), RTYPE, make_body(100 + n)) for n in range(1, 9)]
        )
        assert [a.position for a in queued] == [
            Position(DAY1, (n + 1) // 2) if n % 2 else Position(DAY0, 1 + n // 2)
            for n in range(1, 9)
        ]
        for n, a in enumerate(queued, start=1):
            entry = ledger.get(a.position)
            assert (entry.body, entry.lsn) == (make_body(100 + n), a.lsn)
        with pytest.raises(LedgerError, match="no record"):
            ledger.get(Position(DAY1, 5))
        files.gate.set()
        queued[-1].commit.wait(10)
        for n, a in enumerate(queued, start=1):
            assert ledger.holds(a.position.partition, a.position.sequence)
            entry = ledger.get(a.position)
            assert (entry.body, entry.lsn) == (make_body(100 + n), a.lsn)
        assert ledger.acked_lsn == queued[-1].lsn


def test_records_for_a_sealed_date_go_to_its_late_partition(ledger: Ledger) -> None:
    append_all(ledger, [make_body(1), make_body(2)])
    ledger.seal(DAY0, timeout=10)

    late = ledger.append(at(0, 7), RTYPE, make_body(3))
    late.commit.wait(10)

    assert late.position == Position(DAY0 + "-late", 1)
    assert bodies_of(ledger, DAY0) == [make_body(1), make_body(2)]
    assert bodies_of(ledger, DAY0 + "-late") == [make_body(3)]
    assert ledger.summary(DAY0).sealed and not ledger.summary(DAY0 + "-late").sealed


def test_appending_for_a_date_whose_partition_and_late_partition_are_sealed_raises(
    ledger: Ledger,
) -> None:
    append_all(ledger, [make_body(1)])
    ledger.seal(DAY0, timeout=10)
    append_all(ledger, [make_body(2)])
    ledger.seal(DAY0 + "-late", timeout=10)

    with pytest.raises(LedgerError, match="both sealed") as refused:
        ledger.append(at(0), RTYPE, make_body(3))
    assert not isinstance(refused.value, LedgerFailedError)
    # Other dates are unaffected.
    assert append_all(ledger, [make_body(4)], day=1) == [Position(DAY1, 1)]


# ---------------------------------------------------------------------------------- segments


def test_segments_roll_at_segment_bytes_and_stay_preallocated_until_sealed(root: Path) -> None:
    segment_bytes = 4096
    bodies = [make_body(n, 300) for n in range(40)]
    with Ledger.open(root, opts(segment_bytes=segment_bytes)) as ledger:
        append_all(ledger, bodies)
        files = segment_files(root, DAY0)
        per_segment = (segment_bytes - HEADER_BYTES) // (RECORD_OVERHEAD + 300)
        assert len(files) == -(-len(bodies) // per_segment)
        assert [f.stat().st_size for f in files] == [segment_bytes] * len(files)
        assert [s.count for s in ledger.segments(DAY0)][:-1] == [per_segment] * (len(files) - 1)
        assert bodies_of(ledger, DAY0) == bodies

        ledger.seal(DAY0, timeout=10)

        for seg in ledger.segments(DAY0):
            assert os.path.getsize(seg.path) == seg.valid_end < segment_bytes
    with Ledger.open(root, opts(segment_bytes=segment_bytes), read_only=True) as reopened:
        assert bodies_of(reopened, DAY0) == bodies


def test_a_full_segment_is_synced_then_dropped_from_the_page_cache_at_the_roll(
    root: Path,
) -> None:
    files = FaultyFiles()
    with Ledger.open(root, opts(segment_bytes=4096), files=files) as ledger:
        append_all(ledger, [make_body(n, 300) for n in range(40)])
        *full, current = ledger.segments(DAY0)
        assert len(full) >= 2
        for segment in full:
            ops = [e.op for e in files.events if e.path == segment.path]
            assert ops[-3:] == ["fdatasync", "drop_cache", "close"], ops
        assert "drop_cache" not in [e.op for e in files.events if e.path == current.path]


def _resident_pages(path: Path, size: int) -> int:
    """How many of the file's first `size` bytes' pages are in the page cache (mincore)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_ubyte)]
    pages = -(-size // mmap.PAGESIZE)
    vector = (ctypes.c_ubyte * pages)()
    with open(path, "rb") as fh:
        # A private mapping reads the file's own pages (nothing here writes to it), and a
        # writable buffer is what ctypes can take the address of.
        mapped = mmap.mmap(fh.fileno(), size, access=mmap.ACCESS_COPY)
        try:
            view = (ctypes.c_char * size).from_buffer(mapped)
            try:
                if libc.mincore(ctypes.addressof(view), size, vector) != 0:
                    raise OSError(ctypes.get_errno(), "mincore")
            finally:
                del view
        finally:
            mapped.close()
    return sum(v & 1 for v in vector)


def _file_system_type(path: Path) -> str:
    best, kind = "", ""
    with open("/proc/mounts") as mounts:
        for line in mounts:
            _, point, fs_type, *_ = line.split()
            if str(path).startswith(point) and len(point) > len(best):
                best, kind = point, fs_type
    return kind


def test_the_page_cache_keeps_the_segment_being_written_and_not_the_full_ones(
    tmp_path: Path,
) -> None:
    base = tmp_path
    if _file_system_type(base) in ("tmpfs", "ramfs"):  # there, the page cache is the storage
        base = Path(tempfile.mkdtemp(prefix="ledger-cache-", dir=ROOT))
    try:
        root = base / "ledger"
        with Ledger.open(root, opts(segment_bytes=1024 * 1024)) as ledger:
            append_all(ledger, [make_body(n, 2000) for n in range(1800)])  # ~3.5 MiB
            *full, current = ledger.segments(DAY0)
            assert len(full) >= 3
            for segment in full:
                assert _resident_pages(Path(segment.path), segment.valid_end) <= 2, segment
            written = -(-current.valid_end // mmap.PAGESIZE)
            assert _resident_pages(Path(current.path), current.valid_end) >= written // 2
    finally:
        if base != tmp_path:
            shutil.rmtree(base)


@pytest.mark.parametrize("fallocate", ["supported", "EOPNOTSUPP"])
def test_preallocating_makes_the_file_that_long_and_all_zeros(
    tmp_path: Path, fallocate: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if fallocate == "EOPNOTSUPP":

        def unsupported(fd: int, offset: int, length: int) -> None:
            raise OSError(EOPNOTSUPP, os.strerror(EOPNOTSUPP))

        monkeypatch.setattr(os, "posix_fallocate", unsupported)
    files = FaultyFiles()
    path = str(tmp_path / "seg.tmp")
    fd = files.open(path, os.O_RDWR | os.O_CREAT)
    try:
        files.preallocate(fd, 3 * 1024 * 1024 + 5)
    finally:
        files.close(fd)
    assert Path(path).read_bytes() == bytes(3 * 1024 * 1024 + 5)
    assert os.stat(path).st_blocks * 512 >= 3 * 1024 * 1024 + 5  # allocated, not a hole
    wrote = files.count("pwrite")
    assert wrote == (0 if fallocate == "supported" else 4)  # the fallback: 1 MiB at a time


def test_preallocating_passes_on_a_full_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(fd: int, offset: int, length: int) -> None:
        raise OSError(ENOSPC, os.strerror(ENOSPC))

    monkeypatch.setattr(os, "posix_fallocate", full)
    files = FaultyFiles()
    fd = files.open(str(tmp_path / "seg.tmp"), os.O_RDWR | os.O_CREAT)
    try:
        with pytest.raises(OSError) as caught:
            files.preallocate(fd, 4096)
    finally:
        files.close(fd)
    assert caught.value.errno == ENOSPC
    assert files.count("pwrite") == 0  # no zero fill that would hit the same full disk


def test_a_record_larger_than_a_segment_gets_a_segment_of_its_own(root: Path) -> None:
    segment_bytes = 2048
    big = make_body(99, 5000)
    bodies = [make_body(1, 100), big, make_body(2, 100)]
    with Ledger.open(root, opts(segment_bytes=segment_bytes)) as ledger:
        append_all(ledger, bodies)
        segments = ledger.segments(DAY0)
        assert [s.count for s in segments] == [1, 1, 1]
        assert os.path.getsize(segments[1].path) == HEADER_BYTES + RECORD_OVERHEAD + len(big)
        assert os.path.getsize(segments[2].path) == segment_bytes
    with Ledger.open(root, opts(segment_bytes=segment_bytes)) as ledger:
        assert bodies_of(ledger, DAY0) == bodies
        assert ledger.get(Position(DAY0, 2)).body == big


def test_reopening_returns_everything_and_continues_the_sequences_and_the_chain(
    root: Path,
) -> None:
    options = opts(segment_bytes=1024)
    first = [make_body(n, 150) for n in range(9)]
    with Ledger.open(root, options) as ledger:
        append_all(ledger, first)
        append_all(ledger, [make_body(100)], day=1)

    second = [make_body(n, 150) for n in range(9, 20)]
    with Ledger.open(root, options) as ledger:
        assert bodies_of(ledger, DAY0) == first
        assert [e.lsn for e in ledger.replay()] == list(range(1, 11))
        positions = append_all(ledger, second)
        assert positions[0] == Position(DAY0, len(first) + 1)
        assert ledger.append(at(1), RTYPE, b"x").position == Position(DAY1, 2)

    with Ledger.open(root, options) as ledger:
        assert bodies_of(ledger, DAY0) == first + second
        assert [e.lsn for e in ledger.replay()] == list(range(1, 23))
        segments = ledger.segments(DAY0)
        assert len(segments) > 2
        for prev, seg in itertools.pairwise(segments):
            header = SegmentHeader.unpack(Path(seg.path).read_bytes(), seg.path)
            assert header.prev_crc == prev.last_crc != 0
            assert header.first_sequence == prev.first_sequence + prev.count


# ---------------------------------------------------------------------------------- group commit


def test_two_hundred_concurrent_threads_share_far_fewer_fdatasyncs(root: Path) -> None:
    files = FaultyFiles()
    writers, per_writer = 200, 3
    start = threading.Barrier(writers)
    done: list[Position] = []
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            start.wait(10)
            for i in range(per_writer):
                appended = ledger.append(at(0, n), RTYPE, make_body(n * 10 + i, 64))
                appended.commit.wait(30)
                assert appended.commit.done
                done.append(appended.position)
        except BaseException as exc:  # reported below
            errors.append(exc)

    with Ledger.open(root, opts(), files=files) as ledger:
        baseline = files.count("fdatasync")
        threads = [threading.Thread(target=writer, args=(n,)) for n in range(writers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        syncs = files.count("fdatasync") - baseline

    assert errors == []
    records = writers * per_writer
    assert sorted(p.sequence for p in done) == list(range(1, records + 1))
    assert syncs <= records // 10, f"{syncs} fdatasyncs for {records} records"
    with Ledger.open(root, opts(), read_only=True) as reopened:
        assert len(bodies_of(reopened, DAY0)) == records


def test_two_hundred_asyncio_tasks_share_far_fewer_fdatasyncs(root: Path) -> None:
    files = FaultyFiles()
    tasks, per_task = 200, 3

    async def writer(ledger: Ledger, n: int) -> list[Position]:
        positions = []
        for i in range(per_task):
            appended = ledger.append(at(0, n), RTYPE, make_body(n * 10 + i, 64))
            await appended.commit.wait_async()
            assert appended.commit.done
            positions.append(appended.position)
            await asyncio.sleep(0)
        return positions

    async def run(ledger: Ledger) -> list[list[Position]]:
        return await asyncio.wait_for(
            asyncio.gather(*(writer(ledger, n) for n in range(tasks))), timeout=60
        )

    with Ledger.open(root, opts(), files=files) as ledger:
        baseline = files.count("fdatasync")
        results = asyncio.run(run(ledger))
        syncs = files.count("fdatasync") - baseline

    records = tasks * per_task
    assert sorted(p.sequence for ps in results for p in ps) == list(range(1, records + 1))
    assert syncs <= records // 20, f"{syncs} fdatasyncs for {records} records"


# ---------------------------------------------------------------------------------- durability


def _record_span(ledger: Ledger, position: Position, body: bytes) -> tuple[str, int, int]:
    for seg in ledger.segments(position.partition):
        index = position.sequence - seg.first_sequence
        if 0 <= index < seg.count:
            offset = int(seg.offsets[index])
            return seg.path, offset, offset + RECORD_OVERHEAD + len(body)
    raise AssertionError(f"no segment holds {position}")


def _written_at(events: list[Event], path: str, start: int, end: int) -> int:
    """Index of the last pwrite that covered [start, end) of `path`."""
    hits = [
        i
        for i, e in enumerate(events)
        if e.op == "pwrite"
        and final_path(e.path) == path
        and e.offset <= start
        and end <= e.offset + e.size
    ]
    assert hits, f"no pwrite covered {path}[{start}:{end}]"
    return hits[-1]


def test_fsync_mode_completes_a_commit_only_after_the_fdatasync_of_its_bytes(root: Path) -> None:
    files = FaultyFiles()
    observed: list[tuple[Position, bytes, int]] = []
    lock = threading.Lock()

    def writer(n: int) -> None:
        for i in range(25):
            body = make_body(n * 100 + i, 30 + 37 * i % 200)
            appended = ledger.append(at(n % 2, i), RTYPE, body)
            appended.commit.wait(30)
            mark = files.mark()  # every file call logged after this happened after completion
            with lock:
                observed.append((appended.position, body, mark))

    with Ledger.open(root, opts(segment_bytes=2048, durability="fsync"), files=files) as ledger:
        threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert len(observed) == 200
        events = list(files.events)
        for position, body, completed in observed:
            path, start, end = _record_span(ledger, position, body)
            written = _written_at(events, path, start, end)
            synced = [
                i
                for i, e in enumerate(events[:completed])
                if i > written and e.op == "fdatasync" and final_path(e.path) == path
            ]
            assert synced, f"{position} completed before an fdatasync of {path} after its write"


class _WatchingFiles(FaultyFiles):
    """Holds writes to segments while `gate` is clear; notes, at each fdatasync of a segment,
    when it happened and whether the watched commit had completed."""

    def __init__(self) -> None:
        super().__init__()
        self.watched: Commit | None = None
        self.gate = threading.Event()
        self.gate.set()
        self.written_at = 0.0
        self.syncs: list[tuple[float, bool]] = []

    def pwrite(self, fd: int, data: bytes | memoryview, offset: int) -> None:
        if _segment(self._path(fd)):
            assert self.gate.wait(10)
            self.written_at = time.monotonic()
        super().pwrite(fd, data, offset)

    def fdatasync(self, fd: int) -> None:
        watched = self.watched
        if watched is not None and _segment(self._path(fd)):
            self.syncs.append((time.monotonic(), watched.done))
        super().fdatasync(fd)

    def watch(self, ledger: Ledger, body: bytes) -> Commit:
        """Append `body`, watching its commit from before its bytes are written."""
        self.gate.clear()
        try:
            appended = ledger.append(at(0), RTYPE, body)
            self.watched = appended.commit
        finally:
            self.gate.set()
        return appended.commit


def test_fsync_mode_syncs_before_the_commit_is_done(root: Path) -> None:
    files = _WatchingFiles()
    with Ledger.open(root, opts(durability="fsync"), files=files) as ledger:
        append_all(ledger, [make_body(0)])  # the segment exists: no roll below
        commit = files.watch(ledger, make_body(1))
        commit.wait(10)
        files.watched = None
    assert files.syncs, "the record's bytes were never synced"
    assert not any(done for _, done in files.syncs), "a commit completed before its fdatasync"


def test_interval_mode_completes_before_the_sync_and_syncs_within_the_interval(
    root: Path,
) -> None:
    files = _WatchingFiles()
    interval_s = 0.2
    options = opts(durability="interval", interval_ms=int(interval_s * 1000))
    with Ledger.open(root, options, files=files) as ledger:
        append_all(ledger, [make_body(0)])
        wait_until(lambda: _synced_after_last_write(files, DAY0), 5, "the first interval sync")
        commit = files.watch(ledger, make_body(1))
        commit.wait(10)
        synced_at = wait_until(
            lambda: next((t for t, _ in files.syncs), None), 5, "an interval fdatasync"
        )
        files.watched = None
        assert files.syncs[0][1], "the commit was not done when its bytes were synced"
        assert synced_at - files.written_at <= interval_s + 0.3
        assert bodies_of(ledger, DAY0) == [make_body(0), make_body(1)]


def test_interval_mode_syncs_far_less_often_than_it_writes(root: Path) -> None:
    files = FaultyFiles()
    with Ledger.open(root, opts(durability="interval", interval_ms=1000), files=files) as ledger:
        ledger.append(at(0), RTYPE, b"first").commit.wait(10)
        before = files.count("fdatasync")
        for n in range(30):
            ledger.append(at(0), RTYPE, make_body(n)).commit.wait(10)
        assert files.count("fdatasync") - before <= 2


def test_none_mode_syncs_only_at_roll_seal_and_close(root: Path) -> None:
    files = FaultyFiles()
    with Ledger.open(root, opts(durability="none"), files=files) as ledger:
        append_all(ledger, [make_body(0)])
        segment = ledger.segments(DAY0)[0].path
        append_all(ledger, [make_body(n) for n in range(1, 50)])
        assert [e for e in files.events if e.op == "fdatasync" and e.path == segment] == []
        ledger.seal(DAY0, timeout=10)
        assert any(e.op == "fdatasync" and e.path == segment for e in files.events)
    with Ledger.open(root, opts(), read_only=True) as reopened:
        assert len(bodies_of(reopened, DAY0)) == 50

    files = FaultyFiles()
    with Ledger.open(root, opts(durability="none"), files=files) as ledger:
        append_all(ledger, [make_body(n) for n in range(5)], day=1)
        segment = ledger.segments(DAY1)[0].path
        assert not any(e.op == "fdatasync" and e.path == segment for e in files.events)
    assert any(e.op == "fdatasync" and e.path == segment for e in files.events)

    files = FaultyFiles()
    with Ledger.open(root, opts(durability="none", segment_bytes=1024), files=files) as ledger:
        append_all(ledger, [make_body(n, 100) for n in range(20)], day=2)
        first, *rest = ledger.segments(DAY2)
        assert rest
        synced = [e for e in files.events if e.op == "fdatasync" and e.path == first.path]
        assert len(synced) == 1  # at the roll, before the next segment takes over


# ---------------------------------------------------------------------------------- fail closed


FAULTS = {
    "pwrite-ENOSPC": ("pwrite", ENOSPC, _segment),
    "pwrite-EIO": ("pwrite", EIO, _segment),
    "fdatasync-EIO": ("fdatasync", EIO, _segment),
    "fdatasync-ENOSPC": ("fdatasync", ENOSPC, _segment),
    "roll-open-ENOSPC": ("open", ENOSPC, _tmp),
    "roll-preallocate-ENOSPC": ("preallocate", ENOSPC, _tmp),
    "roll-header-ENOSPC": ("pwrite", ENOSPC, _tmp),
    "roll-fdatasync-EIO": ("fdatasync", EIO, _tmp),
    "roll-rename-EIO": ("rename", EIO, _tmp),
    "roll-fsync_dir-EIO": ("fsync_dir", EIO, lambda path: path.endswith(DAY0)),
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_a_failed_write_or_sync_fails_closed_and_nothing_unsynced_was_acknowledged(
    root: Path, fault: str
) -> None:
    op, errno, when = FAULTS[fault]
    files = FaultyFiles()
    failures: list[LedgerFailedError] = []
    acked: dict[Position, bytes] = {}
    tried: set[bytes] = set()
    failed_commits: list[LedgerFailedError] = []
    refused_appends: list[LedgerFailedError] = []
    lock = threading.Lock()
    options = opts(segment_bytes=4096, durability="fsync")

    def writer(n: int) -> None:
        for i in range(400):
            body = make_body(n * 1000 + i, 100 + (i * 37) % 300)
            with lock:
                tried.add(body)
            try:
                appended = ledger.append(at(0, i), RTYPE, body)
            except LedgerFailedError as exc:
                refused_appends.append(exc)
                return
            try:
                appended.commit.wait(30)
            except LedgerFailedError as exc:
                failed_commits.append(exc)
                return
            with lock:
                acked[appended.position] = body

    with Ledger.open(root, options, files=files) as ledger:
        ledger.on_failure(failures.append)
        first = [make_body(n, 200) for n in range(10)]
        for position, body in zip(append_all(ledger, first), first, strict=True):
            acked[position] = body
        tried.update(first)
        # A roll's file is prepared ahead of time and again by the roll when that failed: a
        # fault there lasts (a full disk stays full).
        files.fail_on(op, errno, skip=3, when=when, times=None if when is _tmp else 1)
        threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)

        assert files.faults_raised >= 1
        assert failed_commits, "no commit reported the failure"
        assert ledger.failed is not None
        for error in failed_commits + refused_appends:
            assert isinstance(error, LedgerFailedError)
        with pytest.raises(LedgerFailedError):
            ledger.append(at(0), RTYPE, b"after")
        with pytest.raises(LedgerFailedError):
            ledger.append(at(1), RTYPE, b"another day")
        with pytest.raises(LedgerFailedError):
            ledger.seal(DAY0, timeout=10)
    assert len(failures) == 1
    message = str(failures[0])
    assert "failing closed" in message and os.strerror(errno) in message and str(root) in message
    assert failures[0] is ledger.failed

    files.lose_unsynced()  # the failure, then a power loss
    with Ledger.open(root, options) as reopened:
        present = {e.position: e.body for e in reopened.read(DAY0)}
        assert [p.sequence for p in present] == list(range(1, len(present) + 1))
        missing = [p for p, body in acked.items() if present.get(p) != body]
        assert missing == [], f"acknowledged records lost or changed: {missing[:5]}"
        assert set(present.values()) <= tried
        # The reopened ledger works.
        after = reopened.append(at(0), RTYPE, b"after recovery")
        after.commit.wait(10)
        assert after.position.sequence == len(present) + 1


@pytest.mark.parametrize("interval_ms", [1, 50])
def test_an_interval_sync_failure_fails_closed_without_revoking_earlier_acks(
    root: Path, interval_ms: int
) -> None:
    files = FaultyFiles()
    failures: list[LedgerFailedError] = []
    options = opts(durability="interval", interval_ms=interval_ms)
    with Ledger.open(root, options, files=files) as ledger:
        ledger.on_failure(failures.append)
        mark = files.mark()
        append_all(ledger, [make_body(0)])
        wait_until(
            lambda: any(e.op == "fdatasync" and _segment(e.path) for e in files.events[mark:]),
            5,
            "the interval sync of the first record",
        )
        files.fail_on("fdatasync", EIO, when=_segment)
        # Let the interval pass (not a wait for an event): the writer then syncs right after the
        # batch, in the same step that completed its commit.
        time.sleep(interval_ms / 1000)
        appended = ledger.append(at(0), RTYPE, make_body(1))
        appended.commit.wait(10)  # interval mode acknowledges before the sync
        wait_until(lambda: ledger.failed is not None, 5, "the failed interval sync")
        appended.commit.wait(10)  # an acknowledgement is never taken back
        with pytest.raises(LedgerFailedError):
            ledger.append(at(0), RTYPE, make_body(2))
    assert len(failures) == 1


def test_a_batch_spanning_a_segment_roll_commits_when_fd_numbers_are_not_reused(
    root: Path,
) -> None:
    files = FreshFdFiles()
    bodies = [make_body(n, 300) for n in range(40)]
    for durability in ("fsync", "interval", "none"):
        with Ledger.open(
            root / durability, opts(segment_bytes=2048, durability=durability), files=files
        ) as ledger:
            # One batch: appended together, larger than a segment.
            appended = [ledger.append(at(0, i), RTYPE, b) for i, b in enumerate(bodies)]
            for a in appended:
                a.commit.wait(10)
            if durability == "interval":  # the interval sync of the batch's files
                wait_until(
                    lambda d=durability: ledger.failed or _synced_after_last_write(files, d),
                    5,
                    "the interval sync",
                )
            assert ledger.failed is None
            assert len(ledger.segments(DAY0)) > 3
        with Ledger.open(root / durability, opts(), read_only=True) as reopened:
            assert bodies_of(reopened, DAY0) == bodies


# ---------------------------------------------------------------------------------- the lock


def test_a_second_open_in_the_same_process_is_refused_naming_the_pid(
    root: Path, ledger: Ledger
) -> None:
    with pytest.raises(LedgerLockedError, match=f"pid {os.getpid()}"):
        Ledger.open(root, opts())
    append_all(ledger, [make_body(1)])  # the holder is unaffected


def _hold(root: Path) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.ledger_crash_writer", "hold", str(root)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("ready "), f"holder did not start: {line!r}"
    return proc, int(line.split()[1])


def test_a_second_writer_process_is_refused_and_a_lock_left_by_kill_9_is_taken_over(
    root: Path,
) -> None:
    with Ledger.open(root, opts()) as ledger:
        append_all(ledger, [make_body(1)])
    proc, pid = _hold(root)
    try:
        with pytest.raises(LedgerLockedError, match=f"pid {pid}"):
            Ledger.open(root, opts())
        with Ledger.open(root, opts(), read_only=True) as reader:
            assert bodies_of(reader, DAY0) == [make_body(1)]
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    assert (root / "LOCK").read_text().strip() == str(pid)  # the stale lock file is still there

    with Ledger.open(root, opts()) as ledger:
        assert (root / "LOCK").read_text().strip() == str(os.getpid())
        append_all(ledger, [make_body(2)])
        assert bodies_of(ledger, DAY0) == [make_body(1), make_body(2)]


def test_read_only_opens_work_alongside_a_writer(root: Path, ledger: Ledger) -> None:
    append_all(ledger, [make_body(n) for n in range(5)])
    with Ledger.open(root, opts(), read_only=True) as reader:
        assert bodies_of(reader, DAY0) == [make_body(n) for n in range(5)]
        with pytest.raises(LedgerError, match="read-only"):
            reader.append(at(0), RTYPE, b"x")
        with pytest.raises(LedgerError, match="read-only"):
            reader.seal(DAY0)
    append_all(ledger, [make_body(5)])
    with Ledger.open(root, opts(), read_only=True) as reader:
        assert len(bodies_of(reader, DAY0)) == 6


# ---------------------------------------------------------------------------------- sealing


def test_sealing_writes_a_manifest_describing_the_trimmed_segments(root: Path) -> None:
    files = FaultyFiles()
    bodies = [signal_body(n, 80 + n % 50) for n in range(30)]
    with Ledger.open(root, opts(segment_bytes=1024), files=files) as ledger:
        positions = append_all(ledger, bodies, rtype=RecordType.SIGNAL)
        append_all(ledger, [b"\x01not a signal"])
        lsns = [e.lsn for e in ledger.read(DAY0)]
        manifest = ledger.seal(DAY0, timeout=10)
        assert ledger.seal(DAY0, timeout=10) == manifest  # sealing again changes nothing

    on_disk = json.loads((root / DAY0 / "MANIFEST.json").read_text())
    assert on_disk == manifest
    assert manifest["partition"] == DAY0
    assert manifest["record_count"] == len(bodies) + 1
    assert manifest["signal_count"] == len(bodies)
    assert (manifest["first_sequence"], manifest["last_sequence"]) == (1, len(bodies) + 1)
    assert (manifest["first_lsn"], manifest["last_lsn"]) == (lsns[0], lsns[-1])
    ids = sorted("sig-" + b[32:48].hex() for b in bodies)
    assert (
        manifest["fingerprint"]
        == hashlib.sha256("".join(i + "\n" for i in ids).encode()).hexdigest()
    )
    described = manifest["segments"]
    paths = segment_files(root, DAY0)
    assert [s["name"] for s in described] == [p.name for p in paths]
    assert len(paths) > 2
    assert sum(s["records"] for s in described) == len(bodies) + 1
    sequence = 1
    for seg, path in zip(described, paths, strict=True):
        data = path.read_bytes()
        assert seg["sha256"] == hashlib.sha256(data).hexdigest()
        assert seg["bytes"] == len(data)
        assert seg["first_sequence"] == sequence
        sequence += seg["records"]
        scanned = native.wal.scan(data, HEADER_BYTES)
        assert scanned.valid_end == len(data)  # the preallocated zero tail is gone
        assert len(scanned.offsets) == seg["records"]
    assert positions[-1] == Position(DAY0, len(bodies))

    with Ledger.open(root, opts(segment_bytes=1024)) as reopened:
        assert reopened.summary(DAY0).sealed
        assert bodies_of(reopened, DAY0) == [*bodies, b"\x01not a signal"]
        assert reopened.append(at(0), RTYPE, b"late").position == Position(DAY0 + "-late", 1)


def test_the_manifest_is_written_durably_after_the_segments_are_trimmed(root: Path) -> None:
    files = FaultyFiles()
    with Ledger.open(root, opts(segment_bytes=1024), files=files) as ledger:
        append_all(ledger, [signal_body(n) for n in range(20)])
        segments = [s.path for s in ledger.segments(DAY0)]
        start = files.mark()
        ledger.seal(DAY0, timeout=10)
        events = files.events[start:]

    def index(op: str, path: str) -> int:
        found = [i for i, e in enumerate(events) if e.op == op and e.path == path]
        assert len(found) == 1, f"{op} {path}: {found}"
        return found[0]

    manifest = str(root / DAY0 / "MANIFEST.json")
    tmp = manifest + ".tmp"
    trims = [index("fsync", path) for path in segments]
    for path in segments:
        assert index("ftruncate", path) < index("fsync", path)
    steps = [
        index("open", tmp),
        index("pwrite", tmp),
        index("fsync", tmp),
        index("rename", tmp),
        index("fsync_dir", str(root / DAY0)),
    ]
    assert max(trims) < steps[0]
    assert steps == sorted(steps)
    assert not os.path.exists(tmp)


# ---------------------------------------------------------------------------------- recovery


def _tail_fixture(root: Path, last_size: int = 120) -> tuple[list[bytes], str, int, int]:
    """Three small records and a larger last one in one preallocated segment.

    Returns (bodies, segment path, offset of the last frame, its length)."""
    bodies = [make_body(n, 10 + n) for n in range(3)] + [make_body(50, last_size)]
    with Ledger.open(root, opts(segment_bytes=4096)) as ledger:
        append_all(ledger, bodies)
        seg = ledger.segments(DAY0)[-1]
        return bodies, seg.path, int(seg.offsets[-1]), RECORD_OVERHEAD + last_size


def _assert_no_stale_bytes(ledger: Ledger) -> None:
    for name in ledger.partition_names():
        for seg in ledger.segments(name):
            data = Path(seg.path).read_bytes()
            assert data[seg.valid_end :] == bytes(len(data) - seg.valid_end), seg.path


@pytest.mark.parametrize("how", ["truncate", "zero"])
def test_a_last_frame_cut_at_every_byte_is_dropped_and_never_comes_back(
    root: Path, how: str
) -> None:
    bodies, path, start, length = _tail_fixture(root)
    original = Path(path).read_bytes()
    new = [b"\x01new-small", make_body(77, 60)]
    for keep in range(length):
        Path(path).write_bytes(original)
        if how == "truncate":
            os.truncate(path, start + keep)
        else:
            with open(path, "r+b") as fh:
                fh.seek(start + keep)
                fh.write(bytes(length - keep))
        with Ledger.open(root, opts(segment_bytes=4096)) as ledger:
            if keep == 0:
                assert ledger.torn_tails == ()
            else:
                (torn,) = ledger.torn_tails
                assert f"{path} at offset {start}:" in torn
            assert bodies_of(ledger, DAY0) == bodies[:3]
            _assert_no_stale_bytes(ledger)
            append_all(ledger, new)
        with Ledger.open(root, opts(segment_bytes=4096)) as ledger:
            assert ledger.torn_tails == ()
            assert bodies_of(ledger, DAY0) == bodies[:3] + new, f"cut at {keep}"
            assert [e.position.sequence for e in ledger.read(DAY0)] == [1, 2, 3, 4, 5]
            _assert_no_stale_bytes(ledger)
        for extra in segment_files(root, DAY0)[1:]:
            extra.unlink()


def _frame(length: int, crc: int, rtype: int, payload: bytes = b"") -> bytes:
    return length.to_bytes(4, "little") + crc.to_bytes(4, "little") + bytes([rtype]) + payload


def _valid_frame(payload: bytes) -> bytes:
    return bytes(native.wal.encode(RTYPE, payload))


_RNG = random.Random(11)
_NOISE = bytes(_RNG.randrange(1, 256) for _ in range(300))
_TOO_LONG = 0xFFFFFFF0

# name: (bytes written after the last record, expected outcome). The rest of the segment is zero.
GARBAGE = {
    "a single non-zero byte": (b"\x07", "torn"),
    "a header with type 0": (_frame(20, 0x1234, 0), "torn"),
    "a bad-checksum record followed by zeros": (_frame(40, 0xDEADBEEF, 1, _NOISE[:40]), "torn"),
    "a half-written payload": (_frame(200, 0xDEADBEEF, 1, _NOISE[:70]), "torn"),
    "a header claiming more than the file holds": (_frame(1 << 20, 7, 1, _NOISE[:50]), "torn"),
    "an impossible length then zeros": (_frame(_TOO_LONG, 1, 1), "torn"),
    "an impossible length then noise": (_frame(_TOO_LONG, 1, 1, _NOISE[:40]), "corrupt"),
    "a bad-checksum record followed by noise": (
        _frame(20, 0xDEADBEEF, 1, _NOISE[:20]) + _NOISE[100:130],
        "corrupt",
    ),
    "noise followed by a valid record": (_NOISE[:25] + _valid_frame(b"\x00" * 8 + b"x"), "corrupt"),
    "a bad record hiding a valid one in its extent": (
        _frame(1 << 20, 7, 1, _NOISE[:10] + _valid_frame(b"\x00" * 8 + b"hidden")),
        "corrupt",
    ),
}


@pytest.mark.parametrize("case", sorted(GARBAGE))
def test_a_garbage_tail_is_torn_and_zeroed_or_refused_as_corrupt_per_the_decision_table(
    root: Path, case: str
) -> None:
    garbage, expected = GARBAGE[case]
    bodies, path, start, length = _tail_fixture(root)
    end = start + length
    with open(path, "r+b") as fh:
        fh.seek(end)
        fh.write(garbage)
    if expected == "corrupt":
        with pytest.raises(LedgerCorruptError) as refused:
            Ledger.open(root, opts(segment_bytes=4096))
        assert (refused.value.path, refused.value.offset) == (path, end)
        assert f"{path}:" in str(refused.value) and f"offset {end}" in str(refused.value)
        assert Path(path).read_bytes()[end : end + len(garbage)] == garbage  # left for repair
        return
    with Ledger.open(root, opts(segment_bytes=4096)) as ledger:
        (torn,) = ledger.torn_tails
        assert f"{path} at offset {end}:" in torn
        assert bodies_of(ledger, DAY0) == bodies
        _assert_no_stale_bytes(ledger)
        append_all(ledger, [b"\x02after"])
    with Ledger.open(root, opts(segment_bytes=4096)) as ledger:
        assert ledger.torn_tails == ()
        assert bodies_of(ledger, DAY0) == [*bodies, b"\x02after"]


@pytest.mark.parametrize(
    "case", ["a bad-checksum record followed by zeros", "a single non-zero byte"]
)
def test_a_torn_looking_tail_in_a_segment_that_is_not_the_last_is_corrupt(
    root: Path, case: str
) -> None:
    garbage, _ = GARBAGE[case]
    with Ledger.open(root, opts(segment_bytes=512)) as ledger:
        append_all(ledger, [make_body(n, 100) for n in range(6)])
        first, *rest = ledger.segments(DAY0)
        assert rest
    with open(first.path, "r+b") as fh:
        fh.seek(first.valid_end)
        fh.write(garbage[: 512 - first.valid_end])
    with pytest.raises(LedgerCorruptError) as refused:
        Ledger.open(root, opts(segment_bytes=512))
    assert (refused.value.path, refused.value.offset) == (first.path, first.valid_end)


def _flip(path: str, bit: int) -> None:
    with open(path, "r+b") as fh:
        fh.seek(bit // 8)
        byte = fh.read(1)[0]
        fh.seek(bit // 8)
        fh.write(bytes([byte ^ (1 << (bit % 8))]))


def test_a_single_bit_flip_anywhere_is_detected_and_never_skipped_silently(root: Path) -> None:
    """Every bit of the header and records of two 4-record segments: the first (not the last of
    its partition) and the last. Only a flip in the partition's very last record may read as a
    torn tail, and then only that record is dropped."""
    options = opts(segment_bytes=HEADER_BYTES + 4 * (RECORD_OVERHEAD + 12) + 20)
    bodies = [make_body(n, 12) for n in range(8)]
    with Ledger.open(root, options) as ledger:
        append_all(ledger, bodies)
        segments = ledger.segments(DAY0)
    assert [s.count for s in segments] == [4, 4]
    originals = {s.path: Path(s.path).read_bytes() for s in segments}
    torn_seen = 0
    for number, seg in enumerate(segments):
        last_segment = number == len(segments) - 1
        offsets = [int(o) for o in seg.offsets]
        for bit in range(seg.valid_end * 8):
            for path, data in originals.items():
                Path(path).write_bytes(data)
            _flip(seg.path, bit)
            byte = bit // 8
            record = sum(1 for o in offsets if o <= byte) - 1  # -1: the header
            expected_offset = 0 if record < 0 else offsets[record]
            try:
                ledger = Ledger.open(root, options)
            except LedgerCorruptError as exc:
                assert (exc.path, exc.offset) == (seg.path, expected_offset), f"bit {bit}"
                continue
            with ledger:
                assert last_segment and record == 3, f"bit {bit} of {seg.name} went unnoticed"
                (torn,) = ledger.torn_tails
                assert f"{seg.path} at offset {expected_offset}:" in torn
                assert bodies_of(ledger, DAY0) == bodies[:7]
                torn_seen += 1
    assert torn_seen > 0


def test_a_bit_flip_in_the_last_record_of_a_sealed_partition_is_corrupt(root: Path) -> None:
    bodies = [signal_body(n, 60) for n in range(4)]
    with Ledger.open(root, opts()) as ledger:
        append_all(ledger, bodies)
        ledger.seal(DAY0, timeout=10)
        (seg,) = ledger.segments(DAY0)
    original = Path(seg.path).read_bytes()
    last = int(seg.offsets[-1])
    for bit in range(last * 8, len(original) * 8, 7):
        Path(seg.path).write_bytes(original)
        _flip(seg.path, bit)
        with pytest.raises(LedgerCorruptError) as refused:
            Ledger.open(root, opts())
        assert (refused.value.path, refused.value.offset) == (seg.path, last)


@pytest.mark.parametrize("crash", ["pwrite-0", "pwrite-1", "fdatasync-0", "fdatasync-1"])
def test_a_crash_while_a_torn_tail_is_zeroed_leaves_a_tail_that_still_reads_as_torn(
    root: Path, crash: str
) -> None:
    """Recovery itself can be interrupted (kill -9, power loss): the half-zeroed tail must
    read as torn again, never as zeros followed by leftovers of the torn record (CORRUPT)."""
    bodies, path, start, length = _tail_fixture(root, last_size=3700)
    with open(path, "r+b") as fh:  # the last frame only partly reached the disk
        fh.seek(start + 3000)
        fh.write(bytes(length - 3000))
    op, skip = crash.split("-")
    files = FaultyFiles()
    files.fail_on(op, EIO, skip=int(skip), when=lambda p: p == path)
    with contextlib.suppress(OSError):  # the crash (when the repair makes such a call)
        Ledger.open(root, opts(segment_bytes=4096), files=files).close()
    if op == "fdatasync":
        files.lose_unsynced()  # and the power went out: any unsynced part may be lost
    with Ledger.open(root, opts(segment_bytes=4096)) as ledger:
        assert len(ledger.torn_tails) <= 1
        assert all(f"{path} at offset {start}:" in torn for torn in ledger.torn_tails)
        assert bodies_of(ledger, DAY0) == bodies[:3]
        _assert_no_stale_bytes(ledger)
        append_all(ledger, [b"\x03after"])
    with Ledger.open(root, opts(segment_bytes=4096)) as ledger:
        assert bodies_of(ledger, DAY0) == [*bodies[:3], b"\x03after"]


def test_a_record_too_large_for_the_format_is_refused_at_append(ledger: Ledger) -> None:
    too_large = bytes(native.wal.MAX_RECORD_BYTES - 7)  # with its 8-byte LSN: 1 byte too many
    with pytest.raises(LedgerError, match="exceeds"):
        ledger.append(at(0), RTYPE, too_large)
    assert ledger.failed is None
    assert append_all(ledger, [make_body(1)]) == [Position(DAY0, 1)]
    assert bodies_of(ledger, DAY0) == [make_body(1)]

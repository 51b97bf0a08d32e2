"""The ledger: OMEN's durable, append-only system of record.

One writer thread owns every file descriptor that is written. Callers append from any thread:
`append()` assigns the record its partition, sequence and LSN at once (so positions follow call
order) and joins the open batch; the writer takes a whole batch (up to `max_batch_bytes`), frames
it with omen.native.wal, writes each partition's part with one pwrite, fdatasyncs each file it
touched once and then completes the batch's Commit, which wakes every waiter. Appends that arrive
while a batch is being synced form the next batch: that is the group commit.

Durability modes (LedgerOptions.durability):

- ``fsync`` (default): a Commit completes after the fdatasync; an acknowledged record survives
  a crash of the process, the OS or the machine.
- ``interval``: a Commit completes after the write; the writer fdatasyncs every `interval_ms`.
  A process crash loses nothing acknowledged (the bytes are in the page cache); an OS crash or
  power loss loses up to `interval_ms` (plus one batch) of acknowledged records.
- ``none``: a Commit completes after the write; data is synced only at segment roll, seal and
  close. An OS crash or power loss may lose any acknowledged record not yet synced.

Page cache: a segment the writer has filled is synced at the roll, and its pages are then
dropped from the page cache (POSIX_FADV_DONTNEED; 0.4-0.6 ms for 16 MiB, part of the roll's
time). Readers (tails, publishers) read at the head,
in the segment being written; only one far behind reads an older segment, from the disk. Left to
the kernel, a server streaming ~100 MB/s of signals filled all free memory with pages nobody
reads, pushing out other files' pages; on this VM every page never used before also costs a
host-side fault: the writer's system time rose from ~0.07 to ~0.25 of a core once ~4 GB were
written, and ProcessStream slowed 10-20% (issue 6's notes).

Fail closed: a failed write or fsync (ENOSPC, EIO, ...) fails the batch and every later append
with LedgerFailedError; nothing more is acknowledged, the failure callbacks run (the server
reports NOT_SERVING) and the writer stops. A failed fsync is never retried: after one, the page
cache no longer tells which bytes reached the disk.

Recovery (open): every partition's segments are scanned. A torn tail of a partition's last
segment is zeroed out (the preallocated zeros come back, so stale bytes can never reappear after
later appends); any other damage stops the open with LedgerCorruptError naming file and offset.
A read-only open re-reads a corrupt-looking last segment of an unsealed partition a few times
first: a live writer may be writing it. A partition directory holding only the ARCHIVED marker
is an archived partition's tombstone: listed (sealed, archived), its marker's last LSN counted
for the next LSN, its records read from the archive copy the marker names (see maintenance).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import struct
import threading
import time
from array import array
from bisect import bisect_right
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from heapq import merge
from typing import Literal, NamedTuple

from omen import native
from omen.adapters.ledger import manifest as manifests
from omen.adapters.ledger.files import FileLayer
from omen.adapters.ledger.format import (
    HEADER_BYTES,
    LOCK_NAME,
    MANIFEST_NAME,
    NS_PER_DAY,
    RECORD_OVERHEAD,
    LedgerCorruptError,
    LedgerError,
    LedgerFailedError,
    LedgerLockedError,
    SegmentHeader,
    date_of,
    is_late,
    is_partition_name,
    parse_segment_name,
    partition_date,
    segment_name,
)
from omen.adapters.ledger.maintenance import (
    ARCHIVED_NAME,
    finish_interrupted,
    read_marker,
    rescan_live_tail,
)
from omen.adapters.ledger.segments import ScanStatus, Segment, load_bytes, record_at, scan_segment

log = logging.getLogger("omen.ledger")

Durability = Literal["fsync", "interval", "none"]
MIB = 1024 * 1024
# A record's frame header and its LSN: length, masked CRC, type, LSN.
_FRAME_AND_LSN = struct.Struct("<IIBQ")
_BODY_START = _FRAME_AND_LSN.size


@dataclass(frozen=True)
class LedgerOptions:
    #: Preallocated size of a segment file; a record larger than that gets a segment of its own.
    segment_bytes: int = 16 * MIB
    durability: Durability = "fsync"
    #: `interval` mode: milliseconds between fdatasyncs (the loss window on an OS crash).
    interval_ms: int = 50
    #: A batch closes at this many framed bytes; the rest waits for the next write.
    max_batch_bytes: int = MIB
    #: How long the writer waits for a batch to fill before writing it (0: write at once; the
    #: previous batch's fsync is the natural window in which the next one gathers).
    max_batch_delay_ms: float = 0.0
    #: Seal a date's partition automatically this long after the UTC date ended (None: never).
    seal_grace_s: float | None = 3600.0


def _first_sequence(segment: Segment) -> int:
    return segment.first_sequence


@dataclass(frozen=True, slots=True)
class Position:
    partition: str
    sequence: int


@dataclass(frozen=True, slots=True)
class Entry:
    """One record as read back."""

    position: Position
    lsn: int
    type: int
    body: bytes


class _SharedWait(asyncio.Future[None]):
    """The one future every coroutine of one event loop awaits for one commit.

    Cancelling one waiting task must not cancel the others' wait, so cancel() refuses; asyncio
    then raises CancelledError in that task as soon as the commit completes (one group commit
    later). One future per loop and batch, not per append: completing a batch of N appends
    costs one call_soon_threadsafe and one set_result.
    """

    def cancel(self, msg: object = None) -> bool:
        return False


class Commit:
    """The outcome of one group commit; shared by every append in the batch."""

    __slots__ = ("_done", "_error", "_event", "_lock", "_waiters")

    def __init__(self) -> None:
        self._done = False
        self._error: BaseException | None = None
        self._lock = threading.Lock()
        self._event: threading.Event | None = None
        self._waiters: dict[asyncio.AbstractEventLoop, _SharedWait] = {}

    @property
    def done(self) -> bool:
        return self._done

    def result(self) -> None:
        """Return when durable; raise LedgerFailedError if the batch failed. Call when done."""
        if self._error is not None:
            raise self._error

    def wait(self, timeout: float | None = None) -> None:
        """Block until the batch is durable (or raise why it is not)."""
        with self._lock:
            if not self._done and self._event is None:
                self._event = threading.Event()
            event = self._event
        if event is not None and not event.wait(timeout):
            raise TimeoutError("ledger commit did not complete in time")
        self.result()

    async def wait_async(self) -> None:
        """Await durability from an event loop."""
        if not self._done:
            loop = asyncio.get_running_loop()
            with self._lock:
                future = None
                if not self._done:
                    future = self._waiters.get(loop)
                    if future is None:
                        future = self._waiters[loop] = _SharedWait(loop=loop)
            if future is not None:
                await future
        self.result()

    def _complete(self, error: BaseException | None) -> None:
        with self._lock:
            self._error = error
            self._done = True
            event, waiters = self._event, self._waiters
            self._waiters = {}
        if event is not None:
            event.set()
        for loop, future in waiters.items():
            # A closed loop has nobody waiting any more.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_settle, future)


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class Appended(NamedTuple):
    """Where an append went (known at once) and its commit (durable when it completes). Also
    the application's LedgerTicket: `durable` is the commit under the port's name.

    A tuple: append_many makes one per record with tuple.__new__, a C call where
    a class's __init__ would run a Python frame per record."""

    partition: str
    sequence: int
    lsn: int
    commit: Commit

    @property
    def durable(self) -> Commit:
        return self.commit

    @property
    def position(self) -> Position:
        return Position(self.partition, self.sequence)


_new_tuple = tuple.__new__


#: Largest record append_many takes: frame header + LSN + body within MAX_RECORD_BYTES.
_MAX_RECORD_SIZE = native.wal.HEADER_BYTES + native.wal.MAX_RECORD_BYTES

_READ_AHEAD = 4096


def _read_record(path: str, offset: int) -> bytes:
    """The framed record at `offset` of segment `path`: one pread covers a record of up to
    4 KiB (a signal is ~2 KiB), a second one the rest of a longer one. Plain descriptors, no
    buffered file object: GetSignal and DUPLICATE answers of older signals come through here."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        data = os.pread(fd, _READ_AHEAD, offset)
        size = native.wal.HEADER_BYTES + int.from_bytes(data[:4], "little")
        if len(data) < size and len(data) == _READ_AHEAD:
            data += os.pread(fd, size - len(data), offset + len(data))
        return data[:size]
    finally:
        os.close(fd)


class _Batch:
    __slots__ = ("commit", "opened", "runs", "size")

    def __init__(self) -> None:
        # Per partition (by id), in order of first record: (partition, the sequence of its first
        # record here, its records as (type, body, lsn) in acceptance order). A partition's
        # records in one batch have consecutive sequences: appends fill the newest batch only.
        # Kept as the writer frames them, so it takes no pass of its own over the records.
        self.runs: dict[int, tuple[_Partition, int, list[tuple[int, bytes, int]]]] = {}
        self.size = 0
        self.commit = Commit()
        self.opened = time.monotonic()


@dataclass
class _Control:
    """Work for the writer thread besides appends (sealing), ordered with the batches."""

    run: Callable[[], object]
    commit: Commit = field(default_factory=Commit)
    value: object = None


@dataclass(eq=False)
class _Partition:
    name: str
    path: str
    segments: list[Segment] = field(default_factory=list)
    sealed: bool = False
    #: Next sequence to hand out (appends reserve sequences before the writer writes them).
    next_sequence: int = 1
    manifest: dict[str, object] | None = None
    # Writer state of the current (last) segment.
    fd: int = -1
    write_offset: int = 0
    capacity: int = 0
    #: Archived: the directory holds only the ARCHIVED marker (a tombstone); `manifest` is the
    #: marker (the manifest's summary), the records are in the copy at `archive`.
    archived: bool = False
    archive: str = ""
    #: The archive copy's segments, scanned on first use.
    archive_segments: list[Segment] | None = None

    @property
    def last(self) -> Segment | None:
        return self.segments[-1] if self.segments else None

    @property
    def count(self) -> int:
        return sum(s.count for s in self.segments)


@dataclass(frozen=True, slots=True)
class PartitionSummary:
    name: str
    sealed: bool
    record_count: int
    first_sequence: int
    last_sequence: int
    size_bytes: int
    compressed: bool
    segments: tuple[str, ...]
    #: The partition was moved to the archive; the ledger keeps its tombstone (the figures above
    #: are the archive copy's).
    archived: bool = False


def _int(value: object) -> int:
    return value if isinstance(value, int) else 0


class Ledger:
    """An open ledger directory. Use `Ledger.open`; `close()` (or `with`) when done."""

    def __init__(
        self,
        root: str,
        options: LedgerOptions,
        files: FileLayer,
        read_only: bool,
        clock_ns: Callable[[], int],
    ):
        self.root = root
        self.options = options
        self.files = files
        self.read_only = read_only
        self._clock_ns = clock_ns
        self._parts: dict[str, _Partition] = {}
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._queue: deque[_Batch | _Control] = deque()
        # The batch the writer thread took off the queue and has not finished writing: with
        # the queue, what `get` reads records from before their segment shows them.
        self._writing: _Batch | None = None
        self._next_lsn = 1
        self._failed: LedgerFailedError | None = None
        self._closing = False
        self._lock_fd = -1
        self._thread: threading.Thread | None = None
        self._failure_callbacks: list[Callable[[LedgerFailedError], None]] = []
        self._dirty: set[int] = set()
        self._torn: list[str] = []
        # Highest LSN acknowledged (durable under the durability mode): what tails may show.
        self._acked_lsn = 0
        self._commit_listeners: list[Callable[[int], None]] = []
        # The next segment's file, preallocated and synced in the background: (tmp path, size,
        # thread, [fd or the exception]). Rolling then costs a header write and a rename, not
        # the allocation and its sync inside a group commit.
        self._spare: tuple[str, int, threading.Thread, list[int | BaseException]] | None = None

    # ------------------------------------------------------------------ opening

    @classmethod
    def open(
        cls,
        root: str | os.PathLike[str],
        options: LedgerOptions | None = None,
        *,
        files: FileLayer | None = None,
        read_only: bool = False,
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> Ledger:
        """Open (creating when needed), lock and recover the ledger at `root`.

        read_only: no lock, no writes, no writer thread; a torn tail is reported in
        `torn_tails` instead of being repaired (it may be a batch a live writer is writing).
        """
        ledger = cls(
            str(root), options or LedgerOptions(), files or FileLayer(), read_only, clock_ns
        )
        try:
            ledger._open()
        except BaseException:
            ledger._release_lock()
            raise
        return ledger

    def _open(self) -> None:
        if not self.read_only:
            os.makedirs(self.root, exist_ok=True)
            self._take_lock()
        elif not os.path.isdir(self.root):
            raise LedgerError(f"{self.root}: no ledger here (not a directory)")
        for name in sorted(os.listdir(self.root)):
            path = os.path.join(self.root, name)
            if is_partition_name(name) and os.path.isdir(path):
                part = self._recover_partition(name, path)
                if part is not None:  # None: an empty directory, no partition
                    self._parts[name] = part
        last = [s.last_lsn for p in self._parts.values() for s in p.segments if s.count]
        manifest_lsns = [
            int(p.manifest.get("last_lsn", 0))  # type: ignore[call-overload]
            for p in self._parts.values()
            if p.manifest is not None
        ]
        self._next_lsn = max([0, *last, *manifest_lsns]) + 1
        self._acked_lsn = self._next_lsn - 1
        if not self.read_only:
            self._thread = threading.Thread(target=self._run, name="omen-ledger", daemon=True)
            self._thread.start()

    def _take_lock(self) -> None:
        path = os.path.join(self.root, LOCK_NAME)
        fd = self.files.open(path, os.O_RDWR | os.O_CREAT)
        if not self.files.lock(fd):
            holder = self.files.pread(fd, 64, 0).decode("ascii", "replace").strip() or "?"
            self.files.close(fd)
            raise LedgerLockedError(
                f"ledger {self.root} is in use by another writer (pid {holder}); "
                "stop it first (read-only commands work alongside it)"
            )
        self.files.ftruncate(fd, 0)
        self.files.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._lock_fd = fd

    def _release_lock(self) -> None:
        if self._lock_fd >= 0:
            self.files.close(self._lock_fd)
            self._lock_fd = -1

    def _recover_partition(self, name: str, path: str) -> _Partition | None:
        part = _Partition(name, path)
        manifest_path = os.path.join(path, MANIFEST_NAME)
        entries = sorted(os.listdir(path))
        if not self.read_only:
            for entry in entries:
                if entry.endswith(".tmp"):  # an interrupted roll, seal or compression
                    self.files.unlink(os.path.join(path, entry))
                    log.warning("ledger: removed leftover %s", os.path.join(path, entry))
        if os.path.exists(manifest_path):
            part.manifest = manifests.load(self.files, manifest_path)
            part.sealed = True
        # Finish (or, read-only, step around) a compression or archival a crash interrupted.
        if not finish_interrupted(self.files, path, part.manifest, self.read_only):
            if os.path.exists(os.path.join(path, ARCHIVED_NAME)):
                return self._tombstone(name, path)
            return None  # an empty directory: no partition
        entries = sorted(os.listdir(path))
        numbered: dict[int, list[tuple[bool, str]]] = {}
        for entry in entries:
            parsed = parse_segment_name(entry)
            if parsed is not None:
                numbered.setdefault(parsed[0], []).append((parsed[1], entry))
        prev_crc = 0
        expected_sequence = 1
        numbers = sorted(numbered)
        for index, number in enumerate(numbers):
            candidates = numbered[number]
            # Both forms exist only when a compression was interrupted: the manifest decides.
            compressed = bool(part.manifest and manifests.is_compressed(part.manifest, number))
            chosen = next((e for c, e in candidates if c == compressed), candidates[0][1])
            seg_path = os.path.join(path, chosen)
            scanned = scan_segment(self.files, seg_path)
            if (
                self.read_only
                and not part.sealed
                and index == len(numbers) - 1
                and scanned.status == ScanStatus.CORRUPT
            ):
                # A live writer may be appending: a read overlapping its write can see a later
                # page before an earlier one. Re-read a few times before calling it damage.
                scanned = rescan_live_tail(self.files, seg_path, scanned)
            seg = scanned.segment
            if index > 0 and seg.header.prev_crc != prev_crc:
                prev = part.segments[-1]
                raise LedgerCorruptError(
                    prev.path,
                    int(prev.offsets[-1]) if prev.count else HEADER_BYTES,
                    f"last record does not match the chain CRC in {seg.name}'s header",
                )
            if seg.header.partition != name or seg.header.first_sequence != expected_sequence:
                raise LedgerCorruptError(
                    seg_path,
                    0,
                    f"header names partition {seg.header.partition} from sequence "
                    f"{seg.header.first_sequence}, expected {name} from {expected_sequence}",
                )
            last_segment = index == len(numbers) - 1
            if scanned.status == ScanStatus.CORRUPT or (
                scanned.status == ScanStatus.TORN and (not last_segment or part.sealed)
            ):
                raise LedgerCorruptError(seg_path, int(scanned.error_offset or 0), scanned.reason)
            if scanned.status == ScanStatus.TORN:
                self._repair_tail(seg, scanned.error_offset or seg.valid_end, scanned.reason)
            part.segments.append(seg)
            prev_crc = seg.last_crc
            expected_sequence = seg.next_sequence
        part.next_sequence = expected_sequence
        if part.manifest is not None:
            manifests.check_counts(part.manifest, part.segments, manifest_path)
        return part

    def _tombstone(self, name: str, path: str) -> _Partition:
        """An archived partition: sealed, no segments here; its marker stands in for the
        manifest (so the next LSN counts the archived ones) and names the copy."""
        marker = read_marker(self.files, os.path.join(path, ARCHIVED_NAME))
        part = _Partition(name, path, sealed=True, manifest=marker)
        part.archived = True
        part.archive = str(marker["archive"])
        part.next_sequence = int(marker.get("last_sequence") or 0) + 1
        return part

    def _repair_tail(self, seg: Segment, offset: int, reason: str) -> None:
        where = f"{seg.path} at offset {offset}"
        if self.read_only:
            self._torn.append(f"{where}: {reason}")
            return
        fd = self.files.open(seg.path, os.O_RDWR)
        try:
            # The torn record's header goes last, once the rest is durably zero: a crash during
            # the repair then leaves a tail that still reads TORN, never a zeroed header followed
            # by leftovers of the record (which would read CORRUPT and stop the next open).
            head_end = min(seg.valid_end + native.wal.HEADER_BYTES, seg.file_size)
            self.files.zero_fill(fd, head_end, seg.file_size)
            self.files.fdatasync(fd)
            self.files.zero_fill(fd, seg.valid_end, head_end)
            self.files.fdatasync(fd)
        finally:
            self.files.close(fd)
        log.warning(
            "ledger: truncated a torn tail: %s (%s); %d bytes zeroed; nothing acknowledged "
            "was there",
            where,
            reason,
            seg.file_size - seg.valid_end,
        )
        self._torn.append(f"{where}: {reason}")

    @property
    def torn_tails(self) -> tuple[str, ...]:
        """Torn tails found on open (repaired unless read-only)."""
        return tuple(self._torn)

    # ------------------------------------------------------------------ appending

    def on_failure(self, callback: Callable[[LedgerFailedError], None]) -> None:
        """Call `callback(error)` (from the writer thread) when the ledger fails closed."""
        self._failure_callbacks.append(callback)

    @property
    def failed(self) -> LedgerFailedError | None:
        return self._failed

    def append(self, timestamp_ns: int, record_type: int, body: bytes) -> Appended:
        """Queue one record for the partition of `timestamp_ns`'s UTC date.

        Returns at once with the record's position; it is durable when `.commit` completes.
        """
        return self.append_many(((timestamp_ns, record_type, body),))[0]

    def append_many(self, records: Sequence[tuple[int, int, bytes]]) -> list[Appended]:
        """Queue (timestamp_ns, type, body) records at once, in order (one lock, usually one
        group commit). Commits complete in order, so the last record's commit completing
        means every one of them is durable. Nothing is queued if any record is refused.

        Each record gets its position and LSN in its date's partition and goes into the open
        batch (a new one when it would exceed max_batch_bytes); a run of records on one UTC
        date is routed once (a stream message's events mostly share one).
        """
        sizes: list[int] = []
        dates: list[str] = []
        day, date = None, ""
        for timestamp_ns, _, body in records:
            size = RECORD_OVERHEAD + len(body)
            if size > _MAX_RECORD_SIZE:
                # Refused here: in the writer thread, framing it would fail the whole batch.
                raise LedgerError(
                    f"a record of {len(body)} bytes exceeds the ledger's limit of "
                    f"{_MAX_RECORD_SIZE - RECORD_OVERHEAD} bytes"
                )
            sizes.append(size)
            if timestamp_ns // NS_PER_DAY != day:
                day, date = timestamp_ns // NS_PER_DAY, date_of(timestamp_ns)
            dates.append(date)
        max_batch = self.options.max_batch_bytes
        out: list[Appended] = []
        with self._lock:
            self._check_open()
            for date in dict.fromkeys(dates):  # each date once, in order
                reason = self._refusal(date)
                if reason is not None:
                    raise LedgerError(reason)
            queue = self._queue
            tail = queue[-1] if queue else None
            batch = tail if isinstance(tail, _Batch) else None
            routed, part = None, None
            run: list[tuple[int, bytes, int]] | None = None  # the batch's records of `part`
            lsn = self._next_lsn
            try:
                for (_, rtype, body), date, size in zip(records, dates, sizes, strict=True):
                    if date is not routed:
                        routed, part, run = date, self._route(date), None
                    assert part is not None
                    sequence = part.next_sequence
                    part.next_sequence = sequence + 1
                    if batch is None or (batch.size + size > max_batch and batch.size):
                        batch = _Batch()
                        queue.append(batch)
                        self._wake.notify()
                        run = None
                    if run is None:
                        entry = batch.runs.get(id(part))
                        if entry is None:
                            entry = batch.runs[id(part)] = (part, sequence, [])
                        run = entry[2]
                    run.append((rtype, body, lsn))
                    batch.size += size
                    out.append(_new_tuple(Appended, (part.name, sequence, lsn, batch.commit)))
                    lsn += 1
            finally:
                self._next_lsn = lsn
            return out

    def _check_open(self) -> None:
        if self._failed is not None:
            raise self._failed
        if self._closing or self.read_only:
            raise LedgerError("ledger is closed" if self._closing else "ledger is read-only")

    def refuses(self, timestamp_ns: int) -> str | None:
        """Why no record observed at `timestamp_ns` can be appended now (its date's partition
        and that date's -late partition are both sealed), or None."""
        with self._lock:
            return self._refusal(date_of(timestamp_ns))

    def _refusal(self, date: str) -> str | None:
        part = self._parts.get(date)
        if part is None or not part.sealed:
            return None
        late = self._parts.get(date + "-late")
        if late is None or not late.sealed:
            return None
        return (
            f"falls on {date}, whose partitions {date} and {date}-late are both sealed: "
            "the ledger takes no more records for that date"
        )

    def _route(self, date: str) -> _Partition:
        part = self._parts.get(date)
        if part is not None and not part.sealed:
            return part
        if part is not None:
            late = date + "-late"
            part = self._parts.get(late)
            if part is not None and part.sealed:
                raise LedgerError(
                    f"partitions {date} and {late} are both sealed; no record for {date} "
                    "can be appended"
                )
            date = late
        if part is None:
            part = _Partition(date, os.path.join(self.root, date))
            self._parts[date] = part
        return part

    # ------------------------------------------------------------------ the writer thread

    def _run(self) -> None:
        last_sync = time.monotonic()
        last_seal_check = 0.0
        interval = self.options.interval_ms / 1000
        delay = self.options.max_batch_delay_ms / 1000
        while True:
            with self._lock:
                while not self._queue and not self._closing:
                    timeout = 1.0
                    if self._dirty and self.options.durability == "interval":
                        timeout = max(0.0, last_sync + interval - time.monotonic())
                    if timeout == 0.0 or not self._wake.wait(timeout):
                        break
                if not self._queue and self._closing:
                    return
                item = self._queue[0] if self._queue else None
                if (
                    isinstance(item, _Batch)
                    and delay
                    and item.size < self.options.max_batch_bytes
                    and len(self._queue) == 1
                ):
                    remaining = item.opened + delay - time.monotonic()
                    if remaining > 0:
                        self._wake.wait(remaining)
                if self._queue:
                    item = self._queue.popleft()
                    if isinstance(item, _Batch):
                        self._writing = item
            try:
                if isinstance(item, _Batch):
                    self._write_batch(item)
                    with self._lock:  # its records are in their segments now
                        self._writing = None
                elif isinstance(item, _Control):
                    self._run_control(item)
                now = time.monotonic()
                if self._dirty and (
                    self.options.durability == "interval" and now - last_sync >= interval
                ):
                    self._sync_dirty()
                    last_sync = now
                if self.options.seal_grace_s is not None and now - last_seal_check >= 1.0:
                    last_seal_check = now
                    self._auto_seal()
            except OSError as exc:
                self._fail(exc, item)
                return

    def _write_batch(self, batch: _Batch) -> None:
        touched: list[int] = []
        for part, _, records in batch.runs.values():
            touched.extend(self._write_records(part, records))
        if self.options.durability == "fsync":
            for fd in touched:
                self.files.fdatasync(fd)
        else:
            self._dirty.update(touched)
        if batch.runs:  # each run is in LSN order
            self._acked_lsn = max(records[-1][2] for _, _, records in batch.runs.values())
        batch.commit._complete(None)
        for listener in self._commit_listeners:
            try:
                listener(self._acked_lsn)
            except Exception:  # a listener must not stop the writer
                log.exception("ledger commit listener raised")

    def _write_records(self, part: _Partition, records: list[tuple[int, bytes, int]]) -> list[int]:
        touched: list[int] = []
        start = 0
        frame = native.wal.frame_sequenced
        while start < len(records):
            needed = RECORD_OVERHEAD + len(records[start][1])
            if part.fd < 0 or part.capacity - part.write_offset < needed:
                if part.fd in touched:  # the roll syncs and closes it: its number may be reused
                    touched.remove(part.fd)
                self._roll(part, needed)
            # As many records as fit in this segment, each payload its LSN then its body.
            offset = part.write_offset
            offsets, types = array("Q"), array("B")
            framed, end = frame(records, start, part.capacity - offset, offset, offsets, types)
            self.files.pwrite(part.fd, framed, offset)
            seg = part.segments[-1]
            last = offsets[-1] - offset
            seg.last_crc = int.from_bytes(framed[last + 4 : last + 8], "little")
            if not seg.count:
                seg.first_lsn = records[start][2]
            seg.last_lsn = records[end - 1][2]
            seg.types.extend(types)
            seg.offsets.extend(offsets)  # readers see the records only once they are written
            pos = offset + len(framed)
            seg.valid_end = pos
            part.write_offset = pos
            if part.fd not in touched:
                touched.append(part.fd)
            start = end
        return touched

    def _roll(self, part: _Partition, needed: int) -> None:
        """Start a new segment (the first one, or because the current one is full)."""
        if not os.path.isdir(part.path):
            self.files.mkdir(part.path)
            self.files.fsync_dir(self.root)
        prev = part.last
        if prev is not None and part.fd < 0 and prev.file_size - prev.valid_end >= needed:
            # Reopen the last segment left by an earlier run: it still has room.
            part.fd = self.files.open(prev.path, os.O_RDWR)
            part.write_offset = prev.valid_end
            part.capacity = prev.file_size
            return
        if part.fd >= 0:
            self.files.fdatasync(part.fd)
            self._dirty.discard(part.fd)
            self.files.drop_cache(part.fd)  # its pages are clean now: see "Page cache" above
            self.files.close(part.fd)
            part.fd = -1
        number = prev.number + 1 if prev else 1
        path = os.path.join(part.path, segment_name(number))
        size = max(self.options.segment_bytes, HEADER_BYTES + needed)
        header = SegmentHeader(
            part.name, number, prev.next_sequence if prev else 1, prev.last_crc if prev else 0
        )
        tmp = path + ".tmp"
        fd = self._take_spare(tmp, size)
        if fd < 0:
            fd = self.files.open(tmp, os.O_RDWR | os.O_CREAT | os.O_TRUNC)
            try:
                self.files.preallocate(fd, size)
            except BaseException:
                self.files.close(fd)
                raise
        try:
            self.files.pwrite(fd, header.pack(), 0)
            self.files.fdatasync(fd)
            self.files.rename(tmp, path)
            self.files.fsync_dir(part.path)
        except BaseException:
            self.files.close(fd)
            raise
        part.segments.append(Segment(path, number, False, header, file_size=size))
        part.fd = fd
        part.write_offset = HEADER_BYTES
        part.capacity = size
        if self._spare is None:
            self._prepare_spare(os.path.join(part.path, segment_name(number + 1) + ".tmp"))

    def _prepare_spare(self, tmp: str) -> None:
        size = self.options.segment_bytes
        result: list[int | BaseException] = []

        def work() -> None:
            try:
                fd = self.files.open(tmp, os.O_RDWR | os.O_CREAT | os.O_TRUNC)
                try:
                    # Allocated, not zero-filled: writing 16 MiB of zeros through the page
                    # cache took 17-45 ms of CPU a segment plus the kernel's writeback of it,
                    # ~7 times a second at ~115 MB/s of signals, on the core the event loop
                    # shares with everything else (issue 6: 3-17% more ProcessStream events/s
                    # at 100+ a message without it, in server A/Bs). The price is an extent
                    # conversion in each commit's fdatasync (+0.03 ms at p50 for one record).
                    self.files.preallocate(fd, size)
                    self.files.fdatasync(fd)
                except BaseException:
                    self.files.close(fd)
                    raise
                result.append(fd)
            except BaseException as exc:  # the roll falls back to doing it itself
                result.append(exc)

        thread = threading.Thread(target=work, name="omen-ledger-spare", daemon=True)
        thread.start()
        self._spare = (tmp, size, thread, result)

    def _take_spare(self, tmp: str, size: int) -> int:
        """The prepared file for `tmp` (an open fd), or -1 when there is none to use."""
        spare = self._spare
        if spare is None or spare[0] != tmp or spare[1] < size:
            self._discard_spare()
            return -1
        self._spare = None
        spare[2].join()
        outcome = spare[3][0]
        if isinstance(outcome, BaseException):
            log.warning("ledger: preparing %s failed (%s); creating it now", tmp, outcome)
            return -1
        return outcome

    def _discard_spare(self) -> None:
        spare, self._spare = self._spare, None
        if spare is None:
            return
        spare[2].join()
        outcome = spare[3][0]
        if not isinstance(outcome, BaseException):
            self.files.close(outcome)
            with contextlib.suppress(OSError):
                self.files.unlink(spare[0])

    def _sync_dirty(self) -> None:
        for fd in sorted(self._dirty):
            self.files.fdatasync(fd)
        self._dirty.clear()

    def _fail(self, exc: OSError, item: _Batch | _Control | None) -> None:
        error = LedgerFailedError(
            f"ledger {self.root}: write failed ({exc.strerror or exc}); failing closed: "
            "nothing more will be acknowledged; restart after fixing the cause"
        )
        error.__cause__ = exc
        log.critical("%s", error)
        with self._lock:
            self._failed = error
            pending = list(self._queue)
            self._queue.clear()
            self._writing = None
        for failed in ([item] if item is not None else []) + pending:
            if not failed.commit.done:  # (interval mode: an acknowledgement is never revoked)
                failed.commit._complete(error)
        for callback in self._failure_callbacks:
            try:
                callback(error)
            except Exception:  # a callback must not hide the failure
                log.exception("ledger failure callback raised")

    def _run_control(self, control: _Control) -> None:
        try:
            control.value = control.run()
        except OSError:
            raise
        except BaseException as exc:  # a refused seal fails the request, not the ledger
            control.commit._complete(exc)
            return
        control.commit._complete(None)

    def _submit(self, run: Callable[[], object]) -> _Control:
        control = _Control(run)
        with self._lock:
            if self._failed is not None:
                raise self._failed
            if self._closing or self.read_only:
                raise LedgerError("ledger is closed" if self._closing else "ledger is read-only")
            self._queue.append(control)
            self._wake.notify()
        return control

    # ------------------------------------------------------------------ sealing

    def seal(self, name: str, timeout: float | None = None) -> dict[str, object]:
        """Seal partition `name` (blocking): no more appends; its manifest is written durably.

        Returns the manifest. Sealing a sealed partition returns its manifest unchanged.
        """
        control = self._submit(lambda: self._seal(name))
        control.commit.wait(timeout)
        assert isinstance(control.value, dict)
        return control.value

    async def seal_async(self, name: str) -> dict[str, object]:
        control = self._submit(lambda: self._seal(name))
        await control.commit.wait_async()
        assert isinstance(control.value, dict)
        return control.value

    def _seal(self, name: str) -> dict[str, object]:
        """In the writer thread: everything queued before the seal request is already written."""
        part = self._parts.get(name)
        if part is None:
            raise LedgerError(f"no partition {name!r} in ledger {self.root}")
        if part.sealed and part.manifest is not None:
            return part.manifest
        with self._lock:
            part.sealed = True  # later appends for this date go to <date>-late
        if part.fd >= 0:
            self.files.fdatasync(part.fd)
            self._dirty.discard(part.fd)
            self.files.close(part.fd)
            part.fd = -1
        if not os.path.isdir(part.path):
            self.files.mkdir(part.path)
            self.files.fsync_dir(self.root)
        manifest = manifests.seal(self.files, part.path, part.name, part.segments)
        part.manifest = manifest
        log.info(
            "ledger: sealed partition %s (%d records, fingerprint %s)",
            name,
            manifest["record_count"],
            manifest["fingerprint"],
        )
        return manifest

    def _auto_seal(self) -> None:
        grace_ns = int((self.options.seal_grace_s or 0) * 1e9)
        now = self._clock_ns()
        for part in list(self._parts.values()):
            if part.sealed or is_late(part.name):
                continue
            day = partition_date(part.name)
            end_ns = (day - dt.date(1970, 1, 1)).days * NS_PER_DAY + NS_PER_DAY
            if now >= end_ns + grace_ns:
                self._seal(part.name)

    def mark_archived(self, name: str, marker: dict[str, object]) -> None:
        """Record that sealed partition `name` was moved to the archive copy `marker` names (the
        ARCHIVED marker, carrying the manifest's summary). The partition stays in the ledger as
        a tombstone: its date stays sealed, its LSNs stay counted, and its records are read
        from the copy from now on."""
        with self._lock:
            part = self._parts.get(name)
            if part is None:
                raise LedgerError(f"no partition {name!r} in ledger {self.root}")
            if not part.sealed:
                raise LedgerError(f"partition {name} is not sealed; it cannot be archived")
            part.manifest = dict(marker)
            part.archive = str(marker["archive"])
            part.archive_segments = None
            part.archived = True
            part.segments = []

    def mark_compressed(self, name: str, manifest: dict[str, object]) -> None:
        """Record that a sealed partition's segments were replaced by compressed ones."""
        part = self._parts[name]
        part.manifest = manifest
        for seg in part.segments:
            if manifests.is_compressed(manifest, seg.number):
                seg.compressed = True
                seg.path = os.path.join(part.path, segment_name(seg.number, compressed=True))

    # ------------------------------------------------------------------ reading

    def partition_names(self) -> list[str]:
        with self._lock:
            return sorted(self._parts)

    def summary(self, name: str) -> PartitionSummary:
        part = self._parts.get(name)
        if part is None:
            raise LedgerError(f"no partition {name!r} in ledger {self.root}")
        if part.archived:  # the marker's figures: no need to reach the archive copy
            marker = part.manifest or {}
            names = marker.get("segments")
            return PartitionSummary(
                name,
                True,
                _int(marker.get("record_count")),
                _int(marker.get("first_sequence")),
                _int(marker.get("last_sequence")),
                _int(marker.get("size_bytes")),
                bool(marker.get("compressed")),
                tuple(str(n) for n in names) if isinstance(names, list) else (),
                archived=True,
            )
        count = part.count
        size = sum(os.path.getsize(s.path) for s in part.segments if os.path.exists(s.path))
        return PartitionSummary(
            name,
            part.sealed,
            count,
            1 if count else 0,
            count,
            size,
            bool(part.segments) and all(s.compressed for s in part.segments),
            tuple(s.name for s in part.segments),
        )

    def segments(self, name: str) -> list[Segment]:
        part = self._parts.get(name)
        if part is None:
            raise LedgerError(f"no partition {name!r} in ledger {self.root}")
        if part.archived:
            return list(self._archive_segments(part))
        return list(part.segments)

    def archive_location(self, name: str) -> str | None:
        """Where archived partition `name`'s copy is (None: the partition is not archived)."""
        part = self._parts.get(name)
        if part is None:
            raise LedgerError(f"no partition {name!r} in ledger {self.root}")
        return part.archive if part.archived else None

    def _archive_segments(self, part: _Partition) -> list[Segment]:
        """The segments of the archive copy of archived `part`, scanned once and cached.
        LedgerError naming the copy when it cannot be read or is not the partition's."""
        cached = part.archive_segments
        if cached is not None:
            return cached
        manifest_path = os.path.join(part.archive, MANIFEST_NAME)
        where = f"partition {part.name} is archived to {part.archive}, but that copy"
        try:
            manifest = manifests.load(self.files, manifest_path)
            found: list[Segment] = []
            for entry in manifest.get("segments", ()):
                packed = entry.get("compressed")
                fname = packed["name"] if isinstance(packed, dict) else entry["name"]
                seg_path = os.path.join(part.archive, str(fname))
                scanned = scan_segment(self.files, seg_path)
                seg = scanned.segment
                if scanned.status != ScanStatus.OK:
                    offset = int(scanned.error_offset or 0)
                    raise LedgerCorruptError(seg_path, offset, scanned.reason)
                if seg.header.partition != part.name:
                    reason = f"header names partition {seg.header.partition}"
                    raise LedgerCorruptError(seg_path, 0, reason)
                found.append(seg)
            manifests.check_counts(manifest, found, manifest_path)
        except OSError as exc:
            raise LedgerError(
                f"{where} cannot be read ({exc.filename or manifest_path}: {exc.strerror or exc})"
            ) from exc
        except LedgerCorruptError as exc:
            raise LedgerError(
                f"{where} is damaged ({exc.path}: {exc.reason} at offset {exc.offset}; "
                "`omen ledger verify` shows more)"
            ) from exc
        except (KeyError, TypeError, AttributeError) as exc:
            raise LedgerError(f"{where} has a malformed manifest {manifest_path} ({exc})") from exc
        marker = part.manifest or {}
        expected = (_int(marker.get("record_count")), _int(marker.get("last_lsn")))
        got = (sum(s.count for s in found), max((s.last_lsn for s in found if s.count), default=0))
        if "record_count" in marker and got != expected:
            raise LedgerError(
                f"{where} is not the one archived: it holds {got[0]} records up to LSN {got[1]}, "
                f"the marker says {expected[0]} up to LSN {expected[1]}"
            )
        part.archive_segments = found
        return found

    def read(self, name: str, from_sequence: int = 1) -> Iterator[Entry]:
        """The partition's records from `from_sequence` on, as written so far, in order."""
        for seg in self.segments(name):
            count = seg.count  # records written when this segment is reached
            if seg.first_sequence + count <= from_sequence:
                continue
            try:
                data = load_bytes(self.files, seg.path)
            except OSError as exc:
                self._check_archive_read(name, seg.path, exc)
                raise
            first = max(0, from_sequence - seg.first_sequence)
            for index in range(first, count):
                rtype, lsn, body = record_at(data, int(seg.offsets[index]))
                yield Entry(Position(name, seg.first_sequence + index), lsn, rtype, bytes(body))

    def holds(self, partition: str, sequence: int) -> bool:
        """Whether the record at (partition, sequence) is written (so `get` can read it)."""
        part = self._parts.get(partition)
        if part is None:
            return False
        segments = part.segments if not part.archived else self._archive_segments(part)
        # Segments are in sequence order: the last one starting at or before `sequence`.
        at = bisect_right(segments, sequence, key=_first_sequence) - 1
        return at >= 0 and sequence - segments[at].first_sequence < segments[at].count

    def get(self, position: Position) -> Entry:
        """One record by position (LedgerError when there is no such record), also one that
        append has accepted but the writer thread has not written yet."""
        entry = self._written(position)
        if entry is None:
            entry = self._unwritten(position)
        if entry is None:  # written between the two looks
            entry = self._written(position)
        if entry is None:
            raise LedgerError(f"no record {position.partition}/{position.sequence}")
        return entry

    def _unwritten(self, position: Position) -> Entry | None:
        """The record at `position` if it waits in the queue or in the batch being written.
        The writer makes a batch's records visible in their segments before it drops the batch
        (both under the lock), so a record is always in one of the two places."""
        name, sequence = position.partition, position.sequence
        with self._lock:
            batches = [b for b in self._queue if isinstance(b, _Batch)]
            if self._writing is not None:
                batches.append(self._writing)
            for batch in batches:
                for part, first, records in batch.runs.values():
                    if part.name == name and 0 <= sequence - first < len(records):
                        rtype, body, lsn = records[sequence - first]
                        return Entry(position, lsn, rtype, body)
        return None

    def _written(self, position: Position) -> Entry | None:
        for seg in self.segments(position.partition):
            index = position.sequence - seg.first_sequence
            if 0 <= index < seg.count:
                offset = int(seg.offsets[index])
                try:
                    if seg.compressed:
                        data: bytes = load_bytes(self.files, seg.path)
                        rtype, lsn, body = record_at(data, offset)
                    else:
                        rtype, lsn, body = record_at(_read_record(seg.path, offset), 0)
                except OSError as exc:
                    self._check_archive_read(position.partition, seg.path, exc)
                    raise
                return Entry(position, lsn, rtype, bytes(body))
        return None

    def _check_archive_read(self, name: str, path: str, exc: OSError) -> None:
        """Reading archived partition `name`'s copy failed (it moved since it was scanned)."""
        part = self._parts.get(name)
        if part is not None and part.archived:
            raise LedgerError(
                f"partition {name} is archived to {part.archive}, but that copy cannot be read "
                f"({path}: {exc.strerror or exc})"
            ) from exc

    def replay(self) -> Iterator[Entry]:
        """Every record of every partition, in LSN order: the order the writer accepted them.

        An archived partition's records are read from its archive copy. When that copy cannot
        be read (moved, unmounted, damaged), replay logs a warning and goes on without that
        partition: what is rebuilt from the replay (the duplicate index, the anomaly
        statistics) then lacks its records, but the ledger still opens and serves.
        """
        readers = []
        for name in self.partition_names():
            part = self._parts.get(name)
            if part is not None and part.archived:
                try:
                    self._archive_segments(part)
                except LedgerError as exc:
                    log.warning("ledger: replay skips archived partition %s: %s", name, exc)
                    continue
            readers.append(self.read(name))
        return merge(*readers, key=lambda e: e.lsn)

    @property
    def acked_lsn(self) -> int:
        """Every record with an LSN up to this one is acknowledged (durable under the mode)."""
        return self._acked_lsn

    def add_commit_listener(self, listener: Callable[[int], None]) -> None:
        """Call `listener(acked_lsn)` from the writer thread after every group commit."""
        self._commit_listeners = [*self._commit_listeners, listener]

    def remove_commit_listener(self, listener: Callable[[int], None]) -> None:
        self._commit_listeners = [x for x in self._commit_listeners if x is not listener]

    def entries_after(self, lsn: int, upto: int | None = None) -> Iterator[Entry]:
        """Acknowledged records with `lsn` < LSN <= `upto` (default: acked_lsn), in LSN order
        across partitions: what a live tail shows next. Reads only the bytes it returns."""
        limit = self._acked_lsn if upto is None else upto
        readers = []
        for name in self.partition_names():
            part = self._parts.get(name)
            if part is None or (
                part.archived
                and part.manifest is not None
                and int(
                    part.manifest.get("last_lsn", 0)  # type: ignore[call-overload]
                )
                <= lsn
            ):
                continue
            readers.append(self._read_after(name, lsn, limit))
        if len(readers) == 1:
            return readers[0]
        return merge(*readers, key=lambda e: e.lsn)

    def _read_after(self, name: str, lsn: int, limit: int) -> Iterator[Entry]:
        unpack = _FRAME_AND_LSN.unpack_from
        for seg in self.segments(name):
            count = seg.count  # records written when this segment is reached
            if not count or seg.last_lsn <= lsn or seg.first_lsn > limit:
                continue
            if seg.compressed:
                data = load_bytes(self.files, seg.path)
                base = 0
                first = self._first_after(seg, count, lsn, data)
                stop = count
            else:
                first = self._first_after(seg, count, lsn, None)
                if first == count:
                    continue
                # A bounded read (a tail's chunk) stops at `limit`, not at the segment's end.
                stop = (
                    count if seg.last_lsn <= limit else self._first_after(seg, count, limit, None)
                )
                base = int(seg.offsets[first])
                end = int(seg.offsets[stop]) if len(seg.offsets) > stop else seg.valid_end
                data = self._pread(seg.path, base, end - base)
            for index in range(first, stop):
                offset = int(seg.offsets[index]) - base
                length, _, rtype, record_lsn = unpack(data, offset)
                if record_lsn > limit:
                    return
                body = data[offset + _BODY_START : offset + 9 + length]
                yield Entry(Position(name, seg.first_sequence + index), record_lsn, rtype, body)

    def _first_after(self, seg: Segment, count: int, lsn: int, data: bytes | None) -> int:
        """Index of the segment's first record with an LSN above `lsn` (LSNs grow along it);
        reads 8 bytes a probe when the segment is not in memory."""
        # LSNs are distinct integers growing along the segment, so record i's LSN is at least
        # first_lsn + i and at most last_lsn - (count - 1 - i). That bounds the answer; when no
        # other partition took LSNs in between (a live tail of one date) it pins it: no probe.
        lo = min(count, max(0, lsn - seg.last_lsn + count))
        hi = min(count, max(lo, lsn - seg.first_lsn + 1))
        while lo < hi:
            mid = (lo + hi) // 2
            offset = int(seg.offsets[mid]) + 9
            raw = (
                data[offset : offset + 8] if data is not None else self._pread(seg.path, offset, 8)
            )
            if int.from_bytes(raw, "little") <= lsn:
                lo = mid + 1
            else:
                hi = mid
        return lo

    @staticmethod
    def _pread(path: str, offset: int, size: int) -> bytes:
        with open(path, "rb") as fh:
            fh.seek(offset)
            return fh.read(size)

    def replay_raw(self) -> Iterator[tuple[int, int, str, int, memoryview]]:
        """replay() without the objects, for start-up: (LSN, type, partition, sequence, body)
        tuples in LSN order, the body a view into the segment (copy it to keep it)."""
        readers = []
        for name in self.partition_names():
            part = self._parts.get(name)
            if part is not None and part.archived:
                try:
                    self._archive_segments(part)
                except LedgerError as exc:
                    log.warning("ledger: replay skips archived partition %s: %s", name, exc)
                    continue
            readers.append(self._read_raw(name))
        if len(readers) == 1:
            return readers[0]
        return merge(*readers)  # LSNs are unique, so tuples never compare past the first item

    def _read_raw(self, name: str) -> Iterator[tuple[int, int, str, int, memoryview]]:
        unpack = _FRAME_AND_LSN.unpack_from
        for seg in self.segments(name):
            count = seg.count
            data = load_bytes(self.files, seg.path)
            view = memoryview(data)
            offsets = seg.offsets
            sequence = seg.first_sequence
            for index in range(count):
                offset = offsets[index]
                length, _, rtype, lsn = unpack(data, offset)
                start = offset + _BODY_START
                yield lsn, rtype, name, sequence + index, view[start : offset + 9 + length]

    # ------------------------------------------------------------------ closing

    def close(self) -> None:
        """Write and sync everything queued, then release the files and the lock."""
        with self._lock:
            if self._closing:
                return
            self._closing = True
            self._wake.notify()
        if self._thread is not None:
            self._thread.join()
        try:
            self._discard_spare()
            if self._failed is None and not self.read_only:
                for part in self._parts.values():
                    if part.fd >= 0:
                        self.files.fdatasync(part.fd)
        finally:
            for part in self._parts.values():
                if part.fd >= 0:
                    self.files.close(part.fd)
                    part.fd = -1
            self._release_lock()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

"""Ledger test helpers: a FileLayer that logs, injects faults and can forget unsynced writes.

`FaultyFiles` is the file-layer seam the ledger offers for tests (omen.adapters.ledger.files):

- every call is logged as an `Event` (operation, path, offset, size), so a test can check the
  order in which bytes were written and synced;
- `fail_on(...)` makes a chosen later call raise OSError (ENOSPC, EIO, ...); a failing pwrite
  writes part of its bytes first, as a real short write before ENOSPC does;
- `lose_unsynced()` puts every file modified since its last successful fsync/fdatasync back as
  it was then: what a power loss after the failure could leave. Whatever the ledger acknowledged
  must survive that.
"""

from __future__ import annotations

import errno as errnos
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass

from omen.adapters.ledger.files import FileLayer

ENOSPC = errnos.ENOSPC
EIO = errnos.EIO


@dataclass(frozen=True, slots=True)
class Event:
    op: str
    path: str
    offset: int = 0
    size: int = 0


@dataclass
class _Fault:
    op: str
    errno: int
    skip: int
    when: Callable[[str], bool]
    times: int | None


def final_path(path: str) -> str:
    """A segment or manifest written as `<name>.tmp` and renamed: the name it ends up with."""
    return path.removesuffix(".tmp")


class FaultyFiles(FileLayer):
    """The real FileLayer, logging every call; faults and simulated power loss on request."""

    def __init__(self) -> None:
        self._mutex = threading.RLock()
        self.events: list[Event] = []
        self._paths: dict[int, str] = {}
        self._fault: _Fault | None = None
        self.faults_raised = 0
        #: Seconds each fdatasync takes on top of the real one (a slower disk).
        self.sync_delay = 0.0
        #: path -> its bytes at the last sync (None: the file did not exist then).
        self._unsynced: dict[str, bytes | None] = {}

    # ------------------------------------------------------------------ test controls

    def fail_on(
        self,
        op: str,
        errno: int = EIO,
        *,
        skip: int = 0,
        when: Callable[[str], bool] = lambda path: True,
        times: int | None = 1,
    ) -> None:
        """Make the (skip+1)-th later call of `op` (on a path `when` accepts) raise OSError,
        and the `times - 1` such calls after it (None: every one, as a disk that stays full)."""
        with self._mutex:
            self._fault = _Fault(op, errno, skip, when, times)

    def mark(self) -> int:
        """The index the next event will get (to order test observations with file calls)."""
        with self._mutex:
            return len(self.events)

    def count(self, op: str) -> int:
        with self._mutex:
            return sum(1 for e in self.events if e.op == op)

    def lose_unsynced(self) -> None:
        """Put back every file as it was at its last successful sync (call after close)."""
        with self._mutex:
            for path, content in self._unsynced.items():
                if content is None:
                    if os.path.exists(path):
                        os.truncate(path, 0)
                    continue
                with open(path, "r+b" if os.path.exists(path) else "wb") as fh:
                    fh.truncate(0)
                    fh.write(content)
            self._unsynced.clear()

    # ------------------------------------------------------------------ internals

    def _log(self, op: str, path: str, offset: int = 0, size: int = 0) -> None:
        with self._mutex:
            self.events.append(Event(op, path, offset, size))
            fault = self._fault
            if fault is None or fault.op != op or not fault.when(path):
                return
            if fault.skip > 0:
                fault.skip -= 1
                return
            if fault.times is not None:
                fault.times -= 1
                if fault.times <= 0:
                    self._fault = None
            self.faults_raised += 1
        raise OSError(fault.errno, os.strerror(fault.errno), path)

    def _path(self, fd: int) -> str:
        with self._mutex:
            return self._paths.get(fd, f"<fd {fd}>")

    def _snapshot(self, path: str) -> None:
        with self._mutex:
            if path in self._unsynced or path.startswith("<fd"):
                return
            try:
                with open(path, "rb") as fh:
                    self._unsynced[path] = fh.read()
            except FileNotFoundError:
                self._unsynced[path] = None

    def _synced(self, fd: int) -> None:
        with self._mutex:
            self._unsynced.pop(self._path(fd), None)

    # ------------------------------------------------------------------ the FileLayer

    def open(self, path: str, flags: int, mode: int = 0o644) -> int:
        if flags & os.O_CREAT and not os.path.exists(path):
            with self._mutex:
                self._unsynced.setdefault(path, None)
        self._log("open", path)
        fd = super().open(path, flags, mode)
        with self._mutex:
            self._paths[fd] = path
        return fd

    def close(self, fd: int) -> None:
        path = self._path(fd)
        with self._mutex:
            self._paths.pop(fd, None)
        super().close(fd)
        self._log("close", path)

    def pwrite(self, fd: int, data: bytes | memoryview, offset: int) -> None:
        path = self._path(fd)
        self._snapshot(path)
        try:
            self._log("pwrite", path, offset, len(data))
        except OSError:
            # A short write, then the error: part of the bytes reach the file.
            super().pwrite(fd, memoryview(data)[: len(data) // 2], offset)
            raise
        super().pwrite(fd, data, offset)

    def fdatasync(self, fd: int) -> None:
        self._log("fdatasync", self._path(fd))
        if self.sync_delay:
            threading.Event().wait(self.sync_delay)
        super().fdatasync(fd)
        self._synced(fd)

    def fsync(self, fd: int) -> None:
        self._log("fsync", self._path(fd))
        super().fsync(fd)
        self._synced(fd)

    def ftruncate(self, fd: int, size: int) -> None:
        path = self._path(fd)
        self._snapshot(path)
        self._log("ftruncate", path, size)
        super().ftruncate(fd, size)

    def preallocate(self, fd: int, size: int) -> None:
        path = self._path(fd)
        self._snapshot(path)
        self._log("preallocate", path, 0, size)
        super().preallocate(fd, size)

    def drop_cache(self, fd: int) -> None:
        self._log("drop_cache", self._path(fd))
        super().drop_cache(fd)

    def zero_fill(self, fd: int, start: int, end: int) -> None:
        self._log("zero_fill", self._path(fd), start, end - start)
        super().zero_fill(fd, start, end)

    def rename(self, src: str, dst: str) -> None:
        self._log("rename", src)
        super().rename(src, dst)
        with self._mutex:
            for fd, path in self._paths.items():
                if path == src:
                    self._paths[fd] = dst
            if src in self._unsynced:
                self._unsynced[dst] = self._unsynced.pop(src)

    def unlink(self, path: str) -> None:
        self._log("unlink", path)
        super().unlink(path)

    def mkdir(self, path: str) -> None:
        self._log("mkdir", path)
        super().mkdir(path)

    def fsync_dir(self, path: str) -> None:
        self._log("fsync_dir", path)
        super().fsync_dir(path)

    def read_file(self, path: str) -> bytes:
        self._log("read_file", path)
        return super().read_file(path)


class FreshFdFiles(FaultyFiles):
    """Never hands out a file descriptor number twice, as when another thread of the process
    opens a file (a reader, a socket) the moment the ledger closes one."""

    def __init__(self) -> None:
        super().__init__()
        self._floor = 1000

    def open(self, path: str, flags: int, mode: int = 0o644) -> int:
        import fcntl

        fd = super().open(path, flags, mode)
        with self._mutex:
            self._floor += 1
            high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, self._floor)
            self._floor = high
            self._paths[high] = self._paths.pop(fd)
        os.close(fd)
        return high


class GatedFiles(FaultyFiles):
    """Holds the writer thread inside its first write to a segment until `gate` is set
    (`writing` tells the test it got there): its records are accepted but not written."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.writing = threading.Event()

    def pwrite(self, fd: int, data: bytes | memoryview, offset: int) -> None:
        if self._path(fd).endswith(".wal"):
            self.writing.set()
            assert self.gate.wait(10), "the test never opened the gate"
        super().pwrite(fd, data, offset)

"""The file layer: every system call the ledger makes, behind one seam.

Tests substitute a subclass that raises ENOSPC or EIO on a chosen call to check that nothing
is acknowledged that was not durable. Paths are strings; file descriptors are plain ints.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os

_ZEROS = bytes(1024 * 1024)


class FileLayer:
    """The real thing: thin wrappers over os.*, with the retry loops a short write needs."""

    def open(self, path: str, flags: int, mode: int = 0o644) -> int:
        return os.open(path, flags | os.O_CLOEXEC, mode)

    def close(self, fd: int) -> None:
        os.close(fd)

    def pwrite(self, fd: int, data: bytes | memoryview, offset: int) -> None:
        """Write all of `data` at `offset` (os.pwrite may write less than asked)."""
        view = memoryview(data)
        while view:
            written = os.pwrite(fd, view, offset)
            if written <= 0:
                raise OSError(errno.EIO, "pwrite wrote nothing")
            view = view[written:]
            offset += written

    def pread(self, fd: int, size: int, offset: int) -> bytes:
        return os.pread(fd, size, offset)

    def fdatasync(self, fd: int) -> None:
        os.fdatasync(fd)

    def fsync(self, fd: int) -> None:
        os.fsync(fd)

    def ftruncate(self, fd: int, size: int) -> None:
        os.ftruncate(fd, size)

    def size(self, fd: int) -> int:
        return os.fstat(fd).st_size

    def preallocate(self, fd: int, size: int) -> None:
        """Allocate the blocks of [0, size) and make the file that long: they read as zeros
        (posix_fallocate: unwritten extents, no data written), and ENOSPC comes now, not from
        a later append. A file system that cannot allocate gets real zeros written instead."""
        try:
            os.posix_fallocate(fd, 0, size)
        except OSError as exc:
            if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL):
                raise
            self.zero_fill(fd, 0, size)

    def drop_cache(self, fd: int) -> None:
        """Advise the kernel to drop the file's clean pages from the page cache: only advice,
        so a file system that ignores or refuses it changes nothing."""
        with contextlib.suppress(OSError):
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)

    def zero_fill(self, fd: int, start: int, end: int) -> None:
        """Write real zero bytes over [start, end) (a torn tail goes back to zeros)."""
        while start < end:
            n = min(len(_ZEROS), end - start)
            self.pwrite(fd, memoryview(_ZEROS)[:n], start)
            start += n

    def rename(self, src: str, dst: str) -> None:
        os.rename(src, dst)

    def unlink(self, path: str) -> None:
        os.unlink(path)

    def mkdir(self, path: str) -> None:
        os.mkdir(path)

    def rmdir(self, path: str) -> None:
        os.rmdir(path)

    def fsync_dir(self, path: str) -> None:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def read_file(self, path: str) -> bytes:
        with open(path, "rb") as fh:
            return fh.read()

    def lock(self, fd: int) -> bool:
        """Take an exclusive flock; False when another open file description holds it. The
        kernel drops the lock when its holder dies, so a kill -9 leaves no stale lock."""
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def write_durable(self, path: str, data: bytes) -> None:
        """Replace `path` atomically and durably: tmp file, fsync, rename, fsync of the dir."""
        tmp = path + ".tmp"
        fd = self.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        try:
            self.pwrite(fd, data, 0)
            self.fsync(fd)
        finally:
            self.close(fd)
        self.rename(tmp, path)
        self.fsync_dir(os.path.dirname(path) or ".")

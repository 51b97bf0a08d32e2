"""Dead letters as JSON lines: <outbox_dir>/<publisher>.deadletter.jsonl.

One line per signal a publisher refused for good::

    {"publisher": "riskcast-webhook", "signal_id": "sig-...", "lsn": 42,
     "partition": "2026-11-18", "sequence": 7, "reason": "HTTP 400 from http://...",
     "failed_at": "2026-11-18T07:40:00.123456Z", "failed_at_ns": 1795000400123456000,
     "signal": {...}}

`signal` is the signal in the publishers' JSON (omen.adapters.outbox.envelope). Each record is
appended with one write and fsynced before the dispatcher moves its cursor past the signal, so
a crash never loses one (it may repeat one). `omen outbox replay` rewrites the file without the
records it delivered (tmp file, fsync, rename). The server's appends and a replay's rewrite
take an flock on <publisher>.deadletter.lock, so a replay next to a running server never drops
a dead letter appended meanwhile.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omen.adapters.ledger.files import FileLayer
from omen.adapters.outbox.cursor_file import ensure_dir
from omen.adapters.outbox.envelope import delivery_from_json, delivery_json, dumps
from omen.application.ports import DeadLetterStore, Delivery
from omen.errors import OutboxError

log = logging.getLogger("omen.outbox")

DEADLETTER_SUFFIX = ".deadletter.jsonl"
_LOCK_SUFFIX = ".deadletter.lock"


@dataclass(frozen=True)
class DeadLetter:
    """One dead-letter record as read back."""

    record: dict[str, Any]

    @property
    def key(self) -> tuple[int, int]:
        """Identifies the record within its file (one signal may be dead-lettered twice)."""
        return int(self.record["lsn"]), int(self.record["failed_at_ns"])

    @property
    def delivery(self) -> Delivery:
        return delivery_from_json(self.record)


def _rfc3339(ns: int) -> str:
    seconds, rest = divmod(ns, 1_000_000_000)
    stamp = dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{rest // 1000:06d}Z"


class DeadLetterFiles(DeadLetterStore):
    def __init__(self, directory: Path, files: FileLayer | None = None):
        self.directory = Path(directory)
        self._files = files or FileLayer()

    def path(self, publisher: str) -> Path:
        return self.directory / f"{publisher}{DEADLETTER_SUFFIX}"

    @contextlib.contextmanager
    def _locked(self, publisher: str) -> Iterator[None]:
        ensure_dir(self.directory, self._files, False)
        fd = os.open(self.directory / f"{publisher}{_LOCK_SUFFIX}", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the flock

    def add(self, publisher: str, delivery: Delivery, reason: str, failed_at_ns: int) -> None:
        envelope = delivery_json(delivery)
        record = {
            "publisher": publisher,
            "signal_id": delivery.signal.signal_id,
            "lsn": delivery.lsn,
            "partition": delivery.partition,
            "sequence": delivery.sequence,
            "reason": reason,
            "failed_at": _rfc3339(failed_at_ns),
            "failed_at_ns": failed_at_ns,
            "signal": envelope["signal"],
        }
        line = (dumps(record) + "\n").encode()
        path = str(self.path(publisher))
        with self._locked(publisher):
            created = not os.path.exists(path)
            fd = self._files.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND)
            try:
                size = self._files.size(fd)
                if size and os.pread(fd, 1, size - 1) != b"\n":
                    line = b"\n" + line  # a torn last line (a crash mid-append) stays apart
                os.write(fd, line)
                self._files.fsync(fd)
            finally:
                self._files.close(fd)
            if created:
                self._files.fsync_dir(str(self.directory))

    def read(self, publisher: str) -> list[DeadLetter]:
        """Every dead letter of `publisher`, in the order they were written. A line that is
        not a record (a torn write) is skipped with a warning."""
        path = self.path(publisher)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise OutboxError(f"dead-letter file {path}: cannot be read: {exc.strerror}") from None
        out = []
        for number, line in enumerate(data.splitlines(), 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                if not isinstance(record, dict) or "signal" not in record:
                    raise ValueError("not a dead-letter record")
                DeadLetter(record).key  # noqa: B018 - checks the fields the key needs
            except (ValueError, KeyError, TypeError):
                log.warning("outbox: %s line %d is not a dead-letter record; skipped", path, number)
                continue
            out.append(DeadLetter(record))
        return out

    def remove(self, publisher: str, keys: Iterable[tuple[int, int]]) -> int:
        """Drop the records with these keys (others, also ones appended meanwhile, stay).
        Returns how many were removed."""
        gone = set(keys)
        path = self.path(publisher)
        with self._locked(publisher):
            current = self.read(publisher)
            kept = [d for d in current if d.key not in gone]
            data = "".join(dumps(d.record) + "\n" for d in kept).encode()
            if path.exists():
                self._files.write_durable(str(path), data)
        return len(current) - len(kept)

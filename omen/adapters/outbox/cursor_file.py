"""Publisher cursors as files: <outbox_dir>/<publisher>.cursor, replaced atomically and durably.

The file holds one JSON object, e.g. ``{"lsn": 1234, "publisher": "riskcast-webhook"}``: the LSN
of the last ledger record the publisher is done with. Every save goes through
FileLayer.write_durable (tmp file, fsync, rename, fsync of the directory), so after a crash the
file holds either the old cursor or the new one, never a torn one. A missing file is cursor 0:
the publisher (re)delivers the whole ledger, which is what invariant 2 asks (cursors can be
rebuilt from the ledger). A file that cannot be parsed is an error naming it: deleting it
redelivers from the start.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from omen.adapters.ledger.files import FileLayer
from omen.application.ports import CursorStore
from omen.errors import OutboxError

CURSOR_SUFFIX = ".cursor"


class CursorFiles(CursorStore):
    def __init__(self, directory: Path, files: FileLayer | None = None):
        self.directory = Path(directory)
        self._files = files or FileLayer()
        self._made = False

    def path(self, publisher: str) -> Path:
        return self.directory / f"{publisher}{CURSOR_SUFFIX}"

    def load(self, publisher: str) -> int:
        path = self.path(publisher)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return 0
        except OSError as exc:
            raise OutboxError(f"cursor file {path}: cannot be read: {exc.strerror}") from None
        try:
            value = json.loads(raw)
            lsn = value["lsn"]
            if not isinstance(lsn, int) or isinstance(lsn, bool) or lsn < 0:
                raise ValueError(lsn)
        except (ValueError, KeyError, TypeError):
            raise OutboxError(
                f"cursor file {path} is damaged ({raw[:60]!r}); delete it to deliver to "
                f"{publisher} from the start of the ledger again"
            ) from None
        return lsn

    def save(self, publisher: str, lsn: int) -> None:
        ensure_dir(self.directory, self._files, self._made)
        self._made = True
        data = json.dumps({"lsn": lsn, "publisher": publisher}, sort_keys=True) + "\n"
        self._files.write_durable(str(self.path(publisher)), data.encode())


def ensure_dir(directory: Path, files: FileLayer, known: bool) -> None:
    """Create the outbox directory durably (its entry in the parent is fsynced) if missing."""
    if known and directory.is_dir():
        return
    if not directory.is_dir():
        directory.mkdir(parents=True, exist_ok=True)
        files.fsync_dir(os.fspath(directory.parent))

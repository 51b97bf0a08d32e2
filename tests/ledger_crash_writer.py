"""A ledger writer for crash tests: it is killed with SIGKILL and the test checks what survived.

Run as ``python -m tests.ledger_crash_writer MODE ...`` from the repository root:

``write ROOT SEED OUT``
    Open the ledger at ROOT (durability fsync), print ``ready <pid>`` on stdout, then append
    records of random size (seeded by SEED) from THREADS threads until killed. Before each append
    the thread writes ``try <sha256>`` to OUT, and right after ``commit.wait()`` returns it writes
    ``ack <partition> <sequence> <sha256>`` (one write(2) each, so a line reaches OUT before the
    next append starts and survives the kill). Each body carries its own SHA-256, so half-written
    or foreign content is detectable (`check_body`).
``serve``
    A fork server: reads ``write ROOT SEED OUT`` lines on stdin and forks a child running `write`
    for each (the modules are imported once, so an iteration costs a fork, not an interpreter
    start-up); prints ``forked <pid>``, waits for the child, prints ``exit <pid> <status>``.
``seal ROOT PARTITION KILL_AT``
    Seal PARTITION, sending itself SIGKILL just before the KILL_AT-th file-layer call made by the
    seal (counting from 0; -1: never). Prints ``sealed <record_count>`` when the seal returns.
``hold ROOT``
    Open the ledger, print ``ready <pid>`` and keep it open until stdin closes.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import random
import signal
import struct
import sys
import threading
from typing import Any

from omen.adapters.ledger.files import FileLayer
from omen.adapters.ledger.format import NS_PER_DAY
from omen.adapters.ledger.ledger import Ledger, LedgerOptions

MAGIC = b"CRSH"
THREADS = 4
#: Small segments, so that kills land during segment rolls too.
SEGMENT_BYTES = 128 * 1024
DAY0_NS = 20_775 * NS_PER_DAY  # 2026-11-18
DAYS = 3
_HEAD = struct.Struct("<4sQHI")
RECORD_TYPE = 7


def options() -> LedgerOptions:
    return LedgerOptions(segment_bytes=SEGMENT_BYTES, durability="fsync", seal_grace_s=None)


def make_body(rng: random.Random, seed: int, thread: int, counter: int) -> bytes:
    """A body naming its writer, with random content and its own SHA-256 at the end."""
    roll = rng.random()
    if roll < 0.80:
        size = rng.randrange(0, 600)
    elif roll < 0.99:
        size = rng.randrange(600, 16 * 1024)
    else:  # larger than a segment: a segment of its own
        size = rng.randrange(SEGMENT_BYTES, SEGMENT_BYTES + 64 * 1024)
    head = _HEAD.pack(MAGIC, seed, thread, counter) + rng.randbytes(size)
    return head + hashlib.sha256(head).digest()


def check_body(body: bytes) -> bool:
    """True when `body` is one make_body made, intact."""
    return (
        len(body) >= _HEAD.size + 32
        and body.startswith(MAGIC)
        and hashlib.sha256(body[:-32]).digest() == body[-32:]
    )


def write(root: str, seed: int, out: str) -> None:
    ledger = Ledger.open(root, options())
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    sys.stdout.write(f"ready {os.getpid()}\n")
    sys.stdout.flush()

    def worker(thread: int) -> None:
        rng = random.Random(f"{seed}-{thread}")
        for counter in itertools.count():
            body = make_body(rng, seed, thread, counter)
            digest = hashlib.sha256(body).hexdigest()
            timestamp = DAY0_NS + rng.randrange(DAYS) * NS_PER_DAY + rng.randrange(NS_PER_DAY)
            os.write(fd, f"try {digest}\n".encode())
            appended = ledger.append(timestamp, RECORD_TYPE, body)
            appended.commit.wait()
            position = appended.position
            os.write(fd, f"ack {position.partition} {position.sequence} {digest}\n".encode())

    threads = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def serve() -> None:
    for line in sys.stdin:
        command, root, seed, out = line.split()
        assert command == "write", line
        sys.stdout.flush()
        go, went = os.pipe()
        pid = os.fork()
        if pid == 0:
            status = 1
            try:
                os.close(went)
                os.read(go, 1)  # "forked" is printed before anything the child prints
                write(root, int(seed), out)
            except BaseException:
                import traceback

                traceback.print_exc()
            finally:
                sys.stderr.flush()
                os._exit(status)
        sys.stdout.write(f"forked {pid}\n")
        sys.stdout.flush()
        os.close(go)
        os.write(went, b"g")
        os.close(went)
        _, status = os.waitpid(pid, 0)
        sys.stdout.write(f"exit {pid} {status}\n")
        sys.stdout.flush()


class _KillAt(FileLayer):
    """Counts file-layer calls once armed and dies by SIGKILL just before call number `at`."""

    def __init__(self, at: int) -> None:
        self.at = at
        self.calls = -1  # not armed

    def _step(self) -> None:
        if self.calls < 0:
            return
        if self.calls == self.at:
            os.kill(os.getpid(), signal.SIGKILL)
        self.calls += 1


def _counted(name: str) -> Any:
    method = getattr(FileLayer, name)

    def wrapper(self: _KillAt, *args: Any, **kwargs: Any) -> Any:
        self._step()
        return method(self, *args, **kwargs)

    return wrapper


for _name in (
    "open",
    "close",
    "pwrite",
    "pread",
    "fdatasync",
    "fsync",
    "ftruncate",
    "size",
    "preallocate",
    "drop_cache",
    "zero_fill",
    "rename",
    "unlink",
    "mkdir",
    "fsync_dir",
    "read_file",
    "write_durable",
):
    setattr(_KillAt, _name, _counted(_name))


def seal(root: str, partition: str, kill_at: int) -> None:
    files = _KillAt(kill_at)
    with Ledger.open(root, options(), files=files) as ledger:
        files.calls = 0
        manifest = ledger.seal(partition, timeout=60)
        made, files.calls = files.calls, -1
        sys.stdout.write(f"sealed {manifest['record_count']} calls {made}\n")
        sys.stdout.flush()


def hold(root: str) -> None:
    with Ledger.open(root, options()):
        sys.stdout.write(f"ready {os.getpid()}\n")
        sys.stdout.flush()
        sys.stdin.read()


def main(argv: list[str]) -> None:
    mode, *args = argv
    if mode == "write":
        write(args[0], int(args[1]), args[2])
    elif mode == "serve":
        serve()
    elif mode == "seal":
        seal(args[0], args[1], int(args[2]))
    elif mode == "hold":
        hold(args[0])
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main(sys.argv[1:])

"""Crash safety of the ledger: a writer process killed with SIGKILL at random moments, and a crash
(or an I/O error) between any two steps of sealing.

The writer is tests/ledger_crash_writer.py. After each kill the test opens the ledger (recovery
runs, on a ledger that grows from one iteration to the next) and checks that every record the
writer saw acknowledged is present with identical bytes, that every record present is one the
writer tried to write (each body carries its own SHA-256), and that the sequences are contiguous.

CI runs ITERATIONS (250) kills in well under a minute. A longer soak: set OMEN_LEDGER_SOAK to the
number of iterations, e.g. ``OMEN_LEDGER_SOAK=5000 pytest tests/integration/test_ledger_crash.py``
(the seed is OMEN_LEDGER_SOAK_SEED, default fixed, so a failure can be replayed).
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from omen.adapters.ledger.format import LedgerFailedError
from omen.adapters.ledger.ledger import Ledger
from tests.ledger_crash_writer import RECORD_TYPE, check_body, options
from tests.ledger_support import EIO, FaultyFiles
from tests.support import ROOT

ITERATIONS = 250
#: Every this many iterations (and at the end) every record is re-read, not only the new ones.
FULL_CHECK_EVERY = 25
WRITER = [sys.executable, "-m", "tests.ledger_crash_writer"]


class _Lines:
    """The lines a process prints, read by a thread, taken with a deadline."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        self._queue: queue.Queue[str] = queue.Queue()
        self._thread = threading.Thread(target=self._read, args=(proc.stdout,), daemon=True)
        self._thread.start()

    def _read(self, stream: object) -> None:
        for line in stream:  # type: ignore[attr-defined]
            self._queue.put(line.rstrip("\n"))
        self._queue.put("")

    def take(self, timeout: float = 30) -> str:
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"the writer printed nothing for {timeout}s") from None


@dataclass
class _Model:
    """What the test knows about the ledger: the digests present, by partition and sequence."""

    present: dict[str, list[str]] = field(default_factory=dict)
    tried: set[str] = field(default_factory=set)
    acked: int = 0


def _check(root: Path, model: _Model, acks: list[tuple[str, int, str]], full: bool) -> None:
    # Mostly read-only, so that the next writer recovers the ledger itself (and is sometimes
    # killed while it does); the full checks recover it here.
    with Ledger.open(root, options(), read_only=not full) as ledger:
        names = ledger.partition_names()
        assert set(model.present) <= set(names), "a partition disappeared"
        for name in names:
            known = model.present.setdefault(name, [])
            count = ledger.summary(name).record_count
            assert count >= len(known), f"{name}: {len(known)} records before, {count} now"
            start = 1 if full else max(1, len(known))  # the boundary record is re-read too
            sequence = start
            for entry in ledger.read(name, from_sequence=start):
                assert entry.position.sequence == sequence, f"{name}: a gap at {sequence}"
                assert entry.type == RECORD_TYPE
                assert check_body(entry.body), f"{name}/{sequence}: not a body the writer made"
                digest = hashlib.sha256(entry.body).hexdigest()
                assert digest in model.tried, f"{name}/{sequence}: never tried by the writer"
                if sequence <= len(known):
                    assert known[sequence - 1] == digest, f"{name}/{sequence} changed"
                else:
                    known.append(digest)
                sequence += 1
            assert sequence == count + 1
        for name, sequence, digest in acks:
            have = model.present.get(name, [])
            assert sequence <= len(have), f"acknowledged {name}/{sequence} is missing"
            assert have[sequence - 1] == digest, f"acknowledged {name}/{sequence} differs"
            model.acked += 1


def test_every_acknowledged_record_survives_sigkill_at_random_moments(tmp_path: Path) -> None:
    iterations = int(os.environ.get("OMEN_LEDGER_SOAK") or ITERATIONS)
    seed = int(os.environ.get("OMEN_LEDGER_SOAK_SEED") or 20261126)
    rng = random.Random(seed)
    root = tmp_path / "ledger"
    model = _Model()
    stderr_path = tmp_path / "writer.stderr"
    started = time.monotonic()
    with open(stderr_path, "w") as stderr:
        server = subprocess.Popen(
            [*WRITER, "serve"],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    assert server.stdin is not None
    lines = _Lines(server)
    killed_before_ready = 0
    try:
        for iteration in range(iterations):
            out = tmp_path / f"acks-{iteration}.txt"
            server.stdin.write(f"write {root} {rng.randrange(2**32)} {out}\n")
            server.stdin.flush()
            line = lines.take()
            assert line.startswith("forked "), f"iteration {iteration}: {line!r}"
            pid = int(line.split()[1])
            if rng.random() < 0.1:  # during start-up and recovery
                time.sleep(rng.uniform(0, 0.01))
                killed_before_ready += 1
            else:
                line = lines.take()
                assert line == f"ready {pid}", (
                    f"iteration {iteration}: {line!r}\n{stderr_path.read_text()[-3000:]}"
                )
                time.sleep(rng.uniform(0, 0.1))  # the random moment of the kill
            os.kill(pid, signal.SIGKILL)
            line = lines.take()
            if line.startswith("ready "):
                line = lines.take()
            status = int(line.split()[2]) if line.startswith(f"exit {pid} ") else -1
            assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, (
                f"iteration {iteration}: the writer ended by itself ({line!r}):\n"
                + stderr_path.read_text()[-3000:]
            )

            acks = []
            text = out.read_text() if out.exists() else ""
            for row in text.splitlines():
                kind, *rest = row.split()
                if kind == "try":
                    model.tried.add(rest[0])
                else:
                    assert kind == "ack", row
                    acks.append((rest[0], int(rest[1]), rest[2]))
            full = (iteration + 1) % FULL_CHECK_EVERY == 0 or iteration == iterations - 1
            _check(root, model, acks, full)
    finally:
        server.stdin.close()
        server.wait(30)
        assert server.stdout is not None
        server.stdout.close()
    elapsed = time.monotonic() - started
    records = sum(len(v) for v in model.present.values())
    print(
        f"\n{iterations} kills in {elapsed:.1f}s ({killed_before_ready} before the writer was "
        f"ready); {model.acked} acknowledged records checked; {records} records in "
        f"{len(model.present)} partitions"
    )
    assert model.acked > iterations  # the kills did not all land before anything was written
    assert server.returncode == 0


# ---------------------------------------------------------------------------------- sealing


def _build(root: Path) -> tuple[str, list[bytes]]:
    """An unsealed partition spanning several segments, with a preallocated tail."""
    rng = random.Random(5)
    bodies = []
    with Ledger.open(root, options()) as ledger:
        appended = []
        for n in range(60):
            head = hashlib.sha256(b"%d" % n).digest() + rng.randbytes(16 + rng.randrange(9000))
            body = b"CRSH" + head
            bodies.append(body)
            appended.append(ledger.append(20_775 * 86_400 * 10**9 + n, 1, body))
        for a in appended:
            a.commit.wait(10)
        name = appended[0].position.partition
        assert len(ledger.segments(name)) >= 3
    return name, bodies


def _assert_sealed_or_whole(root: Path, name: str, bodies: list[bytes]) -> bool:
    """The partition is sealed with a valid manifest, or unsealed with every record; returns
    whether it is sealed."""
    with Ledger.open(root, options()) as ledger:
        assert [e.body for e in ledger.read(name)] == bodies
        sealed = ledger.summary(name).sealed
        manifest_path = root / name / "MANIFEST.json"
        assert sealed == manifest_path.exists()
        if sealed:
            manifest = json.loads(manifest_path.read_text())
            assert manifest["record_count"] == len(bodies)
            assert manifest["last_sequence"] == len(bodies)
            for seg in manifest["segments"]:
                data = (root / name / seg["name"]).read_bytes()
                assert hashlib.sha256(data).hexdigest() == seg["sha256"]
                assert len(data) == seg["bytes"]
    return sealed


def _seal_again_and_check(root: Path, name: str, bodies: list[bytes]) -> None:
    with Ledger.open(root, options()) as ledger:
        manifest = ledger.seal(name, timeout=30)
        assert manifest["record_count"] == len(bodies)
    assert _assert_sealed_or_whole(root, name, bodies)
    assert not list((root / name).glob("*.tmp"))


def test_a_seal_killed_between_any_two_steps_leaves_the_partition_whole_or_sealed(
    tmp_path: Path,
) -> None:
    base = tmp_path / "base"
    name, bodies = _build(base)

    def run(root: Path, kill_at: int) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*WRITER, "seal", str(root), name, str(kill_at)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )

    counted = tmp_path / "counted"
    shutil.copytree(base, counted)
    done = run(counted, -1)
    assert done.returncode == 0, done.stderr
    steps = int(done.stdout.split()[-1])
    assert steps >= 10  # sync, trims, hashes, the manifest's tmp/fsync/rename/fsync_dir
    outcomes = []
    for kill_at in range(steps):
        root = tmp_path / f"kill-{kill_at}"
        shutil.copytree(base, root)
        killed = run(root, kill_at)
        assert killed.returncode == -signal.SIGKILL, (kill_at, killed.stdout, killed.stderr)
        outcomes.append(_assert_sealed_or_whole(root, name, bodies))
        _seal_again_and_check(root, name, bodies)
    assert outcomes[0] is False and outcomes[-1] is True


def test_an_io_error_at_any_step_of_a_seal_fails_closed_and_sealing_again_completes(
    tmp_path: Path,
) -> None:
    base = tmp_path / "base"
    name, bodies = _build(base)
    ops = ("close", "open", "ftruncate", "fsync", "read_file", "pwrite", "rename")
    cases = [(op, skip) for op in ops for skip in range(4)] + [("fsync_dir", 0)]
    failed_seals = 0
    for op, skip in cases:
        root = tmp_path / f"{op}-{skip}"
        shutil.copytree(base, root)
        files = FaultyFiles()
        with Ledger.open(root, options(), files=files) as ledger:
            files.fail_on(op, EIO, skip=skip)
            if files.faults_raised:
                raise AssertionError("the fault hit before the seal")
            try:
                ledger.seal(name, timeout=30)
            except LedgerFailedError:
                failed_seals += 1
                with pytest.raises(LedgerFailedError):
                    ledger.append(20_775 * 86_400 * 10**9, 1, b"after")
            assert bool(files.faults_raised) == (ledger.failed is not None), (op, skip)
        files.lose_unsynced()  # and the power went out
        _assert_sealed_or_whole(root, name, bodies)
        _seal_again_and_check(root, name, bodies)
    assert failed_seals >= len(ops)

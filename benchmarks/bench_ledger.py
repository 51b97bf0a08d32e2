"""The ledger against the physical limit and SQLite: durable appends (records/s, ack latency) at
1, 16 and 256 concurrent writers, recovery of a 1M-record ledger, scan + verify, compression.

Usage: python benchmarks/bench_ledger.py [--quick] [--repeat R] [--records-1m N] [--dir DIR]
                                         [--json PATH] [--cpu K] [--full-signals] [--no-threads]

Records are real SIGNAL records (omen.adapters.ledger.records.encode_signal around serialised
omen.v1.OmenSignal bytes) built by running the pipeline over the bench_pipeline corpus; to get
~1 KiB bodies each signal keeps its first evidence item and drops its validation results
(--full-signals keeps everything: ~1.8 KB).

Durable appends: one fresh ledger per writer count and repetition (durability fsync, the server's
default options except auto-sealing), warmed by one append so the first segment exists; segment
rolls during the run are included. Writers are asyncio tasks in one event loop awaiting
`commit.wait_async()` (how the gRPC server acknowledges), and threads blocking in
`commit.wait()`. A record's latency runs from its append() call until its writer has seen the
commit complete. The baselines of the same repetition replay the exact sequence of batch sizes
the asyncio run's group commit formed, over the same framed bytes:

- raw: pwrite + fdatasync per batch into one preallocated, zero-filled file (the physical
  limit: no framing, no bookkeeping, no wake-ups); latency columns are per batch.
- SQLite: WAL mode, synchronous=FULL, one connection, one transaction per batch inserting that
  batch's bodies into (id INTEGER PRIMARY KEY, body BLOB): SQLite given the same group commit
  for free (at 1 writer: one transaction per record); latency columns are per transaction.

Rows are medians over the repetitions. The append section is not pinned (the writer thread and
the event loop both need a core); recovery, scan and compression run pinned to one core. The
machine is shared and noisy: compare the ratios within a table, not absolute numbers across runs.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import tempfile
import threading
import time
from array import array
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zstandard
from _common import ROOT, median_time, pin_cpu, print_table  # first: puts ROOT on sys.path

from omen import native
from omen.adapters.ledger import compression, records
from omen.adapters.ledger.files import FileLayer
from omen.adapters.ledger.format import HEADER_BYTES, RECORD_OVERHEAD
from omen.adapters.ledger.ledger import Ledger, LedgerOptions
from omen.adapters.ledger.segments import scan_segment
from omen.bootstrap import tune_gc
from omen.config import Settings

SIGNAL = int(records.RecordType.SIGNAL)
WRITERS = (1, 16, 256)
GOAL_RATE = 200_000  # records/s at 256 writers
GOAL_P99_MS = 5.0
GOAL_OPEN_S = 2.0
MIB = 1024 * 1024


# ---------------------------------------------------------------------------------- records


def signal_bodies(events: int, full: bool) -> list[bytes]:
    """SIGNAL record bodies of the signals the pipeline emits over the bench corpus."""
    from bench_pipeline import corpus, new_pipeline

    from omen.adapters.ruleset_file import load_ruleset
    from omen.application.pipeline import market_key
    from omen.domain.signals import Outcome
    from omen.entrypoints.grpc.convert import signal_to_proto

    pipeline = new_pipeline(load_ruleset(), native.event_hash)
    bodies = []
    for event in corpus(events):
        result = pipeline.process(event)
        if result.outcome != Outcome.EMITTED or result.signal is None:
            continue
        message = signal_to_proto(result.signal)
        if not full:
            message.ClearField("validation_results")
            del message.evidence[1:]
        bodies.append(
            records.encode_signal(
                result.input_event_hash,
                result.signal.signal_id,
                event.probability,
                market_key(event),
                message.SerializeToString(),
            )
        )
    return bodies


def framed(bodies: list[bytes], n: int) -> tuple[bytes, list[int]]:
    """The first `n` records cycled from `bodies`, framed as the ledger frames them (native
    frame + LSN + body), and each record's framed size."""
    chosen = [bodies[i % len(bodies)] for i in range(n)]
    records = [(SIGNAL, b, i + 1) for i, b in enumerate(chosen)]
    data, end = native.wal.frame_sequenced(records, 0, 1 << 62, 0, array("Q"), array("B"))
    assert end == n
    return data, [RECORD_OVERHEAD + len(b) for b in chosen]


# ---------------------------------------------------------------------------------- results


@dataclass
class Run:
    records: int
    seconds: float
    latencies: list[float]  # seconds, per record (ledger) or per batch (baselines)
    batches: list[int] = field(default_factory=list)  # records per commit, in LSN order

    @property
    def rate(self) -> float:
        return self.records / self.seconds

    def pct(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return 1000 * ordered[min(len(ordered) - 1, int(q * (len(ordered) - 1)))]

    @property
    def mean_batch(self) -> float:
        return statistics.mean(self.batches) if self.batches else 1.0


def batch_sizes(lsns: Iterable[int], commits: Iterable[int]) -> list[int]:
    """Records per group commit, in LSN order, from each append's LSN and id(commit) (a commit
    is shared by its batch; ids, not objects, so the bookkeeping adds nothing for the cyclic
    collector to traverse: the server keeps no such list)."""
    sizes: list[int] = []
    last = -1
    for _, commit in sorted(zip(lsns, commits, strict=True)):
        if commit == last:
            sizes[-1] += 1
        else:
            sizes.append(1)
            last = commit
    return sizes


def open_durable(root: str, timestamp_ns: int, body: bytes) -> Ledger:
    ledger = Ledger.open(root, LedgerOptions(durability="fsync", seal_grace_s=None))
    ledger.append(timestamp_ns, SIGNAL, body).commit.wait()  # the first segment exists
    return ledger


# ---------------------------------------------------------------------------------- appends


def ledger_asyncio(
    root: str, bodies: list[bytes], writers: int, total: int, per_call: int = 1
) -> Run:
    """`writers` tasks, each appending `per_call` records at a time (append() for 1, else
    append_many(), as a ProcessStream message of that many events does) and awaiting them."""
    ts = time.time_ns()
    ledger = open_durable(root, ts, bodies[0])
    issued = 0
    latencies: list[float] = []
    lsns, commits = array("q"), array("Q")
    clock = time.perf_counter

    async def writer(k: int) -> None:
        nonlocal issued
        i = k * per_call
        while issued < total:
            n = min(per_call, total - issued)
            issued += n
            if per_call == 1:
                body = bodies[i % len(bodies)]
                i += writers
                started = clock()
                a = ledger.append(ts, SIGNAL, body)
                await a.commit.wait_async()
                latencies.append(clock() - started)
                lsns.append(a.lsn)
                commits.append(id(a.commit))
                continue
            records = [(ts, SIGNAL, bodies[(i + j) % len(bodies)]) for j in range(n)]
            i += writers * per_call
            started = clock()
            appended = ledger.append_many(records)
            await appended[-1].commit.wait_async()
            took = clock() - started
            for a in appended:
                latencies.append(took)
                lsns.append(a.lsn)
                commits.append(id(a.commit))

    async def main() -> float:
        started = clock()
        await asyncio.gather(*(writer(k) for k in range(writers)))
        return clock() - started

    try:
        seconds = asyncio.run(main())
    finally:
        ledger.close()
    return Run(total, seconds, latencies, batch_sizes(lsns, commits))


def ledger_threads(root: str, bodies: list[bytes], writers: int, total: int) -> Run:
    ts = time.time_ns()
    ledger = open_durable(root, ts, bodies[0])
    counter = itertools.count()
    gate = threading.Barrier(writers + 1)
    latencies: list[list[float]] = [[] for _ in range(writers)]
    lsns, commits = [array("q") for _ in range(writers)], [array("Q") for _ in range(writers)]
    clock = time.perf_counter

    def writer(k: int) -> None:
        mine, my_lsns, my_commits = latencies[k], lsns[k], commits[k]
        i = k
        gate.wait()
        while next(counter) < total:
            body = bodies[i % len(bodies)]
            i += writers
            started = clock()
            a = ledger.append(ts, SIGNAL, body)
            a.commit.wait()
            mine.append(clock() - started)
            my_lsns.append(a.lsn)
            my_commits.append(id(a.commit))

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(writers)]
    try:
        for t in threads:
            t.start()
        gate.wait()
        started = clock()
        for t in threads:
            t.join()
        seconds = clock() - started
    finally:
        ledger.close()
    return Run(
        total,
        seconds,
        [x for xs in latencies for x in xs],
        batch_sizes(itertools.chain(*lsns), itertools.chain(*commits)),
    )


def raw_fdatasync(path: str, bodies: list[bytes], batches: list[int]) -> Run:
    """pwrite + fdatasync of each batch's framed bytes into a preallocated, zeroed file."""
    n = sum(batches)
    data, sizes = framed(bodies, n)
    files = FileLayer()
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        files.zero_fill(fd, 0, len(data) + MIB)
        os.fsync(fd)
        view = memoryview(data)
        latencies = []
        offset = index = 0
        clock = time.perf_counter
        started = clock()
        for k in batches:
            size = sum(sizes[index : index + k])
            t0 = clock()
            os.pwrite(fd, view[offset : offset + size], offset)
            os.fdatasync(fd)
            latencies.append(clock() - t0)
            offset += size
            index += k
        seconds = clock() - started
    finally:
        os.close(fd)
        os.unlink(path)
    return Run(n, seconds, latencies, batches)


def sqlite_wal(path: str, bodies: list[bytes], batches: list[int]) -> Run:
    """One transaction per batch, WAL mode, synchronous=FULL."""
    n = sum(batches)
    chosen = [(bodies[i % len(bodies)],) for i in range(n)]
    con = sqlite3.connect(path, isolation_level=None)
    try:
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=FULL")
        con.execute("CREATE TABLE records (id INTEGER PRIMARY KEY, body BLOB)")
        con.execute("INSERT INTO records (body) VALUES (?)", chosen[0])  # warm: files exist
        insert = "INSERT INTO records (body) VALUES (?)"
        latencies = []
        index = 0
        clock = time.perf_counter
        started = clock()
        for k in batches:
            t0 = clock()
            con.execute("BEGIN")
            if k == 1:
                con.execute(insert, chosen[index])
            else:
                con.executemany(insert, chosen[index : index + k])
            con.execute("COMMIT")
            latencies.append(clock() - t0)
            index += k
        seconds = clock() - started
    finally:
        con.close()
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(path + suffix):
                os.unlink(path + suffix)
    return Run(n, seconds, latencies, batches)


def bench_appends(
    work: str, bodies: list[bytes], totals: dict[int, int], repeat: int, threads: bool
) -> dict[str, Any]:
    kinds = [
        "ledger, asyncio tasks",
        "ledger, asyncio, 16 per append_many",
        *(["ledger, threads"] if threads else []),
    ]
    kinds += ["raw pwrite + fdatasync", "SQLite WAL, synchronous=FULL"]
    runs: dict[tuple[int, str], list[Run]] = {}
    raw_many: dict[tuple[int, int], Run] = {}
    for writers in WRITERS:
        total = totals[writers]
        for rep in range(repeat):
            base = os.path.join(work, f"appends-{writers}-{rep}")
            got = {kinds[0]: ledger_asyncio(base + "-aio", bodies, writers, total)}
            shutil.rmtree(base + "-aio")
            got[kinds[1]] = ledger_asyncio(base + "-many", bodies, writers, total, per_call=16)
            shutil.rmtree(base + "-many")
            if threads:
                got[kinds[2]] = ledger_threads(base + "-thr", bodies, writers, total)
                shutil.rmtree(base + "-thr")
            batches = got[kinds[0]].batches
            got[kinds[-2]] = raw_fdatasync(base + ".raw", bodies, batches)
            # append_many makes other batches: its ratio is against raw writes of those.
            raw_many[(writers, rep)] = raw_fdatasync(
                base + ".raw-many", bodies, got[kinds[1]].batches
            )
            got[kinds[-1]] = sqlite_wal(base + ".sqlite", bodies, batches)
            for kind, run in got.items():
                runs.setdefault((writers, kind), []).append(run)
    rows = []
    out: dict[str, Any] = {}
    for writers in WRITERS:
        raws = runs[(writers, kinds[-2])]
        for kind in kinds:
            rs = runs[(writers, kind)]
            rate = statistics.median(r.rate for r in rs)
            # Against the raw run of the same repetition: the disk's speed drifts on a shared
            # machine, so a ratio within one repetition is the robust figure.
            if kind == kinds[1]:
                raws_here = [raw_many[(writers, rep)] for rep in range(len(rs))]
            else:
                raws_here = raws
            vs_raw = statistics.median(
                r.rate / raw.rate for r, raw in zip(rs, raws_here, strict=True)
            )
            p50 = statistics.median(r.pct(0.50) for r in rs)
            p99 = statistics.median(r.pct(0.99) for r in rs)
            worst = statistics.median(r.pct(1.0) for r in rs)
            batch = statistics.median(r.mean_batch for r in rs)
            goal = ""
            if writers == 256 and kind.startswith("ledger"):
                met = rate >= GOAL_RATE and p99 <= GOAL_P99_MS
                goal = (
                    f">= {GOAL_RATE:,}/s, p99 <= {GOAL_P99_MS:g} ms: {'met' if met else 'MISSED'}"
                )
            rows.append(
                (
                    f"{writers:>3}  {kind}",
                    f"{rs[0].records:,}",
                    f"{rate:,.0f}",
                    f"{p50:.2f}",
                    f"{p99:.2f}",
                    f"{worst:.1f}",
                    f"{batch:.1f}",
                    f"{vs_raw:.2f}",
                    goal,
                )
            )
            out[f"{writers}/{kind}"] = dict(
                writers=writers,
                records=rs[0].records,
                records_per_s=rate,
                p50_ms=p50,
                p99_ms=p99,
                max_ms=worst,
                mean_batch=batch,
                vs_raw=vs_raw,
                runs=[r.rate for r in rs],
            )
    mean_body = statistics.mean(map(len, bodies))
    print_table(
        (
            "writers  measure",
            "records",
            "records/s",
            "p50 ms",
            "p99 ms",
            "max ms",
            "batch",
            "vs raw",
            "goal",
        ),
        rows,
        title=f"durable appends of {mean_body:,.0f} B SIGNAL records "
        f"(+{RECORD_OVERHEAD} B framing), durability fsync; median of {repeat}",
    )
    print(
        "latency: ledger rows per record, append() to the writer seeing its commit; raw and\n"
        "SQLite rows per batch (write + sync of one batch). batch: mean records per group\n"
        "commit; raw and SQLite replay the asyncio run's batch sequence of the same repetition\n"
        "(SQLite: one transaction per batch, one connection). vs raw: median over repetitions\n"
        "of records/s over raw's in the same repetition. 16 per append_many: each writer\n"
        "appends 16 records per call (as a ProcessStream message of 16 events will) and awaits\n"
        "the last one's commit; its vs raw is against raw writes of its own batch sequence."
    )
    return out


# ---------------------------------------------------------------------------------- recovery


def build_ledger(root: str, bodies: list[bytes], n: int) -> float:
    """A ledger of `n` records in one partition, durability none; returns the seconds taken."""
    ts = time.time_ns()
    started = time.perf_counter()
    ledger = Ledger.open(root, LedgerOptions(durability="none", seal_grace_s=None))
    try:
        nb = len(bodies)
        for i in range(n):
            a = ledger.append(ts, SIGNAL, bodies[i % nb])
            if i % 20_000 == 19_999:  # keep the queue short
                a.commit.wait()
        a.commit.wait()
    finally:
        ledger.close()
    return time.perf_counter() - started


def bench_recovery(root: str, bodies: list[bytes], n: int, repeat: int) -> dict[str, Any]:
    build = build_ledger(root, bodies, n)
    size = sum(f.stat().st_size for f in Path(root).rglob("*.wal"))
    opens = []
    for _ in range(repeat):
        started = time.perf_counter()
        ledger = Ledger.open(root)
        opens.append(time.perf_counter() - started)
        names = ledger.partition_names()
        count = sum(ledger.summary(name).record_count for name in names)
        segments = sum(len(ledger.segments(name)) for name in names)
        ledger.close()
        assert count == n, (count, n)
    replays = []
    ledger = Ledger.open(root, read_only=True)
    try:
        for _ in range(max(1, min(repeat, 2))):
            started = time.perf_counter()
            seen = sum(1 for _ in ledger.replay())
            replays.append(time.perf_counter() - started)
            assert seen == n, (seen, n)
    finally:
        ledger.close()
    t_open, t_replay = statistics.median(opens), statistics.median(replays)
    print_table(
        ("measure", "seconds", "records/s", "GB/s", "goal"),
        [
            (
                f"Ledger.open (lock, scan + verify every segment), median of {len(opens)}",
                f"{t_open:.3f}",
                f"{n / t_open:,.0f}",
                f"{size / t_open / 1e9:.2f}",
                f"<= {GOAL_OPEN_S:g} s: {'met' if t_open <= GOAL_OPEN_S else 'MISSED'}",
            ),
            (
                f"full replay() (every Entry, LSN order), median of {len(replays)}",
                f"{t_replay:.3f}",
                f"{n / t_replay:,.0f}",
                f"{size / t_replay / 1e9:.2f}",
                "",
            ),
            (
                "build: 1 thread appending, durability none (not a goal)",
                f"{build:.2f}",
                f"{n / build:,.0f}",
                "",
                "",
            ),
        ],
        title=f"recovery of a ledger of {n:,} records, {segments} segments, {size / 1e9:.2f} GB "
        "(page cache warm: just written, nothing dropped)",
    )
    return dict(
        records=n,
        segments=segments,
        bytes=size,
        open_s=t_open,
        opens=opens,
        replay_s=t_replay,
        build_s=build,
    )


# ---------------------------------------------------------------------------------- scan, zstd


def bench_scan(root: str, repeat: int) -> dict[str, Any]:
    ledger = Ledger.open(root, read_only=True)
    try:
        segments = [s for name in ledger.partition_names() for s in ledger.segments(name)]
    finally:
        ledger.close()
    files = FileLayer()
    buffers = [files.read_file(s.path) for s in segments]
    total = sum(map(len, buffers))
    used = sum(s.valid_end - HEADER_BYTES for s in segments)
    count = sum(s.count for s in segments)
    reps = max(3, repeat)

    def scan_all() -> None:
        for b in buffers:
            native.wal.scan(b, HEADER_BYTES)

    def crc_all() -> None:
        for b in buffers:
            native.wal.crc32c(b)

    def scan_files() -> None:
        for s in segments:
            scan_segment(files, s.path)

    t_scan = median_time(scan_all, reps)
    t_crc = median_time(crc_all, reps)
    t_files = median_time(scan_files, reps)
    print_table(
        ("measure", "GB/s of records", "records/s"),
        [
            (
                "native.wal.scan over segments in memory",
                f"{used / t_scan / 1e9:.2f}",
                f"{count / t_scan:,.0f}",
            ),
            (
                "scan_segment: read file (page cache) + header + scan",
                f"{used / t_files / 1e9:.2f}",
                f"{count / t_files:,.0f}",
            ),
            (
                "baseline: native crc32c alone over the same buffers",
                f"{used / t_crc / 1e9:.2f}",
                "",
            ),
        ],
        title=f"scan + verify: {len(segments)} segments, {used / 1e9:.2f} GB of {count:,} records "
        f"({total / 1e9:.2f} GB of files); one core, median of {reps}",
    )
    return dict(
        scan_gbps=used / t_scan / 1e9,
        scan_files_gbps=used / t_files / 1e9,
        crc_gbps=used / t_crc / 1e9,
        segment_path=segments[0].path,
        segment_records=segments[0].count,
    )


def bench_compression(path: str, count: int, distinct: int, repeat: int) -> dict[str, Any]:
    plain = FileLayer().read_file(path)
    reps = max(3, repeat)
    frames = compression.compress_frames(plain)
    whole_c = zstandard.ZstdCompressor(level=compression.LEVEL)
    whole_d = zstandard.ZstdDecompressor()
    whole = whole_c.compress(plain)
    assert compression.decompress_frames(frames) == plain
    assert whole_d.decompress(whole) == plain
    mb = len(plain) / 1e6
    t_fc = median_time(lambda: compression.compress_frames(plain), reps)
    t_fd = median_time(lambda: compression.decompress_frames(frames), reps)
    t_wc = median_time(lambda: whole_c.compress(plain), reps)
    t_wd = median_time(lambda: whole_d.decompress(whole), reps)
    rows = [
        (
            f"compress_frames: zstd -{compression.LEVEL}, "
            f"{compression.FRAME_BYTES // 1024} KiB frames",
            len(plain) / len(frames),
            mb / t_fc,
            mb / t_fd,
        ),
        (
            f"baseline: zstd -{compression.LEVEL}, whole buffer",
            len(plain) / len(whole),
            mb / t_wc,
            mb / t_wd,
        ),
    ]
    print_table(
        ("method", "ratio", "compress MB/s", "decompress MB/s"),
        [(n, f"{r:.2f}", f"{c:,.0f}", f"{d:,.0f}") for n, r, c, d in rows],
        title=f"compression of one sealed-size segment ({len(plain) / MIB:.0f} MiB, "
        f"{os.path.basename(path)}); one core, median of {reps}",
    )
    if distinct < count:
        print(
            f"warning: the segment's {count:,} records repeat {distinct:,} distinct bodies, "
            "so both ratios are overstated (more so the whole-buffer one)"
        )
    return {name: dict(ratio=r, compress_mb_s=c, decompress_mb_s=d) for name, r, c, d in rows}


# ---------------------------------------------------------------------------------- output


def machine(work: str) -> str:
    cpu = "?"
    with open("/proc/cpuinfo") as fh:
        for line in fh:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    fs, best = "?", ""
    with open("/proc/mounts") as fh:
        for line in fh:
            device, mount, kind = line.split()[:3]
            if work.startswith(mount) and len(mount) > len(best):
                fs, best = f"{kind} on {device}", mount
    try:
        rev = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--", "omen/adapters/ledger"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        source = f"{rev}{' + uncommitted ledger changes' if dirty else ''}"
    except (OSError, subprocess.CalledProcessError):
        source = "unknown"
    return (
        f"source {source}; python {platform.python_version()}, {os.cpu_count()} CPUs ({cpu}), "
        f"native: {native.IS_NATIVE} ({native.NATIVE_STATUS}), "
        f"zstandard {zstandard.__version__}, SQLite {sqlite3.sqlite_version}; "
        f"--dir {work} ({fs})"
    )


def load() -> str:
    """How busy the shared machine is right now (load average, pressure stall averages)."""
    parts = [f"load average {os.getloadavg()[0]:.1f}"]
    for kind in ("cpu", "io"):
        try:
            with open(f"/proc/pressure/{kind}") as fh:
                some = fh.readline().split()[1].split("=")[1]
            parts.append(f"{kind} pressure {some}%")
        except (OSError, IndexError):
            pass
    return ", ".join(parts) + " (10 s averages)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run (CI)")
    parser.add_argument("--repeat", type=int, default=None, help="repetitions (default 3; 1)")
    parser.add_argument(
        "--records-1m",
        type=int,
        default=None,
        help="records of the recovery ledger (default 1,000,000; --quick 50,000)",
    )
    parser.add_argument("--dir", default=None, help="where to write (default: a temp dir, removed)")
    parser.add_argument("--json", default=None, help="also write the results to this file")
    parser.add_argument("--cpu", type=int, default=None, help="CPU for the pinned sections")
    parser.add_argument("--full-signals", action="store_true", help="untrimmed ~1.8 KB bodies")
    parser.add_argument("--no-threads", action="store_true", help="skip the threaded writers")
    args = parser.parse_args()
    repeat = args.repeat or (1 if args.quick else 3)
    n_recovery = args.records_1m or (50_000 if args.quick else 1_000_000)
    per_writer = {1: 2_000, 16: 2_000, 256: 1_000}  # records per writer and run
    if args.quick:
        per_writer = {1: 200, 16: 200, 256: 100}
    totals = {w: w * per_writer[w] for w in WRITERS}

    work = args.dir or tempfile.mkdtemp(prefix="bench_ledger-", dir="/tmp")
    owned = args.dir is None
    os.makedirs(work, exist_ok=True)
    work = os.path.abspath(work)
    try:
        print(f"bench_ledger: {machine(work)}")
        print(f"  machine load at start: {load()}")
        bodies = signal_bodies(4_000 if args.quick else 40_000, args.full_signals)
        sizes = sorted(map(len, bodies))
        print(
            f"  {len(bodies):,} distinct SIGNAL bodies, {sizes[0]}-{sizes[-1]} B "
            f"(mean {statistics.mean(sizes):,.0f}); appends unpinned; gc tuned as by `omen serve`"
        )
        # The same collector tuning `omen serve` applies after start-up (omen.bootstrap.tune_gc).
        tune_gc(Settings().gc_threshold0)
        results: dict[str, Any] = {"machine": machine(work), "repeat": repeat}
        results["appends"] = bench_appends(work, bodies, totals, repeat, not args.no_threads)
        print(f"machine load after the appends: {load()}")

        cpu = pin_cpu(args.cpu)
        print(f"\n(from here on pinned to CPU {cpu})")
        root = os.path.join(work, "recovery")
        results["recovery"] = bench_recovery(root, bodies, n_recovery, repeat)
        results["scan"] = bench_scan(root, repeat)
        scan = results["scan"]
        results["compression"] = bench_compression(
            scan["segment_path"], scan["segment_records"], len(bodies), repeat
        )
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    finally:
        if owned:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

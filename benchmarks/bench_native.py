"""The compiled hot path against its twins and the usual alternatives, one run, one table each:
hashing, CRC32C, WAL scan + verify, anomaly batch scoring, text tokenising + term matching,
deciding analysed events (geography, rules, classification, confidence and the signal), and
growing the signal index's key table (the worst single add while it doubles, against a dict).

Usage: python benchmarks/bench_native.py [--wal-gib 1.0] [--points 10000000]
                                         [--index-keys 4194304] [--cpu K]

Each row is the median of several timed repetitions on one pinned core. The machine is shared
and noisy: compare the ratios within a table, not absolute numbers across runs.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import time
import zlib
from collections.abc import Callable

import numpy as np
from _common import median_time, pin_cpu, print_table  # first: puts the checkout on sys.path

from omen import native
from omen._native import anomaly_py, decision_py, hashing_py, textmatch_py, wal_py

try:  # the reference CRC32C binding (SSE4.2), installed by the bench extra
    import google_crc32c
except ImportError:  # pragma: no cover - reported in the table
    google_crc32c = None


def per_event_table(title: str, n: int, rows: list[tuple[str, float]], twin: float) -> None:
    """Rows of (implementation, seconds for the n events), each against the twin's seconds."""
    print_table(
        ("implementation", "events/s", "us/event", "vs twin"),
        [(name, f"{n / t:,.0f}", f"{1e6 * t / n:.2f}", f"{twin / t:.1f}x") for name, t in rows],
        title=title,
    )


def bench_hashing(n: int = 20_000) -> None:
    from bench_pipeline import corpus

    events = corpus(n)
    encoded = [hashing_py.canonical_encoding(e) for e in events]
    results = [
        ("native event_hashes (batch)", median_time(lambda: native.hashing.event_hashes(events))),
        (
            "native event_hash (per call)",
            median_time(lambda: [native.hashing.event_hash(e) for e in events]),
        ),
        ("twin event_hash", median_time(lambda: [hashing_py.event_hash(e) for e in events])),
        (
            "hashlib loop over pre-encoded bytes",
            median_time(lambda: [hashlib.sha256(b).hexdigest() for b in encoded]),
        ),
    ]
    per_event_table(
        f"hashing: input_event_hash of {n:,} corpus events "
        f"(~{statistics.mean(map(len, encoded)):.0f} B encoded)",
        n,
        results,
        twin=results[2][1],
    )
    print(
        "(the hashlib row is SHA-256 alone over bytes already encoded: the floor for any encoder)"
    )


def bench_crc() -> None:
    sizes = [(64, 200_000), (1024, 100_000), (1 << 20, 200)]
    rows = []
    for size, number in sizes:
        data = os.urandom(size)
        candidates: list[tuple[str, Callable[[bytes], int] | None]] = [
            (f"native ({native.wal.CRC32C_IMPLEMENTATION})", native.wal.crc32c),
            ("native table path", getattr(native.wal, "crc32c_table", None)),
            ("google-crc32c", google_crc32c.value if google_crc32c else None),
            ("zlib.crc32 (not CRC32C)", zlib.crc32),
        ]
        if size <= 1024:
            candidates.append(("twin", wal_py.crc32c))
        google = None
        measured = []
        for name, fn in candidates:
            if fn is None:
                rows.append((f"{size:>7} B  {name}", "not installed", "", ""))
                continue
            t = median_time(
                lambda fn=fn, data=data: fn(data), number=number if name != "twin" else 200
            )
            measured.append((name, t))
            if name == "google-crc32c":
                google = t
        for name, t in measured:
            ratio = f"{google / t:.2f}x" if google else "n/a"
            rows.append((f"{size:>7} B  {name}", f"{1e9 * t:,.0f}", f"{size / t / 1e9:.2f}", ratio))
    print_table(
        ("size / implementation", "ns/call", "GB/s", "vs google-crc32c"),
        rows,
        title="CRC32C: one call per buffer (goal: parity with google-crc32c at 1 KiB, >= 5 GB/s "
        "at 1 MiB)",
    )


def bench_wal(gib: float) -> None:
    record = os.urandom(1024 - wal_py.HEADER_BYTES)
    per_chunk = 65_536
    chunk = native.wal.encode_many((1, record) for _ in range(per_chunk))
    copies = max(1, int(gib * (1 << 30) / len(chunk)))
    buffer = chunk * copies
    total = len(buffer)
    records = per_chunk * copies
    result = native.wal.scan(buffer)
    assert result.status == wal_py.ScanStatus.OK and len(result.offsets) == records, result
    t_native = median_time(lambda: native.wal.scan(buffer), repeat=5)
    t_crc = median_time(lambda: native.wal.crc32c(buffer), repeat=5)
    small = buffer[: 8 << 20]
    t_twin = median_time(lambda: wal_py.scan(small), repeat=1)
    t_encode = median_time(lambda: native.wal.encode_many((1, record) for _ in range(per_chunk)))
    print_table(
        ("measure", "GB/s", "records/s", "vs twin"),
        [
            (
                "native scan + verify",
                f"{total / t_native / 1e9:.2f}",
                f"{records / t_native:,.0f}",
                f"{(total / t_native) / (len(small) / t_twin):,.0f}x",
            ),
            ("native crc32c alone over the buffer", f"{total / t_crc / 1e9:.2f}", "", ""),
            (
                "twin scan + verify (8 MiB sample)",
                f"{len(small) / t_twin / 1e9:.3f}",
                f"{(len(small) / 1024) / t_twin:,.0f}",
                "1x",
            ),
            (
                "native encode_many (64k records)",
                f"{per_chunk * 1024 / t_encode / 1e9:.2f}",
                f"{per_chunk / t_encode:,.0f}",
                "",
            ),
        ],
        title=f"WAL: scan + verify {total / 1e9:.2f} GB of {records:,} framed ~1 KiB records "
        "(goal >= 2 GB/s)",
    )


def bench_anomaly(points: int) -> None:
    rng = np.random.default_rng(7)
    changes = rng.normal(0.0, 0.01, points)
    groups = rng.integers(0, 1000, points).astype(np.int64)
    small = changes[: max(20_000, points // 500)]
    rows = []
    t = median_time(lambda: native.anomaly.score_batch(changes), repeat=3)
    rows.append(("native score_batch, 1 market", points, t))
    t = median_time(lambda: native.anomaly.score_batch_grouped(groups, changes), repeat=3)
    rows.append(("native score_batch_grouped, 1,000 markets", points, t))
    numpy_n = min(points, 2_000_000)
    t = median_time(lambda: anomaly_py.score_batch_numpy(changes[:numpy_n]), repeat=3)
    rows.append(("numpy-vectorised (sliding window + median)", numpy_n, t))
    t = median_time(lambda: anomaly_py.score_batch(small), repeat=1)
    rows.append(("pure Python twin", len(small), t))
    stats = native.anomaly.RollingStatistics(64, 8, 0.01)
    twin_stats = anomaly_py.RollingStatistics(64, 8, 0.01)
    probs = np.clip(0.5 + np.cumsum(rng.normal(0, 0.01, 50_000)), 0, 1).tolist()
    for name, s in (
        ("native RollingStatistics observe+record", stats),
        ("twin RollingStatistics observe+record", twin_stats),
    ):

        def feed(s=s) -> None:
            for i, p in enumerate(probs):
                key = f"m{i % 100}"
                s.observe(key, p)
                s.record(key, p)

        rows.append((name, len(probs), median_time(feed, repeat=3)))
    base = rows[3][2] / rows[3][1]
    print_table(
        ("implementation", "points", "points/s", "vs pure Python"),
        [(name, f"{n:,}", f"{n / t:,.0f}", f"{base / (t / n):,.1f}x") for name, n, t in rows],
        title="anomaly: rolling median/MAD z-scores, window 64 (goal >= 20M points/s native)",
    )


def bench_textmatch(n: int = 20_000) -> None:
    from bench_pipeline import corpus

    from omen.adapters.ruleset_file import load_ruleset
    from omen.domain.geography import lexicon_entries as place_terms
    from omen.domain.semantic import irregular_forms
    from omen.domain.semantic import lexicon_entries as topic_terms
    from omen.domain.text import tokenize

    ruleset = load_ruleset()
    entries = [*topic_terms(ruleset.semantic), *place_terms(ruleset.geographic)]
    irregular = irregular_forms(ruleset.semantic)
    compiled = native.textmatch.TextAnalyzer(entries, irregular)
    twin = textmatch_py.TextAnalyzer(entries, irregular)
    events = corpus(n)
    chars = statistics.mean(len(e.title) + len(e.description) for e in events)
    # Each analysis allocates tens of objects: collect as `omen serve` does (omen.bootstrap).
    from omen.bootstrap import tune_gc
    from omen.config import Settings

    tune_gc(Settings().gc_threshold0)
    rows = [
        (
            "native analyze (tokenise + match)",
            median_time(lambda: [compiled.analyze(e) for e in events]),
        ),
        ("twin analyze (tokenise + match)", median_time(lambda: [twin.analyze(e) for e in events])),
        (
            "twin tokenise alone (str.translate + split)",
            median_time(lambda: [(tokenize(e.title), tokenize(e.description)) for e in events]),
        ),
    ]
    per_event_table(
        f"textmatch: tokenise title + description and match {len(compiled.lexicon):,} terms, "
        f"{n:,} corpus events (~{chars:.0f} chars)",
        n,
        rows,
        twin=rows[1][1],
    )


def bench_decision(n: int = 20_000) -> None:
    from bench_pipeline import corpus, new_pipeline, unique_texts

    from omen.adapters.ruleset_file import load_ruleset
    from omen.application.pipeline import market_key
    from omen.bootstrap import tune_gc
    from omen.config import Settings

    ruleset = load_ruleset()
    rows = []
    for label, events in (("", corpus(n)), (", new texts", unique_texts(corpus(n)))):
        # Each event's text analysis and market history, as the pipeline hands them over.
        pipeline = new_pipeline(ruleset, native.event_hash)
        inputs = []
        for e in events:
            key = market_key(e)
            text = pipeline._analyzer.analyze(e)
            inputs.append((e, text, pipeline._statistics.observe(key, e.probability), "ab" * 32))
            pipeline._statistics.record(key, e.probability)
        tune_gc(Settings().gc_threshold0)
        for name, decider in (
            ("native decide", native.decision.Decider(ruleset)),
            ("twin decide", decision_py.Decider(ruleset)),
        ):
            rows.append(
                (
                    name + label,
                    median_time(lambda d=decider, i=inputs: [d.decide(*args) for args in i]),
                )
            )
    print_table(
        ("implementation", "events/s", "us/event", "vs twin"),
        [
            (name, f"{n / t:,.0f}", f"{1e6 * t / n:.2f}", f"{rows[1 + 2 * (i // 2)][1] / t:.1f}x")
            for i, (name, t) in enumerate(rows)
        ],
        title="decision: geography, 5 rules, classification, confidence + signal, "
        f"{n:,} corpus events",
    )


def bench_keytable(count: int) -> None:
    """Build a table of `count` 32-byte keys (event digests), timing every add: the worst
    single add is what a growth costs the caller (the server's event loop). The baseline is a
    dict of key -> index (what the twin keeps), which rehashes all at once when it grows."""
    blob = os.urandom(32 * count)
    keys = [blob[i : i + 32] for i in range(0, len(blob), 32)]
    del blob

    def timed_adds(add: Callable[[bytes, int], object]) -> tuple[float, list[int]]:
        clock = time.perf_counter_ns
        times = [0] * count
        start = time.perf_counter()
        for i, key in enumerate(keys):
            before = clock()
            add(key, i)
            times[i] = clock() - before
        return time.perf_counter() - start, times

    table = native.keytable.KeyTable(32)
    mapping: dict[bytes, int] = {}
    rows = []
    for name, add in (
        ("native KeyTable.add", lambda key, i: table.add(key)),
        ("dict[key] = index", mapping.__setitem__),
    ):
        total, times = timed_adds(add)
        times.sort()
        rows.append(
            (
                name,
                f"{total:.2f}",
                f"{1e9 * total / count:,.0f}",
                f"{times[int(count * 0.9999)] / 1e6:.3f}",
                f"{times[-1] / 1e6:.1f}",
                f"{sum(t > 1_000_000 for t in times)}",
            )
        )
    print_table(
        ("implementation", "build s", "ns/add", "p99.99 add ms", "worst add ms", "adds > 1 ms"),
        rows,
        title=f"signal index key table: {count:,} 32-byte keys added one by one",
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wal-gib", type=float, default=1.0, help="size of the WAL buffer (GiB)")
    parser.add_argument("--points", type=int, default=10_000_000, help="anomaly batch points")
    parser.add_argument(
        "--index-keys", type=int, default=1 << 22, help="keys added to the key table"
    )
    parser.add_argument("--cpu", type=int, default=None, help="pin to this CPU (default: last)")
    args = parser.parse_args()
    cpu = pin_cpu(args.cpu)
    print(
        f"bench_native: one core (CPU {cpu}); "
        f"native code: {native.IS_NATIVE} ({native.NATIVE_STATUS})"
    )
    if not native.IS_NATIVE:
        print("warning: compiled modules missing; the 'native' rows measure the twins")
    bench_hashing()
    bench_crc()
    bench_wal(args.wal_gib)
    bench_anomaly(args.points)
    bench_textmatch()
    bench_decision()
    bench_keytable(args.index_keys)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Duplicate checks on the stream path: re-observed events whose originals are recent or old.

Re-polling a Polymarket market that has not changed yields the same event (event_id is stable
per market), so a live ingest stream carries many DUPLICATEs. The server's index holds a signal
as an object only until the ledger has accepted its record, then as its ledger position. A
stream result for a duplicate names the original (`duplicate_of`) and never carries it, so the
stream asks the index for the original's id only (`submit_many(..., originals=False)`); asking
for the original itself (`originals=True`, what unary Process needs) reads it back from the
ledger and decodes it (omen._native.signalwire.decode_signal), recent or old.

In one process, as `omen serve` builds it (build_app: compiled modules, ledger with fsync
durability in a temporary directory): emit --signals signals (default 80,000), then submit
messages of 100 re-observed events whose originals are the oldest ("old") or the newest
("recent"), both ways, alternating, and print the median time per event.

Usage: python benchmarks/bench_duplicates.py [--signals N] [--events N] [--repeats N] [--json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from _common import print_table  # first: puts the checkout on sys.path
from bench_unary import event_pool

from omen import native
from omen._proto import service_pb2
from omen.bootstrap import build_app, tune_gc
from omen.config import Settings
from omen.domain.events import RawEvent
from omen.domain.signals import Outcome

PER_MESSAGE = 100


def events(start: int, count: int) -> list[RawEvent]:
    """`count` distinct events (unique event ids over the bench_unary templates), decoded from
    the wire as the stream decodes them."""
    pool = event_pool()
    request = service_pb2.ProcessStreamRequest()
    for k in range(start, start + count):
        item = request.events.add(correlation_id=f"c{k}")
        item.event.CopyFrom(pool[k % len(pool)])
        item.event.event_id = f"pm-dup-{k:09d}"
    decoded = native.eventwire.decode_stream_request(
        request.SerializeToString(), time.time_ns(), 1 << 20
    )
    return [event for _, event, _ in decoded if event is not None]


async def submit(app, batch: list[RawEvent], originals: bool) -> tuple[float, int]:
    """Seconds to submit `batch` in messages of PER_MESSAGE and wait for durability; how many
    results were DUPLICATE."""
    duplicates = 0
    started = time.perf_counter()
    for i in range(0, len(batch), PER_MESSAGE):
        submitted = app.process.submit_many(batch[i : i + PER_MESSAGE], "", originals)
        await submitted.durable()
        duplicates += sum(r.outcome is Outcome.DUPLICATE for r in submitted.results)
    return time.perf_counter() - started, duplicates


Cell = tuple[str, bool]  # (which originals, loaded or id only)


async def run(args: argparse.Namespace, data_dir: str) -> dict[Cell, list[float]]:
    """Seconds per re-observed event of each run, by cell."""
    settings = Settings(data_dir=data_dir)
    app = build_app(settings)
    tune_gc(settings.gc_threshold0)
    try:
        originals = events(0, args.signals)
        _, duplicates = await submit(app, originals, True)
        if duplicates:
            raise SystemExit(f"bench_duplicates: {duplicates} of the originals were duplicates")
        later = 3_600_000_000_000  # an hour later: outside the event hash, still a duplicate
        again = {
            "old": [
                replace(e, observed_at_ns=e.observed_at_ns + later)
                for e in originals[: args.events]
            ],
            "recent": [
                replace(e, observed_at_ns=e.observed_at_ns + later)
                for e in originals[-args.events :]
            ],
        }
        times: dict[Cell, list[float]] = {}
        for _ in range(args.repeats):
            for which, batch in again.items():
                for load in (True, False):
                    seconds, duplicates = await submit(app, batch, load)
                    if duplicates != len(batch):
                        raise SystemExit(f"bench_duplicates: {duplicates} of {len(batch)} found")
                    times.setdefault((which, load), []).append(seconds / len(batch))
    finally:
        app.ledger.close()
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--signals", type=int, default=80_000, help="signals emitted first")
    parser.add_argument("--events", type=int, default=2_000, help="re-observed events per run")
    parser.add_argument("--repeats", type=int, default=5, help="runs per cell (medians shown)")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    args = parser.parse_args(argv)
    if not 0 < args.events <= args.signals:
        parser.error("--events must be within 1..--signals")
    with tempfile.TemporaryDirectory(prefix="omen-bench-dup-") as data_dir:
        times = asyncio.run(run(args, data_dir))
    print(
        f"bench_duplicates: {args.signals:,} signals emitted, then {args.events:,} re-observed "
        f"events per run in messages of {PER_MESSAGE}, {args.repeats} runs, medians\n"
    )
    us = {cell: statistics.median(runs) * 1e6 for cell, runs in times.items()}
    table = []
    for which in ("recent", "old"):
        loaded, ids = us[(which, True)], us[(which, False)]
        table.append((which, f"{loaded:,.1f}", f"{ids:,.1f}", f"{loaded / ids:.1f}x"))
    print_table(
        ("originals", "us/event, original loaded", "us/event, id only (stream)", "ratio"), table
    )
    print(
        "\nrecent: the newest signals; old: the oldest (both read back from the ledger when "
        "loaded).\nus/event: submit_many plus the durable wait, per re-observed event."
    )
    if args.json:
        rows = [
            {
                "originals": which,
                "originals_loaded": load,
                "us_per_event": us[(which, load)],
                "runs_us": [r * 1e6 for r in runs],
            }
            for (which, load), runs in times.items()
        ]
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

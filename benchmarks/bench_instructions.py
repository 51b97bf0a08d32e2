"""Instructions per event of the stream path, counted by valgrind's callgrind: a measure that the
shared machine's noise does not move, for comparing revisions of the hot path.

What runs, in process (no gRPC): the stream benchmark's requests (benchmarks/bench_stream.py's
encoding, 100 events a message, each event new) through what ProcessStream does with each
message: the compiled decoder, SignalServicer._submit_message (pipeline, ledger records, index,
response encoding) and the wait for its group commit, with 40 messages in flight, over a real
ledger in a throw-away directory with the default durability (fsync). The baseline in the same
run is the decoder alone over the same messages.

Each variant runs twice under callgrind, with a small and a large number of messages; the
difference of the two counts divided by the difference in events is the steady state: start-up,
imports and first-time memo misses cancel out (which takes a difference of 50 messages or
more). "main" is the event loop's thread (the one the GIL-bound server spends its time in),
"all" adds the ledger's writer and spare-segment threads, whose work depends on how commits
happen to group (a percent or two from run to run).

Read the numbers as relative: valgrind runs the code on a synthetic CPU, and it does not
emulate the SHA extensions, so the event hash and the signal id take OpenSSL's software SHA-256
there (~35k instructions per event more than the SHA-NI path the server uses).

Usage:
    python benchmarks/bench_instructions.py [--small 20] [--large 120] [--per-message 100]

Needs `valgrind` on PATH (Debian: apt-get install -y valgrind). Takes ~3-4 minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import glob
import os
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Any

from _common import print_table  # first: puts the checkout on sys.path

IN_FLIGHT = 40
VARIANTS = {
    "stream path": "decode + _submit_message + durable wait (what ProcessStream does)",
    "decode only": "the compiled decoder alone (baseline)",
}


def requests(count: int, per_message: int) -> list[bytes]:
    from bench_stream import VIEWS, _varint, encoded_events, stream_event

    bodies = encoded_events()
    view = _varint(2 << 3) + _varint(VIEWS["basic"])
    return [
        b"".join(stream_event(bodies, m * per_message + i, "ir") for i in range(per_message)) + view
        for m in range(count)
    ]


async def _stream_path(messages: list[bytes]) -> None:
    from omen.bootstrap import build_app, tune_gc
    from omen.config import Settings
    from omen.entrypoints.grpc.servicers import _decode_stream_request, signal_servicer

    data_dir = tempfile.mkdtemp(prefix="omen-bench-ir-")
    try:
        settings = Settings(data_dir=data_dir, metrics_port=0)
        app = build_app(settings)
        tune_gc(settings.gc_threshold0)
        servicer = signal_servicer(app)
        slots = asyncio.Semaphore(IN_FLIGHT)
        waits = []

        async def answered(batch: Any) -> None:
            await batch.durable()
            slots.release()

        for request in messages:
            await slots.acquire()
            decoded = _decode_stream_request(request, time.time_ns(), settings.max_event_bytes)
            _, batch, _ = servicer._submit_message(decoded, "", False)
            waits.append(asyncio.ensure_future(answered(batch)))
            await asyncio.sleep(0)
        await asyncio.gather(*waits)
        app.ledger.close()
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def _decode_only(messages: list[bytes]) -> None:
    from omen.config import Settings
    from omen.entrypoints.grpc.servicers import _decode_stream_request

    limit = Settings().max_event_bytes
    for request in messages:
        _decode_stream_request(request, time.time_ns(), limit)


def child(variant: str, count: int, largest: int, per_message: int) -> None:
    # The same requests whatever the count (built for the largest), so building them cancels.
    messages = requests(largest, per_message)[:count]
    if variant == "stream path":
        asyncio.run(_stream_path(messages))
    else:
        _decode_only(messages)


def instructions(variant: str, count: int, args: argparse.Namespace) -> tuple[int, int]:
    """(main thread, all threads) instructions of one callgrind run."""
    out = tempfile.mkdtemp(prefix="omen-callgrind-")
    try:
        command = [
            "valgrind",
            "--tool=callgrind",
            "--separate-threads=yes",
            f"--callgrind-out-file={out}/run",
            sys.executable,
            os.path.abspath(__file__),
            "--child",
            variant,
            str(count),
            str(args.large),
            str(args.per_message),
        ]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise SystemExit(f"callgrind run failed ({done.returncode}):\n{done.stderr[-2000:]}")
        main = total = 0
        for path in glob.glob(f"{out}/run-*"):  # one file per thread; -01 is the main one
            with open(path) as f:
                value = next((int(line.split()[1]) for line in f if line.startswith("summary:")), 0)
            total += value
            if path.endswith("-01"):
                main = value
        return main, total
    finally:
        shutil.rmtree(out, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", type=int, default=20, help="messages in the short run")
    parser.add_argument("--large", type=int, default=120, help="messages in the long run")
    parser.add_argument("--per-message", type=int, default=100, help="events a message")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)  # internal
    args = parser.parse_args(argv)
    if args.child:
        variant, count, largest, per_message = args.child
        child(variant, int(count), int(largest), int(per_message))
        return 0
    if shutil.which("valgrind") is None:
        # Not an error for `make bench` on a machine without it; nothing is measured.
        print("bench_instructions: not run, needs valgrind (Debian: apt-get install -y valgrind)")
        return 0
    if args.small <= 0 or args.large - args.small < 50:
        # Start-up (imports, first memo misses, thread start) varies by more than a few
        # messages' worth between runs: only a long difference makes it cancel.
        parser.error("--small must be positive and --large at least 50 messages above it")
    events = (args.large - args.small) * args.per_message
    rows = []
    for variant, what in VARIANTS.items():
        small = instructions(variant, args.small, args)
        large = instructions(variant, args.large, args)
        main_thread, all_threads = ((b - a) / events for a, b in zip(small, large, strict=True))
        rows.append([variant, f"{main_thread:,.0f}", f"{all_threads:,.0f}", what])
    print_table(
        ["variant", "main thread instr/event", "all threads instr/event", "what runs"],
        rows,
        left=(0, 3),
        title=(
            f"bench_instructions: callgrind, {args.per_message} events a message, steady state "
            f"of {args.large} - {args.small} messages ({events:,} events), {IN_FLIGHT} in flight"
        ),
    )
    print(
        "\nRelative numbers: valgrind has no SHA extensions, so hashing counts OpenSSL's "
        "software SHA-256 (~35k an event more than the server's SHA-NI path)."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

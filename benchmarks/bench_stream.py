"""Bidirectional ProcessStream throughput of a real `omen serve` vs a no-op grpc.aio server.

What runs, each in its own process (2-core machine: the client must not share the servers'
processes):

- OMEN: `python -m omen.entrypoints.cli serve --port 0` with a throw-away data directory and
  the default durability (`fsync`: every response waits for its records' fdatasync'd group
  commit), an API key, metrics disabled: interceptor, auth, validation, pipeline, ledger, flow
  control, exactly as deployed.
- no-op: benchmarks/_noop_stream_server.py, a bare grpc.aio ProcessStream answering each
  message with one canned StreamResult per event (a real OMEN EMITTED result, the median-size
  one of the request templates; its correlation_id set per event), so both servers send the
  same bytes per event and the ratio OMEN / no-op isolates what OMEN adds.
- load generator: this file started again with a hidden `--client-spec`, one per cell: one
  grpc.aio channel, one stream, a writer keeping up to `window` messages outstanding (about
  4,000 events, at least 3 messages) and a reader counting results. Requests are pre-encoded
  bytes (the bench_unary events, ~0.77 KB each, each with a unique event_id, so OMEN emits a
  new signal for every event: no duplicate shortcut); both servers get identical bytes.

Each size runs in both result views of ProcessStreamRequest.view: `basic` (each result is an
acknowledgement of ~0.1 KB: outcome, signal id, ledger position) and `full` (each result also
carries the ~2 KB signal). The no-op answers each view with the matching canned result.

Throughput counts results received inside the measured window; latency is per message (write
to its response). Each cell is measured `--repeats` times, round robin over the cells (OMEN's
index grows with every run, so each cell's runs are spread over the whole benchmark),
alternating which server goes first, and the table shows medians. Any result other than
EMITTED, or a failed call, counts as an error in the table and makes the exit code 1.

Usage:
    python benchmarks/bench_stream.py [--sizes 1,100,1000] [--views basic,full]
                                      [--duration S] [--warmup S] [--repeats N] [--quick]
                                      [--json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections import Counter, deque
from pathlib import Path
from typing import Any

import grpc
from _common import (  # first: puts the checkout on sys.path
    MAX_MESSAGE_OPTIONS,
    METADATA,
    ServerProcess,
    StartError,
    num,
    print_table,
    run_client,
    run_main,
    start_pair,
    window_ns,
)
from bench_unary import event_pool  # the same request events

from omen._proto import service_pb2, service_pb2_grpc

EMITTED = service_pb2.OUTCOME_EMITTED
VIEWS = {"basic": service_pb2.RESULT_VIEW_BASIC, "full": service_pb2.RESULT_VIEW_FULL}
METHOD = "/omen.v1.SignalService/ProcessStream"
DEFAULT_DURATION_S, DEFAULT_WARMUP_S, DEFAULT_REPEATS = 6.0, 2.0, 3
QUICK_DURATION_S, QUICK_WARMUP_S, QUICK_REPEATS = 1.5, 0.5, 1
OUTSTANDING_EVENTS = 4_000
CALL_TIMEOUT_S = 300.0


# --------------------------------------------------------------------------------------------
# Requests, pre-encoded: protobuf fields may come in any order, so an event is its encoding
# without event_id followed by the event_id field; a message is its events, each as field 1.


def _varint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def encoded_events() -> list[bytes]:
    return [event.SerializeToString() for event in event_pool()]


def stream_event(bodies: list[bytes], n: int, tag: str) -> bytes:
    correlation = f"{n}".encode()
    event = bodies[n % len(bodies)] + _field(1, f"pm-stream-{tag}-{n:09d}".encode())
    return _field(1, _field(1, correlation) + _field(2, event))


# --------------------------------------------------------------------------------------------
# Load generator (its own process, started with --client-spec).


async def _load(spec: dict[str, Any]) -> dict[str, Any]:
    bodies = encoded_events()
    per_message, tag = spec["per_message"], spec["tag"]
    full = spec["view"] == "full"
    view = _varint(2 << 3) + _varint(VIEWS[spec["view"]])  # ProcessStreamRequest.view
    window = max(3, OUTSTANDING_EVENTS // per_message)
    errors: Counter[str] = Counter()
    counted = 0
    latencies: list[float] = []
    async with grpc.aio.insecure_channel(spec["target"], options=MAX_MESSAGE_OPTIONS) as channel:
        await asyncio.wait_for(channel.channel_ready(), timeout=10)
        call = channel.stream_stream(METHOD)(metadata=METADATA, timeout=CALL_TIMEOUT_S)
        slots = asyncio.Semaphore(window)
        sent_at: deque[int] = deque()
        warm_end, end = window_ns(spec)
        cpu_start = time.process_time()

        async def writer() -> None:
            n = 0
            while time.perf_counter_ns() < end:
                await slots.acquire()
                body = b"".join(stream_event(bodies, n + i, tag) for i in range(per_message))
                body += view
                n += per_message
                sent_at.append(time.perf_counter_ns())
                await call.write(body)
            await call.done_writing()

        async def reader() -> None:
            nonlocal counted
            while True:
                raw = await call.read()
                if raw is grpc.aio.EOF:
                    return
                now = time.perf_counter_ns()
                response = service_pb2.ProcessStreamResponse.FromString(raw)
                slots.release()
                started = sent_at.popleft()
                if len(response.results) != per_message:
                    errors["WRONG_RESULT_COUNT"] += 1
                for result in response.results:
                    if result.outcome != EMITTED:
                        errors[service_pb2.Outcome.Name(result.outcome)] += 1
                    elif result.HasField("signal") != full:
                        errors["SIGNAL_UNEXPECTED" if not full else "SIGNAL_MISSING"] += 1
                if warm_end <= now < end:
                    counted += len(response.results)
                    latencies.append((now - started) / 1e6)

        try:
            await asyncio.gather(writer(), reader())
        except grpc.RpcError as exc:
            errors[exc.code().name] += 1
        cpu = time.process_time() - cpu_start
    latencies.sort()
    return {
        "events_per_s": counted / spec["duration_s"],
        "p50_ms": latencies[len(latencies) // 2] if latencies else None,
        "p99_ms": latencies[int(len(latencies) * 0.99)] if latencies else None,
        "errors": dict(errors),
        "window": window,
        "client_cpu_s": cpu,
    }


# --------------------------------------------------------------------------------------------
# Orchestration and report.


def basic_result(full: bytes) -> bytes:
    """The RESULT_VIEW_BASIC form of a serialised EMITTED StreamResult: without its signal."""
    result = service_pb2.StreamResult.FromString(full)
    result.ClearField("signal")
    return result.SerializeToString()


def canned_result(port: int) -> bytes:
    """A real OMEN EMITTED StreamResult (median size over the templates) for the no-op."""
    pool = event_pool()
    request = service_pb2.ProcessStreamRequest()
    for index in range(8):
        item = request.events.add(correlation_id=f"{index}")
        item.event.CopyFrom(pool[index])
        item.event.event_id = f"pm-stream-xx-{index:09d}"  # never among the load's ids
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = service_pb2_grpc.SignalServiceStub(channel)
        [response] = list(stub.ProcessStream(iter([request]), metadata=METADATA, timeout=30))
    results = sorted(response.results, key=lambda r: r.ByteSize())
    if any(r.outcome != EMITTED for r in results):
        raise StartError(f"OMEN did not emit the sample events: {results[0].reason}")
    return results[len(results) // 2].SerializeToString()


def run_cell(server: ServerProcess, spec: dict[str, Any]) -> dict[str, Any]:
    spec = {**spec, "target": f"127.0.0.1:{server.port}"}
    cpu_before = server.cpu_seconds()
    result = run_client(__file__, spec, server.name)
    cpu_after = server.cpu_seconds()
    if result is None:
        return {"events_per_s": 0.0, "errors": {"LOAD_GENERATOR_FAILED": 1}}
    if cpu_before is not None and cpu_after is not None:
        result["server_cores"] = (cpu_after - cpu_before) / (spec["warmup_s"] + spec["duration_s"])
    if not server.alive():
        result["errors"]["SERVER_DIED"] = 1
    return result


def _median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def report(summary: list[dict[str, Any]]) -> None:
    header = (
        "view",
        "events/msg",
        "server",
        "events/s (median)",
        "runs events/s",
        "p50 ms/msg",
        "p99 ms/msg",
        "server cores",
        "errors",
    )
    rows = []
    for row in summary:
        for name in ("OMEN", "no-op"):
            cell = row[name]
            rows.append(
                (
                    row["view"],
                    f"{row['per_message']:,}",
                    name,
                    num(cell["events_per_s"], ",.0f"),
                    " / ".join(f"{v:,.0f}" for v in cell["runs"]),
                    num(cell["p50_ms"], ".1f"),
                    num(cell["p99_ms"], ".1f"),
                    num(cell["server_cores"], ".2f"),
                    ", ".join(f"{k}={v}" for k, v in sorted(cell["errors"].items())) or "0",
                )
            )
        ratio = row["ratio"]
        rows.append(
            (
                row["view"],
                f"{row['per_message']:,}",
                "OMEN/no-op",
                num(ratio, ".2f") + "x",
                *[""] * 5,
            )
        )
    print_table(header, rows, left={0, 2, 4, 8})


def benchmark(args: argparse.Namespace) -> int:
    from google.protobuf import __version__ as protobuf_version
    from google.protobuf.internal import api_implementation

    duration, warmup = args.duration, args.warmup
    repeats = args.repeats or (QUICK_REPEATS if args.quick else DEFAULT_REPEATS)
    summary: list[dict[str, Any]] = []
    failed = False
    with contextlib.ExitStack() as stack:
        data_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="omen-bench-stream-"))
        try:
            omen, noop, canned = start_pair(
                stack, data_dir, "_noop_stream_server.py", "canned-stream-result.bin", canned_result
            )
        except (StartError, grpc.RpcError) as exc:
            print(f"bench_stream: a server failed to start: {exc}", file=sys.stderr)
            return 1
        print("bench_stream: bidirectional SignalService.ProcessStream, OMEN vs no-op grpc.aio")
        print(
            f"  python {platform.python_version()}, grpcio {grpc.__version__}, protobuf "
            f"{protobuf_version} ({api_implementation.Type()}), CPUs {os.cpu_count()}, load "
            f"average at start {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
        )
        print(
            f"  OMEN native code: {omen.native}; durability fsync (default); one stream, "
            f"~{OUTSTANDING_EVENTS:,} events outstanding (at least 3 messages)"
        )
        print(
            f"  per cell: {warmup:g} s warmup + {duration:g} s measured, {repeats} run(s), "
            f"medians shown; no-op answers a real EMITTED result of {len(canned)} B per event "
            f"(full view; {len(basic_result(canned))} B basic)"
        )
        print(flush=True)
        # Round robin: every cell's first run, then every cell's second... so each cell's runs
        # are spread over the whole benchmark. OMEN's signal index and ledger grow with every
        # run (a lookup in a table of millions of keys is a cache miss, a few hundred ns); run
        # cell by cell, the last cells would always meet the biggest index.
        cells = [(view, size) for view in args.views for size in args.sizes]
        runs: dict[tuple[str, int], dict[str, list[dict[str, Any]]]] = {
            cell: {"OMEN": [], "no-op": []} for cell in cells
        }
        for repeat in range(repeats):
            for number, (view, per_message) in enumerate(cells):
                order = (omen, noop) if (number + repeat) % 2 == 0 else (noop, omen)
                for server in order:
                    spec = {
                        "view": view,
                        "per_message": per_message,
                        "duration_s": duration,
                        "warmup_s": warmup,
                        "tag": f"{number:02d}{repeat:02d}{server.name[0]}",
                    }
                    result = run_cell(server, spec)
                    runs[view, per_message][server.name].append(result)
                    print(
                        f"  {server.name:5} at {per_message:5,} events/message, {view}: "
                        f"{result['events_per_s']:,.0f} events/s",
                        file=sys.stderr,
                        flush=True,
                    )
                    if not server.alive():
                        print(
                            f"bench_stream: {server.name} died:\n{server.tail()}", file=sys.stderr
                        )
                        failed = True
                if failed:
                    break
            if failed:
                break
        for (view, per_message), by_server in runs.items():
            if not by_server["OMEN"] and not by_server["no-op"]:
                continue  # not reached: a server died before
            row: dict[str, Any] = {"view": view, "per_message": per_message}
            for name, results in by_server.items():
                errors: Counter[str] = Counter()
                for r in results:
                    errors.update(r.get("errors", {}))
                row[name] = {
                    "events_per_s": _median([r["events_per_s"] for r in results]),
                    "runs": [r["events_per_s"] for r in results],
                    "p50_ms": _median([r.get("p50_ms") for r in results]),
                    "p99_ms": _median([r.get("p99_ms") for r in results]),
                    "server_cores": _median([r.get("server_cores") for r in results]),
                    "errors": dict(errors),
                }
            omen_rate, noop_rate = row["OMEN"]["events_per_s"], row["no-op"]["events_per_s"]
            row["ratio"] = omen_rate / noop_rate if omen_rate and noop_rate else None
            summary.append(row)
    print()
    report(summary)
    print(
        "\nevents/s: results received in the measured window; p50/p99: per message, write to"
        " response;\nserver cores: CPU of the server process over the cell (warmup included)."
    )
    errors = sum(sum(row[n]["errors"].values()) for row in summary for n in ("OMEN", "no-op"))
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2) + "\n")
    return 1 if failed or errors else 0


def parse_sizes(text: str) -> list[int]:
    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected e.g. 1,100,1000, got {text!r}") from None
    if not sizes or any(not 1 <= s <= 10_000 for s in sizes):
        raise argparse.ArgumentTypeError(f"events per message must be 1..10000, got {text!r}")
    return sizes


def parse_views(text: str) -> list[str]:
    views = [part.strip() for part in text.split(",") if part.strip()]
    if not views or any(v not in VIEWS for v in views):
        raise argparse.ArgumentTypeError(f"views are {', '.join(VIEWS)}; got {text!r}")
    return views


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=parse_sizes, default=[1, 100, 1000])
    parser.add_argument(
        "--views", type=parse_views, default=list(VIEWS), help="result views (basic,full)"
    )
    parser.add_argument("--duration", type=float, help="measured seconds per run")
    parser.add_argument("--warmup", type=float, help="warmup seconds per run")
    parser.add_argument("--repeats", type=int, help="runs per cell (the table shows medians)")
    return run_main(
        "bench_stream",
        parser,
        argv,
        _load,
        benchmark,
        default=(DEFAULT_DURATION_S, DEFAULT_WARMUP_S),
        quick=(QUICK_DURATION_S, QUICK_WARMUP_S),
    )


if __name__ == "__main__":
    raise SystemExit(main())

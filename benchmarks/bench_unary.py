"""Unary Process throughput and latency of a real `omen serve` vs a no-op grpc.aio server.

What runs, each in its own process (the machine has 2 cores; keeping the client out of the
servers' processes is what makes the numbers mean "server cost"):

- OMEN: `python -m omen.entrypoints.cli serve --port 0` with a throw-away data directory,
  an API key and metrics disabled, exactly as deployed (interceptor, auth, metrics, pipeline).
- no-op: benchmarks/_noop_server.py, a bare grpc.aio server whose Process returns a canned
  ProcessResponse. The canned response is a real OMEN EMITTED response (the median-size one of
  the request templates below), so both servers send the same bytes and the ratio OMEN / no-op
  isolates what OMEN adds on top of the transport.
- load generator: this file started again with a hidden `--client-spec`, one per cell: one
  grpc.aio channel, C tasks each looping Process for warmup + duration seconds. Every request is
  a ~0.77 KB RawSignalEvent (title ~90 chars, description ~420, 5 keywords, 2 locations, URL,
  liquidity 50k-500k) with a unique event_id, so OMEN emits a new signal on every call (no
  duplicate shortcut). Both servers get identical requests and metadata.

One OMEN server serves the whole run, so its in-memory signal index (every emitted signal,
kept until restart) grows from cell to cell, as it would in production until the ledger lands.

For each concurrency both servers are measured back to back, alternating which goes first from
one level to the next so that slow drift on a shared machine does not always favour the same
server. Throughput counts calls that completed successfully inside the measured window; latency
is per call (time.perf_counter_ns around the await, so at high concurrency it includes queueing
in the client's event loop, as a real client would see). Every error (gRPC status, or an OMEN
outcome other than EMITTED) is counted in the table, warmup included; any makes the exit code 1.
Each cell also reports CPU per call of the server and the client, and "other load": cores busy
with anything else on the machine meanwhile, the main source of noise on a shared 2-core box.

Usage:
    python benchmarks/bench_unary.py [--duration S] [--warmup S] [--concurrency 1,16,64]
                                     [--quick] [--json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import resource
import sys
import tempfile
import time
from array import array
from collections import Counter
from pathlib import Path
from typing import Any

import grpc
import numpy as np
from _common import (  # first: puts the checkout on sys.path
    METADATA,
    ServerProcess,
    StartError,
    machine_busy_seconds,
    num,
    print_table,
    run_client,
    run_main,
    start_pair,
    window_ns,
)
from google.protobuf import __version__ as protobuf_version

from omen._proto import service_pb2, service_pb2_grpc, signal_pb2

EMITTED = service_pb2.OUTCOME_EMITTED
DEFAULT_DURATION_S, DEFAULT_WARMUP_S = 8.0, 2.0
QUICK_DURATION_S, QUICK_WARMUP_S = 1.5, 0.5
NOISY_CORES = 0.25  # other load above this on a 2-core machine visibly moves the numbers
CALL_TIMEOUT_S = 30.0  # a stuck server shows up as DEADLINE_EXCEEDED, never as a hang


# --------------------------------------------------------------------------------------------
# Requests: realistic Polymarket-like events, ~0.6 KB serialised.

_TEMPLATES = [
    (
        "Will Houthi attacks force Maersk and MSC to pause all Red Sea transits before April 2027?",
        "This market resolves YES if, between market creation and April 1, 2027 11:59 PM ET, "
        "both A.P. Moller-Maersk and MSC publicly announce a suspension of all container "
        "transits through the Bab el-Mandeb Strait and the Red Sea following attacks attributed "
        "to Houthi forces. Announcements limited to individual vessels or rerouting advisories "
        "do not count. The primary resolution source is the carriers' official press releases.",
        ["red sea", "houthi", "shipping", "maersk", "bab el-mandeb"],
        [(12.58, 43.33, "Bab el-Mandeb", "YE"), (29.97, 32.55, "Suez Canal", "EG")],
    ),
    (
        "Will the Panama Canal Authority cut daily transit slots below 24 before the end of 2026?",
        "Resolves YES if the Panama Canal Authority (ACP) announces, in an official advisory to "
        "shipping published between market creation and December 31, 2026, a reduction of the "
        "number of daily booking slots for Neopanamax and Panamax locks combined to fewer than 24 "
        "because of low water levels in Gatun Lake or any other reason. Temporary closures of "
        "under 48 hours do not count. The resolution source is the ACP advisories page online.",
        ["panama canal", "drought", "gatun lake", "shipping", "transit slots"],
        [(9.08, -79.68, "Panama Canal", "PA"), (9.35, -79.92, "Colon", "PA")],
    ),
    (
        "Will Iran close the Strait of Hormuz to commercial tanker traffic for 24 hours in 2026?",
        "This market resolves YES if credible reporting from at least two major outlets "
        "(Reuters, Bloomberg, AP, FT) confirms that commercial tanker traffic through the Strait "
        "of Hormuz was halted for a continuous period of at least 24 hours due to Iranian "
        "military action or an order from the Iranian government, at any time before December "
        "31, 2026 11:59 PM ET. Slowdowns, inspections or isolated seizures are not sufficient.",
        ["hormuz", "iran", "oil", "tankers", "strait"],
        [(26.57, 56.25, "Strait of Hormuz", "IR"), (25.28, 55.30, "Jebel Ali", "AE")],
    ),
    (
        "Will US East and Gulf Coast dockworkers (ILA) go on strike before October 1st, 2026?",
        "Resolves YES if the International Longshoremen's Association begins a strike affecting "
        "container terminals at any US East Coast or Gulf Coast port between market creation and "
        "September 30, 2026 11:59 PM ET, as confirmed by the ILA, the USMX or major news outlets. "
        "A strike at a single terminal counts if it lasts at least 24 hours. Lockouts initiated "
        "by employers do not count. Announced strike dates that are called off resolve NO.",
        ["ila", "strike", "ports", "labor", "dockworkers"],
        [(40.67, -74.04, "Port of New York", "US"), (29.73, -95.27, "Port of Houston", "US")],
    ),
    (
        "Will the Rhine water level at Kaub fall below 40 cm on any day before September 30 2026?",
        "This market resolves YES if the official gauge at Kaub, as published by the German "
        "Federal Waterways and Shipping Administration (WSV) on pegelonline, reports a daily "
        "reading below 40 centimetres on any day between market creation and September 30, 2026. "
        "Intraday readings count only if they appear in the published daily values. Below this "
        "level most barges must sail with sharply reduced loads, which disrupts inland freight.",
        ["rhine", "kaub", "drought", "barges", "inland shipping"],
        [(50.09, 7.76, "Kaub", "DE"), (51.95, 4.14, "Port of Rotterdam", "NL")],
    ),
    (
        "Will a typhoon force the Port of Shanghai to suspend container operations for 48 hours?",
        "Resolves YES if, between market creation and November 30, 2026, the Shanghai "
        "International Port Group or the Shanghai Maritime Safety Administration suspends "
        "container terminal operations at Yangshan or Waigaoqiao for a continuous period of at "
        "least 48 hours because of a typhoon, as confirmed by official notices or major news "
        "outlets. Suspensions of pilotage only, or of a single berth, do not count for this.",
        ["typhoon", "shanghai", "ports", "weather", "container"],
        [(30.63, 122.06, "Yangshan", "CN"), (31.36, 121.60, "Waigaoqiao", "CN")],
    ),
    (
        "Will the EU adopt a 20th sanctions package including new Russian shadow fleet listings?",
        "This market resolves YES if the Council of the European Union formally adopts a "
        "twentieth package of sanctions against Russia that designates at least 50 additional "
        "vessels of the so-called shadow fleet, between market creation and December 31, 2026 "
        "11:59 PM CET. Publication in the Official Journal of the EU is the resolution source. "
        "Proposals, political agreements or statements of intent do not count as adoption here.",
        ["sanctions", "eu", "russia", "shadow fleet", "tankers"],
        [(59.45, 24.75, "Gulf of Finland", "EE"), (41.01, 28.98, "Bosphorus", "TR")],
    ),
    (
        "Will the Baltimore Key Bridge shipping channel be closed again for more than 7 days 2026?",
        "Resolves YES if the US Coast Guard or the Maryland Port Administration closes the Fort "
        "McHenry federal channel to commercial deep-draft traffic for more than 7 consecutive "
        "days between market creation and December 31, 2026, for any reason, as confirmed by a "
        "Coast Guard marine safety information bulletin or a port notice. Partial restrictions "
        "such as one-way traffic or daylight-only transits do not count toward this market.",
        ["baltimore", "channel", "ports", "closure", "coast guard"],
        [(39.22, -76.53, "Fort McHenry Channel", "US"), (39.26, -76.58, "Port of Baltimore", "US")],
    ),
]


def event_pool(variants_per_template: int = 32, seed: int = 7) -> list[signal_pb2.RawSignalEvent]:
    """Prebuilt events (all but event_id): a call only copies one and sets its id (~2 us)."""
    rng = random.Random(seed)
    pool = []
    for variant in range(variants_per_template):
        for index, (title, description, keywords, places) in enumerate(_TEMPLATES):
            probability = round(rng.uniform(0.05, 0.95), 4)
            event = signal_pb2.RawSignalEvent(
                source="polymarket",
                # One market per pool entry: a market seen at two probabilities would (rightly)
                # trip the anomaly rule's jump check and be rejected.
                market_id=str(500_000 + len(pool)),
                title=title,
                description=description,
                probability=probability,
                # 50k-500k: well above the liquidity rule's full score, so every event is EMITTED.
                liquidity_usd=round(rng.uniform(50_000, 500_000), 2),
                volume_usd=round(rng.uniform(100_000, 5_000_000), 2),
                keywords=keywords,
                locations=[
                    signal_pb2.Location(lat=lat, lon=lon, name=name, region_code=code)
                    for lat, lon, name, code in places
                ],
                market_url=f"https://polymarket.com/event/omen-bench-{index}-{variant}",
            )
            event.resolution_date.FromSeconds(1_798_675_200 + rng.randint(0, 180) * 86_400)
            pool.append(event)
    return pool


def event_id(cell: int, task: int, n: int) -> str:
    # Cell, task and sequence make every id in the run unique: OMEN never sees a duplicate.
    return f"pm-bench-{cell:02d}-{task:02d}-{n:07d}"


# --------------------------------------------------------------------------------------------
# Load generator (runs in its own process, started with --client-spec).


async def _load(spec: dict[str, Any]) -> dict[str, Any]:
    pool = event_pool()
    concurrency = spec["concurrency"]
    latencies = array("q")
    errors: Counter[str] = Counter()
    counts = {"completed": 0, "response_bytes": 0}
    async with grpc.aio.insecure_channel(spec["target"]) as channel:
        await asyncio.wait_for(channel.channel_ready(), timeout=10)
        stub = service_pb2_grpc.SignalServiceStub(channel)
        warm_end, end = window_ns(spec)

        async def worker(task: int) -> None:
            n = 0
            while time.perf_counter_ns() < end:
                request = service_pb2.ProcessRequest()
                request.event.CopyFrom(pool[(task * 7919 + n) % len(pool)])
                request.event.event_id = event_id(spec["cell"], task, n)
                n += 1
                started = time.perf_counter_ns()
                try:
                    response = await stub.Process(
                        request, metadata=METADATA, timeout=CALL_TIMEOUT_S
                    )
                except grpc.aio.AioRpcError as exc:
                    errors[exc.code().name] += 1
                    continue
                finished = time.perf_counter_ns()
                counts["completed"] += 1
                if response.outcome != EMITTED:
                    # A non-EMITTED answer means the benchmark is not measuring what it claims.
                    errors[service_pb2.Outcome.Name(response.outcome)] += 1
                    continue
                if warm_end <= finished < end:
                    latencies.append(finished - started)
                    counts["response_bytes"] += response.ByteSize()

        cpu_before = time.process_time()
        await asyncio.gather(*(worker(t) for t in range(concurrency)))
        client_cpu_s = time.process_time() - cpu_before

    ok = len(latencies)
    p50 = p99 = None
    if ok:
        p50, p99 = (
            float(v) / 1e6 for v in np.percentile(np.frombuffer(latencies, np.int64), [50, 99])
        )
    return {
        "ok_in_window": ok,
        "requests_per_s": ok / spec["duration_s"],
        "p50_ms": p50,
        "p99_ms": p99,
        "errors": dict(errors),
        "completed_total": counts["completed"],
        "mean_response_bytes": counts["response_bytes"] / ok if ok else None,
        "client_cpu_s": client_cpu_s,
    }


# --------------------------------------------------------------------------------------------
# The canned response of the no-op server.


def canned_response(port: int, pool: list[signal_pb2.RawSignalEvent]) -> bytes:
    """One real EMITTED response per template; the median-size one is what the no-op answers."""
    responses = []
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = service_pb2_grpc.SignalServiceStub(channel)
        for index in range(len(_TEMPLATES)):
            request = service_pb2.ProcessRequest()
            request.event.CopyFrom(pool[index])
            # Same length as the load's ids; "xx" never occurs in them, so no duplicate later.
            request.event.event_id = f"pm-bench-xx-xx-{index:07d}"
            response = stub.Process(request, metadata=METADATA, timeout=10)
            if response.outcome != EMITTED:
                raise StartError(
                    f"OMEN answered {service_pb2.Outcome.Name(response.outcome)} "
                    f"({response.reason or 'no reason'}) to a sample event; expected EMITTED"
                )
            responses.append(response)
    responses.sort(key=lambda r: r.ByteSize())
    return responses[len(responses) // 2].SerializeToString()


# --------------------------------------------------------------------------------------------
# Orchestration and report.


def _delta(before: float | None, after: float | None) -> float | None:
    return None if before is None or after is None else after - before


def run_cell(
    cell: int,
    server: ServerProcess,
    servers: list[ServerProcess],
    concurrency: int,
    duration: float,
    warmup: float,
) -> dict[str, Any]:
    spec = {
        "target": f"127.0.0.1:{server.port}",
        "concurrency": concurrency,
        "duration_s": duration,
        "warmup_s": warmup,
        "cell": cell,
    }
    # Snapshots for "other load": on a shared 2-core machine, CPU taken by anything that is not
    # this benchmark is the main source of noise, so each cell reports how much there was.
    wall_before, machine_before = time.monotonic(), machine_busy_seconds()
    ours_before = [s.cpu_seconds() for s in servers]
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    self_before = time.process_time()
    load = run_client(__file__, spec, f"{server.name} at concurrency {concurrency}")
    self_cpu = time.process_time() - self_before
    children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    ours_after = [s.cpu_seconds() for s in servers]
    wall, machine = time.monotonic() - wall_before, _delta(machine_before, machine_busy_seconds())

    result: dict[str, Any] = {"concurrency": concurrency, "server": server.name}
    server_cpu = _delta(ours_before[servers.index(server)], ours_after[servers.index(server)])
    deltas = [_delta(b, a) for b, a in zip(ours_before, ours_after, strict=True)]
    if machine is not None and all(d is not None for d in deltas):
        client_total = (
            children_after.ru_utime
            + children_after.ru_stime
            - children_before.ru_utime
            - children_before.ru_stime
        )
        ours = sum(d for d in deltas if d is not None) + client_total + self_cpu
        result["other_load_cores"] = max(0.0, (machine - ours) / wall)
    if load is None:
        result.update(
            requests_per_s=0.0,
            p50_ms=None,
            p99_ms=None,
            errors={"LOAD_GENERATOR_FAILED": 1},
            completed_total=0,
        )
        return result
    result.update(load)
    completed = result["completed_total"]
    if server_cpu is not None and completed:
        # Whole cell (warmup included) over every completed call: the server's cost per call.
        result["server_cpu_us_per_call"] = server_cpu / completed * 1e6
    if completed:
        result["client_cpu_us_per_call"] = result["client_cpu_s"] / completed * 1e6
    if not server.alive():
        result["errors"]["SERVER_DIED"] = 1
    return result


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def report(cells: list[dict[str, Any]], levels: list[int]) -> list[dict[str, Any]]:
    header = (
        "concurrency",
        "server",
        "requests/s",
        "p50 ms",
        "p99 ms",
        "errors",
        "server CPU us/call",
        "client CPU us/call",
        "resp bytes",
        "other load",
    )
    rows: list[tuple[str, ...]] = []
    ratios = []
    for level in levels:
        by_server = {c["server"]: c for c in cells if c["concurrency"] == level}
        for name in ("OMEN", "no-op"):
            c = by_server.get(name)
            if c is None:
                continue
            errors = ", ".join(f"{k}={v}" for k, v in sorted(c["errors"].items())) or "0"
            rows.append(
                (
                    str(level),
                    name,
                    num(c["requests_per_s"], ",.0f"),
                    num(c["p50_ms"], ".2f"),
                    num(c["p99_ms"], ".2f"),
                    errors,
                    num(c.get("server_cpu_us_per_call"), ".0f"),
                    num(c.get("client_cpu_us_per_call"), ".0f"),
                    num(c.get("mean_response_bytes"), ".0f"),
                    num(c.get("other_load_cores"), ".2f"),
                )
            )
        omen, noop = by_server.get("OMEN"), by_server.get("no-op")
        if omen and noop:
            ratio = {
                "concurrency": level,
                "throughput": _ratio(omen["requests_per_s"], noop["requests_per_s"]),
                "p50": _ratio(omen["p50_ms"], noop["p50_ms"]),
                "p99": _ratio(omen["p99_ms"], noop["p99_ms"]),
                "server_cpu": _ratio(
                    omen.get("server_cpu_us_per_call"), noop.get("server_cpu_us_per_call")
                ),
            }
            ratios.append(ratio)
            rows.append(
                (
                    str(level),
                    "OMEN/no-op",
                    num(ratio["throughput"], ".2f") + "x",
                    num(ratio["p50"], ".2f") + "x",
                    num(ratio["p99"], ".2f") + "x",
                    "",
                    num(ratio["server_cpu"], ".2f") + "x",
                    "",
                    "",
                    "",
                )
            )
    print_table(
        header,
        rows,
        left={1, 5},  # text columns; numbers are right-aligned
        rules_after={i for i, row in enumerate(rows[:-1]) if row[1] == "OMEN/no-op"},
    )
    return ratios


def parse_levels(text: str) -> list[int]:
    try:
        levels = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected e.g. 1,16,64, got {text!r}") from None
    if not levels or any(level < 1 for level in levels):
        raise argparse.ArgumentTypeError(f"concurrency levels must be >= 1, got {text!r}")
    return levels


def benchmark(args: argparse.Namespace) -> int:
    from google.protobuf.internal import api_implementation

    duration, warmup = args.duration, args.warmup
    levels = args.concurrency
    meta: dict[str, Any] = {
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "grpcio": grpc.__version__,
        "protobuf": f"{protobuf_version} ({api_implementation.Type()})",
        "numpy": np.__version__,
        "cpu_count": os.cpu_count(),
        "loadavg_at_start": os.getloadavg(),
        "duration_s_per_cell": duration,
        "warmup_s_per_cell": warmup,
        "concurrency": levels,
        "inherited_omen_env": sorted(k for k in os.environ if k.startswith("OMEN_")),
    }
    cells: list[dict[str, Any]] = []
    failed = False
    with contextlib.ExitStack() as stack:
        data_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="omen-bench-"))
        try:  # the servers are stopped (by the stack) before their data directory is removed
            omen, noop, canned = start_pair(
                stack,
                data_dir,
                "_noop_server.py",
                "canned-response.bin",
                lambda port: canned_response(port, event_pool()),
            )
        except (StartError, grpc.RpcError) as exc:
            print(f"bench_unary: a server failed to start: {exc}", file=sys.stderr)
            return 1

        native = omen.native or "unknown (no 'native code:' in OMEN's log)"
        meta["omen_native_status"] = native
        meta["omen_native"] = native == "compiled"  # what omen.native.IS_NATIVE reports
        meta["canned_response_bytes"] = len(canned)
        sample = service_pb2.ProcessRequest(event=event_pool()[0])
        sample.event.event_id = event_id(0, 0, 0)
        meta["sample_request_bytes"] = sample.ByteSize()
        print("bench_unary: unary SignalService.Process, OMEN vs no-op grpc.aio, loopback")
        print(
            f"  python {meta['python']}, grpcio {meta['grpcio']}, protobuf {meta['protobuf']}, "
            f"numpy {meta['numpy']}"
        )
        print(
            f"  CPUs: {meta['cpu_count']}, load average at start: "
            + " ".join(f"{x:.2f}" for x in meta["loadavg_at_start"])
        )
        print(f"  OMEN native code: {'yes' if meta['omen_native'] else 'NO'} ({native})")
        print(
            f"  per cell: {warmup:g} s warmup + {duration:g} s measured; concurrency "
            f"{','.join(map(str, levels))}; one client process and channel per cell"
        )
        print(
            f"  request ~{meta['sample_request_bytes']} B; no-op answers a real OMEN EMITTED "
            f"response of {len(canned)} B"
        )
        if meta["inherited_omen_env"]:
            inherited = ", ".join(meta["inherited_omen_env"])
            print(f"  OMEN_* inherited from the environment: {inherited}")
        print(flush=True)

        for cell_index, level in enumerate(levels):
            order = (omen, noop) if cell_index % 2 == 0 else (noop, omen)
            for server in order:
                cell = run_cell(len(cells), server, [omen, noop], level, duration, warmup)
                cells.append(cell)
                print(
                    f"  measured {server.name:5} at concurrency {level:3}: "
                    f"{cell['requests_per_s']:,.0f} req/s",
                    file=sys.stderr,
                    flush=True,
                )
                if not server.alive():
                    print(
                        f"bench_unary: {server.name} server died (exit {server.proc.poll()}); "
                        f"its last output:\n{server.tail()}",
                        file=sys.stderr,
                    )
                    failed = True
                    break
            if failed:
                break

    print()
    ratios = report(cells, levels)
    print(
        "\nresp bytes: mean serialised response in the window (the no-op's must match OMEN's)."
        "\nCPU us/call: process CPU (user+sys, all threads) per completed call, warmup included."
        "\nother load: cores busy with anything but this benchmark during the cell (noise)."
    )
    noisy = [c for c in cells if (c.get("other_load_cores") or 0.0) > NOISY_CORES]
    if noisy:
        print(
            f"warning: {len(noisy)} cell(s) ran while other processes used more than "
            f"{NOISY_CORES} core: their numbers understate both servers; rerun when quiet."
        )
    errors = sum(sum(c["errors"].values()) for c in cells)
    if errors:
        print(f"\nbench_unary: {errors} error(s); see the errors column", file=sys.stderr)
    if args.json:
        Path(args.json).write_text(
            json.dumps({"meta": meta, "cells": cells, "ratios": ratios}, indent=2) + "\n"
        )
    return 1 if failed or errors else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--duration",
        type=float,
        help=f"measured seconds per cell "
        f"(default {DEFAULT_DURATION_S:g}; --quick {QUICK_DURATION_S:g})",
    )
    parser.add_argument(
        "--warmup",
        type=float,
        help=f"warmup seconds per cell (default {DEFAULT_WARMUP_S:g}; --quick {QUICK_WARMUP_S:g})",
    )
    parser.add_argument(
        "--concurrency",
        type=parse_levels,
        default=[1, 16, 64],
        help="comma-separated calls in flight (default 1,16,64)",
    )
    return run_main(
        "bench_unary",
        parser,
        argv,
        _load,
        benchmark,
        default=(DEFAULT_DURATION_S, DEFAULT_WARMUP_S),
        quick=(QUICK_DURATION_S, QUICK_WARMUP_S),
    )


if __name__ == "__main__":
    raise SystemExit(main())

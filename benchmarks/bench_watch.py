"""WatchSignals fan-out: signals/s delivered to 1 and 10 subscribers of one real `omen serve`,
and the latency from the ingest answer to each subscriber's receipt.

What runs, each in its own process (the machine has 2 cores):

- OMEN: `python -m omen.entrypoints.cli serve --port 0`, a throw-away data directory, fsync
  durability (the default), metrics off.
- producer: this file with `--producer-spec`; pushes unique ~0.77 KB events (bench_unary's
  pool; every one is EMITTED) through ProcessStream in batches (unary Process with
  `--ingest unary`), either paced (`--rate` signals/s) or flat out, and notes when each answer
  arrived (time.monotonic_ns: CLOCK_MONOTONIC, one clock for every process of the machine).
- subscribers: this file with `--subscriber-spec`, one process per subscriber. Each opens
  WatchSignals with a raw-bytes deserializer and takes the signal id from the first 38 bytes of
  each message (field 1 comes first on the wire) instead of parsing it, notes the receipt time
  and nothing else: ~10 us of client CPU a message, so the subscribers are not the bottleneck
  (the table shows the client CPU next to the server's; both together are bounded by 2 cores).

Cells:

- ingest only: the producer flat out, no subscriber: the baseline ingest rate (the same calls
  without watchers). Its signals are the backlog of the "backlog" cells.
- live, N subscribers, paced: subscribers tail live (no cursor) while the producer sends
  `--rate` signals/s for `--seconds`: delivered signals/s (per subscriber: median over them;
  total: all of them together), and latency p50/p99 from the answer to the producer to receipt.
- live, N subscribers, flat out: the same with the producer unpaced: ingest and fan-out
  compete for the server's core; the latency then includes the subscribers' lag.
- backlog, N subscribers: subscribers read the "ingest only" signals (cursor `after` a marker
  signal written just before them): fan-out throughput alone.
- ledger read (in-process): `LedgerTail.select` with WatchSignals' own decode + position step
  over the same ledger opened read-only, no gRPC: the server's per-subscriber ceiling.

Each cell runs `--repeat` times (default 3); the table shows medians.

Usage:
    python benchmarks/bench_watch.py [--rate 1000] [--seconds 5] [--backlog 20000]
                                     [--repeat 3] [--ingest stream|unary] [--quick] [--json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import grpc
import numpy as np
from _common import (  # first: puts the checkout on sys.path
    METADATA,
    StartError,
    child_env,
    machine_busy_seconds,
    num,
    print_table,
    start_omen,
    wait_ready,
)
from bench_unary import event_pool

from omen._proto import service_pb2, service_pb2_grpc, signal_pb2

WATCH = "/omen.v1.SignalService/WatchSignals"
BATCH_EVENTS = 50  # events per ProcessStream message
CALL_TIMEOUT_S = 120.0
SUBSCRIBER_SLACK_S = 60.0  # after the producer is done, how long subscribers may lag


# --------------------------------------------------------------------------------------------
# Producer and subscribers (own processes): connect, say "ready", start on "go" from stdin, so
# the measured window holds no process start-up.


async def _ready_then_go(channel: grpc.aio.Channel) -> None:
    await asyncio.wait_for(channel.channel_ready(), timeout=30)
    print("ready", flush=True)
    if (await asyncio.to_thread(sys.stdin.readline)).strip() != "go":
        raise SystemExit("no go")


def _events(tag: str, count: int) -> list[Any]:
    pool = event_pool()
    events = []
    for n in range(count):
        event = service_pb2.StreamEvent(correlation_id=str(n))
        event.event.CopyFrom(pool[n % len(pool)])
        event.event.event_id = f"pm-watch-{tag}-{n:08d}"
        events.append(event)
    return events


async def _produce(spec: dict[str, Any]) -> dict[str, Any]:
    count, rate = spec["count"], spec["rate"]
    events = _events(spec["tag"], count)
    ids: list[str] = []
    answered = np.zeros(count, dtype=np.int64)
    errors: dict[str, int] = {}
    async with grpc.aio.insecure_channel(spec["target"]) as channel:
        stub = service_pb2_grpc.SignalServiceStub(channel)
        await _ready_then_go(channel)
        cpu_before = time.process_time()
        started = time.monotonic()
        if spec["ingest"] == "stream":
            batch = max(1, min(BATCH_EVENTS, int(rate / 100))) if rate else BATCH_EVENTS

            async def requests() -> Any:
                for i in range(0, count, batch):
                    if rate:  # paced: batch k leaves at k * batch / rate seconds
                        delay = started + i / rate - time.monotonic()
                        if delay > 0:
                            await asyncio.sleep(delay)
                    yield service_pb2.ProcessStreamRequest(events=events[i : i + batch])

            call = stub.ProcessStream(requests(), metadata=METADATA, timeout=CALL_TIMEOUT_S)
            async for response in call:
                now = time.monotonic_ns()
                for result in response.results:
                    if result.outcome != service_pb2.OUTCOME_EMITTED:
                        name = service_pb2.Outcome.Name(result.outcome)
                        errors[name] = errors.get(name, 0) + 1
                        continue
                    answered[len(ids)] = now
                    ids.append(result.signal_id)
        else:
            queue: asyncio.Queue[int] = asyncio.Queue()
            for n in range(count):
                queue.put_nowait(n)

            async def worker() -> None:
                while not queue.empty():
                    n = queue.get_nowait()
                    if rate:
                        delay = started + n / rate - time.monotonic()
                        if delay > 0:
                            await asyncio.sleep(delay)
                    request = service_pb2.ProcessRequest(event=events[n].event)
                    response = await stub.Process(
                        request, metadata=METADATA, timeout=CALL_TIMEOUT_S
                    )
                    if response.outcome != service_pb2.OUTCOME_EMITTED:
                        name = service_pb2.Outcome.Name(response.outcome)
                        errors[name] = errors.get(name, 0) + 1
                        return
                    answered[len(ids)] = time.monotonic_ns()
                    ids.append(response.signal.signal_id)

            await asyncio.gather(*(worker() for _ in range(16)))
        seconds = time.monotonic() - started
    np.save(spec["out"] + ".ns.npy", answered[: len(ids)])
    Path(spec["out"] + ".ids").write_text("\n".join(ids))
    cpu_s = time.process_time() - cpu_before
    return {"emitted": len(ids), "seconds": seconds, "errors": errors, "cpu_s": cpu_s}


# --------------------------------------------------------------------------------------------
# Subscriber (own process).


async def _subscribe(spec: dict[str, Any]) -> dict[str, Any]:
    expect = spec["expect"]
    received = np.zeros(expect, dtype=np.int64)
    ids: list[bytes] = []
    request = service_pb2.WatchSignalsRequest()
    if spec.get("after"):
        request.after.partition, request.after.sequence = spec["after"]
    cpu_before = time.process_time()
    async with grpc.aio.insecure_channel(spec["target"]) as channel:
        watch = channel.unary_stream(
            WATCH, request_serializer=service_pb2.WatchSignalsRequest.SerializeToString
        )  # no response_deserializer: raw bytes
        await _ready_then_go(channel)
        opened = time.monotonic_ns()
        call = watch(request, metadata=METADATA)
        await call.initial_metadata()  # the cursor is resolved: every later signal will come
        print("open", flush=True)
        deadline = time.monotonic() + spec["timeout_s"]
        try:
            async with asyncio.timeout(max(0.1, deadline - time.monotonic())):
                async for raw in call:
                    received[len(ids)] = time.monotonic_ns()
                    if raw[:2] == b"\x0a\x24":  # field 1 (signal_id), 36 bytes: sig-<32 hex>
                        ids.append(raw[2:38])
                    else:  # not where it usually is: parse (never seen, but stay correct)
                        parsed = signal_pb2.OmenSignal.FromString(raw)
                        ids.append(parsed.signal_id.encode())
                    if len(ids) == expect:
                        break
        except TimeoutError:
            pass
        call.cancel()
    np.save(spec["out"] + ".ns.npy", received[: len(ids)])
    Path(spec["out"] + ".ids").write_bytes(b"\n".join(ids))
    return {
        "received": len(ids),
        "opened_ns": opened,
        "cpu_s": time.process_time() - cpu_before,
    }


# --------------------------------------------------------------------------------------------
# Orchestration.


def _child(role: str, spec: dict[str, Any]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), f"--{role}-spec", json.dumps(spec)],
        env=child_env({}),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def _expect(proc: subprocess.Popen[str], line: str) -> None:
    assert proc.stdout is not None
    got = proc.stdout.readline().strip()
    if got != line:
        raise RuntimeError(f"a benchmark client said {got!r}, expected {line!r}")


def _send(proc: subprocess.Popen[str], line: str) -> None:
    assert proc.stdin is not None
    proc.stdin.write(line + "\n")
    proc.stdin.flush()


def _result(proc: subprocess.Popen[str], what: str, timeout: float) -> dict[str, Any]:
    assert proc.stdout is not None
    out = proc.stdout.read()
    proc.wait(timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"{what} failed with exit code {proc.returncode}")
    return json.loads(out.strip().splitlines()[-1])  # type: ignore[no-any-return]


def _load_ids(out: str) -> tuple[list[bytes], np.ndarray]:
    raw = Path(out + ".ids").read_bytes()
    return (raw.split(b"\n") if raw else []), np.load(out + ".ns.npy")


class Bench:
    def __init__(self, args: argparse.Namespace, workdir: Path):
        self.args = args
        self.workdir = workdir
        self.cells = 0
        self.server = start_omen(str(workdir / "data"), "omen")
        self.port = wait_ready(self.server)
        self.target = f"127.0.0.1:{self.port}"

    def _out(self, name: str) -> str:
        return str(self.workdir / f"cell{self.cells:03d}-{name}")

    def marker(self) -> tuple[str, int]:
        """One signal through Process; its position is where a backlog subscriber starts."""
        with grpc.insecure_channel(self.target) as channel:
            stub = service_pb2_grpc.SignalServiceStub(channel)
            request = service_pb2.ProcessRequest()
            request.event.CopyFrom(event_pool()[0])
            request.event.event_id = f"pm-watch-marker-{self.cells}-{time.time_ns()}"
            response = stub.Process(request, metadata=METADATA, timeout=30)
        if response.outcome != service_pb2.OUTCOME_EMITTED:
            raise StartError(f"the marker event was not emitted: {response.reason}")
        return response.ledger_position.partition, response.ledger_position.sequence

    def cell(
        self, subscribers: int, count: int, rate: float, after: tuple[str, int] | None = None
    ) -> dict[str, Any]:
        """Subscribers first (live, or `after`), then the producer (unless a backlog cell)."""
        self.cells += 1
        backlog = after is not None
        subs = []
        for i in range(subscribers):
            spec = {
                "target": self.target,
                "expect": count,
                "after": after,
                "timeout_s": (count / rate if rate else 0) + SUBSCRIBER_SLACK_S,
                "out": self._out(f"sub{i}"),
            }
            subs.append((_child("subscriber", spec), spec["out"]))
        producer = None
        if not backlog:
            spec = {
                "target": self.target,
                "count": count,
                "rate": rate,
                "tag": f"{self.cells:03d}",
                "ingest": self.args.ingest,
                "out": self._out("producer"),
            }
            producer = _child("producer", spec)
        everyone = [proc for proc, _ in subs] + ([producer] if producer else [])
        for proc in everyone:  # started and connected
            _expect(proc, "ready")
        cpu_before, wall_before = self.server.cpu_seconds(), time.monotonic()
        machine_before = machine_busy_seconds()
        for proc, _ in subs:
            _send(proc, "go")
        for proc, _ in subs:  # streams open, cursors resolved
            _expect(proc, "open")
        produced = None
        if producer is not None:
            _send(producer, "go")
            produced = _result(producer, "producer", CALL_TIMEOUT_S + 60)
            if produced["errors"] or produced["emitted"] != count:
                raise RuntimeError(f"producer: {produced}")
        results = [_result(proc, "subscriber", SUBSCRIBER_SLACK_S + 600) for proc, _ in subs]
        wall = time.monotonic() - wall_before
        server_cpu = (self.server.cpu_seconds() or 0.0) - (cpu_before or 0.0)
        clients_cpu = sum(r["cpu_s"] for r in results)
        producer_cpu = produced["cpu_s"] if produced else 0.0
        machine = (machine_busy_seconds() or 0.0) - (machine_before or 0.0)
        messages = count * subscribers or count
        row: dict[str, Any] = {
            "subscribers": subscribers,
            "count": count,
            "server_cores": server_cpu / wall,
            # Server CPU per message sent (per signal ingested when nobody watches).
            "server_us_per_msg": server_cpu / messages * 1e6,
            "client_cores": clients_cpu / wall,
            "producer_cores": producer_cpu / wall,
            # Cores busy with anything else on the machine (a shared 2-core box): noise.
            "other_cores": max(0.0, machine - server_cpu - clients_cpu - producer_cpu) / wall,
        }
        if produced is not None:
            row["ingest_per_s"] = produced["emitted"] / produced["seconds"]
        if not subs:
            return row
        answered: dict[bytes, int] = {}
        if produced is not None:
            ids, ns = _load_ids(self._out("producer"))
            answered = dict(zip(ids, ns.tolist(), strict=True))
        per_sub, latencies, firsts, lasts = [], [], [], []
        for (_, out), result in zip(subs, results, strict=True):
            ids, ns = _load_ids(out)
            if len(ids) != count or len(set(ids)) != count:
                raise RuntimeError(f"a subscriber received {len(ids)} signals, expected {count}")
            if answered and set(ids) != set(answered):
                raise RuntimeError("a subscriber received other signals than the producer's")
            start = result["opened_ns"] if backlog else int(ns[0])
            per_sub.append(count / max(1e-9, (int(ns[-1]) - start) / 1e9))
            firsts.append(start)
            lasts.append(int(ns[-1]))
            if answered:
                latencies.append(ns - np.array([answered[i] for i in ids], dtype=np.int64))
        row["per_sub_per_s"] = statistics.median(per_sub)
        row["total_per_s"] = subscribers * count / ((max(lasts) - min(firsts)) / 1e9)
        if latencies:
            p50, p99 = np.percentile(np.concatenate(latencies), [50, 99]) / 1e6
            row["p50_ms"], row["p99_ms"] = float(p50), float(p99)
        return row

    def ledger_read(self, count: int) -> dict[str, Any]:
        """The server's own read + decode path, in this process, over the ledger read-only."""
        from omen.adapters.ledger.ledger import Ledger
        from omen.adapters.ledger.tail import LedgerTail
        from omen.entrypoints.grpc import watch

        ledger = Ledger.open(self.workdir / "data" / "ledger", read_only=True)
        try:
            parsed, _ = watch.parse(service_pb2.WatchSignalsRequest())

            async def read() -> float:
                tail = LedgerTail(ledger)
                started = time.perf_counter()
                n = 0
                async for _ in tail.select(0, watch.picker(parsed)):
                    n += 1
                    if n == count:
                        break
                return time.perf_counter() - started

            cpu = time.process_time()
            seconds = asyncio.run(read())
            cpu = time.process_time() - cpu
        finally:
            ledger.close()
        return {"subscribers": 1, "count": count, "per_sub_per_s": count / seconds,
                "total_per_s": count / seconds, "server_us_per_msg": cpu / count * 1e6,
                "server_cores": cpu / seconds}  # fmt: skip

    def stop(self) -> None:
        self.server.stop()


def _median_rows(rows: list[dict[str, Any]]) -> dict[str, Any]:
    merged = dict(rows[0])
    for key, value in rows[0].items():
        if isinstance(value, float):
            merged[key] = statistics.median(r[key] for r in rows)
    merged["repeats"] = len(rows)
    return merged


def report(rows: list[tuple[str, dict[str, Any]]]) -> None:
    header = ("cell", "subs", "ingest sig/s", "per sub sig/s", "total sig/s", "p50 ms",
              "p99 ms", "server us/msg", "server cores", "subscriber cores", "producer cores",
              "other load cores")  # fmt: skip
    lines = []
    for name, r in rows:
        lines.append(
            (
                name,
                str(r["subscribers"]),
                num(r.get("ingest_per_s"), ",.0f"),
                num(r.get("per_sub_per_s"), ",.0f"),
                num(r.get("total_per_s"), ",.0f"),
                num(r.get("p50_ms"), ".1f"),
                num(r.get("p99_ms"), ".1f"),
                num(r.get("server_us_per_msg"), ".0f"),
                num(r.get("server_cores"), ".2f"),
                num(r.get("client_cores"), ".2f"),
                num(r.get("producer_cores"), ".2f"),
                num(r.get("other_cores"), ".2f"),
            )
        )
    print_table(header, lines, sep="  ", rule="  ")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=300.0, help="paced live cells: signals/s")
    parser.add_argument("--seconds", type=float, default=5.0, help="paced live cells: duration")
    parser.add_argument("--backlog", type=int, default=20_000, help="signals in the backlog")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--subscribers", default="1,10")
    parser.add_argument("--ingest", choices=("stream", "unary"), default="stream")
    parser.add_argument("--quick", action="store_true", help="one repeat, smaller cells")
    parser.add_argument("--json", help="also write the rows here")
    parser.add_argument("--producer-spec", help=argparse.SUPPRESS)
    parser.add_argument("--subscriber-spec", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.producer_spec:
        print(json.dumps(asyncio.run(_produce(json.loads(args.producer_spec)))))
        return 0
    if args.subscriber_spec:
        print(json.dumps(asyncio.run(_subscribe(json.loads(args.subscriber_spec)))))
        return 0
    if args.quick:
        args.repeat, args.seconds, args.backlog = 1, 2.0, 5000
    levels = [int(n) for n in args.subscribers.split(",")]
    paced = int(args.rate * args.seconds)

    print(
        f"bench_watch: Python {platform.python_version()}, {os.cpu_count()} cores, "
        f"ingest via {'ProcessStream' if args.ingest == 'stream' else 'Process'}, "
        f"paced {args.rate:.0f} signals/s x {args.seconds:.0f}s, backlog {args.backlog}, "
        f"medians of {args.repeat}",
        flush=True,
    )
    collected: dict[str, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="omen-bench-watch-") as tmp:
        bench = Bench(args, Path(tmp))
        try:
            for repeat in range(args.repeat):
                print(f"  round {repeat + 1}/{args.repeat}", file=sys.stderr, flush=True)
                marker = bench.marker()
                collected.setdefault("ingest only, flat out", []).append(
                    bench.cell(0, args.backlog, 0.0)
                )
                for n in levels:
                    collected.setdefault(f"backlog, {n} sub", []).append(
                        bench.cell(n, args.backlog, 0.0, after=marker)
                    )
                for n in levels:
                    collected.setdefault(f"live, {n} sub, paced {args.rate:.0f}/s", []).append(
                        bench.cell(n, paced, args.rate)
                    )
                    collected.setdefault(f"live, {n} sub, flat out", []).append(
                        bench.cell(n, args.backlog, 0.0)
                    )
                collected.setdefault("ledger read, in-process", []).append(
                    bench.ledger_read(args.backlog)
                )
        finally:
            bench.stop()
    rows = [(name, _median_rows(cells)) for name, cells in collected.items()]
    print()
    report(rows)
    if args.json:
        Path(args.json).write_text(json.dumps([{"cell": n, **r} for n, r in rows], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

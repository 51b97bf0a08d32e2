"""What the benchmarks share: the checkout on sys.path, server processes, load-generator runs,
the no-op servers' serving loop, in-process pipelines, timing and tables.

Importing this module puts the checkout's root on sys.path, so the benchmarks run from a
checkout where omen is not installed: each benchmark imports it before anything from omen (or
tests). At import time it needs only the standard library and grpcio (the no-op servers import
it too); what the in-process benchmarks need from omen is imported where it is used.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Collection, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

if TYPE_CHECKING:
    from omen.application.pipeline import Pipeline
    from omen.application.ports import SignalRepository
    from omen.domain.events import RawEvent
    from omen.domain.ruleset import Ruleset

API_KEY = "bench-key-0001"
METADATA = (("x-api-key", API_KEY),)
START_TIMEOUT_S = 60.0  # first start on a cold cache imports pydantic, grpc, numpy...
STOP_TIMEOUT_S = 15.0  # OMEN's default grace period is 10 s; it exits sooner when idle
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
# Both ends of the streaming benchmarks: a 10,000-event message is far above gRPC's 4 MB.
MAX_MESSAGE_OPTIONS = [
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
]
LISTENING = re.compile(r"listening on ([0-9.]+):(\d+)")
NATIVE = re.compile(r"native code: ([^,)]+)")


# --------------------------------------------------------------------------------------------
# Server processes.


class StartError(Exception):
    pass


class ServerProcess:
    """A server subprocess whose merged stdout/stderr is drained by a thread for its whole life
    (an undrained pipe would eventually block the server's logging)."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str]):
        self.name = name
        self.lines: deque[str] = deque(maxlen=200)
        self.port: int | None = None
        self.native: str | None = None
        self._listening = threading.Event()
        self.proc = subprocess.Popen(
            argv,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        )
        threading.Thread(target=self._drain, name=f"{name}-log", daemon=True).start()

    def _drain(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))
            if self.port is None and (match := LISTENING.search(line)):
                native = NATIVE.search(line)
                self.native = native.group(1).strip() if native else None
                self.port = int(match.group(2))
                self._listening.set()
        self._listening.set()  # EOF: the process is gone; wake the waiter so it fails fast

    def tail(self, n: int = 15) -> str:
        return "\n".join(f"    {line}" for line in list(self.lines)[-n:]) or "    (no output)"

    def wait_listening(self, timeout: float) -> int:
        if not self._listening.wait(timeout) or self.port is None:
            state = (
                f"exited with code {self.proc.poll()}"
                if self.proc.poll() is not None
                else f"did not log 'listening on' within {timeout:.0f}s"
            )
            raise StartError(f"{self.name} server {state}; its last output:\n{self.tail()}")
        return self.port

    def cpu_seconds(self) -> float | None:
        """User + system CPU of the server process (all threads), from /proc; None elsewhere."""
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        how = "on its own"
        if self.proc.poll() is None:
            how = "on SIGTERM"
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                print(
                    f"{self.name} server ignored SIGTERM for {STOP_TIMEOUT_S:.0f}s: killing it",
                    file=sys.stderr,
                )
                self.proc.kill()
                self.proc.wait()
            if self.proc.returncode != 0:
                # Not a measurement error, but a server that cannot stop cleanly is news.
                print(
                    f"warning: {self.name} server exited with code {self.proc.returncode} "
                    f"{how}; its last output:\n{self.tail(5)}",
                    file=sys.stderr,
                )


def wait_serving(port: int, timeout: float) -> None:
    """Poll grpc.health.v1 Health/Check until it answers SERVING, or fail at the deadline.

    Raw bytes keep this to grpcio + protobuf: HealthCheckRequest{service=""} serialises to b"",
    and a HealthCheckResponse is field 1 (status) as a varint, so SERVING (1) is b"\\x08\\x01".
    """
    deadline = time.monotonic() + timeout
    last = "no answer"
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        check = channel.unary_unary("/grpc.health.v1.Health/Check")
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                # wait_for_ready: a connection still being set up is waited for, not an error.
                reply = check(b"", timeout=min(remaining, 5.0), wait_for_ready=True)
            except grpc.RpcError as exc:
                last = f"{exc.code().name}: {exc.details()}"
                continue
            if reply == b"\x08\x01":
                return
            last = f"status {reply[1] if len(reply) > 1 else 0}"
            time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))  # poll interval
    raise StartError(f"OMEN on port {port} not SERVING within {timeout:.0f}s ({last})")


def child_env(extra: dict[str, str]) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    env.update(extra)
    return env


def start_omen(data_dir: str, name: str = "OMEN") -> ServerProcess:
    """`omen serve` on 127.0.0.1, a free port, `data_dir`, the bench API key and no metrics:
    the interceptor, auth and pipeline exactly as deployed. Not yet waited for (wait_ready)."""
    return ServerProcess(
        name,
        [
            sys.executable,
            "-m",
            "omen.entrypoints.cli",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--data-dir",
            data_dir,
        ],
        child_env({"OMEN_API_KEYS": API_KEY, "OMEN_METRICS_PORT": "0"}),
    )


def wait_ready(omen: ServerProcess) -> int:
    """OMEN's port once it listens and its health check answers SERVING (StartError if not)."""
    port = omen.wait_listening(START_TIMEOUT_S)
    wait_serving(port, START_TIMEOUT_S)
    return port


def start_pair(
    stack: contextlib.ExitStack,
    data_dir: str,
    noop_script: str,
    canned_name: str,
    canned: Callable[[int], bytes],
) -> tuple[ServerProcess, ServerProcess, bytes]:
    """OMEN, ready, then the no-op server `noop_script` answering `canned(OMEN's port)` (saved in
    data_dir as `canned_name`), listening. Both are stopped by `stack`, so register the data
    directory on it first. Raises StartError or grpc.RpcError when either fails to start."""
    omen = start_omen(data_dir)
    stack.callback(omen.stop)
    data = canned(wait_ready(omen))
    path = Path(data_dir) / canned_name
    path.write_bytes(data)
    noop = ServerProcess(
        "no-op", [sys.executable, str(HERE / noop_script), str(path)], child_env({})
    )
    stack.callback(noop.stop)
    noop.wait_listening(START_TIMEOUT_S)
    return omen, noop, data


def machine_busy_seconds() -> float | None:
    """CPU seconds the whole machine spent busy (all cores; steal included), from /proc/stat."""
    try:
        ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    except (OSError, ValueError):
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = ticks
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


# --------------------------------------------------------------------------------------------
# Load generators: the benchmark started again with a hidden --client-spec.


def run_client(script: str, spec: dict[str, Any], what: str) -> dict[str, Any] | None:
    """Run `script --client-spec SPEC` (its load generator) and return the JSON it printed, or
    report its failure (exit code, the end of its stderr) on stderr and return None. A client
    still running 120 s after its warmup + duration is killed and fails."""
    try:
        proc = subprocess.run(
            [sys.executable, str(Path(script).resolve()), "--client-spec", json.dumps(spec)],
            env=child_env({}),
            capture_output=True,
            text=True,
            timeout=spec["warmup_s"] + spec["duration_s"] + 120,
        )
    except subprocess.TimeoutExpired as exc:  # run() has already killed it
        proc = subprocess.CompletedProcess(exc.cmd, -9, "", f"timed out after {exc.timeout:.0f}s")
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
        print(
            f"load generator failed against {what} (exit {proc.returncode}):\n{tail}",
            file=sys.stderr,
        )
        return None
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def run_main(
    name: str,
    parser: argparse.ArgumentParser,
    argv: list[str] | None,
    load: Callable[[dict[str, Any]], Awaitable[dict[str, Any]]],
    benchmark: Callable[[argparse.Namespace], int],
    default: tuple[float, float],
    quick: tuple[float, float],
) -> int:
    """main() of a benchmark of OMEN against a no-op server, given its own options (with
    --duration and --warmup): adds --quick, --json and the hidden --client-spec, then runs
    either the load generator (`load` of the spec, its result printed as JSON) or, with the
    cell seconds checked and defaulted (_cell_seconds), `benchmark`, stopping its servers."""
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    parser.add_argument("--client-spec", help=argparse.SUPPRESS)  # internal: load generator
    args = parser.parse_args(argv)
    if args.client_spec:
        # Ctrl-C reaches the whole process group; the parent reports it, so exit quietly here.
        signal.signal(signal.SIGINT, lambda *_: os._exit(130))
        print(json.dumps(asyncio.run(load(json.loads(args.client_spec)))))
        return 0
    args.duration, args.warmup = _cell_seconds(parser, args, default, quick)
    return _run_stopping_servers(name, lambda: benchmark(args))


def window_ns(spec: dict[str, Any]) -> tuple[int, int]:
    """(end of the warmup, end of the measured window), perf_counter_ns, starting now."""
    warm_end = time.perf_counter_ns() + int(spec["warmup_s"] * 1e9)
    return warm_end, warm_end + int(spec["duration_s"] * 1e9)


def _cell_seconds(
    parser: argparse.ArgumentParser,
    args: argparse.Namespace,
    default: tuple[float, float],
    quick: tuple[float, float],
) -> tuple[float, float]:
    """--duration (> 0) and --warmup (>= 0), checked, or their defaults ((duration, warmup);
    the `quick` ones under --quick)."""
    for name, value in (("--duration", args.duration), ("--warmup", args.warmup)):
        if value is not None and not (value > 0 if name == "--duration" else value >= 0):
            parser.error(f"{name} must be {'> 0' if name == '--duration' else '>= 0'}")
    duration, warmup = quick if args.quick else default
    return (
        duration if args.duration is None else args.duration,
        warmup if args.warmup is None else args.warmup,
    )


def _on_sigterm(signum: int, frame: object) -> None:
    # Turn SIGTERM into an exception so the `finally` blocks stop the servers.
    raise SystemExit(128 + signum)


def _run_stopping_servers(name: str, benchmark: Callable[[], int]) -> int:
    """Run `benchmark` so that SIGTERM and Ctrl-C unwind it (stopping its servers): 130 then."""
    signal.signal(signal.SIGTERM, _on_sigterm)
    # Explicitly, because a shell starting us in the background leaves SIGINT ignored, while the
    # servers (same process group) do stop on it: we must notice too, and clean up.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return benchmark()
    except KeyboardInterrupt:
        print(f"\n{name}: interrupted; servers stopped", file=sys.stderr)
        return 130


# --------------------------------------------------------------------------------------------
# The no-op servers' serving loop.


def serve_noop(
    name: str,
    servicer: Any,
    canned: str,
    options: Sequence[tuple[str, Any]] = (),
) -> int:
    """Serve `servicer` (a SignalServiceServicer) on 127.0.0.1, a free port, until SIGTERM or
    SIGINT; log "listening on 127.0.0.1:PORT (`canned`)" to stderr once it accepts calls."""
    from omen._proto import service_pb2_grpc

    async def serve() -> int:
        server = grpc.aio.server(options=list(options))
        service_pb2_grpc.add_SignalServiceServicer_to_server(servicer, server)
        port = server.add_insecure_port("127.0.0.1:0")
        if port == 0:
            print(f"{name}: cannot listen on 127.0.0.1", file=sys.stderr, flush=True)
            return 1
        await server.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        # Logged only after start(): the benchmark treats this line as "ready".
        print(f"listening on 127.0.0.1:{port} ({canned})", file=sys.stderr, flush=True)
        await stop.wait()
        await server.stop(1.0)
        return 0

    return asyncio.run(serve())


# --------------------------------------------------------------------------------------------
# In-process benchmarks: pipelines, events, timing.


def make_pipeline(
    ruleset: Ruleset, repository: SignalRepository, hasher: Any = None, **factories: Any
) -> Pipeline:
    """A Pipeline with native hashing (unless `hasher`) and anomaly statistics, and the
    text_matcher / decider `factories` (the Pipeline's defaults where not given)."""
    from omen import native
    from omen.application.pipeline import Pipeline

    return Pipeline(
        ruleset,
        hasher or native.event_hash,
        repository,
        native.anomaly.RollingStatistics.from_params(ruleset.anomaly),
        **factories,
    )


T0_NS = 1_795_000_000 * 1_000_000_000


def red_sea_event(i: int, market: int) -> RawEvent:
    """Event `i` of the delivery benchmarks: one Red Sea market question, emitted by the
    default ruleset, unique per `i` (its title and time), on market `market`."""
    from omen.domain.events import Location, RawEvent

    return RawEvent(
        event_id=f"bench-{i}",
        source="polymarket",
        market_id=f"bench-market-{market}",
        title="Will shipping through the Red Sea be disrupted by Houthi attacks in "
        f"December (#{i})?",
        description="Resolves YES if major carriers suspend Red Sea transits.",
        probability=0.62,
        observed_at_ns=T0_NS + i,
        liquidity_usd=250_000.0,
        volume_usd=1_200_000.0,
        num_traders=420,
        keywords=("shipping", "red sea"),
        locations=(Location(15.5, 41.9, "Red Sea", "YE"),),
    )


def pin_cpu(cpu: int | None) -> int:
    """Pin this process to `cpu` (default: the last one it may use); returns the CPU."""
    chosen = cpu if cpu is not None else max(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {chosen})
    return chosen


def median_time(fn: Callable[[], Any], repeat: int = 5, number: int = 1) -> float:
    """Seconds per call of `fn`: the median over `repeat` samples of `number` calls each."""
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        for _ in range(number):
            fn()
        samples.append((time.perf_counter() - started) / number)
    return statistics.median(samples)


# --------------------------------------------------------------------------------------------
# Output.


def num(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def print_table(
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    title: str | None = None,
    left: Collection[int] = (0,),
    sep: str = " | ",
    rule: str = "-+-",
    rules_after: Collection[int] = (),
) -> None:
    """Columns as wide as their widest cell, left-aligned where `left` says (else right), a rule
    under the header and under each row whose index is in `rules_after`; `title` above, after a
    blank line."""
    widths = [max(len(line[i]) for line in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        return sep.join(
            c.ljust(w) if i in left else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    if title is not None:
        print(f"\n{title}")
    print(line(header))
    print(rule.join("-" * w for w in widths))
    for i, row in enumerate(rows):
        print(line(row))
        if i in rules_after:
            print(rule.join("-" * w for w in widths))

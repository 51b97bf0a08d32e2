"""Test helpers: events, a real `omen serve` subprocess, polling with deadlines (never sleeps)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from omen._proto import service_pb2, signal_pb2
from omen.domain.events import Location, RawEvent

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
OMEN = BIN / "omen"
GRPCURL = BIN / "grpcurl"
TEST_API_KEY = "test-key-0123456789"
NS = 1_000_000_000
T0_NS = 1_795_000_000 * NS  # 2026-11-18T07:33:20Z
_LISTENING = re.compile(r"listening on (\S+):(\d+)")

T = TypeVar("T")


def wait_until(predicate: Callable[[], T], timeout: float, what: str, interval: float = 0.02) -> T:
    """Poll `predicate` until it returns something truthy; fail naming `what` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def raw_event(**overrides: Any) -> RawEvent:
    fields: dict[str, Any] = dict(
        event_id="pm-1",
        source="polymarket",
        market_id="m-1",
        title="Will shipping through the Red Sea be disrupted by Houthi attacks in December?",
        description="Resolves YES if major carriers suspend Red Sea transits.",
        probability=0.62,
        observed_at_ns=T0_NS,
        liquidity_usd=250_000.0,
        volume_usd=1_200_000.0,
        num_traders=420,
        keywords=("shipping", "red sea"),
        locations=(Location(15.5, 41.9, "Red Sea", "YE"),),
        market_url="https://polymarket.com/event/red-sea",
    )
    fields.update(overrides)
    return RawEvent(**fields)


def make_pipeline(ruleset: Any = None, repository: Any = None, hasher: Any = None) -> Any:
    """A pipeline over the packaged ruleset (or `ruleset`) with in-memory adapters (and the
    reference event hash, or `hasher`)."""
    from omen._native import hashing_py
    from omen.adapters.repository.memory import InMemorySignalRepository
    from omen.adapters.ruleset_file import load_ruleset
    from omen.application.pipeline import Pipeline
    from omen.domain.anomaly import RollingRobustStatistics

    ruleset = ruleset if ruleset is not None else load_ruleset()
    return Pipeline(
        ruleset,
        hasher if hasher is not None else hashing_py.event_hash,
        repository if repository is not None else InMemorySignalRepository(),
        RollingRobustStatistics.from_params(ruleset.anomaly),
    )


def event_message(**overrides: Any) -> signal_pb2.RawSignalEvent:
    fields: dict[str, Any] = dict(
        event_id="pm-1",
        source="polymarket",
        market_id="m-1",
        title="Will shipping through the Red Sea be disrupted by Houthi attacks in December?",
        description="Resolves YES if major carriers suspend Red Sea transits.",
        probability=0.62,
        liquidity_usd=250_000.0,
        volume_usd=1_200_000.0,
        num_traders=420,
        keywords=["shipping", "red sea"],
        locations=[signal_pb2.Location(lat=15.5, lon=41.9, name="Red Sea", region_code="YE")],
        market_url="https://polymarket.com/event/red-sea",
    )
    fields.update(overrides)
    return signal_pb2.RawSignalEvent(**{k: v for k, v in fields.items() if v is not None})


def process_request(**overrides: Any) -> service_pb2.ProcessRequest:
    return service_pb2.ProcessRequest(event=event_message(**overrides))


def server_env(**settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMEN_")}
    # Native-code switches are the environment's to choose (CI requires native code).
    for name in ("OMEN_REQUIRE_NATIVE", "OMEN_NO_EXTENSIONS"):
        if name in os.environ:
            env[name] = os.environ[name]
    env.update({"OMEN_API_KEYS": TEST_API_KEY, "OMEN_METRICS_PORT": "0"})
    env.update(settings)
    return env


@dataclass
class ServerProcess:
    """A running `omen serve` and everything it printed to stderr."""

    proc: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)
    port: int = 0
    _reader: threading.Thread | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log(self) -> str:
        return "".join(self.lines)

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)

    def channel(self) -> grpc.Channel:
        return grpc.insecure_channel(self.address)

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def wait(self, timeout: float) -> int:
        code = self.proc.wait(timeout=timeout)
        self._close()
        return code

    def _close(self) -> None:
        if self._reader is not None:
            self._reader.join(timeout=5)
        if self.proc.stderr is not None and not self._reader_alive():
            self.proc.stderr.close()

    def _reader_alive(self) -> bool:
        return self._reader is not None and self._reader.is_alive()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self._close()


def launch(
    args: list[str], env: Mapping[str, str], cwd: Path | None = None, new_session: bool = False
) -> ServerProcess:
    proc = subprocess.Popen(
        args,
        env=dict(env),
        cwd=cwd,
        start_new_session=new_session,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    server = ServerProcess(proc)
    server._reader = threading.Thread(target=server._read, daemon=True)
    server._reader.start()
    return server


def start_server(data_dir: Path, timeout: float = 30.0, **settings: str) -> ServerProcess:
    """Start `omen serve --port 0` and return once it reports SERVING on health."""
    if not OMEN.exists():
        raise AssertionError(f"{OMEN} is missing: install OMEN first (make install)")
    server = launch(
        [str(OMEN), "serve", "--port", "0", "--data-dir", str(data_dir)], server_env(**settings)
    )

    def listening() -> re.Match[str] | None:
        if server.proc.poll() is not None:
            raise AssertionError(
                f"omen serve exited with {server.proc.returncode} before listening:\n{server.log}"
            )
        return _LISTENING.search(server.log)

    try:
        match = wait_until(listening, timeout, "omen serve to log 'listening on'")
        assert match is not None  # wait_until returns only a truthy value
        server.port = int(match.group(2))
        wait_serving(server.address, timeout)
    except BaseException:
        server.stop()
        raise
    return server


def wait_serving(address: str, timeout: float) -> None:
    def serving() -> bool:
        with grpc.insecure_channel(address) as channel:
            try:
                reply = health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(), timeout=1
                )
            except grpc.RpcError:
                return False
            return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)

    wait_until(serving, timeout, f"health SERVING on {address}", interval=0.1)

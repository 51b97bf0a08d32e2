"""The selector honours OMEN_NO_EXTENSIONS and OMEN_REQUIRE_NATIVE (checked in fresh processes)."""

from __future__ import annotations

import os
import subprocess
import sys

PROBE = "import omen.native as n; print(n.IS_NATIVE, n.hashing.__name__)"


def run_probe(**env: str) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in ("OMEN_NO_EXTENSIONS", "OMEN_REQUIRE_NATIVE")
    }
    return subprocess.run(
        [sys.executable, "-c", PROBE],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_no_extensions_forces_the_pure_python_twin():
    result = run_probe(OMEN_NO_EXTENSIONS="1")
    assert result.stdout.split() == ["False", "omen._native.hashing_py"]


def test_require_native_loads_the_compiled_module():
    result = run_probe(OMEN_REQUIRE_NATIVE="1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "omen._native.hashing"]


def test_asking_for_both_is_refused_as_a_contradiction():
    result = run_probe(OMEN_NO_EXTENSIONS="1", OMEN_REQUIRE_NATIVE="1")
    assert result.returncode != 0
    assert "contradict" in result.stderr

"""The selector honours OMEN_NO_EXTENSIONS and OMEN_REQUIRE_NATIVE (checked in fresh processes)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import omen.native

PROBE = "import omen.native as n; print(n.IS_NATIVE, *[getattr(n, m).__name__ for m in n.MODULES])"
# Makes one compiled module unimportable, as a failed or skipped build would.
BLOCK_WAL = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name == "omen._native.wal":
            raise ImportError("simulated missing build")
sys.meta_path.insert(0, Block())
import omen.native as n
print(n.IS_NATIVE, n.wal.__name__, n.crc32c(b"123456789") == 0xE3069283, "|", n.NATIVE_STATUS)
"""


def run(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in ("OMEN_NO_EXTENSIONS", "OMEN_REQUIRE_NATIVE")
    }
    return subprocess.run(
        [sys.executable, "-c", code],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_no_extensions_forces_every_pure_python_twin():
    result = run(PROBE, OMEN_NO_EXTENSIONS="1")
    assert result.stdout.split() == [
        "False",
        "omen._native.hashing_py",
        "omen._native.wal_py",
        "omen._native.anomaly_py",
        "omen._native.textmatch_py",
        "omen._native.decision_py",
        "omen._native.signalwire_py",
        "omen._native.eventwire_py",
        "omen._native.keytable_py",
    ]


def test_require_native_loads_every_compiled_module():
    result = run(PROBE, OMEN_REQUIRE_NATIVE="1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "True",
        "omen._native.hashing",
        "omen._native.wal",
        "omen._native.anomaly",
        "omen._native.textmatch",
        "omen._native.decision",
        "omen._native.signalwire",
        "omen._native.eventwire",
        "omen._native.keytable",
    ]


def test_a_missing_module_falls_back_visibly_without_require_native():
    result = run(BLOCK_WAL)
    assert result.returncode == 0, result.stderr
    flags, status = result.stdout.split("|")
    assert flags.split() == ["False", "omen._native.wal_py", "True"]
    assert "wal: simulated missing build" in status


def test_a_missing_module_is_an_import_error_under_require_native():
    result = run(BLOCK_WAL, OMEN_REQUIRE_NATIVE="1")
    assert result.returncode != 0
    assert "OMEN_REQUIRE_NATIVE=1 but the compiled module omen._native.wal is unavailable" in (
        result.stderr
    )


def test_asking_for_both_is_refused_as_a_contradiction():
    result = run(PROBE, OMEN_NO_EXTENSIONS="1", OMEN_REQUIRE_NATIVE="1")
    assert result.returncode != 0
    assert "contradict" in result.stderr


def test_this_test_run_uses_compiled_code_when_ci_requires_it():
    # faust's habit: fail loudly when the suite would silently test the twins against themselves.
    if os.environ.get("OMEN_REQUIRE_NATIVE") == "1":
        assert omen.native.IS_NATIVE, omen.native.NATIVE_STATUS
    from omen.native import IS_NATIVE, crc32c

    assert crc32c(b"123456789") == 0xE3069283
    assert (omen.native.NATIVE_STATUS == "compiled") == IS_NATIVE


def test_the_selector_lists_every_module_setup_py_compiles():
    # setup.py compiles every omen/_native/*.pyx; each must be selectable and have a twin.
    native_dir = Path(omen.native.__file__).parent / "_native"
    compiled = sorted(p.stem for p in native_dir.glob("*.pyx"))
    assert sorted(omen.native.MODULES) == compiled
    assert all((native_dir / f"{name}_py.py").is_file() for name in compiled)

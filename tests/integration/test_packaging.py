"""`pip install .` and `pip install -e .` into fresh venvs build the extensions and the stubs."""

from __future__ import annotations

import os
import subprocess
import venv
from pathlib import Path

import pytest

from tests.support import ROOT

pytestmark = pytest.mark.slow

PROBE = (
    "import omen.native as n, omen._proto.service_pb2 as s; "
    "print(n.IS_NATIVE, n.hashing.__file__, s.DESCRIPTOR.package)"
)


def fresh_venv(path: Path) -> Path:
    venv.EnvBuilder(with_pip=True).create(path)
    return path / "bin" / "python"


def pip_install(python: Path, *args: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMEN_", "PIP_"))}
    env["PIP_CONSTRAINT"] = str(ROOT / "constraints.txt")
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    result = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def probe(python: Path, cwd: Path) -> list[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMEN_")}
    env["OMEN_REQUIRE_NATIVE"] = "1"
    result = subprocess.run(
        [str(python), "-c", PROBE], env=env, cwd=cwd, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_pip_install_dot_builds_native_code_and_generated_stubs_into_site_packages(tmp_path):
    python = fresh_venv(tmp_path / "venv")
    pip_install(python, str(ROOT))
    is_native, hashing_file, package = probe(python, cwd=tmp_path)  # outside the source tree
    assert (is_native, package) == ("True", "omen.v1")
    assert "site-packages" in hashing_file and hashing_file.endswith(".so")
    assert (python.parent / "omen").exists(), "the console script `omen` must be installed"


def test_pip_install_editable_builds_native_code_in_the_source_tree(tmp_path):
    python = fresh_venv(tmp_path / "venv")
    pip_install(python, "-e", str(ROOT))
    is_native, hashing_file, package = probe(python, cwd=tmp_path)
    assert (is_native, package) == ("True", "omen.v1")
    assert Path(hashing_file).parent == ROOT / "omen" / "_native"

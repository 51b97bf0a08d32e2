"""The Makefile's test target treats "no tests collected" as a failure."""

from __future__ import annotations

import os
import subprocess

from tests.support import ROOT


def test_make_test_fails_when_pytest_collects_nothing():
    env = {**os.environ, "PYTEST_ARGS": "-k no_test_has_this_name_9f2c tests/unit/test_auth.py"}
    result = subprocess.run(
        ["make", "--no-print-directory", "test"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode != 0
    assert "pytest collected no tests" in result.stderr

"""Runtime tuning `omen serve` applies after start-up."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest
from pydantic import ValidationError

from omen.bootstrap import tune_switch_interval
from omen.config import Settings


@pytest.fixture
def switch_interval() -> Iterator[None]:
    before = sys.getswitchinterval()
    yield
    sys.setswitchinterval(before)


def test_the_gil_switch_interval_is_set_in_milliseconds(switch_interval: None) -> None:
    sys.setswitchinterval(0.005)
    tune_switch_interval(Settings().gil_switch_interval_ms)
    assert sys.getswitchinterval() == pytest.approx(0.001)
    tune_switch_interval(2.5)
    assert sys.getswitchinterval() == pytest.approx(0.0025)


def test_zero_keeps_the_interval_python_has(switch_interval: None) -> None:
    sys.setswitchinterval(0.005)
    tune_switch_interval(0)
    assert sys.getswitchinterval() == pytest.approx(0.005)


@pytest.mark.parametrize("value", [-1, 1_001])
def test_the_interval_is_bounded(value: float) -> None:
    with pytest.raises(ValidationError, match="gil_switch_interval_ms"):
        Settings(gil_switch_interval_ms=value)

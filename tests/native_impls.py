"""Loading a compiled module or its twin for parity tests (aiohttp / faust habits).

A missing compiled module skips its tests with the reason, except under OMEN_REQUIRE_NATIVE=1
(CI), where it fails them: a silent fallback must never let the suite test a twin against itself.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

import pytest


def native_required() -> bool:
    return os.environ.get("OMEN_REQUIRE_NATIVE", "").strip().lower() in {"1", "true", "yes", "on"}


def load_implementation(name: str) -> ModuleType:
    """Import `name`; twins (`*_py`) must always import."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        if name.endswith("_py"):
            raise
        if native_required():
            pytest.fail(
                f"OMEN_REQUIRE_NATIVE=1 but the compiled module {name} cannot be imported "
                f"({exc}); build it with `make build`",
                pytrace=False,
            )
        pytest.skip(
            f"compiled module {name} is not built ({exc}); build it with `make build` "
            "(set OMEN_REQUIRE_NATIVE=1 to make this fail)"
        )

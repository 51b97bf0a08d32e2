"""Loading a compiled module or its twin for parity tests (aiohttp / faust habits).

A missing compiled module skips its tests with the reason, except under OMEN_REQUIRE_NATIVE=1
(CI), where it fails them: a silent fallback must never let the suite test a twin against itself.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType
from typing import Any

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


def parity_fixtures(native_name: str, twin_name: str) -> tuple[Any, Any, Any]:
    """The `impl` (each implementation in turn), `native` and `twin` fixtures of a parity test
    module: `impl, native, twin = parity_fixtures("omen._native.x", "omen._native.x_py")`."""

    @pytest.fixture(scope="module", params=[native_name, twin_name], ids=["native", "twin"])
    def impl(request: pytest.FixtureRequest) -> ModuleType:
        return load_implementation(request.param)

    @pytest.fixture(scope="module")
    def native() -> ModuleType:
        return load_implementation(native_name)

    @pytest.fixture(scope="module")
    def twin() -> ModuleType:
        return load_implementation(twin_name)

    return impl, native, twin

"""The one place that picks the compiled hot path or its pure-Python twin.

OMEN_NO_EXTENSIONS=1 forces the twins; OMEN_REQUIRE_NATIVE=1 makes a missing or broken extension
an ImportError instead of a silent fallback (CI sets it, so the suite never tests Python twins
against themselves while believing it tests compiled code).
"""

from __future__ import annotations

import os
from types import ModuleType

from omen._native import hashing_py


class NativeUnavailableError(ImportError):
    """OMEN_REQUIRE_NATIVE=1 is set but a compiled module could not be imported."""


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


NO_EXTENSIONS = _flag("OMEN_NO_EXTENSIONS")
REQUIRE_NATIVE = _flag("OMEN_REQUIRE_NATIVE")

if NO_EXTENSIONS and REQUIRE_NATIVE:
    raise NativeUnavailableError(
        "OMEN_NO_EXTENSIONS=1 and OMEN_REQUIRE_NATIVE=1 contradict each other; unset one"
    )


def _load_native() -> tuple[ModuleType | None, str]:
    if NO_EXTENSIONS:
        return None, "disabled by OMEN_NO_EXTENSIONS=1"
    try:
        from omen._native import hashing
    except ImportError as exc:
        if REQUIRE_NATIVE:
            raise NativeUnavailableError(
                f"OMEN_REQUIRE_NATIVE=1 but the compiled module omen._native.hashing is "
                f"unavailable ({exc}); build it with `make build` or `pip install -e .`"
            ) from exc
        return None, f"compiled modules unavailable: {exc}"
    return hashing, "compiled"


_hashing, NATIVE_STATUS = _load_native()

#: True when every hot-path function below is the compiled one.
IS_NATIVE: bool = _hashing is not None

hashing: ModuleType = _hashing if _hashing is not None else hashing_py
canonical_encoding = hashing.canonical_encoding
event_hash = hashing.event_hash
event_hashes = hashing.event_hashes

__all__ = [
    "IS_NATIVE",
    "NATIVE_STATUS",
    "NativeUnavailableError",
    "canonical_encoding",
    "event_hash",
    "event_hashes",
    "hashing",
    "hashing_py",
]

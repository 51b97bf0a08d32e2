"""The one place that picks the compiled hot path or its pure-Python twins.

OMEN_NO_EXTENSIONS=1 forces the twins; OMEN_REQUIRE_NATIVE=1 makes a missing or broken extension
an ImportError instead of a silent fallback (CI sets it, so the suite never tests Python twins
against themselves while believing it tests compiled code). Callers import from here only:

    from omen.native import crc32c, IS_NATIVE
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

#: The compiled modules of omen/_native; each `name` has a twin `name_py`.
MODULES = (
    "hashing",
    "wal",
    "anomaly",
    "textmatch",
    "decision",
    "signalwire",
    "eventwire",
    "keytable",
)


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


def _load(name: str) -> tuple[ModuleType, str | None]:
    """The compiled module (and None) or the twin (and why the compiled one is not used)."""
    if not NO_EXTENSIONS:
        try:
            return importlib.import_module(f"omen._native.{name}"), None
        except ImportError as exc:
            if REQUIRE_NATIVE:
                raise NativeUnavailableError(
                    f"OMEN_REQUIRE_NATIVE=1 but the compiled module omen._native.{name} is "
                    f"unavailable ({exc}); build it with `make build` or `pip install -e .`"
                ) from exc
            reason = f"{name}: {exc}"
    else:
        reason = "disabled by OMEN_NO_EXTENSIONS=1"
    return importlib.import_module(f"omen._native.{name}_py"), reason


_loaded = {name: _load(name) for name in MODULES}
_missing = sorted({why for _, why in _loaded.values() if why is not None})

#: True when every hot-path module below is the compiled one.
IS_NATIVE: bool = not _missing
#: "compiled", or why the twins are in use.
NATIVE_STATUS: str = "compiled" if IS_NATIVE else "twins in use: " + "; ".join(_missing)

hashing: ModuleType = _loaded["hashing"][0]
wal: ModuleType = _loaded["wal"][0]
anomaly: ModuleType = _loaded["anomaly"][0]
textmatch: ModuleType = _loaded["textmatch"][0]
decision: ModuleType = _loaded["decision"][0]
signalwire: ModuleType = _loaded["signalwire"][0]
eventwire: ModuleType = _loaded["eventwire"][0]
keytable: ModuleType = _loaded["keytable"][0]

canonical_encoding = hashing.canonical_encoding
event_hash = hashing.event_hash
event_hashes = hashing.event_hashes
crc32c = wal.crc32c
#: The omen.domain.analysis.TextMatcherFactory the pipeline tokenises and matches text with.
TextAnalyzer = textmatch.TextAnalyzer
#: The omen.domain.decision.DeciderFactory: geography, rules, classification and the signal.
Decider = decision.Decider
#: Fixed-width byte keys numbered in insertion order, with no Python object per key.
KeyTable = keytable.KeyTable

__all__ = [
    "IS_NATIVE",
    "Decider",
    "KeyTable",
    "MODULES",
    "NATIVE_STATUS",
    "NativeUnavailableError",
    "TextAnalyzer",
    "anomaly",
    "canonical_encoding",
    "crc32c",
    "decision",
    "event_hash",
    "event_hashes",
    "hashing",
    "keytable",
    "textmatch",
    "wal",
]

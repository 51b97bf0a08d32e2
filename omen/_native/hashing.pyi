"""Stubs of the compiled omen._native.hashing (same API as omen._native.hashing_py)."""

from collections.abc import Iterable
from typing import Any, Final, final

MAGIC: Final[bytes]

@final
class WriteBuffer:
    """Growable byte buffer used by the encoder; it has no Python-level methods."""

def canonical_encoding(event: Any) -> bytes:
    """The exact bytes hashed into input_event_hash."""

def event_hash(event: Any) -> str:
    """input_event_hash of one event: 64 lowercase hex chars."""

def event_hashes(events: Iterable[Any]) -> list[str]:
    """input_event_hash of many events, in order (one buffer reused across events)."""

def direct_fields() -> dict[str, bool]:
    """Each field the encoder reads, "Class.field" -> True when it is read from its slot."""

def sha256_implementation() -> str:
    """ "sha-extensions" when this CPU hashes with the x86 SHA instructions, else "hashlib"."""

def sha256_hexdigest(data: bytes) -> str:
    """hashlib.sha256(data).hexdigest(), by the implementation event_hash uses."""

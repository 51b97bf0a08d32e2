"""Stubs of the compiled omen._native.eventwire (same API as omen._native.eventwire_py)."""

from typing import SupportsIndex

from typing_extensions import Buffer

from omen._native.eventwire_py import WireError as WireError
from omen.domain.events import RawEvent
from omen.domain.validation import FieldViolation

def decode_stream_request(
    data: Buffer, received_at_ns: int, max_event_bytes: SupportsIndex
) -> list[tuple[str, RawEvent | None, list[FieldViolation]]]:
    """One (correlation_id, event, violations) per StreamEvent of the serialised
    omen.v1.ProcessStreamRequest `data` (see eventwire_py.py); WireError if its framing is
    broken."""

def request_view(data: Buffer) -> int:
    """ProcessStreamRequest.view of the serialised request `data` (see eventwire_py.py);
    WireError if its own framing is broken."""

def fast_layouts() -> dict[str, bool]:
    """Each value class -> True when it is built without running its __init__ (slots.pxd)."""

"""Stubs of the compiled omen._native.signalwire (same API as omen._native.signalwire_py)."""

from collections.abc import Callable, Iterable
from typing import Any

from omen.domain.signals import OmenSignal, ProcessResult

def encode_signal(signal: OmenSignal) -> bytes:
    """`signal_to_proto(signal).SerializeToString(deterministic=True)`, byte for byte."""

def encode_emitted_result(
    correlation_id: str,
    signal_id: str,
    signal_bytes: bytes | None,
    partition: str,
    sequence: int,
) -> bytes:
    """The serialised omen.v1.StreamResult reporting an EMITTED signal, its ledger position
    appended to `signal_bytes` (encode_signal() of the signal without that position); None:
    without the signal."""

def encode_stream_results(
    correlation_ids: Iterable[str],
    items: Iterable[ProcessResult | bytes],
    take: Callable[[OmenSignal], bytes] | None,
    left_out: list[str] | None,
    outcomes: dict[Any, int],
    records: dict[str, bytes] | None = None,
) -> bytes:
    """One omen.v1.ProcessStreamResponse's results: a bytes entry as it is, a ProcessResult as
    convert.fill_stream_result describes it (an EMITTED signal from `take`, or left out with its
    id appended to `left_out` when `take` is None); outcomes counted into `outcomes`; a
    signal whose SIGNAL record `records` holds (by id) taken out of it and written from the
    record's tail, without calling `take`."""

def encode_delimited(field_number: int, payload: bytes) -> bytes:
    """`payload` as a length-delimited field: tag (wire type 2), varint length, payload."""

def encode_results(results: Iterable[bytes]) -> bytes:
    """One omen.v1.ProcessStreamResponse: encode_delimited(1, r) of each result, concatenated."""

def direct_fields() -> dict[str, bool]:
    """Each field read from a domain object, "Class.field" -> True when it is read straight
    from its slot (compiled module only; the twin has no such path)."""

class SignalDecodeError(ValueError):
    """Bytes upb rejects as an omen.v1.OmenSignal ("malformed OmenSignal: <what> at byte N")."""

def decode_signal(data: bytes | bytearray | memoryview) -> OmenSignal:
    """The domain OmenSignal of a serialised omen.v1.OmenSignal, equal to signal_from_proto of
    the parsed message; SignalDecodeError where upb rejects the bytes, the domain enum's
    ValueError for an enum number it lacks."""

def fast_layouts() -> dict[str, bool]:
    """Each class decode_signal() builds -> True when built without running its __init__
    (compiled module only)."""

def encode_signal_record(signal: OmenSignal, probability: float, market_key: str) -> bytes | None:
    """The ledger's SIGNAL record body (encode_signal(signal) its tail) in one pass, or None
    when the values are not of the pipeline's form (the caller then uses
    records.encode_signal)."""

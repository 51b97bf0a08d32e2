"""The compiled omen._native.signalwire.decode_signal and its twin signalwire_py.decode_signal read
a serialised omen.v1.OmenSignal into exactly what upb + proto_codec.signal_from_proto make of it:
an equal OmenSignal with the same types (compared with ==, with repr(), which tells -0.0 from 0.0
and an IntEnum member from a plain int, and field by field by type), or a ValueError where the
reference fails: SignalDecodeError where upb's ParseFromString rejects the bytes, the enum's own
ValueError (same message) where signal_from_proto rejects a number the domain lacks.

Every test taking `impl` runs against both modules. When the compiled module cannot be imported
its tests are skipped, unless OMEN_REQUIRE_NATIVE=1 is set (as in CI): then they fail. Tests
taking `native` and `twin` compare the two directly, error messages included.
"""

from __future__ import annotations

import dataclasses
import functools
import gc
import math
import random
import struct
from collections.abc import Callable
from dataclasses import replace
from types import ModuleType
from typing import Any

import pytest
from google.protobuf.message import DecodeError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from omen import native as selected
from omen._native.signalwire_py import SignalDecodeError
from omen._proto import signal_pb2
from omen.adapters import proto_codec
from omen.adapters.proto_codec import signal_from_bytes, signal_from_proto, signal_to_proto
from omen.domain.events import Location
from omen.domain.signals import (
    ConfidenceFactor,
    Evidence,
    GeographicContext,
    ImpactDirection,
    ImpactHints,
    OmenSignal,
    RuleStatus,
    TemporalContext,
    TimeHorizon,
    ValidationResult,
)
from tests.native_impls import parity_fixtures
from tests.protowire import f64, group, key, ld, mutate, text, vi
from tests.signal_samples import U64_MAX, full_signal
from tests.unit.test_signalwire_parity import real_signals, signals

impl, native, twin = parity_fixtures("omen._native.signalwire", "omen._native.signalwire_py")

NS = 1_000_000_000
PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# --- The reference: upb, then signal_from_proto ------------------------------------------------


def reference(data: bytes) -> OmenSignal:
    message = signal_pb2.OmenSignal()
    message.ParseFromString(data)
    return signal_from_proto(message)


Outcome = tuple[str, Any]


def outcome(decode: Callable[[bytes], OmenSignal], data: bytes) -> Outcome:
    """("ok", signal), ("malformed", message or None for upb) or ("ValueError", message)."""
    try:
        return "ok", decode(data)
    except DecodeError:
        return "malformed", None
    except SignalDecodeError as exc:
        return "malformed", str(exc)
    except ValueError as exc:
        return "ValueError", str(exc)


def shape(value: Any) -> Any:
    """The types of `value` and of everything in it."""
    if isinstance(value, tuple):
        return ("tuple", tuple(shape(v) for v in value))
    if dataclasses.is_dataclass(value):
        return (
            type(value),
            tuple(shape(getattr(value, f.name)) for f in dataclasses.fields(value)),
        )
    return type(value)


def same(a: Any, b: Any) -> bool:
    """Equal, with equal reprs and types throughout (NaN is unequal to itself: then the reprs
    decide)."""
    return repr(a) == repr(b) and shape(a) == shape(b) and (a == b or "nan" in repr(a))


def agrees(got: Outcome, expected: Outcome) -> bool:
    """A decoder's outcome against the reference's: the same signal, the same enum ValueError,
    or malformed where upb rejects the bytes."""
    if got[0] != expected[0]:
        return False
    if got[0] == "ok":
        return same(got[1], expected[1])
    if got[0] == "ValueError":
        return bool(got[1] == expected[1])
    return True


def check(module: ModuleType, data: bytes) -> Outcome:
    """`module` decodes `data` as the reference does; the outcome."""
    expected = outcome(reference, data)
    got = outcome(module.decode_signal, data)
    assert agrees(got, expected), (got, expected, data)
    return got


def decoded(module: ModuleType, data: bytes) -> OmenSignal:
    """The signal, which must equal the reference's."""
    kind, signal = check(module, data)
    assert kind == "ok", signal
    assert isinstance(signal, OmenSignal)
    return signal


# --- Wire building -----------------------------------------------------------------------------


def fixed32(number: int, data: bytes = b"\x01\x02\x03\x04") -> bytes:
    return key(number, 5) + data


def minimal() -> bytes:
    """The least a signal needs to decode at all: every enum set to a member (0 is none)."""
    return vi(11, 1) + vi(14, 1) + vi(15, 1) + vi(16, 1) + ld(18, vi(1, 1)) + ld(21, vi(2, 1))


def top_level_fields(data: bytes) -> list[bytes]:
    """The bytes of each top-level field of a valid encoding, in order."""

    def read(pos: int) -> tuple[int, int]:
        value = shift = 0
        while True:
            byte = data[pos]
            pos += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                return value, pos

    out, pos = [], 0
    while pos < len(data):
        start = pos
        tag, pos = read(pos)
        wire_type = tag & 7
        if wire_type == 0:
            pos = read(pos)[1]
        elif wire_type == 1:
            pos += 8
        else:
            assert wire_type == 2
            size, pos = read(pos)
            pos += size
        out.append(data[start:pos])
    return out


def _encode(signal: OmenSignal) -> bytes:
    data: bytes = signal_to_proto(signal).SerializeToString(deterministic=True)
    return data


FULL = _encode(full_signal())


# --- Real signals and generated ones round-trip --------------------------------------------------


def test_real_signals_decode_as_upb_does(impl: ModuleType) -> None:
    for s in real_signals():
        data = _encode(s)
        assert decoded(impl, data) == s, s.signal_id


def test_real_signals_with_a_ledger_position_decode_as_upb_does(impl: ModuleType) -> None:
    for i, s in enumerate(real_signals()[:300]):
        placed = replace(s, ledger_partition="2026-11-26" + "-late" * (i % 2), ledger_sequence=i)
        assert decoded(impl, impl.encode_signal(placed)) == placed, s.signal_id


def test_the_encoders_output_round_trips(impl: ModuleType) -> None:
    for s in (full_signal(), *real_signals()[:200]):
        assert impl.decode_signal(impl.encode_signal(s)) == s


def test_every_field_set(impl: ModuleType) -> None:
    s = full_signal()
    got = decoded(impl, FULL)
    assert got == s
    assert shape(got) == shape(s)
    assert got.ledger_sequence == U64_MAX
    assert got.generated_at_ns == -1 and got.temporal.resolution_date_ns == 1_800_000_000 * NS + 5


def test_native_and_twin_agree_on_real_signals(native: ModuleType, twin: ModuleType) -> None:
    for s in real_signals():
        data = native.encode_signal(s)
        a, b = native.decode_signal(data), twin.decode_signal(data)
        assert same(a, b)


@PROPERTY
@given(signal=signals(valid=True))
def test_generated_signals_round_trip(impl: ModuleType, signal: OmenSignal) -> None:
    data = _encode(signal)
    got = decoded(impl, data)
    assert got == signal
    assert shape(got) == shape(signal)


@PROPERTY
@given(signal=signals())
def test_any_generated_signal_decodes_or_fails_as_upb_does(
    impl: ModuleType, signal: OmenSignal
) -> None:
    # Enum numbers outside the domain (ValueError, the enum's message), NaNs, -0.0, huge times.
    check(impl, _encode(signal))


def test_many_entries_in_every_repeated_field(impl: ModuleType) -> None:
    # Beyond the compiled module's inline buffers (8 entries per field), and one shared buffer
    # each for interleaved occurrences.
    for n in (0, 1, 7, 8, 9, 17, 300):
        s = full_signal(
            confidence_factors=tuple(ConfidenceFactor(f"f{i}", i / 7, 0.5) for i in range(n)),
            evidence=tuple(Evidence("kind", f"d{i}", float(i), "") for i in range(n)),
            validation_results=tuple(
                ValidationResult(f"r{i % 5}", "1.0.0", RuleStatus.WARNING, 0.5, "")
                for i in range(n)
            ),
            geographic=GeographicContext(
                tuple(f"R{i}" for i in range(n)),
                tuple("Hormuz" for _ in range(n)),
                tuple(Location(float(i), -float(i), f"n{i}", "IR") for i in range(n)),
            ),
            impact_hints=ImpactHints(
                tuple(f"d{i}" for i in range(n)), ImpactDirection.POSITIVE, ("k",) * n, "r"
            ),
        )
        data = _encode(s)
        assert decoded(impl, data) == s
        shuffled = top_level_fields(data)
        random.Random(n).shuffle(shuffled)
        check(impl, b"".join(shuffled))


def test_large_strings(impl: ModuleType) -> None:
    for size in (0, 1, 2, 63, 64, 65, 127, 128, 16_384, 2_100_000):
        s = full_signal(
            description="é" * size,
            impact_hints=ImpactHints(("x" * size,), ImpactDirection.NEGATIVE, ("y" * size,), ""),
        )
        assert decoded(impl, _encode(s)) == s, size


def test_vocabulary_strings_that_collide_are_told_apart(impl: ModuleType) -> None:
    # Strings of one length sharing their first and last eight bytes (the compiled module's
    # cache hashes those): each is decoded as itself, however often they alternate.
    names = ["aaaaaaaa" + m + "bbbbbbbb" for m in "XYZ"] + ["ab", "ba", "abc", "acb", "é" * 4]
    results = tuple(
        ValidationResult(names[i % len(names)], names[(i * 7) % len(names)], 1, 1.0, "")
        for i in range(40)
    )
    s = full_signal(
        validation_results=results,
        impact_hints=ImpactHints(tuple(names), ImpactDirection.NEUTRAL, tuple(reversed(names)), ""),
    )
    for _ in range(3):
        assert decoded(impl, _encode(s)) == s


# --- Wire variants against upb ------------------------------------------------------------------

FULL_FIELDS = top_level_fields(FULL)

VARIANTS: dict[str, bytes] = {
    "canonical": FULL,
    "fields reversed": b"".join(reversed(FULL_FIELDS)),
    "fields shuffled": b"".join(random.Random(5).sample(FULL_FIELDS, len(FULL_FIELDS))),
    "scalars repeated, the last wins": FULL
    + text(1, "sig-2")
    + text(6, "")
    + f64(8, 0.25)
    + vi(9, 0)
    + f64(10, -0.0)
    + vi(11, 2)
    + vi(14, 3)
    + vi(15, 4)
    + vi(16, 1)
    + text(22, "2027.1.0")
    + text(26, "p")
    + vi(27, 5),
    "a string overwritten before the enums": text(6, "first") + minimal() + text(6, "second"),
    "submessages merge": minimal()
    + ld(13, f64(1, 0.25))
    + ld(13, f64(2, 0.75))
    + ld(17, text(1, "IR") + ld(3, f64(1, 1.0)))
    + ld(17, text(2, "Hormuz") + text(1, "OM") + ld(3, text(3, "x")))
    + ld(18, f64(3, 2.5) + ld(2, vi(1, 5)))
    + ld(18, vi(1, 4) + ld(2, vi(2, 7)) + f64(4, 1.5))
    + ld(21, text(1, "shipping") + text(4, "rk"))
    + ld(21, text(3, "kw") + vi(2, 3) + text(1, "energy"))
    + ld(24, vi(1, 100))
    + ld(24, vi(2, 9))
    + ld(25, vi(2, 1) + vi(1, 7) + vi(1, 8)),
    "repeated submessages append, each parsed alone": minimal()
    + ld(12, text(1, "a") + f64(2, 1.0))
    + ld(20, text(1, "r") + vi(3, 2))
    + ld(12, f64(3, 0.5))
    + ld(19, text(1, "k") + f64(3, 2.0) + text(4, "u"))
    + ld(20, vi(3, 4))
    + ld(19, b"")
    + ld(12, b""),
    "empty submessages": minimal() + ld(13, b"") + ld(17, b"") + ld(24, b"") + ld(25, b""),
    "resolution date absent": minimal(),
    "resolution date empty is zero": minimal() + ld(18, ld(2, b"")),
    "resolution date split over two temporals": minimal()
    + ld(18, ld(2, vi(1, 1_800_000_000)))
    + ld(18, vi(1, 2)),
    "timestamps beyond int64 nanoseconds": minimal()
    + ld(24, vi(1, (1 << 63) - 1) + vi(2, 999_999_999))
    + ld(25, vi(1, -(1 << 63)))
    + ld(18, vi(1, 1) + ld(2, vi(1, 9_000_000_001) + vi(2, -1))),
    "timestamps at the int64 fast-path edges": minimal()
    + ld(24, vi(1, 9_000_000_000) + vi(2, 2**31 - 1))
    + ld(25, vi(1, -9_000_000_000) + vi(2, -(2**31)))
    + ld(18, vi(1, 1) + ld(2, vi(1, -9_000_000_001))),
    "nanos keep their low 32 bits, signed": minimal()
    + ld(24, vi(2, (1 << 32) + 5))
    + ld(25, vi(2, (1 << 64) - 1)),
    "enums keep their low 32 bits, signed": vi(11, (1 << 32) + 1)
    + vi(14, (7 << 32) + 2)
    + vi(15, (1 << 63) + 3)
    + vi(16, 1)
    + ld(18, vi(1, (1 << 40) + 5))
    + ld(21, vi(2, (1 << 33) + 3))
    + ld(20, vi(3, (1 << 35) + 4)),
    "a bool is any non-zero varint": minimal() + vi(9, 1 << 63),
    "a bool of 2": minimal() + vi(9, 2),
    "a bool back to false": minimal() + vi(9, 1) + vi(9, 0),
    "ledger_sequence in ten bytes": minimal() + key(27, 0) + b"\xff" * 9 + b"\x01",
    "ledger_sequence's bits beyond 64 dropped": minimal() + key(27, 0) + b"\xff" * 9 + b"\x7f",
    "over-long varints and lengths": minimal()
    + key(9, 0)
    + b"\x81\x80\x80\x80\x80\x80\x00"
    + key(6, 2)
    + b"\x82\x80\x80\x80\x00"
    + b"Ti"
    + b"\x88\x80\x80\x80\x00"
    + b"\x02",
    "unknown fields of every wire type": minimal()
    + vi(28, 1)
    + f64(29, 1.0)
    + ld(30, b"\xff\xfe")
    + group(31, vi(1, 1) + ld(2, b"\xff") + group(3, f64(4, 0.0)) + fixed32(5))
    + fixed32(32)
    + vi(536_870_911, 1)
    + group(33, vi(0, 5) + group(0)),
    "unknown fields inside every submessage": minimal()
    + ld(12, text(1, "f") + vi(9, 1) + group(8) + fixed32(7) + ld(6, b"\xff"))
    + ld(13, f64(1, 0.5) + vi(3, 1) + fixed32(4) + group(5, f64(1, 1.0)))
    + ld(17, text(1, "R") + vi(4, 1) + ld(3, text(3, "n") + vi(5, 1) + group(6)) + fixed32(9))
    + ld(18, vi(1, 2) + ld(2, vi(1, 5) + f64(3, 1.0) + group(4)) + ld(7, b"\x80"))
    + ld(19, text(1, "k") + vi(5, 1) + group(6, group(7)))
    + ld(20, text(1, "r") + vi(3, 1) + f64(6, 1.0) + fixed32(7))
    + ld(21, text(3, "kw") + f64(5, 1.0) + group(6))
    + ld(24, vi(1, 5) + ld(3, b"\xff") + group(4))
    + ld(25, f64(3, 1.0) + vi(2, 1)),
    "known fields with another wire type are unknown fields": minimal()
    + vi(1, 5)
    + f64(6, 1.0)
    + vi(8, 1)
    + fixed32(8)
    + ld(8, struct.pack("<d", 0.9))
    + ld(9, b"\x01")
    + f64(9, 1.0)
    + ld(11, vi(1, 2))
    + f64(14, 1.0)
    + vi(12, 1)
    + group(12)
    + group(13, f64(1, 1.0))
    + vi(17, 1)
    + fixed32(18)
    + f64(19, 1.0)
    + group(20)
    + vi(21, 5)
    + vi(24, 5)
    + ld(27, vi(1, 5))
    + ld(12, ld(1, b"") + vi(1, 3) + ld(2, struct.pack("<d", 1.0)))
    + ld(13, vi(1, 1) + ld(2, b"12345678"))
    + ld(17, vi(1, 1) + vi(3, 1) + f64(2, 1.0) + ld(3, vi(1, 1) + vi(3, 1)))
    + ld(18, f64(1, 1.0) + vi(2, 1) + group(2) + vi(3, 1) + ld(4, b"x" * 8))
    + ld(19, vi(1, 1) + vi(3, 1) + ld(3, b"x" * 8))
    + ld(20, vi(1, 1) + ld(3, b"\x01") + vi(4, 1) + vi(5, 1) + vi(3, 2))
    + ld(21, vi(1, 1) + ld(2, b"\x01") + vi(4, 1))
    + ld(24, f64(1, 1.0) + ld(2, b"\x01")),
    "field 0 inside a group": minimal() + group(40, vi(0, 1) + ld(0, b"")),
    "groups nested 100 deep at the top": minimal() + key(40, 3) * 100 + key(40, 4) * 100,
    "groups nested 99 deep in geographic": minimal() + ld(17, key(40, 3) * 99 + key(40, 4) * 99),
    "groups nested 98 deep in a coordinate": minimal()
    + ld(17, ld(3, key(40, 3) * 98 + key(40, 4) * 98)),
    "groups nested 98 deep in a resolution date": minimal()
    + ld(18, ld(2, key(40, 3) * 98 + key(40, 4) * 98)),
    "non-ASCII and four-byte UTF-8": minimal()
    + text(6, "Détroit 🚢 \U0010ffff \x00")
    + ld(17, text(1, "€€") + ld(3, text(3, "ü" * 40)))
    + ld(20, text(1, "règle") + vi(3, 1))
    + ld(21, text(3, "😀😀")),
    "doubles keep their bits": minimal()
    + key(8, 1)
    + bytes.fromhex("010000000000f87f")
    + f64(10, -0.0)
    + ld(13, f64(1, math.inf) + f64(2, -math.inf))
    + ld(18, vi(1, 1) + f64(3, 5e-324) + key(4, 1) + bytes.fromhex("0100000000f0ffff")),
}


@pytest.mark.parametrize("data", list(VARIANTS.values()), ids=list(VARIANTS))
def test_wire_variants_decode_as_upb_does(impl: ModuleType, data: bytes) -> None:
    kind, value = check(impl, data)
    assert kind == "ok", value


def test_the_variants_exercise_what_they_claim(impl: ModuleType) -> None:
    # A few spot checks that the table above tests what its names say (upb and the decoders
    # agree on each already).
    merged = impl.decode_signal(VARIANTS["submessages merge"])
    assert (merged.confidence_interval.lower, merged.confidence_interval.upper) == (0.25, 0.75)
    assert merged.geographic.regions == ("IR", "OM") and merged.geographic.chokepoints == (
        "Hormuz",
    )
    assert len(merged.geographic.coordinates) == 2
    assert merged.temporal == TemporalContext(TimeHorizon.LONG_TERM, 5 * NS + 7, 2.5, 1.5)
    assert merged.impact_hints == ImpactHints(
        ("shipping", "energy"), ImpactDirection.NEUTRAL, ("kw",), "rk"
    )
    assert (merged.observed_at_ns, merged.generated_at_ns) == (100 * NS + 9, 8 * NS + 1)
    last = impl.decode_signal(VARIANTS["scalars repeated, the last wins"])
    assert (last.signal_id, last.title, last.probability, last.ledger_sequence) == (
        "sig-2",
        "",
        0.25,
        5,
    )
    assert math.copysign(1.0, last.confidence_score) == -1.0
    assert (
        impl.decode_signal(VARIANTS["resolution date absent"]).temporal.resolution_date_ns is None
    )
    assert (
        impl.decode_signal(VARIANTS["resolution date empty is zero"]).temporal.resolution_date_ns
        == 0
    )
    assert (
        impl.decode_signal(VARIANTS["a bool is any non-zero varint"]).probability_is_estimate
        is True
    )
    beyond = impl.decode_signal(VARIANTS["timestamps beyond int64 nanoseconds"])
    assert beyond.observed_at_ns == ((1 << 63) - 1) * NS + 999_999_999
    assert impl.decode_signal(VARIANTS["a string overwritten before the enums"]).title == "second"


# --- Enum numbers the domain lacks: signal_from_proto's ValueError --------------------------------

ENUM_ERRORS = {
    "empty input: every enum 0": b"",
    "confidence_level 99": minimal() + vi(11, 99),
    "confidence_level -1": minimal() + vi(11, -1),
    "category 0": minimal() + vi(14, 0),
    "signal_type 14": minimal() + vi(15, 14),
    "status 2**31 - 1": minimal() + vi(16, 2**31 - 1),
    "horizon 0 (temporal absent)": vi(11, 1) + vi(14, 1) + vi(15, 1) + vi(16, 1) + ld(21, vi(2, 1)),
    "direction 4": minimal() + ld(21, vi(2, 4)),
    "the second rule's status": minimal() + ld(20, vi(3, 1)) + ld(20, vi(3, 9)) + ld(20, vi(3, 8)),
    "a rule status and the direction: the rule first": minimal()
    + ld(21, vi(2, 7))
    + ld(20, vi(3, 0)),
    "level, category and horizon: the level first": minimal()
    + ld(18, vi(1, 9))
    + vi(14, 9)
    + vi(11, 9),
    "horizon before rule statuses": minimal() + ld(20, vi(3, 5)) + ld(18, vi(1, 6)),
}


@pytest.mark.parametrize("data", list(ENUM_ERRORS.values()), ids=list(ENUM_ERRORS))
def test_enum_numbers_the_domain_lacks_raise_its_value_error(impl: ModuleType, data: bytes) -> None:
    with pytest.raises(ValueError, match="is not a valid") as caught:
        reference(data)
    kind, message = check(impl, data)
    assert (kind, message) == ("ValueError", str(caught.value))
    with pytest.raises(ValueError) as raised:
        impl.decode_signal(data)
    assert not isinstance(raised.value, SignalDecodeError)


def test_malformed_bytes_win_over_enum_errors(impl: ModuleType) -> None:
    # upb parses everything before signal_from_proto looks at an enum.
    with pytest.raises(SignalDecodeError):
        impl.decode_signal(vi(11, 99) + b"\x0a")
    with pytest.raises(SignalDecodeError):
        impl.decode_signal(minimal() + ld(20, vi(3, 9)) + ld(6, b"\xff"))


# --- Malformed input ---------------------------------------------------------------------------

MALFORMED = {
    b"\x0a": "truncated length at byte 1",
    b"\x0a\x80": "truncated length at byte 1",
    b"\x0a\x05ab": "length 5 exceeds the 2 bytes left at byte 1",
    b"\x0a\x80\x80\x80\x80\x80\x00": "length longer than 5 bytes at byte 1",
    b"\x00\x01": "field number 0 at byte 0",
    b"\x02\x00": "field number 0 at byte 0",
    b"\x48": "truncated varint at byte 1",
    b"\x48" + b"\xff" * 10 + b"\x01": "varint longer than 10 bytes at byte 1",
    b"\xd8\x01" + b"\xff" * 9: "truncated varint at byte 2",
    b"\x0c": "unexpected end-group tag 1 at byte 0",
    b"\x0b": "group 1 not terminated at byte 0",
    b"\x0b\x14": "unexpected end-group tag 2 at byte 1",
    b"\x0e": "invalid wire type 6 at byte 0",
    b"\x0f": "invalid wire type 7 at byte 0",
    b"\x41\x00\x00": "truncated fixed64 at byte 1",
    b"\x09\x00": "truncated fixed64 at byte 1",
    b"\x0d\x00\x00\x00": "truncated fixed32 at byte 1",
    b"\x88": "truncated tag at byte 0",
    b"\x88\x80\x80\x80\x80\x00": "invalid tag at byte 0",
    b"\x88\x80\x80\x80\x10": "invalid tag at byte 0",
    b"\x03\x04": "field number 0 at byte 0",
    ld(13, b"\x09\x00"): "truncated fixed64 at byte 3",
    ld(17, b"\x0a\x05ab"): "length 5 exceeds the 2 bytes left at byte 4",
    ld(17, ld(3, b"\x00")): "field number 0 at byte 5",
    ld(18, ld(2, b"\x08")): "truncated varint at byte 6",
    ld(18, key(1, 0)): "truncated varint at byte 4",
    ld(21, b"\x0c"): "unexpected end-group tag 1 at byte 3",
    ld(24, b"\x0f"): "invalid wire type 7 at byte 3",
    minimal() + ld(20, ld(5, b"ok") + b"\x2a"): "truncated length at byte 27",
    text(6, "ok") + ld(6, b"ok\xed\xa0\x80"): "invalid UTF-8 in title at byte 8",
    ld(6, b"\xff") + text(6, "overwritten"): "invalid UTF-8 in title at byte 2",
    ld(1, b"\xc0\x80"): "invalid UTF-8 in signal_id at byte 2",
    ld(26, b"2026-\xff"): "invalid UTF-8 in ledger_partition at byte 8",
    ld(12, ld(1, b"\xf5")): "invalid UTF-8 in confidence_factors.name at byte 4",
    ld(17, ld(1, b"a\xf4\x90\x80\x80")): "invalid UTF-8 in geographic.regions at byte 6",
    ld(17, ld(2, b"\x80")): "invalid UTF-8 in geographic.chokepoints at byte 5",
    ld(17, ld(3, ld(3, b"ab\xe2\x82"))): "invalid UTF-8 in geographic.coordinates.name at byte 9",
    ld(17, ld(3, ld(4, b"\xed\xbf\xbf"))): (
        "invalid UTF-8 in geographic.coordinates.region_code at byte 7"
    ),
    ld(19, ld(1, b"\xff")): "invalid UTF-8 in evidence.kind at byte 5",
    ld(19, ld(2, b"\xff")): "invalid UTF-8 in evidence.description at byte 5",
    ld(19, ld(4, b"\xff")): "invalid UTF-8 in evidence.url at byte 5",
    ld(20, ld(1, b"\xff")): "invalid UTF-8 in validation_results.rule_name at byte 5",
    ld(20, ld(2, b"\xff")): "invalid UTF-8 in validation_results.rule_version at byte 5",
    ld(20, ld(5, b"\xff")): "invalid UTF-8 in validation_results.reason at byte 5",
    ld(21, ld(1, b"\xff")): "invalid UTF-8 in impact_hints.domains at byte 5",
    ld(21, ld(3, b"\xff")): "invalid UTF-8 in impact_hints.keywords at byte 5",
    ld(21, ld(4, b"\xff")): "invalid UTF-8 in impact_hints.routing_key at byte 5",
    minimal() + key(40, 3) * 101 + key(40, 4) * 101: "nesting deeper than 100 levels at byte 219",
    ld(17, key(40, 3) * 100 + key(40, 4) * 100): "nesting deeper than 100 levels at byte 202",
    ld(17, ld(3, key(40, 3) * 99 + key(40, 4) * 99)): (
        "nesting deeper than 100 levels at byte 203"
    ),
    ld(18, ld(2, key(40, 3) * 99 + key(40, 4) * 99)): (
        "nesting deeper than 100 levels at byte 203"
    ),
    key(40, 3) + key(41, 4): "unexpected end-group tag 41 at byte 2",
    key(40, 3) + key(0, 4) + key(40, 4): "unexpected end-group tag 0 at byte 2",
}


@pytest.mark.parametrize("data", list(MALFORMED), ids=list(MALFORMED.values()))
def test_malformed_bytes_raise_signal_decode_error(impl: ModuleType, data: bytes) -> None:
    with pytest.raises(DecodeError):
        reference(data)
    with pytest.raises(impl.SignalDecodeError) as caught:
        impl.decode_signal(data)
    assert isinstance(caught.value, ValueError)
    assert str(caught.value) == "malformed OmenSignal: " + MALFORMED[data]


def test_the_native_module_raises_the_twins_error(native: ModuleType, twin: ModuleType) -> None:
    assert native.SignalDecodeError is twin.SignalDecodeError is SignalDecodeError
    assert issubclass(SignalDecodeError, ValueError)


def test_every_truncation_of_a_signal(native: ModuleType, twin: ModuleType) -> None:
    for end in range(len(FULL) + 1):
        data = FULL[:end]
        got = outcome(native.decode_signal, data)
        assert agrees(got, outcome(reference, data)), end
        assert same(got, outcome(twin.decode_signal, data)), end


# --- Fuzz: mutated encodings ----------------------------------------------------------------------

FUZZ_POOL = [FULL, minimal(), VARIANTS["unknown fields inside every submessage"]]


@functools.cache
def fuzz_pool() -> list[bytes]:
    return FUZZ_POOL + [_encode(s) for s in real_signals()[:5]]


def assert_all_agree(native: ModuleType, twin: ModuleType, data: bytes) -> None:
    """Native and twin agree exactly (messages included), and with upb + signal_from_proto on
    accept or reject and on the result."""
    got = outcome(native.decode_signal, data)
    assert same(got, outcome(twin.decode_signal, data)), data
    assert agrees(got, outcome(reference, data)), (got, data)


@settings(max_examples=600, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_fuzz_mutated_signals(native: ModuleType, twin: ModuleType, seed: int) -> None:
    rng = random.Random(seed)
    assert_all_agree(native, twin, mutate(rng, rng.choice(fuzz_pool())))


@st.composite
def wire_fields(draw: st.DrawFn, depth: int = 0) -> bytes:
    """Fields with random numbers (the signal's and others), wire types and values, some of
    them submessages of fields like these."""
    parts = []
    for _ in range(draw(st.integers(0, 8 if depth == 0 else 3))):
        number = draw(st.sampled_from([1, 2, 3, 4, 5, 6, 8, 9, 11, 12, 13, 17, 18, 20, 24, 27, 30]))
        wire_type = draw(st.sampled_from([0, 1, 2, 2, 2, 3, 5]))
        if wire_type == 0:
            value = draw(st.integers(0, 2**64 - 1) | st.sampled_from([0, 1, 3, 2**31, 2**63]))
            parts.append(vi(number, value))
        elif wire_type == 1:
            parts.append(key(number, 1) + draw(st.binary(min_size=8, max_size=8)))
        elif wire_type == 5:
            parts.append(fixed32(number, draw(st.binary(min_size=4, max_size=4))))
        elif wire_type == 3:
            parts.append(group(number, draw(wire_fields(depth + 1)) if depth < 2 else b""))
        elif depth < 2 and draw(st.booleans()):
            parts.append(ld(number, draw(wire_fields(depth + 1))))
        else:
            parts.append(
                ld(number, draw(st.text(max_size=6)).encode() or draw(st.binary(max_size=6)))
            )
    return b"".join(parts)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(before=wire_fields(), after=wire_fields())
def test_hypothesis_wire(native: ModuleType, twin: ModuleType, before: bytes, after: bytes) -> None:
    assert_all_agree(native, twin, before + minimal() + after)


# UTF-8 edge bytes: ASCII, continuation bytes, lead bytes at the edges of UTF-8's ranges
# (overlong forms, surrogates, beyond U+10FFFF).
UTF8_BYTES = st.lists(
    st.sampled_from(bytes.fromhex("41 80 8f 90 9f a0 bf c0 c1 c2 df e0 ed ef f0 f4 f5 ff")),
    max_size=6,
).map(bytes)


@settings(max_examples=300, deadline=None)
@given(title=UTF8_BYTES, region=UTF8_BYTES, name=UTF8_BYTES, rule=UTF8_BYTES)
def test_utf8_is_checked_as_upb_checks_it(
    native: ModuleType, twin: ModuleType, title: bytes, region: bytes, name: bytes, rule: bytes
) -> None:
    data = (
        minimal()
        + ld(6, title)
        + ld(17, ld(1, region) + ld(3, ld(3, name)))
        + ld(20, ld(1, rule) + vi(3, 1))
    )
    assert_all_agree(native, twin, data)


# --- Arguments, the compiled module's objects, and proto_codec -------------------------------


def test_any_bytes_like_input(impl: ModuleType) -> None:
    expected = impl.decode_signal(FULL)
    for data in (bytearray(FULL), memoryview(FULL), memoryview(b"xx" + FULL)[2:]):
        assert same(impl.decode_signal(data), expected)
    for wrong in ("text", None, 5, 1.5):
        with pytest.raises(TypeError):
            impl.decode_signal(wrong)


def test_values_are_built_without_init_and_untracked(native: ModuleType) -> None:
    assert all(native.fast_layouts().values()), native.fast_layouts()
    s = native.decode_signal(VARIANTS["submessages merge"] + ld(19, text(1, "k")))
    assert type(s) is OmenSignal and type(s.geographic.coordinates[0]) is Location
    parts = [
        s,
        s.confidence_factors,
        s.confidence_interval,
        s.geographic,
        *s.geographic.coordinates,
        s.geographic.coordinates,
        s.geographic.regions,
        s.temporal,
        s.evidence,
        *s.evidence,
        s.validation_results,
        s.impact_hints,
        s.impact_hints.keywords,
    ]
    assert not any(gc.is_tracked(p) for p in parts)
    # The ledger fills the position in after decoding (ledger.signals.signal_of).
    s.ledger_partition, s.ledger_sequence = "2026-11-26", 7
    assert (s.ledger_partition, s.ledger_sequence) == ("2026-11-26", 7)
    gc.collect()


def test_signal_from_bytes_decodes_with_signalwire() -> None:
    # The compiled decoder, or the twin under OMEN_NO_EXTENSIONS=1 (omen.native picks).
    assert proto_codec._decode_signal is selected.signalwire.decode_signal
    for s in real_signals()[:100]:
        data = _encode(s)
        assert same(signal_from_bytes(data), reference(data))
    with pytest.raises(ValueError, match="malformed OmenSignal"):
        signal_from_bytes(FULL[:-1])

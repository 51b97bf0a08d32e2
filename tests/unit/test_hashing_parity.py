"""The compiled omen._native.hashing and its pure-Python twin hashing_py agree byte for byte.

Every test taking `impl` runs against both modules. When the compiled module cannot be imported
its tests are skipped, unless OMEN_REQUIRE_NATIVE=1 is set (as in CI): then they fail, so a broken
build can never pass by testing the twin against itself.

The expected bytes below are written out by hand from the encoding documented on
OmenSignal.input_event_hash in proto/omen/v1/signal.proto, not produced by either implementation.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.machinery
import os
import platform
from collections.abc import Iterator
from types import ModuleType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from omen.domain.events import Location, MarketState, Movement, RawEvent
from tests.native_impls import native_required, parity_fixtures

NATIVE = "omen._native.hashing"
TWIN = "omen._native.hashing_py"

PROPERTY_SETTINGS = settings(max_examples=300, deadline=None)


# Each implementation in turn (`impl`), or one of them; a missing compiled module fails under
# OMEN_REQUIRE_NATIVE=1 and skips with the reason otherwise.
impl, native, twin = parity_fixtures(NATIVE, TWIN)


def _event(**overrides: object) -> RawEvent:
    fields: dict[str, object] = {
        "event_id": "e",
        "source": "s",
        "title": "t",
        "probability": 1.0,
        "observed_at_ns": 0,
    }
    fields.update(overrides)
    return RawEvent(**fields)  # type: ignore[arg-type]


# --- Known answers --------------------------------------------------------------------------

MINIMAL_EVENT = _event()

MINIMAL_ENCODING = b"OMEN-EVENT-V1\n" + bytes.fromhex(
    "01 00000001 65"  # event_id "e"
    "02 00000001 73"  # source "s"
    "03 00000000"  # market_id ""
    "04 00000001 74"  # title "t"
    "05 00000000"  # description ""
    "06 3ff0000000000000"  # probability 1.0
    "07 00"  # movement unset
    "08 0000000000000000"  # liquidity_usd 0.0
    "09 0000000000000000"  # volume_usd 0.0
    "0a 0000000000000000"  # num_traders 0
    "0b 00000000"  # no keywords
    "0c 00000000"  # no locations
    "0d 00000000"  # market_url ""
    "0e 00"  # created_at unset
    "0f 00"  # resolution_date unset
    "11 00000000"  # no source_metrics
    "13 00000000"  # market_state UNSPECIFIED
    "14 00000000"  # no outcome_prices
)

FULL_EVENT = RawEvent(
    event_id="e1",
    source="pm",
    title="Hi",
    probability=0.5,
    observed_at_ns=123,
    market_id="",
    description="é",
    movement=Movement(previous=0.25, delta=-0.5, window_hours=24.0),
    liquidity_usd=1000.0,
    volume_usd=2.0,
    num_traders=3,
    keywords=("b", "a", "b"),
    locations=(Location(lat=1.0, lon=-0.0, name="X"),),
    market_url="u",
    created_at_ns=1_500_000_000,
    resolution_date_ns=None,
    source_metrics=(("z", 1.0), ("a", 0.5)),
    raw_payload=b"not hashed",
    market_state=MarketState.CLOSED,
    outcome_prices=(0.5, 0.25),
)

FULL_ENCODING = b"OMEN-EVENT-V1\n" + bytes.fromhex(
    "01 00000002 6531"  # event_id "e1"
    "02 00000002 706d"  # source "pm"
    "03 00000000"  # market_id ""
    "04 00000002 4869"  # title "Hi"
    "05 00000002 c3a9"  # description "é": two UTF-8 bytes
    "06 3fe0000000000000"  # probability 0.5
    "07 01 3fd0000000000000 bfe0000000000000 4038000000000000"  # movement 0.25, -0.5, 24.0
    "08 408f400000000000"  # liquidity_usd 1000.0
    "09 4000000000000000"  # volume_usd 2.0
    "0a 0000000000000003"  # num_traders 3
    "0b 00000002 00000001 61 00000001 62"  # keywords {"a", "b"}: sorted, duplicate dropped
    "0c 00000001 3ff0000000000000 0000000000000000 00000001 58 00000000"  # (1.0, +0.0, "X", "")
    "0d 00000001 75"  # market_url "u"
    "0e 01 0000000000000001 1dcd6500"  # created_at 1.5 s: 1 s + 500,000,000 ns
    "0f 00"  # resolution_date unset
    "11 00000002 00000001 61 3fe0000000000000 00000001 7a 3ff0000000000000"  # a=0.5, z=1.0
    "13 00000002"  # market_state CLOSED
    "14 00000002 3fe0000000000000 3fd0000000000000"  # outcome_prices 0.5, 0.25
)

# SHA-256 of FULL_ENCODING (the bytes above), pinned so that a change of hashing is noticed too.
FULL_HASH = "9a0b728a4374cf9a5961f4ea80bfda897ad077a1d34a31caae3103fffc438e7b"


def test_both_modules_export_the_same_magic(impl: ModuleType) -> None:
    assert impl.MAGIC == b"OMEN-EVENT-V1\n"


def test_a_minimal_event_encodes_to_the_documented_bytes(impl: ModuleType) -> None:
    encoding = impl.canonical_encoding(MINIMAL_EVENT)
    assert type(encoding) is bytes
    assert encoding == MINIMAL_ENCODING


def test_an_event_with_every_field_encodes_to_the_documented_bytes(impl: ModuleType) -> None:
    assert impl.canonical_encoding(FULL_EVENT) == FULL_ENCODING


def test_the_hash_is_the_lowercase_hex_sha256_of_the_encoding(impl: ModuleType) -> None:
    assert hashlib.sha256(FULL_ENCODING).hexdigest() == FULL_HASH
    digest = impl.event_hash(FULL_EVENT)
    assert type(digest) is str
    assert digest == FULL_HASH
    assert impl.event_hash(MINIMAL_EVENT) == hashlib.sha256(MINIMAL_ENCODING).hexdigest()


# Tail of MINIMAL_EVENT's encoding after the created_at value.
_TAIL_AFTER_CREATED_AT = bytes.fromhex("0f 00 11 00000000 13 00000000 14 00000000")


@pytest.mark.parametrize(
    ("created_at_ns", "seconds_and_nanos"),
    [
        (0, "0000000000000000 00000000"),
        (1, "0000000000000000 00000001"),
        (-1, "ffffffffffffffff 3b9ac9ff"),  # -1 s + 999,999,999 ns
        (-999_999_999, "ffffffffffffffff 00000001"),  # -1 s + 1 ns
        (-1_000_000_000, "ffffffffffffffff 00000000"),  # exactly -1 s
        (-1_500_000_000, "fffffffffffffffe 1dcd6500"),  # -2 s + 500,000,000 ns
        (-(2**63), "fffffffdda3e82fb 08a7f200"),  # i64 minimum: -9,223,372,037 s + 145,224,192 ns
        (2**63, "0000000225c17d04 32f2d800"),  # past i64 ns: 9,223,372,036 s + 854,775,808 ns
    ],
    ids=[
        "zero",
        "one-ns",
        "minus-one-ns",
        "minus-999999999-ns",
        "minus-one-s",
        "minus-1.5-s",
        "i64-min",
        "past-i64-max",
    ],
)
def test_timestamps_before_1970_encode_with_floor_division(
    impl: ModuleType, created_at_ns: int, seconds_and_nanos: str
) -> None:
    encoding = impl.canonical_encoding(_event(created_at_ns=created_at_ns))
    expected = bytes.fromhex("0e 01" + seconds_and_nanos) + _TAIL_AFTER_CREATED_AT
    assert encoding.endswith(expected)


def test_a_resolution_date_before_1970_encodes_with_floor_division(impl: ModuleType) -> None:
    encoding = impl.canonical_encoding(_event(resolution_date_ns=-1))
    assert encoding.endswith(
        bytes.fromhex("0e 00 0f 01 ffffffffffffffff 3b9ac9ff 11 00000000 13 00000000 14 00000000")
    )


# --- What identity includes and excludes ----------------------------------------------------


def test_observed_at_and_raw_payload_do_not_change_the_hash(impl: ModuleType) -> None:
    a = _event(observed_at_ns=1, raw_payload=b"")
    b = _event(observed_at_ns=1_700_000_000_000_000_000, raw_payload=b'{"x": 1}')
    assert impl.canonical_encoding(a) == impl.canonical_encoding(b)
    assert impl.event_hash(a) == impl.event_hash(b)


def test_a_one_cent_change_of_liquidity_changes_the_hash(impl: ModuleType) -> None:
    assert impl.event_hash(_event(liquidity_usd=1000.00)) != impl.event_hash(
        _event(liquidity_usd=1000.01)
    )


def test_keyword_order_and_duplicates_do_not_change_the_hash(impl: ModuleType) -> None:
    a = _event(keywords=("suez", "canal", "shipping"))
    b = _event(keywords=("shipping", "suez", "canal", "suez", "shipping"))
    assert impl.event_hash(a) == impl.event_hash(b)
    assert impl.event_hash(a) != impl.event_hash(_event(keywords=("suez", "canal")))


def test_keywords_sort_by_their_utf8_bytes_whatever_their_type(
    native: ModuleType, twin: ModuleType
) -> None:
    # Exact strs are sorted as strs (UTF-8 keeps code point order: U+00E9 < U+FF21 < U+1F600,
    # and so do their encodings, although "\uff21" sorts after "\U0001f600" in UTF-16); a str
    # subclass among them sends the compiled encoder down the bytes path. Both ways must give
    # the twin's bytes.
    class Text(str):
        pass

    words = ("\U0001f600", "\uff21", "é", "z", "A", "é")
    for keywords in (words, (*words[:3], Text("é"), Text("zz"))):
        e = _event(keywords=keywords)
        assert native.canonical_encoding(e) == twin.canonical_encoding(e), keywords


def test_every_field_is_read_straight_from_its_slot(native: ModuleType) -> None:
    # A False here would mean the compiled encoder silently reads that field through getattr().
    assert native.direct_fields() and all(native.direct_fields().values())


def test_source_metric_order_does_not_change_the_hash(impl: ModuleType) -> None:
    a = _event(source_metrics=(("spread", 0.01), ("best_bid", 0.4), ("é", 1.0)))
    b = _event(source_metrics=(("é", 1.0), ("best_bid", 0.4), ("spread", 0.01)))
    assert impl.event_hash(a) == impl.event_hash(b)


def test_location_order_changes_the_hash(impl: ModuleType) -> None:
    x, y = Location(30.0, 32.3, "Suez"), Location(1.3, 103.8, "Singapore")
    assert impl.event_hash(_event(locations=(x, y))) != impl.event_hash(_event(locations=(y, x)))


def test_negative_zero_and_zero_give_the_same_hash(impl: ModuleType) -> None:
    def with_zero(z: float) -> RawEvent:
        return _event(
            probability=z,
            movement=Movement(z, z, z),
            liquidity_usd=z,
            volume_usd=z,
            locations=(Location(z, z),),
            source_metrics=(("m", z),),
            outcome_prices=(z, z),
        )

    assert impl.canonical_encoding(with_zero(-0.0)) == impl.canonical_encoding(with_zero(0.0))
    assert impl.event_hash(with_zero(-0.0)) == impl.event_hash(with_zero(0.0))


def test_a_missing_and_an_empty_movement_differ(impl: ModuleType) -> None:
    assert impl.event_hash(_event(movement=None)) != impl.event_hash(
        _event(movement=Movement(0.0, 0.0, 0.0))
    )


# --- event_hashes ---------------------------------------------------------------------------


def test_event_hashes_of_nothing_is_an_empty_list(impl: ModuleType) -> None:
    assert impl.event_hashes([]) == []


def test_event_hashes_equals_event_hash_of_each_event_in_order(impl: ModuleType) -> None:
    events = [
        FULL_EVENT,
        MINIMAL_EVENT,
        _event(description="ü" * 20_000),  # larger than the native inline buffer
        _event(title="small again"),
        FULL_EVENT,
    ]
    assert impl.event_hashes(events) == [impl.event_hash(e) for e in events]


def test_event_hashes_accepts_any_iterable(impl: ModuleType) -> None:
    events = (MINIMAL_EVENT, FULL_EVENT)

    def generate() -> Iterator[RawEvent]:
        yield from events

    assert impl.event_hashes(generate()) == impl.event_hashes(list(events))
    assert impl.event_hashes(events) == [impl.event_hash(e) for e in events]


def test_a_failing_event_does_not_affect_later_calls(impl: ModuleType) -> None:
    with pytest.raises(ValueError, match="out of range for the canonical encoding"):
        impl.event_hashes([FULL_EVENT, _event(num_traders=2**63), FULL_EVENT])
    assert impl.event_hashes([FULL_EVENT]) == [FULL_HASH]


# --- Errors: both modules raise the same type ------------------------------------------------


class _HugeSequence:
    """Reports more items than a u32 count can hold."""

    def __len__(self) -> int:
        return 2**32

    def __iter__(self) -> Iterator[Location]:
        raise AssertionError("the count must be checked before iterating")


@pytest.mark.parametrize(
    "overrides",
    [
        {"num_traders": 2**63},
        {"num_traders": -(2**63) - 1},
        {"market_state": -1},
        {"market_state": 2**32},
        {"created_at_ns": 2**63 * 10**9},
        {"resolution_date_ns": -(2**63) * 10**9 - 1},
        {"locations": _HugeSequence()},
        {"outcome_prices": _HugeSequence()},
    ],
    ids=[
        "num-traders-above-i64",
        "num-traders-below-i64",
        "negative-market-state",
        "market-state-above-u32",
        "created-at-seconds-above-i64",
        "resolution-date-seconds-below-i64",
        "locations-count-above-u32",
        "outcome-prices-count-above-u32",
    ],
)
def test_a_value_outside_its_fixed_width_field_raises_value_error(
    impl: ModuleType, overrides: dict[str, object]
) -> None:
    event = _event(**overrides)
    with pytest.raises(ValueError, match="out of range for the canonical encoding"):
        impl.canonical_encoding(event)
    with pytest.raises(ValueError, match="out of range for the canonical encoding"):
        impl.event_hash(event)


def test_i64_limits_themselves_are_accepted(impl: ModuleType) -> None:
    for value in (2**63 - 1, -(2**63)):
        assert impl.canonical_encoding(_event(num_traders=value))
    assert impl.canonical_encoding(_event(market_state=2**32 - 1))


def test_a_lone_surrogate_raises_unicode_encode_error(impl: ModuleType) -> None:
    for event in (
        _event(title="\ud800"),
        _event(keywords=("\udfff",)),
        _event(source_metrics=(("\ud800", 1.0),)),
    ):
        with pytest.raises(UnicodeEncodeError):
            impl.canonical_encoding(event)


def test_a_non_string_text_field_raises_attribute_error(impl: ModuleType) -> None:
    with pytest.raises(AttributeError):
        impl.canonical_encoding(_event(market_url=None))


def test_a_non_numeric_float_field_raises_type_error(impl: ModuleType) -> None:
    with pytest.raises(TypeError):
        impl.canonical_encoding(_event(liquidity_usd=None))


def test_non_finite_floats_encode_their_exact_bits(impl: ModuleType) -> None:
    encoding = impl.canonical_encoding(_event(probability=float("inf"), liquidity_usd=-1e308 * 10))
    assert bytes.fromhex("06 7ff0000000000000") in encoding
    assert bytes.fromhex("08 fff0000000000000") in encoding


# --- Native against twin, on random events --------------------------------------------------

texts = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.characters(min_codepoint=0x10000), max_size=8),  # non-BMP only
    st.sampled_from(["", "é", "😀", "\U0010ffff", "\x00", "e\u0301", "Z", "z"]),
)
finite_floats = st.floats(allow_nan=False, allow_infinity=False)
# Events are duck-typed: ints (and bools) in float fields go through float(), as in the twin.
numbers = st.one_of(finite_floats, st.integers(-(2**53), 2**53), st.booleans())
i64 = st.integers(-(2**63), 2**63 - 1)
timestamps = st.one_of(
    st.none(),
    i64,
    # Outside i64 nanoseconds but with seconds inside i64: the native slow path.
    st.integers(-(2**63) * 10**9, (2**63 - 1) * 10**9 + 999_999_999),
)
movements = st.one_of(st.none(), st.builds(Movement, numbers, numbers, numbers))
locations = st.lists(st.builds(Location, numbers, numbers, texts, texts), max_size=4).map(tuple)
source_metrics = st.lists(st.tuples(texts, finite_floats), max_size=5).map(tuple)
market_states = st.one_of(st.sampled_from(MarketState), st.integers(0, 2**32 - 1))

events = st.builds(
    RawEvent,
    event_id=texts,
    source=texts,
    title=texts,
    probability=numbers,
    observed_at_ns=i64,
    market_id=texts,
    description=st.one_of(texts, st.text(max_size=700)),
    movement=movements,
    liquidity_usd=numbers,
    volume_usd=numbers,
    num_traders=i64,
    keywords=st.lists(texts, max_size=6).map(tuple),
    locations=locations,
    market_url=texts,
    created_at_ns=timestamps,
    resolution_date_ns=timestamps,
    source_metrics=source_metrics,
    raw_payload=st.binary(max_size=16),
    market_state=market_states,
    outcome_prices=st.lists(finite_floats, max_size=5).map(tuple),
)


@PROPERTY_SETTINGS
@given(event=events)
def test_native_and_twin_encode_random_events_byte_for_byte(
    native: ModuleType, twin: ModuleType, event: RawEvent
) -> None:
    encoding = twin.canonical_encoding(event)
    assert native.canonical_encoding(event) == encoding
    digest = hashlib.sha256(encoding).hexdigest()
    assert native.event_hash(event) == digest
    assert twin.event_hash(event) == digest


@PROPERTY_SETTINGS
@given(batch=st.lists(events, max_size=6))
def test_native_and_twin_hash_random_batches_alike(
    native: ModuleType, twin: ModuleType, batch: list[RawEvent]
) -> None:
    expected = [twin.event_hash(e) for e in batch]
    assert twin.event_hashes(batch) == expected
    assert native.event_hashes(batch) == expected


@PROPERTY_SETTINGS
@given(values=st.lists(st.floats(), min_size=4, max_size=4))
def test_native_and_twin_encode_any_float_bits_alike(
    native: ModuleType, twin: ModuleType, values: list[float]
) -> None:
    # NaN (any payload) and infinities are invalid on the wire, but must still hash identically.
    p, m, lq, price = values
    event = _event(
        probability=p,
        movement=Movement(m, m, m),
        liquidity_usd=lq,
        outcome_prices=(price,),
        source_metrics=(("k", p),),
    )
    assert native.canonical_encoding(event) == twin.canonical_encoding(event)


@PROPERTY_SETTINGS
@given(keywords=st.lists(texts, max_size=8), data=st.data())
def test_keyword_permutations_and_repeats_never_change_the_hash(
    impl: ModuleType, keywords: list[str], data: st.DataObject
) -> None:
    shuffled = data.draw(st.permutations(keywords + keywords[: len(keywords) // 2]))
    assert impl.event_hash(_event(keywords=tuple(keywords))) == impl.event_hash(
        _event(keywords=tuple(shuffled))
    )


# --- SHA-256 (sha256.h) ---------------------------------------------------------------------


def test_the_native_module_hashes_with_the_sha_instructions_where_the_cpu_has_them(
    native: ModuleType,
) -> None:
    assert native.sha256_implementation() in {"sha-extensions", "hashlib"}
    flags = ""
    if os.path.exists("/proc/cpuinfo"):
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            flags = cpuinfo.read()
    if platform.machine() in {"x86_64", "AMD64"} and all(
        f" {flag}" in flags for flag in ("sha_ni", "sse4_1", "ssse3")
    ):
        assert native.sha256_implementation() == "sha-extensions"


# Every length up to three blocks covers the padding's cases (the length fits in the last block
# or needs one more: 55 / 56 bytes past a block edge) and the multi-block loop; then longer ones.
SHA_LENGTHS = [*range(200), 447, 448, 511, 512, 513, 1000, 4096, 65_537]


@pytest.mark.parametrize("size", SHA_LENGTHS)
def test_sha256_equals_hashlib_for_every_padding_case(native: ModuleType, size: int) -> None:
    data = bytes((i * 131 + size) & 0xFF for i in range(size))
    assert native.sha256_hexdigest(data) == hashlib.sha256(data).hexdigest()


@PROPERTY_SETTINGS
@given(data=st.binary(max_size=3000))
def test_sha256_equals_hashlib_for_any_bytes(native: ModuleType, data: bytes) -> None:
    assert native.sha256_hexdigest(data) == hashlib.sha256(data).hexdigest()


# --- The selector ---------------------------------------------------------------------------


def test_the_selector_reports_which_implementation_it_picked() -> None:
    import omen.native

    if native_required():
        # CI: a silent fallback to the twin must fail the build.
        assert omen.native.IS_NATIVE is True, omen.native.NATIVE_STATUS
    expected = NATIVE if omen.native.IS_NATIVE else "omen._native.hashing_py"
    assert omen.native.hashing.__name__ == expected, omen.native.NATIVE_STATUS
    assert omen.native.event_hash is omen.native.hashing.event_hash
    if omen.native.IS_NATIVE:
        path = omen.native.hashing.__file__
        assert path is not None
        assert path.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES)), path

"""The compiled omen._native.wal and its pure-Python twin wal_py frame, verify and classify WAL
records identically, as documented in wal_py.py.

Every test taking `impl` runs against both modules. When the compiled module cannot be imported
its tests are skipped, unless OMEN_REQUIRE_NATIVE=1 is set (as in CI): then they fail, so a broken
build can never pass by testing the twin against itself.

Known answers come from RFC 3720 (B.4) and, for whole frames, from google-crc32c, an independent
implementation; neither module produced them.
"""

from __future__ import annotations

import importlib
import mmap
import os
import pickle
import platform
import random
import struct
from array import array
from collections.abc import Callable, Iterator
from types import ModuleType

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tests.native_impls import parity_fixtures

NATIVE = "omen._native.wal"
TWIN = "omen._native.wal_py"

KIB = 1024
MIB = 1024 * 1024
MAX_RECORD_BYTES = 64 * MIB
U32_MAX = 0xFFFFFFFF

SMALL_SETTINGS = settings(max_examples=300, deadline=None)
# The twin checksums about 10 MB/s: examples up to 1 MiB are kept few.
LARGE_SETTINGS = settings(max_examples=50, deadline=None)


# Each implementation in turn (`impl`), or one of them; a missing compiled module fails under
# OMEN_REQUIRE_NATIVE=1 and skips with the reason otherwise.
impl, native, twin = parity_fixtures(NATIVE, TWIN)


@pytest.fixture(scope="module", params=["crc32c", "crc32c_table"])
def crc(impl: ModuleType, request: pytest.FixtureRequest) -> Callable[..., int]:
    """Each CRC-32C path of each implementation (natively: dispatched and table-only)."""
    function: Callable[..., int] = getattr(impl, request.param)
    return function


def _random_bytes(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


def _header(length: int, stored: int, record_type: int) -> bytes:
    return struct.pack("<IIB", length, stored, record_type)


def _flip(data: bytes, bit: int) -> bytes:
    out = bytearray(data)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


def _outcome(call: Callable[[], object]) -> object:
    """A call's value, or its exception's type and arguments (for comparing implementations)."""
    try:
        return call()
    except Exception as exc:
        return (type(exc), str(exc))


# --- CRC-32C --------------------------------------------------------------------------------

RFC_3720_ANSWERS = [
    pytest.param(bytes(32), 0x8A9136AA, id="32-zero-bytes"),
    pytest.param(b"\xff" * 32, 0x62A8AB43, id="32-0xff-bytes"),
    pytest.param(bytes(range(32)), 0x46DD794E, id="32-incrementing-bytes"),
    pytest.param(bytes(range(31, -1, -1)), 0x113FDB5C, id="32-decrementing-bytes"),
    pytest.param(b"123456789", 0xE3069283, id="check-string"),
    pytest.param(b"", 0, id="empty"),
]


@pytest.mark.parametrize(("data", "expected"), RFC_3720_ANSWERS)
def test_crc32c_gives_the_rfc_3720_answers(
    crc: Callable[..., int], data: bytes, expected: int
) -> None:
    assert crc(data) == expected
    assert crc(bytearray(data)) == expected
    assert crc(memoryview(data)) == expected


def test_the_native_module_uses_the_crc_instruction_where_the_cpu_has_it(
    native: ModuleType,
) -> None:
    assert native.CRC32C_IMPLEMENTATION in {"sse4.2", "table"}
    flags = ""
    if os.path.exists("/proc/cpuinfo"):
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            flags = cpuinfo.read()
    if platform.machine() in {"x86_64", "AMD64"} and " sse4_2" in flags:
        assert native.CRC32C_IMPLEMENTATION == "sse4.2"


def test_the_twin_says_it_is_pure_python(twin: ModuleType) -> None:
    assert twin.CRC32C_IMPLEMENTATION == "python"


# Lengths around every boundary of the native code: the 8-byte alignment prologue, the 8-byte
# loop, three streams of 256 bytes (768) and of 8 KiB (24,576), and their tails.
BOUNDARY_LENGTHS = [
    *range(81),
    255,
    256,
    257,
    767,
    768,
    769,
    775,
    776,
    1023,
    1024,
    1537,
    4096,
    3 * 8192 - 1,
    3 * 8192,
    3 * 8192 + 1,
    3 * 8192 + 768 + 11,
    6 * 8192 + 5,
]


def test_both_native_paths_match_the_twin_at_every_boundary_length_and_alignment(
    native: ModuleType, twin: ModuleType
) -> None:
    source = bytearray(_random_bytes(6 * 8192 + 5 + 8, seed=1))
    view = memoryview(source)
    checked = 0
    for length in BOUNDARY_LENGTHS:
        for start_value in (0, 0x12345678):
            expected = twin.crc32c(view[:length], start_value)
            for shift in range(8):  # every alignment of the start address
                window = view[shift : shift + length]
                expected_shifted = twin.crc32c(window, start_value) if shift else expected
                assert native.crc32c(window, start_value) == expected_shifted, (length, shift)
                assert native.crc32c_table(window, start_value) == expected_shifted, (length, shift)
                checked += 1
    assert checked == len(BOUNDARY_LENGTHS) * 2 * 8


@SMALL_SETTINGS
@given(a=st.binary(max_size=2000), b=st.binary(max_size=2000))
def test_crc32c_chains_like_zlib_crc32(crc: Callable[..., int], a: bytes, b: bytes) -> None:
    assert crc(b, crc(a)) == crc(a + b)
    assert crc(b"", crc(a)) == crc(a)


def _buffers_of(data: bytes) -> list[object]:
    """The same bytes as every kind of C-contiguous buffer the ledger might hand over."""
    assert data and len(data) % 16 == 0, "the multi-byte item views need whole items"
    anonymous = mmap.mmap(-1, len(data))
    anonymous[:] = data
    padded = bytearray(b"xyz" + data)
    return [
        data,
        bytearray(data),
        memoryview(data),
        memoryview(padded)[3:],  # an unaligned slice
        memoryview(bytearray(data)).toreadonly(),
        array("B", data),
        array("I", data),  # items of 4 bytes: the raw bytes count, as for zlib.crc32
        np.frombuffer(data, dtype=np.uint8),
        np.frombuffer(data, dtype=">u4").reshape(4, -1),  # 2-D, big-endian items
        anonymous,
    ]


def test_crc32c_reads_the_raw_bytes_of_every_contiguous_buffer(crc: Callable[..., int]) -> None:
    data = _random_bytes(1024, seed=2)
    expected = crc(data)
    for buffer in _buffers_of(data):
        assert crc(buffer) == expected, type(buffer)
        assert crc(buffer, 0xDEADBEEF) == crc(data, 0xDEADBEEF), type(buffer)


NON_CONTIGUOUS = [
    pytest.param(lambda: memoryview(bytes(range(64)))[::2], id="strided-memoryview"),
    pytest.param(
        lambda: np.asfortranarray(np.arange(64, dtype=np.uint8).reshape(8, 8)), id="fortran-array"
    ),
    pytest.param(lambda: np.arange(64, dtype=np.uint8)[::3], id="strided-array"),
]


@pytest.mark.parametrize("make", NON_CONTIGUOUS)
def test_non_contiguous_buffers_raise_buffer_error_everywhere(
    impl: ModuleType, make: Callable[[], object]
) -> None:
    buffer = make()
    calls: list[Callable[[], object]] = [
        lambda: impl.crc32c(buffer),
        lambda: impl.crc32c_table(buffer),
        lambda: impl.encode(1, buffer),
        lambda: impl.encode_many([(1, buffer)]),
        lambda: impl.decode(buffer),
        lambda: impl.scan(buffer),
    ]
    for call in calls:
        with pytest.raises(BufferError, match="C-contiguous"):
            call()


@pytest.mark.parametrize("value", ["abc", None, 12, [1, 2], 1.5])
def test_non_buffers_raise_type_error_everywhere(impl: ModuleType, value: object) -> None:
    calls: list[Callable[[], object]] = [
        lambda: impl.crc32c(value),
        lambda: impl.crc32c_table(value),
        lambda: impl.encode(1, value),
        lambda: impl.encode_many([(1, value)]),
        lambda: impl.decode(value),
        lambda: impl.scan(value),
    ]
    for call in calls:
        with pytest.raises(TypeError):
            call()


def test_the_start_value_must_be_an_integer_that_fits_u32(crc: Callable[..., int]) -> None:
    assert crc(b"a", U32_MAX) == crc(b"a", np.uint32(U32_MAX))
    assert crc(b"a", True) == crc(b"a", 1)
    for value in (-1, U32_MAX + 1, 2**64, -(2**70)):
        with pytest.raises(ValueError, match=r"out of range 0\.\.0xFFFFFFFF"):
            crc(b"a", value)
    for wrong in ("1", 1.0, None):
        with pytest.raises(TypeError):
            crc(b"a", wrong)


# --- Masking --------------------------------------------------------------------------------


def _leveldb_mask(crc: int) -> int:
    return ((((crc >> 15) | (crc << 17)) & U32_MAX) + 0xA282EAD8) & U32_MAX


@pytest.mark.parametrize("value", [0, 1, 0x7FFF, 0x8000, 0xE3069283, 0x8A9136AA, U32_MAX])
def test_mask_rotates_right_by_15_bits_and_adds_the_leveldb_constant(
    impl: ModuleType, value: int
) -> None:
    assert impl.mask(value) == _leveldb_mask(value)
    assert impl.unmask(impl.mask(value)) == value
    assert impl.mask(0) == 0xA282EAD8


@SMALL_SETTINGS
@given(value=st.integers(0, U32_MAX))
def test_unmask_inverts_mask(impl: ModuleType, value: int) -> None:
    assert impl.unmask(impl.mask(value)) == value
    assert impl.mask(impl.unmask(value)) == value


def test_mask_and_unmask_refuse_values_outside_u32(impl: ModuleType) -> None:
    for function in (impl.mask, impl.unmask):
        for value in (-1, U32_MAX + 1):
            with pytest.raises(ValueError, match="out of range"):
                function(value)
        with pytest.raises(TypeError):
            function("1")


# --- Encoding -------------------------------------------------------------------------------

# (type, payload, frame): checksums computed with google-crc32c, not with either module.
KNOWN_FRAMES = [
    pytest.param(1, b"hello", "05000000 8262d552 01 68656c6c6f", id="hello"),
    pytest.param(7, b"", "00000000 480e40c8 07", id="empty-payload"),
    pytest.param(255, b"\x00\x00\x00", "03000000 b7e9c55d ff 000000", id="type-255-zero-payload"),
]


@pytest.mark.parametrize(("record_type", "payload", "frame"), KNOWN_FRAMES)
def test_a_record_encodes_to_the_documented_bytes(
    impl: ModuleType, record_type: int, payload: bytes, frame: str
) -> None:
    expected = bytes.fromhex(frame)
    assert impl.encode(record_type, payload) == expected
    assert impl.encode_many([(record_type, payload)]) == expected
    assert impl.decode(expected) == (record_type, payload, len(expected))


def test_the_header_is_length_masked_checksum_and_type_in_little_endian(impl: ModuleType) -> None:
    payload = _random_bytes(300, seed=3)
    frame = impl.encode(9, payload)
    length, stored, record_type = struct.unpack_from("<IIB", frame)
    assert (length, record_type, frame[9:]) == (300, 9, payload)
    assert impl.HEADER_BYTES == 9
    covered = frame[0:4] + frame[8:]  # the length, the type and the payload
    assert stored == impl.mask(impl.crc32c(covered))


def test_encode_accepts_every_contiguous_buffer(impl: ModuleType) -> None:
    data = _random_bytes(512, seed=4)
    expected = impl.encode(3, data)
    for buffer in _buffers_of(data):
        assert impl.encode(3, buffer) == expected, type(buffer)
        assert impl.encode_many([(3, buffer)]) == expected, type(buffer)


def test_encode_many_is_the_concatenation_of_encode(impl: ModuleType) -> None:
    records = [(1, b""), (2, b"a"), (3, bytearray(b"bc" * 100)), (255, memoryview(b"tail"))]
    assert impl.encode_many(records) == b"".join(impl.encode(t, p) for t, p in records)
    assert impl.encode_many(iter(records)) == impl.encode_many(records)
    assert impl.encode_many([]) == b""


def test_every_type_from_1_to_255_round_trips(impl: ModuleType) -> None:
    frames = impl.encode_many((t, bytes([t])) for t in range(1, 256))
    offset = 0
    for expected_type in range(1, 256):
        record_type, payload, offset = impl.decode(frames, offset)
        assert (record_type, payload) == (expected_type, bytes([expected_type]))
    assert offset == len(frames)


@pytest.mark.parametrize("record_type", [0, 256, -1, 2**70])
def test_a_type_outside_1_to_255_raises_value_error(impl: ModuleType, record_type: int) -> None:
    with pytest.raises(ValueError, match=r"out of range 1\.\.255"):
        impl.encode(record_type, b"x")
    with pytest.raises(ValueError, match=r"^record 1: record type .* out of range 1\.\.255"):
        impl.encode_many([(1, b"ok"), (record_type, b"x")])


def test_a_type_that_is_not_an_integer_raises_type_error(impl: ModuleType) -> None:
    for record_type in ("1", 1.0, None):
        with pytest.raises(TypeError):
            impl.encode(record_type, b"x")
        with pytest.raises(TypeError):
            impl.encode_many([(record_type, b"x")])
    assert impl.encode(True, b"x") == impl.encode(1, b"x")


def test_encode_many_refuses_items_that_are_not_pairs(impl: ModuleType) -> None:
    for items in ([(1,)], [(1, b"a", b"b")], [5]):
        with pytest.raises((TypeError, ValueError)):
            impl.encode_many(items)


@pytest.fixture(scope="module")
def oversize_payload() -> memoryview:
    return memoryview(bytes(MAX_RECORD_BYTES + 1))


def test_a_payload_over_max_record_bytes_raises_value_error_never_truncation(
    impl: ModuleType, oversize_payload: memoryview
) -> None:
    assert impl.MAX_RECORD_BYTES == MAX_RECORD_BYTES
    with pytest.raises(ValueError, match=r"67108865 bytes exceeds MAX_RECORD_BYTES \(67108864\)"):
        impl.encode(1, oversize_payload)
    with pytest.raises(ValueError, match=r"^record 2: record payload of 67108865 bytes exceeds"):
        impl.encode_many([(1, b"a"), (2, b"b"), (3, oversize_payload), (4, b"never read")])


def test_a_payload_of_exactly_max_record_bytes_is_accepted(
    native: ModuleType, oversize_payload: memoryview
) -> None:
    # Native only: the twin would spend several seconds checksumming 64 MiB.
    payload = oversize_payload[:MAX_RECORD_BYTES]
    frame = native.encode(200, payload)
    assert len(frame) == MAX_RECORD_BYTES + 9
    record_type, decoded, end = native.decode(frame)
    assert (record_type, len(decoded), end) == (200, MAX_RECORD_BYTES, len(frame))
    assert native.scan(frame).offsets.tolist() == [0]


# --- Framing the ledger's records (sequence number + body) -----------------------------------


def _sequenced(count: int, seed: int, largest: int = 300) -> list[tuple[int, bytes, int]]:
    rnd = random.Random(seed)
    return [
        (
            rnd.randint(1, 255),
            _random_bytes(rnd.randint(0, largest), seed=seed * 1000 + i),
            rnd.choice([0, 1, 2**63, 2**64 - 1, rnd.getrandbits(64)]),
        )
        for i in range(count)
    ]


def _framed_by_encode_many(
    records: list[tuple[int, bytes, int]], base: int
) -> tuple[bytes, list[int], list[int]]:
    """What frame_sequenced must give for `records` when all fit: encode_many of each
    (type, sequence + body), with each record's offset from `base`."""
    reference = importlib.import_module(TWIN)
    frames = reference.encode_many([(t, struct.pack("<Q", n) + b) for t, b, n in records])
    offsets, pos = [], base
    for _, body, _ in records:
        offsets.append(pos)
        pos += 9 + 8 + len(body)
    return frames, offsets, [t for t, _, _ in records]


@pytest.mark.parametrize("seed", range(4))
def test_frame_sequenced_is_encode_many_of_sequence_and_body(impl: ModuleType, seed: int) -> None:
    records = _sequenced(40, seed)
    sizes = [9 + 8 + len(body) for _, body, _ in records]
    for start in (0, 1, 17, 39, 40):
        for room in (0, 16, 17, sizes[min(start, 39)], 1000, 5000, 10**9):
            offsets, types = array("Q", [7]), array("B", [9])  # appended to, not replaced
            frames, end = impl.frame_sequenced(records, start, room, 4096, offsets, types)
            # As many whole records as fit in `room`, from `start` on.
            fit, used = start, 0
            while fit < len(records) and used + sizes[fit] <= room:
                used += sizes[fit]
                fit += 1
            assert end == fit, (start, room)
            expected = _framed_by_encode_many(records[start:fit], 4096)
            assert (frames, offsets.tolist()[1:], types.tolist()[1:]) == expected
            assert (offsets[0], types[0]) == (7, 9)


def test_frame_sequenced_takes_any_contiguous_buffer_and_large_batches(impl: ModuleType) -> None:
    # At least 64 KiB of frames: the compiled module writes them without the GIL.
    records = [(1, _random_bytes(40_000, seed=i), i) for i in range(3)]
    as_buffers = [
        (1, bytearray(records[0][1]), 0),
        (1, memoryview(records[1][1]), 1),
        (1, np.frombuffer(records[2][1], dtype=np.uint8), 2),
    ]
    for records_given in (records, as_buffers):
        offsets, types = array("Q"), array("B")
        frames, end = impl.frame_sequenced(records_given, 0, 10**9, 0, offsets, types)
        assert end == 3
        assert (frames, offsets.tolist(), types.tolist()) == _framed_by_encode_many(records, 0)
        assert impl.scan(frames).offsets.tolist() == offsets.tolist()


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ((0, b"x", 1), r"^record 3: record type 0 is out of range 1\.\.255"),
        ((1, b"x", -1), r"^record 3: sequence -1 is out of range 0\.\.0xFFFFFFFFFFFFFFFF$"),
        ((1, b"x", 2**64), r"^record 3: sequence 18446744073709551616 is out of range"),
    ],
)
def test_frame_sequenced_checks_every_record_before_appending_anything(
    impl: ModuleType, bad: tuple[int, bytes, int], message: str
) -> None:
    records = [(1, b"a", 1), (2, b"b", 2), (3, b"c", 3), bad, (4, b"d", 4)]
    offsets, types = array("Q"), array("B")
    with pytest.raises(ValueError, match=message):
        impl.frame_sequenced(records, 0, 10**9, 0, offsets, types)
    assert (len(offsets), len(types)) == (0, 0)
    # Framing stops at the first record that does not fit (record 2): record 3 is not looked
    # at until a later call reaches it.
    _, end = impl.frame_sequenced(records, 0, 2 * (9 + 8 + 1), 0, offsets, types)
    assert (end, offsets.tolist()) == (2, [0, 18])


def test_frame_sequenced_refuses_an_oversize_body_and_bad_arguments(
    impl: ModuleType, oversize_payload: memoryview
) -> None:
    body = oversize_payload[: MAX_RECORD_BYTES - 8 + 1]  # one byte too many with the sequence
    with pytest.raises(ValueError, match=r"^record 0: record payload of 67108865 bytes exceeds"):
        impl.frame_sequenced([(1, body, 0)], 0, 2**40, 0, array("Q"), array("B"))
    for start, room, base in ((-1, 0, 0), (0, -1, 0), (0, 0, -1)):
        with pytest.raises(ValueError, match="must not be negative"):
            impl.frame_sequenced([], start, room, base, array("Q"), array("B"))
    for offsets, types in ((array("I"), array("B")), (array("Q"), array("b"))):
        with pytest.raises(TypeError):
            impl.frame_sequenced([], 0, 0, 0, offsets, types)
    assert impl.SEQUENCE_BYTES == 8


# --- Decoding -------------------------------------------------------------------------------


def test_decode_walks_a_buffer_record_by_record(impl: ModuleType) -> None:
    records = [(5, b"first"), (6, b""), (7, _random_bytes(3000, seed=5))]
    buffer = bytearray(impl.encode_many(records))
    offset = 0
    for expected in records:
        record_type, payload, offset = impl.decode(buffer, offset)
        assert type(payload) is bytes
        assert (record_type, payload) == expected
    assert offset == len(buffer)


def _decode_error_cases() -> list[object]:
    ok = bytes.fromhex("050000008262d5520168656c6c6f")  # type 1, b"hello"
    return [
        pytest.param(
            ok,
            -1,
            "RecordError",
            "offset -1 is outside the buffer of 14 bytes",
            id="negative-offset",
        ),
        pytest.param(
            ok,
            15,
            "RecordError",
            "offset 15 is outside the buffer of 14 bytes",
            id="offset-past-the-end",
        ),
        pytest.param(ok, 2**64, "RecordError", "outside the buffer", id="offset-2**64"),
        pytest.param(ok, -(2**100), "RecordError", "outside the buffer", id="offset-minus-2**100"),
        pytest.param(
            ok,
            14,
            "TornRecordError",
            "incomplete record header: 0 of 9 bytes before the end at 14",
            id="offset-at-the-end",
        ),
        pytest.param(
            ok[:5], 0, "TornRecordError", "incomplete record header: 5 of 9 bytes", id="half-header"
        ),
        pytest.param(
            ok,
            6,
            "TornRecordError",
            "incomplete record header: 8 of 9 bytes",
            id="header-past-the-end",
        ),
        pytest.param(
            ok[:-1],
            0,
            "TornRecordError",
            "record payload of 5 bytes runs past the end at 13",
            id="payload-past-the-end",
        ),
        pytest.param(
            _header(MAX_RECORD_BYTES, 0, 1) + bytes(100),
            0,
            "TornRecordError",
            "record payload of 67108864 bytes runs past the end",
            id="max-length-past-the-end",
        ),
        pytest.param(
            _header(U32_MAX, 0, 1) + bytes(100),
            0,
            "CorruptRecordError",
            "record length 4294967295 exceeds MAX_RECORD_BYTES",
            id="length-2**32-1",
        ),
        pytest.param(
            _header(U32_MAX - 15, 0, 1),
            0,
            "CorruptRecordError",
            "record length 4294967280 exceeds",
            id="length-2**32-16",
        ),
        pytest.param(
            _header(MAX_RECORD_BYTES + 1, 0, 1),
            0,
            "CorruptRecordError",
            "record length 67108865 exceeds",
            id="length-max-plus-1",
        ),
        pytest.param(
            bytes(9), 0, "CorruptRecordError", "record type 0 is reserved", id="zero-header"
        ),
        pytest.param(
            ok[:8] + b"\x00" + ok[9:],
            0,
            "CorruptRecordError",
            "record type 0 is reserved",
            id="type-0",
        ),
        pytest.param(
            ok[:-1] + b"O",
            0,
            "CorruptRecordError",
            "checksum mismatch: stored 0x52d56282, computed 0x",
            id="payload-changed",
        ),
        pytest.param(
            ok[:4] + b"\x00\x00\x00\x00" + ok[8:],
            0,
            "CorruptRecordError",
            "checksum mismatch: stored 0x00000000, computed 0x52d56282",
            id="checksum-zeroed",
        ),
        pytest.param(b"", 0, "TornRecordError", "0 of 9 bytes", id="empty-buffer"),
    ]


@pytest.mark.parametrize(("buffer", "offset", "error", "reason"), _decode_error_cases())
def test_decode_raises_the_documented_error_never_index_error(
    impl: ModuleType, buffer: bytes, offset: int, error: str, reason: str
) -> None:
    with pytest.raises(impl.RecordError) as caught:
        impl.decode(buffer, offset)
    assert type(caught.value) is getattr(impl, error)
    assert caught.value.offset == offset
    assert reason in caught.value.reason
    assert str(caught.value) == f"{caught.value.reason} (record at offset {offset})"


def test_record_errors_are_omen_errors_and_value_errors_shared_by_both_modules(
    native: ModuleType, twin: ModuleType
) -> None:
    from omen.errors import OmenError

    for name in (
        "RecordError",
        "TornRecordError",
        "CorruptRecordError",
        "ScanStatus",
        "ScanResult",
    ):
        assert getattr(native, name) is getattr(twin, name)
    assert issubclass(twin.TornRecordError, twin.RecordError)
    assert issubclass(twin.CorruptRecordError, twin.RecordError)
    assert issubclass(twin.RecordError, OmenError)
    assert issubclass(twin.RecordError, ValueError)
    error = twin.CorruptRecordError(42, "checksum mismatch")
    copy = pickle.loads(pickle.dumps(error))
    assert (type(copy), copy.offset, copy.reason, str(copy)) == (
        twin.CorruptRecordError,
        42,
        "checksum mismatch",
        str(error),
    )


def test_decode_offsets_must_be_integers(impl: ModuleType) -> None:
    for offset in ("0", 0.0, None):
        with pytest.raises(TypeError):
            impl.decode(b"", offset)


# --- Scanning: the decision table -----------------------------------------------------------


def _first(impl: ModuleType) -> bytes:
    return bytes(impl.encode(1, b"first record"))


def _second(impl: ModuleType) -> bytes:
    return bytes(impl.encode(2, b"second"))


def _third(impl: ModuleType) -> bytes:
    return bytes(impl.encode(3, b"the third record"))


def test_an_empty_range_scans_ok_with_typed_empty_arrays(impl: ModuleType) -> None:
    result = impl.scan(b"")
    assert result == (impl.ScanStatus.OK, array("Q"), array("B"), 0, None, "")
    assert isinstance(result, impl.ScanResult)
    assert result.status is impl.ScanStatus.OK
    assert (result.offsets.typecode, result.types.typecode) == ("Q", "B")
    frames = _first(impl) + _second(impl)
    assert impl.scan(frames, len(frames)).valid_end == len(frames)


def test_clean_records_scan_ok_with_their_offsets_and_types(impl: ModuleType) -> None:
    a, b, c = _first(impl), _second(impl), _third(impl)
    result = impl.scan(a + b + c)
    assert result.status is impl.ScanStatus.OK
    assert result.offsets == array("Q", [0, len(a), len(a) + len(b)])
    assert result.types == array("B", [1, 2, 3])
    assert (result.valid_end, result.error_offset, result.reason) == (len(a + b + c), None, "")


@pytest.mark.parametrize("zeros", [1, 8, 9, 10, 31, 32, 33, 4096, 70_000])
def test_zero_filled_space_after_the_records_is_a_clean_end(impl: ModuleType, zeros: int) -> None:
    frames = _first(impl) + _second(impl)
    result = impl.scan(frames + bytes(zeros))
    assert result.status is impl.ScanStatus.OK
    assert result.offsets.tolist() == [0, len(_first(impl))]
    assert (result.valid_end, result.error_offset) == (len(frames), None)
    only_zeros = impl.scan(bytes(zeros))
    assert (only_zeros.status, only_zeros.valid_end, len(only_zeros.offsets)) == (
        impl.ScanStatus.OK,
        0,
        0,
    )


def test_a_sub_range_reports_absolute_offsets(impl: ModuleType) -> None:
    a, b, c = _first(impl), _second(impl), _third(impl)
    buffer = a + b + c
    result = impl.scan(buffer, len(a), len(a + b))
    assert result.status is impl.ScanStatus.OK
    assert (result.offsets.tolist(), result.valid_end) == ([len(a)], len(a + b))
    # A record that runs past `end` is torn even though the buffer holds all of it.
    cut = impl.scan(buffer, 0, len(a + b) + 1)
    assert (cut.status, cut.error_offset) == (impl.ScanStatus.TORN, len(a + b))


@pytest.mark.parametrize(("offset", "end"), [(-1, None), (0, 100), (5, 4), (0, -1), (101, None)])
def test_a_range_outside_the_buffer_raises_value_error(
    impl: ModuleType, offset: int, end: int | None
) -> None:
    with pytest.raises(ValueError, match="need 0 <= offset <= end <= 99"):
        impl.scan(bytes(99), offset, end)


def _table_cases() -> list[object]:
    """(name, build(impl) -> (buffer, records before the problem), status, reason prefix)."""

    def clean(impl: ModuleType) -> bytes:
        return _first(impl) + _second(impl)

    def bad_checksum(frame: bytes) -> bytes:
        return frame[:-1] + bytes([frame[-1] ^ 0x01])

    def with_length(frame: bytes, length: int) -> bytes:
        return struct.pack("<I", length) + frame[4:]

    def with_type(frame: bytes, record_type: int) -> bytes:
        return frame[:8] + bytes([record_type]) + frame[9:]

    return [
        pytest.param(lambda i: clean(i), "OK", "", id="records-to-the-end"),
        pytest.param(lambda i: clean(i) + bytes(100), "OK", "", id="zeros-to-the-end"),
        pytest.param(
            lambda i: _first(i) + _second(i)[:5],
            "TORN",
            "torn tail: incomplete record header: 5 of 9",
            id="half-header-at-the-end",
        ),
        pytest.param(
            lambda i: _first(i) + _second(i)[:-1],
            "TORN",
            "torn tail: record payload of 6 bytes runs past the end",
            id="payload-past-the-end",
        ),
        pytest.param(
            lambda i: _first(i) + bad_checksum(_second(i)) + bytes(50),
            "TORN",
            "torn tail: checksum mismatch",
            id="bad-checksum-then-zeros",
        ),
        pytest.param(
            lambda i: _first(i) + _second(i)[:12] + bytes(3),
            "TORN",
            "torn tail: checksum mismatch",
            id="payload-zeroed-in-preallocated-space",
        ),
        pytest.param(
            lambda i: _first(i) + _second(i)[:4] + bytes(40),
            "TORN",
            "torn tail: record type 0 is reserved",
            id="half-written-header-then-zeros",
        ),
        pytest.param(
            lambda i: _first(i) + _header(U32_MAX, 0, 1) + bytes(20),
            "TORN",
            "torn tail: record length 4294967295 exceeds",
            id="impossible-length-then-zeros",
        ),
        pytest.param(
            lambda i: _first(i) + b"\x01",
            "TORN",
            "torn tail: incomplete record header: 1 of 9",
            id="one-stray-byte",
        ),
        pytest.param(
            lambda i: bad_checksum(_first(i)) + _second(i),
            "CORRUPT",
            "corrupt record: checksum mismatch",
            id="bad-checksum-then-a-record",
        ),
        pytest.param(
            lambda i: _first(i) + with_type(_second(i), 0) + _third(i),
            "CORRUPT",
            "corrupt record: record type 0 is reserved",
            id="type-0-then-data",
        ),
        pytest.param(
            lambda i: _first(i) + bytes(20) + _second(i),
            "CORRUPT",
            "corrupt record: record type 0 is reserved",
            id="zero-hole-then-a-record",
        ),
        pytest.param(
            lambda i: _first(i) + _header(U32_MAX, 0, 1) + _second(i),
            "CORRUPT",
            "corrupt record: record length 4294967295 exceeds",
            id="impossible-length-then-data",
        ),
        pytest.param(
            lambda i: _first(i) + b"garbage!" * 4,
            "CORRUPT",
            "corrupt record: record length 1651663207 exceeds",
            id="text-garbage",
        ),
        pytest.param(
            lambda i: _first(i) + with_length(_second(i), 1_000_000) + _third(i),
            "CORRUPT",
            "corrupt record: record payload of 1000000 bytes runs past the end",
            id="length-damaged-past-the-end",
        ),
        pytest.param(
            lambda i: _first(i) + with_length(_second(i), 6 + len(_third(i))) + _third(i),
            "CORRUPT",
            "corrupt record: checksum mismatch",
            id="length-damaged-over-the-next-record",
        ),
    ]


@pytest.mark.parametrize(("build", "status", "reason"), _table_cases())
def test_each_row_of_the_decision_table(
    impl: ModuleType, build: Callable[[ModuleType], bytes], status: str, reason: str
) -> None:
    buffer = build(impl)
    result = impl.scan(buffer)
    assert result.status is impl.ScanStatus[status], result.reason
    assert result.reason.startswith(reason), result.reason
    first_length = len(_first(impl))
    if status == "OK":
        assert result.error_offset is None
        assert result.offsets.tolist() == [0, first_length]
    else:
        # The first record is intact (or is the damaged one); the problem is where it ends.
        assert result.error_offset == result.valid_end
        assert result.offsets.tolist() == ([0] if result.valid_end else [])
        assert result.valid_end in {0, first_length}


def test_a_damaged_length_that_runs_past_the_end_names_the_record_that_follows(
    impl: ModuleType,
) -> None:
    a, b, c = _first(impl), _second(impl), _third(impl)
    damaged = struct.pack("<I", 1_000_000) + b[4:]
    result = impl.scan(a + damaged + c)
    assert (result.status, result.error_offset) == (impl.ScanStatus.CORRUPT, len(a))
    assert result.reason.endswith(f"; a valid record follows at offset {len(a + b)}")


def _crowded_tail(valid_record_at: int | None) -> bytes:
    """A torn header, then 100 KB in which every eighth offset looks like the header of a
    65,793-byte record of type 1 that fits; checking each by checksumming its range would cost
    ~280 MB. Optionally one valid record is planted among them."""
    tail = bytearray(_header(2_000_000, 0, 1) + bytes([1, 1, 1, 0, 1, 1, 1, 1]) * 12_500)
    if valid_record_at is not None:
        planted = bytes.fromhex("050000008262d5520168656c6c6f")  # type 1, b"hello"
        tail[valid_record_at : valid_record_at + len(planted)] = planted
    return bytes(tail)


def test_a_tail_crowded_with_plausible_headers_is_searched_exactly(impl: ModuleType) -> None:
    result = impl.scan(_crowded_tail(None))
    assert (result.status, result.error_offset) == (impl.ScanStatus.TORN, 0)
    for planted_at in (9 + 8 * 3000 + 3, 90_000):
        result = impl.scan(_crowded_tail(planted_at))
        assert (result.status, result.error_offset) == (impl.ScanStatus.CORRUPT, 0)
        assert result.reason.endswith(f"; a valid record follows at offset {planted_at}")


def _oracle(buffer: bytes, twin: ModuleType) -> tuple[str, int | None]:
    """The decision table applied by brute force: decode() at every offset after the problem."""
    p = 0
    while p < len(buffer):
        try:
            p = twin.decode(buffer, p)[2]
        except twin.RecordError:
            break
    if not any(buffer[p:]):
        return "OK", None
    try:
        twin.decode(buffer, p)
    except twin.TornRecordError:
        extent = len(buffer)
    except twin.CorruptRecordError as exc:
        length = struct.unpack_from("<I", buffer, p)[0]
        extent = p + 9 + length if exc.reason.startswith("checksum mismatch") else p + 9
    if any(buffer[extent:]):
        return "CORRUPT", p
    for q in range(p + 1, extent):
        try:
            twin.decode(buffer, q)
        except twin.RecordError:
            continue
        return "CORRUPT", p
    return "TORN", p


@SMALL_SETTINGS
@given(
    records=st.lists(
        st.tuples(st.integers(1, 255), st.binary(max_size=40)), min_size=1, max_size=4
    ),
    damage=st.lists(st.tuples(st.integers(0, 2**32), st.integers(0, 255)), min_size=1, max_size=3),
    length_damage=st.one_of(st.none(), st.tuples(st.integers(0, 3), st.integers(0, 400))),
    zeros=st.integers(0, 40),
    cut=st.integers(0, 2**32),
)
def test_scan_matches_a_brute_force_reading_of_the_decision_table(
    native: ModuleType,
    twin: ModuleType,
    records: list[tuple[int, bytes]],
    damage: list[tuple[int, int]],
    length_damage: tuple[int, int] | None,
    zeros: int,
    cut: int,
) -> None:
    frames = [twin.encode(t, p) for t, p in records]
    buffer = bytearray(b"".join(frames) + bytes(zeros))
    if length_damage is not None:  # give one record a plausible but wrong length
        index, length = length_damage
        start = sum(len(f) for f in frames[: index % len(frames)])
        buffer[start : start + 4] = struct.pack("<I", length)
    for position, value in damage:
        buffer[position % len(buffer)] = value
    damaged = bytes(buffer[: cut % (len(buffer) + 1)])
    status, error_offset = _oracle(damaged, twin)
    for impl in (native, twin):
        result = impl.scan(damaged)
        assert (result.status.name, result.error_offset) == (status, error_offset), result.reason


@pytest.mark.parametrize("last_size", [0, 1, 8, 100, 600])
def test_a_last_frame_cut_at_every_byte_is_torn_at_its_start(
    impl: ModuleType, last_size: int
) -> None:
    before = impl.encode_many([(1, b"one"), (2, _random_bytes(50, seed=6))])
    # No zero byte in the last payload, so zero-filling any part of the frame changes it.
    last = impl.encode(9, bytes(random.Random(7).randint(1, 255) for _ in range(last_size)))
    buffer = before + last
    assert impl.scan(buffer).offsets.tolist() == [0, 12, len(before)]
    for cut in range(len(before) + 1, len(buffer)):
        # Cut short (an append that stopped), or cut and zero-filled (preallocated space).
        for torn in (buffer[:cut], buffer[:cut] + bytes(len(buffer) - cut + 7)):
            result = impl.scan(torn)
            assert result.offsets.tolist() == [0, 12], cut  # never the half record
            assert result.valid_end == len(before), cut
            if any(torn[len(before) :]):
                assert result.status is impl.ScanStatus.TORN, (cut, result.reason)
                assert result.error_offset == len(before)
            else:  # only zero bytes of the frame got written: it is not there at all
                assert result.status is impl.ScanStatus.OK, (cut, result.reason)
    assert impl.scan(before).status is impl.ScanStatus.OK


def test_every_single_bit_flip_is_detected(impl: ModuleType) -> None:
    records = [(1, b"ledger"), (2, b""), (3, _random_bytes(20, seed=8)), (200, b"last record")]
    frames = [impl.encode(t, p) for t, p in records]
    starts = [sum(len(f) for f in frames[:i]) for i in range(len(frames))]
    records_end = sum(len(f) for f in frames)
    buffer = b"".join(frames) + bytes(16)  # preallocated space after the records
    total = detected = 0
    for bit in range(len(buffer) * 8):
        result = impl.scan(_flip(buffer, bit))
        total += 1
        detected += result.status is not impl.ScanStatus.OK
        byte = bit // 8
        if byte >= records_end:  # in the zero space: every record intact, the problem after them
            assert result.offsets.tolist() == starts, bit
            assert result.error_offset == records_end, bit
            continue
        index = max(i for i, start in enumerate(starts) if start <= byte)
        assert result.offsets.tolist() == starts[:index], bit
        assert result.error_offset == starts[index], bit
        if index < len(frames) - 1:
            # Intact records follow the damage: never a torn tail, which recovery would cut.
            assert result.status is impl.ScanStatus.CORRUPT, (bit, result.reason)
    assert total == len(buffer) * 8 == 8 * (records_end + 16)
    assert detected == total


@SMALL_SETTINGS
@given(garbage=st.binary(min_size=1, max_size=300).filter(any))
def test_a_non_zero_garbage_tail_is_never_a_clean_end(impl: ModuleType, garbage: bytes) -> None:
    frames = _first(impl) + _second(impl)
    result = impl.scan(frames + garbage)
    assert result.status in {impl.ScanStatus.TORN, impl.ScanStatus.CORRUPT}
    assert result.offsets.tolist() == [0, len(_first(impl))]
    assert result.error_offset == result.valid_end == len(frames)


def test_scan_reads_mmaps_numpy_arrays_and_bytearrays(impl: ModuleType) -> None:
    frames = impl.encode_many([(1, b"a"), (2, b"bb"), (3, b"ccc")])
    expected = impl.scan(frames)
    padded = frames + bytes(16 - len(frames) % 16)
    for buffer in _buffers_of(padded):
        assert impl.scan(buffer)[:4] == expected[:4], type(buffer)
    region = mmap.mmap(-1, 4096)
    region[: len(frames)] = frames
    result = impl.scan(region)
    assert (result.status, result.offsets, result.valid_end) == (
        impl.ScanStatus.OK,
        expected.offsets,
        len(frames),
    )
    region.close()  # no export is left behind


def test_no_function_keeps_the_buffer_exported_even_when_it_raises(impl: ModuleType) -> None:
    frames = bytearray(impl.encode_many([(1, b"a"), (2, b"bb")]))
    calls: list[Callable[[], object]] = [
        lambda: impl.crc32c(frames),
        lambda: impl.crc32c_table(frames),
        lambda: impl.encode(1, frames),
        lambda: impl.encode_many([(1, frames), (2, frames)]),
        lambda: impl.decode(frames),
        lambda: impl.scan(frames),
        lambda: impl.crc32c(frames, -1),
        lambda: impl.encode_many([(1, frames), (0, frames)]),
        lambda: impl.decode(frames, 3),
        lambda: impl.decode(frames, -3),
        lambda: impl.scan(frames, 0, 10**6),
    ]
    for call in calls:
        outcome = _outcome(call)
        frames.append(0)  # a live export would raise BufferError here
        frames.pop()
        assert outcome is not None


# --- Native against twin, on random inputs --------------------------------------------------

# 0 B to 1 MiB: small inputs shrink well; large ones are drawn as a size and a seed.
payloads = st.one_of(
    st.binary(max_size=600),
    st.builds(_random_bytes, st.integers(0, 64 * KIB), st.integers(0, 2**32)),
    st.builds(_random_bytes, st.integers(0, MIB), st.integers(0, 2**32)),
)
small_payloads = st.one_of(
    st.binary(max_size=200),
    st.builds(_random_bytes, st.integers(0, 8 * KIB), st.integers(0, 2**32)),
)
record_types = st.integers(1, 255)
u32 = st.integers(0, U32_MAX)
ONE_MIB = _random_bytes(MIB, seed=9)


@LARGE_SETTINGS
@given(data=payloads, value=u32)
@example(data=ONE_MIB, value=0)
@example(data=bytes(MIB), value=U32_MAX)
def test_native_and_twin_compute_the_same_crc32c(
    native: ModuleType, twin: ModuleType, data: bytes, value: int
) -> None:
    expected = twin.crc32c(data, value)
    assert native.crc32c(data, value) == expected
    assert native.crc32c_table(data, value) == expected


@LARGE_SETTINGS
@given(record_type=record_types, payload=payloads)
@example(record_type=1, payload=ONE_MIB)
def test_native_and_twin_encode_identical_bytes_that_decode_back(
    native: ModuleType, twin: ModuleType, record_type: int, payload: bytes
) -> None:
    frame = twin.encode(record_type, payload)
    assert native.encode(record_type, payload) == frame
    assert native.encode_many([(record_type, payload)]) == frame
    expected = (record_type, payload, len(frame))
    assert twin.decode(frame) == expected
    assert native.decode(frame) == expected
    assert native.scan(frame) == twin.scan(frame)


tails = st.one_of(
    st.just(("none", 0)),
    st.tuples(st.just("zeros"), st.integers(1, 5000)),
    st.tuples(st.just("cut"), st.integers(0, 2**32)),
    st.tuples(st.just("cut-and-zero"), st.integers(0, 2**32)),
    st.tuples(st.just("flip"), st.integers(0, 2**32)),
    st.tuples(st.just("garbage"), st.integers(0, 2**32)),
)


def _damage(buffer: bytes, tail: tuple[str, int]) -> bytes:
    kind, n = tail
    if kind == "zeros":
        return buffer + bytes(n)
    if kind == "cut":
        return buffer[: n % (len(buffer) + 1)]
    if kind == "cut-and-zero":
        cut = n % (len(buffer) + 1)
        return buffer[:cut] + bytes(len(buffer) - cut)
    if kind == "flip" and buffer:
        return _flip(buffer, n % (len(buffer) * 8))
    if kind == "garbage":
        return buffer + _random_bytes(n % 100 + 1, seed=n)
    return buffer


@LARGE_SETTINGS
@given(
    records=st.lists(st.tuples(record_types, small_payloads), max_size=6),
    tail=tails,
    data=st.data(),
)
def test_native_and_twin_scan_damaged_buffers_alike(
    native: ModuleType,
    twin: ModuleType,
    records: list[tuple[int, bytes]],
    tail: tuple[str, int],
    data: st.DataObject,
) -> None:
    frames = twin.encode_many(records)
    assert native.encode_many(records) == frames
    buffer = _damage(frames, tail)
    offset = data.draw(st.sampled_from([0, *twin.scan(frames).offsets.tolist()]), label="offset")
    offset = min(offset, len(buffer))
    end = data.draw(st.one_of(st.none(), st.integers(offset, len(buffer))), label="end")
    expected = twin.scan(buffer, offset, end)
    assert native.scan(buffer, offset, end) == expected
    if tail[0] in {"none", "zeros"}:
        assert expected.status is twin.ScanStatus.OK or end is not None


@SMALL_SETTINGS
@given(buffer=st.binary(max_size=400), offset=st.integers(-20, 420))
def test_native_and_twin_decode_any_bytes_alike(
    native: ModuleType, twin: ModuleType, buffer: bytes, offset: int
) -> None:
    assert _outcome(lambda: native.decode(buffer, offset)) == _outcome(
        lambda: twin.decode(buffer, offset)
    )
    assert _outcome(lambda: native.scan(buffer, max(offset, 0))) == _outcome(
        lambda: twin.scan(buffer, max(offset, 0))
    )


def test_native_and_twin_agree_on_every_single_bit_flip(
    native: ModuleType, twin: ModuleType
) -> None:
    buffer = twin.encode_many([(1, b"ledger"), (7, _random_bytes(30, seed=10)), (9, b"z")]) + bytes(
        12
    )
    for bit in range(len(buffer) * 8):
        flipped = _flip(buffer, bit)
        assert native.scan(flipped) == twin.scan(flipped), bit


def test_native_and_twin_agree_on_a_torn_1_mib_record(native: ModuleType, twin: ModuleType) -> None:
    frames = twin.encode_many([(1, b"before"), (2, ONE_MIB)])
    for cut in (len(frames) - 1, len(frames) - MIB // 2):
        torn = frames[:cut]
        expected = twin.scan(torn)
        assert expected.status is twin.ScanStatus.TORN
        assert native.scan(torn) == expected
        zero_filled = torn + bytes(len(frames) - cut)
        assert native.scan(zero_filled) == twin.scan(zero_filled)


def _iter_nothing() -> Iterator[tuple[int, bytes]]:
    yield from ()


def test_native_and_twin_encode_many_of_an_empty_generator(
    native: ModuleType, twin: ModuleType
) -> None:
    assert native.encode_many(_iter_nothing()) == twin.encode_many(_iter_nothing()) == b""

"""Ledger maintenance on real files: verify, compress, archive, crash recovery between every
step of seal, compress and archive, and repair."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
from pathlib import Path

import pytest

from omen.adapters.ledger import maintenance
from omen.adapters.ledger.files import FileLayer
from omen.adapters.ledger.format import (
    HEADER_BYTES,
    MANIFEST_NAME,
    LedgerCorruptError,
    LedgerError,
    LedgerLockedError,
    SegmentHeader,
)
from omen.adapters.ledger.ledger import Ledger, Position
from tests.ledger_data import (
    DAY1,
    DAY2,
    DAY_NS,
    OPTIONS,
    CrashingFiles,
    Written,
    append,
    build,
    contents,
    record,
)
from tests.support import NS, T0_NS

MAX_STEPS = 400


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Written]]:
    """One ledger built once: DAY1 spans several segments, DAY2 one; nothing sealed."""
    root = tmp_path_factory.mktemp("template") / "ledger"
    written = build(root)
    return root, written


@pytest.fixture
def ledger_copy(tmp_path: Path, template: tuple[Path, list[Written]]) -> tuple[Path, list[Written]]:
    root = tmp_path / "ledger"
    shutil.copytree(template[0], root)
    return root, list(template[1])


def segments(root: Path, partition: str) -> list[tuple[Path, list[int], int]]:
    """(path, record offsets, valid end) of each segment of `partition`."""
    with Ledger.open(root, read_only=True) as ledger:
        return [
            (Path(s.path), [int(o) for o in s.offsets], s.valid_end)
            for s in ledger.segments(partition)
        ]


def flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x10
    path.write_bytes(bytes(data))


def seal(root: Path, partition: str, compress: bool = False) -> None:
    with Ledger.open(root, OPTIONS) as ledger:
        ledger.seal(partition)
        if compress:
            maintenance.compress(ledger, partition)


def of(written: list[Written], partition: str) -> list[Written]:
    return [w for w in written if w.partition == partition]


# ---------------------------------------------------------------------------------- verify


def test_verify_passes_clean_partitions_open_sealed_and_compressed(ledger_copy):
    root, written = ledger_copy
    seal(root, DAY2, compress=True)
    with Ledger.open(root, read_only=True) as ledger:
        for name in (DAY1, DAY2):
            report = maintenance.verify(ledger, name)
            assert (report.ok, report.problems) == (True, [])
            assert report.records_verified == len(of(written, name))


def test_verify_names_file_and_offset_of_a_flipped_bit_in_a_middle_record(ledger_copy):
    root, _ = ledger_copy
    path, offsets, _ = segments(root, DAY1)[1]
    flip(path, offsets[2] + 30)
    report = maintenance.verify_partition(FileLayer(), str(root / DAY1), DAY1)
    assert not report.ok
    assert any(
        p.startswith(f"{path}:") and p.endswith(f"at offset {offsets[2]}") for p in report.problems
    ), report.problems


def test_verify_reports_a_damaged_segment_header_at_offset_0(ledger_copy):
    root, _ = ledger_copy
    path = segments(root, DAY1)[1][0]
    flip(path, 40)  # the partition name, covered by the header CRC
    report = maintenance.verify_partition(FileLayer(), str(root / DAY1), DAY1)
    assert f"{path}: segment header checksum mismatch at offset 0" in report.problems


def test_verify_reports_a_broken_chain_at_the_previous_segments_last_record(ledger_copy):
    root, _ = ledger_copy
    segs = segments(root, DAY1)
    first, second = segs[0], segs[1]
    header = SegmentHeader.unpack(second[0].read_bytes()[:HEADER_BYTES], str(second[0]))
    forged = SegmentHeader(header.partition, header.segment, header.first_sequence, 12345)
    with open(second[0], "r+b") as fh:
        fh.write(forged.pack())
    report = maintenance.verify_partition(FileLayer(), str(root / DAY1), DAY1)
    expected = (
        f"{first[0]}: last record does not match the chain CRC in {second[0].name}'s header "
        f"at offset {first[1][-1]}"
    )
    assert report.problems == [expected]


def test_verify_reports_a_torn_record_inside_a_segment_that_is_not_the_last(ledger_copy):
    root, _ = ledger_copy
    path, offsets, valid_end = segments(root, DAY1)[0]
    with open(path, "r+b") as fh:  # the last record loses its end; zeros follow
        fh.seek(offsets[-1] + 20)
        fh.write(bytes(valid_end - offsets[-1] - 20))
    report = maintenance.verify_partition(FileLayer(), str(root / DAY1), DAY1)
    assert not report.ok
    assert report.problems[0].startswith(f"{path}: ")
    assert report.problems[0].endswith(f"at offset {offsets[-1]}")


def test_verify_reports_a_missing_segment_as_a_sequence_and_chain_break(ledger_copy):
    root, _ = ledger_copy
    segs = segments(root, DAY1)
    assert len(segs) >= 3
    segs[1][0].unlink()
    report = maintenance.verify_partition(FileLayer(), str(root / DAY1), DAY1)
    third = segs[2][0]
    assert any(p.startswith(f"{third}: header names partition") for p in report.problems)
    assert any("chain CRC" in p for p in report.problems)


def test_verify_treats_a_torn_tail_of_an_open_partition_as_a_note_not_damage(ledger_copy):
    root, written = ledger_copy
    path, _, valid_end = segments(root, DAY1)[-1]
    with open(path, "r+b") as fh:  # half a record after the last one: a write in flight
        fh.seek(valid_end)
        fh.write(b"\x40\x00\x00\x00\x99\x99")
    with Ledger.open(root, read_only=True) as ledger:
        report = maintenance.verify(ledger, DAY1)
    assert report.ok and report.records_verified == len(of(written, DAY1))
    assert report.notes and report.notes[0].startswith(f"{path}: torn tail")
    assert f"at offset {valid_end}" in report.notes[0]


def test_verify_treats_a_torn_tail_of_a_sealed_partition_as_damage(ledger_copy):
    root, _ = ledger_copy
    seal(root, DAY1)
    path, offsets, valid_end = segments(root, DAY1)[-1]
    with open(path, "r+b") as fh:
        fh.truncate(valid_end - 5)
    report = maintenance.verify_partition(FileLayer(), str(root / DAY1), DAY1)
    assert any(
        p.startswith(f"{path}: ") and f"at offset {offsets[-1]}" in p for p in report.problems
    )
    assert any("manifest" in p for p in report.problems)  # record counts and hashes differ


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("record_count", 7, "manifest record_count is 7"),
        ("fingerprint", "0" * 64, "manifest fingerprint is"),
        ("last_lsn", 1, "manifest last_lsn is 1"),
    ],
)
def test_verify_checks_a_sealed_partitions_manifest_totals(ledger_copy, field, value, expected):
    root, _ = ledger_copy
    seal(root, DAY1)
    path = root / DAY1 / MANIFEST_NAME
    manifest = json.loads(path.read_text())
    manifest[field] = value
    path.write_text(json.dumps(manifest))
    report = maintenance.verify_partition(FileLayer(), str(root / DAY1), DAY1)
    assert [p for p in report.problems if p.startswith(f"{path}: {expected}")], report.problems
    assert all(p.endswith("at offset 0") for p in report.problems)


def test_verify_checks_each_segments_hash_and_count_against_the_manifest(ledger_copy):
    root, _ = ledger_copy
    seal(root, DAY1)
    segs = segments(root, DAY1)
    path = root / DAY1 / MANIFEST_NAME
    manifest = json.loads(path.read_text())
    manifest["segments"][1]["sha256"] = "0" * 64
    manifest["segments"][0]["records"] += 1
    path.write_text(json.dumps(manifest))
    report = maintenance.verify_partition(FileLayer(), str(root / DAY1), DAY1)
    assert any(p.startswith(f"{segs[1][0]}: plain bytes differ") for p in report.problems)
    assert any(p.startswith(f"{segs[0][0]}: holds") for p in report.problems)


def test_verify_reports_a_damaged_compressed_segment_with_its_frame_offset(ledger_copy):
    root, _ = ledger_copy
    seal(root, DAY1, compress=True)
    path = root / DAY1 / "signals-000002.wal.zst"
    flip(path, path.stat().st_size // 2)
    report = maintenance.verify_partition(FileLayer(), str(root / DAY1), DAY1)
    assert any(
        p.startswith(f"{path}: zstd frame") and p.endswith("at offset 0") for p in report.problems
    ), report.problems


# ---------------------------------------------------------------------------------- compress


def test_compress_keeps_every_record_readable_and_shrinks_realistic_records(ledger_copy):
    root, written = ledger_copy
    with Ledger.open(root, OPTIONS) as ledger:
        ledger.seal(DAY1)
        before = list(ledger.read(DAY1))
        report = maintenance.compress(ledger, DAY1)
        assert list(ledger.read(DAY1)) == before  # readers of this process, at once
        assert ledger.get(before[7].position) == before[7]
        assert ledger.summary(DAY1).compressed
    assert report.segments_compressed == len(segments(root, DAY1)) >= 3
    assert report.plain_bytes / report.compressed_bytes > 2
    names = sorted(os.listdir(root / DAY1))
    assert not [n for n in names if n.endswith(".wal")], names
    assert len([n for n in names if n.endswith(".wal.zst")]) == report.segments_compressed
    manifest = json.loads((root / DAY1 / MANIFEST_NAME).read_text())
    assert all(s["compressed"]["name"] == s["name"] + ".zst" for s in manifest["segments"])
    assert contents(root) == sorted(written, key=lambda w: w.lsn)
    with Ledger.open(root, OPTIONS) as ledger:  # writable reopen, then more appends elsewhere
        assert list(ledger.read(DAY1)) == before
        append(ledger, [2000])
        assert maintenance.verify(ledger, DAY1).ok
        assert maintenance.compress(ledger, DAY1).segments_compressed == 0  # already done


def test_compress_and_archive_refuse_an_unsealed_partition_and_a_read_only_ledger(
    tmp_path, ledger_copy
):
    root, _ = ledger_copy
    with Ledger.open(root, OPTIONS) as ledger:
        with pytest.raises(LedgerError, match="not sealed"):
            maintenance.compress(ledger, DAY1)
        with pytest.raises(LedgerError, match="not sealed"):
            maintenance.archive(ledger, DAY1, tmp_path / "archive")
        ledger.seal(DAY1)
    with Ledger.open(root, read_only=True) as ledger, pytest.raises(LedgerError, match="read-only"):
        maintenance.compress(ledger, DAY1)
    assert not (tmp_path / "archive").exists()


# ---------------------------------------------------------------------------------- archive


def by_lsn(written: list[Written]) -> list[Written]:
    return sorted(written, key=lambda w: w.lsn)


def entries(ledger_entries) -> list[Written]:
    return [Written(e.position.partition, e.lsn, e.type, e.body) for e in ledger_entries]


def day_ns(partition: str) -> int:
    return T0_NS if partition.startswith(DAY1) else T0_NS + DAY_NS


def append_one(ledger: Ledger, partition: str, i: int):
    """Append record `i` for `partition`'s date; return the Appended once durable."""
    timestamp = day_ns(partition) + i * NS
    rtype, body = record(i, timestamp)
    appended = ledger.append(timestamp, rtype, body)
    appended.commit.wait(30)
    return appended


def archive_one(root: Path, partition: str, archive_dir: Path, compress: bool = False) -> None:
    seal(root, partition, compress=compress)
    with Ledger.open(root, OPTIONS) as ledger:
        maintenance.archive(ledger, partition, archive_dir)


@pytest.mark.parametrize("compressed", [False, True], ids=["plain", "compressed"])
def test_archive_moves_a_verified_copy_and_leaves_a_tombstone(tmp_path, ledger_copy, compressed):
    root, written = ledger_copy
    archive_dir = tmp_path / "archive"
    seal(root, DAY1, compress=compressed)
    manifest = json.loads((root / DAY1 / MANIFEST_NAME).read_text())
    with Ledger.open(root, OPTIONS) as ledger:
        before = list(ledger.read(DAY1))
        report = maintenance.archive(ledger, DAY1, archive_dir)
        assert ledger.partition_names() == [DAY1, DAY2]
        summary = ledger.summary(DAY1)
        assert summary.archived and summary.sealed
        assert list(ledger.read(DAY1)) == before  # readers of this process switch at once
        assert ledger.archive_location(DAY1) == str(archive_dir / DAY1)
        # Archiving it again changes nothing; compressing it is refused.
        again = maintenance.archive(ledger, DAY1, archive_dir)
        assert (again.files, again.record_count) == (0, len(before))
        with pytest.raises(LedgerError, match="archived"):
            maintenance.compress(ledger, DAY1)
    assert report.destination == str(archive_dir / DAY1)
    assert os.listdir(root / DAY1) == [maintenance.ARCHIVED_NAME]  # the tombstone
    marker = json.loads((root / DAY1 / maintenance.ARCHIVED_NAME).read_text())
    assert marker["archive"] == str(archive_dir / DAY1)
    for key in maintenance.MARKER_SUMMARY_KEYS:
        assert marker[key] == manifest[key], key
    assert marker["archived_at"]
    assert sorted(os.listdir(archive_dir)) == [DAY1]
    (listed,) = maintenance.archived_partitions(archive_dir)
    assert (listed.name, listed.record_count, listed.compressed) == (
        DAY1,
        len(of(written, DAY1)),
        compressed,
    )
    assert maintenance.verify_partition(FileLayer(), str(archive_dir / DAY1), DAY1).ok
    with Ledger.open(root, read_only=True) as ledger:
        assert ledger.partition_names() == [DAY1, DAY2]
        assert ledger.summary(DAY1) == summary
        assert (summary.record_count, summary.first_sequence, summary.last_sequence) == (
            len(before),
            1,
            len(before),
        )
        assert summary.compressed == compressed
        assert summary.segments == listed.segments and summary.size_bytes == listed.size_bytes
        assert ledger.get(before[5].position) == before[5]
        report_ok = maintenance.verify(ledger, DAY1)  # verifies the archive copy
        assert report_ok.ok and report_ok.records_verified == len(before), report_ok.problems
    # The ledger alone reads the archived records (from the copy), each once.
    assert contents(root) == by_lsn(written)
    assert contents(root, archive_dir) == by_lsn(written)


@pytest.mark.parametrize("partition", [DAY1, DAY2])
def test_after_archival_a_record_for_the_date_goes_to_late_with_a_fresh_lsn(
    tmp_path, ledger_copy, partition
):
    """DAY2 holds the highest LSNs: after archiving it, only its tombstone remembers them."""
    root, written = ledger_copy
    top = max(w.lsn for w in written)
    archived_lsns = {w.lsn for w in of(written, partition)}
    archive_dir = tmp_path / "archive"
    seal(root, partition)
    with Ledger.open(root, OPTIONS) as ledger:
        maintenance.archive(ledger, partition, archive_dir)
        first = append_one(ledger, partition, 3000)
    assert first.position == Position(partition + "-late", 1)
    assert first.lsn == top + 1
    for n in (2, 3):  # after close + reopen, twice: the LSN counter and the route hold
        with Ledger.open(root, OPTIONS) as ledger:
            assert ledger.summary(partition).archived
            later = append_one(ledger, partition, 3000 + n)
        assert later.position == Position(partition + "-late", n)
        assert later.lsn == top + n
    found = contents(root)  # (asserts no LSN is readable twice)
    assert {w.lsn for w in found if w.partition == partition} == archived_lsns
    assert [w.lsn for w in found if w.partition == partition + "-late"] == [
        top + 1,
        top + 2,
        top + 3,
    ]
    assert not (archive_dir / (partition + "-late")).exists()


def test_the_next_lsn_after_reopening_counts_a_tombstone_that_held_the_highest_lsns(
    tmp_path, ledger_copy
):
    root, written = ledger_copy
    top = max(w.lsn for w in written)
    assert top in {w.lsn for w in of(written, DAY2)}
    archive_one(root, DAY2, tmp_path / "archive")
    with Ledger.open(root, OPTIONS) as ledger:  # nothing appended since the archival
        appended = append_one(ledger, DAY1, 4000)
    assert appended.position == Position(DAY1, len(of(written, DAY1)) + 1)
    assert appended.lsn == top + 1


@pytest.mark.parametrize("compressed", [False, True], ids=["plain", "compressed"])
def test_replay_after_archival_returns_every_record_once_in_lsn_order(
    tmp_path, ledger_copy, compressed
):
    root, written = ledger_copy
    with Ledger.open(root, OPTIONS) as ledger:  # interleave the two dates' LSNs
        for i in range(5):
            written += append(ledger, [100 + i]) + append(ledger, [1100 + i], T0_NS + DAY_NS)
    archive_one(root, DAY1, tmp_path / "archive", compress=compressed)
    for read_only in (False, True):
        with Ledger.open(root, None if read_only else OPTIONS, read_only=read_only) as ledger:
            replayed = entries(ledger.replay())
            assert replayed == by_lsn(written)
            day1 = [w for w in replayed if w.partition == DAY1]
            assert [e.position.sequence for e in ledger.read(DAY1)] == list(range(1, len(day1) + 1))


def test_with_the_archive_copy_moved_away_open_works_replay_skips_and_read_raises(
    tmp_path, ledger_copy, caplog
):
    root, written = ledger_copy
    archive_dir = tmp_path / "archive"
    archive_one(root, DAY1, archive_dir)
    moved = tmp_path / "elsewhere"
    archive_dir.rename(moved)
    top = max(w.lsn for w in written)
    for read_only in (True, False):
        with Ledger.open(root, None if read_only else OPTIONS, read_only=read_only) as ledger:
            assert ledger.partition_names() == [DAY1, DAY2]
            summary = ledger.summary(DAY1)  # from the tombstone: no need for the copy
            assert summary.archived and summary.record_count == len(of(written, DAY1))
            caplog.clear()
            with caplog.at_level(logging.WARNING, logger="omen.ledger"):
                replayed = entries(ledger.replay())
            assert replayed == of(written, DAY2)
            (warning,) = [r for r in caplog.records if "replay skips" in r.getMessage()]
            assert DAY1 in warning.getMessage()
            assert str(archive_dir / DAY1) in warning.getMessage()
            copy = str(archive_dir / DAY1)
            with pytest.raises(LedgerError, match="archived to") as raised:
                list(ledger.read(DAY1))
            assert copy in str(raised.value)
            with pytest.raises(LedgerError, match="cannot be read"):
                ledger.get(Position(DAY1, 1))
            report = maintenance.verify(ledger, DAY1)
            assert not report.ok and copy in report.problems[0]
            if not read_only:  # the date stays sealed, the LSNs stay counted
                appended = append_one(ledger, DAY1, 3000)
                assert (appended.position, appended.lsn) == (Position(DAY1 + "-late", 1), top + 1)
    moved.rename(archive_dir)  # back in place: readable again
    with Ledger.open(root, read_only=True) as ledger:
        assert entries(ledger.read(DAY1)) == of(written, DAY1)


def test_list_partitions_rpc_lists_an_archived_partition_once(tmp_path, ledger_copy):
    from omen._proto import service_pb2
    from omen.entrypoints.grpc.servicers import LedgerServicer

    root, written = ledger_copy
    archive_one(root, DAY1, tmp_path / "archive", compress=True)
    with Ledger.open(root, OPTIONS) as ledger:
        response = asyncio.run(
            LedgerServicer(ledger).ListPartitions(service_pb2.ListPartitionsRequest(), None)
        )
    assert [
        (p.name, p.archived, p.sealed, p.compressed, p.record_count, p.last_sequence)
        for p in response.partitions
    ] == [
        (DAY1, True, True, True, len(of(written, DAY1)), len(of(written, DAY1))),
        (DAY2, False, False, False, len(of(written, DAY2)), len(of(written, DAY2))),
    ]


def test_a_legacy_archived_marker_with_a_verified_copy_finishes_into_a_tombstone(
    tmp_path, ledger_copy
):
    """A marker naming only the copy (as written before markers carried the summary), with
    the partition's files still there: open removes the files and completes the marker."""
    root, written = ledger_copy
    archive_dir = tmp_path / "archive"
    seal(root, DAY1)
    manifest = json.loads((root / DAY1 / MANIFEST_NAME).read_text())
    shutil.copytree(root / DAY1, archive_dir / DAY1)
    marker = root / DAY1 / maintenance.ARCHIVED_NAME
    marker.write_text(json.dumps({"archive": str(archive_dir / DAY1)}))
    with Ledger.open(root, read_only=True) as ledger:  # read-only: archived, nothing changed
        assert ledger.summary(DAY1).archived
        assert len(os.listdir(root / DAY1)) > 1
    with Ledger.open(root, OPTIONS) as ledger:
        assert ledger.partition_names() == [DAY1, DAY2]
        assert ledger.summary(DAY1).archived
    assert os.listdir(root / DAY1) == [maintenance.ARCHIVED_NAME]
    completed = json.loads(marker.read_text())
    assert completed["last_lsn"] == manifest["last_lsn"]
    assert completed["record_count"] == manifest["record_count"]
    assert contents(root) == by_lsn(written)
    assert contents(root, archive_dir) == by_lsn(written)


def test_an_archived_marker_with_a_damaged_copy_keeps_the_partition(tmp_path, ledger_copy):
    root, written = ledger_copy
    archive_dir = tmp_path / "archive"
    seal(root, DAY1)
    shutil.copytree(root / DAY1, archive_dir / DAY1)
    flip(archive_dir / DAY1 / "signals-000001.wal", 200)
    marker = root / DAY1 / maintenance.ARCHIVED_NAME
    marker.write_text(json.dumps({"archive": str(archive_dir / DAY1)}))
    with Ledger.open(root, OPTIONS) as ledger:
        assert ledger.partition_names() == [DAY1, DAY2]
        assert not ledger.summary(DAY1).archived
    assert not marker.exists()
    assert contents(root) == sorted(written, key=lambda w: w.lsn)


# ---------------------------------------------------------------------------------- read-only


class TornViewFiles(FileLayer):
    """Reads of `path` see a zero hole over its first record (a write in flight seen out of
    order) the first `torn_reads` times, then the real bytes."""

    def __init__(self, path: str, hole: tuple[int, int], torn_reads: int) -> None:
        self.path = path
        self.hole = hole
        self.torn_reads = torn_reads
        self.reads = 0

    def read_file(self, path: str) -> bytes:
        data = super().read_file(path)
        if path != self.path:
            return data
        self.reads += 1
        if self.reads > self.torn_reads:
            return data
        torn = bytearray(data)
        start, end = self.hole
        torn[start:end] = bytes(end - start)
        return bytes(torn)


def test_a_read_only_open_rereads_a_live_last_segment_that_looked_corrupt(ledger_copy):
    root, written = ledger_copy
    (*_, (path, offsets, _)) = segments(root, DAY2)
    assert len(offsets) >= 2
    hole = (offsets[0], offsets[1])
    files = TornViewFiles(str(path), hole, torn_reads=2)
    with Ledger.open(root, read_only=True, files=files) as ledger:
        assert ledger.torn_tails == ()
        assert entries(ledger.replay()) == by_lsn(written)
    assert files.reads > 2  # read torn twice, then whole
    stuck = TornViewFiles(str(path), hole, torn_reads=1000)  # real damage reads the same
    with pytest.raises(LedgerCorruptError, match="corrupt record") as raised:
        Ledger.open(root, read_only=True, files=stuck)
    assert raised.value.path == str(path) and raised.value.offset == offsets[0]
    assert 1 < stuck.reads <= 1 + maintenance._LIVE_RETRIES
    # A writable open never retries (it holds the lock: no writer can be appending), and a
    # sealed partition's segments are never rewritten.
    with pytest.raises(LedgerCorruptError):
        Ledger.open(root, OPTIONS, files=TornViewFiles(str(path), hole, torn_reads=1))


# ---------------------------------------------------------------------------------- crashes


def assert_recovered(root: Path) -> None:
    """After a writable open: no leftovers, each segment in exactly one form, and an ARCHIVED
    marker only alone (a tombstone), never next to files an archival left behind."""
    for partition in (p for p in root.iterdir() if p.is_dir()):
        names = set(os.listdir(partition))
        assert names, f"{partition} is an empty partition directory"
        assert not [n for n in names if n.endswith(".tmp")]
        assert maintenance.ARCHIVED_NAME not in names or names == {maintenance.ARCHIVED_NAME}
        assert not [n for n in names if n.endswith(".wal") and n + ".zst" in names], names


def crash_at_every_step(root: Path, operation, reopen_check, finish) -> int:
    """Run `operation(ledger)` with a file layer that dies at step 1, 2, ... (each time on a
    fresh copy of `root`) until it completes. After each crash: `reopen_check(copy)` (what a
    read-only reader sees), a writable open with the real file layer (recovery), then
    `reopen_check` again, `finish(copy)` (re-run to completion) and `reopen_check` once more.
    Returns the number of steps the operation took."""
    for n in range(1, MAX_STEPS):
        copy = root.parent / f"crash-{n}"
        shutil.copytree(root, copy / "ledger")
        files = CrashingFiles()
        ledger = Ledger.open(copy / "ledger", OPTIONS, files=files)
        files.arm(n)
        try:
            operation(ledger, copy)
        except (OSError, LedgerError):
            assert files.crashed, "the operation failed without a crash"
        else:
            assert not files.crashed
            ledger.close()
            reopen_check(copy)
            shutil.rmtree(copy)
            return n
        finally:
            with contextlib.suppress(OSError, LedgerError):
                ledger.close()
        reopen_check(copy)
        Ledger.open(copy / "ledger", OPTIONS).close()
        assert_recovered(copy / "ledger")
        reopen_check(copy)
        finish(copy)
        reopen_check(copy)
        shutil.rmtree(copy)
    raise AssertionError(f"the operation did not complete within {MAX_STEPS} steps")


def test_a_crash_between_any_two_steps_of_seal_loses_nothing(tmp_path, ledger_copy):
    root, written = ledger_copy
    with Ledger.open(root, OPTIONS) as ledger:  # a partition the writer still has open
        written += append(ledger, range(40, 45))
    expected = sorted(written, key=lambda w: w.lsn)

    def operation(ledger: Ledger, copy: Path) -> None:
        ledger.seal(DAY1)

    def check(copy: Path) -> None:  # (finish appends one record to DAY1-late)
        assert [w for w in contents(copy / "ledger") if w.partition != DAY1 + "-late"] == expected

    def finish(copy: Path) -> None:
        with Ledger.open(copy / "ledger", OPTIONS) as ledger:
            manifest = ledger.seal(DAY1)
            assert manifest["record_count"] == len(of(written, DAY1))
            assert maintenance.verify(ledger, DAY1).ok
            append(ledger, [3000])  # the date is sealed: the record goes to DAY1-late
            assert ledger.partition_names() == [DAY1, DAY1 + "-late", DAY2]

    steps = crash_at_every_step(root, operation, check, finish)
    assert steps > 5


def test_a_crash_between_any_two_steps_of_compress_loses_nothing(tmp_path, ledger_copy):
    root, written = ledger_copy
    seal(root, DAY1)
    expected = sorted(written, key=lambda w: w.lsn)

    def operation(ledger: Ledger, copy: Path) -> None:
        maintenance.compress(ledger, DAY1)

    def check(copy: Path) -> None:
        assert contents(copy / "ledger") == expected
        with Ledger.open(copy / "ledger", read_only=True) as ledger:
            assert maintenance.verify(ledger, DAY1).ok

    def finish(copy: Path) -> None:
        with Ledger.open(copy / "ledger", OPTIONS) as ledger:
            maintenance.compress(ledger, DAY1)
            assert ledger.summary(DAY1).compressed
        names = os.listdir(copy / "ledger" / DAY1)
        assert not [n for n in names if n.endswith((".wal", ".tmp"))], names

    steps = crash_at_every_step(root, operation, check, finish)
    assert steps > 3 * len(segments(root, DAY1))


@pytest.mark.parametrize("compressed", [False, True], ids=["plain", "compressed"])
def test_a_crash_between_any_two_steps_of_archive_loses_nothing(tmp_path, ledger_copy, compressed):
    root, written = ledger_copy
    seal(root, DAY1, compress=compressed)
    expected = sorted(written, key=lambda w: w.lsn)

    def operation(ledger: Ledger, copy: Path) -> None:
        maintenance.archive(ledger, DAY1, copy / "archive")

    def check(copy: Path) -> None:
        assert contents(copy / "ledger", copy / "archive") == expected
        with Ledger.open(copy / "ledger", read_only=True) as ledger:
            assert ledger.partition_names() == [DAY1, DAY2]
            assert entries(ledger.replay()) == expected  # archived or not, every record once

    def finish(copy: Path) -> None:
        with Ledger.open(copy / "ledger", OPTIONS) as ledger:
            if not ledger.summary(DAY1).archived:
                maintenance.archive(ledger, DAY1, copy / "archive")
            assert ledger.partition_names() == [DAY1, DAY2]
            assert ledger.summary(DAY1).archived
            assert maintenance.verify(ledger, DAY1).ok
        assert os.listdir(copy / "ledger" / DAY1) == [maintenance.ARCHIVED_NAME]
        assert sorted(os.listdir(copy / "archive")) == [DAY1]  # no leftover .tmp copy
        assert maintenance.verify_partition(FileLayer(), str(copy / "archive" / DAY1), DAY1).ok
        assert contents(copy / "ledger") == expected  # the tombstone reads the copy

    steps = crash_at_every_step(root, operation, check, finish)
    assert steps > 3 * len(segments(root, DAY1))


# ---------------------------------------------------------------------------------- repair


def test_repair_salvages_the_records_before_a_corrupt_record_and_keeps_broken_files(ledger_copy):
    root, written = ledger_copy
    segs = segments(root, DAY1)
    path, offsets, _ = segs[1]
    flip(path, offsets[3] + 40)
    with pytest.raises(LedgerCorruptError):
        Ledger.open(root, OPTIONS).close()
    damaged_bytes = path.read_bytes()
    later = [s[0] for s in segs[2:]]
    later_bytes = sum(p.stat().st_size for p in later)

    report = maintenance.repair(root)

    (day1,) = [p for p in report.partitions if p.partition == DAY1]
    (day2,) = [p for p in report.partitions if p.partition == DAY2]
    kept = len(segs[0][1]) + 3
    assert day1.records_kept == kept
    assert day1.damage.startswith(f"{path}: ") and day1.damage.endswith(f"at offset {offsets[3]}")
    assert day1.broken_files == [p.name for p in later] + [path.name]
    assert day1.bytes_moved == later_bytes + len(damaged_bytes)
    assert not day2.changed and day2.records_kept == len(of(written, DAY2))
    assert Path(str(path) + ".broken").read_bytes() == damaged_bytes
    assert all(Path(str(p) + ".broken").exists() and not p.exists() for p in later)
    salvaged = of(written, DAY1)[:kept]
    assert contents(root) == sorted(salvaged + of(written, DAY2), key=lambda w: w.lsn)
    with Ledger.open(root, OPTIONS) as ledger:  # the ledger works on: appends chain on
        assert maintenance.verify(ledger, DAY1).ok
        more = append(ledger, range(5000, 5030))
        ledger.seal(DAY1)
        assert maintenance.verify(ledger, DAY1).ok
    assert [w.lsn for w in contents(root) if w.partition == DAY1] == [
        w.lsn for w in salvaged + of(more, DAY1)
    ]


def test_repair_of_a_sealed_compressed_partition_unseals_it_and_makes_it_plain(ledger_copy):
    root, written = ledger_copy
    seal(root, DAY1, compress=True)
    path = root / DAY1 / "signals-000002.wal.zst"
    flip(path, path.stat().st_size - 10)  # inside the zstd frame: nothing of it is readable

    report = maintenance.repair(root)

    (day1,) = [p for p in report.partitions if p.partition == DAY1]
    first = len(segments_before_compress := of(written, DAY1))
    assert first
    assert day1.manifest_removed and day1.damage.startswith(f"{path}: ")
    assert MANIFEST_NAME in day1.broken_files and "signals-000002.wal.zst" in day1.broken_files
    names = sorted(os.listdir(root / DAY1))
    assert "signals-000001.wal" in names and not [n for n in names if n.endswith(".zst")]
    with Ledger.open(root, OPTIONS) as ledger:
        assert not ledger.summary(DAY1).sealed
        kept = [e.lsn for e in ledger.read(DAY1)]
        ledger.seal(DAY1)  # an unsealed partition of plain segments seals again
    assert kept == [w.lsn for w in segments_before_compress[: len(kept)]]
    assert len(kept) == day1.records_kept > 0


def test_repair_moves_a_manifest_that_no_longer_matches_and_keeps_every_record(ledger_copy):
    root, written = ledger_copy
    seal(root, DAY2)
    path = root / DAY2 / MANIFEST_NAME
    manifest = json.loads(path.read_text())
    manifest["fingerprint"] = "f" * 64
    path.write_text(json.dumps(manifest))

    report = maintenance.repair(root)

    (day2,) = [p for p in report.partitions if p.partition == DAY2]
    assert day2.manifest_removed and day2.broken_files == [MANIFEST_NAME]
    assert day2.records_kept == len(of(written, DAY2))
    assert contents(root) == sorted(written, key=lambda w: w.lsn)


def test_repair_of_a_clean_ledger_changes_nothing(ledger_copy):
    root, written = ledger_copy
    before = {p: p.read_bytes() for p in root.rglob("*.wal")}
    report = maintenance.repair(root)
    assert report.changed == []
    assert [p.records_kept for p in report.partitions] == [
        len(of(written, DAY1)),
        len(of(written, DAY2)),
    ]
    assert {p: p.read_bytes() for p in root.rglob("*.wal")} == before


def test_repair_refuses_while_a_writer_holds_the_lock(ledger_copy):
    root, _ = ledger_copy
    with Ledger.open(root, OPTIONS), pytest.raises(LedgerLockedError, match="in use"):
        maintenance.repair(root)

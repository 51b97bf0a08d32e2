"""Ledger maintenance: verify, compress, archive, finish what a crash interrupted, repair.

Every operation that changes files does it in steps, each made durable before the next, so that
a crash between any two steps loses nothing and the next open (`finish_interrupted`, called by
recovery) leaves a consistent state:

compress (sealed partitions): per segment, `<seg>.wal.zst.tmp` -> fsync -> read back, decompress
    and compare the SHA-256 with the manifest's -> rename to `<seg>.wal.zst` -> fsync of the
    directory; then the manifest, listing each compressed file, replaces the old one durably;
    then the plain files are unlinked. Until the manifest names a .wal.zst, the .wal is the
    segment and a stray .wal.zst is removed on open; once it does, the .wal is removed on open,
    but only when the .wal.zst verifies.

archive (sealed partitions): every file is copied to `<archive>/<partition>.tmp/`, fsynced and
    verified against the manifest (decompressing .wal.zst), the manifest is written there last,
    the copy is verified as a whole, the directory is renamed to `<archive>/<partition>` and the
    archive directory fsynced. Then a durable ARCHIVED marker goes into the source partition:
    it names the copy and carries the manifest's summary (record and signal counts, first/last
    sequence and LSN, fingerprint, segment files, size, archived_at). The ledger marks the
    partition archived (its readers switch to the copy), every other file of the partition is
    unlinked and the partition directory fsynced. The directory stays, holding only the marker:
    a tombstone. It keeps the partition in the ledger, so the date stays sealed (new records go
    to `<date>-late`, never to a second sequence 1 of `<date>`), the next open counts the
    archived LSNs when it picks the next LSN, and replay reads the archived records from the
    copy. On open, a marker with leftover files next to it is an interrupted archival: the
    leftovers are removed when the copy verifies; otherwise the marker is dropped and the
    partition stays. A directory holding only the marker is a tombstone and is kept as it is
    (the copy is not re-verified on every open, and an unreachable copy does not stop the open).
    A read-only open changes nothing and treats any directory with the marker as archived. A
    crash before the marker leaves the partition in the ledger (and possibly a verified copy,
    which the next `archive` run adopts after verifying it, or a `.tmp` copy, which the next run
    removes).

verify reads every byte; it works on a read-only ledger while a server appends. A torn tail in
the last segment of an unsealed partition is not damage: it is a batch being written right now,
or one that was never acknowledged and that the next writable open truncates; it is reported as
a note. Damage anywhere else is a problem naming the file and the byte offset. Verifying an
archived partition (a tombstone) verifies the archive copy its marker names; a copy that is
missing is a problem.

repair (offline, holding the ledger's lock) salvages every partition up to its first damaged
segment; see `repair`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from omen import native
from omen.adapters.ledger import compression
from omen.adapters.ledger import manifest as manifests
from omen.adapters.ledger.files import FileLayer
from omen.adapters.ledger.format import (
    HEADER_BYTES,
    LOCK_NAME,
    MANIFEST_NAME,
    LedgerCorruptError,
    LedgerError,
    LedgerLockedError,
    SegmentHeader,
    is_partition_name,
    parse_segment_name,
    segment_name,
    unpack_lsn,
)
from omen.adapters.ledger.records import set_fingerprint
from omen.adapters.ledger.segments import ScannedSegment, ScanStatus, scan_segment

if TYPE_CHECKING:
    from omen.adapters.ledger.ledger import Ledger

log = logging.getLogger("omen.ledger")

#: Marker in a source partition: its verified copy is in the archive; the rest may be removed.
ARCHIVED_NAME = "ARCHIVED"
#: Suffix of files that repair took out of the ledger (kept for inspection, never read).
BROKEN_SUFFIX = ".broken"
TMP_SUFFIX = ".tmp"
#: Re-reads of a live partition's last segment that looked corrupt (a write in flight).
_LIVE_RETRIES = 5
#: What an ARCHIVED marker carries of the partition's manifest (besides the copy's path).
MARKER_SUMMARY_KEYS = (
    "record_count",
    "signal_count",
    "first_sequence",
    "last_sequence",
    "first_lsn",
    "last_lsn",
    "fingerprint",
)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _where(path: str, offset: int, reason: str) -> str:
    return f"{path}: {reason} at offset {offset}"


def _segment_files(path: str) -> dict[int, dict[bool, str]]:
    """Segment number -> {compressed: file name} for the segment files in `path`."""
    numbered: dict[int, dict[bool, str]] = {}
    for entry in sorted(os.listdir(path)):
        parsed = parse_segment_name(entry)
        if parsed is not None:
            numbered.setdefault(parsed[0], {})[parsed[1]] = entry
    return numbered


def _choose(forms: dict[bool, str], manifest: dict[str, Any] | None, number: int) -> str:
    """The file that is the segment, as recovery picks it: the manifest decides."""
    compressed = manifest is not None and manifests.is_compressed(manifest, number)
    return forms.get(compressed) or next(iter(forms.values()))


def _entries(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    segments = manifest.get("segments")
    return [s for s in segments if isinstance(s, dict)] if isinstance(segments, list) else []


# ---------------------------------------------------------------------------------- verify


@dataclass
class VerifyReport:
    """What verifying one partition found. `problems` is damage; `notes` is not."""

    ok: bool
    records_verified: int
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    partition: str = ""
    sealed: bool = False


def verify(ledger: Ledger, partition: str) -> VerifyReport:
    """Re-read and check every segment of `partition` of an open (possibly read-only) ledger."""
    if partition not in ledger.partition_names():
        raise LedgerError(f"no partition {partition!r} in ledger {ledger.root}")
    return verify_partition(ledger.files, os.path.join(ledger.root, partition), partition)


def verify_partition(files: FileLayer, path: str, name: str) -> VerifyReport:
    """Check the partition directory `path` byte by byte; needs no open Ledger, so it also
    checks a ledger that recovery refuses to open, and copies in the archive."""
    if is_tombstone(path):
        return _verify_tombstone(files, path, name)
    problems: list[str] = []
    notes: list[str] = []
    manifest_path = os.path.join(path, MANIFEST_NAME)
    sealed = os.path.exists(manifest_path)
    manifest: dict[str, Any] | None = None
    if sealed:
        try:
            manifest = manifests.load(files, manifest_path)
        except LedgerCorruptError as exc:
            problems.append(_where(exc.path, exc.offset, exc.reason))
    if os.path.exists(os.path.join(path, ARCHIVED_NAME)):
        notes.append(
            f"{path}: archived; removing its files from the ledger is pending (the next "
            "writable open finishes it and keeps the marker as the partition's tombstone)"
        )
    numbered = _segment_files(path)
    numbers = sorted(numbered)
    found: dict[int, tuple[str, bytes, bytes, ScannedSegment]] = {}
    records = 0
    prev: ScannedSegment | None = None
    prev_damaged = False
    expected_sequence = 1
    last_lsn = 0
    ids: list[str] = []
    for index, number in enumerate(numbers):
        forms = numbered[number]
        chosen = _choose(forms, manifest, number)
        seg_path = os.path.join(path, chosen)
        if len(forms) > 1:
            notes.append(
                f"{path}: both {forms[False]} and {forms[True]} exist (an interrupted "
                f"compression); {chosen} is the segment and the next open removes the other"
            )
        last = index == len(numbers) - 1
        try:
            raw, data, scanned = _read_segment(files, seg_path)
            if not sealed and last and scanned.status == ScanStatus.CORRUPT:
                raw, data, scanned = _settle_live_tail(files, seg_path, scanned)
        except LedgerCorruptError as exc:
            problems.append(_where(exc.path, exc.offset, exc.reason))
            prev, prev_damaged = None, True
            continue
        seg = scanned.segment
        header = seg.header
        if header.partition != name or (
            not prev_damaged and header.first_sequence != expected_sequence
        ):
            problems.append(
                _where(
                    seg_path,
                    0,
                    f"header names partition {header.partition} from sequence "
                    f"{header.first_sequence}, expected {name} from {expected_sequence}",
                )
            )
        if (
            index > 0
            and not prev_damaged
            and prev is not None
            and header.prev_crc != prev.segment.last_crc
        ):
            p = prev.segment
            problems.append(
                _where(
                    p.path,
                    int(p.offsets[-1]) if p.count else HEADER_BYTES,
                    f"last record does not match the chain CRC in {seg.name}'s header",
                )
            )
        damaged = scanned.status != ScanStatus.OK
        if scanned.status == ScanStatus.TORN and last and not sealed:
            notes.append(
                _where(seg_path, int(scanned.error_offset or 0), f"torn tail ({scanned.reason})")
                + ": a write in progress, or one never acknowledged that the next writable "
                "open truncates; not damage"
            )
        elif damaged:
            problems.append(_where(seg_path, int(scanned.error_offset or 0), scanned.reason))
        for offset in seg.offsets:
            lsn = unpack_lsn(data[int(offset) + 9 : int(offset) + 17])
            if lsn <= last_lsn:
                problems.append(
                    _where(seg_path, int(offset), f"LSN {lsn} does not follow LSN {last_lsn}")
                )
            last_lsn = lsn
        records += seg.count
        ids.extend(manifests.signal_ids(data, seg))
        found[number] = (chosen, raw, data, scanned)
        prev, prev_damaged = scanned, damaged
        expected_sequence = seg.next_sequence
    if manifest is not None:
        problems.extend(_check_manifest(manifest, manifest_path, path, name, found, ids))
    return VerifyReport(not problems, records, problems, notes, name, sealed)


def _verify_tombstone(files: FileLayer, path: str, name: str) -> VerifyReport:
    """An archived partition: verify the archive copy its marker names, and that the copy is
    the one the marker describes."""
    marker = os.path.join(path, ARCHIVED_NAME)
    try:
        info = read_marker(files, marker)
    except LedgerCorruptError as exc:
        return VerifyReport(False, 0, [_where(exc.path, exc.offset, exc.reason)], [], name, True)
    dest = str(info["archive"])
    copy_manifest = os.path.join(dest, MANIFEST_NAME)
    if os.path.realpath(dest) == os.path.realpath(path):
        problem = f"{marker}: the marker names the partition itself as its archive copy"
        return VerifyReport(False, 0, [problem], [], name, True)
    if not os.path.isfile(copy_manifest):
        problem = (
            f"{marker}: partition {name} is archived to {dest}, but that copy is not reachable "
            f"({copy_manifest} is missing)"
        )
        return VerifyReport(False, 0, [problem], [], name, True)
    report = verify_partition(files, dest, name)
    problems = list(report.problems)
    if not problems:
        copy = manifests.load(files, copy_manifest)
        for key in MARKER_SUMMARY_KEYS:
            if key in info and copy.get(key) != info[key]:
                problems.append(
                    f"{marker}: the marker's {key} is {info[key]!r}, the archive copy's "
                    f"manifest says {copy.get(key)!r}"
                )
    notes = [f"{path}: archived; verified the archive copy {dest}", *report.notes]
    return VerifyReport(not problems, report.records_verified, problems, notes, name, True)


def _read_segment(files: FileLayer, path: str) -> tuple[bytes, bytes, ScannedSegment]:
    """(file bytes, plain bytes, scan) of one segment file."""
    raw = files.read_file(path)
    data = raw
    if path.endswith(".zst"):
        try:
            data = compression.decompress_frames(raw)
        except compression.CompressionError as exc:
            raise LedgerCorruptError(path, exc.offset, str(exc)) from None
    return raw, data, scan_segment(files, path, data)


def rescan_live_tail(files: FileLayer, path: str, scanned: ScannedSegment) -> ScannedSegment:
    """`scanned` (CORRUPT) is the last segment of an unsealed partition, read by a read-only
    open while a writer may be appending (see _settle_live_tail): re-read it up to
    _LIVE_RETRIES times, pausing a little longer each time, until it no longer reads CORRUPT.
    Real damage reads the same every time; the caller then reports the last scan."""
    for attempt in range(1, _LIVE_RETRIES + 1):
        time.sleep(0.001 * attempt)
        scanned = scan_segment(files, path)
        if scanned.status != ScanStatus.CORRUPT:
            break
    return scanned


def _settle_live_tail(
    files: FileLayer, path: str, scanned: ScannedSegment
) -> tuple[bytes, bytes, ScannedSegment]:
    """Re-read the segment a live writer may be appending to: a read that overlaps a write can
    see a later page of it before an earlier one (a zero hole, then records), which scans as
    CORRUPT. Real damage stays where it is; a write in flight moves on or completes."""
    raw, data = b"", b""
    for _ in range(_LIVE_RETRIES):
        raw, data, again = _read_segment(files, path)
        if again.status != ScanStatus.CORRUPT or (
            again.error_offset == scanned.error_offset and again.reason == scanned.reason
        ):
            return raw, data, again
        scanned = again
    return raw, data, scanned


def _check_manifest(
    manifest: dict[str, Any],
    manifest_path: str,
    path: str,
    name: str,
    found: dict[int, tuple[str, bytes, bytes, ScannedSegment]],
    ids: list[str],
) -> list[str]:
    problems: list[str] = []

    def problem(where: str, reason: str) -> None:
        problems.append(_where(where, 0, reason))

    if manifest.get("partition") != name:
        problem(manifest_path, f"manifest names partition {manifest.get('partition')!r}")
    listed: set[int] = set()
    for entry in _entries(manifest):
        number = entry.get("number")
        if not isinstance(number, int):
            problem(manifest_path, f"manifest entry {entry!r} has no segment number")
            continue
        listed.add(number)
        compressed = entry.get("compressed")
        if number not in found:
            problem(os.path.join(path, str(entry.get("name"))), "listed in the manifest; missing")
            continue
        chosen, raw, data, scanned = found[number]
        seg = scanned.segment
        seg_path = os.path.join(path, chosen)
        if seg.count != entry.get("records"):
            problem(
                seg_path, f"holds {seg.count} records, the manifest says {entry.get('records')}"
            )
        if seg.first_sequence != entry.get("first_sequence"):
            problem(
                seg_path,
                f"starts at sequence {seg.first_sequence}, the manifest says "
                f"{entry.get('first_sequence')}",
            )
        if len(data) != entry.get("bytes") or _sha256(data) != entry.get("sha256"):
            problem(seg_path, "plain bytes differ from the manifest's size or SHA-256")
        if isinstance(compressed, dict):
            if not seg.compressed:
                problem(
                    os.path.join(path, str(compressed.get("name"))),
                    "the manifest lists this compressed segment; missing",
                )
            elif len(raw) != compressed.get("bytes") or _sha256(raw) != compressed.get("sha256"):
                problem(seg_path, "compressed file differs from the manifest's size or SHA-256")
        elif seg.compressed:
            problem(seg_path, "compressed, but the manifest lists the segment as plain")
    for number in sorted(set(found) - listed):
        problem(os.path.join(path, found[number][0]), "segment is not listed in the manifest")
    count = sum(found[n][3].segment.count for n in found)
    expect = {
        "record_count": count,
        "first_sequence": 1 if count else 0,
        "last_sequence": count,
        "signal_count": len(ids),
        "fingerprint": set_fingerprint(ids),
    }
    with_records = [found[n][3].segment for n in sorted(found) if found[n][3].segment.count]
    if with_records:
        expect["first_lsn"] = with_records[0].first_lsn
        expect["last_lsn"] = with_records[-1].last_lsn
    for key, value in expect.items():
        if manifest.get(key) != value:
            problem(
                manifest_path,
                f"manifest {key} is {manifest.get(key)!r}, the segments say {value!r}",
            )
    return problems


# ---------------------------------------------------------------------------------- compress


@dataclass(frozen=True)
class CompressReport:
    partition: str
    segments_compressed: int
    plain_bytes: int
    compressed_bytes: int

    @property
    def ratio(self) -> float:
        return self.plain_bytes / self.compressed_bytes if self.compressed_bytes else 0.0


def _sealed_manifest(ledger: Ledger, partition: str, what: str) -> tuple[str, dict[str, Any]]:
    if ledger.read_only:
        raise LedgerError(f"cannot {what} partition {partition}: the ledger is open read-only")
    summary = ledger.summary(partition)  # LedgerError when there is no such partition
    if summary.archived:
        raise LedgerError(
            f"cannot {what} partition {partition}: it is archived "
            f"(to {ledger.archive_location(partition)})"
        )
    path = os.path.join(ledger.root, partition)
    manifest_path = os.path.join(path, MANIFEST_NAME)
    if not summary.sealed or not os.path.exists(manifest_path):
        raise LedgerError(
            f"cannot {what} partition {partition}: it is not sealed (seal it first: "
            f"`omen ledger seal {partition}` or the LedgerService.SealPartition RPC)"
        )
    return path, manifests.load(ledger.files, manifest_path)


def _write_file(files: FileLayer, path: str, data: bytes) -> None:
    """Create `path` with `data` and fsync it (the caller fsyncs the directory)."""
    fd = files.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    try:
        files.pwrite(fd, data, 0)
        files.fsync(fd)
    finally:
        files.close(fd)


def _compressed_matches(files: FileLayer, path: str, entry: dict[str, Any]) -> bool:
    """The .wal.zst at `path` is the manifest's: its own hash, and its plain bytes' hash."""
    compressed = entry.get("compressed")
    try:
        raw = files.read_file(path)
        if isinstance(compressed, dict) and _sha256(raw) != compressed.get("sha256"):
            return False
        return _sha256(compression.decompress_frames(raw)) == entry.get("sha256")
    except (OSError, compression.CompressionError):
        return False


def _plain_matches(files: FileLayer, path: str, entry: dict[str, Any]) -> bool:
    try:
        return _sha256(files.read_file(path)) == entry.get("sha256")
    except OSError:
        return False


def compress(ledger: Ledger, partition: str) -> CompressReport:
    """Replace the segments of sealed `partition` by zstd-compressed ones (see the module
    docstring for the steps). Re-running it finishes an interrupted run; a compressed partition
    is left as it is."""
    path, manifest = _sealed_manifest(ledger, partition, "compress")
    files = ledger.files
    done = plain_bytes = packed_bytes = 0
    for entry in _entries(manifest):
        number = int(entry["number"])
        plain_path = os.path.join(path, segment_name(number))
        compressed = entry.get("compressed")
        if isinstance(compressed, dict):
            plain_bytes += int(entry["bytes"])
            packed_bytes += int(compressed["bytes"])
            continue
        data = files.read_file(plain_path)
        if _sha256(data) != entry.get("sha256"):
            raise LedgerCorruptError(
                plain_path,
                0,
                "SHA-256 differs from the manifest's; not compressing a damaged "
                "segment (`omen ledger verify` shows the damage)",
            )
        packed = compression.compress_frames(data)
        zst_name = segment_name(number, compressed=True)
        zst_path = os.path.join(path, zst_name)
        tmp = zst_path + TMP_SUFFIX
        _write_file(files, tmp, packed)
        entry_after = {**entry, "compressed": {"sha256": _sha256(packed)}}
        if files.read_file(tmp) != packed or not _compressed_matches(files, tmp, entry_after):
            files.unlink(tmp)
            raise LedgerError(f"{tmp}: the compressed copy does not read back; nothing replaced")
        files.rename(tmp, zst_path)
        files.fsync_dir(path)
        entry["compressed"] = {"name": zst_name, "bytes": len(packed), "sha256": _sha256(packed)}
        done += 1
        plain_bytes += len(data)
        packed_bytes += len(packed)
    if done:
        manifests.write(files, path, manifest)
    # Readers in this process switch to the .wal.zst files before the plain ones go away.
    ledger.mark_compressed(partition, manifest)
    removed = False
    for entry in _entries(manifest):
        plain_path = os.path.join(path, segment_name(int(entry["number"])))
        if entry.get("compressed") and os.path.exists(plain_path):
            files.unlink(plain_path)
            removed = True
    if removed:
        files.fsync_dir(path)
    log.info("ledger: compressed partition %s (%d segments)", partition, done)
    return CompressReport(partition, done, plain_bytes, packed_bytes)


# ---------------------------------------------------------------------------------- archive


@dataclass(frozen=True)
class ArchivedPartition:
    """A partition in the archive directory, as its manifest describes it."""

    name: str
    record_count: int
    first_sequence: int
    last_sequence: int
    size_bytes: int
    compressed: bool
    segments: tuple[str, ...]
    fingerprint: str
    path: str
    sealed: bool = True
    archived: bool = True


def _remove_tree(files: FileLayer, path: str) -> None:
    """Unlink everything under `path`, then the directory itself."""
    for entry in sorted(os.listdir(path)):
        full = os.path.join(path, entry)
        if os.path.isdir(full) and not os.path.islink(full):
            _remove_tree(files, full)
        else:
            files.unlink(full)
    files.rmdir(path)


def _remove_leftovers(files: FileLayer, path: str) -> bool:
    """Unlink everything in partition directory `path` but its ARCHIVED marker."""
    removed = False
    for entry in sorted(os.listdir(path)):
        if entry == ARCHIVED_NAME:
            continue
        full = os.path.join(path, entry)
        if os.path.isdir(full) and not os.path.islink(full):
            _remove_tree(files, full)
        else:
            files.unlink(full)
        removed = True
    return removed


def is_tombstone(path: str) -> bool:
    """`path` is an archived partition's directory: its marker and nothing else (a `.tmp` file
    left by an interrupted write does not count; a writable open removes it)."""
    try:
        entries = os.listdir(path)
    except OSError:
        return False
    return ARCHIVED_NAME in entries and all(
        e == ARCHIVED_NAME or e.endswith(TMP_SUFFIX) for e in entries
    )


def _marker_info(dest: str, partition: str, manifest: dict[str, Any]) -> dict[str, Any]:
    """The ARCHIVED marker of a partition archived to `dest`: the copy, and what the ledger
    needs of the manifest once the partition's files are gone."""
    entries = _entries(manifest)
    size = 0
    for entry in entries:
        compressed = entry.get("compressed")
        size += int(
            compressed.get("bytes", 0) if isinstance(compressed, dict) else entry.get("bytes", 0)
        )
    return {
        "archive": dest,
        "partition": partition,
        **{key: manifest.get(key) for key in MARKER_SUMMARY_KEYS},
        "segments": [_file_name(e) for e in entries],
        "compressed": bool(entries) and all(isinstance(e.get("compressed"), dict) for e in entries),
        "size_bytes": size,
        "archived_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def _marker_bytes(marker: dict[str, Any]) -> bytes:
    return json.dumps(marker, sort_keys=True).encode() + b"\n"


def _marker_complete(marker: dict[str, Any]) -> bool:
    return all(key in marker for key in (*MARKER_SUMMARY_KEYS, "segments", "compressed"))


def _load_marker(files: FileLayer, marker: str) -> dict[str, Any]:
    try:
        info = json.loads(files.read_file(marker))
    except (ValueError, UnicodeDecodeError):
        info = None
    if (
        not isinstance(info, dict)
        or not isinstance(info.get("archive"), str)
        or not info["archive"]
    ):
        raise LedgerCorruptError(marker, 0, "the ARCHIVED marker does not name an archive copy")
    return info


def read_marker(files: FileLayer, marker: str) -> dict[str, Any]:
    """The ARCHIVED marker at `marker`: {"archive": the copy's path, the manifest summary
    (MARKER_SUMMARY_KEYS), "segments", "compressed", "size_bytes", "archived_at"}.

    A marker written before markers carried the summary is completed (in memory) from the
    archive copy's manifest when that is reachable; when it is not, the summary stays partial
    and a warning is logged. LedgerCorruptError when the marker names no copy."""
    info = _load_marker(files, marker)
    if _marker_complete(info):
        return info
    dest = str(info["archive"])
    try:
        copy = manifests.load(files, os.path.join(dest, MANIFEST_NAME))
    except (OSError, LedgerCorruptError) as exc:
        log.warning(
            "ledger: %s predates archival markers that describe the partition, and the archive "
            "copy %s is not readable (%s); the archived records are not counted",
            marker,
            dest,
            exc,
        )
        return info
    name = os.path.basename(os.path.dirname(marker))
    return {**_marker_info(dest, name, copy), **info}


def _makedirs(files: FileLayer, path: str) -> None:
    if os.path.isdir(path):
        return
    parent = os.path.dirname(os.path.abspath(path))
    _makedirs(files, parent)
    files.mkdir(path)
    files.fsync_dir(parent)


def _files_to_copy(src: str, manifest: dict[str, Any]) -> list[str]:
    """The segment files the manifest names (in the form it names), then any other file that
    is not a leftover (e.g. a repair's .broken evidence). The manifest itself goes last."""
    names = [_file_name(entry) for entry in _entries(manifest)]
    for other in sorted(os.listdir(src)):
        if (
            other in names
            or other in (MANIFEST_NAME, ARCHIVED_NAME, LOCK_NAME)
            or other.endswith(TMP_SUFFIX)
            or parse_segment_name(other) is not None
            or not os.path.isfile(os.path.join(src, other))
        ):
            continue
        names.append(other)
    return names


def _file_name(entry: dict[str, Any]) -> str:
    """The file a manifest entry names: the .wal.zst when compressed, else the .wal."""
    compressed = entry.get("compressed")
    return str(compressed["name"]) if isinstance(compressed, dict) else str(entry["name"])


def _check_copied(files: FileLayer, path: str, original: bytes, manifest: dict[str, Any]) -> None:
    copied = files.read_file(path)
    if _sha256(copied) != _sha256(original):
        raise LedgerCorruptError(path, 0, "the copy differs from the original")
    parsed = parse_segment_name(os.path.basename(path))
    if parsed is None:
        return
    for entry in _entries(manifest):
        if entry.get("number") == parsed[0]:
            ok = (
                _compressed_matches(files, path, entry)
                if parsed[1]
                else _sha256(copied) == entry.get("sha256")
            )
            if not ok:
                raise LedgerCorruptError(path, 0, "the copy does not match the manifest's SHA-256")
            return
    raise LedgerCorruptError(path, 0, "segment is not listed in the manifest")


@dataclass(frozen=True)
class ArchiveReport:
    partition: str
    destination: str
    files: int
    bytes: int
    record_count: int


def archive(ledger: Ledger, partition: str, archive_dir: str | os.PathLike[str]) -> ArchiveReport:
    """Move sealed `partition` to `<archive_dir>/<partition>`, verified before the original is
    removed (see the module docstring). Re-running it finishes an interrupted run; archiving an
    archived partition again (to the same place) reports it and changes nothing."""
    archive_root = os.path.abspath(archive_dir)
    if (
        not ledger.read_only
        and partition in ledger.partition_names()
        and ledger.summary(partition).archived
        and ledger.archive_location(partition) == os.path.join(archive_root, partition)
    ):
        done = ledger.summary(partition)
        return ArchiveReport(
            partition, os.path.join(archive_root, partition), 0, 0, done.record_count
        )
    src, manifest = _sealed_manifest(ledger, partition, "archive")
    files = ledger.files
    if os.path.realpath(archive_root) == os.path.realpath(ledger.root):
        raise LedgerError(f"the archive directory {archive_root} is the ledger itself")
    _makedirs(files, archive_root)
    dest = os.path.join(archive_root, partition)
    tmp = dest + TMP_SUFFIX
    if os.path.exists(tmp):  # a copy an earlier run did not finish
        _remove_tree(files, tmp)
        files.fsync_dir(archive_root)
    copied = total = 0
    if os.path.exists(dest):
        problems = _copy_problems(files, dest, partition, manifest)
        if problems:
            raise LedgerError(
                f"{dest} already exists and is not a verified copy of {src}: "
                + "; ".join(problems[:3])
            )
    else:
        files.mkdir(tmp)
        for name in _files_to_copy(src, manifest):
            data = files.read_file(os.path.join(src, name))
            _write_file(files, os.path.join(tmp, name), data)
            _check_copied(files, os.path.join(tmp, name), data, manifest)
            copied += 1
            total += len(data)
        manifests.write(files, tmp, manifest)  # last; write_durable fsyncs the directory
        problems = _copy_problems(files, tmp, partition, manifest)
        if problems:
            raise LedgerCorruptError(tmp, 0, "the copy does not verify: " + "; ".join(problems[:3]))
        files.rename(tmp, dest)
        files.fsync_dir(archive_root)
    marker = _marker_info(dest, partition, manifest)
    files.write_durable(os.path.join(src, ARCHIVED_NAME), _marker_bytes(marker))
    # Readers of this process switch to the copy before the files here go away.
    ledger.mark_archived(partition, marker)
    _remove_leftovers(files, src)
    files.fsync_dir(src)  # the directory stays: it holds the marker, the partition's tombstone
    log.info("ledger: archived partition %s to %s", partition, dest)
    return ArchiveReport(partition, dest, copied, total, int(manifest.get("record_count", 0)))


def _copy_problems(
    files: FileLayer, path: str, name: str, manifest: dict[str, Any] | None
) -> list[str]:
    """Why the partition copy at `path` is not a verified copy (of `manifest` when given)."""
    if not os.path.exists(os.path.join(path, MANIFEST_NAME)):
        return [f"{path}: no {MANIFEST_NAME}"]
    report = verify_partition(files, path, name)
    problems = list(report.problems)
    if manifest is not None and not problems:
        copy = manifests.load(files, os.path.join(path, MANIFEST_NAME))
        for key in ("fingerprint", "record_count", "last_lsn"):
            if key in manifest and copy.get(key) != manifest[key]:
                problems.append(f"{path}: {key} {copy.get(key)!r}, expected {manifest.get(key)!r}")
    return problems


def archived_partitions(archive_dir: str | os.PathLike[str] | None) -> list[ArchivedPartition]:
    """The partitions in the archive directory (complete copies only), oldest first."""
    if archive_dir is None or not os.path.isdir(archive_dir):
        return []
    found = []
    for name in sorted(os.listdir(archive_dir)):
        path = os.path.join(archive_dir, name)
        manifest_path = os.path.join(path, MANIFEST_NAME)
        if not is_partition_name(name) or not os.path.isfile(manifest_path):
            continue
        try:
            manifest = manifests.load(FileLayer(), manifest_path)
        except LedgerCorruptError:
            continue
        entries = _entries(manifest)
        names = tuple(_file_name(e) for e in entries)
        size = sum(
            os.path.getsize(os.path.join(path, n))
            for n in names
            if os.path.exists(os.path.join(path, n))
        )
        found.append(
            ArchivedPartition(
                name,
                int(manifest.get("record_count", 0)),
                int(manifest.get("first_sequence", 0)),
                int(manifest.get("last_sequence", 0)),
                size,
                bool(entries) and all(isinstance(e.get("compressed"), dict) for e in entries),
                names,
                str(manifest.get("fingerprint", "")),
                path,
            )
        )
    return found


# ---------------------------------------------------------------------------------- recovery


def finish_interrupted(
    files: FileLayer,
    partition_path: str,
    manifest: dict[str, Any] | None,
    read_only: bool = False,
) -> bool:
    """Finish (or undo) a compression or archival a crash interrupted. True: the directory
    holds the partition's segments, for recovery to scan. False: it does not, either because
    the partition is archived (it holds the ARCHIVED marker: the ledger lists it as a tombstone,
    from the marker) or because it is no partition at all (an empty directory, removed when
    writable). Called by recovery after it loaded the manifest (and, writable, removed the
    `.tmp` leftovers); may update `manifest` in place.

    read_only: change nothing. A partition with the ARCHIVED marker is archived (its verified
    copy is in the archive; its files here may be half removed); a leftover of an interrupted
    compression is left alone (recovery reads the form the manifest names).
    """
    marker = os.path.join(partition_path, ARCHIVED_NAME)
    if os.path.exists(marker):
        return False if read_only else _finish_archive(files, partition_path, manifest, marker)
    if not os.listdir(partition_path):
        # No files, no records: a roll that crashed before it created the first segment (or an
        # archival by an older version, which removed the directory, crashed before that).
        if not read_only:
            files.rmdir(partition_path)
            files.fsync_dir(os.path.dirname(partition_path))
        return False
    if read_only:
        return True
    if manifest is not None:
        _finish_compress(files, partition_path, manifest)
    return True


def _finish_compress(files: FileLayer, path: str, manifest: dict[str, Any]) -> None:
    dir_changed = manifest_changed = False
    for entry in _entries(manifest):
        number = entry.get("number")
        if not isinstance(number, int):
            continue
        plain = os.path.join(path, segment_name(number))
        packed = os.path.join(path, segment_name(number, compressed=True))
        if not (os.path.exists(plain) and os.path.exists(packed)):
            continue
        if not entry.get("compressed"):
            # Renamed into place, but the manifest never listed it: the .wal is the segment.
            files.unlink(packed)
            log.warning("ledger: removed %s, left by an interrupted compression", packed)
            dir_changed = True
        elif _compressed_matches(files, packed, entry):
            files.unlink(plain)
            log.warning("ledger: removed %s, already compressed to %s", plain, packed)
            dir_changed = True
        elif _plain_matches(files, plain, entry):
            # The .zst was verified before the manifest listed it; bit rot since. Keep the
            # intact plain segment, and the damaged file for inspection.
            files.rename(packed, packed + BROKEN_SUFFIX)
            entry["compressed"] = None
            manifest_changed = dir_changed = True
            log.error("ledger: %s does not verify; using %s instead", packed, plain)
    if manifest_changed:
        manifests.write(files, path, manifest)
    if dir_changed:
        files.fsync_dir(path)


def _finish_archive(
    files: FileLayer, path: str, manifest: dict[str, Any] | None, marker: str
) -> bool:
    """A writable open found the ARCHIVED marker in `path`. Only the marker: a tombstone, kept
    (False). Leftover files next to it: an interrupted archival, finished when the copy
    verifies (False: a tombstone now); otherwise the marker is dropped and the partition stays
    (True), or, when the ledger's copy is incomplete too, LedgerCorruptError."""
    name = os.path.basename(path)
    try:
        raw: dict[str, Any] = _load_marker(files, marker)
    except LedgerCorruptError:
        raw = {}
    dest = str(raw.get("archive", ""))
    leftovers = [e for e in os.listdir(path) if e != ARCHIVED_NAME]
    if not leftovers:
        if not dest:
            raise LedgerCorruptError(
                marker,
                0,
                f"partition {name} is archived, but its ARCHIVED marker does not name the "
                "archive copy (nor how many records it holds)",
            )
        if not _marker_complete(raw):
            info = read_marker(files, marker)  # completed from the copy's manifest if it can
            if _marker_complete(info):
                files.write_durable(marker, _marker_bytes(info))
        return False
    problems = [f"{marker}: names no archive copy"]
    if dest:
        if os.path.isdir(dest + TMP_SUFFIX):
            _remove_tree(files, dest + TMP_SUFFIX)
            files.fsync_dir(os.path.dirname(dest))
        expected = manifest or {
            k: raw.get(k) for k in ("fingerprint", "record_count", "last_lsn") if k in raw
        }
        problems = _copy_problems(files, dest, name, expected or None)
    if not problems:
        if not _marker_complete(raw):
            # The copy verifies: its manifest is the partition's. The marker carries its
            # summary before the last files that hold it go away.
            copy = manifests.load(files, os.path.join(dest, MANIFEST_NAME))
            files.write_durable(marker, _marker_bytes({**_marker_info(dest, name, copy), **raw}))
        _remove_leftovers(files, path)
        files.fsync_dir(path)
        log.warning("ledger: finished archiving partition %s to %s", name, dest)
        return False
    if manifest is not None and not verify_partition(files, path, name).problems:
        files.unlink(marker)
        files.fsync_dir(path)
        log.error(
            "ledger: partition %s was being archived, but the copy does not verify (%s); "
            "kept it in the ledger",
            name,
            "; ".join(problems[:3]),
        )
        return True
    raise LedgerCorruptError(
        marker,
        0,
        f"partition {name} was being archived to {dest or '?'}, but that copy does not verify "
        f"({'; '.join(problems[:3])}) and the ledger's copy is incomplete",
    )


# ---------------------------------------------------------------------------------- repair


@dataclass
class PartitionRepair:
    """What repair did to one partition."""

    partition: str
    records_kept: int
    #: The first damage found ("<file>: <reason> at offset <n>"), None when there was none.
    damage: str | None = None
    #: Files taken out of the ledger (renamed or copied to <name>.broken), by original name.
    broken_files: list[str] = field(default_factory=list)
    bytes_moved: int = 0
    manifest_removed: bool = False
    #: Compressed segments turned back into plain ones (an unsealed partition holds none).
    decompressed: list[str] = field(default_factory=list)
    archived: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.damage or self.broken_files or self.manifest_removed or self.decompressed)


@dataclass
class RepairReport:
    root: str
    partitions: list[PartitionRepair]

    @property
    def changed(self) -> list[PartitionRepair]:
        return [p for p in self.partitions if p.changed]


@dataclass
class _Damage:
    number: int
    index: int
    reason: str
    #: The scan of the damaged file when it could be read (records before the damage).
    scanned: ScannedSegment | None
    keep: int


def _take_lock(files: FileLayer, root: str, what: str) -> int:
    """The ledger's lock, as Ledger._take_lock takes it: refused while a server holds it."""
    fd = files.open(os.path.join(root, LOCK_NAME), os.O_RDWR | os.O_CREAT)
    if not files.lock(fd):
        holder = files.pread(fd, 64, 0).decode("ascii", "replace").strip() or "?"
        files.close(fd)
        raise LedgerLockedError(
            f"ledger {root} is in use by another writer (pid {holder}); stop it first "
            f"({what} works offline only)"
        )
    files.ftruncate(fd, 0)
    files.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def repair(root: str | os.PathLike[str], files: FileLayer | None = None) -> RepairReport:
    """Salvage a damaged ledger, offline (refused while a server holds the lock).

    Per partition, the first damaged segment (bad header, corrupt record, torn record anywhere
    but the end of an unsealed partition, chain or sequence mismatch) is copied to
    `<file>.broken` and replaced by a clean segment with the same number holding the records
    before the damage; every later segment is renamed to `.broken` (it can no longer chain).
    A manifest that no longer matches the segments goes to MANIFEST.json.broken, so the
    partition is unsealed again (and its compressed segments are made plain). Interrupted
    compressions and archivals are finished first, as open would. Afterwards the ledger opens
    and holds exactly the salvaged records.
    """
    root = os.path.abspath(root)
    files = files or FileLayer()
    if not os.path.isdir(root):
        raise LedgerError(f"{root}: no ledger here (not a directory)")
    lock_fd = _take_lock(files, root, "repair")
    try:
        results = []
        for name in sorted(os.listdir(root)):
            path = os.path.join(root, name)
            if is_partition_name(name) and os.path.isdir(path):
                results.append(_repair_partition(files, path, name))
        return RepairReport(root, results)
    finally:
        files.close(lock_fd)


def _load_manifest(files: FileLayer, path: str) -> tuple[dict[str, Any] | None, str | None]:
    manifest_path = os.path.join(path, MANIFEST_NAME)
    if not os.path.exists(manifest_path):
        return None, None
    try:
        return manifests.load(files, manifest_path), None
    except LedgerCorruptError as exc:
        return None, _where(exc.path, exc.offset, exc.reason)


def _repair_partition(files: FileLayer, path: str, name: str) -> PartitionRepair:
    result = PartitionRepair(name, 0)
    for entry in sorted(os.listdir(path)):
        if entry.endswith(TMP_SUFFIX):
            files.unlink(os.path.join(path, entry))
    manifest, manifest_damage = _load_manifest(files, path)
    marker = os.path.join(path, ARCHIVED_NAME)
    try:
        if not finish_interrupted(files, path, manifest):
            result.archived = True
            return result
    except LedgerCorruptError as exc:
        # Neither copy is whole: salvage what the ledger still holds.
        result.damage = _where(exc.path, exc.offset, exc.reason)
        files.unlink(marker)
        files.fsync_dir(path)
    numbered = _segment_files(path)
    numbers = sorted(numbered)
    kept: list[ScannedSegment] = []
    damage: _Damage | None = None
    prev_crc = 0
    expected = 1
    for index, number in enumerate(numbers):
        seg_path = os.path.join(path, _choose(numbered[number], manifest, number))
        last = index == len(numbers) - 1
        try:
            _, _, scanned = _read_segment(files, seg_path)
        except LedgerCorruptError as exc:
            damage = _Damage(number, index, _where(exc.path, exc.offset, exc.reason), None, 0)
            break
        header = scanned.segment.header
        if header.partition != name or header.first_sequence != expected:
            reason = (
                f"header names partition {header.partition} from sequence "
                f"{header.first_sequence}, expected {name} from {expected}"
            )
            damage = _Damage(number, index, _where(seg_path, 0, reason), None, 0)
            break
        if index > 0 and header.prev_crc != prev_crc:
            reason = "chain CRC does not match the previous segment's last record"
            damage = _Damage(number, index, _where(seg_path, 0, reason), None, 0)
            break
        if scanned.status == ScanStatus.CORRUPT or (
            scanned.status == ScanStatus.TORN and (not last or manifest is not None)
        ):
            where = _where(seg_path, int(scanned.error_offset or 0), scanned.reason)
            damage = _Damage(number, index, where, scanned, scanned.segment.count)
            break
        kept.append(scanned)
        prev_crc = scanned.segment.last_crc
        expected = scanned.segment.next_sequence
    if damage is not None:
        result.damage = result.damage or damage.reason
    manifest_present = os.path.exists(os.path.join(path, MANIFEST_NAME))
    if manifest_present and damage is None and manifest is not None:
        # The segments are intact: anything verify still finds is the manifest disagreeing.
        problems = verify_partition(files, path, name).problems
        manifest_damage = problems[0] if problems else None
    if manifest_present and (damage is not None or manifest_damage is not None):
        result.damage = result.damage or manifest_damage
        _move_broken(files, path, MANIFEST_NAME, result, copy=False)
        result.manifest_removed = True
        files.fsync_dir(path)
        manifest = None
    if damage is not None:
        for number in numbers[damage.index + 1 :]:
            for fname in numbered[number].values():
                _move_broken(files, path, fname, result, copy=False)
        _salvage(files, path, name, numbered[damage.number], damage, kept, result)
        files.fsync_dir(path)
    result.records_kept = sum(s.segment.count for s in kept) + (damage.keep if damage else 0)
    if manifest is None:
        _decompress_kept(files, path, result)
    if result.changed:
        log.warning("ledger repair: %s", result)
    return result


def _move_broken(
    files: FileLayer, path: str, fname: str, result: PartitionRepair, copy: bool
) -> None:
    """Take `fname` out of the ledger as `<fname>.broken` (a durable copy when `copy`, so the
    caller can then replace the original atomically)."""
    src = os.path.join(path, fname)
    size = os.path.getsize(src)
    if copy:
        files.write_durable(src + BROKEN_SUFFIX, files.read_file(src))
    else:
        files.rename(src, src + BROKEN_SUFFIX)
    result.broken_files.append(fname)
    result.bytes_moved += size


def _salvage(
    files: FileLayer,
    path: str,
    name: str,
    forms: dict[bool, str],
    damage: _Damage,
    kept: list[ScannedSegment],
    result: PartitionRepair,
) -> None:
    """Replace the damaged segment by a clean one holding the records before the damage."""
    for fname in forms.values():
        _move_broken(files, path, fname, result, copy=True)
    plain = os.path.join(path, segment_name(damage.number))
    if damage.keep and damage.scanned is not None:
        data = damage.scanned.data
        payloads = []
        for offset, rtype in zip(
            damage.scanned.segment.offsets[: damage.keep],
            damage.scanned.segment.types[: damage.keep],
            strict=True,
        ):
            start = int(offset) + native.wal.HEADER_BYTES
            length = int.from_bytes(data[int(offset) : int(offset) + 4], "little")
            payloads.append((rtype, data[start : start + length]))  # LSN + body, unchanged
        prev_crc = kept[-1].segment.last_crc if kept else 0
        first = kept[-1].segment.next_sequence if kept else 1
        header = SegmentHeader(name, damage.number, first, prev_crc)
        content = header.pack() + native.wal.encode_many(payloads)
        _write_file(files, plain + TMP_SUFFIX, content)
        files.rename(plain + TMP_SUFFIX, plain)
    for compressed, fname in forms.items():
        full = os.path.join(path, fname)
        if (compressed or not damage.keep) and os.path.exists(full):
            files.unlink(full)


def _decompress_kept(files: FileLayer, path: str, result: PartitionRepair) -> None:
    """An unsealed partition holds plain segments only (sealing it again hashes them)."""
    changed = False
    for forms in _segment_files(path).values():
        packed = forms.get(True)
        if packed is None:
            continue
        plain = os.path.join(path, packed.removesuffix(".zst"))
        if not os.path.exists(plain):
            data = compression.decompress_frames(files.read_file(os.path.join(path, packed)))
            _write_file(files, plain + TMP_SUFFIX, data)
            files.rename(plain + TMP_SUFFIX, plain)
        files.unlink(os.path.join(path, packed))
        result.decompressed.append(packed)
        changed = True
    if changed:
        files.fsync_dir(path)

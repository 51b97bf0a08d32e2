"""Partition manifests: what a sealed partition holds, made durable before it counts.

MANIFEST.json (format 1)::

    {"format": 1, "partition": "2026-11-26", "sealed_at": "2026-11-27T01:00:00Z",
     "record_count": 1200, "signal_count": 900,
     "first_sequence": 1, "last_sequence": 1200, "first_lsn": 17, "last_lsn": 2403,
     "fingerprint": "<sha256 hex over the sorted signal ids, one per line>",
     "segments": [{"name": "signals-000001.wal", "number": 1, "records": 1200,
                   "first_sequence": 1, "bytes": 1523000, "sha256": "<hex of the plain file>",
                   "compressed": null | {"name": "signals-000001.wal.zst", "bytes": ...,
                                         "sha256": "<hex of the .zst file>"}}]}

Sealing trims each segment's preallocated zero tail, hashes the files, and writes the manifest
with tmp file -> fsync -> rename -> fsync of the directory: a crash at any step leaves either no
manifest (the partition is still open, and sealing again redoes every step) or a complete one.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from collections.abc import Sequence
from typing import Any

from omen.adapters.ledger.files import FileLayer
from omen.adapters.ledger.format import MANIFEST_NAME, LedgerCorruptError
from omen.adapters.ledger.records import RecordType, set_fingerprint
from omen.adapters.ledger.segments import Segment, load_bytes

FORMAT = 1
_SIGNAL_ID = slice(9 + 8 + 32, 9 + 8 + 48)  # frame header, LSN, event hash; then 16 id bytes


def load(files: FileLayer, path: str) -> dict[str, Any]:
    try:
        manifest = json.loads(files.read_file(path))
    except (ValueError, UnicodeDecodeError) as exc:
        raise LedgerCorruptError(path, 0, f"manifest is not valid JSON ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise LedgerCorruptError(path, 0, "manifest has an unknown format")
    return manifest


def is_compressed(manifest: dict[str, Any], number: int) -> bool:
    for seg in manifest.get("segments", ()):
        if seg.get("number") == number:
            return bool(seg.get("compressed"))
    return False


def check_counts(manifest: dict[str, Any], segments: Sequence[Segment], path: str) -> None:
    """The segments on disk are the ones the manifest lists, with its record counts."""
    listed = [(s["number"], s["records"]) for s in manifest.get("segments", ())]
    found = [(s.number, s.count) for s in segments]
    if listed != found:
        raise LedgerCorruptError(
            path, 0, f"manifest lists segments/records {listed}, the directory holds {found}"
        )


def signal_ids(data: bytes, segment: Segment) -> list[str]:
    ids = []
    for offset, rtype in zip(segment.offsets, segment.types, strict=True):
        if rtype == RecordType.SIGNAL:
            start = int(offset)
            ids.append("sig-" + data[start + _SIGNAL_ID.start : start + _SIGNAL_ID.stop].hex())
    return ids


def seal(files: FileLayer, path: str, name: str, segments: Sequence[Segment]) -> dict[str, Any]:
    """Trim, hash and describe the partition's segments; write MANIFEST.json durably."""
    described = []
    ids: list[str] = []
    for seg in segments:
        if seg.compressed:
            raise LedgerCorruptError(
                seg.path, 0, "an unsealed partition holds a compressed segment"
            )
        if seg.file_size > seg.valid_end:
            fd = files.open(seg.path, os.O_RDWR)
            try:
                files.ftruncate(fd, seg.valid_end)
                files.fsync(fd)
            finally:
                files.close(fd)
            seg.file_size = seg.valid_end
        data = load_bytes(files, seg.path)
        ids.extend(signal_ids(data, seg))
        described.append(
            {
                "name": seg.name,
                "number": seg.number,
                "records": seg.count,
                "first_sequence": seg.first_sequence,
                "bytes": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
                "compressed": None,
            }
        )
    count = sum(s.count for s in segments)
    with_records = [s for s in segments if s.count]
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "partition": name,
        "sealed_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "record_count": count,
        "signal_count": len(ids),
        "first_sequence": 1 if count else 0,
        "last_sequence": count,
        "first_lsn": with_records[0].first_lsn if with_records else 0,
        "last_lsn": with_records[-1].last_lsn if with_records else 0,
        "fingerprint": set_fingerprint(ids),
        "segments": described,
    }
    write(files, path, manifest)
    return manifest


def write(files: FileLayer, partition_path: str, manifest: dict[str, Any]) -> None:
    data = json.dumps(manifest, indent=1, sort_keys=True).encode() + b"\n"
    files.write_durable(os.path.join(partition_path, MANIFEST_NAME), data)

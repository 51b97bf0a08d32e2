"""`omen ledger ls|verify|cat|seal|compress|archive|repair`: operating the ledger from a shell.

ls, verify and cat open the ledger read-only, so they work while `omen serve` runs; seal,
compress, archive and repair take the ledger's lock and refuse while a server holds it. Every
command prints a human table, or JSON with --json. Exit codes: 0 done (verify: no damage),
1 an error or damage found, 2 a usage error.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

from omen.adapters.ledger import maintenance
from omen.adapters.ledger.files import FileLayer
from omen.adapters.ledger.format import (
    LedgerError,
    LedgerLockedError,
    is_partition_name,
)
from omen.adapters.ledger.ledger import Entry, Ledger, LedgerOptions
from omen.adapters.ledger.records import RecordType, decode_observation, decode_signal
from omen.errors import OmenError


class UsageError(OmenError):
    """The command line asks for something that cannot be done as asked (exit 2)."""


@dataclasses.dataclass(frozen=True)
class Context:
    root: Path
    archive_dir: Path | None
    options: LedgerOptions
    json: bool
    out: TextIO


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Run one `omen ledger` command; errors raise LedgerError/ConfigError/UsageError."""
    from omen.bootstrap import ledger_options
    from omen.config import load_settings

    settings, warnings = load_settings(
        config_file=args.config,
        overrides={
            "data_dir": args.data_dir,
            "ledger_archive_dir": getattr(args, "archive_dir", None),
        },
    )
    for warning in warnings:
        print(f"omen: warning: {warning}", file=sys.stderr)
    # Only what was asked: no automatic sealing of other partitions while the command runs.
    options = dataclasses.replace(ledger_options(settings), seal_grace_s=None)
    ctx = Context(
        settings.ledger_dir.absolute(),
        settings.ledger_archive_dir.absolute() if settings.ledger_archive_dir else None,
        options,
        args.json,
        out or sys.stdout,
    )
    handlers: dict[str, Callable[[Context, argparse.Namespace], int]] = {
        "ls": _ls,
        "verify": _verify,
        "cat": _cat,
        "seal": _seal,
        "compress": _compress,
        "archive": _archive,
        "repair": _repair,
    }
    return handlers[args.ledger_command](ctx, args)


# ---------------------------------------------------------------------------------- helpers


def _require_root(ctx: Context) -> None:
    if not ctx.root.is_dir():
        raise LedgerError(f"no ledger at {ctx.root} (check --data-dir or data_dir)")


def _open_read_only(root: Path) -> Ledger:
    return Ledger.open(root, read_only=True)


def _open_writable(ctx: Context, what: str) -> Ledger:
    _require_root(ctx)
    try:
        return Ledger.open(ctx.root, ctx.options)
    except LedgerLockedError as exc:
        hint = (
            "; seal through the running server instead: the LedgerService.SealPartition RPC"
            if what == "seal"
            else f"; `omen ledger {what}` needs the server stopped"
        )
        raise LedgerLockedError(f"{exc}{hint}") from None


def _emit(ctx: Context, value: Any) -> None:
    print(json.dumps(value, sort_keys=True), file=ctx.out)


def _table(ctx: Context, header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> None:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip(),
            file=ctx.out,
        )


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"  # pragma: no cover


def _check_names(names: list[str]) -> None:
    bad = [n for n in names if not is_partition_name(n)]
    if bad:
        raise UsageError(f"not a partition name: {', '.join(bad)} (expected YYYY-MM-DD[-late])")


# ---------------------------------------------------------------------------------- commands


def _ls(ctx: Context, args: argparse.Namespace) -> int:
    rows: list[dict[str, Any]] = []
    tombstones: set[str] = set()
    if ctx.root.is_dir():
        with _open_read_only(ctx.root) as ledger:
            for name in ledger.partition_names():
                s = ledger.summary(name)
                row = {**dataclasses.asdict(s), "segments": list(s.segments)}
                if s.archived:  # listed once, from the ledger's tombstone
                    row["path"] = ledger.archive_location(name)
                    tombstones.add(name)
                rows.append(row)
            torn = list(ledger.torn_tails)
    else:
        torn = []
    for a in maintenance.archived_partitions(ctx.archive_dir):
        if a.name in tombstones:
            continue
        # Archived without a tombstone (by an older version), or a copy the ledger does not
        # know about.
        rows.append(
            {
                "name": a.name,
                "sealed": True,
                "record_count": a.record_count,
                "first_sequence": a.first_sequence,
                "last_sequence": a.last_sequence,
                "size_bytes": a.size_bytes,
                "compressed": a.compressed,
                "segments": list(a.segments),
                "archived": True,
                "path": a.path,
            }
        )
    rows.sort(key=lambda r: (r["name"], r["archived"]))
    if ctx.json:
        _emit(ctx, {"ledger": str(ctx.root), "partitions": rows, "torn_tails": torn})
        return 0
    table = []
    for r in rows:
        state = "archived" if r["archived"] else "sealed" if r["sealed"] else "open"
        table.append(
            (
                r["name"],
                state + (" zstd" if r["compressed"] else ""),
                str(r["record_count"]),
                f"{r['first_sequence']}..{r['last_sequence']}" if r["record_count"] else "-",
                _size(r["size_bytes"]),
                str(len(r["segments"])),
            )
        )
    _table(ctx, ("PARTITION", "STATE", "RECORDS", "SEQUENCES", "SIZE", "SEGMENTS"), table)
    if not rows:
        print(f"(no partitions in {ctx.root})", file=ctx.out)
    for line in torn:
        print(
            f"torn tail (a write in progress, or truncated on the next open): {line}", file=ctx.out
        )
    return 0


def _partition_dirs(ctx: Context, names: list[str]) -> Iterator[tuple[str, Path]]:
    """(name, directory) of each partition to verify: the ledger's, else the archive's."""
    _check_names(names)
    if not names:
        _require_root(ctx)
        names = sorted(
            p.name for p in ctx.root.iterdir() if is_partition_name(p.name) and p.is_dir()
        )
    for name in names:
        live = ctx.root / name
        archived = ctx.archive_dir / name if ctx.archive_dir else None
        if live.is_dir():
            yield name, live
        elif archived is not None and archived.is_dir():
            yield name, archived
        else:
            raise LedgerError(
                f"no partition {name!r} in ledger {ctx.root}"
                + (f" or archive {ctx.archive_dir}" if ctx.archive_dir else "")
            )


def _verify(ctx: Context, args: argparse.Namespace) -> int:
    # Directory by directory rather than through Ledger.open: verify must also report on a
    # ledger that recovery refuses to open.
    reports = [
        maintenance.verify_partition(FileLayer(), str(path), name)
        for name, path in _partition_dirs(ctx, list(args.partitions))
    ]
    ok = all(r.ok for r in reports)
    if ctx.json:
        _emit(ctx, {"ok": ok, "partitions": [dataclasses.asdict(r) for r in reports]})
    else:
        _table(
            ctx,
            ("PARTITION", "RESULT", "RECORDS", "PROBLEMS"),
            [
                (
                    r.partition,
                    "ok" if r.ok else "DAMAGED",
                    str(r.records_verified),
                    str(len(r.problems)),
                )
                for r in reports
            ],
        )
        for r in reports:
            for problem in r.problems:
                print(f"problem: {problem}", file=ctx.out)
            for note in r.notes:
                print(f"note: {note}", file=ctx.out)
        if not reports:
            print(f"(no partitions in {ctx.root})", file=ctx.out)
    return 0 if ok else 1


def _record_json(entry: Entry) -> dict[str, Any]:
    from google.protobuf.json_format import MessageToDict

    from omen._proto import signal_pb2

    out: dict[str, Any] = {
        "position": {"partition": entry.position.partition, "sequence": entry.position.sequence},
        "lsn": entry.lsn,
    }
    if entry.type == RecordType.SIGNAL:
        record = decode_signal(entry.body)
        message = signal_pb2.OmenSignal()
        message.ParseFromString(record.signal)
        out.update(
            type="SIGNAL",
            event_hash=record.event_hash,
            signal_id=record.signal_id,
            probability=record.probability,
            market_key=record.market_key,
            signal=MessageToDict(message, preserving_proto_field_name=True),
        )
    elif entry.type == RecordType.OBSERVATION:
        obs = decode_observation(entry.body)
        out.update(
            type="OBSERVATION",
            event_hash=obs.event_hash,
            probability=obs.probability,
            market_key=obs.market_key,
        )
    else:
        out.update(type=f"UNKNOWN({entry.type})", body_hex=entry.body.hex())
    return out


def _cat(ctx: Context, args: argparse.Namespace) -> int:
    name = args.partition
    _check_names([name])
    if args.from_sequence < 1:
        raise UsageError("--from-sequence must be 1 or more")
    root = ctx.root
    if not (root / name).is_dir() and ctx.archive_dir and (ctx.archive_dir / name).is_dir():
        root = ctx.archive_dir  # an archive directory is laid out like a ledger
    elif not root.is_dir():
        _require_root(ctx)
    with _open_read_only(root) as ledger:
        if name not in ledger.partition_names():
            raise LedgerError(f"no partition {name!r} in ledger {ctx.root}")
        for entry in ledger.read(name, args.from_sequence):
            print(json.dumps(_record_json(entry), sort_keys=True), file=ctx.out)
    return 0


def _seal(ctx: Context, args: argparse.Namespace) -> int:
    _check_names(args.partitions)
    results = []
    with _open_writable(ctx, "seal") as ledger:
        for name in args.partitions:
            manifest = ledger.seal(name)
            results.append(
                {
                    "partition": name,
                    "record_count": manifest["record_count"],
                    "fingerprint": manifest["fingerprint"],
                    "segments": len(manifest["segments"]),  # type: ignore[arg-type]
                }
            )
    if ctx.json:
        _emit(ctx, {"sealed": results})
    else:
        for r in results:
            print(
                f"sealed {r['partition']}: {r['record_count']} records in {r['segments']} "
                f"segments, fingerprint {r['fingerprint']}",
                file=ctx.out,
            )
    return 0


def _compress(ctx: Context, args: argparse.Namespace) -> int:
    _check_names(args.partitions)
    with _open_writable(ctx, "compress") as ledger:
        reports = [maintenance.compress(ledger, name) for name in args.partitions]
    if ctx.json:
        _emit(ctx, {"compressed": [{**dataclasses.asdict(r), "ratio": r.ratio} for r in reports]})
    else:
        for r in reports:
            print(
                f"compressed {r.partition}: {r.segments_compressed} segments now compressed; "
                f"{_size(r.plain_bytes)} -> {_size(r.compressed_bytes)} "
                f"(ratio {r.ratio:.2f})",
                file=ctx.out,
            )
    return 0


def _archive(ctx: Context, args: argparse.Namespace) -> int:
    _check_names(args.partitions)
    if ctx.archive_dir is None:
        raise UsageError("no archive directory: pass --archive-dir or set ledger_archive_dir")
    with _open_writable(ctx, "archive") as ledger:
        reports = [maintenance.archive(ledger, name, ctx.archive_dir) for name in args.partitions]
    if ctx.json:
        _emit(ctx, {"archived": [dataclasses.asdict(r) for r in reports]})
    else:
        for r in reports:
            print(
                f"archived {r.partition}: {r.record_count} records -> {r.destination}", file=ctx.out
            )
    return 0


def _repair(ctx: Context, args: argparse.Namespace) -> int:
    _require_root(ctx)
    report = maintenance.repair(ctx.root)
    if ctx.json:
        _emit(
            ctx,
            {
                "ledger": report.root,
                "partitions": [dataclasses.asdict(p) for p in report.partitions],
            },
        )
        return 0
    rows = []
    for p in report.partitions:
        state = "archived" if p.archived else "repaired" if p.changed else "clean"
        rows.append(
            (
                p.partition,
                state,
                str(p.records_kept),
                _size(p.bytes_moved),
                ", ".join(p.broken_files) or "-",
            )
        )
    _table(ctx, ("PARTITION", "RESULT", "RECORDS KEPT", "MOVED", "TO .broken"), rows)
    for p in report.changed:
        if p.damage:
            print(f"damage: {p.damage}", file=ctx.out)
        if p.manifest_removed:
            print(
                f"{p.partition}: the manifest no longer matched; the partition is unsealed "
                "(seal it again)",
                file=ctx.out,
            )
    if not report.partitions:
        print(f"(no partitions in {ctx.root})", file=ctx.out)
    return 0

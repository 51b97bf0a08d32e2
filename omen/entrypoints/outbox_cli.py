"""`omen outbox ls|deadletters|replay`: the publishers' cursors, lag and dead letters from a shell.

All three read the files under <data_dir>/outbox and open the ledger read-only, so they work
with the server stopped and next to a running one. `replay` re-delivers each dead letter of a
publisher once with the publisher as configured, and removes the ones delivered (a running
server appending new dead letters meanwhile keeps them: both sides lock the file). Exit codes:
0 done (replay: every dead letter delivered), 1 an error (replay: some remain), 2 a usage error.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from omen.errors import OmenError


class UsageError(OmenError):
    """The command line asks for something that cannot be done as asked (exit 2)."""


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data-dir", type=Path, help="data directory (outbox files: DIR/outbox)")
    common.add_argument("--config", type=Path, help="TOML config file (default: $OMEN_CONFIG)")
    common.add_argument("--json", action="store_true", help="print JSON instead of tables")
    outbox = commands.add_parser(
        "outbox",
        help="publisher cursors, lag and dead letters",
        description="Publisher cursors, lag and dead letters (<data-dir>/outbox). Reads files "
        "and the ledger without locking: works with the server stopped or running. Exit codes: "
        "0 done, 1 error (replay: some dead letters remain), 2 usage error.",
    )
    sub = outbox.add_subparsers(dest="outbox_command", required=True, metavar="COMMAND")
    sub.add_parser(
        "ls", parents=[common], help="every publisher: cursor, backlog, dead letters (offline)"
    )
    letters = sub.add_parser(
        "deadletters", parents=[common], help="list a publisher's dead letters"
    )
    letters.add_argument("name", metavar="NAME", help="publisher name")
    replay = sub.add_parser(
        "replay",
        parents=[common],
        help="re-deliver a publisher's dead letters once; remove the ones delivered",
    )
    replay.add_argument("name", metavar="NAME", help="publisher name (as configured)")


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Run one `omen outbox` command."""
    from omen.config import load_settings

    settings, warnings = load_settings(
        config_file=args.config, overrides={"data_dir": args.data_dir}
    )
    for warning in warnings:
        print(f"omen: warning: {warning}", file=sys.stderr)
    stream = out or sys.stdout
    if args.outbox_command == "ls":
        return _ls(settings, args.json, stream)
    if args.outbox_command == "deadletters":
        return _deadletters(settings, args.name, args.json, stream)
    return _replay(settings, args.name, args.json, stream)


def _table(out: TextIO, header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> None:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        print("  ".join(cells).rstrip(), file=out)


def _backlog(ledger: Any, cursor: int, now_ns: int) -> tuple[int, float]:
    """Signals after `cursor` in the ledger, and the age of the first of them (seconds)."""
    from omen.adapters.ledger.records import RecordType
    from omen.adapters.ledger.signals import signal_of

    count, age = 0, 0.0
    for entry in ledger.entries_after(cursor):
        if entry.type != RecordType.SIGNAL:
            continue
        if not count:
            age = max(0.0, (now_ns - signal_of(entry).generated_at_ns) / 1e9)
        count += 1
    return count, age


def _ls(settings: Any, as_json: bool, out: TextIO) -> int:
    from omen.adapters.ledger.ledger import Ledger
    from omen.adapters.outbox.cursor_file import CURSOR_SUFFIX, CursorFiles
    from omen.adapters.outbox.deadletter import DeadLetterFiles

    cursors = CursorFiles(settings.outbox_dir)
    letters = DeadLetterFiles(settings.outbox_dir)
    publishers = [(p.name, p.kind) for p in settings.publishers]
    configured = {name for name, _ in publishers}
    if settings.outbox_dir.is_dir():
        for path in sorted(settings.outbox_dir.glob(f"*{CURSOR_SUFFIX}")):
            name = path.name[: -len(CURSOR_SUFFIX)]
            if name not in configured:
                publishers.append((name, "(not configured)"))
    ledger = (
        Ledger.open(settings.ledger_dir, read_only=True) if settings.ledger_dir.is_dir() else None
    )
    now_ns = time.time_ns()
    rows = []
    try:
        for name, kind in publishers:
            cursor = cursors.load(name)
            lag, age = _backlog(ledger, cursor, now_ns) if ledger is not None else (0, 0.0)
            rows.append(
                {
                    "name": name,
                    "kind": kind,
                    "cursor_lsn": cursor,
                    "lag_records": lag,
                    "lag_seconds": round(age, 3),
                    "dead_letters": len(letters.read(name)),
                }
            )
    finally:
        if ledger is not None:
            ledger.close()
    if as_json:
        for row in rows:
            print(json.dumps(row, sort_keys=True), file=out)
        return 0
    if not rows:
        print("no publishers configured ([[publishers]] in the config file)", file=out)
        return 0
    _table(
        out,
        ("NAME", "KIND", "CURSOR", "LAG", "LAG_S", "DEAD_LETTERS"),
        [
            (
                r["name"],
                r["kind"],
                str(r["cursor_lsn"]),
                str(r["lag_records"]),
                f"{r['lag_seconds']:.1f}",
                str(r["dead_letters"]),
            )
            for r in rows
        ],
    )
    return 0


def _deadletters(settings: Any, name: str, as_json: bool, out: TextIO) -> int:
    from omen.adapters.outbox.deadletter import DeadLetterFiles

    letters = DeadLetterFiles(settings.outbox_dir).read(name)
    if as_json:
        for letter in letters:
            print(json.dumps(letter.record, sort_keys=True), file=out)
        return 0
    if not letters:
        print(f"no dead letters for {name}", file=out)
        return 0
    _table(
        out,
        ("LSN", "POSITION", "SIGNAL_ID", "FAILED_AT", "REASON"),
        [
            (
                str(r["lsn"]),
                f"{r['partition']}/{r['sequence']}",
                str(r["signal_id"]),
                str(r["failed_at"]),
                str(r["reason"]),
            )
            for r in (letter.record for letter in letters)
        ],
    )
    return 0


def _replay(settings: Any, name: str, as_json: bool, out: TextIO) -> int:
    from omen.adapters.outbox.deadletter import DeadLetterFiles
    from omen.adapters.publishers import build_publisher

    configured = {p.name: p for p in settings.publishers}
    if name not in configured:
        known = ", ".join(sorted(configured)) or "none"
        raise UsageError(f"no publisher named {name!r} is configured (configured: {known})")
    store = DeadLetterFiles(settings.outbox_dir)
    letters = store.read(name)
    publisher = build_publisher(configured[name])

    async def deliver() -> tuple[list[tuple[int, int]], list[tuple[Any, str]]]:
        from omen.application.ports import DeliveryError

        done: list[tuple[int, int]] = []
        failed: list[tuple[Any, str]] = []
        await publisher.start()
        try:
            for letter in letters:
                try:
                    await publisher.publish([letter.delivery])
                except DeliveryError as exc:
                    failed.append((letter, exc.reason))
                else:
                    done.append(letter.key)
        finally:
            await publisher.close()
        return done, failed

    delivered, failed = asyncio.run(deliver()) if letters else ([], [])
    removed = store.remove(name, delivered) if delivered else 0
    remaining = len(store.read(name))
    summary = {
        "publisher": name,
        "dead_letters": len(letters),
        "delivered": removed,
        "failed": [{"lsn": letter.record["lsn"], "reason": reason} for letter, reason in failed],
        "remaining": remaining,
    }
    if as_json:
        print(json.dumps(summary, sort_keys=True), file=out)
    else:
        for letter, reason in failed:
            print(
                f"still failing: LSN {letter.record['lsn']} {letter.record['signal_id']}: {reason}",
                file=out,
            )
        print(
            f"replayed {removed} of {len(letters)} dead letters to {name}; {remaining} remain",
            file=out,
        )
    return 0 if not failed else 1

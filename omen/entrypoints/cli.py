"""The `omen` command line: `omen serve` runs the gRPC server, `omen ledger ...` the ledger,
`omen outbox ...` the publishers' cursors and dead letters."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
from pathlib import Path

from omen import __version__
from omen.entrypoints import outbox_cli
from omen.errors import ConfigError, OmenError, StartupError


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def _configure_logging(level: str, fmt: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="omen", description="OMEN signal intelligence engine")
    parser.add_argument("--version", action="version", version=f"omen {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = commands.add_parser(
        "serve",
        help="run the gRPC server",
        description="Run the gRPC server. Settings: embedded defaults < --config file < OMEN_* "
        "environment variables < flags. API keys come from OMEN_API_KEYS (comma-separated) or "
        "api_keys in the config file.",
    )
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="gRPC port (default 50051; 0 picks a free one)")
    serve.add_argument("--data-dir", type=Path, help="data directory (default ./data)")
    serve.add_argument("--config", type=Path, help="TOML config file (default: $OMEN_CONFIG)")
    _add_ledger_parser(commands)
    outbox_cli.add_parser(commands)
    return parser


def _add_ledger_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`omen ledger ...`; the commands are in omen.entrypoints.ledger_cli."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data-dir", type=Path, help="data directory (the ledger is DIR/ledger)")
    common.add_argument("--config", type=Path, help="TOML config file (default: $OMEN_CONFIG)")
    common.add_argument("--json", action="store_true", help="print JSON instead of tables")
    archive_dir = argparse.ArgumentParser(add_help=False)
    archive_dir.add_argument(
        "--archive-dir", type=Path, help="archive directory (default: setting ledger_archive_dir)"
    )
    ledger = commands.add_parser(
        "ledger",
        help="inspect and maintain the ledger",
        description="Inspect and maintain the ledger (<data-dir>/ledger). ls, verify and cat "
        "open it read-only and work while a server runs; seal, compress, archive and repair "
        "take its lock and need the server stopped. Exit codes: 0 done, 1 error or damage "
        "found, 2 usage error.",
    )
    sub = ledger.add_subparsers(dest="ledger_command", required=True, metavar="COMMAND")
    sub.add_parser("ls", parents=[common, archive_dir], help="list partitions, archived ones too")
    verify = sub.add_parser(
        "verify",
        parents=[common, archive_dir],
        help="re-read and check every record and manifest; exit 1 on damage",
    )
    verify.add_argument("partitions", nargs="*", metavar="PARTITION", help="default: all")
    cat = sub.add_parser(
        "cat", parents=[common, archive_dir], help="print a partition's records as JSON lines"
    )
    cat.add_argument("partition", metavar="PARTITION")
    cat.add_argument("--from-sequence", type=int, default=1, metavar="N", help="first sequence")
    seal = sub.add_parser("seal", parents=[common], help="seal partitions: no more appends")
    seal.add_argument("partitions", nargs="+", metavar="PARTITION")
    compress = sub.add_parser("compress", parents=[common], help="zstd-compress sealed partitions")
    compress.add_argument("partitions", nargs="+", metavar="PARTITION")
    archive = sub.add_parser(
        "archive",
        parents=[common, archive_dir],
        help="move sealed partitions to the archive directory, verified before removal",
    )
    archive.add_argument("partitions", nargs="+", metavar="PARTITION")
    sub.add_parser(
        "repair",
        parents=[common],
        help="salvage a damaged ledger (offline): keep the records before the damage, move "
        "damaged files to .broken",
    )


def _serve(args: argparse.Namespace) -> int:
    from omen.bootstrap import build_app, tune_gc, tune_switch_interval
    from omen.config import load_settings
    from omen.entrypoints.grpc.server import serve

    settings, warnings = load_settings(
        config_file=args.config,
        overrides={"host": args.host, "port": args.port, "data_dir": args.data_dir},
    )
    _configure_logging(settings.log_level, settings.log_format)
    log = logging.getLogger("omen")
    for warning in warnings:
        log.warning(warning)
    if not settings.api_keys:
        raise ConfigError(
            [
                "setting 'api_keys': no API key configured; set OMEN_API_KEYS (comma-separated) "
                "or api_keys in the config file"
            ]
        )
    app = build_app(settings)
    tune_gc(settings.gc_threshold0)
    tune_switch_interval(settings.gil_switch_interval_ms)
    return asyncio.run(serve(app))


def _outbox(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.WARNING, format="omen: %(levelname)s %(name)s: %(message)s")
    try:
        return outbox_cli.run(args)
    except outbox_cli.UsageError as exc:
        print(f"omen: {exc}", file=sys.stderr)
        return 2
    except (OmenError, OSError) as exc:
        print(f"omen: {exc}", file=sys.stderr)
        return 1


def _ledger(args: argparse.Namespace) -> int:
    from omen.entrypoints import ledger_cli

    logging.basicConfig(level=logging.WARNING, format="omen: %(levelname)s %(name)s: %(message)s")
    try:
        return ledger_cli.run(args)
    except ledger_cli.UsageError as exc:
        print(f"omen: {exc}", file=sys.stderr)
        return 2
    except (OmenError, OSError) as exc:
        print(f"omen: {exc}", file=sys.stderr)
        return 1


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "serve":
            return _serve(args)
        if args.command == "ledger":
            return _ledger(args)
        if args.command == "outbox":
            return _outbox(args)
    except ConfigError as exc:
        print(f"omen: {exc}", file=sys.stderr)
        return 2
    except StartupError as exc:
        print(f"omen: cannot start: {exc}", file=sys.stderr)
        return 1
    except ImportError as exc:  # e.g. OMEN_REQUIRE_NATIVE=1 without compiled modules
        print(f"omen: cannot start: {exc}", file=sys.stderr)
        return 1
    return 2


if __name__ == "__main__":
    raise SystemExit(main())

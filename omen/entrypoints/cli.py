"""The `omen` command line: `omen serve` runs the gRPC server."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
from pathlib import Path

from omen import __version__
from omen.errors import ConfigError, StartupError


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
    return parser


def _serve(args: argparse.Namespace) -> int:
    from omen.bootstrap import build_app, tune_gc
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
    return asyncio.run(serve(app))


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "serve":
            return _serve(args)
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

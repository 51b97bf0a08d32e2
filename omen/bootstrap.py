"""The composition root: the one place that builds concrete adapters from settings."""

from __future__ import annotations

import gc
import os
from dataclasses import dataclass

from omen import native
from omen.adapters.ledger.ledger import LedgerOptions
from omen.adapters.repository.memory import InMemorySignalRepository
from omen.adapters.ruleset_file import load_ruleset
from omen.application.pipeline import Pipeline
from omen.config import Settings
from omen.domain.ruleset import Ruleset
from omen.errors import StartupError
from omen.observability import Metrics


@dataclass(frozen=True)
class App:
    settings: Settings
    ruleset: Ruleset
    repository: InMemorySignalRepository
    pipeline: Pipeline
    metrics: Metrics


def prepare_data_dir(settings: Settings) -> None:
    path = settings.data_dir
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StartupError(f"data directory {path}: cannot be created: {exc.strerror}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise StartupError(f"data directory {path}: not writable by this user")


def tune_gc(threshold0: int) -> None:
    """Collect less often, and never rescan what start-up built.

    Each event allocates tens of objects and the signal index keeps most of them, so with
    Python's default threshold (700) the collector ran every few events and spent about 30% of
    the pipeline's time (benchmarks/bench_pipeline.py). gc.freeze() moves everything built so
    far (lexicon, ruleset, modules) out of the collector's reach; it is never garbage.
    """
    gc.collect()
    gc.freeze()
    if threshold0:
        gc.set_threshold(threshold0, 20, 10)


def build_app(settings: Settings) -> App:
    """Everything `omen serve` needs, wired; nothing is listening yet."""
    prepare_data_dir(settings)
    ruleset = load_ruleset(settings.ruleset_file)
    repository = InMemorySignalRepository()
    # The compiled ChangeStatistics when available (same results as the domain's reference).
    statistics = native.anomaly.RollingStatistics.from_params(ruleset.anomaly)
    pipeline = Pipeline(ruleset, native.event_hash, repository, statistics)
    return App(settings, ruleset, repository, pipeline, Metrics())


def ledger_options(settings: Settings) -> LedgerOptions:
    """The ledger's options from settings (also used by the `omen ledger` commands)."""
    return LedgerOptions(
        segment_bytes=settings.ledger_segment_mib * 1024 * 1024,
        durability=settings.ledger_durability,
        interval_ms=settings.ledger_interval_ms,
        max_batch_bytes=settings.ledger_max_batch_kib * 1024,
        max_batch_delay_ms=settings.ledger_batch_delay_ms,
        seal_grace_s=settings.ledger_seal_grace_s,
    )

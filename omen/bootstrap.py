"""The composition root: the one place that builds concrete adapters from settings."""

from __future__ import annotations

import os
from dataclasses import dataclass

from omen import native
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


def build_app(settings: Settings) -> App:
    """Everything `omen serve` needs, wired; nothing is listening yet."""
    prepare_data_dir(settings)
    ruleset = load_ruleset(settings.ruleset_file)
    repository = InMemorySignalRepository()
    # The compiled ChangeStatistics when available (same results as the domain's reference).
    statistics = native.anomaly.RollingStatistics.from_params(ruleset.anomaly)
    pipeline = Pipeline(ruleset, native.event_hash, repository, statistics)
    return App(settings, ruleset, repository, pipeline, Metrics())

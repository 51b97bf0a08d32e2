"""The composition root: the one place that builds concrete adapters from settings."""

from __future__ import annotations

import gc
import os
import sys
from dataclasses import dataclass

from omen import native
from omen.adapters.ledger.format import LedgerError
from omen.adapters.ledger.ledger import Ledger, LedgerOptions
from omen.adapters.ledger.signals import (
    LedgerSignalStore,
    ledger_position,
    rebuild,
    signal_at,
)
from omen.adapters.proto_codec import SignalWireMemo
from omen.adapters.repository.ledger_index import LedgerIndexedRepository
from omen.adapters.ruleset_file import load_ruleset
from omen.application.outbox import DeliveryPolicy, Outbox
from omen.application.pipeline import Pipeline
from omen.application.process import ProcessEvents
from omen.config import PublisherSettings, Settings
from omen.domain.ruleset import Ruleset
from omen.errors import OutboxError, StartupError
from omen.observability import Metrics


@dataclass(frozen=True)
class App:
    settings: Settings
    ruleset: Ruleset
    repository: LedgerIndexedRepository
    pipeline: Pipeline
    metrics: Metrics
    ledger: Ledger
    process: ProcessEvents
    #: Delivers the ledger's signals to the configured publishers (started by the server).
    outbox: Outbox | None = None
    #: Signal protos a stream message's ledger append built, for its response to reuse.
    signal_wire: SignalWireMemo | None = None


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


def tune_switch_interval(interval_ms: float) -> None:
    """Hand the GIL over sooner to a thread that waits for it (0: keep Python's 5 ms).

    The event loop's thread holds the GIL nearly all the time under load, and every other
    thread that runs Python (the ledger's writer between its wait, write and fdatasync calls)
    waited up to the whole interval each time it wanted it back: commits, and so stream
    acknowledgements, lagged while the loop later went idle. With 1 ms instead of 5,
    ProcessStream at 100 events a message ran ~4% faster and the loop thread's idle share fell
    from ~20% to ~16% (interleaved runs, issue 6's notes); 0.2 ms cost more in switches than it
    saved.
    """
    if interval_ms:
        sys.setswitchinterval(interval_ms / 1000)


def build_app(settings: Settings) -> App:
    """Everything `omen serve` needs, wired; nothing is listening yet."""
    prepare_data_dir(settings)
    ruleset = load_ruleset(settings.ruleset_file)
    ledger = open_ledger(settings)
    repository = LedgerIndexedRepository(signal_at(ledger), ledger_position)
    # The compiled ChangeStatistics when available (same results as the domain's reference).
    statistics = native.anomaly.RollingStatistics.from_params(ruleset.anomaly)
    # The compiled TextMatcher and Decider likewise (same values as the domain's references).
    pipeline = Pipeline(
        ruleset, native.event_hash, repository, statistics, native.TextAnalyzer, native.Decider
    )
    try:
        # Invariant 2: the duplicate index and the anomaly statistics come from the ledger.
        rebuild(ledger, repository.restore_raw, statistics)
    except BaseException:
        ledger.close()
        raise
    store = LedgerSignalStore(ledger, SignalWireMemo())
    process = ProcessEvents(pipeline, store)
    try:
        outbox = build_outbox(settings, ledger)
    except BaseException:
        ledger.close()
        raise
    return App(
        settings,
        ruleset,
        repository,
        pipeline,
        Metrics(),
        ledger,
        process,
        outbox,
        signal_wire=store.memo,
    )


def delivery_policy(publisher: PublisherSettings) -> DeliveryPolicy:
    return DeliveryPolicy(
        batch_size=publisher.batch_size,
        backoff_initial_s=publisher.backoff_initial_s,
        backoff_max_s=publisher.backoff_max_s,
        breaker_failures=publisher.breaker_failures,
        breaker_reset_s=publisher.breaker_reset_s,
    )


def build_outbox(settings: Settings, ledger: Ledger) -> Outbox:
    """The dispatcher over the configured publishers, their cursors loaded (a damaged cursor
    file stops the start-up, naming it)."""
    from omen.adapters.outbox.cursor_file import CursorFiles
    from omen.adapters.outbox.deadletter import DeadLetterFiles
    from omen.adapters.outbox.ledger_feed import LedgerFeed
    from omen.adapters.publishers import build_publisher

    outbox = Outbox(
        LedgerFeed(ledger),
        CursorFiles(settings.outbox_dir),
        DeadLetterFiles(settings.outbox_dir),
        [(build_publisher(p), delivery_policy(p)) for p in settings.publishers],
    )
    try:
        outbox.load_cursors()
    except OutboxError as exc:
        raise StartupError(str(exc)) from None
    return outbox


def open_ledger(settings: Settings, read_only: bool = False) -> Ledger:
    """The ledger at settings.ledger_dir, recovered; StartupError says why it cannot open."""
    try:
        return Ledger.open(settings.ledger_dir, ledger_options(settings), read_only=read_only)
    except LedgerError as exc:
        raise StartupError(str(exc)) from None
    except OSError as exc:
        raise StartupError(f"ledger {settings.ledger_dir}: {exc.strerror or exc}") from None


def ledger_options(settings: Settings) -> LedgerOptions:
    """The ledger's options from settings (also used by the `omen ledger` commands)."""
    return LedgerOptions(
        segment_bytes=settings.ledger_segment_mib * 1024 * 1024,
        durability=settings.ledger_durability,
        interval_ms=settings.ledger_interval_ms,
        max_batch_bytes=settings.ledger_max_batch_kib * 1024,
        max_batch_delay_ms=settings.ledger_batch_delay_ms,
        seal_grace_s=settings.ledger_seal_grace_s if settings.ledger_auto_seal else None,
    )

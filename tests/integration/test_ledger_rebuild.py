"""Invariant 2: the duplicate index and the anomaly statistics rebuilt from the ledger equal the
ones the process had built live, and a rebuilt process answers exactly as an uninterrupted one."""

from __future__ import annotations

import asyncio
import random
from dataclasses import replace
from pathlib import Path

from omen.adapters.ledger.files import FileLayer
from omen.adapters.ledger.ledger import Ledger, LedgerOptions
from omen.adapters.ledger.signals import (
    LedgerSignalStore,
    ledger_position,
    rebuild,
    signal_at,
)
from omen.adapters.repository.ledger_index import LedgerIndexedRepository
from omen.application.process import ProcessEvents
from omen.domain.signals import OmenSignal, Outcome
from tests.ledger_support import GatedFiles
from tests.support import NS, T0_NS, make_pipeline, raw_event

MARKETS = 12


def _events(seed: int, count: int, start: int = 0) -> list:
    """Random walks over a few markets, some thin (rejected), some jumps, some repeats; over
    two UTC dates so the replay has to merge partitions."""
    rng = random.Random(seed)
    level = {m: rng.uniform(0.2, 0.8) for m in range(MARKETS)}
    events = []
    for i in range(start, start + count):
        market = rng.randrange(MARKETS)
        level[market] = min(0.97, max(0.03, level[market] + rng.gauss(0, 0.02)))
        if rng.random() < 0.05:
            level[market] = rng.uniform(0.05, 0.95)  # a jump
        if events and rng.random() < 0.08:
            events.append(rng.choice(events))  # a repeat: a duplicate if it was emitted
            continue
        events.append(
            raw_event(
                event_id=f"e-{i}",
                market_id=f"m-{market}",
                probability=round(level[market], 4),
                liquidity_usd=500.0 if market % 5 == 0 else 250_000.0,
                observed_at_ns=T0_NS + (i % 2) * 86_400 * NS + i * NS,
            )
        )
    return events


def _open(root: Path, keep_objects: int | None = None, files: FileLayer | None = None):
    options = LedgerOptions(segment_bytes=256 * 1024, seal_grace_s=None)
    ledger = (
        Ledger.open(root, options) if files is None else Ledger.open(root, options, files=files)
    )
    if keep_objects is None:
        repository = LedgerIndexedRepository(signal_at(ledger))
    else:
        repository = LedgerIndexedRepository(
            signal_at(ledger), ledger_position, keep_objects=keep_objects
        )
    pipeline = make_pipeline(repository=repository)
    return ledger, repository, pipeline, ProcessEvents(pipeline, LedgerSignalStore(ledger))


async def _run(use_case: ProcessEvents, events: list) -> list:
    return [await use_case.process(e) for e in events]


def test_rebuilt_state_equals_live_state_and_answers_continue_identically(tmp_path: Path):
    first, second = _events(7, 700), _events(8, 300, start=700)

    # An uninterrupted process over both halves.
    ledger, _, _, use_case = _open(tmp_path / "uninterrupted")
    expected = asyncio.run(_run(use_case, first + second))
    ledger.close()

    # A process that stops after the first half...
    ledger, repository, pipeline, use_case = _open(tmp_path / "restarted")
    live = asyncio.run(_run(use_case, first))
    live_state = pipeline._statistics.export_state()
    emitted = [r.signal for r in live if r.outcome is Outcome.EMITTED]
    ledger.close()
    outcomes = {r.outcome for r in live}
    assert outcomes == {Outcome.EMITTED, Outcome.REJECTED, Outcome.DUPLICATE}, outcomes

    # ...and one rebuilt from its ledger.
    ledger, repository, pipeline, use_case = _open(tmp_path / "restarted")
    report = rebuild(ledger, repository.restore_raw, pipeline._statistics)
    assert report.signals == len(emitted)
    assert report.signals + report.observations == sum(
        1 for r in live if r.outcome is not Outcome.DUPLICATE
    )
    assert pipeline._statistics.export_state() == live_state
    for signal in emitted:
        assert repository.get(signal.signal_id) == signal
        assert repository.get_by_event_hash(signal.input_event_hash) == signal
    resumed = asyncio.run(_run(use_case, second))
    ledger.close()
    assert resumed == expected[len(first) :]
    assert sorted({s.ledger_partition for s in emitted}) == ["2026-11-18", "2026-11-19"]


def test_a_bounded_index_holds_only_recent_signals_as_objects_and_answers_the_same(
    tmp_path: Path,
):
    """The server's index keeps `keep_objects` signals as objects, the rest as positions: the
    answers (DUPLICATEs of old signals included) are those of an index that keeps them all."""
    events = _events(7, 700) + _events(8, 300, start=700)
    ledger, _, _, use_case = _open(tmp_path / "unbounded")
    expected = asyncio.run(_run(use_case, events))
    ledger.close()

    ledger, repository, _, use_case = _open(tmp_path / "bounded", keep_objects=16)
    answers = asyncio.run(_run(use_case, events))
    assert answers == expected
    emitted = [r.signal for r in answers if r.outcome is Outcome.EMITTED]
    duplicates = [r for r in answers if r.outcome is Outcome.DUPLICATE]
    assert len(emitted) > 100 and duplicates
    held = repository.objects_held
    assert held <= 16 + 1, held  # every older one became a position once it was appended
    for signal in emitted:
        assert repository.get(signal.signal_id) == signal
        assert repository.get_by_event_hash(signal.input_event_hash) == signal
    assert repository.objects_held == held  # not kept
    ledger.close()


def test_a_signal_whose_record_waits_for_the_writer_is_answered_from_the_ledger_queue(
    tmp_path: Path,
):
    """The index keeps no object for a signal once the ledger accepted its record, written or
    not: a signal still in the writer's hands is read back from the ledger's queue."""
    files = GatedFiles()
    ledger, repository, _, use_case = _open(tmp_path / "queued", keep_objects=0, files=files)
    try:
        events = _events(7, 40)
        first, _ = use_case.submit(events[0])
        assert first.outcome is Outcome.EMITTED and first.signal is not None
        assert files.writing.wait(10)  # the writer holds the first record
        batch = use_case.submit_many(events[1:])
        emitted = [first.signal] + [r.signal for r in batch.results if r.signal is not None]
        assert len(emitted) > 10
        assert repository.objects_held == 0  # each let go of once appended
        for signal in emitted:
            assert not ledger.holds(signal.ledger_partition, signal.ledger_sequence)
            assert repository.get(signal.signal_id) == signal
            assert repository.get_by_event_hash(signal.input_event_hash) == signal
    finally:
        files.gate.set()
    asyncio.run(batch.durable())
    for signal in emitted:
        assert ledger.holds(signal.ledger_partition, signal.ledger_sequence)
        assert repository.get(signal.signal_id) == signal
    ledger.close()


def test_a_stream_duplicate_check_reads_no_signal_from_the_ledger(tmp_path: Path):
    """The stream's duplicate check (submit_many with originals=False) needs only the
    original's id: for a signal the index holds as a position it reads nothing."""
    events = _events(7, 300)
    ledger, repository, _, use_case = _open(tmp_path / "ids", keep_objects=8)
    first = asyncio.run(use_case.process_many(events))
    emitted = [r.signal for r in first if r.outcome is Outcome.EMITTED]
    assert len(emitted) > 50
    for signal in emitted:
        assert repository.signal_id_by_event_hash(signal.input_event_hash) == signal.signal_id
    assert repository.signal_id_by_event_hash("ab" * 32) is None
    assert repository.signal_id_by_event_hash("not hex") is None

    def no_reads(position: object) -> OmenSignal:
        raise AssertionError(f"read the signal at {position}")

    repository._load = no_reads
    again = [replace(e, observed_at_ns=e.observed_at_ns + NS) for e in events]
    batch = use_case.submit_many(again, originals=False)
    asyncio.run(batch.durable())
    ids = {s.input_event_hash: s.signal_id for s in emitted}
    for before, now in zip(first, batch.results, strict=True):
        if before.outcome is not Outcome.REJECTED:  # it has a signal: now a duplicate of it
            assert now.outcome is Outcome.DUPLICATE and now.signal is None
            assert now.duplicate_of == ids[now.input_event_hash]
    ledger.close()

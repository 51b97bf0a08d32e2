"""The ledger stores signals as omen.v1.OmenSignal: reading one back must give the same signal."""

from __future__ import annotations

from dataclasses import replace

import pytest

from omen.adapters.ledger.records import encode_signal
from omen.adapters.proto_codec import (
    SignalWireMemo,
    signal_bytes,
    signal_from_bytes,
    signal_from_proto,
    signal_to_proto,
)
from omen.domain.events import Location, Movement
from omen.domain.signals import Outcome
from tests.support import NS, make_pipeline, raw_event
from tests.unit.test_pipeline import TITLES

EMITTED_TITLES = [t[0] for t in TITLES if t[1] is Outcome.EMITTED]


def _signals():
    pipeline = make_pipeline()
    out = []
    for i, title in enumerate(EMITTED_TITLES):
        result = pipeline.process(
            raw_event(
                event_id=f"e-{i}",
                market_id=f"m-{i}",
                title=title,
                description="",
                keywords=(),
                resolution_date_ns=None if i % 2 else (1_800_000_000 + i) * NS,
                movement=Movement(0.6, 0.02, 24) if i % 3 == 0 else None,
                locations=(Location(12.6, 43.3, "Bab el-Mandeb", "YE"),) if i % 4 == 0 else (),
            ),
            trace_id="0af7651916cd43dd8448eb211c80319c" if i % 2 else "",
        )
        if result.signal is not None:
            out.append(result.signal)
    return out


SIGNALS = _signals()


def test_the_corpus_emits_enough_varied_signals():
    assert len(SIGNALS) >= 10
    assert len({s.category for s in SIGNALS}) >= 3
    assert any(s.temporal.resolution_date_ns is None for s in SIGNALS)
    assert any(s.temporal.resolution_date_ns is not None for s in SIGNALS)


@pytest.mark.parametrize("signal", SIGNALS, ids=lambda s: s.signal_id)
def test_round_trip_is_exact(signal):
    message = signal_to_proto(signal)
    assert signal_from_proto(message) == signal
    assert signal_from_bytes(message.SerializeToString(deterministic=True)) == signal


def test_ledger_position_round_trips():
    signal = SIGNALS[0]
    signal_copy = signal_from_proto(signal_to_proto(signal))
    signal_copy.ledger_partition, signal_copy.ledger_sequence = "2026-11-26-late", 7
    back = signal_from_proto(signal_to_proto(signal_copy))
    assert (back.ledger_partition, back.ledger_sequence) == ("2026-11-26-late", 7)
    assert back != signal


def test_the_wire_memo_hands_each_encoding_over_once_and_forgets_discarded_ones():
    memo = SignalWireMemo(limit=2)
    first, second, third = SIGNALS[:3]

    def body(signal, key="polymarket:m-1"):  # the ledger record the store appends
        return encode_signal(
            signal.input_event_hash, signal.signal_id, 0.5, key, signal_bytes(signal)
        )

    memo.put_many([first.signal_id, second.signal_id], [body(first, "k-é"), body(second)])
    memo.discard_many([second.signal_id, "sig-never-held"])
    assert len(memo) == 1
    assert memo.take(first) == signal_bytes(first)  # the record's tail, whatever its key
    assert len(memo) == 0
    # Not (or no longer) held: encoded afresh, without the ledger position.
    placed = replace(second, ledger_partition="2026-11-26", ledger_sequence=9)
    assert memo.take(placed) == signal_bytes(second)
    memo.put_many([first.signal_id], [body(third)])
    # Beyond the limit: the oldest go first (`first` again is the oldest: put before the rest).
    memo.put_many([second.signal_id, third.signal_id], [body(third), body(first)])
    assert len(memo) == 2
    assert memo.take(first) == signal_bytes(first)
    assert memo.take(third) == signal_bytes(first)  # what was put, not the signal's own
    assert memo.take(second) == signal_bytes(third)

"""LedgerIndexedRepository.add: both key tables take a signal's keys together, or neither."""

from __future__ import annotations

import dataclasses

import pytest

from omen.adapters.repository.ledger_index import LedgerIndexedRepository
from omen.domain.signals import OmenSignal
from tests.signal_samples import full_signal


def _never_loaded(position: tuple[str, int]) -> OmenSignal:
    raise AssertionError(f"nothing here is read from a ledger ({position})")


def signal(n: int) -> OmenSignal:
    return dataclasses.replace(
        full_signal(), signal_id=f"sig-{n:032x}", input_event_hash=f"{n + 7:064x}"
    )


def test_a_refused_signal_leaves_both_tables_as_they_were() -> None:
    index = LedgerIndexedRepository(_never_loaded)
    for n in range(3):
        index.add(signal(n))
    same_id = dataclasses.replace(signal(9), signal_id=signal(1).signal_id)
    same_hash = dataclasses.replace(signal(9), input_event_hash=signal(2).input_event_hash)
    both = dataclasses.replace(signal(1), signal_id=signal(2).signal_id)
    with pytest.raises(ValueError, match=f"a signal with id {signal(1).signal_id} already"):
        index.add(same_id)
    with pytest.raises(ValueError, match=f"for event hash {signal(2).input_event_hash} already"):
        index.add(same_hash)
    with pytest.raises(ValueError, match=f"a signal with id {signal(2).signal_id} already"):
        index.add(both)  # the id is checked first
    with pytest.raises(ValueError, match="not a signal id"):
        index.add(dataclasses.replace(signal(9), signal_id=f"xyz-{9:032x}"))
    with pytest.raises(ValueError, match="hex digits"):
        index.add(dataclasses.replace(signal(9), input_event_hash="not hex"))
    # Nothing of the refused ones went in: the next signal takes the next index in both tables.
    index.add(signal(3))
    assert len(index) == 4
    for n in range(4):
        assert index.get(signal(n).signal_id) == signal(n)
        assert index.get_by_event_hash(signal(n).input_event_hash) == signal(n)
        assert index.signal_id_by_event_hash(signal(n).input_event_hash) == signal(n).signal_id
    assert index.get(signal(9).signal_id) is None

"""EncodedSignal (omen.adapters.ledger.records): an emitted signal held as its SIGNAL record,
which the decider's decide_record() makes for a stream. To every reader it is the signal its
record holds; the ledger store appends the very record it holds; a stream answers from it
without building the signal.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from omen._native import signalwire_py
from omen.adapters.ledger.ledger import Ledger, LedgerOptions
from omen.adapters.ledger.records import EncodedSignal, decode_signal_head, signal_offset
from omen.adapters.ledger.signals import LedgerSignalStore, signal_of
from omen.adapters.proto_codec import SignalWireMemo
from omen.application.ports import SignalRecord
from omen.domain.signals import OmenSignal
from tests.signal_samples import full_signal

KEY = "polymarket:m-1"


def decided() -> OmenSignal:
    """A signal as a decider makes it: not yet in the ledger."""
    return replace(full_signal(), ledger_partition="", ledger_sequence=0)


def encoded(signal: OmenSignal, key: str = KEY, probability: float = 0.62) -> EncodedSignal:
    body = signalwire_py.encode_signal_record(signal, probability, key)
    assert body is not None
    made: EncodedSignal = EncodedSignal.of(signal, body, key, probability)
    return made


def test_it_reads_as_the_signal_its_record_holds() -> None:
    signal = decided()
    made = encoded(signal)
    with pytest.raises(AttributeError):
        object.__getattribute__(made, "title")  # not decoded yet
    assert made.signal_id == signal.signal_id  # held: reading it decodes nothing
    with pytest.raises(AttributeError):
        object.__getattribute__(made, "title")
    assert made.title == signal.title  # the first other field decodes them all
    assert object.__getattribute__(made, "evidence") == signal.evidence
    assert made == signal and signal == made
    assert made != replace(signal, title="other") and replace(signal, title="other") != made
    assert made != "a signal"


def test_its_position_is_its_own_not_the_records() -> None:
    made = encoded(decided())
    made.ledger_partition, made.ledger_sequence = "2026-11-27", 41
    assert made.confidence_score == decided().confidence_score  # decodes the rest
    assert (made.ledger_partition, made.ledger_sequence) == ("2026-11-27", 41)


def test_its_record_is_given_only_for_the_key_and_probability_it_was_made_for() -> None:
    probability = float("0.62")  # a float object of its own
    made = encoded(decided(), KEY, probability)
    body = made.record(KEY, probability)
    assert body is not None and decode_signal_head(body)[3] == KEY
    assert made.record("polymarket:other", probability) is None
    assert made.record(KEY, 0.62) is None  # an equal value, another object: not trusted
    plain = replace(made, title="t")  # built by __init__: an ordinary signal, no record
    assert plain.record(KEY, probability) is None and plain.title == "t"


def test_an_unknown_attribute_is_an_attribute_error() -> None:
    made = encoded(decided())
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        made.nope  # noqa: B018
    assert not hasattr(made, "nope")


def test_the_store_appends_the_record_it_holds(tmp_path: Path) -> None:
    ledger = Ledger.open(tmp_path / "ledger", LedgerOptions(seal_grace_s=None))
    memo = SignalWireMemo()
    store = LedgerSignalStore(ledger, memo)
    try:
        first = decided()
        second = replace(first, signal_id="sig-" + "1" * 32, input_event_hash="2" * 64)
        probability = 0.62
        held = encoded(first, KEY, probability)
        body = held.record(KEY, probability)
        other = encoded(second, KEY, probability)
        tickets = store.append_many(
            [
                SignalRecord(held, KEY, probability),
                SignalRecord(other, "polymarket:another-key", probability),  # re-encoded
            ]
        )
        for ticket in tickets:
            ticket.durable.wait(10)
        assert memo.take(held) == body[signal_offset(body) :]
        entries = [ledger.get(_position(t)) for t in tickets]
        assert entries[0].body == body
        assert decode_signal_head(entries[1].body)[3] == "polymarket:another-key"
        assert signal_of(entries[0]) == replace(
            first, ledger_partition=tickets[0].partition, ledger_sequence=tickets[0].sequence
        )
        assert (held.ledger_partition, held.ledger_sequence) == (
            tickets[0].partition,
            tickets[0].sequence,
        )
    finally:
        ledger.close()


def _position(ticket: object) -> object:
    from omen.adapters.ledger.ledger import Position

    return Position(ticket.partition, ticket.sequence)  # type: ignore[attr-defined]

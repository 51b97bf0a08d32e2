"""Pure-Python twin of decision.pyx: geography, the five rules, classification, confidence and
the signal of one analysed event.

This file is the reference: the compiled module must return equal values (same results and
reasons, same classification, same signal, field by field). The decider is
omen.domain.decision.RulesetDecider itself, under the name the compiled module uses.
"""

from __future__ import annotations

from dataclasses import replace

from omen._native.signalwire_py import encode_signal_record
from omen.adapters.ledger.records import EncodedSignal
from omen.domain.analysis import MarketHistory, TextAnalysis
from omen.domain.decision import RulesetDecider
from omen.domain.events import RawEvent
from omen.domain.signals import Outcome, ProcessResult


def format_number(value: float, precision: int, sign: bool = False, group: bool = False) -> str:
    """format(value, f"{'+' if sign else ''}{',' if group else ''}.{precision}f") for a
    precision of 0 to 20 (else ValueError): how the decider's texts write numbers (the
    compiled module writes the common cases without float.__format__; this is the reference)."""
    if not 0 <= precision <= 20:
        raise ValueError(f"precision must be 0 to 20, not {precision}")
    return format(value, f"{'+' if sign else ''}{',' if group else ''}.{precision}f")


class Decider(RulesetDecider):
    """Decides analysed events under one ruleset.

    The domain's RulesetDecider, under the name the compiled module uses, and decide_record().
    """

    def decide_record(
        self,
        event: RawEvent,
        text: TextAnalysis,
        history: MarketHistory,
        input_event_hash: str,
        trace_id: str,
        market_key: str,
    ) -> ProcessResult:
        """decide(), except that an EMITTED signal comes as the EncodedSignal of its SIGNAL
        record for `market_key` and the event's probability (encode_signal_record), equal to
        the signal; decide()'s result itself when those values are not of the pipeline's form
        (encode_signal_record gives None)."""
        result = self.decide(event, text, history, input_event_hash, trace_id)
        signal = result.signal
        if result.outcome is not Outcome.EMITTED or signal is None:
            return result
        body = encode_signal_record(signal, event.probability, market_key)
        if body is None:
            return result
        return replace(result, signal=EncodedSignal.of(signal, body, market_key, event.probability))

"""Pure-Python twin of decision.pyx: geography, the five rules, classification, confidence and
the signal of one analysed event.

This file is the reference: the compiled module must return equal values (same results and
reasons, same classification, same signal, field by field). The decider is
omen.domain.decision.RulesetDecider itself, under the name the compiled module uses.
"""

from __future__ import annotations

from omen.domain.decision import RulesetDecider


class Decider(RulesetDecider):
    """Decides analysed events under one ruleset.

    Exactly the domain's RulesetDecider, under the name the compiled module uses.
    """

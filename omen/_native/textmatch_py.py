"""Pure-Python twin of textmatch.pyx: tokenise an event's text and match the lexicon's terms.

This file is the reference: the compiled module must return equal TextAnalysis values (same
tokens, same TermMatch values with the same payload objects). The analyzer is
omen.domain.analysis.TextAnalyzer itself, under the name the compiled module uses.
"""

from __future__ import annotations

from omen.domain.analysis import TextAnalyzer as _DomainTextAnalyzer


class TextAnalyzer(_DomainTextAnalyzer):
    """One lexicon built from every section's terms; one pass over each event's text.

    Exactly the domain's TextAnalyzer, under the name the compiled module uses.
    """

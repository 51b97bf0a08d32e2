"""Stubs of the compiled omen._native.textmatch (same API as omen._native.textmatch_py)."""

from collections.abc import Iterable, Mapping
from typing import Any, final

from omen.domain.analysis import TextAnalysis
from omen.domain.text import Lexicon

@final
class TextAnalyzer:
    """One lexicon built from every section's terms; one pass over each event's text.

    Implements omen.domain.analysis.TextMatcher with the domain TextAnalyzer's results.
    """

    def __init__(
        self, entries: Iterable[tuple[str, object]], irregular: Mapping[str, str] | None = None
    ) -> None: ...
    @property
    def lexicon(self) -> Lexicon[object]: ...
    def analyze(self, event: Any) -> TextAnalysis:
        """The tokens of title + description (separated by BOUNDARY) and every term matched."""

def fast_layouts() -> dict[str, bool]:
    """Each value class -> True when it is built without running its __init__ (slots.pxd)."""

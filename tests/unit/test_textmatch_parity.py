"""The compiled omen._native.textmatch and its twin textmatch_py give the domain TextAnalyzer's
results: the same tokens and the same matches, carrying the very payload objects of the lexicon.

Every test taking `impl` runs against both modules. When the compiled module cannot be imported
its tests are skipped, unless OMEN_REQUIRE_NATIVE=1 is set (as in CI): then they fail, so a broken
build can never pass by testing the twin against itself. The expected values below are written
out by hand; the property tests compare the compiled module with the twin on random text.
"""

from __future__ import annotations

import gc
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from omen.adapters.repository.memory import InMemorySignalRepository
from omen.adapters.ruleset_file import load_ruleset
from omen.application.pipeline import Pipeline
from omen.domain.analysis import TextAnalysis, TextAnalyzer, TextMatcher
from omen.domain.anomaly import RollingRobustStatistics
from omen.domain.events import RawEvent
from omen.domain.geography import lexicon_entries as place_terms
from omen.domain.semantic import irregular_forms
from omen.domain.semantic import lexicon_entries as topic_terms
from omen.domain.text import BOUNDARY, inflections
from tests.native_impls import parity_fixtures

NATIVE = "omen._native.textmatch"
TWIN = "omen._native.textmatch_py"

PROPERTY_SETTINGS = settings(max_examples=400, deadline=None)

impl, native, twin = parity_fixtures(NATIVE, TWIN)

SMALL_ENTRIES = [
    ("port", "port"),
    ("red sea", "red-sea"),
    ("attack", "attack"),
    ("supply chain", "supply-chain"),
    ("shipping", "shipping"),
    ("shipping lane", "lane"),
    ("euro", "euro"),
    ("strike", "strike"),
    ("air strike", "air-strike"),
    ("ban", "ban"),
    ("bab el mandeb", "bab"),
    ("crisis", "crisis"),
    ("port", "port-again"),
]
SMALL_IRREGULAR = {"crises": "crisis"}

RULESET = load_ruleset()
RULESET_ENTRIES = [*topic_terms(RULESET.semantic), *place_terms(RULESET.geographic)]
RULESET_IRREGULAR = irregular_forms(RULESET.semantic)


def event(title: str, description: str = "") -> RawEvent:
    return RawEvent("e-1", "polymarket", title, 0.5, 0, description=description)


def spans(analysis: TextAnalysis) -> list[tuple[str, int, int]]:
    return [(m.term, m.start, m.length) for m in analysis.matches]


@pytest.fixture(scope="module")
def small(impl: ModuleType) -> Any:
    return impl.TextAnalyzer(SMALL_ENTRIES, SMALL_IRREGULAR)


@pytest.fixture(scope="module")
def full(impl: ModuleType) -> Any:
    return impl.TextAnalyzer(RULESET_ENTRIES, RULESET_IRREGULAR)


@pytest.fixture(scope="module")
def pair(native: ModuleType, twin: ModuleType) -> tuple[Any, Any]:
    return (
        native.TextAnalyzer(RULESET_ENTRIES, RULESET_IRREGULAR),
        twin.TextAnalyzer(RULESET_ENTRIES, RULESET_IRREGULAR),
    )


# --- Known answers, on each implementation ----------------------------------------------------


@pytest.mark.parametrize(
    ("title", "description", "expected"),
    [
        ("Houthi attacks on shipping", "", [("attack", 1, 1), ("shipping", 3, 1)]),
        (
            "attacked, ATTACKING, attack's",
            "",
            [("attack", 0, 1), ("attack", 1, 1), ("attack", 2, 1)],
        ),
        ("sports and passports and transport", "", []),
        ("Europe is not the euro; euros are", "", [("euro", 4, 1), ("euro", 5, 1)]),
        ("shipping lanes through the Red Sea", "", [("shipping lane", 0, 2), ("red sea", 4, 2)]),
        ("an air strike, then a strike", "", [("air strike", 1, 2), ("strike", 5, 1)]),
        ("Bab-el-Mandeb", "", [("bab el mandeb", 0, 3)]),
        ("supply-chain crises", "", [("supply chain", 0, 2), ("crisis", 2, 1)]),
        # No phrase spans title and description: BOUNDARY sits between them.
        ("the Red", "Sea", []),
        ("red", "sea ports", [("port", 3, 1)]),
        ("", "", []),
        ("...", "", []),
        # Non-ASCII text takes the Unicode tokeniser: "é" is a letter, "_" and "—" separate.
        ("Straße—port_attack é", "", [("port", 1, 1), ("attack", 2, 1)]),
    ],
)
def test_words_and_phrases_match_whole_inflected_and_never_across_title_and_description(
    small, title, description, expected
):
    assert spans(small.analyze(event(title, description))) == expected


def test_tokens_are_lower_case_runs_of_letters_and_digits_with_a_boundary_before_the_description(
    small,
):
    analysis = small.analyze(event("Will U.S. ports (2026) re-open?", "Yes_no: 50%"))
    assert analysis.tokens == (
        *("will", "u", "s", "ports", "2026", "re", "open"),
        BOUNDARY,
        *("yes", "no", "50"),
    )
    assert small.analyze(event("Ports", "")).tokens == ("ports",)


def test_a_term_listed_twice_carries_both_payloads_in_order(small):
    (match,) = small.analyze(event("ports")).matches
    assert match.payloads == ("port", "port-again")


def test_matches_carry_the_lexicons_own_payload_objects(full):
    analysis = full.analyze(event("Houthi attacks near Bab el-Mandeb"))
    terms = full.lexicon.tables.terms
    by_canonical = {canonical: payloads for canonical, payloads in terms.values()}
    assert [m.term for m in analysis.matches] == ["houthi", "attack", "bab el mandeb"]
    for match in analysis.matches:
        assert match.payloads is by_canonical[match.term]


def test_text_longer_than_the_stack_buffer_is_tokenised_whole(small):
    title = "port " * 600 + "Red Sea"
    analysis = small.analyze(event(title))
    assert len(analysis.tokens) == 602
    assert spans(analysis)[-2:] == [("port", 599, 1), ("red sea", 600, 2)]


def test_the_analyzer_is_a_text_matcher_with_the_domain_analyzers_lexicon(impl, small):
    matcher: TextMatcher = small
    assert isinstance(matcher.analyze(event("port")), TextAnalysis)
    assert len(small.lexicon) == len(TextAnalyzer(SMALL_ENTRIES, SMALL_IRREGULAR).lexicon)


def test_a_title_that_is_not_text_fails_as_in_the_twin(impl, small):
    with pytest.raises(AttributeError):
        small.analyze(event(None))  # type: ignore[arg-type]


# --- Parity: compiled against twin ---------------------------------------------------------------


def bench_corpus(n: int) -> list[RawEvent]:
    root = Path(__file__).resolve().parent.parent.parent
    sys.path.insert(0, str(root / "benchmarks"))
    try:
        from bench_pipeline import corpus
    finally:
        sys.path.remove(str(root / "benchmarks"))
    events: list[RawEvent] = corpus(n)
    return events


def test_every_benchmark_and_fixture_event_is_analysed_identically(pair):
    compiled, reference = pair
    events = bench_corpus(3000)
    assert any(not (e.title + e.description).isascii() for e in events)  # both tokenisers run
    for e in events:
        assert compiled.analyze(e) == reference.analyze(e), e.title


def test_a_pipeline_given_the_compiled_matcher_decides_every_event_as_the_reference_does(native):
    def run(text_matcher: Any) -> list[Any]:
        statistics = RollingRobustStatistics.from_params(RULESET.anomaly)
        pipeline = Pipeline(
            RULESET, lambda e: e.event_id, InMemorySignalRepository(), statistics, text_matcher
        )
        return [pipeline.process(e) for e in events]

    events = bench_corpus(2000)
    compiled = run(native.TextAnalyzer)
    assert sum(r.signal is not None for r in compiled) > 500
    assert compiled == run(TextAnalyzer)


WORDS = sorted(
    {w for term, _ in RULESET_ENTRIES for w in term.split()}
    | {f for term, _ in RULESET_ENTRIES for f in inflections(term.split()[-1].lower())}
    | set(RULESET_IRREGULAR)
    | {"sport", "passport", "europe", "the", "of", "x_y", "Straße", "İstanbul", "ﬁnal", "٣"}
)
SEPARATORS = [" ", "  ", ", ", "-", "/", "'s ", "_", ".", "\n", "—", "\u00a0"]
text_from_words = st.lists(
    st.tuples(
        st.sampled_from(WORDS),
        st.sampled_from(["lower", "upper", "title"]),
        st.sampled_from(SEPARATORS),
    ),
    max_size=40,
).map(lambda parts: "".join(getattr(w, case)() + sep for w, case, sep in parts))
any_text = st.text(max_size=300) | st.text(alphabet=st.characters(max_codepoint=127), max_size=300)


@PROPERTY_SETTINGS
@given(title=text_from_words | any_text, description=text_from_words | any_text)
def test_random_text_is_analysed_identically(pair, title, description):
    compiled, reference = pair
    assert compiled.analyze(event(title, description)) == reference.analyze(
        event(title, description)
    )


@PROPERTY_SETTINGS
@given(st.text(alphabet=st.characters(max_codepoint=127), max_size=300))
def test_ascii_tokens_are_the_regex_tokens(pair, text):
    compiled, _ = pair
    assert list(compiled.analyze(event(text)).tokens) == re.findall(r"[^\W_]+", text.lower())


# --- The compiled analyzer's caches change no result -----------------------------------------


def test_every_value_class_is_built_by_the_compiled_fast_path(native):
    # A False here would mean the compiled module silently calls the classes instead.
    assert all(native.fast_layouts().values()), native.fast_layouts()


def test_compiled_analyses_are_left_out_of_the_cycle_collector(pair):
    compiled, reference = pair
    analysis = compiled.analyze(event("Red Sea ports", "attacks on shipping"))
    assert analysis.matches
    assert not gc.is_tracked(analysis)
    assert not any(gc.is_tracked(v) for v in (analysis.tokens, analysis.matches, *analysis.matches))
    gc.collect()
    assert analysis == reference.analyze(event("Red Sea ports", "attacks on shipping"))


def test_the_same_text_observed_again_is_analysed_as_the_first_time(pair):
    compiled, reference = pair
    first = event("Will the Red Sea close to shipping?", "Houthi attacks on ports")
    again = event("Will the Red Sea close to shipping?", "Houthi attacks on ports")
    assert compiled.analyze(first) == compiled.analyze(again) == reference.analyze(again)
    assert compiled.analyze(event(first.title)) == reference.analyze(event(first.title))


def test_more_distinct_tokens_and_texts_than_the_caches_hold_are_analysed_identically(pair):
    compiled, reference = pair
    # 40,000 distinct tokens (the token table holds 32,768) and 5,000 distinct texts (the memo
    # holds 4,096), some tokens longer than the 32 characters the table takes.
    for i in range(5_000):
        words = " ".join(f"w{i}x{j}" for j in range(8))
        long_word = "port" + "x" * (30 + i % 5) + str(i)
        e = event(f"Red Sea ports {words} {long_word}", f"strike {i} attacks")
        assert compiled.analyze(e) == reference.analyze(e)
    for i in range(0, 5_000, 97):
        e = event(f"Red Sea ports w{i}x0 attacks", f"strike {i}")
        assert compiled.analyze(e) == reference.analyze(e)

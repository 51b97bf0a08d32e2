"""Tokenising and lexicon matching: whole words, inflections, phrases, longest match first."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from omen.domain.text import Lexicon, LexiconError, inflections, tokenize

LEXICON = Lexicon(
    [
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
    ],
    irregular={"crises": "crisis"},
)


def terms(text: str) -> list[str]:
    return [m.term for m in LEXICON.match(tokenize(text))]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Houthi attacks on shipping", ["attack", "shipping"]),
        ("attacked, attacking, attack's", ["attack", "attack", "attack"]),
        ("sports and passports and transport", []),
        ("Europe is not the euro; euros are", ["euro", "euro"]),
        ("shipping lanes through the Red Sea", ["shipping lane", "red sea"]),
        ("an air strike, then a strike", ["air strike", "strike"]),
        ("exports banned; a ban; bans", ["ban", "ban", "ban"]),
        ("Bab-el-Mandeb", ["bab el mandeb"]),
        ("supply-chain crises", ["supply chain", "crisis"]),
        ("red", []),
        ("sea red", []),
        ("", []),
    ],
)
def test_words_and_phrases_match_whole_and_inflected(text, expected):
    assert terms(text) == expected


def test_matches_report_their_token_span():
    (match,) = LEXICON.match(tokenize("through the Red Sea"))
    assert (match.term, match.payloads, match.start, match.length) == (
        "red sea",
        ("red-sea",),
        2,
        2,
    )


def test_inflections_cover_plurals_verbs_and_doubling():
    assert inflections("attack") >= {"attack", "attacks", "attacked", "attacking"}
    assert inflections("ban") >= {"bans", "banned", "banning"}
    assert inflections("supply") >= {"supplies", "supplied"}
    assert inflections("close") >= {"closes", "closed", "closing"}
    assert inflections("us") == {"us"}
    assert inflections("2026") == {"2026"}


def test_an_ambiguous_lexicon_is_refused():
    # "banned" would be a form of both "ban" (doubling) and "bann".
    with pytest.raises(LexiconError, match="'banned' inflects both 'ban' and 'bann'"):
        Lexicon([("ban", 1), ("bann", 2)])


def reference_match(lexicon: Lexicon, tokens: list[str]) -> list[tuple[str, int, int]]:
    """The plain left-to-right scan the optimised matcher must agree with."""
    words = lexicon.normalise(tokens)
    out, i = [], 0
    while i < len(words):
        for size in range(len(words) - i, 0, -1):
            hit = lexicon._terms.get(tuple(words[i : i + size]))
            if hit is not None:
                out.append((hit[0], i, size))
                i += size
                break
        else:
            i += 1
    return out


VOCABULARY = [
    "red",
    "sea",
    "seas",
    "shipping",
    "lane",
    "lanes",
    "air",
    "strike",
    "struck",
    "port",
    "ports",
    "sport",
    "bab",
    "el",
    "mandeb",
    "euro",
    "europe",
    "supply",
    "chain",
    "x",
]


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(VOCABULARY), max_size=30))
def test_the_fast_matcher_agrees_with_a_plain_scan(tokens):
    fast = [(m.term, m.start, m.length) for m in LEXICON.match(tokens)]
    assert fast == reference_match(LEXICON, tokens)


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.characters(max_codepoint=127), max_size=200) | st.text(max_size=60))
def test_the_ascii_fast_path_tokenises_exactly_like_the_unicode_regex(text):
    import re

    assert tokenize(text) == re.findall(r"[^\W_]+", text.lower())

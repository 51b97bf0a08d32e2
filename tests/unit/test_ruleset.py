"""The packaged ruleset and overrides of it."""

from __future__ import annotations

import pytest

from omen.adapters.ruleset_file import load_ruleset
from omen.errors import ConfigError


def test_the_packaged_default_ruleset_loads_with_its_version():
    ruleset = load_ruleset()
    assert ruleset.version == "2026.11.0"
    assert ruleset.liquidity.min_usd == 1000.0
    assert ruleset.liquidity.full_score_usd == 10000.0
    assert dict(ruleset.confidence.source_reliability) == {"polymarket": 0.8}
    assert ruleset.confidence.status_candidate == 0.30


def test_an_override_changes_only_what_it_names(tmp_path):
    override = tmp_path / "rules.toml"
    override.write_text('version = "custom-1"\n[liquidity]\nmin_usd = 5000.0\n')
    ruleset = load_ruleset(override)
    assert ruleset.version == "custom-1"
    assert ruleset.liquidity.min_usd == 5000.0
    assert ruleset.liquidity.full_score_usd == 10000.0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[liquidity]\nmin_usd = 5.0\n", "must set a 'version'"),
        ('version = "2026.11.0"\n', "must set a 'version' other than"),
        ('version = "x"\n[liquidity]\nfull_score_usd = 0\n', "'liquidity.full_score_usd'"),
        ('version = "x"\n[confidence]\nrules_weight = 0.9\n', "must equal 1"),
        ('version = "x"\n[liquidity]\nmin_usdd = 1\n', "'liquidity.min_usdd'"),
        ('version = "x"\n[confidence]\nstatus_active = 0.2\n', "candidate <= monitoring <= active"),
    ],
)
def test_a_bad_override_is_refused_with_the_parameter_named(tmp_path, content, message):
    override = tmp_path / "rules.toml"
    override.write_text(content)
    with pytest.raises(ConfigError, match=message):
        load_ruleset(override)

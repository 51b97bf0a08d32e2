"""The packaged ruleset and overrides of it."""

from __future__ import annotations

import pytest

from omen.adapters.ruleset_file import load_ruleset
from omen.errors import ConfigError


def test_the_packaged_default_ruleset_loads_with_its_version_and_documented_thresholds():
    ruleset = load_ruleset()
    assert ruleset.version == "2026.11.2"
    assert ruleset.liquidity.min_usd == 1000.0
    assert ruleset.liquidity.full_score_usd == 10000.0
    assert ruleset.geographic.distance_km == 500.0
    assert (ruleset.anomaly.extreme_low, ruleset.anomaly.extreme_high) == (0.05, 0.95)
    assert (ruleset.anomaly.jump_delta, ruleset.anomaly.reject_risk) == (0.5, 0.5)
    c = ruleset.confidence
    assert dict(c.source_reliability) == {"polymarket": 0.8}
    assert (c.level_high, c.level_medium) == (0.75, 0.50)
    assert (c.status_active, c.status_monitoring, c.status_candidate) == (0.70, 0.50, 0.30)


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
        ('version = "2026.11.2"\n', "must set a 'version' other than"),
        (
            'version = "x"\n[liquidity]\nfull_score_usd = 0\n',
            "liquidity.full_score_usd: must be > 0",
        ),
        ('version = "x"\n[confidence]\nrules_weight = 0.9\n', "the four weights must sum to 1"),
        ('version = "x"\n[liquidity]\nmin_usdd = 1\n', "liquidity.min_usdd: unknown parameter"),
        ('version = "x"\n[confidence]\nstatus_active = 0.2\n', "candidate <= monitoring <= active"),
        ('version = "x"\n[anomaly]\nwindow = 1\n', "anomaly.window"),
        (
            'version = "x"\n[semantic.topics.shipping]\nterms = [""]\n',
            "semantic.topics.shipping.terms[0]",
        ),
        (
            'version = "x"\n[[geographic.chokepoints]]\nname = "Nowhere"\nlat = 91.0\nlon = 0.0\n',
            "geographic.chokepoints[0]",
        ),
        ('version = "x"\n[rules]\n', "rules: unknown section"),
    ],
)
def test_a_bad_override_is_refused_with_the_parameter_named(tmp_path, content, message):
    override = tmp_path / "rules.toml"
    override.write_text(content)
    with pytest.raises(ConfigError) as error:
        load_ruleset(override)
    assert message in str(error.value)

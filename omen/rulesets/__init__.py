"""Packaged rulesets (TOML data files read by omen.adapters.ruleset_file)."""

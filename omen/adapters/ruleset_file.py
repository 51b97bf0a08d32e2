"""Load the packaged ruleset (omen/rulesets/default.toml), optionally overridden by a file."""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

from omen.domain.ruleset import Ruleset
from omen.errors import ConfigError


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Tables merge key by key; any other value (lists included) replaces the default."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def default_ruleset_data() -> dict[str, Any]:
    text = resources.files("omen.rulesets").joinpath("default.toml").read_text("utf-8")
    return tomllib.loads(text)


def load_ruleset(override_file: Path | None = None) -> Ruleset:
    """The default ruleset, or the default with `override_file`'s values on top.

    An override must declare its own `version`: the same version with other parameters would
    break the promise that (event, ruleset version) determines the signal.
    """
    data = default_ruleset_data()
    where = "packaged default ruleset"
    if override_file is not None:
        try:
            override = tomllib.loads(override_file.read_text("utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError([f"ruleset file {override_file}: {exc}"]) from None
        if override.get("version") in (None, data["version"]):
            raise ConfigError(
                [
                    f"ruleset file {override_file}: must set a 'version' other than "
                    f"the default's {data['version']!r}"
                ]
            )
        data = _merge(data, override)
        where = f"ruleset file {override_file}"
    try:
        return Ruleset.from_dict(data)
    except ValueError as exc:
        raise ConfigError([f"{where}: {exc}"]) from None

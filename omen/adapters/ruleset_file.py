"""Load the packaged default ruleset, optionally overridden by a TOML file, as a domain Ruleset."""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from omen.domain.ruleset import ConfidenceParams, LiquidityParams, Ruleset
from omen.errors import ConfigError

Fraction = Field(ge=0.0, le=1.0)


class _Liquidity(BaseModel):
    model_config = ConfigDict(extra="forbid")
    min_usd: float = Field(ge=0.0)
    full_score_usd: float = Field(gt=0.0)


class _Confidence(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rules_weight: float = Fraction
    source_weight: float = Fraction
    default_source_reliability: float = Fraction
    source_reliability: dict[str, float] = {}
    level_high: float = Fraction
    level_medium: float = Fraction
    status_active: float = Fraction
    status_monitoring: float = Fraction
    status_candidate: float = Fraction

    @model_validator(mode="after")
    def _ordered(self) -> _Confidence:
        if abs(self.rules_weight + self.source_weight - 1.0) > 1e-9:
            raise ValueError("rules_weight + source_weight must equal 1")
        if not self.level_medium <= self.level_high:
            raise ValueError("level_medium must be <= level_high")
        if not self.status_candidate <= self.status_monitoring <= self.status_active:
            raise ValueError("status thresholds must satisfy candidate <= monitoring <= active")
        if any(not 0.0 <= v <= 1.0 for v in self.source_reliability.values()):
            raise ValueError("every source_reliability must be within [0, 1]")
        return self


class _Ruleset(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: str = Field(min_length=1, max_length=64)
    liquidity: _Liquidity
    confidence: _Confidence


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
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
        parsed = _Ruleset.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(
            [f"{where}: '{'.'.join(map(str, e['loc']))}': {e['msg']}" for e in exc.errors()]
        ) from None
    c = parsed.confidence
    return Ruleset(
        version=parsed.version,
        liquidity=LiquidityParams(parsed.liquidity.min_usd, parsed.liquidity.full_score_usd),
        confidence=ConfidenceParams(
            rules_weight=c.rules_weight,
            source_weight=c.source_weight,
            source_reliability=tuple(
                sorted((k.lower(), v) for k, v in c.source_reliability.items())
            ),
            default_source_reliability=c.default_source_reliability,
            level_high=c.level_high,
            level_medium=c.level_medium,
            status_active=c.status_active,
            status_monitoring=c.status_monitoring,
            status_candidate=c.status_candidate,
        ),
    )

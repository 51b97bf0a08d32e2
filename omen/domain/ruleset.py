"""The ruleset: every parameter of every rule and of the confidence formula, under one version."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from omen.domain.anomaly import AnomalyParams
from omen.domain.confidence import ConfidenceParams
from omen.domain.freshness import FreshnessParams
from omen.domain.geography import GeographyParams
from omen.domain.liquidity import LiquidityParams
from omen.domain.semantic import SemanticParams

SECTIONS = ("liquidity", "semantic", "geographic", "anomaly", "freshness", "confidence")


@dataclass(frozen=True, slots=True)
class Ruleset:
    """A named, versioned set of parameters; the version is stamped into every signal and
    feeds signal_id, so one (event, version) pair always means one signal."""

    version: str
    liquidity: LiquidityParams
    semantic: SemanticParams
    geographic: GeographyParams
    anomaly: AnomalyParams
    freshness: FreshnessParams
    confidence: ConfidenceParams

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Ruleset:
        """Validate a whole ruleset; ValueError names the offending parameter's path."""
        unknown = sorted(set(data) - {"version", *SECTIONS})
        if unknown:
            raise ValueError(f"{unknown[0]}: unknown section")
        version = data.get("version")
        if not isinstance(version, str) or not 0 < len(version) <= 64:
            raise ValueError("version: must be a string of 1 to 64 characters")
        sections: dict[str, Mapping[str, Any]] = {}
        for name in SECTIONS:
            section = data.get(name, {})
            if not isinstance(section, Mapping):
                raise ValueError(f"{name}: must be a table")
            sections[name] = section
        return cls(
            version=version,
            liquidity=LiquidityParams.from_dict(sections["liquidity"]),
            semantic=SemanticParams.from_dict(sections["semantic"]),
            geographic=GeographyParams.from_dict(sections["geographic"]),
            anomaly=AnomalyParams.from_dict(sections["anomaly"]),
            freshness=FreshnessParams.from_dict(sections["freshness"]),
            confidence=ConfidenceParams.from_dict(sections["confidence"]),
        )

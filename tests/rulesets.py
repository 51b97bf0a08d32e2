"""Test access to sections of the packaged ruleset (omen/rulesets/default.toml)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

RULESETS = Path(__file__).resolve().parent.parent / "omen" / "rulesets"


def section(name: str) -> dict[str, Any]:
    """The `[name]` table of the default ruleset (or, while a section is being written, of
    omen/rulesets/_<name>.toml)."""
    default = tomllib.loads((RULESETS / "default.toml").read_text())
    if name in default:
        return dict(default[name])
    draft = RULESETS / f"_{name}.toml"
    return dict(tomllib.loads(draft.read_text())[name])

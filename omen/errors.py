"""OMEN's exceptions: one base class, specific subclasses carrying structured fields."""

from __future__ import annotations

from collections.abc import Sequence

from omen.domain.validation import FieldViolation


class OmenError(Exception):
    """Base class of every error OMEN raises on purpose."""


class ConfigError(OmenError):
    """A setting is missing or invalid; `problems` names each setting and where it came from."""

    def __init__(self, problems: Sequence[str]):
        self.problems = tuple(problems)
        super().__init__("invalid configuration:\n  " + "\n  ".join(self.problems))


class InvalidEventError(OmenError):
    """A client sent a malformed event; maps to INVALID_ARGUMENT with field violations."""

    def __init__(self, violations: Sequence[FieldViolation]):
        self.violations = tuple(violations)
        first = self.violations[0] if self.violations else FieldViolation("event", "is invalid")
        more = f" (and {len(self.violations) - 1} more)" if len(self.violations) > 1 else ""
        super().__init__(f"invalid event: {first.field} {first.description}{more}")


class NotFoundError(OmenError):
    """A named thing (signal, partition) does not exist."""


class StartupError(OmenError):
    """The server cannot start: a port is taken, a directory is not writable, ..."""


class LedgerUnavailableError(OmenError):
    """The ledger cannot make records durable (it failed closed, or is shutting down); nothing
    is acknowledged until it is back. Maps to UNAVAILABLE."""


class OutboxError(OmenError):
    """An outbox file (a publisher's cursor or dead letters) cannot be read or written."""

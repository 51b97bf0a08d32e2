"""WatchSignals: a request's cursor and filters, and what each SIGNAL record becomes on the wire.

Cursor (the request's `cursor` oneof), resolved to the LSN the tail starts after:

- ``after``: the ledger position of a signal the client received (its `ledger_partition` and
  `ledger_sequence`). The stream starts with the record after it in LSN order, so reconnecting
  with the last position received yields every later signal exactly once, in LSN order. A
  malformed position is INVALID_ARGUMENT; a well-formed one the ledger does not hold is
  NOT_FOUND (see `resolve_after`).
- ``since``: signals whose `generated_at` (which equals `observed_at`) is at or after the time,
  in LSN order, then live ones, every one passing the same test. Partitions hold one UTC date
  of `observed_at` (a `<date>-late` partition holds that date too), so the tail starts just
  before the first record of the first partition whose date is on or after the date of
  `since`: records before that LSN all belong to earlier dates. Records after it that belong to
  earlier dates (e.g. an event observed yesterday arriving today) are read and skipped.
- unset: only signals acknowledged after the call started (the tail starts at the ledger's
  acknowledged LSN).

Filters combine with AND; each list matches any of its values: `categories` (known
SignalCategory values), `min_confidence` (confidence_score >= it, in [0, 1]), `regions` (the
signal's geographic.regions holds one of them; compared case-insensitively).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from omen._proto import service_pb2, signal_pb2
from omen.adapters.ledger.format import LedgerError, date_of, is_partition_name, partition_date
from omen.adapters.ledger.ledger import Entry, Ledger, Position
from omen.adapters.ledger.records import decode_signal_head
from omen.domain.signals import SignalCategory
from omen.domain.validation import FieldViolation

_NS = 1_000_000_000
# google.protobuf.Timestamp is valid from 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z.
_TS_MIN_SECONDS = -62_135_596_800
_TS_MAX_SECONDS = 253_402_300_799
MAX_REGIONS = 256
MAX_REGION_CHARS = 64


@dataclass(frozen=True)
class WatchRequest:
    """A validated WatchSignalsRequest (the cursor not yet resolved to an LSN)."""

    after: Position | None
    since_ns: int | None
    categories: frozenset[int]
    min_confidence: float
    regions: frozenset[str]


class PositionNotFoundError(LedgerError):
    """The `after` position names no record of this ledger."""


def parse(request: service_pb2.WatchSignalsRequest) -> tuple[WatchRequest, list[FieldViolation]]:
    violations: list[FieldViolation] = []
    after = None
    since_ns = None
    cursor = request.WhichOneof("cursor")
    if cursor == "after":
        name, sequence = request.after.partition, request.after.sequence
        if not name:
            violations.append(FieldViolation("after.partition", "is required"))
        elif not is_partition_name(name):
            violations.append(
                FieldViolation(
                    "after.partition",
                    f"must be YYYY-MM-DD or YYYY-MM-DD-late, got {name[:40]!r}",
                )
            )
        if sequence < 1:
            violations.append(
                FieldViolation("after.sequence", "must be >= 1 (sequences start at 1)")
            )
        after = Position(name, sequence)
    elif cursor == "since":
        ts = request.since
        if not _TS_MIN_SECONDS <= ts.seconds <= _TS_MAX_SECONDS or not 0 <= ts.nanos < _NS:
            violations.append(
                FieldViolation(
                    "since",
                    "must be a valid timestamp (0001-01-01..9999-12-31), got "
                    f"seconds={ts.seconds} nanos={ts.nanos}",
                )
            )
        else:
            since_ns = ts.seconds * _NS + ts.nanos
    categories = set()
    for i, value in enumerate(request.categories):
        if value in SignalCategory._value2member_map_:
            categories.add(int(value))
        else:
            violations.append(FieldViolation(f"categories[{i}]", f"unknown category {value}"))
    if math.isnan(request.min_confidence) or not 0.0 <= request.min_confidence <= 1.0:
        violations.append(
            FieldViolation("min_confidence", f"must be within [0, 1], got {request.min_confidence}")
        )
    regions = set()
    if len(request.regions) > MAX_REGIONS:
        violations.append(
            FieldViolation(
                "regions", f"must have at most {MAX_REGIONS} entries, got {len(request.regions)}"
            )
        )
    for i, region in enumerate(request.regions[:MAX_REGIONS]):
        code = region.strip().upper()
        if not code:
            violations.append(FieldViolation(f"regions[{i}]", "must not be empty"))
        elif len(code) > MAX_REGION_CHARS:
            violations.append(
                FieldViolation(
                    f"regions[{i}]",
                    f"must be at most {MAX_REGION_CHARS} characters, got {len(code)}",
                )
            )
        else:
            regions.add(code)
    parsed = WatchRequest(
        after, since_ns, frozenset(categories), request.min_confidence, frozenset(regions)
    )
    return parsed, violations


def resolve_after(ledger: Ledger, position: Position) -> int:
    """The LSN of the record at `position` (any record type: resuming after it is the same).
    PositionNotFoundError when the ledger holds no such record; LedgerError when it holds it
    but cannot read it (an archived partition whose copy is unreachable)."""
    if position.partition not in ledger.partition_names():
        raise PositionNotFoundError(
            f"no partition {position.partition} in this server's ledger "
            f"(after = {position.partition}/{position.sequence})"
        )
    try:
        return ledger.get(position).lsn
    except LedgerError as exc:
        if str(exc).startswith("no record"):  # (not: an archive copy that cannot be read)
            raise PositionNotFoundError(
                f"no record {position.partition}/{position.sequence} in this server's ledger "
                "(a position must come from a signal this server emitted)"
            ) from None
        raise


def start_since(ledger: Ledger, since_ns: int) -> int:
    """The LSN to start after so that every record of a date on or after `since_ns`'s UTC date
    follows: one before the first record of the first such partition, at most the acknowledged
    LSN. Reads segment metadata only (an archived partition's copy is scanned once)."""
    acked = ledger.acked_lsn
    day = partition_date(date_of(since_ns))
    start = acked
    for name in ledger.partition_names():
        if partition_date(name) < day:
            continue
        for seg in ledger.segments(name):
            if seg.count:
                start = min(start, seg.first_lsn - 1)
                break
    return start


def picker(watch: WatchRequest) -> _Picker:
    return _Picker(watch)


class _Picker:
    """Decodes a SIGNAL record straight into the omen.v1.OmenSignal it stores (the ledger keeps
    the serialised message), applies the filters, and fills in the position. None: skip."""

    __slots__ = ("categories", "min_confidence", "regions", "since")

    def __init__(self, watch: WatchRequest):
        self.categories = watch.categories
        self.min_confidence = watch.min_confidence
        self.regions = watch.regions
        self.since = watch.since_ns

    def __call__(self, entry: Entry) -> signal_pb2.OmenSignal | None:
        start = decode_signal_head(entry.body)[4]
        message = signal_pb2.OmenSignal()
        message.ParseFromString(entry.body[start:])
        if self.categories and message.category not in self.categories:
            return None
        if message.confidence_score < self.min_confidence:
            return None
        if self.regions and self.regions.isdisjoint(r.upper() for r in message.geographic.regions):
            return None
        if self.since is not None:
            generated = message.generated_at
            if generated.seconds * _NS + generated.nanos < self.since:
                return None
        message.ledger_partition = entry.position.partition
        message.ledger_sequence = entry.position.sequence
        return message

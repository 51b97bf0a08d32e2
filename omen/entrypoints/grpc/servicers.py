"""Thin servicers: omen.v1 request -> domain command -> application -> omen.v1 response.

Status-code mapping happens here (through .status) and nowhere else.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import re
import time
from collections.abc import AsyncIterator, Callable

import grpc

from omen._proto import service_pb2, service_pb2_grpc, signal_pb2
from omen.adapters.ledger.format import LedgerError, is_partition_name
from omen.adapters.ledger.ledger import Ledger, PartitionSummary
from omen.adapters.ledger.records import RecordType
from omen.adapters.ledger.signals import signal_of
from omen.application.ports import SignalRepository
from omen.application.process import ProcessEvents
from omen.domain.signals import Outcome, SignalCategory
from omen.domain.validation import FieldViolation
from omen.entrypoints.grpc import convert
from omen.entrypoints.grpc.status import invalid_argument, unimplemented_message
from omen.errors import LedgerUnavailableError
from omen.observability import Metrics

log = logging.getLogger("omen.grpc")

_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$")
_SIGNAL_ID = re.compile(r"^sig-[0-9a-f]{32}$")
_STREAMING = "streaming ingest is not built yet (planned: ProcessStream, issue #6); use Process"
_WATCH = "the live signal tail is not built yet (planned: WatchSignals, issue #6); use ListSignals"
_SOURCES = "no pull sources are built yet (planned: Polymarket source adapter)"
_RECONCILER = "the reconciler is not built yet (needs the ledger and downstream inventories)"


def trace_id_from(context: grpc.aio.ServicerContext) -> str:
    """The W3C trace id of the caller's `traceparent` header, or "" when absent or malformed."""
    for key, value in context.invocation_metadata() or ():
        if key == "traceparent" and isinstance(value, str):
            match = _TRACEPARENT.match(value.strip().lower())
            if match and match.group(1) != "0" * 32:
                return match.group(1)
    return ""


class SignalServicer(service_pb2_grpc.SignalServiceServicer):
    def __init__(
        self,
        process: ProcessEvents,
        repository: SignalRepository,
        metrics: Metrics,
        max_event_bytes: int,
        clock_ns: Callable[[], int] = time.time_ns,
        process_delay_s: float = 0.0,
    ):
        self._process = process
        self._repository = repository
        self._metrics = metrics
        self._max_event_bytes = max_event_bytes
        self._clock_ns = clock_ns
        self._delay = process_delay_s
        self._outcome_counters = {o: metrics.events.labels(o.name.lower()) for o in Outcome}

    async def Process(
        self, request: service_pb2.ProcessRequest, context: grpc.aio.ServicerContext
    ) -> service_pb2.ProcessResponse:
        received_at = self._clock_ns()
        if self._delay:
            await asyncio.sleep(self._delay)
        if not request.HasField("event"):
            await self._invalid(context, [FieldViolation("event", "is required")])
        size = request.event.ByteSize()
        if size > self._max_event_bytes:
            await self._invalid(
                context,
                [
                    FieldViolation(
                        "event",
                        f"must be at most {self._max_event_bytes} bytes serialised, got {size}",
                    )
                ],
            )
        event, violations = convert.event_from_proto(request.event, received_at)
        if violations:
            await self._invalid(context, violations)
        started = time.perf_counter()
        try:
            result = await self._process.process(event, trace_id=trace_id_from(context))
        except LedgerUnavailableError as exc:
            await context.abort(grpc.StatusCode.UNAVAILABLE, str(exc))
        self._metrics.process_seconds.observe(time.perf_counter() - started)
        self._outcome_counters[result.outcome].inc()
        return convert.process_response_to_proto(result)

    async def _invalid(
        self, context: grpc.aio.ServicerContext, violations: list[FieldViolation]
    ) -> None:
        self._outcome_counters[Outcome.INVALID].inc()
        await context.abort_with_status(invalid_argument(violations, "event"))

    async def ProcessStream(
        self,
        request_iterator: AsyncIterator[service_pb2.ProcessStreamRequest],
        context: grpc.aio.ServicerContext,
    ) -> AsyncIterator[service_pb2.ProcessStreamResponse]:
        await context.abort(
            grpc.StatusCode.UNIMPLEMENTED, unimplemented_message("ProcessStream", _STREAMING)
        )
        yield service_pb2.ProcessStreamResponse()  # pragma: no cover - abort raises

    async def GetSignal(
        self, request: service_pb2.GetSignalRequest, context: grpc.aio.ServicerContext
    ) -> signal_pb2.OmenSignal:
        if not _SIGNAL_ID.match(request.signal_id):
            await context.abort_with_status(
                invalid_argument(
                    [
                        FieldViolation(
                            "signal_id",
                            "must be 'sig-' followed by 32 lowercase hex "
                            f"characters, got {request.signal_id[:80]!r}",
                        )
                    ]
                )
            )
        signal = self._repository.get(request.signal_id)
        if signal is None:
            await context.abort(
                grpc.StatusCode.NOT_FOUND,
                f"no signal {request.signal_id} in this server's ledger",
            )
            raise AssertionError("unreachable: abort raises")
        return convert.signal_to_proto(signal)

    async def ListSignals(
        self, request: service_pb2.ListSignalsRequest, context: grpc.aio.ServicerContext
    ) -> service_pb2.ListSignalsResponse:
        violations: list[FieldViolation] = []
        page_size = request.page_size or 100
        if not 1 <= page_size <= 1000:
            violations.append(
                FieldViolation("page_size", f"must be within [1, 1000], got {page_size}")
            )
        offset = 0
        if request.page_token:
            try:
                token = base64.urlsafe_b64decode(request.page_token.encode("ascii")).decode("ascii")
                if not token.startswith("o:"):
                    raise ValueError(token)
                offset = int(token[2:])
                if offset < 0:
                    raise ValueError(token)
            except (ValueError, UnicodeError, binascii.Error):
                violations.append(
                    FieldViolation("page_token", "is not a token returned by ListSignals")
                )
        categories = []
        for i, value in enumerate(request.categories):
            if value in SignalCategory._value2member_map_:
                categories.append(SignalCategory(value))
            else:
                violations.append(FieldViolation(f"categories[{i}]", f"unknown category {value}"))
        if not 0.0 <= request.min_confidence <= 1.0:
            violations.append(
                FieldViolation(
                    "min_confidence", f"must be within [0, 1], got {request.min_confidence}"
                )
            )
        if violations:
            await context.abort_with_status(invalid_argument(violations))
        page = self._repository.page(offset, page_size, categories, request.min_confidence)
        response = service_pb2.ListSignalsResponse(
            signals=[convert.signal_to_proto(s) for s in page.signals]
        )
        if page.next_offset is not None:
            response.next_page_token = base64.urlsafe_b64encode(
                f"o:{page.next_offset}".encode("ascii")
            ).decode("ascii")
        return response

    async def WatchSignals(
        self, request: service_pb2.WatchSignalsRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[signal_pb2.OmenSignal]:
        await context.abort(
            grpc.StatusCode.UNIMPLEMENTED, unimplemented_message("WatchSignals", _WATCH)
        )
        yield signal_pb2.OmenSignal()  # pragma: no cover - abort raises

    async def PullSource(
        self, request: service_pb2.PullSourceRequest, context: grpc.aio.ServicerContext
    ) -> service_pb2.PullSourceResponse:
        await context.abort(
            grpc.StatusCode.UNIMPLEMENTED, unimplemented_message("PullSource", _SOURCES)
        )
        raise AssertionError("unreachable")  # pragma: no cover


class ReconcileServicer(service_pb2_grpc.ReconcileServiceServicer):
    async def Reconcile(
        self, request: service_pb2.ReconcileRequest, context: grpc.aio.ServicerContext
    ) -> service_pb2.ReconcileReport:
        await context.abort(
            grpc.StatusCode.UNIMPLEMENTED, unimplemented_message("Reconcile", _RECONCILER)
        )
        raise AssertionError("unreachable")  # pragma: no cover

    async def ReconcileStream(
        self, request: service_pb2.ReconcileRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[service_pb2.ReconcileProgress]:
        await context.abort(
            grpc.StatusCode.UNIMPLEMENTED, unimplemented_message("ReconcileStream", _RECONCILER)
        )
        yield service_pb2.ReconcileProgress()  # pragma: no cover - abort raises


class LedgerServicer(service_pb2_grpc.LedgerServiceServicer):
    def __init__(self, ledger: Ledger):
        self._ledger = ledger

    async def _partition(self, name: str, context: grpc.aio.ServicerContext) -> str:
        if not name:
            violation = FieldViolation("partition", "is required")
        elif not is_partition_name(name):
            violation = FieldViolation(
                "partition", f"must be YYYY-MM-DD or YYYY-MM-DD-late, got {name[:40]!r}"
            )
        elif name not in self._ledger.partition_names():
            await context.abort(grpc.StatusCode.NOT_FOUND, f"no partition {name} in the ledger")
            raise AssertionError("unreachable: abort raises")
        else:
            return name
        await context.abort_with_status(invalid_argument([violation]))
        raise AssertionError("unreachable: abort raises")

    async def ListPartitions(
        self, request: service_pb2.ListPartitionsRequest, context: grpc.aio.ServicerContext
    ) -> service_pb2.ListPartitionsResponse:
        infos = [
            partition_info(self._ledger.summary(name)) for name in self._ledger.partition_names()
        ]
        return service_pb2.ListPartitionsResponse(partitions=infos)

    async def SealPartition(
        self, request: service_pb2.SealPartitionRequest, context: grpc.aio.ServicerContext
    ) -> service_pb2.SealPartitionResponse:
        name = await self._partition(request.partition, context)
        try:
            manifest = await self._ledger.seal_async(name)
        except LedgerUnavailableError as exc:
            await context.abort(grpc.StatusCode.UNAVAILABLE, str(exc))
            raise AssertionError("unreachable: abort raises") from None
        except LedgerError as exc:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(exc))
            raise AssertionError("unreachable: abort raises") from None
        return service_pb2.SealPartitionResponse(
            partition=partition_info(self._ledger.summary(name)),
            fingerprint=str(manifest["fingerprint"]),
        )

    async def VerifyPartition(
        self, request: service_pb2.VerifyPartitionRequest, context: grpc.aio.ServicerContext
    ) -> service_pb2.VerifyPartitionResponse:
        from omen.adapters.ledger import maintenance

        name = await self._partition(request.partition, context)
        report = await asyncio.to_thread(maintenance.verify, self._ledger, name)
        return service_pb2.VerifyPartitionResponse(
            ok=report.ok, records_verified=report.records_verified, problems=report.problems
        )

    async def ReadPartition(
        self, request: service_pb2.ReadPartitionRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[service_pb2.LedgerRecord]:
        name = await self._partition(request.partition, context)
        try:
            for entry in self._ledger.read(name, max(1, request.from_sequence)):
                if entry.type != RecordType.SIGNAL:
                    continue  # observations of rejected events carry no signal
                yield service_pb2.LedgerRecord(
                    position=service_pb2.LedgerPosition(
                        partition=entry.position.partition, sequence=entry.position.sequence
                    ),
                    signal=convert.signal_to_proto(signal_of(entry)),
                )
        except LedgerError as exc:  # e.g. an archived partition whose copy moved away
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(exc))


def partition_info(summary: PartitionSummary) -> service_pb2.PartitionInfo:
    """An archived partition is listed once, from the ledger's tombstone (archived=True)."""
    return service_pb2.PartitionInfo(
        name=summary.name,
        sealed=summary.sealed,
        record_count=summary.record_count,
        first_sequence=summary.first_sequence,
        last_sequence=summary.last_sequence,
        size_bytes=summary.size_bytes,
        compressed=summary.compressed,
        archived=summary.archived,
    )

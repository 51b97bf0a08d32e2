"""Thin servicers: omen.v1 request -> domain command -> application -> omen.v1 response.

Status-code mapping happens here (through .status) and nowhere else.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import collections
import contextlib
import logging
import re
import time
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING

import grpc

from omen import native
from omen._proto import service_pb2, service_pb2_grpc, signal_pb2
from omen.adapters.ledger.format import NS_PER_DAY, LedgerError, is_partition_name
from omen.adapters.ledger.ledger import Ledger, PartitionSummary
from omen.adapters.ledger.records import RecordType
from omen.adapters.ledger.signals import signal_of
from omen.adapters.ledger.tail import LedgerTail
from omen.adapters.proto_codec import SignalWireMemo
from omen.application.outbox import Outbox, PublisherStatus
from omen.application.ports import SignalRepository
from omen.application.process import ProcessEvents, SubmittedBatch
from omen.domain.events import RawEvent
from omen.domain.signals import Outcome, ProcessResult, SignalCategory
from omen.domain.validation import FieldViolation
from omen.entrypoints.grpc import convert, watch
from omen.entrypoints.grpc.flow import Credits, StreamLimits
from omen.entrypoints.grpc.status import (
    invalid_argument,
    resource_exhausted,
    unimplemented_message,
)
from omen.errors import LedgerUnavailableError
from omen.observability import Metrics

if TYPE_CHECKING:
    from omen.bootstrap import App

log = logging.getLogger("omen.grpc")

_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$")
_SIGNAL_ID = re.compile(r"^sig-[0-9a-f]{32}$")
#: Most events one ProcessStream message may carry (service.proto, ProcessStreamRequest).
MAX_STREAM_MESSAGE_EVENTS = 10_000
#: Events of a message decided, appended and encoded together: a large message goes through in
#: parts, so that no signal object outlives its part (issue 6's notes: 1,000 events decided
#: before any was encoded cost ~50% more CPU per event than 100 at a time, memory reused cold).
_SUBMIT_CHUNK = 128
_Decoded = tuple[str, RawEvent | None, list[FieldViolation]]  # correlation id, event, violations
_ANSWERED: list[_Decoded] = [("", None, [])] * _SUBMIT_CHUNK
# What RESOURCE_EXHAUSTED's RetryInfo suggests to a stream refused for max_streams.
_STREAM_RETRY_S = 1.0


class _ShuttingDown:
    """The reader stopped because the server is shutting down (after what it had read)."""


_SHUTTING_DOWN = _ShuttingDown()


class _Malformed:
    """A request message that is not a ProcessStreamRequest at all (its framing is broken)."""

    __slots__ = ("reason",)

    def __init__(self, reason: str):
        self.reason = reason


# A message taken off the stream: its serialised response, the batch to await, the events it
# holds in flight, the count of its results per outcome number; None: the client finished;
# _SHUTTING_DOWN; _Malformed; an exception: the call fails with it (after the others).
_StreamItem = (
    tuple[bytes, SubmittedBatch | None, int, collections.Counter[int]]
    | Exception
    | _Malformed
    | _ShuttingDown
    | None
)
_decode_stream_request = native.eventwire.decode_stream_request
_request_view = native.eventwire.request_view
_BASIC = service_pb2.RESULT_VIEW_BASIC
_encode_stream_results = native.signalwire.encode_stream_results
_encode_results = native.signalwire.encode_results
_WATCH = "this servicer has no ledger tail (only `omen serve` wires one); use ListSignals"
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


def _invalid_reason(violations: list[FieldViolation]) -> str:
    first = violations[0]
    more = f" (and {len(violations) - 1} more)" if len(violations) > 1 else ""
    return f"invalid event: {first.field} {first.description}{more}"


def _invalid_result(correlation_id: str, violations: list[FieldViolation], reason: str) -> bytes:
    out = service_pb2.StreamResult()
    convert.fill_invalid_stream_result(out, correlation_id, violations, reason)
    return bytes(out.SerializeToString(deterministic=True))


def signal_servicer(
    app: App, streams: StreamLimits | None = None, tail: LedgerTail | None = None
) -> SignalServicer:
    """`app`'s SignalService as `omen serve` runs it (benchmarks and tests build it in process
    the same way): its settings' event size limit and process delay, its encoded-signal memo."""
    settings = app.settings
    return SignalServicer(
        app.process,
        app.repository,
        app.metrics,
        settings.max_event_bytes,
        process_delay_s=settings.process_delay_ms / 1000,
        stream_limits=streams,
        signal_wire=app.signal_wire,
        tail=tail,
    )


class SignalServicer(service_pb2_grpc.SignalServiceServicer):
    def __init__(
        self,
        process: ProcessEvents,
        repository: SignalRepository,
        metrics: Metrics,
        max_event_bytes: int,
        clock_ns: Callable[[], int] = time.time_ns,
        process_delay_s: float = 0.0,
        stream_limits: StreamLimits | None = None,
        signal_wire: SignalWireMemo | None = None,
        tail: LedgerTail | None = None,
    ):
        self._tail = tail
        self._process = process
        self._repository = repository
        self._metrics = metrics
        self._max_event_bytes = max_event_bytes
        self._clock_ns = clock_ns
        self._delay = process_delay_s
        self._outcome_counters = {o: metrics.events.labels(o.name.lower()) for o in Outcome}
        self._outcome_counters_by_number = {o.value: c for o, c in self._outcome_counters.items()}
        self._streams = stream_limits or StreamLimits(10_000, 100_000, 1_000, metrics)
        # The encodings the ledger store made of a message's signals (made again if absent).
        self._signal_wire = signal_wire if signal_wire is not None else SignalWireMemo(0)

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
        if not violations:
            refused = self._process.refusal(event)
            violations = [refused] if refused is not None else []
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
        request_iterator: AsyncIterator[bytes],
        context: grpc.aio.ServicerContext,
    ) -> AsyncIterator[bytes]:
        """One response per request, in order, each sent once its records are durable.

        Requests and responses are serialised ProcessStreamRequest / ProcessStreamResponse bytes
        (the method is registered without (de)serialisers, see `add_signal_service`): the
        compiled decoder reads events straight from the wire, so one malformed event fails
        only itself, and an emitted signal's response carries the bytes its ledger record holds.

        A reader task admits (flow control), decides and appends message N+1 while this
        generator waits for message N's commit and sends it. Events submitted are in the
        ledger's queue, so a client that cancels loses nothing acknowledged: cancelling this
        handler cancels waits and reads, never ledger work.
        """
        limits = self._streams
        credits = limits.open_stream()
        if credits is None:
            await context.abort_with_status(
                resource_exhausted(
                    f"{limits.open} ProcessStreams are open, the most this server allows "
                    f"(max_streams); retry after {_STREAM_RETRY_S:g}s",
                    _STREAM_RETRY_S,
                )
            )
            return  # pragma: no cover - abort raises
        # Bounded by the credits: each message in it holds at least one of the stream's
        # max_stream_events, so it never holds more messages than that.
        queue: asyncio.Queue[_StreamItem] = asyncio.Queue()
        reader = asyncio.create_task(
            self._read_stream(request_iterator, trace_id_from(context), credits, queue)
        )
        held = 0
        try:
            while True:
                item = await queue.get()
                if item is None:  # the client finished sending
                    return
                if isinstance(item, _ShuttingDown):  # every message read before it is answered
                    await context.abort(
                        grpc.StatusCode.UNAVAILABLE,
                        "the server is shutting down: every message answered so far is "
                        "durable; resend the rest to another instance or after the restart",
                    )
                    return
                if isinstance(item, _Malformed):  # every message read before it is answered
                    await context.abort(grpc.StatusCode.INVALID_ARGUMENT, item.reason)
                    return
                if isinstance(item, LedgerUnavailableError):
                    await context.abort(grpc.StatusCode.UNAVAILABLE, str(item))
                if isinstance(item, BaseException):
                    raise item
                response, batch, held, outcomes = item
                if batch is not None:
                    try:
                        await batch.durable()
                    except LedgerUnavailableError as exc:
                        await context.abort(grpc.StatusCode.UNAVAILABLE, str(exc))
                yield response
                counters = self._outcome_counters_by_number
                for outcome, count in outcomes.items():
                    counters[outcome].inc(count)
                limits.release(credits, held)
                held = 0
        finally:
            # Also on cancellation: give back what this stream holds, so no counter leaks.
            reader.cancel()
            if held:
                limits.release(credits, held)
            while not queue.empty():
                left = queue.get_nowait()
                if isinstance(left, tuple):
                    limits.release(credits, left[2])
            limits.close_stream()

    async def _read_stream(
        self,
        requests: AsyncIterator[bytes],
        trace_id: str,
        credits: Credits,
        queue: asyncio.Queue[_StreamItem],
    ) -> None:
        """Admit, decide and append each message in order; never raises but CancelledError
        (the error, if any, goes to the queue after the messages before it).

        The next message's read starts once a message is admitted, before its decision: the
        receive then completes while the decision holds the loop, instead of taking a turn of
        the loop after it. As before, at most one message is read and not yet admitted: when
        the stream is full, admit() waits before that read starts, and the server stops
        reading."""
        limits = self._streams
        stopping = asyncio.ensure_future(limits.stopping.wait())
        iterator = aiter(requests)
        number = 0
        following: asyncio.Future[bytes] | None = None
        try:
            while True:
                # Read the next message (unless already reading it), unless the server starts
                # shutting down first.
                if following is None:
                    following = asyncio.ensure_future(anext(iterator))
                await asyncio.wait((following, stopping), return_when=asyncio.FIRST_COMPLETED)
                if not following.done():
                    following.cancel()
                    queue.put_nowait(_SHUTTING_DOWN)
                    return
                try:
                    request = following.result()
                except StopAsyncIteration:
                    break
                following = None
                received_at = self._clock_ns()
                try:
                    decoded = _decode_stream_request(request, received_at, self._max_event_bytes)
                    full = _request_view(request) != _BASIC
                except ValueError as exc:
                    queue.put_nowait(
                        _Malformed(
                            f"message {number} of this stream is not a valid "
                            f"ProcessStreamRequest ({exc}); no event of it was processed, "
                            "every message before it was answered"
                        )
                    )
                    return
                number += 1
                units = max(1, len(decoded))  # an empty message still takes a slot
                await limits.admit(credits, units)  # full: stop reading (HTTP/2 pushes back)
                following = asyncio.ensure_future(anext(iterator))
                try:
                    await asyncio.sleep(0)  # the read's task issues the receive
                    response, batch, outcomes = self._submit_message(decoded, trace_id, full)
                except BaseException:
                    limits.release(credits, units)
                    raise
                queue.put_nowait((response, batch, units, outcomes))
            queue.put_nowait(None)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # handed to the handler, which fails the call with it
            queue.put_nowait(exc)
        finally:
            stopping.cancel()
            if following is not None:  # a read started that no message will follow
                following.cancel()

    def _submit_message(
        self,
        decoded: list[_Decoded],
        trace_id: str,
        full: bool = True,
    ) -> tuple[bytes, SubmittedBatch | None, collections.Counter[int]]:
        """Run a decoded message's valid events through submit_many and serialise the
        response (sent once the batch is durable). A malformed event fails only itself.
        Consumes `decoded`: the entries of each part are replaced once it is answered.
        `full`: EMITTED results carry the signal (RESULT_VIEW_FULL), else only its id and
        position (RESULT_VIEW_BASIC)."""
        count = len(decoded)
        outcomes: collections.Counter[int] = collections.Counter()
        if count > MAX_STREAM_MESSAGE_EVENTS:
            violation = [
                FieldViolation(
                    "events",
                    f"must hold at most {MAX_STREAM_MESSAGE_EVENTS:,} events, got {count:,}",
                )
            ]
            reason = "message too large: no event of it was processed; resend it split"
            outcomes[Outcome.INVALID] = count
            return (
                _encode_results([_invalid_result(cid, violation, reason) for cid, _, _ in decoded]),
                None,
                outcomes,
            )
        parts: list[bytes] = []
        batch: SubmittedBatch | None = None
        for begin in range(0, count, _SUBMIT_CHUNK):
            end = min(count, begin + _SUBMIT_CHUNK)
            encoded, part = self._submit_part(decoded, begin, end, trace_id, full, outcomes)
            # A response is its results one after the other: each part encodes its own.
            parts.append(encoded)
            decoded[begin:end] = _ANSWERED[: end - begin]  # let go of the part's events
            if batch is None:
                batch = part
            else:
                batch.absorb(part)
        return (parts[0] if len(parts) == 1 else b"".join(parts)), batch, outcomes

    def _submit_part(
        self,
        decoded: list[_Decoded],
        begin: int,
        end: int,
        trace_id: str,
        full: bool,
        outcomes: collections.Counter[int],
    ) -> tuple[bytes, SubmittedBatch]:
        """decoded[begin:end] through submit_many: their results, encoded (a response's results
        field), and the batch to wait for."""
        events: list[RawEvent] = []
        cids: list[str] = []
        invalid: dict[int, list[FieldViolation]] = {}
        refusal = self._process.refusal
        # The ledger refuses events by UTC date: one look per date a message's events fall on.
        open_day = -1
        for i in range(begin, end):
            cid, event, violations = decoded[i]
            cids.append(cid)
            if not violations:
                assert event is not None
                day = event.observed_at_ns // NS_PER_DAY
                if day == open_day:
                    events.append(event)
                    continue
                refused = refusal(event, f"events[{i}].event")
                if refused is None:
                    open_day = day
                    events.append(event)
                    continue
                violations = [refused]
            invalid[i] = violations
        # A DUPLICATE's stream result names the original; it never carries it. An EMITTED one
        # needs the signal's id, position and encoding only: the signals stay records.
        batch = self._process.submit_many(events, trace_id, originals=False, encoded=True)
        items: list[ProcessResult] | list[ProcessResult | bytes] = batch.results
        if invalid:  # each invalid event's result where the event was
            results = iter(batch.results)
            items = [
                _invalid_result(cids[i - begin], bad, _invalid_reason(bad))
                if (bad := invalid.get(i)) is not None
                else next(results)
                for i in range(begin, end)
            ]
            outcomes[Outcome.INVALID] += len(invalid)
        wire = self._signal_wire
        left_out: list[str] = []  # RESULT_VIEW_BASIC: the signals the responses leave out
        if full:
            encoded = _encode_stream_results(
                cids, items, wire.take, left_out, outcomes, wire.records
            )
        else:
            encoded = _encode_stream_results(cids, items, None, left_out, outcomes)
        if left_out:
            wire.discard_many(left_out)
        batch.drop_results()
        return encoded, batch

    async def _abort_read(self, context: grpc.aio.ServicerContext, exc: LedgerError) -> None:
        """A signal the index names could not be read back from the ledger: UNAVAILABLE when
        the ledger has failed closed (a record it accepted was never written), else
        FAILED_PRECONDITION (e.g. an archived partition whose copy moved away)."""
        failed = self._process.failed
        if failed is not None:
            await context.abort(grpc.StatusCode.UNAVAILABLE, str(failed))
        await context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(exc))

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
        try:
            signal = self._repository.get(request.signal_id)
        except LedgerError as exc:
            await self._abort_read(context, exc)
            raise AssertionError("unreachable: abort raises") from None
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
        try:
            page = self._repository.page(offset, page_size, categories, request.min_confidence)
        except LedgerError as exc:
            await self._abort_read(context, exc)
            raise AssertionError("unreachable: abort raises") from None
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
        """Cursor and filter semantics: omen.entrypoints.grpc.watch. The stream ends with OK
        when the server shuts down (the tail is closed before the grace period starts)."""
        if self._tail is None:
            await context.abort(
                grpc.StatusCode.UNIMPLEMENTED, unimplemented_message("WatchSignals", _WATCH)
            )
            raise AssertionError("unreachable: abort raises")
        tail = self._tail
        parsed, violations = watch.parse(request)
        if violations:
            await context.abort_with_status(invalid_argument(violations))
        try:
            if parsed.after is not None:
                start = await asyncio.to_thread(watch.resolve_after, tail.ledger, parsed.after)
            elif parsed.since_ns is not None:
                start = await asyncio.to_thread(watch.start_since, tail.ledger, parsed.since_ns)
            else:
                start = tail.ledger.acked_lsn
        except watch.PositionNotFoundError as exc:
            await context.abort(grpc.StatusCode.NOT_FOUND, str(exc))
            raise AssertionError("unreachable: abort raises") from None
        except LedgerError as exc:  # e.g. an archived partition whose copy moved away
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(exc))
            raise AssertionError("unreachable: abort raises") from None
        # Initial metadata now, not with the first signal: once a client has it, every signal
        # acknowledged from then on is in its stream (a live watch has started).
        await context.send_initial_metadata(())
        # One message at a time: each yield waits for gRPC to take the message, and gRPC's flow
        # control stops taking when the client stops reading, so nothing piles up here.
        try:
            # aclosing: when gRPC drops this stream, the follower leaves the tail at once.
            async with contextlib.aclosing(tail.select(start, watch.picker(parsed))) as messages:
                async for message in messages:
                    yield message
        except LedgerError as exc:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(exc))

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


class OutboxServicer(service_pb2_grpc.OutboxServiceServicer):
    def __init__(self, outbox: Outbox | None):
        self._outbox = outbox

    async def ListPublishers(
        self, request: service_pb2.ListPublishersRequest, context: grpc.aio.ServicerContext
    ) -> service_pb2.ListPublishersResponse:
        # Counting the lag may read the ledger's newest records: off the event loop.
        statuses = await asyncio.to_thread(self._outbox.statuses) if self._outbox else []
        return service_pb2.ListPublishersResponse(
            publishers=[publisher_status(s) for s in statuses]
        )


def publisher_status(status: PublisherStatus) -> service_pb2.PublisherStatus:
    return service_pb2.PublisherStatus(
        name=status.name,
        kind=status.kind,
        breaker_state=f"BREAKER_STATE_{status.breaker_state.name}",
        cursor_lsn=status.cursor_lsn,
        lag_records=status.lag_records,
        lag_seconds=status.lag_seconds,
        delivered=status.delivered,
        retries=status.retries,
        dead_lettered=status.dead_lettered,
        last_error=status.last_error,
    )

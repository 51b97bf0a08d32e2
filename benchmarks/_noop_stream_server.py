"""A no-op grpc.aio SignalService.ProcessStream: the transport floor for bench_stream.py.

It answers every ProcessStreamRequest with one ProcessStreamResponse holding, per event, a copy
of one canned StreamResult with the event's correlation_id: what every streaming servicer pays
(HTTP/2, parsing the request, building and serialising the response, the event loop) and nothing
OMEN adds (no interceptor, no API key, no validation, no pipeline, no ledger, no flow control).
The canned result is a real OMEN EMITTED result, without its signal for a RESULT_VIEW_BASIC
message, so both servers send the same bytes per event.

Usage: python benchmarks/_noop_stream_server.py CANNED_STREAM_RESULT_FILE
Listens on 127.0.0.1 on a free port, logs "listening on 127.0.0.1:PORT" to stderr once it
accepts calls, and stops on SIGTERM or SIGINT.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
from _common import MAX_MESSAGE_OPTIONS, serve_noop  # first: puts the checkout on sys.path

from omen._proto import service_pb2, service_pb2_grpc
from omen.bootstrap import tune_switch_interval
from omen.config import Settings


class CannedStreamService(service_pb2_grpc.SignalServiceServicer):
    def __init__(self, result: service_pb2.StreamResult):
        self._result = result
        # What a RESULT_VIEW_BASIC message is answered with, as OMEN does: no signal.
        self._basic = service_pb2.StreamResult()
        self._basic.CopyFrom(result)
        self._basic.ClearField("signal")

    async def ProcessStream(
        self,
        request_iterator: AsyncIterator[service_pb2.ProcessStreamRequest],
        context: grpc.aio.ServicerContext,
    ) -> AsyncIterator[service_pb2.ProcessStreamResponse]:
        async for request in request_iterator:
            basic = request.view == service_pb2.RESULT_VIEW_BASIC
            canned = self._basic if basic else self._result
            response = service_pb2.ProcessStreamResponse()
            results = response.results
            for event in request.events:
                result = results.add()
                result.CopyFrom(canned)
                result.correlation_id = event.correlation_id
            yield response


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    result = service_pb2.StreamResult.FromString(Path(argv[0]).read_bytes())
    # The same runtime as `omen serve` (its GIL hand-over interval), so the ratio compares
    # like with like.
    tune_switch_interval(Settings().gil_switch_interval_ms)
    return serve_noop(
        "no-op stream server",
        CannedStreamService(result),
        f"canned result {result.ByteSize()} bytes",
        MAX_MESSAGE_OPTIONS,
    )


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

"""A no-op grpc.aio SignalService.ProcessStream: the transport floor for bench_stream.py.

It answers every ProcessStreamRequest with one ProcessStreamResponse holding, per event, a copy
of one canned StreamResult with the event's correlation_id: what every streaming servicer pays
(HTTP/2, parsing the request, building and serialising the response, the event loop) and nothing
OMEN adds (no interceptor, no API key, no validation, no pipeline, no ledger, no flow control).
The canned result is a real OMEN EMITTED result, so both servers send the same bytes per event.

Usage: python benchmarks/_noop_stream_server.py CANNED_STREAM_RESULT_FILE
Listens on 127.0.0.1 on a free port, logs "listening on 127.0.0.1:PORT" to stderr once it
accepts calls, and stops on SIGTERM or SIGINT.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import grpc

from omen._proto import service_pb2, service_pb2_grpc

MAX_MESSAGE_BYTES = 64 * 1024 * 1024


class CannedStreamService(service_pb2_grpc.SignalServiceServicer):
    def __init__(self, result: service_pb2.StreamResult):
        self._result = result

    async def ProcessStream(
        self,
        request_iterator: AsyncIterator[service_pb2.ProcessStreamRequest],
        context: grpc.aio.ServicerContext,
    ) -> AsyncIterator[service_pb2.ProcessStreamResponse]:
        canned = self._result
        async for request in request_iterator:
            response = service_pb2.ProcessStreamResponse()
            results = response.results
            for event in request.events:
                result = results.add()
                result.CopyFrom(canned)
                result.correlation_id = event.correlation_id
            yield response


async def serve(canned: Path) -> int:
    result = service_pb2.StreamResult.FromString(canned.read_bytes())
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ]
    )
    service_pb2_grpc.add_SignalServiceServicer_to_server(CannedStreamService(result), server)
    port = server.add_insecure_port("127.0.0.1:0")
    if port == 0:
        print("no-op stream server: cannot listen on 127.0.0.1", file=sys.stderr, flush=True)
        return 1
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    # Logged only after start(): the benchmark treats this line as "ready".
    print(
        f"listening on 127.0.0.1:{port} (canned result {result.ByteSize()} bytes)",
        file=sys.stderr,
        flush=True,
    )
    await stop.wait()
    await server.stop(1.0)
    return 0


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    return asyncio.run(serve(Path(argv[0])))


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

"""A no-op grpc.aio SignalService.Process that answers a canned response: the transport floor.

bench_unary.py compares OMEN against this server. It has what every grpc.aio servicer pays
(HTTP/2, request parsing, response serialisation, the event loop) and nothing OMEN adds: no
interceptors, no API-key check, no metrics, no pipeline. The canned ProcessResponse is a real
OMEN EMITTED response, so both servers put the same number of bytes on the wire.

Usage: python benchmarks/_noop_server.py CANNED_RESPONSE_FILE
Listens on 127.0.0.1 on a free port, logs "listening on 127.0.0.1:PORT" to stderr once it
accepts calls, and stops on SIGTERM or SIGINT.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import grpc

from omen._proto import service_pb2, service_pb2_grpc


class CannedSignalService(service_pb2_grpc.SignalServiceServicer):
    def __init__(self, response: service_pb2.ProcessResponse):
        self._response = response

    async def Process(
        self, request: service_pb2.ProcessRequest, context: grpc.aio.ServicerContext
    ) -> service_pb2.ProcessResponse:
        # The same message object every call: gRPC still serialises it per call, as it does
        # OMEN's freshly built response, so only OMEN's own work differs between the two.
        return self._response


async def serve(canned: Path) -> int:
    response = service_pb2.ProcessResponse.FromString(canned.read_bytes())
    server = grpc.aio.server()
    service_pb2_grpc.add_SignalServiceServicer_to_server(CannedSignalService(response), server)
    port = server.add_insecure_port("127.0.0.1:0")
    if port == 0:
        print("no-op server: cannot listen on 127.0.0.1", file=sys.stderr, flush=True)
        return 1
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    # Logged only after start(): the benchmark treats this line as "ready".
    print(
        f"listening on 127.0.0.1:{port} (canned response {response.ByteSize()} bytes)",
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

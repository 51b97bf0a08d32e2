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

import sys
from pathlib import Path

import grpc
from _common import serve_noop  # first: puts the checkout on sys.path

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


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    response = service_pb2.ProcessResponse.FromString(Path(argv[0]).read_bytes())
    return serve_noop(
        "no-op server",
        CannedSignalService(response),
        f"canned response {response.ByteSize()} bytes",
    )


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

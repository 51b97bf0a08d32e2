"""Flow control of ProcessStream: bounded events in flight per stream and per server, and a
bounded number of open streams.

An event is in flight from the moment its message is admitted (before the pipeline sees it)
until the response carrying its result has been handed to gRPC. A stream that cannot admit its
next message stops reading, so HTTP/2 flow control pushes back on the client instead of the
server buffering without bound.
"""

from __future__ import annotations

import asyncio
from collections import deque

from omen.observability import Metrics


class Credits:
    """A counting limit that admits `n` units at once, in arrival order (FIFO, so a large
    message is not starved by small ones). A request larger than the whole limit is admitted
    alone, when nothing else is held: refusing it would stall its stream for good."""

    __slots__ = ("_waiters", "limit", "used")

    def __init__(self, limit: int):
        self.limit = limit
        self.used = 0
        self._waiters: deque[tuple[int, asyncio.Future[None]]] = deque()

    def _fits(self, n: int) -> bool:
        return self.used == 0 or self.used + n <= self.limit

    async def acquire(self, n: int) -> None:
        if not self._waiters and self._fits(n):
            self.used += n
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((n, future))
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.release(n)  # granted just before the cancellation arrived
            else:
                self._waiters.remove((n, future))
                self._wake()  # the head of the line may have changed
            raise

    def release(self, n: int) -> None:
        self.used -= n
        self._wake()

    def _wake(self) -> None:
        waiters = self._waiters
        while waiters:
            n, future = waiters[0]
            if future.done():  # cancelled
                waiters.popleft()
                continue
            if not self._fits(n):
                return
            waiters.popleft()
            self.used += n
            future.set_result(None)


class StreamLimits:
    """The server-wide side: open streams and events in flight across every stream."""

    def __init__(
        self,
        max_stream_events: int,
        max_server_events: int,
        max_streams: int,
        metrics: Metrics | None = None,
    ):
        self.max_stream_events = max_stream_events
        self.max_streams = max_streams
        self.server = Credits(max_server_events)
        self.open = 0
        self._metrics = metrics
        # Set on shutdown: streams stop reading, answer what they took, and end (UNAVAILABLE)
        # instead of holding the server's stop for the whole grace period.
        self.stopping = asyncio.Event()

    def begin_shutdown(self) -> None:
        self.stopping.set()

    def _observe(self) -> None:
        if self._metrics is not None:
            self._metrics.streams_open.set(self.open)
            self._metrics.stream_events_in_flight.set(self.server.used)

    def open_stream(self) -> Credits | None:
        """The new stream's own credits, or None when max_streams are open already."""
        if self.open >= self.max_streams:
            return None
        self.open += 1
        self._observe()
        return Credits(self.max_stream_events)

    def close_stream(self) -> None:
        self.open -= 1
        self._observe()

    async def admit(self, stream: Credits, n: int) -> None:
        """Wait until `n` more events fit in the stream's and the server's limits."""
        await stream.acquire(n)
        try:
            await self.server.acquire(n)
        except BaseException:
            stream.release(n)
            raise
        self._observe()

    def release(self, stream: Credits, n: int) -> None:
        stream.release(n)
        self.server.release(n)
        self._observe()

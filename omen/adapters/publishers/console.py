"""The console publisher: one JSON line per signal on stdout (omen.adapters.outbox.envelope).

`omen serve` logs on stderr, so stdout carries only signals: `omen serve | jq .signal.title`.
A write error (a closed pipe) is retryable: nothing is skipped.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from typing import TextIO

from omen.adapters.outbox.envelope import delivery_json, dumps
from omen.application.ports import Delivery, DeliveryError, Publisher
from omen.config import PublisherSettings


class ConsolePublisher(Publisher):
    kind = "console"

    def __init__(self, settings: PublisherSettings, stream: TextIO | None = None):
        self.name = settings.name
        self._stream = stream

    async def publish(self, deliveries: Sequence[Delivery]) -> None:
        text = "".join(dumps(delivery_json(d)) + "\n" for d in deliveries)
        try:
            await asyncio.to_thread(self._write, text)
        except (OSError, ValueError) as exc:  # ValueError: the stream was closed
            raise DeliveryError(f"cannot write to stdout: {exc}", retryable=True) from exc

    def _write(self, text: str) -> None:
        stream = self._stream if self._stream is not None else sys.stdout
        stream.write(text)
        stream.flush()

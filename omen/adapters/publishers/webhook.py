"""The webhook publisher: one HTTP POST per signal, in ledger order, over one keep-alive client.

Request::

    POST <url>
    Content-Type: application/json
    Idempotency-Key: <signal_id>
    X-Omen-Timestamp: <unix seconds when the request was signed, an integer>
    X-Omen-Signature: <hex HMAC-SHA256>        (only when a secret is configured)

    {"lsn": 42, "partition": "2026-11-18", "sequence": 7, "signal": {...}}

The body is the envelope of omen.adapters.outbox.envelope (the omen.v1.OmenSignal in protobuf
JSON with the .proto field names, plus its LSN and ledger position). The signature is

    hex(HMAC-SHA256(key = secret as UTF-8, message = X-Omen-Timestamp + "." + raw body bytes))

A receiver recomputes it over the raw body it received, compares in constant time, and rejects
timestamps too far from its clock (replays). Delivery is at least once: dedupe by the
Idempotency-Key (the signal id).

Answers: 2xx delivered. 408, 429, 5xx, 3xx (a redirect is not followed), connection errors and
timeouts are retryable: the dispatcher backs off, at least as long as a Retry-After header
(seconds or an HTTP date) asks. Any other 4xx is final: the signal goes to the dead letters.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import hashlib
import hmac
import logging
import time
from collections.abc import Callable, Sequence

import httpx

from omen import __version__
from omen.adapters.outbox.envelope import delivery_body
from omen.application.ports import Delivery, DeliveryError, Publisher
from omen.config import PublisherSettings

_RETRYABLE = frozenset({408, 429})


def signature(secret: bytes, timestamp: str, body: bytes) -> str:
    """X-Omen-Signature for `body` sent at `timestamp` (the X-Omen-Timestamp value)."""
    return hmac.new(secret, timestamp.encode("ascii") + b"." + body, hashlib.sha256).hexdigest()


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds a Retry-After header asks for (delta-seconds or an HTTP date), None if absent
    or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if seconds == seconds else None  # NaN
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, when.timestamp() - now)


def _shown(url: str) -> str:
    """The URL for messages: no credentials, no query string."""
    parsed = httpx.URL(url)
    port = f":{parsed.port}" if parsed.port else ""
    return f"{parsed.scheme}://{parsed.host}{port}{parsed.path}"


class WebhookPublisher(Publisher):
    kind = "webhook"

    def __init__(
        self,
        settings: PublisherSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.time,
    ):
        if not settings.url:
            raise ValueError("a webhook publisher needs a url")
        self.name = settings.name
        self.url = settings.url
        self._shown = _shown(settings.url)
        self._secret = settings.secret.get_secret_value().encode() if settings.secret else None
        self._timeout = settings.timeout_s
        self._transport = transport
        self._clock = clock
        self._client: httpx.AsyncClient | None = None

    async def start(self) -> None:
        # httpx logs every request at INFO: one line per signal would drown the server's log.
        httpx_log = logging.getLogger("httpx")
        if httpx_log.getEffectiveLevel() < logging.WARNING:
            httpx_log.setLevel(logging.WARNING)
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=self._timeout,
                transport=self._transport,
                follow_redirects=False,
                headers={"User-Agent": f"omen/{__version__}"},
            )

    def headers(self, signal_id: str, body: bytes) -> dict[str, str]:
        timestamp = str(int(self._clock()))
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": signal_id,
            "X-Omen-Timestamp": timestamp,
        }
        if self._secret is not None:
            headers["X-Omen-Signature"] = signature(self._secret, timestamp, body)
        return headers

    async def publish(self, deliveries: Sequence[Delivery]) -> None:
        if self._client is None:
            await self.start()
        client = self._client
        assert client is not None
        for index, delivery in enumerate(deliveries):
            body = delivery_body(delivery)
            try:
                response = await client.post(
                    self.url, content=body, headers=self.headers(delivery.signal.signal_id, body)
                )
            except httpx.TimeoutException:
                raise DeliveryError(
                    f"no answer from {self._shown} within {self._timeout:g}s",
                    retryable=True,
                    delivered=index,
                ) from None
            except httpx.HTTPError as exc:  # connection refused, reset, protocol errors
                raise DeliveryError(
                    f"cannot reach {self._shown}: {exc or type(exc).__name__}",
                    retryable=True,
                    delivered=index,
                ) from None
            status = response.status_code
            if 200 <= status < 300:
                continue
            detail = response.text.strip().replace("\n", " ")[:200]
            reason = f"HTTP {status} from {self._shown}" + (f": {detail}" if detail else "")
            if status in _RETRYABLE or status >= 500 or 300 <= status < 400:
                raise DeliveryError(
                    reason,
                    retryable=True,
                    delivered=index,
                    retry_after_s=parse_retry_after(
                        response.headers.get("retry-after"), self._clock()
                    ),
                )
            raise DeliveryError(reason, retryable=False, delivered=index)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

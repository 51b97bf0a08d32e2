"""Kafka publisher: each signal as one JSON record, keyed by its routing key, acks=all, idempotent.

Record layout (one record per signal, topic `settings.topic`):

- key: `signal.impact_hints.routing_key` (UTF-8), so every signal of one market goes to one
  partition and a consumer reads them in ledger order. A signal without a routing key (the
  pipeline always sets one; hand-built signals may not) is keyed by its `signal_id`: it lands on
  a deterministic partition, and a repeat of it on the same one, but it has no order relation to
  other signals.
- value: the same UTF-8 JSON object the webhook POSTs and the console prints
  (omen.adapters.outbox.envelope): `{"lsn": 42, "partition": "2026-11-18", "sequence": 7,
  "signal": {...}}`, the signal in protobuf's JSON mapping with the .proto field names.
- headers: `signal_id`, `lsn` (decimal), `ledger_partition`, `ledger_sequence` (decimal), so a
  consumer can dedupe and order without parsing the value.

Guarantees: `publish` returns only after the broker acknowledged every record with acks=all.
The producer is idempotent (`enable.idempotence`): librdkafka's own retries neither duplicate
nor reorder records within a partition. Across an OMEN crash or a failed `publish` the outbox
sends the unacknowledged records again, so delivery is at least once: consumers dedupe by
`signal_id`.

Failure mapping (DeliveryError.retryable): a record the broker can never accept is not
retryable and is dead-lettered by the dispatcher: too large (MSG_SIZE_TOO_LARGE,
INVALID_MSG_SIZE, RECORD_LIST_TOO_LARGE), malformed (INVALID_MSG, INVALID_RECORD,
INVALID_TIMESTAMP, UNSUPPORTED_FOR_MESSAGE_FORMAT, _INVALID_ARG), refused by policy
(POLICY_VIOLATION), an invalid topic name (TOPIC_EXCEPTION) or no authorization
(TOPIC_AUTHORIZATION_FAILED, CLUSTER_AUTHORIZATION_FAILED; the same as a webhook's 403).
Everything else is retryable: the broker down or unreachable (_TRANSPORT, _ALL_BROKERS_DOWN,
_RESOLVE), local timeouts (_MSG_TIMED_OUT after `timeout_s`), NOT_ENOUGH_REPLICAS*,
LEADER_NOT_AVAILABLE, NOT_LEADER_FOR_PARTITION, REQUEST_TIMED_OUT, a missing topic
(UNKNOWN_TOPIC_OR_PART, _UNKNOWN_TOPIC), and codes this module does not know: stalling behind
the circuit breaker is safer than dead-lettering a whole backlog.

After a retryable failure the next publish uses a fresh producer (a new producer id): after a
fatal error, or the broker no longer knowing the producer's idempotence state
(UNKNOWN_PRODUCER_ID, PRODUCER_FENCED, OUT_OF_ORDER_SEQUENCE_NUMBER, ...: a broker restarted
without its data, or one unreachable while librdkafka bumped the epoch), the old one cannot
deliver any more, and the failed publish is resent from its first undelivered signal anyway.
Records of the failed attempt still in flight may land as well, before the retry's copies
(and after a crash, records the killed server had in flight may land before the restarted
one resends them): duplicates a consumer may meet ahead of an earlier signal. The last copy
of each signal is in ledger order per key; dedupe by `signal_id`.

`timeout_s` (the publisher's setting, 10 s by default) is librdkafka's `message.timeout.ms`:
how long one `publish` may wait for the broker before it fails retryably and the dispatcher
backs off.

TLS and SASL (`security_protocol`, `ssl_*`, `sasl_*`; see `security_config`) map one to one to
librdkafka properties. The certificate and key files are loaded once when the publisher is
built, so a missing, unreadable or malformed one stops the start-up (StartupError naming the
file) instead of failing every delivery. A failed TLS handshake (_SSL) or authentication
(_AUTHENTICATION, SASL_AUTHENTICATION_FAILED, UNSUPPORTED_SASL_MECHANISM, ILLEGAL_SASL_STATE)
is reported by librdkafka on the connection, not on a record: the records then time out
(_MSG_TIMED_OUT). Such a failure stays retryable (a rotated certificate or password, or a
broker being reconfigured, can fix it; dead-lettering would move the whole backlog aside one
timeout at a time), but it is never silent: it is logged as an ERROR naming the settings to
check, and the DeliveryError reason (hence the circuit breaker's log line and
ListPublishers.last_error) names it after the timeout. Secrets never appear in either.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import ssl
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from omen.adapters.outbox.envelope import delivery_body
from omen.application.ports import Delivery, DeliveryError, Publisher
from omen.config import PublisherSettings
from omen.errors import StartupError

log = logging.getLogger("omen.publishers.kafka")

Headers = list[tuple[str, str | bytes | None]]

#: Error codes for which retrying the same record cannot succeed (see the module docstring).
NOT_RETRYABLE = frozenset(
    {
        KafkaError.MSG_SIZE_TOO_LARGE,
        KafkaError.INVALID_MSG_SIZE,
        KafkaError.RECORD_LIST_TOO_LARGE,
        KafkaError.INVALID_MSG,
        KafkaError.INVALID_RECORD,
        KafkaError.INVALID_TIMESTAMP,
        KafkaError.UNSUPPORTED_FOR_MESSAGE_FORMAT,
        KafkaError._INVALID_ARG,
        KafkaError.POLICY_VIOLATION,
        KafkaError.TOPIC_EXCEPTION,
        KafkaError.TOPIC_AUTHORIZATION_FAILED,
        KafkaError.CLUSTER_AUTHORIZATION_FAILED,
    }
)

#: Errors saying this producer's idempotence state (producer id, epoch, sequences) is unusable,
#: e.g. after a broker lost it in a restart (logged as a warning; every retryable failure
#: starts the retry from a fresh producer anyway).
RESET_PRODUCER = frozenset(
    {
        KafkaError.UNKNOWN_PRODUCER_ID,
        KafkaError.INVALID_PRODUCER_EPOCH,
        KafkaError.INVALID_PRODUCER_ID_MAPPING,
        KafkaError.OUT_OF_ORDER_SEQUENCE_NUMBER,
        KafkaError.PRODUCER_FENCED,
        KafkaError._FENCED,
        KafkaError._FATAL,
    }
)

#: Connection-level failures that point at the configuration (TLS or SASL), with what to check.
#: Retryable (see the module docstring), logged as errors, and named in the timeout's reason.
SECURITY_ERRORS: dict[int, str] = {
    KafkaError._SSL: "TLS handshake failed: check ssl_ca_location (the CA that signed the "
    "broker's certificate), the broker's host name and, if used, the client certificate",
    KafkaError._AUTHENTICATION: "authentication failed: check security_protocol, "
    "sasl_mechanism, sasl_username and sasl_password",
    KafkaError.SASL_AUTHENTICATION_FAILED: "authentication failed: check sasl_mechanism, "
    "sasl_username and sasl_password",
    KafkaError.UNSUPPORTED_SASL_MECHANISM: "the broker does not offer this sasl_mechanism",
    KafkaError.ILLEGAL_SASL_STATE: "SASL handshake out of order: check security_protocol "
    "(sasl_plaintext or sasl_ssl) against the broker's listener",
}


def security_hint(error: KafkaError) -> str | None:
    """What to check for a connection failure caused by the TLS or SASL configuration, or None.
    librdkafka reports a failed certificate check as _SSL on some attempts and as _TRANSPORT
    (with OpenSSL's text) on others, so a transport error that OpenSSL raised counts as _SSL."""
    hint = SECURITY_ERRORS.get(error.code())
    if hint is None and error.code() == KafkaError._TRANSPORT and "SSL routines" in error.str():
        hint = SECURITY_ERRORS[KafkaError._SSL]
    return hint


#: Codes that say nothing about the cause: a timeout's reason names the error before them.
_UNINFORMATIVE = frozenset({KafkaError._ALL_BROKERS_DOWN, KafkaError._MSG_TIMED_OUT})

#: Extra time past message.timeout.ms that `publish` waits for delivery reports before it gives
#: up on them (librdkafka reports every message within its timeout; this is a safety net).
_REPORT_GRACE_S = 5.0
_POLL_S = 0.05


def is_retryable(error: KafkaError) -> bool:
    return error.code() not in NOT_RETRYABLE


def security_config(settings: PublisherSettings) -> dict[str, str]:
    """The librdkafka properties for the publisher's TLS and SASL settings (secrets included:
    never log the result)."""
    config: dict[str, str] = {"security.protocol": settings.security_protocol}
    paths = {
        "ssl.ca.location": settings.ssl_ca_location,
        "ssl.certificate.location": settings.ssl_certificate_location,
        "ssl.key.location": settings.ssl_key_location,
    }
    config.update({key: str(path) for key, path in paths.items() if path is not None})
    if settings.ssl_key_password is not None:
        config["ssl.key.password"] = settings.ssl_key_password.get_secret_value()
    if settings.sasl_mechanism is not None:
        config["sasl.mechanisms"] = settings.sasl_mechanism
    if settings.sasl_username is not None:
        config["sasl.username"] = settings.sasl_username
    if settings.sasl_password is not None:
        config["sasl.password"] = settings.sasl_password.get_secret_value()
    return config


def _no_password() -> bytes:
    return b""


def check_tls_files(settings: PublisherSettings) -> None:
    """Load the CA, client certificate and key the way librdkafka will (OpenSSL, PEM), so that
    a missing, unreadable or malformed file stops the start-up. StartupError names the
    publisher, the setting and the file (never the key's passphrase)."""
    who = f"kafka publisher {settings.name}"
    for setting in ("ssl_ca_location", "ssl_certificate_location", "ssl_key_location"):
        path: Path | None = getattr(settings, setting)
        if path is None:
            continue
        if setting == "ssl_ca_location" and path.is_dir():
            if not os.access(path, os.R_OK | os.X_OK):
                raise StartupError(f"{who}: {setting} {path}: directory not readable")
            continue
        try:
            with path.open("rb") as fh:
                fh.read(1)
        except OSError as exc:
            raise StartupError(f"{who}: {setting} {path}: {exc.strerror or exc}") from None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ca = settings.ssl_ca_location
    if ca is not None and not ca.is_dir():
        try:
            context.load_verify_locations(cafile=ca)
        except ssl.SSLError as exc:
            raise StartupError(
                f"{who}: ssl_ca_location {ca}: no usable PEM certificate ({exc.reason or exc})"
            ) from None
    cert, key = settings.ssl_certificate_location, settings.ssl_key_location
    if cert is not None and key is not None:
        password = settings.ssl_key_password
        try:
            # Never None: OpenSSL would prompt on the terminal for an encrypted key's passphrase.
            context.load_cert_chain(
                cert, key, password.get_secret_value() if password is not None else _no_password
            )
        except ssl.SSLError as exc:
            raise StartupError(
                f"{who}: ssl_certificate_location {cert} / ssl_key_location {key}: not a "
                f"usable PEM certificate and matching key, or a wrong ssl_key_password "
                f"({exc.reason or exc})"
            ) from None


def encode(delivery: Delivery) -> tuple[bytes, bytes, Headers]:
    """(key, value, headers) of the record for one delivery."""
    signal = delivery.signal
    value = delivery_body(delivery)
    key = (signal.impact_hints.routing_key or signal.signal_id).encode()
    headers: Headers = [
        ("signal_id", signal.signal_id.encode()),
        ("lsn", str(delivery.lsn).encode()),
        ("ledger_partition", delivery.partition.encode()),
        ("ledger_sequence", str(delivery.sequence).encode()),
    ]
    return key, value, headers


class _Batch:
    """Delivery reports of one publish call: the error (or None) per record, by index."""

    __slots__ = ("errors", "pending", "reported")

    def __init__(self, size: int):
        self.errors: list[KafkaError | None] = [None] * size
        self.reported = [False] * size
        self.pending = 0

    def callback(self, index: int) -> Callable[[KafkaError | None, Message], None]:
        def on_delivery(error: KafkaError | None, _message: Message) -> None:
            self.errors[index] = error
            self.reported[index] = True
            self.pending -= 1

        return on_delivery


class KafkaPublisher(Publisher):
    """Produces signals to one Kafka topic; see the module docstring for the record layout."""

    kind = "kafka"

    def __init__(
        self,
        settings: PublisherSettings,
        *,
        config: Mapping[str, Any] | None = None,
        close_timeout_s: float = 10.0,
    ):
        """`config` adds or overrides librdkafka properties (tests shorten timeouts with it)."""
        if not settings.bootstrap_servers or not settings.topic:
            raise ValueError("a kafka publisher needs bootstrap_servers and topic")
        check_tls_files(settings)
        self.name = settings.name
        self.topic = settings.topic
        self._close_timeout_s = close_timeout_s
        # librdkafka wants message.timeout.ms above linger.ms.
        timeout_ms = max(100, round(settings.timeout_s * 1000))
        self._config: dict[str, Any] = {
            "bootstrap.servers": settings.bootstrap_servers,
            "client.id": f"omen-{settings.name}",
            "enable.idempotence": True,
            "acks": "all",
            # One publish hands librdkafka a whole batch at once: a short linger fills
            # produce requests without delaying a lone signal noticeably.
            "linger.ms": 5,
            "batch.num.messages": 10_000,
            "message.timeout.ms": timeout_ms,
            # An in-flight request must not outlive the message timeout, or a hung broker
            # would hold publish past it.
            "request.timeout.ms": min(30_000, timeout_ms),
            "logger": log,
            **security_config(settings),
        }
        self._config.update(config or {})
        self._report_deadline_s = float(self._config["message.timeout.ms"]) / 1000 + _REPORT_GRACE_S
        self._producer: Producer | None = None
        self._fatal: KafkaError | None = None
        self._last_error: int | None = None
        self._cause: KafkaError | None = None
        self._closing = threading.Event()
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        # Creating the producer does not connect; librdkafka connects in its own threads.
        self._ensure_producer()

    async def publish(self, deliveries: Sequence[Delivery]) -> None:
        if not deliveries:
            return
        async with self._lock:
            if self._closing.is_set():
                raise DeliveryError("the kafka publisher is closed", retryable=True)
            # Encoding and librdkafka's polling both block: keep them off the event loop.
            failure = await asyncio.to_thread(self._deliver, list(deliveries))
        if failure is not None:
            raise failure

    async def close(self) -> None:
        self._closing.set()
        async with self._lock:
            producer, self._producer = self._producer, None
        if producer is None:
            return
        left = await asyncio.to_thread(producer.flush, self._close_timeout_s)
        if left:
            log.warning(
                "kafka publisher %s closed with %d records unconfirmed; the outbox sends them "
                "again",
                self.name,
                left,
            )

    # -- worker thread ---------------------------------------------------------------------

    def _ensure_producer(self) -> Producer:
        if self._producer is None:
            self._fatal = None
            self._last_error = None
            self._cause = None
            self._producer = Producer({**self._config, "error_cb": self._on_error})
        return self._producer

    def _on_error(self, error: KafkaError) -> None:
        code = error.code()
        if code not in _UNINFORMATIVE:
            self._cause = error
        if error.fatal():
            self._fatal = error
            log.error("kafka publisher %s: fatal producer error: %s", self.name, error)
        elif code != self._last_error:
            # librdkafka repeats these while a broker stays down (and logs each attempt).
            hint = security_hint(error)
            if hint is not None:
                log.error(
                    "kafka publisher %s: %s (%s: %s)", self.name, hint, error.name(), error.str()
                )
            else:
                log.warning("kafka publisher %s: %s", self.name, error.str())
        self._last_error = code

    def _why(self) -> str:
        """What the producer's connections last reported, for a timeout's reason."""
        cause = self._cause
        if cause is None:
            return ""
        hint = security_hint(cause)
        said = f"{cause.name()}: {cause.str()}"
        return f" (last broker error: {hint}: {said})" if hint else f" (last broker error: {said})"

    def _poll(self, producer: Producer, timeout: float, flush: bool = False) -> None:
        """Serve delivery reports; a fatal error surfaces here as an exception. `flush` also
        sends what lingers at once (the whole batch is produced: nothing more will join it)."""
        try:
            if flush:
                producer.flush(timeout)
            else:
                producer.poll(timeout)
        except KafkaException as exc:
            error = exc.args[0]
            if not (isinstance(error, KafkaError) and error.fatal()):
                raise
            self._fatal = error

    def _deliver(self, deliveries: list[Delivery]) -> DeliveryError | None:
        producer = self._ensure_producer()
        batch = _Batch(len(deliveries))
        refused: tuple[int, KafkaError] | None = None
        for index, delivery in enumerate(deliveries):
            key, value, headers = encode(delivery)
            try:
                self._produce(producer, key, value, headers, batch.callback(index))
            except KafkaException as exc:
                refused = (index, exc.args[0])
                break
            batch.pending += 1
        deadline = time.monotonic() + self._report_deadline_s
        while (
            batch.pending > 0
            and self._fatal is None
            and time.monotonic() < deadline
            and not self._closing.is_set()
        ):
            self._poll(producer, _POLL_S, flush=True)
        if batch.pending > 0:
            # Nothing queued may go out after this publish failed: the retry resends it, and an
            # old copy arriving later would only add a duplicate.
            producer.purge(in_queue=True, in_flight=False)
            self._poll(producer, 0)
        return self._outcome(deliveries, batch, refused)

    def _produce(
        self,
        producer: Producer,
        key: bytes,
        value: bytes,
        headers: Headers,
        on_delivery: Callable[[KafkaError | None, Message], None],
    ) -> None:
        while True:
            try:
                producer.produce(self.topic, value, key, headers=headers, on_delivery=on_delivery)
                return
            except BufferError:
                # librdkafka's local queue is full: serve delivery reports until there is room.
                self._poll(producer, _POLL_S)

    def _outcome(
        self,
        deliveries: list[Delivery],
        batch: _Batch,
        refused: tuple[int, KafkaError] | None,
    ) -> DeliveryError | None:
        produced = refused[0] if refused is not None else len(deliveries)
        failure: DeliveryError | None = None
        for index in range(produced):
            error = batch.errors[index]
            if not batch.reported[index]:
                if self._fatal is not None:
                    reason = f"fatal producer error: {self._fatal.str()}"
                elif self._closing.is_set():
                    reason = "the publisher is closing"
                else:
                    reason = f"no delivery report in time{self._why()}"
                failure = DeliveryError(
                    f"kafka: signal {deliveries[index].signal.signal_id} (lsn "
                    f"{deliveries[index].lsn}) not confirmed: {reason}",
                    retryable=True,
                    delivered=index,
                )
                break
            if error is not None:
                failure = self._error(deliveries, index, error)
                break
        if failure is None and refused is not None:
            failure = self._error(deliveries, *refused)
        lost = self._fatal is not None or any(
            e is not None and (e.fatal() or e.code() in RESET_PRODUCER) for e in batch.errors
        )
        if lost or (failure is not None and failure.retryable):
            # The retry starts from a fresh producer: one that hit a fatal error refuses
            # everything, and one whose requests timed out may hold idempotence state the
            # broker lost (tansu restarted on empty storage then never answers it).
            log.log(
                logging.WARNING if lost else logging.INFO,
                "kafka publisher %s: a new producer for the retry%s",
                self.name,
                " (idempotence state lost)" if lost else "",
            )
            stale, self._producer = self._producer, None
            if stale is not None:
                stale.purge()
                with contextlib.suppress(KafkaException):
                    stale.poll(0)
        return failure

    def _error(self, deliveries: list[Delivery], index: int, error: KafkaError) -> DeliveryError:
        delivery = deliveries[index]
        retryable = is_retryable(error) or error.fatal()
        why = self._why() if error.code() == KafkaError._MSG_TIMED_OUT else ""
        return DeliveryError(
            f"kafka topic {self.topic}: signal {delivery.signal.signal_id} (lsn {delivery.lsn}) "
            f"refused: {error.name()}: {error.str()}{why}",
            retryable=retryable,
            delivered=index,
        )

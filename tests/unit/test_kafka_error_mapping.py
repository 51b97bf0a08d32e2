"""Which Kafka errors the Kafka publisher retries and which it dead-letters; how its TLS and
SASL settings map to librdkafka properties."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from confluent_kafka import KafkaError

from omen.adapters.publishers.kafka import (
    SECURITY_ERRORS,
    KafkaPublisher,
    is_retryable,
    security_config,
    security_hint,
)
from omen.config import PublisherSettings


@pytest.mark.parametrize(
    "code",
    [
        KafkaError._MSG_TIMED_OUT,
        KafkaError._TRANSPORT,
        KafkaError._ALL_BROKERS_DOWN,
        KafkaError._RESOLVE,
        KafkaError.REQUEST_TIMED_OUT,
        KafkaError.NOT_ENOUGH_REPLICAS,
        KafkaError.NOT_ENOUGH_REPLICAS_AFTER_APPEND,
        KafkaError.LEADER_NOT_AVAILABLE,
        KafkaError.NOT_LEADER_FOR_PARTITION,
        KafkaError.UNKNOWN_TOPIC_OR_PART,
        KafkaError._UNKNOWN_TOPIC,
        KafkaError.UNKNOWN_PRODUCER_ID,
        KafkaError.PRODUCER_FENCED,
        KafkaError._FATAL,
        KafkaError.UNKNOWN,
    ],
)
def test_transient_and_unknown_errors_are_retried(code: int) -> None:
    assert is_retryable(KafkaError(code))


@pytest.mark.parametrize(
    "code",
    [
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
    ],
)
def test_records_the_broker_refuses_for_good_are_dead_lettered(code: int) -> None:
    assert not is_retryable(KafkaError(code))


@pytest.mark.parametrize(
    "code",
    [
        KafkaError._SSL,
        KafkaError._AUTHENTICATION,
        KafkaError.SASL_AUTHENTICATION_FAILED,
        KafkaError.UNSUPPORTED_SASL_MECHANISM,
        KafkaError.ILLEGAL_SASL_STATE,
    ],
)
def test_tls_and_authentication_failures_stall_instead_of_dead_lettering_and_say_why(
    code: int,
) -> None:
    """A wrong CA or password is not the record's fault: dead-lettering would empty the backlog
    one timeout at a time. Retried behind the breaker, with a hint naming what to check."""
    assert is_retryable(KafkaError(code))
    hint = SECURITY_ERRORS[code]
    assert any(field in hint for field in ("ssl_ca_location", "sasl_", "security_protocol"))


def test_a_certificate_failure_reported_as_a_transport_error_gets_the_tls_hint() -> None:
    """librdkafka reports a failed certificate check as _SSL on some attempts and as _TRANSPORT
    with OpenSSL's text on others; whichever came last, the reason says what to check."""
    tls = SECURITY_ERRORS[KafkaError._SSL]
    openssl = (
        "ssl://127.0.0.1:9093/bootstrap: error:0A000086:SSL routines::certificate verify "
        "failed (after 1ms in state SSL_HANDSHAKE)"
    )
    assert security_hint(KafkaError(KafkaError._SSL, "SSL handshake failed")) == tls
    assert security_hint(KafkaError(KafkaError._TRANSPORT, openssl)) == tls
    refused = "127.0.0.1:9093/bootstrap: Connect to ipv4#127.0.0.1:9093 failed: Connection refused"
    assert security_hint(KafkaError(KafkaError._TRANSPORT, refused)) is None
    assert security_hint(KafkaError(KafkaError._RESOLVE, "SSL routines")) is None


def _settings(**fields: Any) -> PublisherSettings:
    return PublisherSettings.model_validate(
        {"name": "k", "kind": "kafka", "bootstrap_servers": "b:9093", "topic": "t", **fields}
    )


def test_plaintext_maps_to_the_librdkafka_default_and_nothing_else() -> None:
    assert security_config(_settings()) == {"security.protocol": "plaintext"}


def test_tls_and_sasl_settings_map_to_librdkafka_properties() -> None:
    settings = _settings(
        security_protocol="sasl_ssl",
        ssl_ca_location="/etc/omen/ca.pem",
        ssl_certificate_location="/etc/omen/client.pem",
        ssl_key_location="/etc/omen/client.key",
        ssl_key_password="key-pass-123",
        sasl_mechanism="SCRAM-SHA-256",
        sasl_username="omen",
        sasl_password="sasl-pass-456",
    )
    assert security_config(settings) == {
        "security.protocol": "sasl_ssl",
        "ssl.ca.location": "/etc/omen/ca.pem",
        "ssl.certificate.location": "/etc/omen/client.pem",
        "ssl.key.location": "/etc/omen/client.key",
        "ssl.key.password": "key-pass-123",
        "sasl.mechanisms": "SCRAM-SHA-256",
        "sasl.username": "omen",
        "sasl.password": "sasl-pass-456",
    }
    assert "sasl-pass-456" not in repr(settings) and "key-pass-123" not in repr(settings)


def test_the_producer_gets_the_security_properties_and_librdkafka_accepts_them() -> None:
    settings = _settings(
        security_protocol="sasl_plaintext",
        sasl_mechanism="PLAIN",
        sasl_username="omen",
        sasl_password="sasl-pass-456",
    )
    publisher = KafkaPublisher(settings)
    assert publisher._config["sasl.password"] == "sasl-pass-456"
    # Creating the producer validates every property (an unknown one or a bad value raises)
    # and connects to nothing yet.

    async def start_and_close() -> None:
        await publisher.start()
        await publisher.close()

    asyncio.run(start_and_close())

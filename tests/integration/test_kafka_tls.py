"""KafkaPublisher with TLS and SASL against a real broker (tansu, behind a TLS terminator for
TLS: tansu 0.6.0 cannot serve TLS itself, see tests/kafka_broker.py), read back over TLS."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from omen.adapters.publishers import build_publisher
from omen.adapters.publishers.kafka import KafkaPublisher
from omen.application.ports import DeliveryError
from omen.bootstrap import build_app
from omen.config import PublisherSettings, load_settings
from omen.errors import StartupError
from tests.integration.test_kafka_publisher import (
    FAILS_WITHIN_S,
    TIMEOUT_S,
    deliveries,
    lsn,
    pipeline_signals,
)
from tests.kafka_broker import (
    KafkaBroker,
    TlsFiles,
    make_tls_files,
    run_openssl,
    running_broker,
)
from tests.support import TEST_API_KEY

SASL_PASSWORD = "pw-that-must-never-be-logged-4711"


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls_files(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def other_ca(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    """A second self-signed CA: it did not sign the broker's certificate."""
    return make_tls_files(tmp_path_factory.mktemp("other-tls"), "other")


@pytest.fixture
def tls_broker(tmp_path: Path, tls: TlsFiles) -> Iterator[KafkaBroker]:
    with running_broker(tmp_path, tls=tls) as running:
        yield running


def settings(bootstrap: str, **fields: Any) -> PublisherSettings:
    return PublisherSettings.model_validate(
        {
            "name": "kafka-secure",
            "kind": "kafka",
            "bootstrap_servers": bootstrap,
            "topic": "signals",
            "timeout_s": TIMEOUT_S,
            **fields,
        }
    )


def publisher(publisher_settings: PublisherSettings) -> KafkaPublisher:
    return KafkaPublisher(publisher_settings, config={"reconnect.backoff.max.ms": 200})


async def failed_publish(pub: KafkaPublisher, count: int = 3) -> tuple[DeliveryError, float]:
    started = time.monotonic()
    try:
        with pytest.raises(DeliveryError) as failed:
            await pub.publish(deliveries(pipeline_signals(count)))
    finally:
        await pub.close()
    return failed.value, time.monotonic() - started


def test_signals_are_delivered_over_tls_and_read_back_over_tls(
    tls_broker: KafkaBroker, tls: TlsFiles
) -> None:
    batch = deliveries(pipeline_signals(30))
    secure = settings(tls_broker.bootstrap, security_protocol="ssl", ssl_ca_location=tls.ca)

    async def scenario() -> None:
        pub = build_publisher(secure)
        await pub.start()
        await pub.publish(batch[:10])
        await pub.publish(batch[10:])
        await pub.close()

    asyncio.run(scenario())
    # The consumer speaks TLS too (KafkaBroker.client_config): nothing here is plaintext.
    records = tls_broker.consume("signals", len(batch), quiet_s=0.3)
    assert sorted(lsn(r) for r in records) == [d.lsn for d in batch]
    assert {r.key() for r in records} == {d.signal.impact_hints.routing_key.encode() for d in batch}


def test_a_broker_certificate_from_another_ca_fails_clearly_within_the_timeout(
    tls_broker: KafkaBroker, other_ca: TlsFiles, caplog: pytest.LogCaptureFixture
) -> None:
    untrusting = settings(
        tls_broker.bootstrap, security_protocol="ssl", ssl_ca_location=other_ca.ca
    )
    with caplog.at_level(logging.WARNING, logger="omen.publishers.kafka"):
        error, elapsed = asyncio.run(failed_publish(publisher(untrusting)))

    assert elapsed < FAILS_WITHIN_S
    # Not dead-lettered: a trusted CA (or a fixed broker certificate) lets the backlog drain.
    assert error.retryable and error.delivered == 0
    assert "TLS handshake failed" in error.reason
    assert "ssl_ca_location" in error.reason
    assert "certificate verify failed" in error.reason
    logged = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert any("TLS handshake failed" in r.getMessage() for r in logged), caplog.text


def test_a_plaintext_client_of_the_tls_listener_fails_within_the_timeout(
    tls_broker: KafkaBroker,
) -> None:
    error, elapsed = asyncio.run(failed_publish(publisher(settings(tls_broker.bootstrap))))
    assert elapsed < FAILS_WITHIN_S
    assert error.retryable
    assert "_MSG_TIMED_OUT" in error.reason


def test_a_refused_sasl_login_fails_clearly_and_never_shows_the_password(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """tansu --authentication refuses every login (no user can be created with memory storage,
    see tests/kafka_broker.py): a real SCRAM exchange that fails."""
    with running_broker(tmp_path, authentication=True) as broker:
        login = settings(
            broker.bootstrap,
            security_protocol="sasl_plaintext",
            sasl_mechanism="SCRAM-SHA-512",
            sasl_username="omen",
            sasl_password=SASL_PASSWORD,
        )
        assert SASL_PASSWORD not in repr(login)
        with caplog.at_level(logging.DEBUG):
            error, elapsed = asyncio.run(failed_publish(publisher(login)))

    assert elapsed < FAILS_WITHIN_S
    assert error.retryable and error.delivered == 0
    assert "authentication failed" in error.reason
    assert "sasl_password" in error.reason  # what to check, never its value
    assert SASL_PASSWORD not in error.reason
    assert SASL_PASSWORD not in caplog.text
    assert any(
        r.levelno == logging.ERROR and "authentication failed" in r.getMessage()
        for r in caplog.records
    ), caplog.text


@pytest.mark.parametrize("setting", ["ssl_ca_location", "ssl_certificate_location"])
def test_a_missing_tls_file_stops_the_start_up_naming_it(
    tmp_path: Path, tls: TlsFiles, setting: str
) -> None:
    missing = tmp_path / "nowhere.pem"
    files: dict[str, Any] = {"ssl_certificate_location": tls.cert, "ssl_key_location": tls.key}
    files[setting] = missing
    with pytest.raises(StartupError) as error:
        build_publisher(settings("127.0.0.1:1", security_protocol="ssl", **files))
    assert str(error.value) == (
        f"kafka publisher kafka-secure: {setting} {missing}: No such file or directory"
    )


def test_an_unreadable_or_malformed_tls_file_stops_the_start_up(
    tmp_path: Path, tls: TlsFiles
) -> None:
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    with pytest.raises(StartupError, match=f"ssl_ca_location {garbage}: no usable PEM"):
        build_publisher(settings("127.0.0.1:1", security_protocol="ssl", ssl_ca_location=garbage))

    # The server's key does not belong to the CA's certificate.
    with pytest.raises(StartupError, match=r"ssl_certificate_location .* / ssl_key_location"):
        build_publisher(
            settings(
                "127.0.0.1:1",
                security_protocol="ssl",
                ssl_certificate_location=tls.ca,
                ssl_key_location=tls.key,
            )
        )


def test_an_encrypted_client_key_needs_its_password_which_is_never_shown(
    tmp_path: Path, tls: TlsFiles
) -> None:
    """A client certificate (the server's own pair will do: loading only checks the pair) with
    its key encrypted; without the right ssl_key_password the start-up stops, and never waits
    for a passphrase typed on a terminal."""
    encrypted = tmp_path / "client.key"
    passphrase = "key-passphrase-never-shown-77"
    run_openssl(
        "pkey", "-in", tls.key, "-aes256", "-passout", f"pass:{passphrase}", "-out", encrypted
    )
    client = {
        "security_protocol": "ssl",
        "ssl_certificate_location": tls.cert,
        "ssl_key_location": encrypted,
    }
    for password in (None, "wrong-password"):
        fields = {**client, "ssl_key_password": password} if password else client
        with pytest.raises(StartupError, match="or a wrong ssl_key_password") as error:
            build_publisher(settings("127.0.0.1:1", **fields))
        assert passphrase not in str(error.value)
    publisher = build_publisher(settings("127.0.0.1:1", **client, ssl_key_password=passphrase))
    assert isinstance(publisher, KafkaPublisher)


def test_a_key_path_that_cannot_be_read_stops_the_start_up(tmp_path: Path, tls: TlsFiles) -> None:
    # A directory: unreadable as a file for every user (root ignores mode bits, so a chmod 0
    # file would be readable in CI, which runs as root). A CA may be a directory; a key not.
    folder = tmp_path / "client.key"
    folder.mkdir()
    with pytest.raises(StartupError, match=f"ssl_key_location {folder}: Is a directory"):
        build_publisher(
            settings(
                "127.0.0.1:1",
                security_protocol="ssl",
                ssl_certificate_location=tls.cert,
                ssl_key_location=folder,
            )
        )


def test_the_server_refuses_to_start_with_a_missing_ca_file(tmp_path: Path) -> None:
    config = tmp_path / "omen.toml"
    missing = tmp_path / "ca.pem"
    config.write_text(
        f'data_dir = "{tmp_path / "data"}"\n'
        f'api_keys = ["{TEST_API_KEY}"]\n'
        "[[publishers]]\n"
        'name = "signals-kafka"\nkind = "kafka"\n'
        'bootstrap_servers = "127.0.0.1:1"\ntopic = "omen.signals"\n'
        f'security_protocol = "ssl"\nssl_ca_location = "{missing}"\n'
    )
    loaded, _ = load_settings(config_file=config, env={})
    with pytest.raises(StartupError, match=f"ssl_ca_location {missing}: No such file"):
        build_app(loaded)

"""The outbox's adapters on real files and a real HTTP receiver process: cursor files, dead-letter
files, the ledger feed, and the console and webhook publishers."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import io
import json
import socket
from pathlib import Path

import pytest

from omen.adapters.ledger.files import FileLayer
from omen.adapters.outbox.cursor_file import CursorFiles
from omen.adapters.outbox.deadletter import DeadLetterFiles
from omen.adapters.outbox.envelope import delivery_body, delivery_from_json, delivery_json
from omen.adapters.outbox.ledger_feed import LedgerFeed
from omen.adapters.publishers import build_publisher
from omen.adapters.publishers.console import ConsolePublisher
from omen.adapters.publishers.webhook import WebhookPublisher, parse_retry_after
from omen.application.ports import Delivery, DeliveryError
from omen.config import PublisherSettings
from omen.errors import OutboxError
from tests.outbox_support import Filler, Receiver, open_ledger, signal_lsns


class CountingFiles(FileLayer):
    def __init__(self) -> None:
        self.fsyncs = 0
        self.dir_fsyncs = 0

    def fsync(self, fd: int) -> None:
        self.fsyncs += 1
        super().fsync(fd)

    def fsync_dir(self, path: str) -> None:
        self.dir_fsyncs += 1
        super().fsync_dir(path)


@pytest.fixture(scope="module")
def deliveries(tmp_path_factory: pytest.TempPathFactory) -> list[Delivery]:
    async def fill(root: Path) -> list[Delivery]:
        with open_ledger(root) as ledger:
            await Filler(ledger).add(12)
            feed = LedgerFeed(ledger)
            return list(feed.read_after(0, 100).deliveries)

    return asyncio.run(fill(tmp_path_factory.mktemp("ledger")))


def test_a_cursor_round_trips_durably_and_a_missing_one_is_zero(tmp_path: Path):
    files = CountingFiles()
    cursors = CursorFiles(tmp_path / "outbox", files)
    assert cursors.load("hook") == 0
    cursors.save("hook", 41)
    cursors.save("hook", 42)
    assert CursorFiles(tmp_path / "outbox").load("hook") == 42
    assert files.fsyncs == 2 and files.dir_fsyncs >= 2
    assert json.loads((tmp_path / "outbox" / "hook.cursor").read_text()) == {
        "lsn": 42,
        "publisher": "hook",
    }
    assert not list((tmp_path / "outbox").glob("*.tmp"))


def test_a_damaged_cursor_file_is_an_error_naming_it(tmp_path: Path):
    (tmp_path / "hook.cursor").write_text('{"lsn": -3}')
    with pytest.raises(OutboxError, match=r"hook\.cursor is damaged.*delete it"):
        CursorFiles(tmp_path).load("hook")


def test_the_ledger_feed_reads_signals_only_in_lsn_order_and_counts_them(tmp_path: Path):
    async def main() -> None:
        with open_ledger(tmp_path) as ledger:
            await Filler(ledger).add(40)
            lsns = signal_lsns(ledger)
            feed = LedgerFeed(ledger)
            feed.open(0)
            batch = feed.read_after(0, 5)
            assert [d.lsn for d in batch.deliveries] == lsns[:5]
            assert batch.scanned_lsn == lsns[4]
            rest = feed.read_after(lsns[4], 1000)
            assert [d.lsn for d in rest.deliveries] == lsns[5:]
            assert rest.scanned_lsn == ledger.acked_lsn  # trailing observations included
            assert all(d.signal.ledger_partition == d.partition for d in rest.deliveries)
            assert feed.signals_after(0) == len(lsns)
            assert feed.signals_after(lsns[9]) == len(lsns) - 10
            feed.forget_through(lsns[20])
            assert feed.signals_after(lsns[20]) == len(lsns) - 21
            await Filler(ledger).add(0)
            feed.close()

    asyncio.run(main())


def test_dead_letters_are_appended_read_back_and_removed_by_key(tmp_path: Path, deliveries):
    files = CountingFiles()
    store = DeadLetterFiles(tmp_path / "outbox", files)
    store.add("hook", deliveries[0], "HTTP 400 from http://x/", 1_795_000_000_000_000_123)
    store.add("hook", deliveries[1], "HTTP 422 from http://x/", 1_795_000_001_000_000_000)
    assert files.fsyncs == 2
    letters = store.read("hook")
    assert [d.record["reason"] for d in letters] == [
        "HTTP 400 from http://x/",
        "HTTP 422 from http://x/",
    ]
    first = letters[0].record
    assert first["signal_id"] == deliveries[0].signal.signal_id
    assert (first["lsn"], first["partition"], first["sequence"]) == (
        deliveries[0].lsn,
        deliveries[0].partition,
        deliveries[0].sequence,
    )
    assert first["failed_at"] == "2026-11-18T11:06:40.000000Z"
    assert letters[0].delivery == deliveries[0]
    assert store.remove("hook", [letters[0].key]) == 1
    assert [d.delivery for d in store.read("hook")] == [deliveries[1]]


def test_a_torn_dead_letter_line_is_skipped_and_later_ones_stay_readable(
    tmp_path: Path, deliveries, caplog
):
    store = DeadLetterFiles(tmp_path)
    store.add("hook", deliveries[0], "bad", 1)
    with store.path("hook").open("ab") as fh:
        fh.write(b'{"publisher": "hook", "signal_id": "sig-')  # a crash mid-append
    store.add("hook", deliveries[1], "bad", 2)
    assert [d.delivery for d in store.read("hook")] == [deliveries[0], deliveries[1]]
    assert "line 2 is not a dead-letter record" in caplog.text


def test_the_envelope_is_the_signal_in_proto_json_with_its_position(deliveries):
    d = deliveries[3]
    body = json.loads(delivery_body(d))
    assert body == delivery_json(d)
    assert set(body) == {"lsn", "partition", "sequence", "signal"}
    assert body["signal"]["signal_id"] == d.signal.signal_id
    assert "confidence_score" in body["signal"]  # .proto names, not lowerCamelCase
    assert delivery_from_json(body) == d
    assert b" " not in delivery_body(d).split(b'"title"')[0]  # compact


def test_the_console_publisher_writes_one_json_line_per_signal(deliveries):
    out = io.StringIO()
    publisher = ConsolePublisher(PublisherSettings(name="out", kind="console"), stream=out)
    asyncio.run(publisher.publish(deliveries[:3]))
    lines = out.getvalue().splitlines()
    assert [json.loads(line)["lsn"] for line in lines] == [d.lsn for d in deliveries[:3]]


def test_build_publisher_picks_the_adapter_by_kind():
    console = build_publisher(PublisherSettings(name="c", kind="console"))
    webhook = build_publisher(
        PublisherSettings(name="w", kind="webhook", url="http://127.0.0.1:9/")
    )
    assert (type(console), console.name) == (ConsolePublisher, "c")
    assert (type(webhook), webhook.name) == (WebhookPublisher, "w")


def test_retry_after_reads_seconds_and_http_dates():
    now = 1_795_000_000.0
    assert parse_retry_after("7", now) == 7.0
    assert parse_retry_after(" 1.5 ", now) == 1.5
    assert parse_retry_after("Wed, 18 Nov 2026 11:07:10 GMT", now) == 30.0
    assert parse_retry_after("Wed, 18 Nov 2026 11:00:00 GMT", now) == 0.0
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None


@pytest.fixture
def receiver(tmp_path: Path):
    running = Receiver(tmp_path / "requests.jsonl", secret="s3cret-hmac-key")
    try:
        yield running
    finally:
        running.stop()


def _webhook(url: str, secret: str | None = "s3cret-hmac-key", **extra) -> WebhookPublisher:
    return WebhookPublisher(
        PublisherSettings(name="hook", kind="webhook", url=url, secret=secret, **extra),
        clock=lambda: 1_795_000_000.0,
    )


async def _publish(publisher: WebhookPublisher, batch) -> DeliveryError | None:
    await publisher.start()
    try:
        await publisher.publish(batch)
    except DeliveryError as exc:
        return exc
    finally:
        await publisher.close()
    return None


def test_the_webhook_posts_signed_bodies_with_the_signal_id_as_idempotency_key(
    receiver, deliveries
):
    assert asyncio.run(_publish(_webhook(receiver.url), deliveries[:4])) is None
    requests = receiver.requests()
    assert [r["status"] for r in requests] == [200] * 4
    assert all(r["signature_ok"] for r in requests)
    for request, delivery in zip(requests, deliveries[:4], strict=True):
        headers = {k.lower(): v for k, v in request["headers"].items()}
        assert headers["idempotency-key"] == delivery.signal.signal_id
        assert headers["content-type"] == "application/json"
        assert headers["x-omen-timestamp"] == "1795000000"
        body = request["body"].encode()
        assert body == delivery_body(delivery)
        expected = hmac.new(b"s3cret-hmac-key", b"1795000000." + body, hashlib.sha256)
        assert headers["x-omen-signature"] == expected.hexdigest()


def test_the_webhook_without_a_secret_sends_no_signature(receiver, deliveries):
    receiver.control(secret=None)
    assert asyncio.run(_publish(_webhook(receiver.url, secret=None), deliveries[:1])) is None
    headers = {k.lower() for k in receiver.requests()[0]["headers"]}
    assert "x-omen-signature" not in headers and "idempotency-key" in headers


@pytest.mark.parametrize(
    ("status", "retryable"),
    [(503, True), (500, True), (429, True), (408, True), (400, False), (404, False), (422, False)],
)
def test_webhook_answers_map_to_retryable_or_final_failures(
    receiver, deliveries, status, retryable
):
    receiver.control(reject_containing=deliveries[2].signal.signal_id, reject_status=status)
    error = asyncio.run(_publish(_webhook(receiver.url), deliveries[:4]))
    assert error is not None
    assert (error.retryable, error.delivered) == (retryable, 2)
    assert error.reason.startswith(
        f"HTTP {status} from http://127.0.0.1:{receiver.port}/hooks/omen"
    )
    assert len(receiver.requests()) == 3  # stops at the failure: order is kept


def test_a_503_with_retry_after_is_retryable_with_that_delay(receiver, deliveries):
    receiver.control(mode="fail", status=503, retry_after="12")
    error = asyncio.run(_publish(_webhook(receiver.url), deliveries[:2]))
    assert error is not None and error.retryable
    assert (error.delivered, error.retry_after_s) == (0, 12.0)


def test_a_bad_signature_is_refused_by_the_receiver_as_a_final_failure(receiver, deliveries):
    error = asyncio.run(_publish(_webhook(receiver.url, secret="wrong-key"), deliveries[:1]))
    assert error is not None and not error.retryable
    assert receiver.requests()[0]["signature_ok"] is False


def test_an_unreachable_receiver_is_a_retryable_failure(deliveries):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # bound, not listening: connection refused
        error = asyncio.run(
            _publish(_webhook(f"http://user:pw@127.0.0.1:{port}/x?token=1"), deliveries[:2])
        )
    assert error is not None and error.retryable and error.delivered == 0
    assert error.reason.startswith(f"cannot reach http://127.0.0.1:{port}/x")
    assert "pw" not in error.reason and "token" not in error.reason


def test_a_slow_receiver_is_a_retryable_timeout(receiver, deliveries):
    receiver.control(delay_ms=1500)
    error = asyncio.run(_publish(_webhook(receiver.url, timeout_s=0.2), deliveries[:1]))
    assert error is not None and error.retryable
    assert "within 0.2s" in error.reason


def test_the_readme_publishers_example_is_a_valid_config(tmp_path: Path):
    from omen.config import load_settings
    from tests.support import ROOT

    section = (ROOT / "README.md").read_text().split("## Delivering signals", 1)[1]
    example = section.split("```toml\n", 1)[1].split("```", 1)[0]
    (tmp_path / "omen.toml").write_text(example)
    settings, _ = load_settings(tmp_path / "omen.toml", env={})
    console, webhook = settings.publishers
    assert (console.kind, webhook.kind) == ("console", "webhook")
    assert webhook.secret is not None and webhook.url
    assert [type(build_publisher(p)).__name__ for p in settings.publishers] == [
        "ConsolePublisher",
        "WebhookPublisher",
    ]

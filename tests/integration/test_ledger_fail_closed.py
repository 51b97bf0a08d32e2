"""A real server whose ledger hits ENOSPC / EIO fails closed: UNAVAILABLE, NOT_SERVING, and
nothing acknowledged that is not durable. The fault enters through the ledger's file layer."""

from __future__ import annotations

import asyncio
import errno
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from omen import native
from omen._proto import service_pb2, service_pb2_grpc
from omen.adapters.ledger.files import FileLayer
from omen.adapters.ledger.ledger import Ledger
from omen.bootstrap import build_app
from omen.config import Settings, load_settings
from omen.entrypoints.grpc import convert
from omen.entrypoints.grpc.server import shutdown, start
from tests.support import TEST_API_KEY, event_message

AUTH = (("x-api-key", TEST_API_KEY),)


def _settings(tmp_path: Path) -> Settings:
    settings, _ = load_settings(
        env={},
        overrides={
            "data_dir": tmp_path,
            "port": 0,
            "metrics_port": 0,
            "api_keys": (TEST_API_KEY,),
            "grace_period_s": 1,
        },
    )
    return settings


class FailingSync(FileLayer):
    def __init__(self, error: int):
        self.error = error
        self.armed = False

    def fdatasync(self, fd: int) -> None:
        if self.armed:
            raise OSError(self.error, "injected")
        super().fdatasync(fd)


@pytest.mark.parametrize("error", [errno.ENOSPC, errno.EIO])
def test_sync_failure_fails_closed(tmp_path: Path, error: int) -> None:
    settings = _settings(tmp_path)

    async def scenario() -> None:
        app = build_app(settings)
        faulty = FailingSync(error)
        app.ledger.files = faulty  # the writer thread makes every later call through it
        running = await start(app)
        address = f"127.0.0.1:{running.port}"
        try:
            async with grpc.aio.insecure_channel(address) as channel:
                stub = service_pb2_grpc.SignalServiceStub(channel)
                ok = await stub.Process(
                    service_pb2.ProcessRequest(event=event_message(event_id="before")),
                    metadata=AUTH,
                )
                assert ok.outcome == service_pb2.OUTCOME_EMITTED
                faulty.armed = True
                with pytest.raises(grpc.aio.AioRpcError) as failed:
                    await stub.Process(
                        service_pb2.ProcessRequest(
                            event=event_message(event_id="during", market_id="m-2")
                        ),
                        metadata=AUTH,
                    )
                assert failed.value.code() == grpc.StatusCode.UNAVAILABLE
                assert "failing closed" in failed.value.details()
                assert errno.errorcode[error] in failed.value.details() or "injected" in (
                    failed.value.details()
                )
                # Every later call is refused too, even one that would not write.
                faulty.armed = False
                with pytest.raises(grpc.aio.AioRpcError) as later:
                    await stub.Process(
                        service_pb2.ProcessRequest(event=event_message(event_id="before")),
                        metadata=AUTH,
                    )
                assert later.value.code() == grpc.StatusCode.UNAVAILABLE
                health = health_pb2_grpc.HealthStub(channel)
                for _ in range(100):
                    status = (await health.Check(health_pb2.HealthCheckRequest())).status
                    if status == health_pb2.HealthCheckResponse.NOT_SERVING:
                        break
                    await asyncio.sleep(0.02)
                assert status == health_pb2.HealthCheckResponse.NOT_SERVING
                assert app.metrics.ledger_failed._value.get() == 1
        finally:
            await shutdown(running, app)

    asyncio.run(scenario())
    # The acknowledged signal is in the ledger; the failed one was never acknowledged.
    with Ledger.open(settings.ledger_dir) as ledger:
        names = ledger.partition_names()
        assert len(names) == 1
        assert ledger.summary(names[0]).record_count >= 1


class FailingWrite(FileLayer):
    """Fails every write to a segment once armed: records the ledger accepted are never
    written."""

    def __init__(self) -> None:
        self.armed = False

    def pwrite(self, fd: int, data: bytes | memoryview, offset: int) -> None:
        if self.armed:
            raise OSError(errno.EIO, "injected")
        super().pwrite(fd, data, offset)


def test_a_signal_whose_record_was_never_written_reads_as_unavailable(tmp_path: Path) -> None:
    """The index holds a signal by its ledger position as soon as the ledger accepted its
    record. When the write then fails, reading that signal back answers UNAVAILABLE with the
    ledger's failure, not an unknown error and not the signal (it was never acknowledged)."""
    settings = _settings(tmp_path)
    lost = event_message(event_id="lost", market_id="m-lost")

    async def scenario() -> None:
        app = build_app(settings)
        faulty = FailingWrite()
        app.ledger.files = faulty
        running = await start(app)
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
                stub = service_pb2_grpc.SignalServiceStub(channel)
                kept = await stub.Process(
                    service_pb2.ProcessRequest(event=event_message(event_id="kept")),
                    metadata=AUTH,
                )
                assert kept.outcome == service_pb2.OUTCOME_EMITTED
                faulty.armed = True
                with pytest.raises(grpc.aio.AioRpcError) as failed:
                    await stub.Process(service_pb2.ProcessRequest(event=lost), metadata=AUTH)
                assert failed.value.code() == grpc.StatusCode.UNAVAILABLE
                event, violations = convert.event_from_proto(lost, 0)
                assert not violations
                lost_id = app.repository.signal_id_by_event_hash(native.event_hash(event))
                assert lost_id is not None  # decided and indexed before the write failed
                for call in (
                    stub.GetSignal(service_pb2.GetSignalRequest(signal_id=lost_id), metadata=AUTH),
                    stub.ListSignals(service_pb2.ListSignalsRequest(), metadata=AUTH),
                ):
                    with pytest.raises(grpc.aio.AioRpcError) as read:
                        await call
                    assert read.value.code() == grpc.StatusCode.UNAVAILABLE
                    assert "failing closed" in read.value.details()
                # A signal whose record was written still reads back.
                again = await stub.GetSignal(
                    service_pb2.GetSignalRequest(signal_id=kept.signal.signal_id), metadata=AUTH
                )
                assert again == kept.signal
        finally:
            await shutdown(running, app)

    asyncio.run(scenario())

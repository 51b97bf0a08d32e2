"""A real server whose ledger hits ENOSPC / EIO fails closed: UNAVAILABLE, NOT_SERVING, and
nothing acknowledged that is not durable. The fault enters through the ledger's file layer."""

from __future__ import annotations

import asyncio
import errno
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from omen._proto import service_pb2, service_pb2_grpc
from omen.adapters.ledger.files import FileLayer
from omen.adapters.ledger.ledger import Ledger
from omen.bootstrap import build_app
from omen.config import load_settings
from omen.entrypoints.grpc.server import shutdown, start
from tests.support import TEST_API_KEY, event_message

AUTH = (("x-api-key", TEST_API_KEY),)


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

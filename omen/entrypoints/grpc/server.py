"""Run the grpc.aio server: OMEN's services, health, reflection, metrics, graceful shutdown."""

from __future__ import annotations

import asyncio
import logging
import signal
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from prometheus_client import start_http_server

from omen import native
from omen._proto import service_pb2, service_pb2_grpc
from omen.adapters.ledger.tail import LedgerTail
from omen.bootstrap import App
from omen.entrypoints.grpc.flow import StreamLimits
from omen.entrypoints.grpc.health import DrainingHealthServicer
from omen.entrypoints.grpc.interceptors import AccessInterceptor, ApiKeys
from omen.entrypoints.grpc.servicers import (
    LedgerServicer,
    OutboxServicer,
    ReconcileServicer,
    SignalServicer,
    signal_servicer,
)
from omen.errors import StartupError
from omen.observability import OutboxCollector

log = logging.getLogger("omen.server")

OMEN_SERVICES = tuple(
    service_pb2.DESCRIPTOR.services_by_name[name].full_name
    for name in ("SignalService", "ReconcileService", "LedgerService", "OutboxService")
)


@dataclass
class RunningServer:
    server: grpc.aio.Server
    health: DrainingHealthServicer
    port: int
    #: The WatchSignals followers; closed first on shutdown so their streams end (status OK).
    tail: LedgerTail | None = None
    #: ProcessStream limits; on shutdown streams stop reading and end with UNAVAILABLE.
    streams: StreamLimits | None = None


async def start(app: App) -> RunningServer:
    settings = app.settings
    keys = ApiKeys(k.get_secret_value() for k in settings.api_keys)
    server = grpc.aio.server(
        interceptors=[AccessInterceptor(keys, app.metrics)],
        options=[
            ("grpc.max_receive_message_length", settings.max_message_bytes),
            ("grpc.max_send_message_length", settings.max_message_bytes),
            # A second server on the same port must fail loudly, not share the port silently.
            ("grpc.so_reuseport", 0),
        ],
        maximum_concurrent_rpcs=settings.max_concurrent_rpcs,
    )
    tail = LedgerTail(app.ledger)
    streams = StreamLimits(
        settings.max_stream_events, settings.max_server_events, settings.max_streams, app.metrics
    )
    add_signal_service(signal_servicer(app, streams, tail), server)
    # The generated *_grpc helpers carry no annotations.
    service_pb2_grpc.add_ReconcileServiceServicer_to_server(ReconcileServicer(), server)  # type: ignore[no-untyped-call]
    service_pb2_grpc.add_LedgerServiceServicer_to_server(LedgerServicer(app.ledger), server)  # type: ignore[no-untyped-call]
    service_pb2_grpc.add_OutboxServiceServicer_to_server(OutboxServicer(app.outbox), server)  # type: ignore[no-untyped-call]
    health_servicer = DrainingHealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (*OMEN_SERVICES, health.SERVICE_NAME, reflection.SERVICE_NAME), server
    )
    address = f"{settings.host}:{settings.port}"
    try:
        port = server.add_insecure_port(address)
    except RuntimeError as exc:
        raise StartupError(f"cannot listen on {address}: {exc} (is the port in use?)") from None
    if port == 0:
        raise StartupError(f"cannot listen on {address} (is the port in use?)")
    await server.start()
    for name in ("", *OMEN_SERVICES):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    loop = asyncio.get_running_loop()

    def ledger_failed(error: Exception) -> None:  # runs in the ledger's writer thread
        app.metrics.ledger_failed.set(1)
        asyncio.run_coroutine_threadsafe(_not_serving(health_servicer), loop)

    app.ledger.on_failure(ledger_failed)
    if app.outbox is not None and app.outbox.publishers:
        # Delivery starts once the server is up and stops (in shutdown) before the ledger closes.
        app.metrics.registry.register(OutboxCollector(app.outbox.statuses))
        await app.outbox.start()
    return RunningServer(server, health_servicer, port, tail=tail, streams=streams)


class _Handlers:
    """Stands in for the server while the generated add_*_to_server registers: keeps the
    method handlers it builds."""

    def __init__(self) -> None:
        self.service = ""
        self.handlers: dict[str, grpc.RpcMethodHandler] = {}

    def add_generic_rpc_handlers(self, handlers: object) -> None:
        pass

    def add_registered_method_handlers(
        self, service: str, handlers: dict[str, grpc.RpcMethodHandler]
    ) -> None:
        self.service, self.handlers = service, handlers


def add_signal_service(servicer: SignalServicer, server: grpc.aio.Server) -> None:
    """Register SignalService as the generated code does, except ProcessStream, which takes
    and returns serialised messages: its servicer decodes requests with the compiled wire
    decoder and answers with bytes it assembles (no protobuf message built per event). On the
    wire nothing changes; clients, the generated stub, grpcurl and reflection see the same
    method."""
    built = _Handlers()
    service_pb2_grpc.add_SignalServiceServicer_to_server(servicer, built)  # type: ignore[no-untyped-call]
    if built.service != "omen.v1.SignalService" or "ProcessStream" not in built.handlers:
        raise RuntimeError(  # a grpcio-tools change the code below must follow
            "the generated add_SignalServiceServicer_to_server registered "
            f"{built.service!r} {sorted(built.handlers)}; expected omen.v1.SignalService"
        )
    handlers = dict(built.handlers)
    handlers["ProcessStream"] = grpc.stream_stream_rpc_method_handler(servicer.ProcessStream)
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(built.service, handlers),)
    )
    server.add_registered_method_handlers(built.service, handlers)


async def _not_serving(health_servicer: DrainingHealthServicer) -> None:
    """The ledger failed closed: nothing can be acknowledged, so the server is not serving."""
    for name in ("", *OMEN_SERVICES):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)


async def shutdown(running: RunningServer, app: App) -> None:
    """Refuse new calls, report NOT_SERVING, let in-flight calls finish within the grace period."""
    app.metrics.shutting_down.set(1)
    await running.health.enter_graceful_shutdown()
    if running.streams is not None:
        running.streams.begin_shutdown()
    if running.tail is not None:
        # WatchSignals streams end with OK now instead of holding stop() for the whole grace
        # period; a watcher that stopped reading (gRPC flow control full) still holds it.
        running.tail.close()
    await running.server.stop(app.settings.grace_period_s)
    if app.outbox is not None:
        # Signals of calls answered during the grace period were delivered meanwhile; a batch
        # still being published gets a moment, then is abandoned (its cursor stays before it).
        await app.outbox.stop(timeout_s=min(5.0, app.settings.grace_period_s))
    # Every answered call's records are durable already; close() syncs what is left.
    await asyncio.to_thread(app.ledger.close)


async def serve(app: App) -> int:
    """Serve until SIGTERM or SIGINT, then shut down gracefully. Returns the exit code."""
    settings = app.settings
    metrics_server = None
    if settings.metrics_port:
        try:
            metrics_server, _ = start_http_server(
                settings.metrics_port, settings.metrics_host, registry=app.metrics.registry
            )
        except OSError as exc:
            raise StartupError(
                f"cannot serve metrics on {settings.metrics_host}:{settings.metrics_port}: "
                f"{exc.strerror} (set metrics_port = 0 to disable)"
            ) from None
    try:
        running = await start(app)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        metrics_at = (
            f"{settings.metrics_host}:{settings.metrics_port}/metrics"
            if metrics_server
            else "disabled"
        )
        log.info(
            "listening on %s:%d (ruleset %s, native code: %s, metrics: %s)",
            settings.host,
            running.port,
            app.ruleset.version,
            native.NATIVE_STATUS,
            metrics_at,
        )
        await stop.wait()
        log.info(
            "shutdown requested: draining in-flight calls (grace %.1fs)", settings.grace_period_s
        )
        await shutdown(running, app)
        log.info("stopped")
        return 0
    finally:
        app.ledger.close()
        if metrics_server is not None:
            metrics_server.shutdown()
            metrics_server.server_close()

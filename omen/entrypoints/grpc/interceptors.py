"""Server interceptor: API-key authentication and in-flight accounting for OMEN's services.

Health and reflection stay open; every method under /omen.v1. needs a valid `x-api-key`.
Keys are compared as SHA-256 digests with hmac.compare_digest against every configured key,
so neither the match position nor the key length leaks through timing.
"""

from __future__ import annotations

import hashlib
import hmac
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any

import grpc

from omen.observability import Metrics

API_KEY_HEADER = "x-api-key"
PROTECTED_PREFIX = "/omen.v1."


def key_digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


class ApiKeys:
    """A set of accepted keys, held only as digests."""

    def __init__(self, keys: Iterable[str]):
        self._digests = tuple(key_digest(k) for k in keys)
        if not self._digests:
            raise ValueError("at least one API key is required")

    def accepts(self, presented: str | bytes | None) -> bool:
        if presented is None:
            return False
        raw = presented if isinstance(presented, bytes) else presented.encode("utf-8")
        digest = hashlib.sha256(raw).digest()
        ok = False
        for accepted in self._digests:  # no early exit: every key is compared
            ok |= hmac.compare_digest(digest, accepted)
        return ok


def _metadata_value(metadata: Any, key: str) -> str | bytes | None:
    for item in metadata or ():
        if item[0] == key:
            return item[1]  # type: ignore[no-any-return]
    return None


def _rebuild(handler: grpc.RpcMethodHandler, behavior: Callable[..., Any]) -> grpc.RpcMethodHandler:
    """The same kind of handler as `handler`, with another behavior."""
    common = {
        "request_deserializer": handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }
    if handler.unary_unary:
        return grpc.unary_unary_rpc_method_handler(behavior, **common)
    if handler.unary_stream:
        return grpc.unary_stream_rpc_method_handler(behavior, **common)
    if handler.stream_unary:
        return grpc.stream_unary_rpc_method_handler(behavior, **common)
    return grpc.stream_stream_rpc_method_handler(behavior, **common)


def _original(handler: grpc.RpcMethodHandler) -> Callable[..., Any]:
    behavior: Callable[..., Any] = (
        handler.unary_unary or handler.unary_stream or handler.stream_unary or handler.stream_stream
    )
    return behavior


class AccessInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]  # grpc is untyped
    def __init__(self, keys: ApiKeys, metrics: Metrics):
        self._keys = keys
        self._metrics = metrics
        # Wrapped handlers per (method, verdict): building handlers and metric children once per
        # method instead of once per call keeps the interceptor off the per-call profile.
        self._cache: dict[tuple[str, str], grpc.RpcMethodHandler] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        method = details.method
        if not method.startswith(PROTECTED_PREFIX):
            return await continuation(details)
        presented = _metadata_value(details.invocation_metadata, API_KEY_HEADER)
        if self._keys.accepts(presented):
            verdict = "ok"
        else:
            verdict = "missing" if presented is None else "invalid"
            self._metrics.rpc_unauthenticated.labels(method).inc()
        wrapped = self._cache.get((method, verdict))
        if wrapped is None:
            handler = await continuation(details)
            if handler is None:  # unknown method: let gRPC answer UNIMPLEMENTED
                return None
            wrapped = self._wrap(method, handler, verdict)
            self._cache[(method, verdict)] = wrapped
        return wrapped

    def _wrap(
        self, method: str, handler: grpc.RpcMethodHandler, verdict: str
    ) -> grpc.RpcMethodHandler:
        streaming_response = bool(handler.unary_stream or handler.stream_stream)
        if verdict == "ok":
            return _rebuild(handler, self._tracked(method, _original(handler), streaming_response))
        reason = (
            f"missing API key: send it in the '{API_KEY_HEADER}' metadata header"
            if verdict == "missing"
            else f"invalid API key in the '{API_KEY_HEADER}' metadata header"
        )
        return _rebuild(handler, _denier(reason, streaming_response))

    def _tracked(
        self, method: str, behavior: Callable[..., Any], streaming_response: bool
    ) -> Callable[..., Any]:
        in_flight = self._metrics.rpc_in_flight.labels(method)
        started = self._metrics.rpc_started.labels(method)

        if not streaming_response:

            async def unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
                started.inc()
                in_flight.inc()
                try:
                    return await behavior(request, context)
                finally:
                    in_flight.dec()

            return unary

        async def streaming(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            started.inc()
            in_flight.inc()
            try:
                result = behavior(request, context)
                if inspect.isasyncgen(result):
                    async for item in result:
                        yield item
                else:
                    await result
            finally:
                in_flight.dec()

        return streaming


def _denier(reason: str, streaming_response: bool) -> Callable[..., Any]:
    if not streaming_response:

        async def deny(request: Any, context: grpc.aio.ServicerContext) -> Any:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, reason)

        return deny

    async def deny_stream(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, reason)
        yield  # pragma: no cover - makes this an async generator; abort always raises

    return deny_stream

"""Shared fixtures for unit, integration and e2e tests."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest

from omen._proto import service_pb2_grpc
from tests.support import TEST_API_KEY, ServerProcess, start_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One real `omen serve` per test module, on a free loopback port."""
    running = start_server(tmp_path_factory.mktemp("omen-data"))
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def channel(server: ServerProcess) -> Iterator[grpc.Channel]:
    with server.channel() as ch:
        yield ch


@pytest.fixture
def signals(channel: grpc.Channel) -> service_pb2_grpc.SignalServiceStub:
    return service_pb2_grpc.SignalServiceStub(channel)


@pytest.fixture
def auth() -> list[tuple[str, str]]:
    return [("x-api-key", TEST_API_KEY)]

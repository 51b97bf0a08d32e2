"""ProcessStream flow control: credits per stream and per server, released on every path."""

from __future__ import annotations

import asyncio

import pytest

from omen.entrypoints.grpc.flow import Credits, StreamLimits
from omen.observability import Metrics


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def test_credits_admit_up_to_the_limit_then_wait_for_a_release():
    async def scenario():
        credits = Credits(8)
        await credits.acquire(4)
        await credits.acquire(4)
        third = asyncio.create_task(credits.acquire(4))
        await _settle()
        assert not third.done() and credits.used == 8
        credits.release(4)
        await asyncio.wait_for(third, 1)
        assert credits.used == 8

    asyncio.run(scenario())


def test_a_request_larger_than_the_limit_is_admitted_alone():
    async def scenario():
        credits = Credits(8)
        await asyncio.wait_for(credits.acquire(20), 1)  # nothing held: admitted
        small = asyncio.create_task(credits.acquire(1))
        await _settle()
        assert not small.done()
        credits.release(20)
        await asyncio.wait_for(small, 1)

    asyncio.run(scenario())


def test_waiters_are_admitted_in_arrival_order():
    async def scenario():
        credits = Credits(10)
        await credits.acquire(10)
        order: list[int] = []

        async def want(n: int) -> None:
            await credits.acquire(n)
            order.append(n)

        big = asyncio.create_task(want(8))
        await _settle()
        small = asyncio.create_task(want(2))
        await _settle()
        credits.release(3)  # 3 free: enough for the small one, but the big one is first
        await _settle()
        assert order == []
        credits.release(7)
        await asyncio.wait_for(asyncio.gather(big, small), 1)
        assert order == [8, 2] and credits.used == 10

    asyncio.run(scenario())


def test_a_cancelled_waiter_holds_nothing_and_lets_the_next_one_in():
    async def scenario():
        credits = Credits(4)
        await credits.acquire(4)
        first = asyncio.create_task(credits.acquire(4))
        second = asyncio.create_task(credits.acquire(1))
        await _settle()
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        credits.release(4)
        await asyncio.wait_for(second, 1)
        assert credits.used == 1

    asyncio.run(scenario())


def test_a_waiter_cancelled_after_being_granted_gives_its_credits_back():
    async def scenario():
        credits = Credits(4)
        await credits.acquire(4)
        waiter = asyncio.create_task(credits.acquire(3))
        await _settle()
        credits.release(4)  # grants the waiter (used 3) before it runs again
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        assert credits.used == 0

    asyncio.run(scenario())


def test_stream_limits_count_streams_and_server_wide_events_in_the_gauges():
    async def scenario():
        metrics = Metrics()
        limits = StreamLimits(8, 10, 2, metrics)
        a, b = limits.open_stream(), limits.open_stream()
        assert a is not None and b is not None
        assert limits.open_stream() is None  # max_streams
        await limits.admit(a, 8)
        blocked = asyncio.create_task(limits.admit(b, 4))  # fits b, not the server's 10
        await _settle()
        assert not blocked.done()
        assert metrics.registry.get_sample_value("omen_process_stream_events_in_flight") == 8
        assert metrics.registry.get_sample_value("omen_process_streams_open") == 2
        limits.release(a, 8)
        await asyncio.wait_for(blocked, 1)
        limits.release(b, 4)
        limits.close_stream()
        limits.close_stream()
        assert limits.server.used == a.used == b.used == 0
        assert metrics.registry.get_sample_value("omen_process_stream_events_in_flight") == 0
        assert metrics.registry.get_sample_value("omen_process_streams_open") == 0

    asyncio.run(scenario())

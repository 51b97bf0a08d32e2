"""LedgerTail.follow over a real Ledger: the backlog then live signals, in LSN order, in bounded
chunks, with one shared commit listener; and the WatchSignals cursor helpers on top of it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from omen._proto import service_pb2
from omen.adapters.ledger.ledger import Entry, Ledger, LedgerOptions, Position
from omen.adapters.ledger.records import RecordType
from omen.adapters.ledger.tail import LedgerTail, follow
from omen.entrypoints.grpc import watch
from tests.support import NS, T0_NS

DAY = 86_400 * NS
SIGNAL, OBSERVATION = int(RecordType.SIGNAL), int(RecordType.OBSERVATION)
TIMEOUT = 10.0


def _open(path: Path, **options: object) -> Ledger:
    return Ledger.open(path, LedgerOptions(seal_grace_s=None, **options))  # type: ignore[arg-type]


def _append(ledger: Ledger, n: int, start: int = 0, days: int = 3) -> list[tuple[int, bytes]]:
    """n records, every third an observation, spread over `days` dates; returns the signals'
    (LSN, body) in LSN order, once durable."""
    signals = []
    appended = None
    for i in range(start, start + n):
        rtype = OBSERVATION if i % 3 == 2 else SIGNAL
        body = f"record-{i}".encode()
        appended = ledger.append(T0_NS + (i % days) * DAY, rtype, body)
        if rtype == SIGNAL:
            signals.append((appended.lsn, body))
    assert appended is not None
    appended.commit.wait(TIMEOUT)
    return signals


async def _take(stream: AsyncIterator[Entry], n: int) -> list[tuple[int, bytes]]:
    out = []
    async with asyncio.timeout(TIMEOUT):
        async for entry in stream:
            out.append((entry.lsn, entry.body))
            if len(out) == n:
                break
    return out


def test_follow_yields_the_backlog_then_live_signals_in_lsn_order_skipping_observations(
    tmp_path: Path,
) -> None:
    with _open(tmp_path, segment_bytes=4096) as led:
        backlog = _append(led, 300)
        assert len(led.partition_names()) == 3

        async def run() -> list[tuple[int, bytes]]:
            tail = LedgerTail(led, chunk_records=7)
            stream = tail.follow(backlog[10][0])
            first = await _take(stream, len(backlog) - 11)
            # Caught up: the next ones arrive as the writer commits them.
            live = asyncio.get_running_loop().run_in_executor(None, _append, led, 30, 300)
            rest = await _take(stream, 20)
            assert rest == await live
            await stream.aclose()  # type: ignore[attr-defined]
            return first

        assert asyncio.run(run()) == backlog[11:]


def test_a_follower_holds_at_most_one_chunk_ahead_of_its_consumer(tmp_path: Path) -> None:
    with _open(tmp_path) as led:
        backlog = _append(led, 3000, days=1)
        picked: list[int] = []

        def pick(entry: Entry) -> int:
            picked.append(entry.lsn)
            return entry.lsn

        async def run() -> None:
            tail = LedgerTail(led, chunk_records=64)
            stream = tail.select(0, pick)
            got = []
            async with asyncio.timeout(TIMEOUT):
                async for lsn in stream:
                    got.append(lsn)
                    # What was decoded but not yet taken: never more than one chunk.
                    assert len(picked) - len(got) < 64
                    if len(got) == len(backlog):
                        break
            assert got == [lsn for lsn, _ in backlog]

        asyncio.run(run())


def test_followers_share_one_commit_listener_registered_only_while_they_run(
    tmp_path: Path,
) -> None:
    with _open(tmp_path) as led:

        async def run() -> None:
            tail = LedgerTail(led)
            streams = [tail.follow(led.acked_lsn) for _ in range(5)]
            takers = [asyncio.ensure_future(_take(s, 10)) for s in streams]
            await asyncio.sleep(0)  # each taker starts following
            async with asyncio.timeout(TIMEOUT):
                while tail.followers < 5:
                    await asyncio.sleep(0.001)
            assert led._commit_listeners == [tail._listener]
            written = await asyncio.to_thread(_append, led, 15, days=1)
            results = await asyncio.gather(*takers)
            assert all(r == written for r in results)
            for s in streams:
                await s.aclose()  # type: ignore[attr-defined]
            assert tail.followers == 0 and not tail.listening
            assert led._commit_listeners == []

        asyncio.run(run())


def test_cancelling_one_waiting_follower_leaves_the_others_waiting(tmp_path: Path) -> None:
    with _open(tmp_path) as led:

        async def run() -> None:
            tail = LedgerTail(led)
            doomed = asyncio.ensure_future(_take(tail.follow(0), 1))
            survivor = asyncio.ensure_future(_take(tail.follow(0), 1))
            async with asyncio.timeout(TIMEOUT):
                while tail.followers < 2:
                    await asyncio.sleep(0.001)
            doomed.cancel()
            with pytest.raises(asyncio.CancelledError):
                await doomed
            assert tail.followers == 1
            written = await asyncio.to_thread(_append, led, 1, days=1)
            assert await survivor == written

        asyncio.run(run())


def test_close_ends_waiting_followers_and_later_ones_at_once(tmp_path: Path) -> None:
    with _open(tmp_path) as led:
        _append(led, 10, days=1)

        async def run() -> None:
            tail = LedgerTail(led)
            waiting = asyncio.ensure_future(_take(tail.follow(led.acked_lsn), 1))
            async with asyncio.timeout(TIMEOUT):
                while tail.followers < 1:
                    await asyncio.sleep(0.001)
                tail.close()
                assert await waiting == []
                # Closed before it starts: ends without reading the backlog.
                assert await _take(tail.follow(0), 1) == []
            assert tail.followers == 0 and led._commit_listeners == []

        asyncio.run(run())


def test_the_one_shot_follow_reads_sealed_and_late_partitions_in_lsn_order(
    tmp_path: Path,
) -> None:
    with _open(tmp_path, segment_bytes=4096) as led:
        first = _append(led, 60, days=1)
        led.seal(led.partition_names()[0])
        late = _append(led, 30, start=60, days=1)  # same date: goes to <date>-late
        assert led.partition_names()[-1].endswith("-late")

        async def run() -> list[tuple[int, bytes]]:
            return await _take(follow(led, 0), len(first) + len(late))

        assert asyncio.run(run()) == first + late


def test_watch_cursors_resolve_to_lsns(tmp_path: Path) -> None:
    with _open(tmp_path) as led:
        day0 = led.append(T0_NS, SIGNAL, b"a")
        day2 = led.append(T0_NS + 2 * DAY, SIGNAL, b"b")
        day1 = led.append(T0_NS + DAY, SIGNAL, b"c")
        day1.commit.wait(TIMEOUT)
        assert watch.resolve_after(led, day2.position) == day2.lsn
        with pytest.raises(watch.PositionNotFoundError, match="no record"):
            watch.resolve_after(led, Position(day2.partition, 2))
        with pytest.raises(watch.PositionNotFoundError, match="no partition 1999-01-01"):
            watch.resolve_after(led, Position("1999-01-01", 1))
        # Since a time on day 1: day 0's partition is skipped; day 2's first record comes first.
        assert watch.start_since(led, T0_NS + DAY + 5 * NS) == day2.lsn - 1
        assert watch.start_since(led, T0_NS) == day0.lsn - 1
        # Nothing on or after that date yet: only what comes next.
        assert watch.start_since(led, T0_NS + 9 * DAY) == led.acked_lsn


@pytest.mark.parametrize(
    ("request_message", "fields"),
    [
        (
            service_pb2.WatchSignalsRequest(after=service_pb2.LedgerPosition()),
            ["after.partition", "after.sequence"],
        ),
        (
            service_pb2.WatchSignalsRequest(
                after=service_pb2.LedgerPosition(partition="today", sequence=3)
            ),
            ["after.partition"],
        ),
        (
            service_pb2.WatchSignalsRequest(categories=[1, 0, 99]),
            ["categories[1]", "categories[2]"],
        ),
        (service_pb2.WatchSignalsRequest(min_confidence=1.5), ["min_confidence"]),
        (service_pb2.WatchSignalsRequest(min_confidence=float("nan")), ["min_confidence"]),
        (
            service_pb2.WatchSignalsRequest(regions=["EUROPE", " ", "X" * 65]),
            ["regions[1]", "regions[2]"],
        ),
    ],
)
def test_malformed_watch_requests_name_each_bad_field(
    request_message: service_pb2.WatchSignalsRequest, fields: list[str]
) -> None:
    _, violations = watch.parse(request_message)
    assert [v.field for v in violations] == fields


def test_a_valid_watch_request_normalises_regions() -> None:
    parsed, violations = watch.parse(
        service_pb2.WatchSignalsRequest(categories=[4], min_confidence=0.5, regions=[" europe"])
    )
    assert violations == []
    assert parsed.regions == {"EUROPE"} and parsed.categories == {4}
    assert parsed.after is None and parsed.since_ns is None

"""Outbox delivery throughput to a webhook, vs a bare httpx POST loop of the same bodies.

What runs:

- the receiver: tests/webhook_receiver.py in its own process (stdlib ThreadingHTTPServer on
  127.0.0.1, HTTP/1.1 keep-alive, TCP_NODELAY, verifying each HMAC signature, not recording).
- the signals: N events put through the real pipeline into a throw-away fsync'd ledger first
  (every one emitted: ~1.3 KB of JSON each), not timed.
- baseline: one httpx.AsyncClient POSTing the same N bodies, with the same headers (signature
  computed per request), one at a time: the most any in-order, one-signal-per-request webhook
  publisher on httpx can do against this receiver.
- OMEN: the outbox dispatcher (omen.application.outbox.Outbox) with the WebhookPublisher, a
  LedgerFeed on the ledger and the real cursor files (each saved with fsync after every
  batch), from cursor 0 until the cursor reaches the last signal. Rows per batch_size.

Every cell runs --repeat times (fresh cursors each time), alternating baseline and OMEN; the
table shows the median signals/s, its spread (min..max), and OMEN / baseline.

Usage:
    python benchmarks/bench_delivery.py [--signals N] [--repeat R] [--batch-sizes 1,10,100]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from _common import ROOT, make_pipeline, print_table, red_sea_event  # first: ROOT on sys.path

from omen.adapters.ledger.ledger import Ledger, LedgerOptions
from omen.adapters.ledger.signals import LedgerSignalStore, signal_at
from omen.adapters.outbox.cursor_file import CursorFiles
from omen.adapters.outbox.deadletter import DeadLetterFiles
from omen.adapters.outbox.envelope import delivery_body
from omen.adapters.outbox.ledger_feed import LedgerFeed
from omen.adapters.publishers.webhook import WebhookPublisher, signature
from omen.adapters.repository.ledger_index import LedgerIndexedRepository
from omen.adapters.ruleset_file import load_ruleset
from omen.application.outbox import DeliveryPolicy, Outbox
from omen.application.process import ProcessEvents
from omen.config import PublisherSettings
from omen.domain.signals import Outcome

RECEIVER = ROOT / "tests" / "webhook_receiver.py"
SECRET = "bench-secret-0123456789"


def start_receiver() -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, str(RECEIVER), "--secret", SECRET],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line: list[str] = []
    reader = threading.Thread(target=lambda: line.append(proc.stdout.readline()), daemon=True)
    reader.start()
    reader.join(20)
    if not line or not line[0].startswith("listening on"):
        proc.kill()
        raise SystemExit(f"bench_delivery: the webhook receiver did not start: {line}")
    port = int(line[0].strip().rsplit(":", 1)[1])
    return proc, f"http://127.0.0.1:{port}/hooks/omen"


def fill_ledger(root: Path, count: int) -> Ledger:
    ledger = Ledger.open(root, LedgerOptions(seal_grace_s=None))
    pipeline = make_pipeline(load_ruleset(), LedgerIndexedRepository(signal_at(ledger)))
    use_case = ProcessEvents(pipeline, LedgerSignalStore(ledger))

    async def run() -> int:
        emitted = 0
        for i in range(count):
            result = await use_case.process(red_sea_event(i, market=i))
            emitted += result.outcome is Outcome.EMITTED
        return emitted

    emitted = asyncio.run(run())
    if emitted != count:
        raise SystemExit(f"bench_delivery: expected {count} signals, got {emitted}")
    return ledger


def settings(url: str, batch_size: int) -> PublisherSettings:
    return PublisherSettings(
        name="bench", kind="webhook", url=url, secret=SECRET, batch_size=batch_size
    )


async def baseline(url: str, bodies: list[tuple[str, bytes]]) -> float:
    secret = SECRET.encode()
    async with httpx.AsyncClient(timeout=10) as client:
        started = time.perf_counter()
        for signal_id, body in bodies:
            timestamp = str(int(time.time()))
            response = await client.post(
                url,
                content=body,
                headers={
                    "Content-Type": "application/json",
                    "Idempotency-Key": signal_id,
                    "X-Omen-Timestamp": timestamp,
                    "X-Omen-Signature": signature(secret, timestamp, body),
                },
            )
            if response.status_code != 200:
                raise SystemExit(f"bench_delivery: the receiver answered {response.status_code}")
        return len(bodies) / (time.perf_counter() - started)


async def omen(ledger: Ledger, url: str, batch_size: int, outbox_dir: Path, count: int) -> float:
    publisher = WebhookPublisher(settings(url, batch_size))
    cursors = CursorFiles(outbox_dir)
    outbox = Outbox(
        LedgerFeed(ledger),
        cursors,
        DeadLetterFiles(outbox_dir),
        [(publisher, DeliveryPolicy(batch_size=batch_size))],
    )
    outbox.load_cursors()
    target = ledger.acked_lsn
    started = time.perf_counter()
    await outbox.start()
    while cursors.load("bench") < target:
        await asyncio.sleep(0.002)
    elapsed = time.perf_counter() - started
    [status] = outbox.statuses()
    await outbox.stop()
    if status.delivered != count or status.retries or status.dead_lettered:
        raise SystemExit(f"bench_delivery: delivery went wrong: {status}")
    return count / elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--signals", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--batch-sizes", default="1,10,100")
    args = parser.parse_args()
    batch_sizes = [int(x) for x in args.batch_sizes.split(",")]
    with tempfile.TemporaryDirectory(prefix="omen-bench-delivery-") as tmp:
        receiver, url = start_receiver()
        try:
            ledger = fill_ledger(Path(tmp) / "ledger", args.signals)
            feed = LedgerFeed(ledger)
            deliveries = list(feed.read_after(0, args.signals).deliveries)
            bodies = [(d.signal.signal_id, delivery_body(d)) for d in deliveries]
            results: dict[str, list[float]] = {"baseline": []}
            for size in batch_sizes:
                results[f"omen b={size}"] = []
            for r in range(args.repeat):
                results["baseline"].append(asyncio.run(baseline(url, bodies)))
                for size in batch_sizes:
                    outbox_dir = Path(tmp) / f"outbox-{size}-{r}"
                    rate = asyncio.run(omen(ledger, url, size, outbox_dir, len(bodies)))
                    results[f"omen b={size}"].append(rate)
            ledger.close()
        finally:
            receiver.terminate()
            receiver.wait(10)
    mean_body = sum(len(b) for _, b in bodies) / len(bodies)
    print(
        f"bench_delivery: {args.signals} signals (~{mean_body / 1024:.1f} KiB JSON each) to a "
        f"webhook receiver in its own process on 127.0.0.1, one POST per signal, in order; "
        f"median of {args.repeat} runs; {os.cpu_count()} CPUs"
    )
    base = statistics.median(results["baseline"])
    header = ("variant", "signals/s (median)", "min..max", "vs baseline")
    rows = []
    for name, rates in results.items():
        label = (
            "baseline: httpx POST loop, same bodies + headers"
            if name == "baseline"
            else f"OMEN outbox, webhook publisher, batch_size={name.split('=')[1]}"
        )
        median = statistics.median(rates)
        rows.append(
            (
                label,
                f"{median:,.0f}",
                f"{min(rates):,.0f}..{max(rates):,.0f}",
                f"{median / base:.2f}",
            )
        )
    print_table(header, rows, left=range(len(header)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""In-process pipeline throughput on one core over a mixed, realistic corpus, with a per-stage
breakdown (native and twin rows for the compiled stages: hashing, tokenising + matching,
geography, the rules, classification, confidence + signal building).

The corpus mixes what a Polymarket feed carries: relevant logistics markets (chokepoints,
ports, sanctions, energy, labour, weather) that are emitted, and markets every rule can reject
(off-topic sports and entertainment, thin liquidity, no logistics geography, extreme or jumpy
probabilities, resolved markets), plus the recorded Polymarket fixtures mapped by the source
adapter, and ~10% re-observations that are duplicates. Each repetition uses a fresh pipeline
(empty index and market statistics) so every repetition does the same work.

The compiled matcher and decider keep results for texts they saw recently (a feed observes each
market again and again with the same question); rows marked "new texts" give every event a text
of its own, so they show what a market seen for the first time costs.

Usage: python benchmarks/bench_pipeline.py [--events N] [--repeat R] [--cpu K]
"""

from __future__ import annotations

import argparse
import json
import platform
import random
from collections import Counter
from collections.abc import Callable
from typing import Any

from _common import ROOT, make_pipeline, median_time, pin_cpu  # first: puts ROOT on sys.path

from omen import native
from omen._native import decision_py, hashing_py, textmatch_py
from omen.adapters.repository.memory import InMemorySignalRepository
from omen.adapters.ruleset_file import load_ruleset
from omen.adapters.sources.polymarket import market_to_event
from omen.application.pipeline import Pipeline, market_key
from omen.bootstrap import tune_gc
from omen.config import Settings
from omen.domain.events import Location, MarketState, Movement, RawEvent
from omen.domain.geography import lexicon_entries as place_terms
from omen.domain.semantic import irregular_forms
from omen.domain.semantic import lexicon_entries as topic_terms
from omen.domain.signals import Outcome

NS = 1_000_000_000
T0 = 1_795_000_000 * NS
DAY = 86_400 * NS
ORIGINAL_DESIGN_EVENTS_PER_S = 540  # the design this project grew from, as measured

RELEVANT = [
    (
        "Will shipping through the Red Sea be disrupted by Houthi attacks in {m}?",
        "Resolves YES if at least two of the five largest container lines suspend Red Sea transits "
        "because of attacks on merchant vessels near Bab el-Mandeb before the end of {m}.",
        (15.5, 42.0, "Red Sea", "YE"),
    ),
    (
        "Will Iran close the Strait of Hormuz to oil tankers before {m}?",
        "This market resolves YES if Iran announces or enforces a closure of the Strait of Hormuz "
        "to commercial tanker traffic. Partial inspections or harassment do not count.",
        (26.6, 56.3, "Strait of Hormuz", "IR"),
    ),
    (
        "Will the Panama Canal restrict daily transits due to drought in {m}?",
        "Resolves YES if the Panama Canal Authority cuts the number of daily transit slots below "
        "30 because of low water levels in Gatun Lake during {m}.",
        (9.1, -79.7, "Panama Canal", "PA"),
    ),
    (
        "Will US dockworkers strike at East Coast and Gulf Coast ports in {m}?",
        "Resolves YES if the International Longshoremen's Association begins a strike affecting "
        "container terminals from Maine to Texas, including Savannah and Houston.",
        (29.7, -95.0, "Port of Houston", "US"),
    ),
    (
        "Will the EU impose new sanctions on Russian oil exports by {m}?",
        "Resolves YES if the Council of the European Union adopts a sanctions package that "
        "lowers the price cap or bans seaborne crude from Russia before the end of {m}.",
        (59.9, 30.3, "Primorsk", "RU"),
    ),
    (
        "Will a typhoon force the Port of Shanghai to suspend operations in {m}?",
        "Resolves YES if the Shanghai International Port Group suspends container terminal "
        "operations for at least 24 hours because of a typhoon warning in {m}.",
        (31.2, 121.5, "Port of Shanghai", "CN"),
    ),
    (
        "Will China announce a naval blockade of Taiwan before {m}?",
        "This market resolves YES if the People's Liberation Army Navy enforces a blockade of "
        "Taiwanese ports or the Taiwan Strait, as reported by major news outlets.",
        (24.5, 119.5, "Taiwan Strait", "TW"),
    ),
    (
        "Will the US raise tariffs on semiconductor imports from China in {m}?",
        "Resolves YES if the United States government announces higher tariffs or new export "
        "controls on chips and semiconductor equipment trade with China in {m}.",
        None,
    ),
]
OFF_TOPIC = [
    "Will the Lakers win the NBA championship in {m}?",
    "Will Taylor Swift release a new album before {m}?",
    "Who will win the Oscar for Best Picture in {m}?",
    "Will Real Madrid win the Champions League final in {m}?",
]
NO_GEOGRAPHY = [
    "Will it rain in Paris on the first day of {m}?",
    "Will a new smartphone ship with a foldable screen in {m}?",
]
MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]


def corpus(n: int, seed: int = 7) -> list[RawEvent]:
    rng = random.Random(seed)
    fixtures = []
    for name in ("gamma_markets_page.json", "gamma_events_page.json"):
        data = json.loads((ROOT / "tests" / "fixtures" / "polymarket" / name).read_text())
        markets = data if "markets" not in data[0] else [m for e in data for m in e["markets"]]
        fixtures += [m for m in markets if m.get("outcomePrices")]
    events: list[RawEvent] = []
    levels: dict[int, float] = {}
    for i in range(n):
        month = MONTHS[i % 12]
        kind = rng.random()
        observed = T0 + i * NS
        if kind < 0.10 and events:  # a re-observation of an earlier event: a duplicate
            earlier = events[rng.randrange(len(events))]
            events.append(RawEvent(**{**_fields(earlier), "observed_at_ns": observed}))
            continue
        if kind < 0.15:
            events.append(market_to_event(fixtures[i % len(fixtures)], observed))
            continue
        # 400 markets, each a steady random walk (real markets drift; jumps are the anomaly).
        market = i % 400
        last = levels.get(market, rng.uniform(0.1, 0.9))
        p = round(min(0.92, max(0.08, last + rng.gauss(0.0, 0.01))), 4)
        levels[market] = p
        base: dict[str, Any] = dict(
            event_id=f"pm-{i}",
            source="polymarket",
            market_id=f"m-{market}",
            probability=p,
            observed_at_ns=observed,
            movement=Movement(last, round(p - last, 10), 24.0) if 0 <= last <= 1 else None,
            liquidity_usd=round(rng.uniform(20_000, 900_000), 2),
            volume_usd=round(rng.uniform(50_000, 5_000_000), 2),
            num_traders=rng.randrange(40, 4000),
            keywords=("geopolitics", "shipping"),
            market_url=f"https://polymarket.com/event/e-{i}",
            created_at_ns=observed - 40 * DAY,
            resolution_date_ns=observed + rng.randrange(3, 300) * DAY,
            source_metrics=(("best_ask", p + 0.005), ("best_bid", p - 0.005), ("spread", 0.01)),
            market_state=MarketState.OPEN,
            outcome_prices=(p, round(1 - p, 4)),
        )
        template = market % 16  # a market keeps its question
        if template < 11:
            title, description, loc = RELEVANT[template % len(RELEVANT)]
            base.update(
                title=title.format(m=month),
                description=description.format(m=month),
                locations=(Location(*loc),) if loc else (),
            )
            roll = rng.random()
            if roll < 0.05:
                base.update(liquidity_usd=400.0)  # thin
            elif roll < 0.08:
                base.update(probability=0.985, movement=None, outcome_prices=(0.985, 0.015))
            elif roll < 0.10:
                base.update(
                    market_state=MarketState.RESOLVED,
                    outcome_prices=(1.0, 0.0),
                    probability=1.0,
                    movement=None,
                )
        elif kind < 0.85:
            base.update(
                title=OFF_TOPIC[i % len(OFF_TOPIC)].format(m=month),
                description="Resolves according to the official league or academy results.",
            )
        else:
            base.update(
                title=NO_GEOGRAPHY[i % len(NO_GEOGRAPHY)].format(m=month),
                description="Resolves YES based on widely reported sources.",
            )
        events.append(RawEvent(**base))
    return events


def unique_texts(events: list[RawEvent]) -> list[RawEvent]:
    """The corpus with every event's title made its own ("... (#pm-17)"); an event observed
    again keeps its id, so it stays a duplicate of the first observation."""
    return [RawEvent(**{**_fields(e), "title": f"{e.title} (#{e.event_id})"}) for e in events]


def matcher_terms(ruleset: Any) -> tuple[list[tuple[str, object]], dict[str, str]]:
    """The (term, payload) entries and irregular forms a pipeline builds its matcher from."""
    return (
        [*topic_terms(ruleset.semantic), *place_terms(ruleset.geographic)],
        irregular_forms(ruleset.semantic),
    )


def _fields(event: RawEvent) -> dict[str, Any]:
    return {name: getattr(event, name) for name in RawEvent.__dataclass_fields__}


def new_pipeline(
    ruleset: Any,
    hasher: Callable[[RawEvent], str],
    text_matcher: Any = native.TextAnalyzer,
    decider: Any = native.Decider,
) -> Pipeline:
    """A fresh pipeline (empty in-memory index and statistics), compiled stages by default."""
    return make_pipeline(
        ruleset, InMemorySignalRepository(), hasher, text_matcher=text_matcher, decider=decider
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--cpu", type=int, default=None, help="pin to this CPU (default: last)")
    args = parser.parse_args()
    cpu = pin_cpu(args.cpu)

    ruleset = load_ruleset()
    events = corpus(args.events)
    n = len(events)
    # The same collector tuning `omen serve` applies after start-up (omen.bootstrap.tune_gc).
    tune_gc(Settings().gc_threshold0)

    def run(
        hasher: Callable[[RawEvent], str],
        text_matcher: Any = native.TextAnalyzer,
        decider: Any = native.Decider,
        stream: list[RawEvent] = events,
    ) -> Counter[Outcome]:
        pipeline = new_pipeline(ruleset, hasher, text_matcher, decider)
        return Counter(pipeline.process(e).outcome for e in stream)

    outcomes = run(native.event_hash)
    whole = median_time(lambda: run(native.event_hash), args.repeat)
    whole_twin = median_time(lambda: run(hashing_py.event_hash), args.repeat)
    whole_twins = median_time(
        lambda: run(hashing_py.event_hash, textmatch_py.TextAnalyzer, decision_py.Decider),
        args.repeat,
    )

    # The compiled matcher and decider keep the results of texts they saw recently, and the
    # corpus, like a feed, observes each market again and again: the same whole pipeline over
    # a corpus whose every event has a text of its own shows what a first sighting costs.
    fresh = unique_texts(events)
    whole_fresh = median_time(lambda: run(native.event_hash, stream=fresh), args.repeat)

    # Per-stage: replay the stages one at a time over the same corpus, each on inputs
    # prepared by the earlier stages, so each number is that stage's own cost.
    pipeline = new_pipeline(ruleset, native.event_hash)
    stats = pipeline._statistics
    twin_analyzer = new_pipeline(ruleset, native.event_hash, textmatch_py.TextAnalyzer)._analyzer
    hashes = native.event_hashes(events)

    def stage_rows(
        name: str, stream: list[RawEvent], analyzer: Any, decider: Any
    ) -> list[tuple[str, int, Callable[[], Any]]]:
        texts = [analyzer.analyze(e) for e in stream]
        contexts = [pipeline.analyze(e) for e in stream]
        decided = [decider.evaluate(c) for c in contexts]
        accepted = [
            (c, r) for c, (r, failure) in zip(contexts, decided, strict=True) if failure is None
        ]
        classes = [decider.classify(c.text, bool(c.geo.chokepoints)) for c, _ in accepted]
        return [
            (f"tokenise + match ({name})", n, lambda: [analyzer.analyze(e) for e in stream]),
            (
                f"geography ({name})",
                n,
                lambda: [decider.locate(e, t) for e, t in zip(stream, texts, strict=True)],
            ),
            (f"rules, all 5 ({name})", n, lambda: [decider.evaluate(c) for c in contexts]),
            (
                f"classify ({name})",
                len(accepted),
                lambda: [decider.classify(c.text, bool(c.geo.chokepoints)) for c, _ in accepted],
            ),
            (
                f"confidence + signal ({name})",
                len(accepted),
                lambda: [
                    decider.build_signal(c, h, r, cl)
                    for (c, r), cl, h in zip(accepted, classes, hashes, strict=False)
                ],
            ),
        ]

    stage_fns: list[tuple[str, int, Callable[[], Any]]] = [
        ("hash (native)", n, lambda: [native.event_hash(e) for e in events]),
        ("hash (twin)", n, lambda: [hashing_py.event_hash(e) for e in events]),
        (
            "history observe",
            n,
            lambda: [stats.observe(market_key(e), e.probability) for e in events],
        ),
        *stage_rows("native", events, pipeline._analyzer, native.Decider(ruleset)),
        *stage_rows(
            "native, new texts",
            fresh,
            native.TextAnalyzer(*matcher_terms(ruleset)),
            native.Decider(ruleset),
        ),
        *stage_rows("twin", events, twin_analyzer, decision_py.Decider(ruleset)),
    ]
    print(f"bench_pipeline: in-process Pipeline.process on one core (CPU {cpu})")
    print(
        f"  python {platform.python_version()}, "
        f"native hot path: {native.IS_NATIVE} ({native.NATIVE_STATUS})"
    )
    print(
        f"  corpus: {n} events; outcomes per pass: "
        + ", ".join(f"{o.name.lower()} {outcomes[o]}" for o in Outcome if outcomes[o])
    )
    print(f"  median of {args.repeat} passes, fresh pipeline per pass\n")
    rows = [
        ("whole pipeline, all native", n / whole, 1e6 * whole / n),
        ("whole pipeline, all native, new texts", n / whole_fresh, 1e6 * whole_fresh / n),
        ("whole pipeline, twin hashing", n / whole_twin, 1e6 * whole_twin / n),
        ("whole pipeline, all twins", n / whole_twins, 1e6 * whole_twins / n),
        (
            "original design (reported)",
            float(ORIGINAL_DESIGN_EVENTS_PER_S),
            1e6 / ORIGINAL_DESIGN_EVENTS_PER_S,
        ),
    ]
    print(f"{'measure':40} | {'events/s':>10} | {'us/event':>8} | {'vs original':>11}")
    print("-" * 41 + "+" + "-" * 12 + "+" + "-" * 10 + "+" + "-" * 12)
    for name, rate, us in rows:
        print(
            f"{name:40} | {rate:10,.0f} | {us:8.2f} | {rate / ORIGINAL_DESIGN_EVENTS_PER_S:10.0f}x"
        )
    print(f"\n{'stage':40} | {'items':>10} | {'us/item':>8} | {'us/event':>11}")
    print("-" * 41 + "+" + "-" * 12 + "+" + "-" * 10 + "+" + "-" * 12)
    for name, items, fn in stage_fns:
        t = median_time(fn, args.repeat)
        print(f"{name:40} | {items:10,} | {1e6 * t / items:8.2f} | {1e6 * t / n:11.2f}")
    print(
        "\nus/event spreads a stage's cost over every event (classify and signal building run only"
    )
    print("for accepted events); the rest of the whole-pipeline time is the duplicate index,")
    print("result objects and the store. Rows marked 'new texts' run over the same corpus with a")
    print("text of its own for every event, so no text analysis is ever found among those kept")
    print("for a market observed again (semantic results and classifications are kept by the")
    print("terms matched, which new texts still share).")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

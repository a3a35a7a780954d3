"""Benchmark of the pooled actor runtime against one pykka ThreadingActor per actor.

Run: `.venv/bin/python -m multiraft.bench.bench_runtime [--seconds 5]`. Each scenario runs in a fresh
subprocess so RSS and thread counts are its own. Writes bench/results/runtime.json and
prints a table.

- tick: N actors each told a tick every 100 ms for `--seconds`, as the Timer actor will
  tick replicas: CPU % of one core (process_time over wall time, the ticking thread
  included), round latency (first tell of a round to the last actor handling it) median
  and p99, time to send a round, RSS after spawning (total and growth per actor).
- throughput: tells/s into one actor, and spread over 10,000 actors, until all handled.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pykka

from multiraft.actors.runtime import PooledActor, PooledRuntime, ThreadPoolScheduler

TICK_INTERVAL = 0.1
RESULTS = Path(__file__).parent / "results" / "runtime.json"


@dataclass(slots=True)
class TickResult:
    """One tick scenario: `actors` actors of `kind`, ticked every 100 ms."""

    kind: str
    actors: int
    workers: int
    rounds: int
    cpu_percent: float
    latency_median_ms: float
    latency_p99_ms: float
    send_median_ms: float
    rss_mb: float
    rss_per_actor_kb: float
    threads: int


@dataclass(slots=True)
class ThroughputResult:
    """Tells per second into `actors` actors until every message was handled."""

    kind: str
    actors: int
    messages: int
    messages_per_s: float


class PooledTicked(PooledActor):
    """Handles a tick by stamping the time into the round's shared list."""

    def on_receive(self, message: Any) -> None:
        message.append(time.perf_counter())


class PykkaTicked(pykka.ThreadingActor):
    """The same handler as a thread-per-actor pykka actor."""

    def on_receive(self, message: Any) -> None:
        message.append(time.perf_counter())


class PooledCounter(PooledActor):
    """Counts messages; answers an ask with the count."""

    def __init__(self) -> None:
        self.count = 0

    def on_receive(self, message: Any) -> int:
        self.count += 1
        return self.count


class PykkaCounter(pykka.ThreadingActor):
    """The same counter as a pykka actor."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def on_receive(self, message: Any) -> int:
        self.count += 1
        return self.count


def rss_mb() -> float:
    """Resident set size of this process in MiB."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def percentile(values: list[float], fraction: float) -> float:
    """The value below which `fraction` of `values` fall (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def tick(kind: str, actors: int, workers: int, seconds: float) -> TickResult:
    """Tick `actors` actors every 100 ms for `seconds`; measure CPU, latency, RSS."""
    baseline = rss_mb()
    runtime = PooledRuntime(ThreadPoolScheduler(workers=workers)).start()
    if kind == "pooled":
        refs: list[Any] = [runtime.spawn(PooledTicked) for _ in range(actors)]
    else:
        refs = [PykkaTicked.start() for _ in range(actors)]
    for ref in refs:
        ref.ask([])  # every actor started and idle
    memory = rss_mb()
    threads = threading.active_count()

    rounds: list[tuple[float, list[float]]] = []
    sends: list[float] = []
    wall0, cpu0 = time.perf_counter(), time.process_time()
    deadline = wall0 + seconds
    next_round = wall0
    while next_round < deadline:
        time.sleep(max(0.0, next_round - time.perf_counter()))
        stamps: list[float] = []
        start = time.perf_counter()
        for ref in refs:
            ref.tell(stamps)
        sends.append(time.perf_counter() - start)
        rounds.append((start, stamps))
        next_round += TICK_INTERVAL
    pykka.get_all([ref.ask([], block=False) for ref in refs], timeout=60)
    cpu = (time.process_time() - cpu0) / (time.perf_counter() - wall0) * 100

    latencies = [(max(stamps) - start) * 1000 for start, stamps in rounds]
    assert all(len(stamps) == actors for _, stamps in rounds)
    runtime.stop(timeout=30)
    pykka.ActorRegistry.stop_all(timeout=60)
    return TickResult(
        kind=kind,
        actors=actors,
        workers=workers if kind == "pooled" else actors,
        rounds=len(rounds),
        cpu_percent=round(cpu, 1),
        latency_median_ms=round(statistics.median(latencies), 2),
        latency_p99_ms=round(percentile(latencies, 0.99), 2),
        send_median_ms=round(statistics.median(sends) * 1000, 2),
        rss_mb=round(memory, 1),
        rss_per_actor_kb=round((memory - baseline) * 1024 / actors, 2),
        threads=threads,
    )


def throughput(kind: str, actors: int, messages: int) -> ThroughputResult:
    """Tell `messages` messages round-robin to `actors` actors; time until all are handled."""
    runtime = PooledRuntime().start()
    if kind == "pooled":
        refs: list[Any] = [runtime.spawn(PooledCounter) for _ in range(actors)]
    else:
        refs = [PykkaCounter.start() for _ in range(actors)]
    for ref in refs:
        ref.ask("warm")
    per_actor = messages // actors
    start = time.perf_counter()
    for _ in range(per_actor):
        for ref in refs:
            ref.tell("m")
    counts = pykka.get_all([ref.ask("last", block=False) for ref in refs], timeout=120)
    elapsed = time.perf_counter() - start
    assert sum(counts) == actors * (per_actor + 2)
    runtime.stop(timeout=30)
    pykka.ActorRegistry.stop_all(timeout=60)
    return ThroughputResult(kind, actors, per_actor * actors, round(per_actor * actors / elapsed))


SCENARIOS: dict[str, tuple[str, dict[str, Any]]] = {
    "tick-pooled-10000-w1": ("tick", {"kind": "pooled", "actors": 10_000, "workers": 1}),
    "tick-pooled-10000-w2": ("tick", {"kind": "pooled", "actors": 10_000, "workers": 2}),
    "tick-pooled-1000-w1": ("tick", {"kind": "pooled", "actors": 1_000, "workers": 1}),
    "tick-pykka-1000": ("tick", {"kind": "pykka", "actors": 1_000, "workers": 1}),
    "tell-pooled-1": ("throughput", {"kind": "pooled", "actors": 1, "messages": 300_000}),
    "tell-pykka-1": ("throughput", {"kind": "pykka", "actors": 1, "messages": 300_000}),
    "tell-pooled-10000": ("throughput", {"kind": "pooled", "actors": 10_000, "messages": 300_000}),
    "tell-pykka-1000": ("throughput", {"kind": "pykka", "actors": 1_000, "messages": 300_000}),
}


def run_scenario(name: str, seconds: float) -> dict[str, Any]:
    """Run one scenario in this process and return its result as a dict."""
    function, params = SCENARIOS[name]
    if function == "tick":
        return asdict(tick(seconds=seconds, **params))
    return asdict(throughput(**params))


def main() -> None:
    """Run every scenario in its own subprocess, then write JSON and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="tick phase duration")
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), help="run one, print JSON")
    args = parser.parse_args()
    if args.scenario:
        print(json.dumps(run_scenario(args.scenario, args.seconds)))
        return

    results: dict[str, dict[str, Any]] = {}
    for name in SCENARIOS:
        command = [sys.executable, "-m", "multiraft.bench.bench_runtime", "--scenario", name,
                   "--seconds", str(args.seconds)]
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        results[name] = json.loads(output.splitlines()[-1])
        print(f"{name:24} {results[name]}", flush=True)

    pooled, threaded = results["tick-pooled-1000-w1"], results["tick-pykka-1000"]
    ratios = {
        "cpu_pykka_over_pooled_at_1000": round(threaded["cpu_percent"] / pooled["cpu_percent"], 2),
        "latency_median_pykka_over_pooled_at_1000": round(
            threaded["latency_median_ms"] / pooled["latency_median_ms"], 2
        ),
        "rss_pykka_over_pooled_at_1000": round(threaded["rss_mb"] / pooled["rss_mb"], 2),
        "tell_1_actor_pooled_over_pykka": round(
            results["tell-pooled-1"]["messages_per_s"] / results["tell-pykka-1"]["messages_per_s"], 2
        ),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0],
                    "pykka": importlib.metadata.version("pykka")},
        "tick_interval_s": TICK_INTERVAL,
        "tick_seconds": args.seconds,
        "results": results,
        "ratios": ratios,
    }
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")

    print()
    print(f"{'tick scenario':24} {'cpu %':>7} {'lat p50 ms':>11} {'lat p99 ms':>11} "
          f"{'send ms':>8} {'rss MB':>7} {'KB/actor':>9} {'threads':>8}")
    for name, row in results.items():
        if name.startswith("tick"):
            print(f"{name:24} {row['cpu_percent']:7.1f} {row['latency_median_ms']:11.2f} "
                  f"{row['latency_p99_ms']:11.2f} {row['send_median_ms']:8.2f} "
                  f"{row['rss_mb']:7.1f} {row['rss_per_actor_kb']:9.2f} {row['threads']:8d}")
    print(f"\n{'throughput scenario':24} {'msgs/s':>10}")
    for name, row in results.items():
        if name.startswith("tell"):
            print(f"{name:24} {row['messages_per_s']:10d}")
    print("\nratios:", json.dumps(ratios))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()

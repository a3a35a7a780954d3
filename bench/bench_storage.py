"""Storage benchmark: durable group commit, single-range appends, log truncation.

Run: ``.venv/bin/python -m multiraft.bench.bench_storage``.
Writes ``bench/results/storage.json`` and prints a table. Each figure is the median of several
rounds; every RocksDB round is paired with a raw append+fdatasync file round of the same bytes,
run right after it, because this disk's fsync rate swings a lot: read the ratios.
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypedDict

from multiraft.raft.types import Entry, HardState
from multiraft.storage import ReplicaStorage, RocksEngine
from multiraft.storage.write_batch import PUT, RecordedBatch

ROUNDS = 11
RANGES = 1000
ENTRY_DATA = b"x" * 64
RESULTS = Path(__file__).resolve().parent / "results" / "storage.json"

#: One round: ((RocksDB wall, RocksDB CPU), (raw file wall, raw file CPU)) seconds per op.
Round = tuple[tuple[float, float], tuple[float, float]]
#: One write benchmark's figures (see ``summarize``), and ``wal_bytes`` per operation.
Rates = dict[str, float]


class Truncation(TypedDict):
    entries: int
    ms: float


class RawFile:
    """The baseline: append the same number of bytes to a file and fdatasync."""

    def __init__(self, path: str) -> None:
        self._f = open(path, "ab", buffering=0)

    def write(self, blob: bytes) -> None:
        self._f.write(blob)
        os.fdatasync(self._f.fileno())

    def close(self) -> None:
        self._f.close()


def _varint_len(n: int) -> int:
    return max(1, (n.bit_length() + 6) // 7)


def wal_bytes(batches: list[RecordedBatch]) -> int:
    """What RocksDB appends to its WAL for these batches written as one: the WriteBatch header
    (12 bytes) and, per put, a tag byte and length-prefixed key and value. (Its WAL adds a 7-byte
    header per 32 KiB block on top: 0.02%, left out.) The raw file appends as many bytes."""
    n = 12
    for b in batches:
        for kind, k, v in b.ops:
            assert kind == PUT
            n += 1 + _varint_len(len(k)) + len(k) + _varint_len(len(v)) + len(v)
    return n


def timed(fn: Callable[[int], object], n: int) -> tuple[float, float]:
    """Wall and process CPU seconds (RocksDB's background threads included) per ``fn(i)`` call."""
    t, c = time.perf_counter(), time.process_time()
    for i in range(n):
        fn(i)
    return (time.perf_counter() - t) / n, (time.process_time() - c) / n


def group_commit(engine: RocksEngine, raw: RawFile, n: int, first_rid: int,
                 per_range: bool) -> Rates:
    """1,000 ranges x (1 entry + HardState), one fsync per group. ``per_range``: each range
    builds its own batch and the group goes through ``write_many``, as the storage writer does;
    otherwise the ranges share one batch (the issue's wording)."""
    logs = [ReplicaStorage(engine, rid) for rid in range(first_rid, first_rid + RANGES)]
    next_index = [1]

    def build() -> list[RecordedBatch]:
        i = next_index[0]
        next_index[0] = i + 1
        hs = HardState(term=1, vote=1, commit=i)
        ents = [Entry(1, i, data=ENTRY_DATA)]
        batches = [engine.batch() for _ in logs] if per_range else [engine.batch()] * len(logs)
        for log, b in zip(logs, batches):
            log.set_hard_state(b, hs)
            log.append(b, ents)
        return batches if per_range else batches[:1]

    def commit(_: int) -> None:
        engine.write_many(build(), sync=True)

    first = build()
    blob = b"r" * wal_bytes(first)
    engine.write_many(first, sync=True)
    rounds: list[Round] = []
    for _ in range(ROUNDS):
        rocks = timed(commit, n)
        base = timed(lambda _: raw.write(blob), n)
        rounds.append((rocks, base))
    out = summarize(rounds, entries_per_op=RANGES, op="batch")
    out["wal_bytes"] = len(blob)
    return out


def single_range(engine: RocksEngine, raw: RawFile, k: int, n: int, rid: int) -> Rates:
    log = ReplicaStorage(engine, rid)
    next_index = [1]

    def build() -> RecordedBatch:
        i = next_index[0]
        next_index[0] = i + k
        b = engine.batch()
        log.append(b, [Entry(1, i + j, data=ENTRY_DATA) for j in range(k)])
        log.set_hard_state(b, HardState(term=1, vote=1, commit=i))
        return b

    def append(_: int) -> None:
        engine.write(build(), sync=True)

    first = build()
    blob = b"r" * wal_bytes([first])
    engine.write(first, sync=True)
    rounds: list[Round] = []
    for _ in range(ROUNDS):
        rounds.append((timed(append, n), timed(lambda _: raw.write(blob), n)))
    out = summarize(rounds, entries_per_op=k, op="append")
    out["wal_bytes"] = len(blob)
    return out


def truncation(engine: RocksEngine) -> Truncation:
    times: list[float] = []
    for r in range(ROUNDS):
        log = ReplicaStorage(engine, 50_000 + r)
        b = engine.batch()
        log.append(b, [Entry(1, i, data=ENTRY_DATA) for i in range(1, 10_001)])
        engine.write(b)
        t = time.perf_counter()
        b = engine.batch()
        log.truncate(b, 10_000)
        engine.write(b, sync=True)
        times.append(time.perf_counter() - t)
        assert log.first_index() == 10_001
    return {"entries": 10_000, "ms": statistics.median(times) * 1e3}


def summarize(rounds: list[Round], entries_per_op: int, op: str) -> Rates:
    """Medians over rounds of ``((rocks wall, rocks cpu), (raw wall, raw cpu))`` per op; the ratio
    is the median of the per-round throughput ratios (each round's two halves run back to back)."""
    rocks = statistics.median(r for (r, _), _ in rounds)
    base = statistics.median(b for _, (b, _) in rounds)
    ratio = statistics.median(b / r for (r, _), (b, _) in rounds)
    return {f"{op}es_per_s" if op == "batch" else f"{op}s_per_s": 1 / rocks,
            "entries_per_s": entries_per_op / rocks, "ms_per_op": rocks * 1e3,
            "cpu_ms_per_op": statistics.median(c for (_, c), _ in rounds) * 1e3,
            "raw_ms_per_op": base * 1e3, "ratio_to_raw": ratio}


def main() -> None:
    with tempfile.TemporaryDirectory(dir=RESULTS.parent.parent) as tmp:
        engine = RocksEngine(os.path.join(tmp, "db"))
        raw = RawFile(os.path.join(tmp, "raw.log"))
        try:
            rates = {
                "group_commit_1000_ranges": group_commit(engine, raw, 30, 1, per_range=False),
                "group_commit_1000_batches": group_commit(engine, raw, 30, 20_001, per_range=True),
                "single_range_1": single_range(engine, raw, 1, 200, 10_001),
                "single_range_16": single_range(engine, raw, 16, 200, 10_002),
                "single_range_256": single_range(engine, raw, 256, 50, 10_003),
            }
            t = truncation(engine)
        finally:
            raw.close()
            engine.close()
    results: dict[str, Rates | Truncation | int] = {**rates, "truncate_10000": t, "rounds": ROUNDS}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"{'benchmark':28s} {'ops/s':>10s} {'entries/s':>11s} {'ms/op':>8s} {'cpu ms':>8s} "
          f"{'raw ms':>8s} {'x raw':>6s}")
    for name, r in rates.items():
        ops = r.get("batches_per_s", r.get("appends_per_s"))
        print(f"{name:28s} {ops:10.0f} {r['entries_per_s']:11.0f} {r['ms_per_op']:8.2f} "
              f"{r['cpu_ms_per_op']:8.2f} {r['raw_ms_per_op']:8.2f} {r['ratio_to_raw']:6.2f}")
    print(f"{'truncate_10000':28s} {'':10s} {'':11s} {t['ms']:8.2f}")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()

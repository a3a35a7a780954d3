"""How fast the whole-cluster simulation runs: simulated seconds per wall second.

Run: ``.venv/bin/python -m multiraft.bench.bench_sim [--seeds 10]``. Each profile runs
``--seeds`` seeds of a 3-node, 16-range cluster (``multiraft.sim``) and prints, as the median
over the seeds, simulated seconds per wall second, events per wall second and client operations
per simulated second. Writes bench/results/sim.json.

- idle: no client, no fault, no admin operation: elections, ticks, heartbeats, quiescence;
- light: one client thinking 100 ms between operations, no fault;
- ci: what CI's 500 seeds run (4 clients, nemesis, admin operations, 3,000 events);
- default: ``python -m multiraft.sim --seed S`` (20,000 events).
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any

from multiraft.sim import SimOptions, simulate

PROFILES: dict[str, dict[str, Any]] = {
    "idle": {"clients": 0, "faults": False, "admin": False, "events": 20_000},
    "light": {"clients": 1, "think": 0.1, "faults": False, "admin": False, "events": 20_000},
    "ci": {"events": 3_000},
    "default": {},
}


def measure(profile: str, seeds: int) -> dict[str, Any]:
    rows = []
    for seed in range(seeds):
        r = simulate(SimOptions(seed=seed, **PROFILES[profile]))
        if r.violations:
            raise RuntimeError(f"seed {seed} ({profile}): {r.violations}")
        rows.append({"speed": r.simulated_s / r.wall_s, "events_per_s": r.events / r.wall_s,
                     "ops_per_sim_s": r.ops / r.simulated_s, "wall_s": r.wall_s,
                     "simulated_s": r.simulated_s})
    return {"profile": profile, "seeds": seeds,
            **{k: round(statistics.median(row[k] for row in rows), 2) for k in rows[0]}}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--out", default="bench/results/sim.json")
    a = p.parse_args()
    results = [measure(name, a.seeds) for name in PROFILES]
    print("| profile | simulated s / wall s | events / wall s | client ops / simulated s |")
    print("|---|---|---|---|")
    for r in results:
        print(f"| {r['profile']} | {r['speed']:.0f} | {r['events_per_s']:.0f} | "
              f"{r['ops_per_sim_s']:.1f} |")
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()

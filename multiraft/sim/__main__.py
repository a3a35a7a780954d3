"""``python -m multiraft.sim``: run or replay seeds of the whole-cluster simulation.

    python -m multiraft.sim --seed S [--events N] [--nodes N] [--ranges N]
    python -m multiraft.sim --seeds A:B [...]
    python -m multiraft.sim --seed S --mutation NAME    (a known bug re-introduced)

Each seed prints one JSON line: ``{"seed": S, "events": int, "simulated_s": float, "ops": int,
"trace_hash": str, "violations": [str, ...]}``. The exit status is 0 when no seed had a
violation, 1 when one did, 2 for a usage error. The same seed (and options) gives the same
``trace_hash`` in every run: a failure replays from its seed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys

from .mutations import MUTATIONS, applied
from .run import SimOptions, simulate


def _seeds(text: str) -> range:
    a, sep, b = text.partition(":")
    try:
        lo, hi = int(a), int(b)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected A:B (integers), got {text!r}") from None
    if not sep or hi <= lo or lo < 0:
        raise argparse.ArgumentTypeError(f"expected A:B with 0 <= A < B, got {text!r}")
    return range(lo, hi)


def _positive(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if n <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return n


def _parser() -> argparse.ArgumentParser:
    d = SimOptions(seed=0)  # the defaults
    p = argparse.ArgumentParser(prog="python -m multiraft.sim", description=(
        "Run the real actor-design nodes on one seeded thread with a simulated network, disk "
        "and clock; print one JSON line per seed; exit 1 if any seed found a violation."))
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--seed", type=int, help="run (or replay) this seed")
    which.add_argument("--seeds", type=_seeds, metavar="A:B", help="run seeds A to B-1")
    p.add_argument("--events", type=_positive, default=d.events,
                   help="events to run under load and faults (default %(default)s)")
    p.add_argument("--nodes", type=_positive, default=d.nodes,
                   help="nodes (default %(default)s)")
    p.add_argument("--ranges", type=_positive, default=d.ranges,
                   help="ranges at bootstrap (default %(default)s)")
    p.add_argument("--clients", type=_positive, default=d.clients,
                   help="concurrent clients (default %(default)s)")
    p.add_argument("--no-faults", action="store_true",
                   help="no nemesis: no crash, partition, lossy link or failed fsync")
    p.add_argument("--mutation", choices=sorted(MUTATIONS),
                   help="re-introduce this known bug into the node's code (it must be caught)")
    return p


def main(argv: list[str] | None = None) -> int:
    a = _parser().parse_args(argv)
    seeds = [a.seed] if a.seed is not None else list(a.seeds)
    failed = False
    with applied(MUTATIONS[a.mutation]) if a.mutation else contextlib.nullcontext():
        for seed in seeds:
            r = simulate(SimOptions(seed=seed, events=a.events, nodes=a.nodes, ranges=a.ranges,
                                    clients=a.clients, faults=not a.no_faults))
            print(json.dumps(r.as_json()), flush=True)
            failed = failed or bool(r.violations)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

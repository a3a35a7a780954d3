"""Whole-cluster deterministic simulation: the real actors on virtual time.

``simulate(SimOptions(seed=S))`` runs N real nodes of the actor design in this process on one
seeded thread of control (``World``): simulated network, disk and clock, crashes and restarts,
clients whose history is checked for linearizability, invariants checked after every event.
The same seed gives the same run (``trace_hash``). ``python -m multiraft.sim --seed S``
replays one; see ``multiraft.sim.__main__`` for the command line.
"""

from .run import SimOptions, SimResult, simulate

__all__ = ["SimOptions", "SimResult", "simulate"]

"""The nemesis: faults on a live cluster, in alternating fault and heal periods.

Faults (``NEMESES``), one at a time, each on randomly chosen nodes:

- ``partition``: iptables rules (``multiraft.check.iptables``) cut a random pair of nodes one
  way (one node's messages to the other are lost) or both ways, or split the nodes into a
  majority and a minority that cannot reach each other; healed by removing the rules;
- ``kill``: SIGKILL a node (a crash: nothing flushed); healed by starting it again on its data;
- ``pause``: SIGSTOP a node (a long GC pause, a stalled VM); healed by SIGCONT;
- ``split``: split the range of a key the clients are using at that key (through the cluster's
  client protocol, while the clients run); nothing to heal: the key space stays divided;
- ``move``: move a replica of the range of a key the clients are using: to a node that holds
  none, else (every node holds one) off a follower's node and back onto it, a new replica id
  (through the cluster's client protocol); nothing to heal.

The schedule (``schedule``): a short warm-up without faults, then cycles of one fault period
and one heal period, the nemeses taken in turn (so each requested one runs at least once, even
when that takes longer than asked), then a final heal, after which every node must answer
again, and a final phase without faults in which the clients run on. A heal period lasts at
least its planned time and until every node answers (at most ``SERVE_TIMEOUT``). At each heal
a node that died without the nemesis killing it (a bug: e.g. it aborted on SIGCONT) is noted as
an incident, with how it ended, and started again.
"""

from __future__ import annotations

import itertools
import random
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .iptables import Endpoint, Firewall, FirewallError, isolate, one_way, two_way
from .processes import NodeProcesses, ProcessError

__all__ = ["NEMESES", "NOT_YET", "parse_nemeses", "Schedule", "schedule", "Nemesis",
           "NemesisError", "SERVE_TIMEOUT"]

NEMESES = ("partition", "kill", "pause", "split", "move")
#: nemeses still to come: name -> what they come with (a usage error until then)
NOT_YET: dict[str, str] = {}
#: how long a heal waits for every node to answer again
SERVE_TIMEOUT = 30.0


class NemesisError(Exception):
    """A fault could not be applied or healed."""


def parse_nemeses(text: str) -> list[str]:
    """``"partition,kill"`` -> ``["partition", "kill"]``; ``"none"`` or ``""`` -> ``[]``;
    ValueError for a name that is not a nemesis (yet)."""
    names: list[str] = []
    for name in (n.strip() for n in text.split(",")):
        if name in ("", "none"):
            continue
        if name in NOT_YET:
            raise ValueError(f"nemesis {name!r} does not exist yet: it comes with "
                             f"{NOT_YET[name]}")
        if name not in NEMESES:
            raise ValueError(f"unknown nemesis {name!r} (choose from {', '.join(NEMESES)}, "
                             f"or none)")
        if name not in names:
            names.append(name)
    return names


@dataclass(frozen=True, slots=True)
class Schedule:
    """Seconds: ``warmup``; then cycles of ``fault`` + ``heal`` while a cycle still ends
    before ``faults_until`` (and until every nemesis ran once); then the ``final`` phase."""

    warmup: float
    fault: float
    heal: float
    faults_until: float
    final: float

    @property
    def cycle(self) -> float:
        return self.fault + self.heal


def schedule(seconds: float, nemeses: int) -> Schedule:
    """The plan of a run of about ``seconds``: cycles of about 6 s (at least 2 s; 60% fault,
    40% heal), at least one per nemesis; the final phase 15% of the run (2 to 10 s)."""
    warmup = min(1.0, 0.1 * seconds)
    final = min(10.0, max(2.0, 0.15 * seconds))
    faults_until = max(warmup, seconds - final)
    avail = faults_until - warmup
    cycles = max(round(avail / 6.0), nemeses, 1)
    cycle = max(2.0, avail / cycles)
    return Schedule(warmup, 0.6 * cycle, 0.4 * cycle, faults_until, final)


@dataclass(slots=True)
class _Fault:
    nemesis: str
    detail: str
    nodes: list[int] = field(default_factory=list)


class Nemesis:
    """Applies and heals faults on nodes ``ids``; ``events`` is what it did, ``incidents`` what
    went wrong in the cluster (nodes that died by themselves, nodes that did not come back).

    ``nodes`` (the processes) is needed for kill and pause, ``firewall`` and ``endpoints``
    (node -> its address) for partition. ``serving(i)`` says whether node i answers. ``say``
    gets one progress line per event.
    """

    def __init__(self, names: Sequence[str], ids: Sequence[int], *,
                 nodes: NodeProcesses | None = None, firewall: Firewall | None = None,
                 endpoints: dict[int, Endpoint] | None = None,
                 serving: Callable[[int], bool] = lambda i: True,
                 rng: random.Random | None = None, say: Callable[[str], None] = lambda s: None,
                 stop: threading.Event | None = None,
                 splitter: Callable[[], str] | None = None,
                 mover: Callable[[], str] | None = None) -> None:
        self.names = list(names)
        self.ids = list(ids)
        if ("kill" in self.names or "pause" in self.names) and nodes is None:
            raise ValueError("kill and pause need the node processes")
        if "partition" in self.names and (firewall is None or endpoints is None):
            raise ValueError("partition needs a firewall and the nodes' endpoints")
        if "split" in self.names and splitter is None:
            raise ValueError("split needs a splitter (it splits through a client)")
        if "move" in self.names and mover is None:
            raise ValueError("move needs a mover (it moves replicas through a client)")
        #: splits a range at a key in use; says what it did
        self.splitter = splitter
        #: moves a replica of a range in use; says what it did
        self.mover = mover
        self.nodes = nodes
        self.firewall = firewall
        self.endpoints = endpoints or {}
        self.serving = serving
        self.rng = rng or random.Random()
        self.say = say
        self.stop = stop or threading.Event()
        self.start_ns = time.monotonic_ns()
        self.events: list[dict[str, Any]] = []
        self.incidents: list[str] = []
        self.ran: list[str] = []
        self._current: _Fault | None = None
        self._paused: set[int] = set()
        self._killed: set[int] = set()
        self._last_fault: dict[int, str] = {}

    # -- the record ---------------------------------------------------------------------------

    def _event(self, what: str, nemesis: str, detail: str) -> None:
        now = time.monotonic_ns()
        self.events.append({"t": round((now - self.start_ns) / 1e9, 3), "ns": now, "what": what,
                            "nemesis": nemesis, "detail": detail})
        self.say(f"[{(now - self.start_ns) / 1e9:6.1f}s] {what} {nemesis}: {detail}")

    def _incident(self, text: str) -> None:
        self.incidents.append(text)
        self._event("incident", "-", text)

    # -- one fault, one heal ------------------------------------------------------------------

    def fault(self, name: str) -> None:
        """Apply one fault of nemesis ``name`` (healing any current one first)."""
        if self._current is not None:
            self.heal()
        fault = {"partition": self._partition, "kill": self._kill, "pause": self._pause,
                 "split": self._split, "move": self._move}[name]()
        self._current = fault
        for n in fault.nodes:
            self._last_fault[n] = name
        if name not in self.ran:
            self.ran.append(name)
        self._event("fault", name, fault.detail)

    def _running(self) -> list[int]:
        assert self.nodes is not None
        return [i for i in self.ids if self.nodes.running(i) and i not in self._paused]

    def _partition(self) -> _Fault:
        assert self.firewall is not None
        ids = list(self.ids)
        self.rng.shuffle(ids)
        ep = self.endpoints
        mode = self.rng.choice(["one-way", "two-way", "majority"])
        tag = self.firewall.tag
        if mode == "one-way":
            a, b = ids[:2]
            rules, detail = one_way(ep[a], ep[b], tag), f"one-way: {a} -> {b} cut"
        elif mode == "two-way":
            a, b = ids[:2]
            rules, detail = two_way(ep[a], ep[b], tag), f"two-way: {a} <-> {b} cut"
        else:
            minority = sorted(ids[:(len(ids) - 1) // 2 or 1])
            majority = sorted(set(ids) - set(minority))
            rules = isolate([ep[i] for i in minority], [ep[i] for i in majority], tag)
            detail = f"majority {majority} | minority {minority}"
        try:
            self.firewall.apply(rules)
        except FirewallError as e:
            raise NemesisError(f"partition: {e}") from None
        return _Fault("partition", detail, sorted(ids[:2]) if mode != "majority" else minority)

    def _victim(self) -> int:
        running = self._running()
        if not running:
            raise NemesisError("no running node to fault")
        return self.rng.choice(running)

    def _kill(self) -> _Fault:
        assert self.nodes is not None
        victim = self._victim()
        try:
            self.nodes.kill(victim)
        except ProcessError as e:
            raise NemesisError(f"kill: {e}") from None
        self._killed.add(victim)
        return _Fault("kill", f"node {victim} SIGKILL", [victim])

    def _pause(self) -> _Fault:
        assert self.nodes is not None
        victim = self._victim()
        try:
            self.nodes.signal(victim, signal.SIGSTOP)
        except ProcessError as e:
            raise NemesisError(f"pause: {e}") from None
        self._paused.add(victim)
        return _Fault("pause", f"node {victim} SIGSTOP", [victim])

    def _split(self) -> _Fault:
        assert self.splitter is not None
        return _Fault("split", self.splitter())

    def _move(self) -> _Fault:
        assert self.mover is not None
        return _Fault("move", self.mover())

    def heal(self) -> None:
        """Undo the current fault; restart any node that died by itself (an incident)."""
        fault, self._current = self._current, None
        errors: list[str] = []
        if self.firewall is not None and (fault is None or fault.nemesis == "partition"):
            try:
                self.firewall.heal()
            except FirewallError as e:
                errors.append(f"partition: {e}")
        if self.nodes is not None:
            for i in sorted(self._paused):
                try:
                    self.nodes.signal(i, signal.SIGCONT)
                except ProcessError:
                    pass  # it died while stopped: found below
                self._paused.discard(i)
            errors += self._revive()
        if fault is not None:
            self._event("heal", fault.nemesis, _healed(fault))
        if errors:
            raise NemesisError("; ".join(errors))

    def _revive(self, when: str = "") -> list[str]:
        """Start every node that is down again: the killed ones, and the ones that died by
        themselves (an incident each). The errors."""
        errors: list[str] = []
        if self.nodes is None:
            return errors
        for i in self.ids:
            if self.nodes.running(i) or i in self._paused:
                continue
            if i not in self._killed:
                last = self._last_fault.get(i)
                self._incident(f"node {i} died by itself ({self.nodes.how_it_ended(i)}){when}"
                               + (f"; the last fault on it was {last}" if last else "")
                               + _tail(self.nodes.log_tail(i)))
            try:
                self.nodes.restart(i)
            except ProcessError as e:
                errors.append(f"restart: {e}")
                self._killed.add(i)  # retried at the next heal, reported once
                continue
            self._killed.discard(i)
        return errors

    def wait_serving(self, timeout: float = SERVE_TIMEOUT) -> list[int]:
        """Wait until every node answers (at most ``timeout``), starting again a node that
        dies meanwhile (e.g. just after its SIGCONT); the nodes that do not answer."""
        deadline = time.monotonic() + timeout
        while True:
            for err in self._revive(" after the heal"):
                self._event("incident", "-", err)
            silent = [i for i in self.ids if not self.serving(i)]
            if not silent or time.monotonic() >= deadline or self.stop.is_set():
                return silent
            self.stop.wait(0.2)

    # -- the schedule -------------------------------------------------------------------------

    def run(self, plan: Schedule) -> None:
        """Warm-up, the fault/heal cycles, the final heal; returns when the final phase begins
        (every node healed and answering, or an incident says which does not)."""
        t0 = time.monotonic()
        self.stop.wait(plan.warmup)
        for name in itertools.cycle(self.names):
            elapsed = time.monotonic() - t0
            if self.stop.is_set() or (set(self.names) <= set(self.ran)
                                      and elapsed + plan.cycle > plan.faults_until):
                break
            self.fault(name)
            self.stop.wait(plan.fault)
            self.heal()
            healed = time.monotonic()
            self.stop.wait(plan.heal)
            self.wait_serving(max(0.0, SERVE_TIMEOUT - (time.monotonic() - healed)))
        self.final_heal()

    def final_heal(self) -> None:
        """Heal everything, restart every node that is down, wait until all answer."""
        self.heal()
        silent = self.wait_serving()
        if silent and not self.stop.is_set():
            self._incident(f"node(s) {silent} not answering {SERVE_TIMEOUT:.0f} s after the "
                           f"final heal")

    def check_alive(self) -> None:
        """At the end of the final phase: a node that died since the final heal is an
        incident too (it is started again by ``cleanup(restart=True)``, if at all)."""
        if self.nodes is None:
            return
        for i in self.ids:
            if not self.nodes.running(i) and i not in self._killed:
                last = self._last_fault.get(i)
                self._incident(f"node {i} died by itself ({self.nodes.how_it_ended(i)}) in the "
                               f"final phase" + (f"; the last fault on it was {last}" if last
                                                 else "") + _tail(self.nodes.log_tail(i)))
                self._killed.add(i)  # reported once

    def cleanup(self, restart: bool) -> list[str]:
        """Whatever happened: remove every rule and resume every paused node (and, with
        ``restart``, start the killed ones again). Returns the errors (never raises)."""
        errors = []
        if self.firewall is not None:
            try:
                self.firewall.heal()
            except FirewallError as e:
                errors.append(str(e))
        if self.nodes is not None:
            for i in sorted(self._paused):
                try:
                    self.nodes.signal(i, signal.SIGCONT)
                except ProcessError as e:
                    errors.append(str(e))
            self._paused.clear()
            if restart:
                for i in self.ids:
                    if not self.nodes.running(i):
                        try:
                            self.nodes.restart(i)
                        except ProcessError as e:
                            errors.append(str(e))
        self._current = None
        return errors


def _healed(fault: _Fault) -> str:
    if fault.nemesis == "kill":
        return f"node {fault.nodes[0]} restarted"
    if fault.nemesis == "pause":
        return f"node {fault.nodes[0]} SIGCONT"
    return {"partition": "rules removed", "split": "nothing to undo",
            "move": "nothing to undo"}[fault.nemesis]


def _tail(log: str) -> str:
    return f"; its log ends:\n{log}" if log else ""

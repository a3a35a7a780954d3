"""A seeded discrete-event simulator for the raft core.

Virtual time; a pool of nodes, each a RawNode over a MemoryStorage that is its durable state
(plus a durable applied state: applied index, state-machine hash, ConfState); the network drops,
duplicates and delays (hence reorders) messages and can be partitioned; nodes crash (volatile
state lost, in-flight messages to them lost) and restart from durable state only, as a new
RawNode with ``Config.applied`` = what the state machine durably applied. The client proposes
data, SAFE ReadIndex reads, membership changes (ConfChange and ConfChangeV2, joint with AUTO /
IMPLICIT / EXPLICIT transitions), leader transfers; the application snapshots and compacts logs.

After every event the simulator checks, incrementally (everything is keyed by a hash chain
over the log, so "identical prefixes" is one comparison):

- election safety: at most one leader per term, across the whole history;
- log matching: two persisted entries with the same (index, term) have identical prefixes;
- leader completeness: entries committed in earlier terms are in every new leader's log;
- state machine safety: no two nodes apply different entries (or snapshots) at an index;
- per node, across restarts: term and commit never decrease, a vote never changes within a
  term, committed entries are never beyond the persisted log;
- linearizable reads: a ReadState's index is at least every index committed before the read
  was requested.

Everything is drawn from ``random.Random(seed)`` (and per-node ``Config.rng`` derived from the
seed), so a seed replays exactly; ``trace_hash`` lets tests assert that.
"""

from __future__ import annotations

import sys

import dataclasses
import hashlib
import heapq
import random
import traceback
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from multiraft.raft import (Config, ConfChange, ConfChangeSingle, ConfChangeTransition, ConfChangeType,
                  ConfChangeV2, ConfState, Entry, EntryType, HardState, MemoryStorage, Message,
                  ProposalDropped, RawNode, Snapshot, SnapshotMetadata, StateType)

REPLAY = ".venv/bin/python tests/raft/sim.py {seed}{events}"

BOOT_CHAIN = b"bootstrap"
NO_CHAIN = b"empty-log"
TICK = 10  # virtual time units between two ticks of a node

ADD, REMOVE, ADD_LEARNER = ConfChangeType.ADD_NODE, ConfChangeType.REMOVE_NODE, ConfChangeType.ADD_LEARNER_NODE


class SimulationFailure(AssertionError):
    """An invariant broke (or the core raised); the message says how to replay the seed."""


def chain(prev: bytes, e: Entry) -> bytes:
    """Hash chain over a log: equal chains at an index mean equal prefixes up to it."""
    h = hashlib.blake2b(prev, digest_size=12)
    h.update(b"%d|%d|%d|" % (e.index, e.term, int(e.type)))
    h.update(e.data)
    return h.digest()


@dataclass
class SimNode:
    id: int
    storage: MemoryStorage
    raw: RawNode | None = None
    incarnation: int = 0
    # durable application state (written atomically with each apply)
    applied: int = 0
    sm_chain: bytes = NO_CHAIN
    conf_state: ConfState = field(default_factory=ConfState)
    # cache of the durable log as hash chains: index -> chain (snapshot index included)
    log_chain: dict[int, bytes] = field(default_factory=dict)
    log_last: int = 0
    # last HardState this node persisted (monotonicity across restarts)
    hs: HardState = field(default_factory=HardState)
    # volatile
    state: StateType = StateType.FOLLOWER
    crash_mid_ready: bool = False


@dataclass
class SimStats:
    events: int = 0
    elections: int = 0
    committed: int = 0
    crashes: int = 0
    snapshots_sent: int = 0
    conf_changes: int = 0
    reads: int = 0
    max_term: int = 0


class Simulation:
    """One seeded run. ``run()`` raises SimulationFailure on the first broken invariant."""

    def __init__(self, seed: int, events: int = 2000, pool: int = 5, initial: int = 3) -> None:
        self.seed = seed
        self.n_events = events
        self.rng = random.Random(seed)
        r = self.rng
        # per-seed network and configuration flavour
        self.drop = r.choice([0.0, 0.02, 0.1, 0.2])
        self.dup = r.choice([0.0, 0.03, 0.1])
        self.max_delay = r.choice([2, 8, 25])
        self.cfg = dict(
            election_tick=10, heartbeat_tick=r.choice([1, 2, 3]),
            pre_vote=r.random() < 0.5, check_quorum=r.random() < 0.5,
            max_size_per_msg=r.choice([0, 300, 1 << 20]),
            max_inflight_msgs=r.choice([2, 256]),
            max_uncommitted_entries_size=r.choice([0, 0, 2000]),
            max_committed_size_per_ready=r.choice([1 << 26, 500]),
            disable_proposal_forwarding=r.random() < 0.2,
        )
        if self.cfg["max_size_per_msg"] <= 300 and r.random() < 0.5:
            self.cfg["max_inflight_bytes"] = 1000
        self.time = 0
        self.seq = 0
        self.heap: list[tuple[int, int, str, Any]] = []
        self.blocked: set[tuple[int, int]] = set()
        self.nodes: dict[int, SimNode] = {}
        self.ids = list(range(1, pool + 1))
        voters = tuple(range(1, initial + 1))
        for i in self.ids:
            s = MemoryStorage()
            node = SimNode(i, s)
            if i in voters:
                cs = ConfState(voters=voters)
                s.apply_snapshot(Snapshot(BOOT_CHAIN, SnapshotMetadata(cs, 1, 1)))
                s.set_hard_state(HardState(term=1, commit=1))
                node.applied, node.sm_chain, node.conf_state = 1, BOOT_CHAIN, cs
                node.log_chain, node.log_last = {1: BOOT_CHAIN}, 1
                node.hs = HardState(term=1, commit=1)
            else:
                node.log_chain, node.log_last = {0: NO_CHAIN}, 0
            self.nodes[i] = node
            self.start(node)
            self.schedule(r.randint(0, TICK - 1), "tick", i)
        self.schedule(1, "action", None)
        # global history for the invariants
        self.leaders: dict[int, int] = {}  # term -> leader id
        self.entry_chain: dict[tuple[int, int], bytes] = {}  # (index, term) -> chain
        self.committed_chain: dict[int, bytes] = {}  # index -> chain
        self.commit_frontier: dict[int, int] = {}  # term -> max index committed by then
        self.max_committed = 1
        self.applied_chain: dict[int, bytes] = {1: BOOT_CHAIN}
        self.stats = SimStats()
        self.trace = hashlib.blake2b(digest_size=16)
        self.recent: deque[tuple] = deque(maxlen=60)
        self.read_seq = 0
        self.read_need: dict[bytes, int] = {}  # read ctx -> index committed when it was asked
        self.data_seq = 0

    # ------------------------------------------------------------------ plumbing

    def schedule(self, delay: int, kind: str, arg: Any) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (self.time + delay, self.seq, kind, arg))

    def note(self, *what: Any) -> None:
        self.recent.append((self.stats.events, self.time) + what)
        self.trace.update(repr(what).encode())

    def fail(self, what: str) -> None:
        recent = "\n".join("  " + " ".join(map(str, r)) for r in self.recent)
        raise SimulationFailure(
            f"seed {self.seed}: event {self.stats.events} (t={self.time}): {what}\n"
            f"replay: {self.replay_command()}\nlast events:\n{recent}")

    def replay_command(self) -> str:
        events = "" if self.n_events == 2000 else f" {self.n_events}"
        return REPLAY.format(seed=self.seed, events=events)

    def check(self, ok: bool, what: str) -> None:
        if not ok:
            self.fail(what)

    def trace_hash(self) -> str:
        return self.trace.hexdigest()

    def config(self, node: SimNode) -> Config:
        return Config(id=node.id, storage=node.storage, applied=node.applied,
                      rng=random.Random(f"{self.seed}/{node.id}/{node.incarnation}"), **self.cfg)

    def start(self, node: SimNode) -> None:
        node.raw = RawNode(self.config(node))
        node.state = StateType.FOLLOWER
        st = node.raw.status()
        self.check(st.hard_state == node.storage.initial_state()[0],
                   f"node {node.id} restarted with {st.hard_state}, storage holds "
                   f"{node.storage.initial_state()[0]}")

    def live(self) -> list[SimNode]:
        return [n for n in self.nodes.values() if n.raw is not None]

    # ------------------------------------------------------------------ the run

    def run(self) -> SimStats:
        try:
            while self.stats.events < self.n_events and self.heap:
                t, _, kind, arg = heapq.heappop(self.heap)
                self.time = t
                self.stats.events += 1
                getattr(self, "ev_" + kind)(arg)
        except SimulationFailure:
            raise
        except Exception:
            self.fail("the core raised:\n" + traceback.format_exc())
        return self.stats

    # ------------------------------------------------------------------ events

    def ev_tick(self, id: int) -> None:
        self.schedule(TICK, "tick", id)
        node = self.nodes[id]
        if node.raw is None:
            return
        self.note("tick", id)
        node.raw.tick()
        self.handle(node)

    def ev_deliver(self, m: Message) -> None:
        node = self.nodes.get(m.to)
        if node is None or node.raw is None or (m.from_, m.to) in self.blocked:
            self.note("lost", m.type.name, m.from_, m.to)
            return
        self.note("deliver", m.type.name, m.from_, m.to, m.term, m.index, m.commit, len(m.entries), m.reject)
        node.raw.step(m)
        self.handle(node)

    def ev_restart(self, id: int) -> None:
        node = self.nodes[id]
        node.incarnation += 1
        self.note("restart", id, node.applied)
        self.start(node)
        self.handle(node)

    def ev_heal(self, _: Any) -> None:
        self.note("heal")
        self.blocked.clear()

    def ev_action(self, _: Any) -> None:
        r = self.rng
        self.schedule(r.randint(1, 8), "action", None)
        live = self.live()
        if not live:
            return
        kind = r.choices(
            ["propose", "read", "conf", "transfer", "crash", "partition", "compact", "campaign"],
            weights=[40, 6, 6, 2, 4, 3, 8, 2])[0]
        leader = next((n for n in live if n.state == StateType.LEADER), None)
        if kind == "propose":
            node = leader if leader is not None and r.random() < 0.8 else r.choice(live)
            self.data_seq += 1
            data = b"v%d" % self.data_seq + b"." * r.choice([0, 0, 10, 200])
            self.note("propose", node.id, data[:8])
            try:
                node.raw.propose(data)
            except ProposalDropped:
                pass
            self.handle(node)
        elif kind == "read":
            node = r.choice(live)
            self.read_seq += 1
            ctx = b"read-%d" % self.read_seq
            self.read_need[ctx] = self.max_committed
            self.note("read", node.id, ctx)
            node.raw.read_index(ctx)
            self.handle(node)
        elif kind == "conf" and leader is not None:
            cc = self.random_conf_change(leader)
            if cc is not None:
                self.note("conf", leader.id, repr(cc))
                try:
                    leader.raw.propose_conf_change(cc)
                except ProposalDropped:
                    pass
                self.handle(leader)
        elif kind == "transfer" and leader is not None:
            to = r.choice(self.ids)
            self.note("transfer", leader.id, to)
            leader.raw.transfer_leader(to)
            self.handle(leader)
        elif kind == "crash" and len(live) > len(self.ids) - 2:
            node = r.choice(live)
            if r.random() < 0.5:
                self.crash(node)
            else:  # dies in the middle of its next Ready: persisted, not sent, not applied
                self.note("crash-armed", node.id)
                node.crash_mid_ready = True
        elif kind == "partition" and not self.blocked:
            ids = self.ids[:]
            r.shuffle(ids)
            k = r.randint(1, len(ids) // 2)
            side = set(ids[:k])
            for a in self.ids:
                for b in self.ids:
                    if (a in side) != (b in side) and (r.random() < 0.8 or (b, a) in self.blocked):
                        self.blocked.add((a, b))
            self.note("partition", sorted(side))
            self.schedule(r.randint(30, 400), "heal", None)
        elif kind == "compact":
            self.compact(leader if leader is not None and r.random() < 0.5 else r.choice(live))
        elif kind == "campaign":
            node = r.choice(live)
            self.note("campaign", node.id)
            node.raw.campaign()
            self.handle(node)

    def crash(self, node: SimNode) -> None:
        self.note("crash", node.id)
        node.raw = None
        node.crash_mid_ready = False
        self.stats.crashes += 1
        self.schedule(self.rng.randint(30, 300), "restart", node.id)

    def random_conf_change(self, leader: SimNode) -> ConfChange | ConfChangeV2 | None:
        """A membership change valid against the leader's applied config (raft turns it into an
        empty entry if another one is still pending)."""
        r = self.rng
        cs = leader.conf_state
        if cs.voters_outgoing:
            return ConfChangeV2() if not cs.auto_leave and r.random() < 0.7 else None
        voters, learners = set(cs.voters), set(cs.learners)

        def one(x: int) -> ConfChangeSingle:
            if x in voters:
                opts = [REMOVE] + ([ADD_LEARNER] if x != leader.id else [])
            elif x in learners:
                opts = [ADD, REMOVE]
            else:
                opts = [ADD, ADD_LEARNER]
            return ConfChangeSingle(r.choice(opts), x)

        def result(changes: list[ConfChangeSingle]) -> set[int]:
            v = set(voters)
            for c in changes:
                if c.type == ADD:
                    v.add(c.node_id)
                else:
                    v.discard(c.node_id)
            return v

        n = r.choice([1, 1, 2])
        xs = r.sample(self.ids, n)
        changes = [one(x) for x in xs]
        if not result(changes):
            return None
        if n == 1 and r.random() < 0.6:
            return ConfChange(changes[0].type, changes[0].node_id)
        transition = r.choice(list(ConfChangeTransition)) if n > 1 else ConfChangeTransition.AUTO
        return ConfChangeV2(tuple(changes), transition)

    def compact(self, node: SimNode) -> None:
        s = node.storage
        if node.applied <= s.snapshot().metadata.index:
            return
        s.create_snapshot(node.applied, node.conf_state, node.sm_chain)
        lo = s.first_index()
        if node.applied < lo:
            return
        upto = self.rng.randint(lo, node.applied)
        s.compact(upto)
        for i in [i for i in node.log_chain if i < upto]:
            del node.log_chain[i]
        self.note("compact", node.id, node.applied, upto)

    # ------------------------------------------------------------------ the application loop

    def handle(self, node: SimNode) -> None:
        raw = node.raw
        rounds = 0
        while raw is not None and raw.has_ready():
            rounds += 1
            self.check(rounds < 50, f"node {node.id}: has_ready() stays true after 50 rounds")
            rd = raw.ready()
            self.persist(node, rd)
            if node.crash_mid_ready:
                self.crash(node)
                return
            for rs in rd.read_states:
                self.check_read(node, rs.index, rs.request_ctx)
            for m in rd.messages:
                self.send(m)
            for e in rd.committed_entries:
                self.apply(node, e)
            raw.advance(rd)

    def persist(self, node: SimNode, rd: Any) -> None:
        s = node.storage
        old_hs = node.hs
        must = bool(rd.entries) or (rd.hard_state is not None and (
            rd.hard_state.term, rd.hard_state.vote) != (old_hs.term, old_hs.vote))
        if rd.snapshot is not None and not rd.snapshot.is_empty():
            snap = rd.snapshot
            idx, data = snap.metadata.index, snap.data
            self.stats.snapshots_sent += 1
            self.note("snapshot", node.id, idx)
            s.apply_snapshot(snap)
            node.log_chain, node.log_last = {idx: data}, idx
            self.check(self.applied_chain.get(idx, data) == data,
                       f"node {node.id} restores a snapshot at {idx} that differs from what was applied there")
            self.applied_chain.setdefault(idx, data)
            node.applied, node.sm_chain, node.conf_state = idx, data, snap.metadata.conf_state
        if rd.entries:
            ents = list(rd.entries)
            s.append(ents)
            snap_index = s.snapshot().metadata.index
            for e in ents:
                prev = node.log_chain.get(e.index - 1)
                if prev is None:
                    self.check(e.index <= max(snap_index, s.first_index() - 1),
                               f"node {node.id}: entry {e.index} does not connect to its log "
                               f"(last {node.log_last})")
                    continue
                c = chain(prev, e)
                node.log_chain[e.index] = c
                known = self.entry_chain.setdefault((e.index, e.term), c)
                self.check(known == c, f"log matching: node {node.id} holds entry (index {e.index}, "
                                       f"term {e.term}) with a prefix different from another node's")
            last = ents[-1].index
            for i in range(last + 1, node.log_last + 1):
                node.log_chain.pop(i, None)
            node.log_last = last
            self.check(s.last_index() == last, f"node {node.id}: storage last index {s.last_index()} "
                                               f"after appending up to {last}")
        hs = rd.hard_state
        if hs is not None:
            old = node.hs
            self.check(hs.term >= old.term, f"node {node.id}: term decreased {old.term} -> {hs.term}")
            self.check(hs.commit >= old.commit, f"node {node.id}: commit decreased {old.commit} -> {hs.commit}")
            self.check(not (hs.term == old.term and old.vote and hs.vote != old.vote),
                       f"node {node.id}: vote changed within term {hs.term}: {old.vote} -> {hs.vote}")
            s.set_hard_state(hs)
            node.hs = hs
            self.stats.max_term = max(self.stats.max_term, hs.term)
            if hs.commit > old.commit:
                self.record_commit(node, old.commit, hs.commit)
        self.check(rd.must_sync or not must,
                   f"node {node.id}: must_sync False with entries or a term/vote change to persist")
        self.check(node.hs.commit <= node.log_last,
                   f"node {node.id}: commit {node.hs.commit} beyond its persisted log ({node.log_last})")
        if rd.soft_state is not None:
            was = node.state
            node.state = rd.soft_state.raft_state
            if node.state == StateType.LEADER and was != StateType.LEADER:
                self.became_leader(node)
        self.note("ready", node.id, node.hs.term, node.hs.vote, node.hs.commit, len(rd.entries),
                  len(rd.committed_entries), len(rd.messages), int(node.state))

    def record_commit(self, node: SimNode, old: int, new: int) -> None:
        for i in range(old + 1, new + 1):
            c = node.log_chain.get(i)
            if c is None:
                continue  # below a snapshot it restored
            known = self.committed_chain.setdefault(i, c)
            self.check(known == c, f"state machine safety: node {node.id} commits a different entry at {i}")
        term = node.hs.term
        if new > self.commit_frontier.get(term, 0):
            self.commit_frontier[term] = new
        if new > self.max_committed:
            self.stats.committed += new - self.max_committed
            self.max_committed = new

    def became_leader(self, node: SimNode) -> None:
        term = node.hs.term
        self.stats.elections += 1
        other = self.leaders.setdefault(term, node.id)
        self.check(other == node.id, f"election safety: {other} and {node.id} both lead term {term}")
        # leader completeness: every entry committed in an earlier term is in this log
        c = max((i for t, i in self.commit_frontier.items() if t < term), default=0)
        snap_index = node.storage.snapshot().metadata.index
        if c > snap_index:
            self.check(c <= node.log_last and node.log_chain.get(c) == self.committed_chain.get(c),
                       f"leader completeness: leader {node.id} of term {term} lacks committed index {c} "
                       f"(its log ends at {node.log_last})")
        self.note("leader", node.id, term)

    def apply(self, node: SimNode, e: Entry) -> None:
        self.check(e.index == node.applied + 1,
                   f"node {node.id}: applies {e.index} after {node.applied}")
        self.check(e.index <= node.hs.commit, f"node {node.id}: applies {e.index} beyond commit {node.hs.commit}")
        c = chain(node.sm_chain, e)
        self.check(node.log_chain.get(e.index, c) == c,
                   f"node {node.id}: applied entry {e.index} differs from its own log")
        known = self.applied_chain.setdefault(e.index, c)
        self.check(known == c, f"state machine safety: node {node.id} applies a different entry at {e.index}")
        node.applied, node.sm_chain = e.index, c
        if e.type in (EntryType.CONF_CHANGE, EntryType.CONF_CHANGE_V2):
            cc = (ConfChange.decode(e.data) if e.type == EntryType.CONF_CHANGE
                  else ConfChangeV2.decode(e.data))
            node.conf_state = node.raw.apply_conf_change(cc)
            self.stats.conf_changes += 1
            self.note("applied-conf", node.id, e.index, repr(node.conf_state))
            # keep the storage's ConfState in step with the applied index, so a restart with
            # Config.applied = node.applied sees the right membership
            node.storage.create_snapshot(e.index, node.conf_state, c)

    def check_read(self, node: SimNode, index: int, ctx: bytes) -> None:
        need = self.read_need.get(ctx)
        self.check(need is not None, f"node {node.id}: ReadState for unknown request {ctx!r}")
        self.check(index >= need, f"linearizability: read {ctx!r} at {node.id} got index {index}, "
                                  f"but {need} was committed before it was requested")
        self.stats.reads += 1

    def send(self, m: Message) -> None:
        r = self.rng
        if r.random() < self.drop:
            self.note("drop", m.type.name, m.from_, m.to)
            return
        self.schedule(self.delay(), "deliver", wire_copy(m))
        if r.random() < self.dup:
            self.schedule(self.delay(), "deliver", wire_copy(m))

    def delay(self) -> int:
        """Mostly short delays (reordering among recent messages); now and then a very late one
        that arrives terms later."""
        r = self.rng
        return r.randint(50, 400) if r.random() < 0.02 else r.randint(1, self.max_delay)


def wire_copy(m: Message) -> Message:
    """What the receiver gets: a fresh copy, as from a decoded frame (the core may mutate the
    entries of a message it steps, e.g. a forwarded PROP's get their term and index)."""
    ents = tuple(Entry(e.term, e.index, e.type, e.data) for e in m.entries)
    return dataclasses.replace(m, entries=ents)


def run_seed(seed: int, events: int = 2000) -> tuple[SimStats, str]:
    sim = Simulation(seed, events)
    stats = sim.run()
    return stats, sim.trace_hash()


def main(argv: list[str]) -> int:
    """Replay one seed with its full report: ``python tests/raft/sim.py SEED [EVENTS]``."""
    if not 1 <= len(argv) <= 2 or not all(a.isdigit() for a in argv):
        print("usage: python tests/raft/sim.py SEED [EVENTS]", file=sys.stderr)
        return 2
    seed, events = int(argv[0]), int(argv[1]) if len(argv) == 2 else 2000
    try:
        stats, h = run_seed(seed, events)
    except SimulationFailure as e:
        print(e)
        return 1
    print(f"seed {seed}, {events} events: {stats}; trace {h}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

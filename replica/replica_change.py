"""``ReplicaChanger``: the leader's side of operator changes to a range's replicas and leader.

An operator asks a range's leader to add, remove or move a replica, or to transfer leadership
(``CHANGE_REPLICAS``, ``TRANSFER_LEADER``). Each is a goal; the changer makes one step towards
it at a time, each a conf change (``storage.replica_change``) proposed against the descriptor
as it is, and looks again once it applied (CockroachDB's learner flow, etcd's one conf change
in flight):

- add N: a learner on N (raft fills it by a snapshot), promoted to voter once its match reaches
  the commit index of when it was added;
- remove N: one simple change; if N's replica is this leader, leadership moves first (to the
  most caught-up other voter) and the request is answered NOT_LEADER naming it, where the
  client's retry carries on;
- move F to T: a learner on T, then one joint change that promotes it and removes F, then
  leaving the joint config;
- transfer N: raft's leader transfer, answered once N leads.

Because each step is computed from the descriptor, a retry (or a new leader, after the old one
died mid-change) picks up where the change stands. A leader also finishes what nobody asks for
any more: it leaves a joint config left behind, and rolls back (removes) a learner that has not
caught up within ``LEARNER_TIMEOUT``, or whose request timed out. With nothing else to do it asks
the node's ``Allocator`` (every ``ALLOCATE_INTERVAL``) for a change of its own (repair,
up/down-replication, rebalancing) or a leader to hand over to, and drives that the same way,
answering nobody. A range an operator changed is left alone for ``OPERATOR_GRACE``, but for repairs (a
dead or decommissioning node's replica); a leader
that got its leadership by a transfer (an operator's, or the balancer's: it is the only way to
know of an operator's transfer on the node it went to) does not give it away for balance
within ``OPERATOR_GRACE`` either, so leaders do not bounce. An operator's request takes the
place of an automatic leader transfer in flight.

Not thread-safe: owned by its ``ReplicaCore``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from multiraft.raft.types import ConfChangeV2
from multiraft.storage import replica_change as rc
from multiraft.storage.range_descriptor import LEARNER, RangeDescriptor

from .allocator import Allocator
from multiraft.transport.client_protocol import ClientStatus
from multiraft.transport.handler import Responder

__all__ = ["ReplicaChanger", "ChangeHost", "Goal", "LEARNER_TIMEOUT", "LAGGING_ENTRIES"]

log = logging.getLogger(__name__)

#: A learner not caught up this long after it was added is removed again (seconds).
LEARNER_TIMEOUT = 60.0
#: A transfer target further behind the leader's commit index than this is lagging.
LAGGING_ENTRIES = 1_000
#: Seconds between a leader's questions to the allocator (each range starts at a random
#: point of it, so a node's ranges do not all ask at once).
ALLOCATE_INTERVAL = 1.0
#: Seconds the balancer's own leader transfer may take (raft gives one up after an election
#: timeout; then it is not tried again).
BALANCE_TRANSFER_TIMEOUT = 5.0
#: Ticks between the store's scans of its replicas for changes (``ReplicaCore.scan_allocation``):
#: a quiesced leader is not ticked, so the allocator reaches it this way.
ALLOCATION_SCAN_TICKS = 50
#: Seconds the allocator leaves a range alone after an operator's change or transfer.
OPERATOR_GRACE = 60.0

#: (kind: "add"|"remove"|"move"|"transfer", from node (0: none), to node (0: none))
Goal = tuple[str, int, int]


class ChangeHost(Protocol):
    """What the changer needs of its replica (``ReplicaCore``)."""

    replica_id: int

    @property
    def descriptor(self) -> RangeDescriptor | None: ...

    def match_of(self, replica_id: int) -> int | None:
        """The leader's match index of ``replica_id`` (None: not tracked)."""

    def is_active(self, replica_id: int) -> bool:
        """Whether the leader heard from ``replica_id`` lately: since its last check_quorum or
        in the election timeout before (so not "no" merely because a check just reset it, as on
        a leader just woken from quiescence)."""

    def commit_index(self) -> int: ...

    def conf_change_pending(self) -> bool:
        """Whether a conf change is proposed and not yet applied."""

    def propose_conf_change(self, cc: ConfChangeV2) -> bool:
        """Propose ``cc``; False if raft dropped it (retried at the next step)."""

    def transfer_leader(self, replica_id: int) -> None: ...

    def transfer_in_progress(self) -> bool:
        """Whether raft is handing leadership over (it gives up after an election timeout)."""

    def leader_node(self) -> int:
        """The node of the replica this one believes leads (0: none)."""


@dataclass(slots=True)
class _Request:
    """An operator request in flight: its goal, who waits for it, and until when."""

    goal: Goal
    deadline: float
    responders: list[Responder] = field(default_factory=list)
    #: an operator's (else the allocator's): its conf changes say so (``operator_changed``)
    operator: bool = False
    #: leader transfers raft started for it (a balancing transfer gets one: see ``_transfer``)
    transfers: int = 0


class ReplicaChanger:
    """Invariants: at most one request is in flight (``_request``); a learner is in
    ``_learners`` (replica id -> (when this leader first saw it, the commit index it must
    reach)) while the descriptor lists it as a learner."""

    __slots__ = ("_host", "_node_known", "_allocator", "_node_id", "_clock", "_request",
                 "_learners", "_next_allocate", "_operator_at", "_keep_lead_until",
                 "changes_proposed",
                 "learners_rolled_back", "transfers", "automatic_changes")

    def __init__(self, host: ChangeHost, node_known: Callable[[int], bool],
                 allocator: Allocator | None = None, node_id: int = 0,
                 clock: Callable[[], float] = time.monotonic, phase: float = 0.0) -> None:
        self._host = host
        self._node_known = node_known
        self._allocator = allocator
        self._node_id = node_id
        self._clock = clock
        #: when this leader next asks the allocator (``phase``: a fraction of the interval)
        self._next_allocate = clock() + phase * ALLOCATE_INTERVAL
        #: when an operator last changed or transferred the range through this replica
        self._operator_at = -OPERATOR_GRACE
        #: no transfer for balance before then (this replica got its leadership by transfer)
        self._keep_lead_until = 0.0
        self.automatic_changes = 0
        self._request: _Request | None = None
        self._learners: dict[int, tuple[float, int]] = {}
        self.changes_proposed = 0
        self.learners_rolled_back = 0
        self.transfers = 0

    @property
    def busy(self) -> bool:
        return self._request is not None

    # -- requests --

    def request(self, goal: Goal, timeout: float, responder: Responder) -> None:
        """Take an operator request (this replica leads): refused at once if it cannot be
        made, joined to the one in flight if it is the same goal (a retry)."""
        d = self._host.descriptor
        if d is None:
            responder.respond(ClientStatus.REFUSED, "the range is not initialized here")
            return
        cur = self._request
        if cur is not None and not cur.responders and cur.goal[0] == "transfer":
            self._request = cur = None  # (the balancer's: the operator's request comes first)
        if cur is not None:
            if cur.goal == goal:
                cur.responders.append(responder)
                cur.deadline = max(cur.deadline, self._clock() + timeout)
                return
            responder.respond(ClientStatus.REFUSED, f"range {d.range_id}: a change is already "
                              f"in progress ({_describe(cur.goal)})")
            return
        why = self._refusal(d, goal)
        if why is not None:
            responder.respond(ClientStatus.REFUSED, f"range {d.range_id}: {why}")
            return
        self._request = _Request(goal, self._clock() + timeout, [responder], operator=True)
        self._operator_at = self._clock()
        self.step()

    def _refusal(self, d: RangeDescriptor, goal: Goal) -> str | None:
        """Why ``goal`` cannot be made to ``d`` (None: it can)."""
        kind, frm, to = goal
        for n in (frm, to):
            if n and not self._node_known(n):
                return f"unknown node {n}"
        if kind == "add":
            r = d.replica_on(to)
            if r is not None and d.role(r) != LEARNER:
                return f"node {to} already holds replica {r}"
        elif kind == "remove":
            r = d.replica_on(frm)
            if r is None:
                return f"node {frm} holds no replica of the range"
            if d.role(r) != LEARNER and len(d.voter_nodes()) <= 1:
                return "no voter would remain"
        elif kind == "move":
            if frm == to:
                return "moving a replica to the node it is on"
            if d.replica_on(frm) is None:
                return f"node {frm} holds no replica of the range"
            r = d.replica_on(to)
            if r is not None and d.role(r) != LEARNER:
                return f"node {to} already holds replica {r}"
        elif kind == "transfer":
            r = d.replica_on(to)
            if r is None or d.role(r) == LEARNER:
                return f"node {to} holds no voter of the range"
            if r == self._host.replica_id:
                return None
            match = self._host.match_of(r)
            if (match is None or not self._host.is_active(r)
                    or match + LAGGING_ENTRIES < self._host.commit_index()):
                return f"node {to} is lagging or not reachable (match {match})"
        else:
            return f"unknown change {kind!r}"
        return None

    # -- driving --

    def step(self) -> None:
        """Make the next step towards the request's goal, or tidy up (a joint config left
        behind, a learner that did not catch up). Call on every tick and after every apply,
        while this replica leads."""
        host = self._host
        d = host.descriptor
        if d is None:
            return
        req = self._request
        now = self._clock()
        if req is None and not (d.learners or self._learners or d.is_joint()) and \
                now < self._next_allocate:
            return  # nothing to drive, watch or tidy, and not yet time to ask the allocator
        self._track_learners(d)
        if req is not None and now > req.deadline:
            self._finish(ClientStatus.UNAVAILABLE, f"range {d.range_id}: "
                         f"{_describe(req.goal)} did not finish in time")
            req = None
        if host.conf_change_pending():
            return
        if d.is_joint():
            self._propose(rc.leave_joint(d, req is not None and req.operator))
            return
        if req is None:
            req = self._allocate(d, now)
            if req is None:
                self._roll_back_stale_learners(d, now)
                return
        kind, frm, to = req.goal
        if kind == "transfer":
            self._step_transfer(req, d)
        elif kind == "add":
            if self._fill(req, d, to):
                self._finish(ClientStatus.OK, d.info(host.leader_node()))
        elif kind == "remove":
            r = d.replica_on(frm)
            if r is None:
                self._finish(ClientStatus.OK, d.info(host.leader_node()))
            elif r == host.replica_id:
                self._step_away(d)
            else:
                self._propose(rc.remove(d, r, req.operator))
        else:  # move
            rf = d.replica_on(frm)
            if not self._fill(req, d, to, promote=rf is None):
                return
            rt = d.replica_on(to)
            assert rt is not None
            if rf is None:
                self._finish(ClientStatus.OK, d.info(host.leader_node()))
            elif rf == host.replica_id:
                self._step_away(d)
            elif d.role(rt) == LEARNER:
                self._propose(rc.swap(d, rt, rf, req.operator))
            else:  # (promoted by someone else meanwhile) only the removal is left
                self._propose(rc.remove(d, rf, req.operator))

    def _allocate(self, d: RangeDescriptor, now: float) -> _Request | None:
        """A change of the leader's own, if the allocator wants one and it is time to ask."""
        a = self._allocator
        if a is None or now < self._next_allocate:
            return None
        self._next_allocate = now + ALLOCATE_INTERVAL
        grace = now - self._operator_at < OPERATOR_GRACE
        goal = a.decide(d, repair_only=grace)
        deadline = now + LEARNER_TIMEOUT
        if goal is None and not grace and now >= self._keep_lead_until:
            target = a.leader_target(self._node_id, d)
            r = None if target is None else d.replica_on(target)
            # Only to a replica that holds every committed entry: raft hands over once it has
            # the rest (a few entries under load), and the proposals it drops meanwhile (etcd's
            # rule) are a round trip's worth.
            if target is not None and r is not None and self._host.is_active(r) and \
                    (self._host.match_of(r) or 0) >= self._host.commit_index():
                goal, deadline = ("transfer", 0, target), now + BALANCE_TRANSFER_TIMEOUT
        if goal is None or self._refusal(d, goal) is not None:
            return None
        log.info("range %d: %s (allocator)", d.range_id, _describe(goal))
        self.automatic_changes += 1
        self._request = _Request(goal, deadline)
        return self._request

    def _fill(self, req: _Request, d: RangeDescriptor, node: int, promote: bool = True) -> bool:
        """Towards a caught-up replica on ``node``: True once there is one (a voter, or, with
        ``promote`` False, a learner that caught up); else the next step is proposed or
        awaited."""
        r = d.replica_on(node)
        if r is None:
            self._propose(rc.add_learner(d, node, req.operator))
            return False
        if d.role(r) != LEARNER:
            return True
        since_target = self._learners.get(r)
        match = self._host.match_of(r)
        if since_target is None or match is None or match < since_target[1]:
            return False  # raft is sending it the snapshot and the log
        if not promote:
            return True
        self._propose(rc.promote(d, r, req.operator))
        return False

    def _step_transfer(self, req: _Request, d: RangeDescriptor) -> None:
        target = d.replica_on(req.goal[2])
        if target is None or d.role(target) == LEARNER:
            self._finish(ClientStatus.REFUSED, f"range {d.range_id}: node {req.goal[2]} holds "
                         "no voter of the range")
        elif target == self._host.replica_id:
            self._finish(ClientStatus.OK, d.info(self._host.leader_node()))
        elif req.operator or req.transfers == 0:
            self._transfer(target, req)
        elif not self._host.transfer_in_progress():
            # The balancer's transfer that raft gave up on (the target stopped answering): not
            # tried again, since raft drops every proposal while a transfer is under way.
            self._finish(ClientStatus.UNAVAILABLE, "leader transfer given up")

    def _transfer(self, target: int, req: _Request | None = None) -> None:
        """Start handing leadership to ``target``, unless a transfer is under way (raft gives
        one up after an election timeout: then the next step starts another)."""
        if not self._host.transfer_in_progress():
            if req is not None:
                req.transfers += 1
            self.transfers += 1
            self._host.transfer_leader(target)

    def _step_away(self, d: RangeDescriptor) -> None:
        """This leader's own replica must go: hand leadership to the most caught-up other
        voter; the request is answered once it leads (``lost_leadership``)."""
        others = [(self._host.match_of(r) or 0, r) for n, r in d.replicas
                  if r != self._host.replica_id and d.role(r) != LEARNER
                  and self._host.is_active(r)]
        if not others:
            return  # nobody to hand over to yet: wait (or time out)
        _, target = max(others)
        self._transfer(target)

    def lost_leadership(self, leader_node: int) -> None:
        """This replica no longer leads (``leader_node``: who does, 0 if unknown): a transfer
        to that node is done; every other request goes on at the new leader (the client follows
        the NOT_LEADER hint)."""
        req = self._request
        self._learners.clear()
        if req is None:
            return
        d = self._host.descriptor
        if req.goal[0] == "transfer" and leader_node == req.goal[2] and d is not None:
            self._finish(ClientStatus.OK, d.info(leader_node))
        else:
            self._finish(ClientStatus.NOT_LEADER, leader_node)

    def scan(self) -> bool:
        """Ask the allocator now, with nothing in flight (the store's periodic scan, which
        reaches quiesced leaders); whether it gave a change (then keep calling ``step``)."""
        d = self._host.descriptor
        if self._request is not None or d is None:
            return self._request is not None
        self._next_allocate = 0.0
        return self._allocate(d, self._clock()) is not None

    def operator_changed(self) -> None:
        """An operator's replica change applied here (whichever replica proposed it): the
        allocator leaves the range alone for ``OPERATOR_GRACE``, should this replica lead."""
        self._operator_at = self._clock()

    def transferred_in(self) -> None:
        """Leadership is being handed to this replica (raft's TimeoutNow arrived)."""
        self._keep_lead_until = self._clock() + OPERATOR_GRACE

    def fail(self, status: ClientStatus, result: object) -> None:
        """Answer the request in flight, if any (the replica stops or is removed)."""
        if self._request is not None:
            self._finish(status, result)

    # -- learners --

    def _track_learners(self, d: RangeDescriptor) -> None:
        now = self._clock()
        for r in d.learners:
            if r not in self._learners:
                self._learners[r] = (now, self._host.commit_index())
        for r in [r for r in self._learners if r not in d.learners]:
            del self._learners[r]

    def _roll_back_stale_learners(self, d: RangeDescriptor, now: float) -> None:
        """With no request in flight: remove a learner that has not caught up within
        ``LEARNER_TIMEOUT`` of this leader seeing it, or at once if it has caught up and nobody
        will promote it (its request ended)."""
        for r, (since, target) in self._learners.items():
            match = self._host.match_of(r)
            if now - since > LEARNER_TIMEOUT or (match is not None and match >= target):
                log.info("range %d: rolling back learner %d (node %s)", d.range_id, r,
                         d.node_of(r))
                self.learners_rolled_back += 1
                self._propose(rc.remove(d, r))
                return

    # -- helpers --

    def _propose(self, cc: ConfChangeV2) -> None:
        if self._host.propose_conf_change(cc):
            self.changes_proposed += 1

    def _finish(self, status: ClientStatus, result: object) -> None:
        req, self._request = self._request, None
        assert req is not None
        for responder in req.responders:
            responder.respond(status, result)


def _describe(goal: Goal) -> str:
    kind, frm, to = goal
    if kind == "add":
        return f"adding a replica on node {to}"
    if kind == "remove":
        return f"removing the replica on node {frm}"
    if kind == "move":
        return f"moving the replica on node {frm} to node {to}"
    return f"transferring leadership to node {to}"

"""Known bug classes, re-introduced into the real code one at a time, to prove the simulation
catches them (``python -m multiraft.sim --mutation NAME``; ``tests/sim/test_mutations.py``).

A ``Mutation`` is a set of textual edits of functions of the real code, as a mutation-testing
tool makes them: the function's source with ``old`` replaced by ``new`` is compiled in the
function's own module and put in its place for as long as the mutation is ``applied``. An edit
whose ``old`` text is not found exactly once raises ``MutationError``: the code changed, and
the mutation must be written again (it never silently tests nothing).
"""

from __future__ import annotations

import __future__
import inspect
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from multiraft.actors.store import StoreActor
from multiraft.replica.core import ReplicaCore
from multiraft.storage.state_machine import KVStateMachine
from multiraft.store.group_commit import GroupCommit

__all__ = ["MUTATIONS", "Mutation", "MutationError", "applied"]


class MutationError(RuntimeError):
    """A mutation's edit no longer matches the code it edits."""


@dataclass(frozen=True, slots=True)
class Edit:
    owner: type
    function: str
    old: str
    new: str


@dataclass(frozen=True, slots=True)
class Mutation:
    name: str
    #: the bug class, in a sentence
    bug: str
    edits: tuple[Edit, ...]


MUTATIONS: dict[str, Mutation] = {m.name: m for m in (
    Mutation("ack_before_fsync",
             "the group commit acknowledges writes it never fsynced",
             (Edit(GroupCommit, "flush",
                   "self.engine.write_many([batch for batch, _ in group], sync=sync)",
                   "self.engine.write_many([batch for batch, _ in group], sync=False)"),)),
    Mutation("apply_twice_after_snapshot",
             "a replica restarts raft at its log's snapshot (truncation) index, not at what "
             "its state machine applied, which re-applies what it is given",
             (Edit(ReplicaCore, "_load", "applied=self.sm.applied.index",
                   "applied=self.storage.first_index() - 1"),
              Edit(KVStateMachine, "apply",
                   "        if not entries or entries[-1].index <= self.applied.index:\n"
                   "            return [None] * len(entries)\n"
                   "        skip = self.applied.index + 1 - entries[0].index\n",
                   "        if not entries:\n"
                   "            return []\n"
                   "        skip = 0\n"))),
    Mutation("stale_route_after_split",
             "after a split the store goes on routing by its old table (it republishes it only "
             "when a replica comes or goes), and neither the replica nor its state machine "
             "checks the key against the range's descriptor",
             (Edit(StoreActor, "_split_applied",
                   "        self.creation.initialized(rid)\n        self._publish_routes()\n",
                   "        self.creation.initialized(rid)\n"),
              Edit(StoreActor, "on_receive",
                   "            self.creation.initialized(msg.descriptor.range_id)\n"
                   "            self._routes_dirty = True\n",
                   "            self.creation.initialized(msg.descriptor.range_id)\n"),
              Edit(ReplicaCore, "client",
                   "if d is not None and not d.contains(req.args[0]):",
                   "if False:"),
              Edit(KVStateMachine, "_execute", "if not desc.contains(key):", "if False:"))),
    Mutation("follower_read",
             "a follower answers a read from its own state, without ReadIndex",
             (Edit(ReplicaCore, "client",
                   "        if r.state != StateType.LEADER:\n",
                   "        if r.state != StateType.LEADER and req.op is not ClientOp.GET:\n"),
              Edit(ReplicaCore, "client",
                   "            if self._admit_pending(responder):\n"
                   "                self.pending.read_batch.append((cmd, req.op, responder))\n",
                   "            respond_result(responder, req.op, self.sm.read(cmd),\n"
                   "                           self._range_end(), self.known_spans)\n"))),
)}


def _compile(fn: Any, source: str) -> Any:
    flags = __future__.annotations.compiler_flag
    code = compile(source, inspect.getsourcefile(fn) or "<mutation>", "exec", flags=flags,
                   dont_inherit=True)
    namespace: dict[str, Any] = {}
    exec(code, fn.__globals__, namespace)  # noqa: S102 (the code is ours, edited)
    return namespace[fn.__name__]


@contextmanager
def applied(mutation: Mutation) -> Iterator[None]:
    """Run the body with ``mutation``'s edits in place; the real code is restored after.
    Edits name their text as it is indented in the file."""
    sources: dict[tuple[type, str], str] = {}
    originals: dict[tuple[type, str], Any] = {}
    for e in mutation.edits:
        key = (e.owner, e.function)
        if key not in sources:
            originals[key] = e.owner.__dict__[e.function]
            sources[key] = inspect.getsource(originals[key])
        found = sources[key].count(e.old)
        if found != 1:
            raise MutationError(f"{mutation.name}: {e.owner.__name__}.{e.function} has "
                                f"{found} copies of {e.old!r}, not 1")
        sources[key] = sources[key].replace(e.old, e.new)
    try:
        for key, source in sources.items():
            setattr(key[0], key[1], _compile(originals[key], textwrap.dedent(source)))
        yield
    finally:
        for (owner, name), fn in originals.items():
            setattr(owner, name, fn)

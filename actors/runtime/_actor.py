"""The base class of actors that run on a `PooledRuntime`."""

from __future__ import annotations

import functools
import logging
from typing import TYPE_CHECKING, Any, Self

from pykka.messages import ProxyCall, ProxyGetAttr, ProxySetAttr

if TYPE_CHECKING:
    from types import TracebackType

    from multiraft.actors.runtime._ref import PooledActorRef

logger = logging.getLogger("actors.runtime")


class PooledActor:
    """Subclass this, as you would `pykka.ThreadingActor`, and `runtime.spawn()` it.

    The hooks and their contexts match pykka's: `__init__` runs in the spawning thread
    (with `self.actor_ref` already set); `on_start`, `on_receive`, `on_stop` and
    `on_failure` run on whichever worker runs the actor, never two at once, so the actor's
    state needs no lock. Public methods and attributes are reachable through
    `actor_ref.proxy()` exactly as through a pykka proxy.

    Failure policy (pykka's, scoped to this actor):
    - a handler raising `Exception` for an `ask` (or proxy call): the exception goes to
      the asker's future, is logged at INFO, and the actor carries on;
    - a handler raising for a `tell` (or `defer`): logged at ERROR, the actor stops,
      `on_failure(type, value, traceback)` runs (`on_stop` does not), asks still queued
      fail with `pykka.ActorDeadError`; no other actor is affected;
    - a `BaseException` that is not an `Exception` (e.g. `SystemExit`) fails the actor
      as above even in an ask, after handing it to the asker. Unlike pykka, other actors
      are not stopped: there is no global registry to stop them through;
    - `on_start` raising: logged, the actor stops, neither `on_stop` nor `on_failure`
      runs; `on_stop` / `on_failure` raising: logged, the actor is stopped anyway;
    - a message to a stopped actor: `tell` raises `pykka.ActorDeadError`, `ask` raises
      it (or returns a future holding it), `stop` answers False.
    """

    actor_ref: PooledActorRef[Self]
    """Handle to this actor; set by the runtime before `__init__` runs."""

    def stop(self) -> None:
        """Ask this actor to stop after the messages already queued (pykka's `Actor.stop`)."""
        self.actor_ref.stop(block=False)

    def on_start(self) -> None:
        """Run before the first message. If it raises, the actor stops (no `on_stop`)."""

    def on_stop(self) -> None:
        """Run after the last message when stopped by `stop()`; not after a failure."""

    def on_failure(
        self,
        exception_type: type[BaseException] | None,
        exception_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Run when a told message raised; the actor is stopped right after."""

    def on_receive(self, message: Any) -> Any:
        """Handle a message; the return value answers an `ask`. Default: log and ignore."""
        logger.warning("Unexpected message received by %s: %r", self.actor_ref, message)

    def on_batch_end(self) -> None:
        """Run after each turn's batch of messages (at most `batch_size`), on the same worker
        and turn: an actor that acts once per burst of inputs (a replica handling raft's
        Ready) does it here, without a message to itself. If it raises, the actor fails as
        if a told message had raised. Not part of pykka; default: nothing."""

    def _handle_proxy(self, message: ProxyCall | ProxyGetAttr | ProxySetAttr) -> Any:
        """Serve a pykka proxy message: call, read or write the attribute at its path."""
        if isinstance(message, ProxyCall):
            method: Any = functools.reduce(getattr, message.attr_path, self)
            return method(*message.args, **message.kwargs)
        if isinstance(message, ProxyGetAttr):
            return functools.reduce(getattr, message.attr_path, self)
        parent = functools.reduce(getattr, message.attr_path[:-1], self)
        return setattr(parent, message.attr_path[-1], message.value)

"""The base class of actors that run on a `PooledRuntime`."""

from __future__ import annotations

import functools
import logging
from typing import TYPE_CHECKING, Any, Self

from pykka.messages import ProxyCall, ProxyGetAttr, ProxySetAttr

if TYPE_CHECKING:
    from types import TracebackType

    from actors.runtime._ref import PooledActorRef

logger = logging.getLogger("actors.runtime")


class PooledActor:
    """Subclass this, as you would `pykka.ThreadingActor`, and `runtime.spawn()` it.

    The hooks and their contexts match pykka's: `__init__` runs in the spawning thread
    (with `self.actor_ref` already set); `on_start`, `on_receive`, `on_stop` and
    `on_failure` run on whichever worker runs the actor, never two at once, so the actor's
    state needs no lock. Public methods and attributes are reachable through
    `actor_ref.proxy()` exactly as through a pykka proxy.
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

    def _handle_proxy(self, message: ProxyCall | ProxyGetAttr | ProxySetAttr) -> Any:
        """Serve a pykka proxy message: call, read or write the attribute at its path."""
        if isinstance(message, ProxyCall):
            method = functools.reduce(getattr, message.attr_path, self)
            return method(*message.args, **message.kwargs)
        if isinstance(message, ProxyGetAttr):
            return functools.reduce(getattr, message.attr_path, self)
        parent = functools.reduce(getattr, message.attr_path[:-1], self)
        return setattr(parent, message.attr_path[-1], message.value)

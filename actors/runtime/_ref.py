"""The handle to a pooled actor, with pykka's `ActorRef` API."""

from __future__ import annotations

import uuid
import weakref
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar, cast, overload

from pykka import ActorDeadError, ActorProxy, Future, ThreadingFuture

from multiraft.actors.runtime._mailbox import STOP

if TYPE_CHECKING:
    from multiraft.actors.runtime._actor import PooledActor
    from multiraft.actors.runtime._mailbox import Mailbox

A = TypeVar("A", bound="PooledActor")


class PooledActorRef(Generic[A]):
    """Handle to a pooled actor; safe to share between threads and actors.

    Same contract as `pykka.ActorRef`: `tell`, `ask`, `stop`, `is_alive`, `proxy`, and
    futures that are real `pykka.ThreadingFuture`s (mixable with pykka's, e.g. in
    `pykka.get_all`). It is not registered in pykka's global `ActorRegistry`.

    pykka coupling (pinned by `pykka>=4.5,<5`, tested): `proxy()` builds a real
    `pykka.ActorProxy`, which reads `_actor_weakref` and sends `pykka.messages` Proxy*
    messages through `ask`/`tell`.
    """

    __slots__ = ("_actor_weakref", "_mailbox", "_post", "actor_class", "actor_urn")

    def __init__(self, actor: A, mailbox: Mailbox) -> None:
        self._mailbox = mailbox
        self._post = mailbox.post
        self._actor_weakref = weakref.ref(actor)
        self.actor_class: type[A] = actor.__class__
        self.actor_urn: str = uuid.uuid4().urn

    def __repr__(self) -> str:
        return f"<PooledActorRef for {self}>"

    def __str__(self) -> str:
        return f"{self.actor_class.__name__} ({self.actor_urn})"

    def is_alive(self) -> bool:
        """True until the actor stopped or failed (it may still be about to)."""
        return self._mailbox.alive

    def running_thread_id(self) -> int | None:
        """`threading.get_ident()` of the thread running this actor now; None while idle.

        The confinement hook: state owned by the actor may be touched only where this
        equals `threading.get_ident()`. (An ident, not a Thread, so the hot path sets it
        with one C call.)
        """
        return self._mailbox.running_thread_id

    def tell(self, message: Any) -> None:
        """Queue `message` without waiting. Raises `pykka.ActorDeadError` if stopped."""
        if not self._mailbox.alive:
            msg = f"{self} not found"
            raise ActorDeadError(msg)
        self._post((message, None))

    def tell_coalesced(self, message: Any) -> None:
        """Like `tell`, but a message (by identity) already queued and not yet handled is not
        queued again: for signals such as ticks. Not part of pykka's API."""
        if not self._mailbox.alive:
            msg = f"{self} not found"
            raise ActorDeadError(msg)
        self._mailbox.post_coalesced(message)

    @overload
    def ask(
        self, message: Any, *, block: Literal[False], timeout: float | None = None
    ) -> Future[Any]: ...

    @overload
    def ask(
        self, message: Any, *, block: Literal[True] = True, timeout: float | None = None
    ) -> Any: ...

    def ask(
        self, message: Any, *, block: bool = True, timeout: float | None = None
    ) -> Any | Future[Any]:
        """Send `message` and return the answer, or its future when `block` is False.

        An exception raised by the handler is raised here (or by `future.get()`); a
        stopped actor gives `pykka.ActorDeadError` the same way; `timeout` expiring
        raises `pykka.Timeout`. Never block on a pooled actor from a pooled actor: with
        every worker waiting, nobody is left to answer.
        """
        future: Future[Any] = ThreadingFuture()
        if self._mailbox.alive:
            self._post((message, future))
        else:
            error = ActorDeadError(f"{self} not found")
            future.set_exception((ActorDeadError, error, None))
        return future.get(timeout=timeout) if block else future

    @overload
    def stop(self, *, block: Literal[True] = True, timeout: float | None = None) -> bool: ...

    @overload
    def stop(self, *, block: Literal[False], timeout: float | None = None) -> Future[bool]: ...

    def stop(self, *, block: bool = True, timeout: float | None = None) -> bool | Future[bool]:
        """Stop after the messages already queued; `on_stop` runs on the actor.

        Answers True if the actor was alive (or already stopping) when asked, False if it
        was already dead; as a future when `block` is False.
        """
        future: Future[bool] = ThreadingFuture()
        if self._mailbox.alive:
            self._post((STOP, future))
        else:
            future.set(False)
        return future.get(timeout=timeout) if block else future

    def proxy(self) -> ActorProxy[Any]:
        """A `pykka.ActorProxy`: attribute reads and method calls return futures."""
        return ActorProxy(actor_ref=cast("Any", self))

"""One actor's mailbox: its message queue, its scheduling token and its lifecycle.

Envelopes are plain tuples `(message, reply_to)`; `reply_to` is a `pykka.Future` for an
ask and None for a tell. Posting appends to a deque and, only when the actor was idle,
hands the mailbox to the scheduler: a message to an idle actor is O(1) and an idle actor
costs nothing.

Scheduling invariant: the mailbox is in the scheduler's ready queue, being run by one
worker, or (in a simulation) delayed by a fault point, if and only if its `token` lock is
held. Whoever acquires the token submits
the mailbox; only the worker running it releases the token. So at most one worker runs
an actor at a time, and a message is never stranded: after releasing the token the worker
looks at the queue again and takes the token back if a message slipped in.
"""

from __future__ import annotations

import collections
import logging
import sys
import threading
from collections.abc import Callable
from threading import get_ident
from typing import TYPE_CHECKING, Any

from pykka import ActorDeadError
from pykka.messages import ProxyCall, ProxyGetAttr, ProxySetAttr

from multiraft.store.fault_points import FaultPoint, FaultPoints

if TYPE_CHECKING:
    from types import TracebackType

    from pykka import Future

    from multiraft.actors.runtime._actor import PooledActor

logger = logging.getLogger("actors.runtime")

class _Control:
    """Type of the runtime's own messages; user code cannot construct one."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"<{self.name}>"


STOP = _Control("stop")
"""Stop after the messages queued before it; its reply is True."""

COALESCED = _Control("coalesced")
"""The `reply_to` of a coalesced tell: the message is in `Mailbox.coalesced` until handled."""

Envelope = tuple[Any, "Future[Any] | _Control | None"]
"""`(message, reply_to)`: reply_to is None for a tell, COALESCED for a coalesced one."""

PROXY_MESSAGES = frozenset({ProxyCall, ProxyGetAttr, ProxySetAttr})
"""pykka's proxy messages (public API of `pykka.messages`), sent by `pykka.ActorProxy`."""


class Mailbox:
    """Queue, scheduling token and lifecycle of one pooled actor.

    Lifecycle: created with the token held (so messages sent from the actor's own
    `__init__` wait), then `activate()`d; the first run calls `on_start`; handling STOP
    calls `on_stop`; an exception in a told message calls `on_failure`. Once not `alive`,
    every queued or late envelope is drained: asks fail with `pykka.ActorDeadError`,
    stop requests answer True.
    """

    __slots__ = (
        "_acquire",
        "_batch_size",
        "_faults",
        "_on_stopped",
        "_started",
        "_submit",
        "_token",
        "actor",
        "alive",
        "coalesced",
        "queue",
        "running_thread_id",
    )

    def __init__(
        self,
        actor: PooledActor,
        *,
        submit: Callable[[Mailbox], None],
        on_stopped: Callable[[Mailbox], None],
        batch_size: int,
        faults: FaultPoints | None = None,
    ) -> None:
        self.actor = actor
        self._faults = faults
        self.queue: collections.deque[Envelope] = collections.deque()
        self.coalesced: set[Any] = set()
        """Messages told with `post_coalesced` that are queued and not yet handled."""
        self.alive = True
        self.running_thread_id: int | None = None
        """`threading.get_ident()` of the thread running this actor now, None between runs."""
        self._token = threading.Lock()
        self._token.acquire()
        self._acquire = self._token.acquire
        self._submit = submit
        self._on_stopped = on_stopped
        self._batch_size = batch_size
        self._started = False

    def __str__(self) -> str:
        return str(self.actor.actor_ref)

    def activate(self) -> None:
        """Give the token, held since creation, to the scheduler: the first run starts the actor."""
        self._submit(self)

    def post(self, envelope: Envelope) -> None:
        """Queue an envelope; schedule the actor if it was idle. Callable from any thread."""
        self.queue.append(envelope)
        if self._acquire(False):
            self._submit(self)

    def post_coalesced(self, message: Any) -> None:
        """Queue ``message`` unless the same object is already queued and not yet handled.

        A signal (a tick, say) told faster than the actor handles it is delivered once, not
        piled up: an overloaded actor slows its own clock instead of growing a backlog. Two
        racing posts may both queue it (harmless); a post is never lost, because the handler
        forgets a message before handling it.
        """
        if message in self.coalesced:
            return
        self.coalesced.add(message)
        self.post((message, COALESCED))

    def run(self) -> None:
        """Handle up to one batch of envelopes, then reschedule or go idle.

        Called by the scheduler while this mailbox holds the token, so never concurrently.
        This and `post` are the hot path: a fixed few frames per batch, plus the handler's.
        A simulation's fault point may put the turn off (the token stays held meanwhile).
        """
        faults = self._faults
        if faults is not None and faults.delay(FaultPoint.DELAY_MAILBOX_TURN, self._resume):
            return
        queue = self.queue
        self.running_thread_id = get_ident()
        if not self._started:
            self._start()
        if self.alive:
            self._handle_batch(queue)
            if self.alive:
                try:
                    self.actor.on_batch_end()
                except BaseException:
                    self._fail(*sys.exc_info())
        if not self.alive:
            self._drain(queue)
        self.running_thread_id = None
        if queue:
            self._submit(self)
            return
        self._token.release()
        if queue and self._acquire(False):
            self._submit(self)

    def _resume(self) -> None:
        """A delayed turn is due (``FaultPoint.DELAY_MAILBOX_TURN``): to the scheduler again."""
        self._submit(self)

    def _start(self) -> None:
        """Run `on_start`; if it raises, log and stop without `on_stop` (pykka's policy)."""
        self._started = True
        try:
            self.actor.on_start()
        except BaseException:
            logger.exception("Unhandled exception in %s.on_start:", self)
            self._die()

    def _handle_batch(self, queue: collections.deque[Envelope]) -> None:
        """Handle at most `batch_size` envelopes, stopping early if the actor dies.

        pykka's proxy messages go to `_handle_proxy`, the rest straight to `on_receive`.
        """
        actor = self.actor
        on_receive = actor.on_receive
        popleft = queue.popleft
        message: Any
        for _ in range(min(self._batch_size, len(queue))):
            message, envelope_reply = popleft()
            reply_to: Future[Any] | None
            if isinstance(envelope_reply, _Control):  # COALESCED
                self.coalesced.discard(message)
                reply_to = None
            else:
                reply_to = envelope_reply
            if message is STOP:
                self._stop(reply_to)
                return
            try:
                if message.__class__ in PROXY_MESSAGES:
                    # the class test above is the narrowing (mypy cannot see it; a cast here
                    # would cost a call per message on the hot path)
                    result = actor._handle_proxy(message)  # type: ignore[arg-type]  # noqa: SLF001
                else:
                    result = on_receive(message)
            except Exception:
                if reply_to is None:
                    self._fail(*sys.exc_info())
                    return
                logger.info("Exception returned from %s to caller:", self, exc_info=True)
                reply_to.set_exception()
                continue
            except BaseException:
                if reply_to is not None:
                    reply_to.set_exception()
                self._fail(*sys.exc_info())
                return
            if reply_to is not None:
                reply_to.set(result)

    def _stop(self, reply_to: Future[Any] | None) -> None:
        """Handle STOP: mark dead, run `on_stop` (errors are logged), answer True."""
        self._die()
        try:
            self.actor.on_stop()
        except BaseException:
            logger.exception("Unhandled exception in %s.on_stop:", self)
        if reply_to is not None:
            reply_to.set(True)

    def _fail(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """A told message raised: log, mark dead, run `on_failure` (not `on_stop`)."""
        logger.error("Unhandled exception in %s:", self, exc_info=exc_value)
        self._die()
        try:
            self.actor.on_failure(exc_type, exc_value, traceback)
        except BaseException:
            logger.exception("Unhandled exception in %s.on_failure:", self)

    def _die(self) -> None:
        """Refuse new messages and leave the runtime's set of live actors."""
        self.alive = False
        self._on_stopped(self)

    def _drain(self, queue: collections.deque[Envelope]) -> None:
        """Answer every envelope left in a dead actor's queue; tells are dropped."""
        while queue:
            message, reply_to = queue.popleft()
            if reply_to is None or isinstance(reply_to, _Control):
                continue
            if message is STOP:
                reply_to.set(True)
            else:
                error = ActorDeadError(f"{self} stopped before handling the message")
                reply_to.set_exception((ActorDeadError, error, None))

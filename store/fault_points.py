"""``FaultPoints``: places in the node's code where a simulation may make something legal but
rare happen, to reach the interleavings a real run meets once in a thousand (FoundationDB's
BUGGIFY). Production passes None, and every fault point is a single ``is not None`` test.

A fault point never makes the node do what it could not do for real: it only delays work the
node hands to someone else, as a slow disk or a descheduled thread would.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Protocol

__all__ = ["FaultPoint", "FaultPoints"]


class FaultPoint(enum.Enum):
    #: the group commit acknowledges one durable batch late (after other replicas' acks)
    DELAY_WRITE_ACK = "delay_write_ack"
    #: a mailbox with work waits before its turn (other actors' messages go first)
    DELAY_MAILBOX_TURN = "delay_mailbox_turn"


class FaultPoints(Protocol):
    def delay(self, point: FaultPoint, later: Callable[[], None]) -> bool:
        """True if ``point`` fires now: ``later`` is then called later, instead of the caller
        doing its work now. False: the caller goes on as usual."""

"""The errors a ``Client`` (and ``multiraft.aio.Client``) raises.

The rule: ``Timeout`` (and only it and its subclasses) means the outcome is unknown; any other
``ClientError`` means the operation was not applied. So a caller may retry anything but a
``Timeout`` freely, and a ``Timeout``'d write with the same client (its command id keeps it
applied at most once).

::

    ClientError
    ├── Timeout               no answer in time: outcome unknown
    │   └── SessionExpired    a retry found its session gone: outcome unknown
    ├── Refused               the cluster will never apply this request as sent
    │   ├── CommandTooLarge   a write over max_command_bytes (1.5 MiB by default)
    │   ├── TooManySessions   the range holds max_sessions client sessions already
    │   ├── RangeBoundary     a split at a key that already starts a range
    │   └── UnknownRange      a range id no node asked describes (a replica change, a transfer)
    └── Unavailable           every attempt was refused before it applied; retry later
        ├── NotLeader         the nodes asked do not lead the key's range (an election?)
        ├── Busy              the range's leader is overloaded or handing over leadership
        ├── RangeNotFound     no node asked holds the key's range
        └── RangeKeyMismatch  the range no longer owns the key (its descriptor changed)

A client retries ``Unavailable`` answers itself until its timeout; it raises one only when every
attempt was refused, else ``Timeout``.
"""

from __future__ import annotations

__all__ = ["ClientError", "Timeout", "SessionExpired", "Refused", "CommandTooLarge",
           "TooManySessions", "RangeBoundary", "UnknownRange", "Unavailable", "NotLeader", "Busy",
           "RangeNotFound", "RangeKeyMismatch"]


class ClientError(Exception):
    """Base of client errors. Except for ``Timeout``, the operation was not applied."""


class Timeout(ClientError):
    """No answer in time: the outcome is unknown (a write may or may not have been applied;
    retrying it with the same client keeps it applied at most once)."""


class SessionExpired(Timeout):
    """A retry of a write reached a range that holds no session for this client any more
    (idle past the session ttl, by the range's log clock): the retry was not run, but an
    earlier attempt may have applied before the session expired, so the outcome is unknown."""


class Refused(ClientError):
    """The cluster refused the request and will refuse it again (malformed, or a write the state
    machine cannot express): not applied; retrying it as it is cannot help."""


class CommandTooLarge(Refused):
    """A write whose key and values are over ``max_command_bytes``: refused before it was sent
    (the client's own check) or before it was proposed (the node's)."""


class TooManySessions(Refused):
    """The write would open a client session in a range that holds ``max_sessions`` already:
    not applied. New sessions open there once idle ones expire."""


class RangeBoundary(Refused):
    """A split at a key that already starts a range (the start of the key space included):
    nothing to split."""


class UnknownRange(Refused):
    """An operation on a range by id (``change_replicas``, ``transfer_leader``) whose id no
    node describes: every address asked answered STATUS, and none holds an initialized
    replica of it. Nothing was sent."""

    def __init__(self, message: str, range_id: int) -> None:
        super().__init__(message)
        self.range_id = range_id


class Unavailable(ClientError):
    """No node could serve the request before the timeout, and every attempt was refused
    before it applied (none is left in doubt): not applied."""


class NotLeader(Unavailable):
    """The last node asked does not lead the key's range and named no reachable leader.

    ``leader`` is the node id it named (0: none known)."""

    def __init__(self, message: str, leader: int = 0) -> None:
        super().__init__(message)
        self.leader = leader


class Busy(Unavailable):
    """The range's leader could not take the write now (too much uncommitted data, or a
    leadership transfer under way); a client backs off before it tries again."""


class RangeNotFound(Unavailable):
    """The last node asked holds no range for the key."""


class RangeKeyMismatch(Unavailable):
    """The replica asked no longer owns the key: its range's span changed since the client
    looked it up. A client refreshes its range cache from the descriptors in the answer and
    retries."""

"""Quorum arithmetic: which index a configuration has committed, and how an election stands.

A ``MajorityConfig`` is a set of voters; a ``JointConfig`` is two of them (incoming, outgoing)
during a membership transition, and a decision needs a majority of *each*.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from enum import IntEnum

__all__ = ["VoteResult", "MajorityConfig", "JointConfig", "INFINITE_INDEX"]

#: What an empty config reports as committed, so it never constrains a joint config's minimum.
INFINITE_INDEX = sys.maxsize


class VoteResult(IntEnum):
    PENDING = 0
    LOST = 1
    WON = 2


class MajorityConfig(frozenset[int]):
    """A set of voter ids; decisions need more than half of them."""

    def committed_index(self, acked: Mapping[int, int]) -> int:
        """The largest index acknowledged by a majority (missing voters count as 0)."""
        n = len(self)
        if n == 0:
            return INFINITE_INDEX
        if n == 1:
            (only,) = self
            return acked.get(only, 0)
        srt = sorted((acked.get(i, 0) for i in self), reverse=True)
        return srt[n // 2]

    def vote_result(self, votes: Mapping[int, bool]) -> VoteResult:
        """WON with a majority of yes, LOST once a majority can no longer be reached."""
        if not self:
            return VoteResult.WON  # by convention, so a joint config with an empty half works
        yes = no = 0
        for i in self:
            v = votes.get(i)
            if v is True:
                yes += 1
            elif v is False:
                no += 1
        q = len(self) // 2 + 1
        if yes >= q:
            return VoteResult.WON
        if yes + (len(self) - yes - no) >= q:
            return VoteResult.PENDING
        return VoteResult.LOST

    def __repr__(self) -> str:
        return "(" + " ".join(str(i) for i in sorted(self)) + ")"


class JointConfig:
    """Two majority configs; ``outgoing`` is empty outside a joint transition."""

    __slots__ = ("incoming", "outgoing")

    def __init__(self, incoming: Iterable[int] = (), outgoing: Iterable[int] = ()) -> None:
        self.incoming = MajorityConfig(incoming)
        self.outgoing = MajorityConfig(outgoing)

    def ids(self) -> frozenset[int]:
        return self.incoming | self.outgoing

    def is_joint(self) -> bool:
        return bool(self.outgoing)

    def committed_index(self, acked: Mapping[int, int]) -> int:
        return min(self.incoming.committed_index(acked), self.outgoing.committed_index(acked))

    def vote_result(self, votes: Mapping[int, bool]) -> VoteResult:
        r1 = self.incoming.vote_result(votes)
        r2 = self.outgoing.vote_result(votes)
        if r1 == r2:
            return r1
        if VoteResult.LOST in (r1, r2):
            return VoteResult.LOST
        return VoteResult.PENDING

    def copy(self) -> JointConfig:
        return JointConfig(self.incoming, self.outgoing)

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, JointConfig) and self.incoming == other.incoming
                and self.outgoing == other.outgoing)

    def __repr__(self) -> str:
        if self.outgoing:
            return f"{self.incoming!r}&&{self.outgoing!r}"
        return repr(self.incoming)

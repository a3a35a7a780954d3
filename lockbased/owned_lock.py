"""``OwnedLock``: a mutex that records which thread holds it, so a test can prove that a
replica's raft state is never touched without its lock."""

from __future__ import annotations

import threading
from threading import get_ident

__all__ = ["OwnedLock"]


class OwnedLock:
    """Invariant: ``owner`` is the ident of the thread holding the lock, None when free."""

    __slots__ = ("_lock", "owner")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.owner: int | None = None

    def __enter__(self) -> OwnedLock:
        self._lock.acquire()
        self.owner = get_ident()
        return self

    def __exit__(self, *exc: object) -> None:
        self.owner = None
        self._lock.release()

    def held_by_caller(self) -> bool:
        return self.owner == get_ident()

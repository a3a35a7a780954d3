"""Fixtures for actor runtime tests: a threaded runtime and a manually stepped one."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from multiraft.actors.runtime import ManualScheduler, PooledRuntime, ThreadPoolScheduler


@pytest.fixture
def pooled() -> Iterator[PooledRuntime]:
    """A started two-worker runtime, stopped after the test; asserts no thread leaked."""
    before = set(threading.enumerate())
    runtime = PooledRuntime(ThreadPoolScheduler(workers=2)).start()
    yield runtime
    runtime.stop(timeout=10)
    assert set(threading.enumerate()) <= before


@pytest.fixture
def manual() -> ManualScheduler:
    """A FIFO manual scheduler: nothing runs until the test steps it."""
    return ManualScheduler()


@pytest.fixture
def stepped(manual: ManualScheduler) -> Iterator[PooledRuntime]:
    """A runtime on the `manual` scheduler."""
    runtime = PooledRuntime(manual).start()
    yield runtime
    runtime.stop(timeout=10)

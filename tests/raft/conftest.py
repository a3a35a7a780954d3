"""Fixtures for the raft tests; the harness itself lives in ``harness.py`` (network of RawNodes)
and ``sim.py`` (the seeded discrete-event simulator)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from harness import Network  # noqa: E402


@pytest.fixture
def net() -> Callable[..., Network]:
    """Factory: ``net(ids, learners=(), storages=None, **config)`` -> a fresh Network."""
    return Network

"""Fixtures: every engine test runs against both engines with the same code."""

from __future__ import annotations

import pytest

from multiraft.storage import MemoryEngine, RocksEngine


@pytest.fixture(params=["memory", "rocks"])
def make_engine(request, tmp_path):
    """A factory of fresh engines of one kind; all are closed at teardown."""
    made = []

    def make():
        e = MemoryEngine() if request.param == "memory" else RocksEngine(str(tmp_path / f"db{len(made)}"))
        made.append(e)
        return e

    yield make
    for e in made:
        e.close()


@pytest.fixture
def engine(make_engine):
    return make_engine()

"""Shared helpers for the test suite: client-history recording and the linearizability checker.

Import as ``from tests.support.history import HistoryRecorder`` and
``from tests.support.linearizability import check_linearizable``.
"""

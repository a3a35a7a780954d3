"""Shared helpers for the test suite: a scripted stand-in for a node's client endpoint
(``fake_node``) and the README's quick start checked end to end (``quick_start``). The history
recorder and the linearizability checker are a product feature: ``multiraft.check``."""

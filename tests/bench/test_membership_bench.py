"""bench/membership.py's balance rule and report (the live run is the benchmark itself)."""

from __future__ import annotations

from multiraft.bench.membership import _balanced, _markdown


def test_balanced_means_within_ten_percent_plus_one_and_leaders_within_their_share() -> None:
    assert _balanced({1: (24, 8), 2: (24, 8), 3: (24, 8), 4: (24, 8)}, 32) == (True, True)
    assert _balanced({1: (32, 16), 2: (32, 8), 3: (32, 8), 4: (0, 0)}, 32) == (False, False)
    assert _balanced({1: (26, 9), 2: (24, 8), 3: (23, 8), 4: (23, 7)}, 32) == (True, True)
    assert _balanced({1: (24, 10), 2: (24, 8), 3: (24, 7), 4: (24, 7)}, 32) == (True, False)


def test_the_report_has_a_row_per_run() -> None:
    run = {"design": "actors", "ranges": 32, "balanced_s": 12.5, "leaders_balanced_s": 14.0,
           "replicas_on_new_node": 24, "writes_per_s_before": 900.0,
           "writes_per_s_rebalancing": 700.0, "writes_per_s_after": 950.0}
    md = _markdown([run, {**run, "design": "locks"}])
    assert md.count("\n") == 4 and "| actors | 32 | 12.5 | 14.0 | 24 | 900 | 700 | 950 |" in md

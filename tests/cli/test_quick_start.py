"""The README's main command, from a checkout: ``multiraft-cluster --nodes 3 --ranges 16 --dir
DIR --workload S`` serves, keeps serving, and stops on Ctrl-C (``tests/support/quick_start``)."""

from __future__ import annotations

import sys
from pathlib import Path

from tests.support.quick_start import check_quick_start

from .conftest import BIN, ROOT, free_base_port


def test_quick_start_serves_a_workload_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    check_quick_start(
        [sys.executable, str(BIN / "multiraft-cluster"), "--nodes", "3", "--ranges", "16",
         "--dir", str(tmp_path / "data"), "--workload", "2", "--base-port", str(free_base_port())],
        tmp_path / "data", cwd=ROOT)

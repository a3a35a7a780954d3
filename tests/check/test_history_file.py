"""A saved history reads back exactly (bytes that are not UTF-8, outcome-unknown operations,
every output kind), and a file that is not one is refused with a clear error."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from multiraft.check.history import UNKNOWN_OUTPUT, OpKind, Operation
from multiraft.check.history_file import (FORMAT, HistoryFileError, dump_history, load_history,
                                          save_history)


def test_a_history_round_trips_through_its_file(tmp_path: Path) -> None:
    ops = [Operation(0, OpKind.PUT, (b"k\x00\xfe", b"0:1"), None, 1, 2),
           Operation(1, OpKind.GET, (b"k\x00\xfe",), b"0:1", 3, 4),
           Operation(1, OpKind.GET, (b"other",), None, 3, 4),
           Operation(2, OpKind.CAS, (b"k\x00\xfe", None, b"2:0"), False, 5, 9),
           Operation(2, OpKind.CAS, (b"k\x00\xfe", b"0:1", b"2:1"), UNKNOWN_OUTPUT, 10, math.inf),
           Operation(3, OpKind.DELETE, (b"other",), None, 11, 12)]
    path = save_history(tmp_path / "h.json", dump_history(ops, "ok", "", {"seconds": 1}))
    back, doc = load_history(path)
    assert back == ops
    assert doc["format"] == FORMAT and doc["run"] == {"seconds": 1}
    unknown = json.loads(path.read_text())["operations"][4]
    assert unknown["return_ns"] is None and unknown["output"] is None


@pytest.mark.parametrize("text, message", [
    ("not json", "cannot read"),
    ('{"format": "something-else"}', "is not a multiraft-check-history/1 file"),
    (json.dumps({"format": FORMAT, "operations": [{"client": 0, "op": "put", "args": ["k"],
                                                   "output": None, "call_ns": 0,
                                                   "return_ns": 1}]}), "operation 0"),
])
def test_a_file_that_is_not_a_history_is_refused(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(HistoryFileError, match=message):
        load_history(path)

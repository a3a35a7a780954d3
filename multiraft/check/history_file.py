"""A history saved as JSON (what ``multiraft check`` writes when a history is not
linearizable, and reads back with ``--history FILE``).

::

    {"format": "multiraft-check-history/1",
     "verdict": "illegal", "explanation": "key ...: not linearizable ...",
     "run": {...what ran: cluster, design, seconds, clients, the nemesis' events...},
     "operations": [{"client": 3, "op": "cas", "args": ["k", "3:4", "3:9"], "output": true,
                     "call_ns": 1200, "return_ns": 1900}, ...]}

Times are the recording process's monotonic clock in nanoseconds. ``return_ns`` is null for
an operation whose outcome the client never learned (then ``output`` is null too and means
nothing). Keys and values are bytes, written as UTF-8 text (other bytes as surrogate escapes,
so they read back exactly); other JSON scalars stay as they are. ``output`` is the value read
(``get``; null: absent), whether the swap happened (``cas``) or null (``put``, ``delete``).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .history import UNKNOWN_OUTPUT, Operation, validate_call

__all__ = ["FORMAT", "HistoryFileError", "dump_history", "load_history", "save_history"]

FORMAT = "multiraft-check-history/1"


class HistoryFileError(ValueError):
    """The file is not a history this module wrote."""


def _out(v: Any) -> Any:
    if isinstance(v, bytes):
        return v.decode("utf-8", "surrogateescape")
    return v


def _in(v: Any) -> Any:
    if isinstance(v, str):
        return v.encode("utf-8", "surrogateescape")
    return v


def _operation(op: Operation) -> dict[str, Any]:
    known = op.outcome_known
    return {"client": op.client_id, "op": op.kind.value, "args": [_out(a) for a in op.args],
            "output": _out(op.output) if known else None, "call_ns": op.call_ns,
            "return_ns": int(op.return_ns) if known else None}


def dump_history(history: Iterable[Operation], verdict: str, explanation: str = "",
                 run: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The JSON document of ``history`` and its verdict."""
    return {"format": FORMAT, "verdict": verdict, "explanation": explanation,
            "run": dict(run or {}), "operations": [_operation(op) for op in history]}


def save_history(path: str | os.PathLike[str], document: Mapping[str, Any]) -> Path:
    """Write ``document`` (from ``dump_history``) to ``path`` (complete or not at all)."""
    target = Path(path)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(json.dumps(document, indent=1) + "\n")
    tmp.replace(target)
    return target


def load_history(path: str | os.PathLike[str]) -> tuple[list[Operation], dict[str, Any]]:
    """The operations of a saved history, and its whole document."""
    try:
        doc = json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        raise HistoryFileError(f"cannot read {path}: {e}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise HistoryFileError(f"{path} is not a {FORMAT} file")
    ops: list[Operation] = []
    try:
        for o in doc["operations"]:
            known = o["return_ns"] is not None
            args = tuple(_in(a) for a in o["args"])
            ops.append(Operation(int(o["client"]), validate_call(o["op"], args), args,
                                 _in(o["output"]) if known else UNKNOWN_OUTPUT, int(o["call_ns"]),
                                 int(o["return_ns"]) if known else math.inf))
    except (KeyError, TypeError, ValueError) as e:
        raise HistoryFileError(f"{path}: operation {len(ops)}: {e!r}") from None
    return ops, doc

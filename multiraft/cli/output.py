"""How the ``multiraft`` CLI writes what it read: bytes as text, plain-text tables, and JSON.

Keys and values are bytes; the CLI prints them decoded as UTF-8 with
``errors="backslashreplace"`` (a byte that is not UTF-8 shows as ``\\xNN``), in tables and in
``--json`` output alike.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any, TextIO

__all__ = ["text", "jsonable", "print_json", "format_table", "print_table"]


def text(b: bytes | None) -> str:
    """``b`` as printable text ("" for None)."""
    return "" if b is None else b.decode("utf-8", errors="backslashreplace")


def jsonable(v: Any) -> Any:
    """``v`` with every bytes turned into text and every mapping key into a string."""
    if isinstance(v, bytes):
        return text(v)
    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    return v


def print_json(v: Any, out: TextIO | None = None) -> None:
    print(json.dumps(jsonable(v), indent=2), file=out or sys.stdout)


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Left-aligned columns separated by two spaces, headers first; no wrapping, so a long
    cell widens its column instead of breaking a line."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells)


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]],
                out: TextIO | None = None) -> None:
    print(format_table(headers, rows), file=out or sys.stdout)

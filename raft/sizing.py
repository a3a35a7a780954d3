"""How raft counts the size of entries, for ``max_size_per_msg``, ``max_committed_size_per_ready``
and the uncommitted-entries limit."""

from __future__ import annotations

from collections.abc import Sequence

from .types import Entry

#: Bytes counted per entry besides its data (term, index and type on the wire).
ENTRY_OVERHEAD = 8


def entry_size(e: Entry) -> int:
    return len(e.data) + ENTRY_OVERHEAD


def payload_size(e: Entry) -> int:
    """What the uncommitted-entries limit counts: the data alone, so empty entries are free."""
    return len(e.data)


def limit_size(ents: list[Entry], max_size: int | None) -> list[Entry]:
    """The longest prefix of ``ents`` within ``max_size`` bytes, but never fewer than one entry.

    ``None`` means no limit; ``0`` means exactly one entry.
    """
    if max_size is None or len(ents) <= 1:
        return ents
    if sum([len(e.data) for e in ents]) + ENTRY_OVERHEAD * len(ents) <= max_size:
        return ents  # the common case, decided without a Python-level loop
    size = entry_size(ents[0])
    n = 1
    for n in range(1, len(ents)):
        size += len(ents[n].data) + ENTRY_OVERHEAD
        if size > max_size:
            break
    else:
        return ents
    return ents[:n]


def entries_size(ents: Sequence[Entry]) -> int:
    return sum(len(e.data) for e in ents) + ENTRY_OVERHEAD * len(ents)

"""``RangeDescriptor``: which slice of the user key space a range owns and who replicates it."""

from __future__ import annotations

from dataclasses import dataclass

import msgpack

from . import keys
from .engine import Reader
from .errors import StorageCorruptionError

__all__ = ["RangeDescriptor", "encode_descriptor", "decode_descriptor", "load_descriptors"]


@dataclass(slots=True, frozen=True)
class RangeDescriptor:
    """A range: user keys in ``[start_key, end_key)`` (``end_key=None``: to the end of the key
    space), replicated on ``replicas`` as ``(node_id, replica_id)`` pairs.

    Invariants: ``start_key < end_key`` when ``end_key`` is set; ``generation`` grows by one with
    every change of the span (split, merge) so a stale descriptor is recognisable.
    """

    range_id: int
    start_key: bytes
    end_key: bytes | None
    replicas: tuple[tuple[int, int], ...] = ()
    generation: int = 0

    def contains(self, key: bytes) -> bool:
        """Whether user key ``key`` belongs to this range."""
        return self.start_key <= key and (self.end_key is None or key < self.end_key)

    def wire(self) -> tuple[int, bytes, bytes, int]:
        """As the client protocol carries it (RANGE_KEY_MISMATCH, SPLIT answers):
        ``(range_id, start, end (b"" = no end), generation)``."""
        return (self.range_id, self.start_key, self.end_key or b"", self.generation)

    def engine_span(self) -> tuple[bytes, bytes]:
        """The engine keys ``[lo, hi)`` of this range's user data."""
        return keys.user_span(self.start_key, self.end_key)


def encode_descriptor(d: RangeDescriptor) -> bytes:
    return msgpack.packb([d.range_id, d.start_key, d.end_key, d.replicas, d.generation])


def decode_descriptor(b: bytes) -> RangeDescriptor:
    try:
        range_id, start, end, replicas, generation = msgpack.unpackb(b)
        if not isinstance(start, bytes) or not (end is None or isinstance(end, bytes)):
            raise TypeError("span keys must be bytes")
        return RangeDescriptor(int(range_id), start, end,
                               tuple((int(n), int(r)) for n, r in replicas), int(generation))
    except Exception as e:  # msgpack raises several unrelated types on bad input
        raise StorageCorruptionError(f"bad range descriptor record: {e!r}") from None


def load_descriptors(reader: Reader) -> list[RangeDescriptor]:
    """Every range descriptor stored in the engine, by range id: what a store reopens.

    Costs two reads per range (it hops from one range's records to the next), not a scan of
    every log.
    """
    out: list[RangeDescriptor] = []
    lo, hi = keys.range_prefix(0), keys.USER_PREFIX
    while True:
        first = reader.scan(lo, hi, limit=1)
        if not first:
            return out
        rid = keys.range_id_of_key(first[0][0])
        raw = reader.get(keys.descriptor_key(rid))
        if raw is not None:
            out.append(decode_descriptor(raw))
        if rid == 2**64 - 1:
            return out
        lo = keys.range_prefix(rid + 1)

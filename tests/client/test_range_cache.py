"""``RangeCache`` (``multiraft.routing``) under splits (issue 13): whatever stale views it is
fed (a lagging node's STATUS, RANGE_KEY_MISMATCH answers naming old descriptors), in whatever
order, it never goes back to an older generation (CockroachDB #105294), never holds two
overlapping ranges, and holds only descriptors that existed."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from multiraft.routing import RangeCache

#: (range_id, start, end or None, generation)
Desc = tuple[int, bytes, "bytes | None", int]

ALPHABET = [bytes([c]) for c in b"bdfhjlnprtvx"]
PROBES = [b""] + [bytes([c]) for c in b"abcdefghijklmnopqrstuvwxyz"]


def history(rng: random.Random, splits: int) -> list[list[Desc]]:
    """The key space's tilings after 0, 1, ... ``splits`` splits (each of a random range at a
    random key inside it, both halves at the parent's generation + 1)."""
    tiling: list[Desc] = [(1, b"", None, 0)]
    out = [list(tiling)]
    next_id = 2
    for _ in range(splits):
        rng.shuffle(tiling)
        for i, (rid, start, end, gen) in enumerate(tiling):
            keys = [k for k in ALPHABET if start < k and (end is None or k < end)]
            if keys:
                k = rng.choice(keys)
                tiling[i] = (rid, start, k, gen + 1)
                tiling.append((next_id, k, end, gen + 1))
                next_id += 1
                break
        tiling.sort(key=lambda d: d[1])
        out.append(list(tiling))
    return out


def covering(cache: RangeCache, key: bytes) -> int | None:
    r = cache.lookup(key)
    return None if r is None else r.generation


@settings(max_examples=300, deadline=None)
@given(seed=st.integers(0, 2**32), splits=st.integers(1, 11), views=st.integers(1, 30))
def test_the_cache_never_goes_back_to_an_older_generation(seed: int, splits: int,
                                                          views: int) -> None:
    """Proves, for random split histories and random sequences of views (each a random subset
    of the tiling at a random moment of the history, some mixing moments, learnt as a STATUS
    answer or as a RANGE_KEY_MISMATCH answer): after every view, (1) no two cached ranges
    overlap; (2) every cached range is a descriptor of the history; (3) for every key, the
    generation of the cached range holding it is at least the highest that ever held it."""
    rng = random.Random(seed)
    tilings = history(rng, splits)
    versions = {d for t in tilings for d in t}
    cache = RangeCache()
    best: dict[bytes, int] = {}
    for _ in range(views):
        moments = [rng.randrange(len(tilings)) for _ in range(rng.choice((1, 1, 2)))]
        view = [d for m in moments for d in tilings[m] if rng.random() < 0.7]
        if rng.random() < 0.5:  # a STATUS answer
            cache.learn_ranges([{"range_id": rid, "start_key": s, "end_key": e or b"",
                                 "generation": g, "leader": 1, "state": "follower"}
                                for rid, s, e, g in view])
        else:  # a RANGE_KEY_MISMATCH answer
            cache.learn_descriptors([(rid, s, e or b"", g) for rid, s, e, g in view])
        cached = [(r.range_id, r.start, r.end, r.generation) for r in cache._ranges]
        assert all(d in versions for d in cached), cached
        for a, b in zip(cached, cached[1:]):
            assert a[2] is not None and a[2] <= b[1], f"overlap: {a} {b}"
        for key in PROBES:
            gen = covering(cache, key)
            if gen is None:
                continue
            assert gen >= best.get(key, 0), (key, gen, best.get(key), cached)
            best[key] = gen

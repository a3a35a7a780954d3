"""The automatic split decisions (replica/auto_split.py): the median key by bytes, the load
finder's balanced key and its 10 s rule, the node's rate limit."""

from __future__ import annotations

from multiraft.replica.auto_split import (LOAD_SPLIT_SECONDS, LoadSplitFinder, SplitRateLimiter,
                                          find_split_key)
from multiraft.storage import MemoryEngine, RangeDescriptor, keys


def engine_with(pairs: dict[bytes, bytes]) -> MemoryEngine:
    e = MemoryEngine()
    b = e.batch()
    for k, v in pairs.items():
        b.put(keys.user_key(k), v)
    e.write(b)
    return e


def test_median_key_by_bytes_over_many_pages() -> None:
    """Proves: with 5,000 equal pairs (five scan pages) the key found halves the bytes, and
    the total is exact; keys outside the range are not counted."""
    pairs = {b"k%05d" % i: b"v" * 100 for i in range(5000)}
    pairs[b"zz-outside"] = b"x" * 10_000
    e = engine_with(pairs)
    total, key = find_split_key(e, RangeDescriptor(1, b"", b"z"))
    assert total == 5000 * (6 + 100)
    assert key is not None and b"k02490" <= key <= b"k02510"


def test_skewed_bytes_and_unsplittable_ranges() -> None:
    """Proves: one huge value makes the split land right after it (never at the range start);
    a range with a single key, or none, cannot split."""
    e = engine_with({b"a": b"x" * 100_000, b"b": b"y", b"c": b"z"})
    assert find_split_key(e, RangeDescriptor(1, b"", None))[1] == b"b"
    assert find_split_key(e, RangeDescriptor(1, b"a", b"b"))[1] is None
    assert find_split_key(engine_with({}), RangeDescriptor(1, b"", None)) == (0, None)


def test_load_finder_splits_only_after_sustained_load_at_a_balanced_key() -> None:
    """Proves: 200 requests/s over uniform keys, with a 100 qps threshold, yield a key near
    the middle only after LOAD_SPLIT_SECONDS; a dip below the threshold starts over; a load on
    a single key never yields a split key (no key divides it)."""
    f = LoadSplitFinder(100, seed=1)
    t = 1000.0
    f._window_start = t
    def second(keys_: list[bytes]) -> None:
        nonlocal t
        for i, k in enumerate(keys_):
            f.record(k, t + i / len(keys_))
        t += 1.0
    uniform = [b"u%03d" % (i * 5 % 200) for i in range(200)]
    for _ in range(int(LOAD_SPLIT_SECONDS) - 1):
        second(uniform)
        assert f.split_key(t) is None
    second(uniform)
    second(uniform)
    key = f.split_key(t)
    assert key is not None and b"u050" <= key <= b"u150"
    second(uniform[:10])  # a quiet second: start over
    second(uniform)
    assert f.split_key(t) is None
    g = LoadSplitFinder(100, seed=2)
    g._window_start = t
    for s in range(int(LOAD_SPLIT_SECONDS) + 2):
        for i in range(200):
            g.record(b"hot", t + s + i / 200)
    assert g.split_key(t + LOAD_SPLIT_SECONDS + 2) is None


def test_rate_limiter_allows_two_a_second() -> None:
    lim = SplitRateLimiter(2.0)
    now = 1000.0  # (its clock is the caller's: the first call only starts counting)
    assert lim.try_acquire(now) and lim.try_acquire(now) and not lim.try_acquire(now)
    assert lim.try_acquire(now + 0.5) and not lim.try_acquire(now + 0.5)

"""When a range's leader splits it on its own: by size, and by load (CockroachDB's split queue
and load-based splitter, TiKV's split checker).

- **By size.** A range whose user data exceeds ``split_bytes`` splits at its median key by
  bytes. The state machine keeps an incremental estimate (``KVStateMachine.data_bytes``: no scan
  per write); once it passes the threshold the leader scans the range once (``find_split_key``)
  for the real size and the median, and corrects the estimate.
- **By load.** ``LoadSplitFinder``: a range whose request rate stays at or above ``split_qps``
  for ``LOAD_SPLIT_SECONDS`` splits at a key that divides its requests: the finder samples
  request keys (a reservoir of ``SAMPLES``), counts for each sample how many later requests fall
  left and right of it, and picks the most balanced one (CockroachDB's ``split.Finder``).
- **Rate-limited per node.** ``SplitRateLimiter``: a token bucket every replica of the node
  shares, ``SPLITS_PER_SECOND`` splits a second.
"""

from __future__ import annotations

import random
import threading
import time

from multiraft.storage import keys
from multiraft.storage.engine import Reader
from multiraft.storage.range_descriptor import RangeDescriptor

__all__ = ["LoadSplitFinder", "SplitRateLimiter", "find_split_key", "SAMPLES",
           "LOAD_SPLIT_SECONDS", "SPLITS_PER_SECOND"]

#: Keys the load finder keeps as split candidates.
SAMPLES = 20
#: How long a range's request rate must stay at or above ``split_qps`` before it splits.
LOAD_SPLIT_SECONDS = 10.0
#: A candidate is good only if at least this share of the requests counted against it fell
#: on each side.
MIN_SIDE_SHARE = 0.25
#: Splits a node's leaders may propose per second (and in a burst).
SPLITS_PER_SECOND = 2.0
#: Pairs read per page while looking for the median key.
_PAGE = 1024


def find_split_key(reader: Reader, d: RangeDescriptor) -> tuple[int, bytes | None]:
    """The range's user data bytes and the key that halves them (by bytes of keys and values:
    the left half gets the keys below it), or None if no key but the range's start could
    divide it. Reads the range a page at a time: never the whole range in memory."""
    lo, hi = d.engine_span()
    marks: list[tuple[int, bytes]] = []  # (bytes before the page, the page's first key)
    total = 0
    while page := reader.scan(lo, hi, limit=_PAGE):
        marks.append((total, page[0][0]))
        total += sum(len(k) - 1 + len(v) for k, v in page)  # (less the key's prefix byte)
        if len(page) < _PAGE:
            break
        lo = page[-1][0] + b"\x00"
    if total == 0:
        return 0, None
    half = total // 2
    acc, first = [m for m in marks if m[0] <= half][-1]
    key = first
    for k, v in reader.scan(first, hi, limit=_PAGE):
        acc += len(k) - 1 + len(v)
        key = k
        if acc > half:
            break
    if key == marks[0][1]:  # the range's first key: split right after it (never leave an empty half)
        following = reader.scan(key + b"\x00", hi, limit=1)
        if not following:
            return total, None
        key = following[0][0]
    return total, keys.user_key_of(key)


class _Candidate:
    """A sampled request key, and how many later requests fell left of it and not."""

    __slots__ = ("key", "left", "right")

    def __init__(self, key: bytes) -> None:
        self.key, self.left, self.right = key, 0, 0


class LoadSplitFinder:
    """Invariants: ``_window_start`` begins the current one-second window and ``_count``
    counts its requests; ``_hot_since`` is when the windows started being at or above the
    threshold (None while below), and samples are kept only while hot."""

    __slots__ = ("qps", "_rng", "_window_start", "_count", "_hot_since", "_seen", "_samples",
                 "last_qps")

    def __init__(self, qps: float, seed: int = 0, now: float | None = None) -> None:
        self.qps = qps
        self._rng = random.Random(seed)
        self._window_start = time.monotonic() if now is None else now
        self._count = 0
        self._hot_since: float | None = None
        self._seen = 0
        self._samples: list[_Candidate] = []
        #: the request rate of the last full window
        self.last_qps = 0.0

    def record(self, key: bytes, now: float) -> None:
        """A request for ``key`` reached the leader at ``now`` (monotonic seconds)."""
        if now - self._window_start >= 1.0:
            self._roll(now)
        self._count += 1
        if self._hot_since is None:
            return
        samples = self._samples
        for c in samples:
            if key < c.key:
                c.left += 1
            else:
                c.right += 1
        self._seen += 1
        if len(samples) < SAMPLES:
            samples.append(_Candidate(key))
        else:
            i = self._rng.randrange(self._seen)
            if i < SAMPLES:
                samples[i] = _Candidate(key)

    def split_key(self, now: float) -> bytes | None:
        """The key to split at, once the range has been hot for ``LOAD_SPLIT_SECONDS``: the
        best-balanced sample with at least ``MIN_SIDE_SHARE`` of its counts on each side."""
        if now - self._window_start >= 1.0:
            self._roll(now)
        if self._hot_since is None or now - self._hot_since < LOAD_SPLIT_SECONDS:
            return None
        best: tuple[float, bytes] | None = None
        for c in self._samples:
            n = c.left + c.right
            if n < 100 or min(c.left, c.right) < MIN_SIDE_SHARE * n:
                continue
            score = abs(c.left - c.right) / n
            if best is None or score < best[0]:
                best = (score, c.key)
        return None if best is None else best[1]

    def reset(self) -> None:
        """Start over (after a split: the range's requests are not the same set)."""
        self._hot_since = None
        self._samples = []
        self._seen = 0

    def _roll(self, now: float) -> None:
        elapsed = now - self._window_start
        self.last_qps = self._count / elapsed
        if self.last_qps >= self.qps:
            if self._hot_since is None:
                self._hot_since = self._window_start
        else:
            self.reset()
        self._window_start, self._count = now, 0


class SplitRateLimiter:
    """A token bucket shared by a node's replicas (any thread): at most ``rate`` automatic
    splits a second, ``rate`` at once."""

    __slots__ = ("rate", "_tokens", "_at", "_lock")

    def __init__(self, rate: float = SPLITS_PER_SECOND) -> None:
        self.rate = rate
        self._tokens = rate
        #: when the tokens were last counted (None: never; the clock is the caller's)
        self._at: float | None = None
        self._lock = threading.Lock()

    def try_acquire(self, now: float) -> bool:
        with self._lock:
            if self._at is not None:
                self._tokens = min(self.rate, self._tokens + (now - self._at) * self.rate)
            self._at = now
            if self._tokens < 1.0:
                return False
            self._tokens -= 1.0
            return True

"""``SnapshotSender``'s rate: all streams together stay within the node's snapshot bytes per
second (a new replica's fill leaves room for serving), and 0 leaves them unpaced."""

from __future__ import annotations

import time
from collections.abc import Generator

from multiraft.raft.types import SnapshotMetadata
from multiraft.replica.snapshot_sender import SENDING, SnapshotSender
from multiraft.transport.codec import SnapshotChunk

CHUNK = 64 << 10


class _Transport:
    def __init__(self) -> None:
        self.sent: list[tuple[float, int]] = []

    def snapshot_bytes_queued(self, node_id: int) -> int:
        return 0

    def send_snapshot_chunk(self, node_id: int, chunk: SnapshotChunk) -> None:
        self.sent.append((time.monotonic(), len(chunk.data)))


def _chunks(n: int) -> Generator[SnapshotChunk, None, None]:
    for i in range(n):
        yield SnapshotChunk(1, 1, 2, 1, SnapshotMetadata(), i, i == n - 1, b"x" * CHUNK, 1)


def _send_two_streams(rate: float) -> tuple[float, _Transport]:
    t = _Transport()
    sender = SnapshotSender(t, rate=rate).start()
    try:
        start = time.monotonic()
        sender.submit(2, 1, 1, _chunks(4))
        sender.submit(3, 2, 1, _chunks(4))
        deadline = start + 30
        while SENDING in (sender.outcome(1, 1), sender.outcome(2, 1)):
            assert time.monotonic() < deadline, "the streams did not finish"
            time.sleep(0.01)
        return time.monotonic() - start, t
    finally:
        sender.stop()


def test_streams_together_stay_within_the_rate() -> None:
    rate = 8 * CHUNK  # 8 chunks a second: 8 chunks take at least 7/8 s
    took, t = _send_two_streams(rate)
    assert sum(n for _, n in t.sent) == 8 * CHUNK
    first, last = t.sent[0][0], t.sent[-1][0]
    assert last - first >= 7 / 8 * 0.95, f"8 chunks went in {last - first:.3f}s"
    assert took < 10


def test_rate_zero_sends_unpaced() -> None:
    took, t = _send_two_streams(0.0)
    assert len(t.sent) == 8 and took < 5

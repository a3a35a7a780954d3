"""Unit tests of ``raft/progress.py`` (the leader's view of one follower), modelled on
etcd-io/raft's tracker/progress_test.go, plus the transitions its raft_test.go exercises through
the Progress API (flow control in probe/replicate, snapshot pausing, sent_commit bookkeeping).
"""

from __future__ import annotations

import pytest

from multiraft.raft.inflights import Inflights
from multiraft.raft.progress import Progress, ProgressState

PROBE, REPLICATE, SNAPSHOT = ProgressState.PROBE, ProgressState.REPLICATE, ProgressState.SNAPSHOT


def progress(match: int, next_: int, state: ProgressState = PROBE, *, size: int = 256,
             max_bytes: int = 0, pending_snapshot: int = 0, paused: bool = False) -> Progress:
    pr = Progress(match, next_, Inflights(size, max_bytes))
    pr.state = state
    pr.pending_snapshot = pending_snapshot
    pr.msg_app_flow_paused = paused
    return pr


def test_new_progress() -> None:
    ins = Inflights(4)
    pr = Progress(3, 4, ins, is_learner=True, recent_active=True)
    assert (pr.match, pr.next, pr.state) == (3, 4, PROBE)
    assert pr.sent_commit == 0
    assert pr.pending_snapshot == 0
    assert pr.is_learner and pr.recent_active
    assert not pr.msg_app_flow_paused
    assert pr.inflights is ins
    assert not pr.is_paused()
    defaults = Progress(0, 1, Inflights(4))
    assert not defaults.is_learner and not defaults.recent_active


@pytest.mark.parametrize("state,paused,want", [
    (PROBE, False, False),
    (PROBE, True, True),
    (REPLICATE, False, False),
    (REPLICATE, True, True),
    (SNAPSHOT, False, True),
    (SNAPSHOT, True, True),
])
def test_is_paused(state: ProgressState, paused: bool, want: bool) -> None:
    """etcd TestProgressIsPaused."""
    pr = progress(0, 1, state, paused=paused)
    assert pr.is_paused() == want


def test_resume() -> None:
    """etcd TestProgressResume: a rejection handled in probe and any ack unpause the flow."""
    pr = progress(0, 2, paused=True)
    assert pr.maybe_decr_to(1, 1)
    assert not pr.msg_app_flow_paused
    pr.msg_app_flow_paused = True
    assert pr.maybe_update(2)
    assert not pr.msg_app_flow_paused


@pytest.mark.parametrize("state,pending,wnext", [
    (REPLICATE, 0, 2),
    (PROBE, 0, 2),
    (SNAPSHOT, 10, 11),  # snapshot finished: probe right after it
    (SNAPSHOT, 0, 2),    # snapshot failed (pending reset): probe after the match
    (SNAPSHOT, 1, 2),    # a snapshot not past the match: probe after the match
])
def test_become_probe(state: ProgressState, pending: int, wnext: int) -> None:
    """etcd TestProgressBecomeProbe (match=1, next=5)."""
    pr = progress(1, 5, state, pending_snapshot=pending, paused=True)
    pr.inflights.add(4, 10)
    pr.become_probe()
    assert pr.state == PROBE
    assert pr.match == 1
    assert pr.next == wnext
    assert pr.pending_snapshot == 0
    assert not pr.msg_app_flow_paused
    assert pr.inflights.count() == 0


def test_become_replicate() -> None:
    """etcd TestProgressBecomeReplicate."""
    pr = progress(1, 5, paused=True)
    pr.inflights.add(4, 1)
    pr.become_replicate()
    assert pr.state == REPLICATE
    assert (pr.match, pr.next) == (1, 2)
    assert not pr.msg_app_flow_paused
    assert pr.inflights.count() == 0
    assert not pr.is_paused()


def test_become_snapshot() -> None:
    """etcd TestProgressBecomeSnapshot."""
    pr = progress(1, 5, paused=True)
    pr.inflights.add(4, 1)
    pr.become_snapshot(10)
    assert pr.state == SNAPSHOT
    assert pr.match == 1
    assert pr.pending_snapshot == 10
    # In StateSnapshot, sent_commit == pending_snapshot == next - 1.
    assert pr.next == 11
    assert pr.sent_commit == 10
    assert pr.inflights.count() == 0
    assert not pr.msg_app_flow_paused
    assert pr.is_paused()  # nothing is sent while the snapshot is in flight


def test_snapshot_round_trip_to_replicate() -> None:
    """Leader ships snapshot 10, the follower applies it and acks 10: back to probe after the
    snapshot, then replicate from the match (what the leader does on that MsgAppResp)."""
    pr = progress(1, 5)
    pr.become_snapshot(10)
    assert pr.maybe_update(10)
    assert (pr.match, pr.next) == (10, 11)
    assert pr.is_paused()  # still SNAPSHOT: only the state change resumes sending
    pr.become_probe()
    assert (pr.state, pr.next) == (PROBE, 11)
    pr.become_replicate()
    assert (pr.state, pr.match, pr.next) == (REPLICATE, 10, 11)
    assert not pr.is_paused()


@pytest.mark.parametrize("update,wmatch,wnext,wok", [
    (2, 3, 5, False),  # do not decrease match, next
    (3, 3, 5, False),  # an ack of the match is old news
    (4, 4, 5, True),   # increase match, do not decrease next
    (5, 5, 6, True),   # increase match and next
    (9, 9, 10, True),  # an ack past next pulls next along (invariant match < next)
])
def test_maybe_update(update: int, wmatch: int, wnext: int, wok: bool) -> None:
    """etcd TestProgressUpdate (match=3, next=5)."""
    pr = progress(3, 5, paused=True)
    assert pr.maybe_update(update) == wok
    assert (pr.match, pr.next) == (wmatch, wnext)
    assert pr.match < pr.next
    # Only a real update unpauses the flow.
    assert pr.msg_app_flow_paused == (not wok)


@pytest.mark.parametrize("state,match,next_,rejected,hint,wok,wnext", [
    # replicate: a rejection at or below the match is stale
    (REPLICATE, 5, 10, 5, 5, False, 10),
    (REPLICATE, 5, 10, 4, 4, False, 10),
    # replicate: a genuine rejection falls straight back to match + 1 (the hint is ignored)
    (REPLICATE, 5, 10, 9, 9, True, 6),
    (REPLICATE, 5, 10, 9, 7, True, 6),
    (REPLICATE, 5, 10, 6, 100, True, 6),
    # probe: a rejection of anything but next - 1 is stale (only one probe is in flight)
    (PROBE, 0, 0, 0, 0, False, 0),
    (PROBE, 0, 10, 5, 5, False, 10),
    (PROBE, 0, 10, 10, 5, False, 10),
    # probe: next - 1 rejected, next decreases to min(rejected, hint + 1)
    (PROBE, 0, 10, 9, 9, True, 9),
    (PROBE, 0, 2, 1, 1, True, 1),
    (PROBE, 0, 1, 0, 0, True, 1),   # never below match + 1 = 1
    (PROBE, 0, 10, 9, 2, True, 3),
    (PROBE, 0, 10, 9, 0, True, 1),
    (PROBE, 0, 10, 9, 20, True, 9),  # a hint past the rejection does not raise next
    (PROBE, 4, 10, 9, 1, True, 5),   # never below match + 1
])
def test_maybe_decr_to(state: ProgressState, match: int, next_: int, rejected: int, hint: int,
                       wok: bool, wnext: int) -> None:
    """etcd TestProgressMaybeDecr."""
    pr = progress(match, next_, state)
    assert pr.maybe_decr_to(rejected, hint) == wok
    assert pr.next == wnext
    assert pr.match == match  # a rejection never changes what is known to match
    assert pr.state == state  # nor the state (the caller moves replicate to probe)


def test_maybe_decr_to_probe_unpauses_only_when_genuine() -> None:
    pr = progress(0, 10, paused=True)
    assert not pr.maybe_decr_to(5, 5)
    assert pr.msg_app_flow_paused  # stale: still waiting for the answer to the real probe
    assert pr.maybe_decr_to(9, 3)
    assert not pr.msg_app_flow_paused
    assert pr.next == 4


@pytest.mark.parametrize("state,rejected,hint,wsent", [
    (REPLICATE, 9, 9, 5),  # next -> match + 1 = 6, so sent_commit <= 5
    (PROBE, 9, 2, 2),      # next -> 3, so sent_commit <= 2
    (PROBE, 9, 8, 8),      # next -> 9: sent_commit 8 is already <= next - 1
])
def test_maybe_decr_to_regresses_sent_commit(state: ProgressState, rejected: int, hint: int,
                                             wsent: int) -> None:
    pr = progress(5 if state == REPLICATE else 0, 10, state)
    pr.sent_commit = 8
    assert pr.maybe_decr_to(rejected, hint)
    assert pr.sent_commit == wsent
    assert pr.sent_commit <= pr.next - 1


def test_stale_rejection_keeps_sent_commit() -> None:
    pr = progress(5, 10, REPLICATE)
    pr.sent_commit = 8
    assert not pr.maybe_decr_to(4, 4)
    assert pr.sent_commit == 8


def test_become_probe_regresses_sent_commit() -> None:
    pr = progress(3, 10, REPLICATE)
    pr.sent_commit = 9
    pr.become_probe()
    assert pr.next == 4
    assert pr.sent_commit == 3
    # A pending snapshot past the match keeps what it covers.
    pr = progress(3, 10)
    pr.become_snapshot(12)
    assert pr.sent_commit == 12
    pr.become_probe()
    assert pr.next == 13
    assert pr.sent_commit == 12


def test_sent_entries_replicate_advances_next_and_fills_the_window() -> None:
    pr = progress(5, 6, REPLICATE, size=3)
    pr.sent_entries(2, 100)  # entries 6, 7
    assert pr.next == 8
    assert list(pr.inflights._indexes) == [7]
    assert not pr.is_paused()
    pr.sent_entries(1, 10)   # entry 8
    pr.sent_entries(3, 10)   # entries 9, 10, 11: the window (3 messages) is now full
    assert pr.next == 12
    assert list(pr.inflights._indexes) == [7, 8, 11]
    assert pr.msg_app_flow_paused
    assert pr.is_paused()
    # An ack frees the window (the caller frees inflights), and unpauses.
    assert pr.maybe_update(8)
    pr.inflights.free_le(8)
    assert not pr.is_paused()
    assert pr.next == 12  # acks never move next back


def test_sent_entries_replicate_byte_limit() -> None:
    pr = progress(0, 1, REPLICATE, size=100, max_bytes=1000)
    pr.sent_entries(1, 600)
    assert not pr.is_paused()
    pr.sent_entries(1, 600)
    assert pr.is_paused()
    assert pr.next == 3


def test_sent_entries_replicate_empty_message() -> None:
    """An empty MsgApp (commit only) does not advance next nor use a window slot, but it is
    paused if the window is already full."""
    pr = progress(5, 6, REPLICATE, size=1)
    pr.sent_entries(0, 0)
    assert pr.next == 6
    assert pr.inflights.count() == 0
    assert not pr.is_paused()
    pr.sent_entries(1, 0)
    assert pr.is_paused()
    pr.msg_app_flow_paused = False  # e.g. a heartbeat response
    pr.sent_entries(0, 0)
    assert pr.msg_app_flow_paused  # still full
    assert pr.inflights.count() == 1


def test_sent_entries_probe_pauses_until_answer() -> None:
    pr = progress(0, 5)
    pr.sent_entries(0, 0)  # an empty probe does not pause (etcd's current behaviour)
    assert not pr.is_paused()
    pr.sent_entries(3, 30)
    assert pr.is_paused()
    assert pr.next == 5  # probes do not advance next
    assert pr.inflights.count() == 0  # nor use the window
    # The follower rejects the probe at next - 1: resume, one step back.
    assert pr.maybe_decr_to(4, 4)
    assert not pr.is_paused()


def test_sent_entries_in_snapshot_changes_nothing() -> None:
    pr = progress(0, 5)
    pr.become_snapshot(8)
    pr.sent_entries(2, 10)
    assert pr.next == 9
    assert pr.inflights.count() == 0
    assert pr.is_paused()


@pytest.mark.parametrize("sent_commit,next_,index,want", [
    (0, 10, 5, True),    # a newer commit the follower can use
    (5, 10, 5, False),   # not newer than what was sent
    (5, 10, 4, False),
    (5, 10, 6, True),
    (9, 10, 12, False),  # already sent commit next - 1: the follower cannot commit past it
    (8, 10, 12, True),
    (0, 1, 3, False),    # nothing sent beyond the match yet
])
def test_can_bump_commit(sent_commit: int, next_: int, index: int, want: bool) -> None:
    pr = progress(0, next_, REPLICATE)
    pr.sent_commit = sent_commit
    assert pr.can_bump_commit(index) == want


def test_copy_is_shallow_and_independent() -> None:
    pr = progress(3, 7, REPLICATE, size=4)
    pr.sent_commit = 5
    pr.recent_active = True
    pr.is_learner = True
    pr.inflights.add(6, 1)
    pr.msg_app_flow_paused = True
    c = pr.copy()
    assert c is not pr
    assert (c.match, c.next, c.state, c.sent_commit, c.pending_snapshot) == (3, 7, REPLICATE, 5, 0)
    assert c.recent_active and c.is_learner and c.msg_app_flow_paused
    assert c.inflights is pr.inflights  # shared, as etcd's conf changer does
    c.is_learner = False
    c.match = 6
    c.become_probe()
    assert pr.is_learner
    assert (pr.match, pr.next, pr.state) == (3, 7, REPLICATE)
    snap = progress(1, 2)
    snap.become_snapshot(9)
    assert snap.copy().pending_snapshot == 9


def test_replication_flow() -> None:
    """A follower's life as the leader sees it: probe, catch up, stream, lose a message, probe."""
    pr = progress(0, 11, size=2)  # new leader, last index 10
    pr.sent_entries(0, 0)
    assert pr.maybe_decr_to(10, 4)  # follower has up to 4 (hint)
    assert pr.next == 5
    pr.sent_entries(6, 0)  # entries 5..10
    assert pr.is_paused()
    assert pr.maybe_update(10)
    pr.become_replicate()
    assert (pr.match, pr.next) == (10, 11)
    pr.sent_entries(1, 0)
    pr.sent_entries(1, 0)
    assert pr.is_paused() and pr.next == 13
    assert pr.maybe_decr_to(11, 10)  # entry 11 got lost: the MsgApp after it (index 11) is rejected
    assert pr.next == 11
    pr.become_probe()
    assert (pr.state, pr.next) == (PROBE, 11)
    assert not pr.is_paused()
    assert pr.inflights.count() == 0


def test_repr_names_state() -> None:
    pr = progress(1, 2, REPLICATE)
    pr.is_learner = True
    r = repr(pr)
    assert "REPLICATE" in r and "match=1" in r and "next=2" in r and "learner" in r

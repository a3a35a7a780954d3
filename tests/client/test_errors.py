"""What the clients (``multiraft.Client`` and ``multiraft.aio.Client``) do with each answer, against
scripted fake nodes: the typed error they raise, and the rule behind it: ``Timeout`` only when a
write was sent and not answered (it may have applied), any other ``ClientError`` only when no
attempt can have applied."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest

import multiraft
from multiraft import aio
from multiraft.errors import (Busy, ClientError, NotLeader, RangeKeyMismatch, RangeNotFound,
                              Refused, SessionExpired, Timeout, TooManySessions, Unavailable)
from multiraft.transport.client_protocol import ClientRequest, ClientStatus as S
from tests.cli.conftest import free_base_port
from tests.support.fake_node import FakeNode

KINDS = ["sync", "async"]


def call(kind: str, addrs: list[str], method: str, *args: Any, timeout: float = 1.0) -> Any:
    """``Client(addrs).method(*args)`` with the blocking or the asyncio client."""
    if kind == "sync":
        with multiraft.Client(addrs, timeout=timeout) as c:
            return getattr(c, method)(*args)

    async def run() -> Any:
        async with aio.Client(addrs, timeout=timeout) as c:
            return await getattr(c, method)(*args)
    return asyncio.run(run())


def always(status: S, result: object) -> Callable[[ClientRequest], tuple[S, object]]:
    return lambda req: (status, result)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("status, result, error", [
    (S.NOT_LEADER, 0, NotLeader),
    (S.UNAVAILABLE, "node stopping", Unavailable),
    (S.BUSY, "proposal dropped", Busy),
    (S.RANGE_NOT_FOUND, None, RangeNotFound),
    (S.RANGE_KEY_MISMATCH, ((1, b"", b"", 0),), RangeKeyMismatch),
])
def test_refusals_until_the_deadline_raise_their_type_not_timeout(kind, status, result, error):
    with FakeNode(always(status, result)) as node:
        with pytest.raises(error) as info:
            call(kind, [node.address], "put", b"k", b"v", timeout=0.6)
    assert not isinstance(info.value, Timeout) and isinstance(info.value, Unavailable)
    assert len(node.requests) >= 2, "a refusal that may pass is retried"
    ids = {(r.client_id, r.seq) for r in node.requests}
    assert len(ids) == 1, "every retry carries the write's one command id"


@pytest.mark.parametrize("kind", KINDS)
def test_refused_is_not_retried(kind):
    with FakeNode(always(S.REFUSED, "CAS needs a new value")) as node:
        t0 = time.monotonic()
        with pytest.raises(Refused, match="CAS needs a new value"):
            call(kind, [node.address], "put", b"k", b"v", timeout=5)
    assert time.monotonic() - t0 < 2 and len(node.requests) == 1


@pytest.mark.parametrize("kind", KINDS)
def test_an_unanswered_write_is_a_timeout_even_after_refusals(kind):
    """Refused at first, then sent and never answered: the outcome is unknown."""
    answers = iter([(S.BUSY, "busy")])
    with FakeNode(lambda req: next(answers, None)) as node:
        with pytest.raises(Timeout, match="outcome unknown"):
            call(kind, [node.address], "put", b"k", b"v", timeout=1.0)
    assert len(node.requests) >= 2


@pytest.mark.parametrize("kind", KINDS)
def test_an_unanswered_read_is_a_timeout(kind):
    with FakeNode(lambda req: None) as node:
        with pytest.raises(Timeout, match="not served"):
            call(kind, [node.address], "get", b"k", timeout=0.6)


@pytest.mark.parametrize("kind", KINDS)
def test_a_node_never_connected_is_unavailable_not_timeout(kind):
    dead = f"127.0.0.1:{free_base_port(1) + 1}"
    with pytest.raises(Unavailable, match="not connected") as info:
        call(kind, [dead], "put", b"k", b"v", timeout=0.6)
    assert not isinstance(info.value, Timeout)


@pytest.mark.parametrize("kind", KINDS)
def test_busy_backs_off_then_succeeds_with_the_same_command_id(kind):
    answers = iter([(S.BUSY, "busy"), (S.BUSY, "busy"), (S.OK, None)])
    with FakeNode(lambda req: next(answers)) as node:
        assert call(kind, [node.address], "put", b"k", b"v", timeout=5) is None
    assert [r.seq for r in node.requests] == [node.requests[0].seq] * 3
    assert node.requests[0].client_id != 0


@pytest.mark.parametrize("kind", KINDS)
def test_not_leader_with_a_hint_goes_to_the_leader(kind):
    with FakeNode(always(S.OK, b"v"), node_id=2, leader=2) as leader, \
            FakeNode(always(S.NOT_LEADER, 2), node_id=1, leader=0) as follower:
        addrs = [follower.address, leader.address]
        assert call(kind, addrs, "get", b"k", timeout=5) == b"v"
    assert len(leader.requests) == 1


@pytest.mark.parametrize("kind", KINDS)
def test_range_key_mismatch_refreshes_the_cache_and_retries(kind):
    """The first answer says the range now ends at b"m" (generation 1); the client keeps the
    narrower span and retries, and the second answer serves."""
    answers = iter([(S.RANGE_KEY_MISMATCH, ((1, b"", b"m", 1),)), (S.OK, b"v")])
    with FakeNode(lambda req: next(answers)) as node:
        assert call(kind, [node.address], "get", b"a", timeout=5) == b"v"
    assert len(node.requests) == 2


@pytest.mark.parametrize("kind", KINDS)
def test_a_retry_that_finds_its_session_gone_is_session_expired_a_timeout(kind):
    """Proves: the first attempt may open the session (register), a retry after it went
    unanswered may not; a SESSION_EXPIRED answer to that retry raises ``SessionExpired``, a
    ``Timeout`` (the first attempt may have applied), at once."""
    answers = iter([None, (S.SESSION_EXPIRED, "client 7 has no session in range 1")])
    with FakeNode(lambda req: next(answers)) as node:
        with pytest.raises(SessionExpired, match="outcome unknown") as info:
            call(kind, [node.address], "put", b"k", b"v", timeout=3.0)
    assert isinstance(info.value, Timeout)
    assert [r.register for r in node.requests] == [True, False]
    assert len({(r.client_id, r.seq) for r in node.requests}) == 1


@pytest.mark.parametrize("kind", KINDS)
def test_sessions_full_is_refused_not_retried(kind):
    with FakeNode(always(S.SESSIONS_FULL, "range 1 holds 50000 client sessions")) as node:
        with pytest.raises(TooManySessions, match="50000") as info:
            call(kind, [node.address], "put", b"k", b"v", timeout=5)
    assert isinstance(info.value, Refused) and len(node.requests) == 1


def test_error_hierarchy_keeps_the_readme_rule():
    for e in (Refused, Unavailable, NotLeader, Busy, RangeNotFound, RangeKeyMismatch,
              TooManySessions):
        assert issubclass(e, ClientError) and not issubclass(e, Timeout)
    assert issubclass(Timeout, ClientError) and issubclass(SessionExpired, Timeout)
    for name in ("ClientError", "Timeout", "Unavailable", "NotLeader", "Busy", "RangeNotFound",
                 "RangeKeyMismatch", "Refused", "SessionExpired", "TooManySessions"):
        assert getattr(multiraft, name) is getattr(multiraft.errors, name)


def test_the_facade_exports_exactly_its_lazy_names():
    assert sorted(multiraft.__all__) == sorted(multiraft._EXPORTS)

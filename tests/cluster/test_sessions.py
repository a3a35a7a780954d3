"""Client sessions on a live cluster, both designs (issue 12, defect 2).

Sessions expire by the log's clock (the leader's time stamped into each write), so a short ttl
(``NodeConfig.sessions``, the same on every node) can be watched: a retry of an expired
session's write is refused and not run; a client that went idle opens a new session and goes
on; churning thousands of sessions does not make an old retry run twice."""

from __future__ import annotations

import time
from typing import Any

from multiraft.storage.sessions import SessionLimits
from multiraft.transport.client import ClientConnection
from multiraft.transport.client_protocol import ClientOp, ClientStatus

from .conftest import key_in

TTL_MS = 1_000


def test_sessions_expire_by_the_log_and_refuse_old_retries(make_cluster: Any) -> None:
    """Proves: a write retried after its session expired (register off, as a client retries an
    unanswered attempt) is answered SESSION_EXPIRED and not run; a ``Client`` idle past the ttl
    writes again without error; a retry within the ttl answers the first result."""
    cluster = make_cluster("inproc", ranges=1,
                           node_options={"sessions": SessionLimits(ttl_ms=TTL_MS)})
    cluster.wait_all_led()
    rng = cluster.range_table()[1]
    k, other = key_in(rng, "session"), key_in(rng, "other")

    def conn() -> ClientConnection:
        return ClientConnection(cluster.client_addr[cluster.leader_of(1)])

    with conn() as c:
        first = c.request(ClientOp.CAS, (k, None, b"v1"), timeout=5, client_id=77, seq=1)
        assert first.status is ClientStatus.OK and first.result == (True, None)
        again = c.request(ClientOp.CAS, (k, None, b"v1"), timeout=5, client_id=77, seq=1,
                          register=False)
        assert again.status is ClientStatus.OK and again.result == (True, None), \
            "a retry within the ttl answers the first result (it would say 'not swapped')"
    time.sleep(TTL_MS / 1000 + 0.3)
    with cluster.client(timeout=10) as client:
        client.put(other, b"x")  # a write moves the range's clock past client 77's ttl
        client.put(other, b"y")  # this client was idle too: it simply opens a new session
        with conn() as c:
            late = c.request(ClientOp.PUT, (k, b"late"), timeout=5, client_id=77, seq=1,
                             register=False)
        assert late.status is ClientStatus.SESSION_EXPIRED, late
        assert client.get(k) == b"v1", "the refused retry did not run"


def test_thousands_of_sessions_do_not_rerun_an_old_retry(make_cluster: Any) -> None:
    """Proves: after 2,000 other sessions wrote to the range (more than the old dedup table
    held), client 5's CAS retried with its command id answers its first result."""
    cluster = make_cluster("inproc", ranges=1)
    cluster.wait_all_led()
    rng = cluster.range_table()[1]
    k = key_in(rng, "cas")
    with ClientConnection(cluster.client_addr[cluster.leader_of(1)]) as c:
        assert c.request(ClientOp.CAS, (k, None, b"v"), timeout=5, client_id=5,
                         seq=1).result == (True, None)
        for cid in range(100, 2_100):
            assert c.request(ClientOp.PUT, (key_in(rng, f"o{cid}"), b"x"), timeout=5,
                             client_id=cid, seq=1).status is ClientStatus.OK
        retry = c.request(ClientOp.CAS, (k, None, b"v"), timeout=5, client_id=5, seq=1,
                          register=False)
    assert retry.status is ClientStatus.OK and retry.result == (True, None)

"""A node's raft connections leave from its own listen address: a node on 127.0.0.2 is seen
by its peers (and by iptables rules on the nodes' addresses, see ``multiraft.check.iptables``)
as 127.0.0.2, not as the kernel's default source 127.0.0.1; a node on a wildcard address
leaves the choice to the kernel."""

from __future__ import annotations

import socket

import pytest

from multiraft.transport import Transport

from transport_cluster import Recorder


@pytest.mark.parametrize("listen, seen_as", [("127.0.0.2:0", "127.0.0.2"),
                                             ("0.0.0.0:0", "127.0.0.1")])
def test_a_node_connects_to_its_peers_from_its_listen_address(listen: str, seen_as: str) -> None:
    with socket.create_server(("127.0.0.3", 0)) as peer:
        peer.settimeout(10)
        t = Transport(1, listen, {2: "127.0.0.3:%d" % peer.getsockname()[1]}, Recorder())
        t.start()
        try:
            conn, (host, _) = peer.accept()
            conn.close()
        finally:
            t.stop()
    assert host == seen_as

"""Issue 12, defect 8 (a): a node that binds a non-loopback address without CurveZMQ must be
told so explicitly (``insecure``), as CockroachDB's ``--insecure``: ``NodeConfig.validate``
refuses it, naming the address and the two ways out, so an embedded ``Node`` gets the rule
too."""

from __future__ import annotations

import pytest
import zmq

from multiraft.store.config import NodeConfig
from multiraft.transport.keys import CurveConfig

NOT_LOOPBACK = ["0.0.0.0:7100", "0.0.0.0:0", "10.1.2.3:7100", "192.168.0.5:0", "*:7100",
                "[::]:7100", "[2001:db8::1]:7100", "db.example.com:7100", ":7100"]
LOOPBACK = ["127.0.0.1:7100", "127.0.0.1:0", "127.8.9.10:7100", "localhost:7100",
            "[::1]:7100", "LOCALHOST:0"]


def _curve() -> CurveConfig:
    public, secret = zmq.curve_keypair()
    return CurveConfig(public, secret, {1: public})


@pytest.mark.parametrize("addr", NOT_LOOPBACK)
@pytest.mark.parametrize("which", ["listen", "client_listen"])
def test_a_non_loopback_address_without_keys_is_refused(addr: str, which: str) -> None:
    cfg = NodeConfig(node_id=1, engine="memory", **{which: addr})
    with pytest.raises(ValueError) as info:
        cfg.validate()
    msg = str(info.value)
    assert addr in msg and "--keys" in msg and "--insecure" in msg, msg
    assert "\n" not in msg


@pytest.mark.parametrize("addr", NOT_LOOPBACK)
def test_insecure_or_curve_allows_a_non_loopback_address(addr: str) -> None:
    NodeConfig(node_id=1, engine="memory", listen=addr, client_listen=addr,
               insecure=True).validate()
    NodeConfig(node_id=1, engine="memory", listen=addr, client_listen=addr,
               curve=_curve()).validate()


@pytest.mark.parametrize("addr", LOOPBACK)
def test_loopback_needs_neither(addr: str) -> None:
    NodeConfig(node_id=1, engine="memory", listen=addr, client_listen=addr).validate()
    NodeConfig(node_id=1, engine="memory", listen=addr, client_listen=None).validate()
    assert NodeConfig(node_id=1).insecure is False

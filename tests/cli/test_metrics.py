"""The Prometheus endpoint: scraped from the cluster's nodes and compared with ``multiraft
status``; the collector's cardinality cap; the endpoint's lifecycle inside ``Node``."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request

import pytest

from multiraft.replica.histogram import LATENCY_BOUNDS, Histogram
from prometheus_client.parser import text_string_to_metric_families

from multiraft import Node, NodeConfig
from multiraft.metrics import NodeCollector



def scrape(addr: str) -> dict[str, float]:
    """``name{labels}`` -> value of every sample at ``http://addr/metrics``."""
    body = urllib.request.urlopen(f"http://{addr}/metrics", timeout=10).read().decode()
    out = {}
    for fam in text_string_to_metric_families(body):
        for s in fam.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
            out[f"{s.name}{{{labels}}}" if labels else s.name] = s.value
    return out


def test_metrics_agree_with_status(cluster):
    for attempt in range(5):  # a leader may move between the two reads: read both again
        st = json.loads(cluster.ctl("--json", "status").stdout)
        metrics = {n["id"]: scrape(n["metrics"]) for n in cluster.manifest["nodes"]}
        st_again = json.loads(cluster.ctl("--json", "status").stdout)
        if st["nodes"] == st_again["nodes"] or attempt == 4:
            break
        time.sleep(0.5)
    for node in st["nodes"]:
        m = metrics[node["node_id"]]
        assert m["multiraft_status_ok"] == 1
        assert m[f"multiraft_node_info{{node_id={node['node_id']}}}"] == 1
        assert m["multiraft_ranges"] == node["ranges"] == 8
        assert m["multiraft_leaders"] == node["leaders"]
        assert m["multiraft_raft_term_max"] == node["term_max"]
        led = {int(k.split("=")[1].rstrip("}")) for k, v in m.items()
               if k.startswith("multiraft_range_leader{") and v == 1}
        assert led == set(node["leader_ranges"])
        assert m["multiraft_store_heartbeat_frames_sent_total"] > 0
        assert m["multiraft_transport_decode_errors_total"] == 0
        assert sum(v for k, v in m.items()
                   if k.startswith("multiraft_transport_peer_frames_sent_total")) > 0
        assert m["multiraft_writer_batches_total"] > 0
    assert sum(metrics[n]["multiraft_leaders"] for n in metrics) == 8


def _status(n_ranges: int) -> dict:
    ranges = [{"range_id": i, "state": "leader" if i % 2 else "follower", "leader": 1,
               "quiesced": False, "term": 3, "commit": 10, "applied": 9, "snapshots_sent": 0,
               "snapshots_installed": 0, "proposals": 2, "proposals_dropped": 0,
               "proposals_too_large": 0,
               "leader_changes": 1, "apply_latency": Histogram(LATENCY_BOUNDS).as_dict()}
              for i in range(1, n_ranges + 1)]
    return {"node": {"node_id": 1, "ranges": n_ranges, "silent_peers": [],
                     "counters": {"client_requests": 4}}, "ranges": ranges}


@pytest.mark.parametrize("n_ranges, per_range", [(3, True), (4, False)])
def test_per_range_series_are_capped(n_ranges, per_range):
    c = NodeCollector(lambda: _status(n_ranges), range_series_limit=3)
    names = {f.name for f in c.collect()}
    assert ("multiraft_range_term" in names) is per_range
    assert {"multiraft_ranges", "multiraft_leaders", "multiraft_raft_apply_lag_max",
            "multiraft_store_client_requests"} <= names


def test_no_status_is_reported_not_raised():
    c = NodeCollector(lambda: None)
    assert [(f.name, f.samples[0].value) for f in c.collect()] == [("multiraft_status_ok", 0)]


def test_node_serves_metrics_until_stopped():
    before = set(threading.enumerate())
    node = Node(NodeConfig(node_id=1, engine="memory", initial_ranges=2,
                           metrics_listen="127.0.0.1:0")).start()
    try:
        addr = node.metrics_address
        assert scrape(addr)["multiraft_ranges"] == 2
    finally:
        node.stop()
    assert node.metrics_address is None
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"http://{addr}/metrics", timeout=2)
    time.sleep(0.2)
    assert not [t for t in set(threading.enumerate()) - before if t.is_alive()]


# Issue 12, defect 8 (b): the endpoint binds loopback unless a host is given explicitly.

@pytest.mark.parametrize("listen", ["0", ":0"])
def test_metrics_without_a_host_bind_loopback(listen):
    from multiraft.metrics import MetricsServer
    server = MetricsServer(listen, NodeCollector(lambda: None)).start()
    try:
        host, _, port = server.address.rpartition(":")
        assert host == "127.0.0.1" and int(port) > 0
        body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read()
        assert b"multiraft_status_ok 0.0" in body
    finally:
        server.stop()


def test_metrics_bind_the_host_given():
    from multiraft.metrics import MetricsServer
    server = MetricsServer("0.0.0.0:0", NodeCollector(lambda: None)).start()
    try:
        assert server.address.startswith("0.0.0.0:")
    finally:
        server.stop()


@pytest.mark.parametrize("listen", ["", "nope", "host:port", "127.0.0.1:", "127.0.0.1:99999"])
def test_bad_metrics_addresses_are_refused(listen):
    from multiraft.metrics import MetricsServer
    with pytest.raises(ValueError, match="metrics address"):
        MetricsServer(listen, NodeCollector(lambda: None))


def test_split_counters_are_exported_with_their_own_help():
    """Proves: the store's ``splits`` counter, the replicas' ``range_key_mismatches`` and
    ``snapshots_refused_overlap`` counters and the ``uninitialized_replicas`` gauge of a STATUS
    answer are exported under their names, with their values and a help text of their own
    (not the generic "store counter NAME")."""
    st = _status(1)
    st["node"]["counters"].update(splits=3, range_key_mismatches=5, snapshots_refused_overlap=1)
    st["node"]["uninitialized_replicas"] = 2
    fams = {f.name: f for f in NodeCollector(lambda: st).collect()}
    for name, value in (("multiraft_store_splits", 3), ("multiraft_store_range_key_mismatches", 5),
                        ("multiraft_store_snapshots_refused_overlap", 1),
                        ("multiraft_uninitialized_replicas", 2)):
        assert fams[name].samples[0].value == value
        assert not fams[name].documentation.startswith("store counter")

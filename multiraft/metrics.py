"""A node's Prometheus endpoint: a custom collector that builds every metric at scrape time.

Nothing is counted twice: the collector reads the node's own counters and its STATUS answer
(the one ``multiraft status`` shows), so the two agree by construction. It runs on the HTTP
server's threads and never blocks an actor: STATUS is requested with a message to the store
(the same message a client's STATUS request becomes), and the scrape waits for the reply with
a timeout; transport and writer counters are plain ints read in place.

Range splits (issue 13) show as ``multiraft_store_splits_total``,
``multiraft_store_range_key_mismatches_total``, ``multiraft_store_snapshots_refused_overlap_total``
and the ``multiraft_uninitialized_replicas`` gauge (replicas created by a message that wait for a
snapshot or for the split that creates their range to apply here).

Per-range series (``multiraft_range_*{range_id=...}``) are emitted only while the node holds at
most ``range_series_limit`` ranges (default 1,000); above it only the node-wide aggregates
(``multiraft_raft_*``) are, so a 10,000-range node does not export 40,000 series per scrape.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import (CounterMetricFamily, GaugeMetricFamily,
                                   HistogramMetricFamily, Metric)
from prometheus_client.registry import Collector

from multiraft.store.config import parse_metrics_address
from multiraft.transport.client_protocol import ClientOp, ClientRequest, ClientStatus
from multiraft.transport.handler import Responder

__all__ = ["NodeCollector", "MetricsServer", "node_collector", "parse_metrics_address",
           "RANGE_SERIES_LIMIT"]

#: Above this many ranges on a node, per-range series are replaced by aggregates.
RANGE_SERIES_LIMIT = 1_000

#: How long a scrape waits for the store's STATUS answer.
STATUS_TIMEOUT = 5.0

#: Help texts of the store's counters (``actors.store.StoreCounters``); a counter added there
#: later is exported too, with a generic help text.
_STORE_COUNTER_HELP = {
    "dropped_unknown_range": "raft messages and heartbeats dropped: range unknown on this node",
    "replicas_created": "replicas created on first contact from a leader",
    "replica_create_refused_unknown_node": "messages for unknown ranges from a node that is not a "
                                           "configured peer: no replica created",
    "replica_create_refused_type": "messages for unknown ranges that cannot create a replica (not "
                                   "from a leader or candidate, term 0, replica 0)",
    "replica_create_refused_rate": "messages for unknown ranges refused: the sending node's "
                                   "replica creation rate was used up",
    "replica_create_refused_cap": "messages for unknown ranges refused: max_uninitialized_replicas "
                                  "uninitialized replicas exist",
    "uninitialized_replicas_removed": "replicas dropped (with their raft state) because they "
                                      "stayed uninitialized past the ttl",
    "heartbeat_frames_sent": "coalesced heartbeat frames sent (one per peer node per tick)",
    "heartbeats_sent": "heartbeats sent inside coalesced frames (divide by frames: mean size)",
    "heartbeat_responses_sent": "heartbeat responses sent inside coalesced frames",
    "client_requests": "client requests routed by the store (STATUS and metric scrapes included)",
    "range_not_found": "client requests for a key no range of this node holds",
    "raft_sender_mismatches": "raft messages, heartbeats and snapshot chunks dropped: the replica "
                              "they claim to come from is not on the node that sent them",
    "busy_range_quota": "writes answered BUSY (never proposed): their range's proposal quota "
                        "(bytes proposed, not yet applied) was full",
    "busy_pending_limit": "client requests answered BUSY: the node held max_pending_requests "
                          "requests already",
    "splits": "range splits applied by this node's replicas (each started or initialized the "
              "right-hand range's replica here)",
    "range_key_mismatches": "client requests for a key outside the replica's range (a stale "
                            "range cache), answered RANGE_KEY_MISMATCH with the descriptors it "
                            "knows",
    "snapshots_refused_overlap": "snapshots refused: their range overlaps another initialized "
                                 "range on this node (a split's right half arriving before the "
                                 "split applied here)",
}


class _StatusReply(Responder):
    """A ``Responder`` that keeps the answer for a waiting thread instead of sending it."""

    __slots__ = ("_event", "status", "result")

    def __init__(self) -> None:
        super().__init__(lambda _data: None, 0, ClientOp.STATUS)
        self._event = threading.Event()
        self.status: ClientStatus | None = None
        self.result: Any = None

    def respond(self, status: ClientStatus, result: Any = None) -> None:
        if self._event.is_set():
            return
        self.status, self.result = status, result
        self._event.set()

    def wait(self, timeout: float) -> dict[str, Any] | None:
        """The STATUS answer, or None if none came in time or it was not OK."""
        if not self._event.wait(timeout) or self.status != ClientStatus.OK:
            return None
        answer: dict[str, Any] = self.result
        return answer


def _counter(name: str, doc: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, doc, value=value)


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=value)


def _is_histogram(v: Any) -> bool:
    return isinstance(v, Mapping) and "bounds" in v and "counts" in v


def _histogram(name: str, doc: str, hists: list[Mapping[str, Any]]) -> HistogramMetricFamily:
    """One Prometheus histogram from ``replica.histogram.Histogram.as_dict()`` dicts (summed:
    e.g. every range's apply latency, which share bounds)."""
    bounds = hists[0]["bounds"] if hists else []
    counts = [0] * (len(bounds) + 1)
    total = 0.0
    for h in hists:
        for i, c in enumerate(h["counts"]):
            counts[i] += c
        total += h["sum"]
    buckets, cum = [], 0
    for bound, c in zip([*map(str, bounds), "+Inf"], counts):
        cum += c
        buckets.append((bound, cum))
    return HistogramMetricFamily(name, doc, buckets=buckets, sum_value=total)


class NodeCollector(Collector):
    """Builds a node's metrics from three sources read at scrape time:

    - ``status()``: the node's STATUS answer (``{"node": ..., "ranges": [...]}``) or None;
    - ``transport_counters``: a ``transport.counters.TransportCounters`` (or None);
    - ``writer_counters``: an object with ``as_dict()`` of the storage writer (or None).
    """

    def __init__(self, status: Callable[[], dict[str, Any] | None],
                 transport_counters: Any = None, writer_counters: Any = None,
                 range_series_limit: int = RANGE_SERIES_LIMIT) -> None:
        self._status = status
        self._transport = transport_counters
        self._writer = writer_counters
        self._limit = range_series_limit

    def collect(self) -> Iterator[Metric]:
        st = self._status()
        yield _gauge("multiraft_status_ok", "1 if the node answered STATUS for this scrape",
                     0 if st is None else 1)
        if st is not None:
            yield from self._node_metrics(st["node"])
            yield from self._range_metrics(st["ranges"])
        if self._transport is not None:
            yield from self._transport_metrics(self._transport)
        if self._writer is not None:
            for name, value in self._writer.as_dict().items():
                doc = f"storage writer (group commit): {name.replace('_', ' ')}"
                if _is_histogram(value):
                    yield _histogram(f"multiraft_writer_{name}", doc, [value])
                else:
                    yield _counter(f"multiraft_writer_{name}", doc, value)

    def _node_metrics(self, node: Mapping[str, Any]) -> Iterator[Metric]:
        info = GaugeMetricFamily("multiraft_node_info", "this node's id", labels=["node_id"])
        info.add_metric([str(node["node_id"])], 1)
        yield info
        yield _gauge("multiraft_ranges", "ranges this node holds a replica of", node["ranges"])
        yield _gauge("multiraft_silent_peers", "peer nodes not heard from for a liveness period",
                     len(node["silent_peers"]))
        if "uninitialized_replicas" in node:
            yield _gauge("multiraft_uninitialized_replicas",
                         "replicas created on first contact, not initialized yet (waiting for a "
                         "snapshot, or for the split that creates their range to apply here)",
                         node["uninitialized_replicas"])
        for name, value in node["counters"].items():
            yield _counter(f"multiraft_store_{name}",
                           _STORE_COUNTER_HELP.get(name, f"store counter {name}"), value)
        for name, h in node.get("histograms", {}).items():
            yield _histogram(f"multiraft_store_{name}",
                             f"store: {name.replace('_', ' ')} (heartbeats per coalesced frame)", [h])

    def _range_metrics(self, ranges: list[Mapping[str, Any]]) -> Iterator[Metric]:
        yield _gauge("multiraft_leaders", "ranges whose replica on this node is the leader",
                     sum(r["state"] == "leader" for r in ranges))
        yield _gauge("multiraft_quiesced_ranges", "ranges quiesced on this node (not ticking)",
                     sum(bool(r["quiesced"]) for r in ranges))
        yield _gauge("multiraft_leaderless_ranges", "ranges with no known leader on this node",
                     sum(not r["leader"] for r in ranges))
        yield _counter("multiraft_snapshots_sent", "snapshots sent, summed over ranges",
                       sum(r["snapshots_sent"] for r in ranges))
        yield _counter("multiraft_snapshots_installed", "snapshots installed, summed over ranges",
                       sum(r["snapshots_installed"] for r in ranges))
        yield _counter("multiraft_proposals", "writes proposed to raft, summed over ranges",
                       sum(r["proposals"] for r in ranges))
        yield _counter("multiraft_proposals_dropped",
                       "proposals raft refused (leader transfer, uncommitted limit)",
                       sum(r["proposals_dropped"] for r in ranges))
        yield _counter("multiraft_proposals_too_large",
                       "writes refused, never proposed: over max_command_bytes",
                       sum(r["proposals_too_large"] for r in ranges))
        yield _counter("multiraft_elections_won", "times a replica on this node became leader",
                       sum(r["leader_changes"] for r in ranges))
        yield _histogram("multiraft_apply_latency_seconds",
                         "a write's time from proposal to its answer after apply",
                         [r["apply_latency"] for r in ranges])
        yield _gauge("multiraft_raft_term_max", "highest raft term of the node's ranges",
                     max((r["term"] for r in ranges), default=0))
        yield _gauge("multiraft_raft_commit_index_sum",
                     "commit indexes summed over ranges (its rate: entries committed per second)",
                     sum(r["commit"] for r in ranges))
        yield _gauge("multiraft_raft_applied_index_sum",
                     "applied indexes summed over ranges (its rate: entries applied per second)",
                     sum(r["applied"] for r in ranges))
        yield _gauge("multiraft_raft_apply_lag_max", "max over ranges of commit - applied",
                     max((r["commit"] - r["applied"] for r in ranges), default=0))
        if len(ranges) > self._limit:
            return
        families = {
            "term": GaugeMetricFamily("multiraft_range_term", "raft term", labels=["range_id"]),
            "commit": GaugeMetricFamily("multiraft_range_commit_index", "raft commit index",
                                        labels=["range_id"]),
            "applied": GaugeMetricFamily("multiraft_range_applied_index", "applied index",
                                         labels=["range_id"]),
        }
        leader = GaugeMetricFamily("multiraft_range_leader",
                                   "1 if this node's replica leads the range", labels=["range_id"])
        for r in ranges:
            label = [str(r["range_id"])]
            for field, family in families.items():
                family.add_metric(label, r[field])
            leader.add_metric(label, 1 if r["state"] == "leader" else 0)
        yield from families.values()
        yield leader

    def _transport_metrics(self, counters: Any) -> Iterator[Metric]:
        peers = dict(counters.peers)  # a C-level copy: atomic under the GIL
        for f in dataclasses.fields(counters):
            if f.name != "peers":
                yield _counter(f"multiraft_transport_{f.name}",
                               f"transport: {f.name.replace('_', ' ')}", getattr(counters, f.name))
        if not peers:
            return
        for f in dataclasses.fields(next(iter(peers.values()))):
            fam = CounterMetricFamily(f"multiraft_transport_peer_{f.name}",
                                      f"transport, per peer node: {f.name.replace('_', ' ')}",
                                      labels=["peer"])
            for node_id, c in sorted(peers.items()):
                fam.add_metric([str(node_id)], getattr(c, f.name))
            yield fam


def node_collector(impl: Any, range_series_limit: int = RANGE_SERIES_LIMIT) -> NodeCollector:
    """The collector of a running node of either design: STATUS goes through the node's
    transport handler exactly as a client's request does (``impl.handler``), plus its
    transport's counters and its storage writer's counters (``impl.writer_counters()``)."""
    handler = impl.handler
    request = ClientRequest(0, ClientOp.STATUS, ({"ranges": True},))

    def status() -> dict[str, Any] | None:
        reply = _StatusReply()
        try:
            handler.on_client_request(request, reply)
        except Exception:  # the node is stopping: no status for this scrape
            return None
        return reply.wait(STATUS_TIMEOUT)

    return NodeCollector(status, impl.transport.counters, impl.writer_counters(),
                         range_series_limit)


class MetricsServer:
    """Serves ``collector`` at ``http://listen/metrics`` (and ``/``) from its own registry, so
    several nodes in one process each have their own endpoint. ``stop`` ends its thread.
    ``listen`` is ``HOST:PORT``, or ``PORT`` / ``:PORT`` for 127.0.0.1:PORT (a non-loopback
    host only when given: ``parse_metrics_address``)."""

    def __init__(self, listen: str, collector: Collector) -> None:
        self._host, self._port = parse_metrics_address(listen)
        self._registry = CollectorRegistry()
        self._registry.register(collector)
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def start(self) -> MetricsServer:
        """Bind and serve; raises ``OSError`` if the address is taken."""
        self._server, self._thread = start_http_server(self._port, self._host, self._registry)
        return self

    @property
    def address(self) -> str | None:
        """``host:port`` it listens on (the bound port if 0 was asked), None once stopped."""
        if self._server is None:
            return None
        return f"{self._host}:{self._server.server_address[1]}"

    def stop(self) -> None:
        """Stop serving and join the server thread. Idempotent."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = self._thread = None

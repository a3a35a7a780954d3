"""``multiraft``: the client/admin command line (etcdctl is the model).

    multiraft [--addr H:P,...] [--cluster DIR] [--json] [--timeout S] COMMAND ...

    put KEY VALUE                     write; prints OK
    get KEY                           the value alone on stdout
    del KEY                           delete; prints OK
    cas [--expect-absent] KEY [EXPECTED] NEW
                                      set KEY to NEW if its value is EXPECTED (with
                                      --expect-absent: if KEY is absent; then no EXPECTED)
    scan START END [--limit N]        one "key value" line per pair, START <= key < END
                                      ("" as END: to the end of the key space)
    split KEY                         split the range holding KEY at KEY; done once the split
                                      applied on the leader's node and both halves have a
                                      leader (--json: {"left": RANGE, "right": RANGE})
    status                            per node and per range: leaders, terms, indexes,
                                      generations
    ranges                            the ranges by start key: span, generation, replicas,
                                      leader (--json: a list of RANGE objects)
    replicas add RANGE_ID NODE_ID     a replica of the range on the node (a voter once done)
    replicas remove RANGE_ID NODE_ID  remove the node's replica of the range
    replicas move RANGE_ID FROM_NODE TO_NODE
                                      move the range's replica from one node to another
                                      (each done once the change applied and the range left
                                      any joint configuration; --json: the RANGE after it)
    transfer RANGE_ID NODE_ID         make the node lead the range (done once it does;
                                      --json: the RANGE)
    nodes                             every node the nodes' directories list, dead and
                                      decommissioned ones too: addresses, state, replicas,
                                      leaders (--json: a list of NODE objects)
    node decommission NODE_ID [--no-wait]
                                      mark the node decommissioning, wait until no range has
                                      a replica on it, then mark it decommissioned (--json:
                                      its NODE object)
    keys gen DIR [--nodes N] [--clients M] [--force]
                                      CurveZMQ key pairs for multiraft-node --keys DIR
    bench [--seconds S] [--inflight N] [--read-ratio R] [--value-size B] [--ranges N]
                                      a write/read workload: progress bar, summary table
    bench --compare [--out DIR] [--rounds N] [--ranges 1,16,256,1024] [--inflight 64,512]
          [--idle-ranges 1000,10000] [--idle-seconds S] [--no-pysyncobj] [--no-etcd] [--quick]
                                      start its own 3-process clusters and compare the actor
                                      and lock designs (and PySyncObj): JSON, markdown, PNGs
    check [--seconds S] [--clients N] [--nemesis partition,kill,pause,split,move] [--local [--dir DIR]
          [--design actors|locks]] [--seed N] | check --history FILE
                                      clients doing put/get/cas while a nemesis partitions,
                                      kills and pauses nodes; prints whether the history is
                                      linearizable (exit 0 yes, 1 no, 3 could not run)

Where it connects: see ``multiraft.cli.addresses``. The global flags may come before or after
the command. Keys and values on the command line are UTF-8 (undecodable argv bytes are kept
as they were given); printed keys and values are decoded as UTF-8 with backslash escapes for
bytes that are not (``\\xNN``).

A RANGE object (``ranges``, ``split``)::

    {"range_id": int, "start_key": str, "end_key": str or null (null: the end of the key space),
     "generation": int, "replicas": [node ids, sorted], "voters": [node ids],
     "learners": [node ids], "leader": node id or 0 (none known), "system": bool}

``voters`` and ``learners`` are what the range's newest descriptor says (a node that predates
replica changes reports neither: then every replica is a voter); no range holds system data yet
(``system`` is false), so the ranges tile the user key space. A NODE object (``nodes``, ``node
decommission``)::

    {"node_id": int, "raft_address": str, "client_address": str,
     "state": "live" | "dead" | "decommissioning" | "decommissioned",
     "replicas": ranges whose newest descriptor lists the node, "leaders": ranges it leads}

``nodes`` merges the directories of the nodes that answer (``multiraft.cli.cluster_view``);
like ``ranges``, it exits 0 if any node answered.

``--timeout`` bounds each operation, retries included: 5 s by default, 60 s for the commands
that wait for the cluster to act (``replicas``, ``transfer``, ``node decommission``: a new
replica needs a snapshot, a decommission moves every replica off the node), whose waits it
bounds too. ``node decommission`` first checks that the node is known and that every range with
a replica on it has a live node (not decommissioning) that holds none, to take it; without
``--no-wait`` it then polls the nodes until no range lists a replica on the node (within
``--timeout``) before it marks the node decommissioned. ``ranges`` and
``status`` ask every node (each within ``--timeout``) and show each range's newest descriptor
among the answers: a node that has not applied a split yet never hides it
(``multiraft.cli.cluster_view``). ``ranges`` exits 0 if any node answered.

``split`` sends the split (within ``--timeout``; a split that meets a concurrent split of the
same range is retried on the new descriptor by the client), then polls the nodes until both
halves are reported with a leader (within ``--timeout`` more).

Exit status: 0 success; 1 not found (get, del), compare failed (cas), KEY already starts a
range (split; the empty key always does), or a refused admin command (replicas, transfer,
node decommission: an unknown range or node, a change the cluster refused, too few live nodes
to take a decommissioned node's replicas); 2 usage error; 3 the cluster is unavailable or did
not answer in time (for a write or an admin command: outcome unknown; for split: also a split
that applied but whose halves did not both get a leader in time; for node decommission: also
replicas still on the node when the wait ended), or ``status`` could not reach every node.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

from ..client import Client
from ..errors import ClientError, RangeBoundary, Refused, Timeout
from multiraft.transport.client_protocol import WireDescriptor
from multiraft.transport.keys import ClientCurve, load_client_curve

from .addresses import AddressError, manifest_nodes, resolve_addresses
from .cluster_view import ClusterView, RangeView
from .output import print_json, print_table, text

__all__ = ["main", "EXIT_OK", "EXIT_NOT_FOUND", "EXIT_USAGE", "EXIT_UNAVAILABLE",
           "EXIT_RANGE_START", "EXIT_REFUSED", "DEFAULT_TIMEOUT", "ADMIN_TIMEOUT"]

EXIT_OK, EXIT_NOT_FOUND, EXIT_USAGE, EXIT_UNAVAILABLE = 0, 1, 2, 3
#: ``split KEY`` where KEY already starts a range
EXIT_RANGE_START = EXIT_NOT_FOUND
#: an admin command the cluster (or the command's own checks) refused: nothing changed
EXIT_REFUSED = EXIT_NOT_FOUND

#: ``--timeout``'s default (seconds), and the default of the admin commands that wait for the
#: cluster to act (replicas, transfer, node decommission)
DEFAULT_TIMEOUT, ADMIN_TIMEOUT = 5.0, 60.0


class UsageError(Exception):
    """A bad invocation found after parsing (exit status 2)."""


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error: ``multiraft: error: MESSAGE`` on stderr, exit 2."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def _arg(s: str) -> bytes:
    """A command-line key or value as bytes: UTF-8, undecodable argv bytes restored."""
    return s.encode("utf-8", "surrogateescape")


def _emit(args: argparse.Namespace, data: dict[str, Any], line: str | None) -> None:
    """Print ``data`` as JSON with ``--json``, else ``line`` (if any)."""
    if args.json:
        print_json(data)
    elif line is not None:
        print(line)


def _fail(args: argparse.Namespace, data: dict[str, Any], message: str, code: int) -> int:
    """A negative outcome: JSON on stdout with ``--json``, the message on stderr either way."""
    if args.json:
        print_json(data)
    print(f"multiraft: {message}", file=sys.stderr)
    return code


# -- commands: each returns its exit status --

def cmd_put(c: Client, args: argparse.Namespace) -> int:
    c.put(_arg(args.key), _arg(args.value))
    _emit(args, {"key": args.key, "ok": True}, "OK")
    return EXIT_OK


def cmd_get(c: Client, args: argparse.Namespace) -> int:
    value = c.get(_arg(args.key))
    if value is None:
        return _fail(args, {"key": args.key, "found": False, "value": None},
                     f"key not found: {args.key}", EXIT_NOT_FOUND)
    _emit(args, {"key": args.key, "found": True, "value": value}, text(value))
    return EXIT_OK


def cmd_del(c: Client, args: argparse.Namespace) -> int:
    if not c.delete(_arg(args.key)):
        return _fail(args, {"key": args.key, "deleted": False},
                     f"key not found: {args.key}", EXIT_NOT_FOUND)
    _emit(args, {"key": args.key, "deleted": True}, "OK")
    return EXIT_OK


def cmd_cas(c: Client, args: argparse.Namespace) -> int:
    want = 1 if args.expect_absent else 2
    if len(args.values) != want:
        form = "KEY NEW" if args.expect_absent else "KEY EXPECTED NEW"
        raise UsageError(f"cas {'--expect-absent ' if args.expect_absent else ''}takes {form}")
    expected = None if args.expect_absent else _arg(args.values[0])
    if not c.cas(_arg(args.key), expected, _arg(args.values[-1])):
        return _fail(args, {"key": args.key, "swapped": False},
                     f"compare failed: {args.key}", EXIT_NOT_FOUND)
    _emit(args, {"key": args.key, "swapped": True}, "OK")
    return EXIT_OK


def cmd_scan(c: Client, args: argparse.Namespace) -> int:
    if args.limit is not None and args.limit < 1:
        raise UsageError("--limit must be at least 1")
    pairs = c.scan(_arg(args.start), _arg(args.end), limit=args.limit)
    if args.json:
        print_json([{"key": k, "value": v} for k, v in pairs])
    else:
        for k, v in pairs:
            print(f"{text(k)} {text(v)}")
    return EXIT_OK


def _span(start: bytes | None, end: bytes | None) -> tuple[str, str]:
    return (text(start) or "(min)"), (text(end) or "(max)")


def _per_node(values: dict[int, int]) -> str:
    return " ".join(f"n{n}={v}" for n, v in sorted(values.items())) or "-"


def cmd_status(c: Client, args: argparse.Namespace) -> int:
    view = ClusterView.fetch(c)
    nodes = [n.summary() for n in view.nodes]
    ranges = [r.as_dict() for r in view.ranges]
    if args.json:
        print_json({"nodes": nodes, "ranges": ranges, "unreachable": view.unreachable})
    else:
        print_table(["node", "address", "ranges", "leaders", "quiesced", "terms", "applied (sum)"],
                    [[n["node_id"], n["address"], n["ranges"], n["leaders"], n["quiesced"],
                      f"{n['term_min']}-{n['term_max']}", n["applied_sum"]] if "error" not in n
                     else ["?", n["address"], f"unreachable: {n['error']}", "", "", "", ""]
                     for n in nodes])
        print()
        print_table(["range", "start", "end", "gen", "replicas", "leader", "term", "commit",
                     "applied", "followers' match"],
                    [[r.range_id, *_span(r.start_key, r.end_key),
                      "-" if r.generation is None else r.generation,
                      ",".join(map(str, r.replicas)), r.leader or "none", r.term, r.commit,
                      _per_node(r.applied), _per_node(r.match)] for r in view.ranges])
    if view.unreachable:
        print(f"multiraft: unreachable: {', '.join(view.unreachable)}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    return EXIT_OK


_RANGE_HEADERS = ["range", "start", "end", "gen", "replicas", "leader"]


def _range_row(r: dict[str, Any]) -> list[Any]:
    """One line of the ``ranges`` table from a RANGE object (``RangeView.range_object``)."""
    return [r["range_id"], *_span(r["start_key"], r["end_key"]), r["generation"],
            ",".join(map(str, r["replicas"])), r["leader"] or "none"]


def _answered_view(c: Client) -> ClusterView:
    """The cluster view, if any node answered (else ``ClientError``: exit 3)."""
    view = ClusterView.fetch(c)
    if not view.answered:
        raise ClientError(f"no node answered: {', '.join(view.unreachable)}")
    return view


def _say_unreachable(view: ClusterView) -> None:
    """The answers that came were enough; say on stderr who was missing."""
    if view.unreachable:
        print(f"multiraft: unreachable: {', '.join(view.unreachable)}", file=sys.stderr)


def cmd_ranges(c: Client, args: argparse.Namespace) -> int:
    view = _answered_view(c)
    ranges = [r.range_object() for r in view.described_ranges]
    if args.json:
        print_json(ranges)
    else:
        print_table(_RANGE_HEADERS, [_range_row(r) for r in ranges])
    _say_unreachable(view)
    return EXIT_OK


def _routed(view: ClusterView, want: WireDescriptor) -> RangeView | None:
    """The view of the range ``want`` names if a node reports it at ``want``'s generation or
    newer and its leader answered itself, else None."""
    r = view.range(want[0])
    if r is None or r.generation is None or r.generation < want[3] or not r.leader_answered:
        return None
    return r


def _split_half(d: WireDescriptor, seen: RangeView) -> dict[str, Any]:
    """The RANGE object of one half: span and generation as the split made them, replicas and
    leader as the nodes report them now."""
    range_id, start, end, generation = d
    return {**seen.range_object(), "range_id": range_id, "start_key": start,
            "end_key": end or None, "generation": generation}


def cmd_split(c: Client, args: argparse.Namespace) -> int:
    key = _arg(args.key)
    try:
        left, right = c.split(key)
    except RangeBoundary as e:
        return _fail(args, {"key": args.key, "split": False, "error": str(e)},
                     f"cannot split at {args.key!r}: {str(e).split(': ', 1)[-1]}",
                     EXIT_RANGE_START)
    # Applied on the leader's node; now until both halves route: reported, with a leader.
    view, _ = ClusterView.poll(c, time.monotonic() + c.timeout, lambda v: all(
        _routed(v, d) is not None for d in (left, right)))
    halves = _routed(view, left), _routed(view, right)
    if halves[0] is None or halves[1] is None:
        waiting = [str(d[0]) for d, h in zip((left, right), halves) if h is None]
        raise Timeout(f"split at {args.key!r} applied (ranges {left[0]} and {right[0]}), "
                      f"but range {' and '.join(waiting)} had no leader within {c.timeout}s")
    out = {"left": _split_half(left, halves[0]), "right": _split_half(right, halves[1])}
    if args.json:
        print_json(out)
    else:
        print_table(_RANGE_HEADERS, [_range_row(out["left"]), _range_row(out["right"])])
    return EXIT_OK


def _print_range(args: argparse.Namespace, info: dict[str, Any]) -> None:
    """The RANGE an admin command left (from its RANGE_INFO answer): JSON, or a table row."""
    r = RangeView.from_range_info(info).range_object()
    if args.json:
        print_json(r)
    else:
        print_table(_RANGE_HEADERS + ["voters", "learners"],
                    [_range_row(r) + [",".join(map(str, r["voters"])) or "-",
                                      ",".join(map(str, r["learners"])) or "-"]])


def cmd_replicas(c: Client, args: argparse.Namespace) -> int:
    """``replicas add|remove|move``: exit 1 if refused (nothing changed)."""
    try:
        info = c.change_replicas(args.range_id, args.kind, args.from_node, args.to_node)
    except Refused as e:
        return _fail(args, {"range_id": args.range_id, "kind": args.kind,
                            "from_node": args.from_node, "to_node": args.to_node,
                            "changed": False, "error": str(e)},
                     f"replicas {args.kind} refused: {e}", EXIT_REFUSED)
    _print_range(args, info)
    return EXIT_OK


def cmd_transfer(c: Client, args: argparse.Namespace) -> int:
    """``transfer RANGE_ID NODE_ID``: exit 1 if refused."""
    try:
        info = c.transfer_leader(args.range_id, args.node_id)
    except Refused as e:
        return _fail(args, {"range_id": args.range_id, "node_id": args.node_id,
                            "transferred": False, "error": str(e)},
                     f"transfer refused: {e}", EXIT_REFUSED)
    _print_range(args, info)
    return EXIT_OK


def _print_nodes(args: argparse.Namespace, nodes: list[dict[str, Any]]) -> None:
    if args.json:
        print_json(nodes)
    else:
        print_table(["node", "state", "client address", "raft address", "replicas", "leaders"],
                    [[n["node_id"], n["state"], n["client_address"], n["raft_address"],
                      n["replicas"], n["leaders"]] for n in nodes])


def cmd_nodes(c: Client, args: argparse.Namespace) -> int:
    view = _answered_view(c)
    _print_nodes(args, view.node_objects())
    _say_unreachable(view)
    return EXIT_OK


def _node_object(view: ClusterView, node_id: int) -> dict[str, Any] | None:
    return next((n for n in view.node_objects() if n["node_id"] == node_id), None)


def cmd_node_decommission(c: Client, args: argparse.Namespace) -> int:
    """``node decommission NODE_ID``: checks, DECOMMISSION "decommissioning", the wait until
    no range lists a replica on the node, DECOMMISSION "decommissioned" (module docstring)."""
    node_id = args.node_id

    def refused(message: str) -> int:
        return _fail(args, {"node_id": node_id, "decommissioned": False, "error": message},
                     message, EXIT_REFUSED)

    view = _answered_view(c)
    node = _node_object(view, node_id)
    if node is None:
        return refused(f"unknown node {node_id}: no directory of the nodes that answered "
                       f"lists it")
    stranded = view.stranded_ranges(node_id)
    if stranded:
        return refused(f"cannot decommission node {node_id}: too few live nodes to take its "
                       f"replicas of range {', '.join(map(str, stranded))} (every other live "
                       f"node already holds one)")
    try:
        record = c.decommission(node_id, "decommissioning")
        if not args.no_wait:
            view, drained = ClusterView.poll(c, time.monotonic() + c.timeout,
                                             lambda v: v.answered and not v.ranges_on(node_id))
            if not drained:
                left = [str(r.range_id) for r in view.ranges_on(node_id)]
                raise Timeout(f"node {node_id} is decommissioning, but range "
                              f"{', '.join(left) or '(no node answered)'} still had a replica "
                              f"on it after {c.timeout}s")
            record = c.decommission(node_id, "decommissioned")
    except Refused as e:
        return refused(f"decommission of node {node_id} refused: {e}")
    node = {**(_node_object(view, node_id) or node), "state": record["state"]}
    if args.json:
        print_json(node)
    else:
        _print_nodes(args, [node])
    return EXIT_OK


def cmd_keys_gen(args: argparse.Namespace) -> int:
    """``node-1..N`` and ``client`` (or ``client-1..M``) key pairs, the layout
    ``multiraft-node --keys DIR`` reads."""
    from multiraft.transport.keys import generate_keypair
    if args.nodes < 1 or args.clients < 0:
        raise UsageError("--nodes must be at least 1 and --clients at least 0")
    names = [f"node-{i}" for i in range(1, args.nodes + 1)]
    names += ["client"] if args.clients == 1 else [f"client-{i}" for i in range(1, args.clients + 1)]
    d = Path(args.dir)
    existing = [n for n in names if (d / f"{n}.key_secret").exists()]
    if existing and not args.force:
        raise UsageError(f"{d / existing[0]}.key_secret exists (--force replaces every key)")
    written = []
    for name in names:
        public, secret = generate_keypair(d, name)
        written.append({"name": name, "public": str(public), "secret": str(secret)})
    if args.json:
        print_json(written)
    else:
        print_table(["name", "public key file", "secret key file"],
                    [[w["name"], w["public"], w["secret"]] for w in written])
    return EXIT_OK


def cmd_check(args: argparse.Namespace) -> int:
    """``multiraft check``: see ``multiraft.check.command``."""
    from multiraft.check.command import CheckOptions, CheckUsageError, run
    from multiraft.check.nemesis import parse_nemeses
    try:
        nemesis = parse_nemeses(args.nemesis)
    except ValueError as e:
        raise UsageError(str(e)) from None
    options = CheckOptions(
        seconds=args.seconds, clients=args.clients, nemesis=nemesis, local=args.local,
        dir=args.dir, design=args.design, addr=getattr(args, "addr", None),
        cluster=getattr(args, "cluster", None), json=args.json,
        timeout=getattr(args, "timeout", 5.0), history=args.history, seed=args.seed,
        curve=lambda addrs: _curve(args, addrs))
    try:
        return run(options)
    except CheckUsageError as e:
        raise UsageError(str(e)) from None


def cmd_bench(c: Client, args: argparse.Namespace) -> int:
    from .bench import print_summary, run_bench
    inflight, ranges = args.inflight or [64], args.ranges or [None]
    if len(inflight) != 1 or len(ranges) != 1:
        raise UsageError("one --inflight and one --ranges value (lists are for --compare)")
    args.inflight, args.ranges = inflight[0], ranges[0]
    if args.seconds <= 0 or args.inflight < 1 or not 0 <= args.read_ratio <= 1:
        raise UsageError("need --seconds > 0, --inflight >= 1 and 0 <= --read-ratio <= 1")
    unreachable = ClusterView.fetch(c).unreachable  # fail within --timeout, before the bar
    if unreachable:
        raise ClientError(f"no answer from {', '.join(unreachable)}")
    result = run_bench(c.addresses, args.seconds, inflight=args.inflight,
                       value_size=args.value_size, read_ratio=args.read_ratio,
                       active_ranges=args.ranges, request_timeout=c.timeout, curve=c.curve)
    print_summary(result, args.json)
    if result.ops == 0:
        print("multiraft: unavailable: no operation completed", file=sys.stderr)
        return EXIT_UNAVAILABLE
    return EXIT_OK


# -- the parser --

def _parser() -> _Parser:
    # The global flags live on every (sub)parser so they may come anywhere; SUPPRESS keeps a
    # subparser from overwriting a value given before the command with its default.
    common = _Parser(add_help=False)
    common.add_argument("--addr", default=argparse.SUPPRESS, metavar="HOST:PORT[,...]",
                        help="nodes' client addresses (else $MULTIRAFT_ADDR, else --cluster, "
                             "else 127.0.0.1:7201-7203)")
    common.add_argument("--cluster", default=argparse.SUPPRESS, metavar="DIR",
                        help="read the addresses from DIR/cluster.json (multiraft-cluster)")
    common.add_argument("--keys", default=argparse.SUPPRESS, metavar="DIR",
                        help="CurveZMQ: client.key_secret and node-ID.key in DIR (multiraft "
                             "keys gen); needs --cluster, whose cluster.json names each node")
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                        help="JSON output, for scripts")
    common.add_argument("--timeout", type=float, default=argparse.SUPPRESS, metavar="SECONDS",
                        help=f"per operation, retries and waits included (default "
                             f"{DEFAULT_TIMEOUT:g}; {ADMIN_TIMEOUT:g} for replicas, transfer "
                             f"and node decommission, which wait for the cluster to act)")
    p = _Parser(prog="multiraft", parents=[common],
                description="Client and admin commands for a multiraft cluster.",
                epilog="exit status: 0 ok, 1 not found / compare failed / split key already "
                       "starts a range / admin command refused, 2 usage, 3 unavailable or "
                       "timed out")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, helptext: str, fn: Callable[..., int]) -> _Parser:
        sp = sub.add_parser(name, parents=[common], help=helptext, description=helptext)
        sp.set_defaults(fn=fn)
        return sp

    sp = command("put", "write VALUE at KEY", cmd_put)
    sp.add_argument("key")
    sp.add_argument("value")
    command("get", "print KEY's value (exit 1 if absent)", cmd_get).add_argument("key")
    command("del", "delete KEY (exit 1 if absent)", cmd_del).add_argument("key")
    sp = command("cas", "compare-and-swap: KEY EXPECTED NEW, or --expect-absent KEY NEW "
                        "(exit 1 if the compare failed)", cmd_cas)
    sp.add_argument("--expect-absent", action="store_true",
                    help="swap only if KEY is absent (then give KEY NEW)")
    sp.add_argument("key")
    sp.add_argument("values", nargs="+", metavar="EXPECTED NEW")
    sp = command("scan", 'pairs with START <= key < END, one "key value" line each '
                         '("" as END: no end)', cmd_scan)
    sp.add_argument("start")
    sp.add_argument("end")
    sp.add_argument("--limit", type=int)
    command("status", "per node and per range: leaders, terms, indexes, followers' match "
                      "(exit 3 if a node does not answer)", cmd_status)
    command("ranges", "the ranges by start key: span, generation, replicas, leader (the "
                      "newest descriptor any node reports)", cmd_ranges)
    sp = command("split", "split the range holding KEY at KEY (exit 1 if KEY already starts "
                          "a range)", cmd_split)
    sp.add_argument("key")
    sp.epilog = ("Done (exit 0) once the split has applied on the leader's node and both halves "
                 "report a leader (each step within --timeout); prints the two halves, with "
                 '--json {"left": RANGE, "right": RANGE} (see multiraft ranges). Exit 1 if KEY '
                 'already starts a range ("" always does), 3 if the cluster is unavailable or '
                 "did not answer in time.")
    _membership_commands(command, common)
    keys = command("keys", "CurveZMQ keys", cmd_keys_gen)
    ksub = keys.add_subparsers(dest="keys_command", required=True, metavar="gen")
    sp = ksub.add_parser("gen", parents=[common], help="write node-1..N and client key pairs to DIR")
    sp.add_argument("dir")
    sp.add_argument("--nodes", type=int, default=3)
    sp.add_argument("--clients", type=int, default=1)
    sp.add_argument("--force", action="store_true", help="replace existing keys")
    sp = command("bench", "a write/read workload with a progress bar and a summary; with "
                          "--compare, the design comparison on clusters it starts", cmd_bench)
    sp.add_argument("--seconds", type=float, default=10.0, help="per measurement")
    sp.add_argument("--inflight", type=_int_list, default=None, metavar="N[,N...]",
                    help="requests kept outstanding (default 64; --compare: 64,512)")
    sp.add_argument("--read-ratio", type=float, default=0.0, help="share of reads, 0..1")
    sp.add_argument("--value-size", type=int, default=100, metavar="BYTES")
    sp.add_argument("--ranges", type=_int_list, default=None, metavar="N[,N...]",
                    help="use only the first N ranges (--compare: active ranges, default "
                         "1,16,256,1024, on a cluster of the largest)")
    cmp = sp.add_argument_group("--compare")
    cmp.add_argument("--compare", action="store_true",
                     help="compare the actor and lock designs on 3-process loopback clusters "
                          "this command starts (no running cluster needed)")
    cmp.add_argument("--out", default="bench-compare", metavar="DIR",
                     help="where results.json, compare.md and the PNG plots go")
    cmp.add_argument("--rounds", type=int, default=2, help="A B rounds (default 2: A B A B)")
    cmp.add_argument("--idle-ranges", type=_int_list, default=None, metavar="N[,N...]",
                     help="cluster sizes for the idle cost (default 1000,10000)")
    cmp.add_argument("--idle-seconds", type=float, default=60.0)
    cmp.add_argument("--no-pysyncobj", action="store_true", help="skip the PySyncObj anchor")
    cmp.add_argument("--no-etcd", action="store_true",
                     help="skip the etcd anchor (measured only if an etcd binary is on PATH)")
    cmp.add_argument("--quick", action="store_true",
                     help="a one-minute smoke run of the harness (tiny matrix)")
    cmp.add_argument("--base-port", type=int, default=7800,
                     help="cluster ports: raft base+i, clients base+100+i")
    sp = command("check", "is the cluster linearizable under faults? clients do put/get/cas "
                          "while a nemesis partitions, kills and pauses nodes; then the "
                          "history's verdict", cmd_check)
    sp.epilog = (
        "kill and pause signal the nodes by pid: against a cluster this command did not "
        "start they need --cluster DIR (the pids in its cluster.json, written by "
        "multiraft-cluster); a killed node is started again as it was. partition inserts "
        "iptables rules (root, the iptables program) between the nodes' addresses, so it "
        "needs every node on its own loopback address (127.0.0.x): --local runs node i on "
        "127.0.0.(i+1); a multiraft-cluster (every node on 127.0.0.1) cannot be partitioned. "
        "split splits the range of a key in use at that key; move moves one of its replicas to "
        "a node without one, or off a follower's node and back. Exit status: 0 "
        "linearizable, 1 not (the history is saved as JSON, its path printed), 2 usage, "
        "3 could not run (cluster unreachable, nemesis not applicable, checker gave up).")
    sp.add_argument("--seconds", type=float, default=30.0,
                    help="how long the clients run (default 30; each requested nemesis runs "
                         "at least once from 10 s on)")
    sp.add_argument("--clients", type=int, default=8, help="concurrent clients (default 8)")
    sp.add_argument("--nemesis", default="partition,kill,pause", metavar="NAME[,NAME...]",
                    help="faults: partition, kill, pause, split, move (default: "
                         "partition,kill,pause), or none")
    sp.add_argument("--local", action="store_true",
                    help="start a 3-node cluster on 127.0.0.2-4 (free ports) for the check, "
                         "stop it at the end")
    sp.add_argument("--dir", default=None,
                    help="--local: the cluster's folder (default: a temporary one); a failing "
                         "history is saved there")
    sp.add_argument("--design", choices=["actors", "locks"], default=None,
                    help="--local: the node design (default actors)")
    sp.add_argument("--seed", type=int, default=None, help="seed of the nemesis' and clients' "
                                                           "random choices")
    sp.add_argument("--history", default=None, metavar="FILE",
                    help="check a saved history (JSON) again instead of running a workload")
    return p


def _membership_commands(command: Callable[[str, str, Callable[..., int]], _Parser],
                         common: _Parser) -> None:
    """The parsers of replicas add|remove|move, transfer, nodes and node decommission
    (``command`` adds a top-level one; ``common`` holds the global flags)."""
    admin = {"default_timeout": ADMIN_TIMEOUT}
    done = ("Done (exit 0) once the change applied and the range left any joint configuration "
            "(within --timeout, default 60 s); prints the RANGE after it (see multiraft "
            "ranges). Exit 1 if refused (an unknown range or node, the node already holds / "
            "does not hold a replica of the range, no voter would remain, another change in "
            "progress): nothing changed; 3 if unavailable or timed out (outcome unknown).")
    replicas = command("replicas", "add, remove or move a replica of a range", cmd_replicas)
    replicas.set_defaults(**admin)
    rsub = replicas.add_subparsers(dest="kind", required=True, metavar="add|remove|move")
    for kind, helptext, nodes in (
            ("add", "add a replica of RANGE_ID on NODE_ID", [("to_node", "NODE_ID")]),
            ("remove", "remove NODE_ID's replica of RANGE_ID", [("from_node", "NODE_ID")]),
            ("move", "move RANGE_ID's replica on FROM_NODE to TO_NODE",
             [("from_node", "FROM_NODE"), ("to_node", "TO_NODE")])):
        sp = rsub.add_parser(kind, parents=[common], help=helptext,
                             description=helptext, epilog=done)
        sp.set_defaults(from_node=0, to_node=0)
        sp.add_argument("range_id", type=_positive, metavar="RANGE_ID")
        for dest, metavar in nodes:
            sp.add_argument(dest, type=_positive, metavar=metavar)
    sp = command("transfer", "make NODE_ID lead RANGE_ID", cmd_transfer)
    sp.set_defaults(**admin)
    sp.add_argument("range_id", type=_positive, metavar="RANGE_ID")
    sp.add_argument("node_id", type=_positive, metavar="NODE_ID")
    sp.epilog = ("Done (exit 0) once NODE_ID leads the range (at once if it does already; within "
                 "--timeout, default 60 s); prints the RANGE. Exit 1 for an unknown range or "
                 "node, a node without a voter of the range, or a target whose log lags; 3 if "
                 "unavailable or timed out.")
    command("nodes", "every node the directories list (dead and decommissioned too): "
                     "addresses, state, replicas, leaders", cmd_nodes)
    node = command("node", "node administration", cmd_node_decommission)
    node.set_defaults(**admin)
    nsub = node.add_subparsers(dest="node_command", required=True, metavar="decommission")
    sp = nsub.add_parser("decommission", parents=[common],
                         help="move every replica off NODE_ID and retire it",
                         description="move every replica off NODE_ID and retire it")
    sp.add_argument("node_id", type=_positive, metavar="NODE_ID")
    sp.add_argument("--no-wait", action="store_true",
                    help="only mark the node decommissioning; do not wait for its replicas to "
                         "move")
    sp.epilog = ("Marks the node decommissioning, waits (within --timeout, default 60 s) until "
                 "no range lists a replica on it, then marks it decommissioned; prints its "
                 "NODE object (see multiraft nodes). Exit 1 for an unknown node, too few live "
                 "nodes to take its replicas (checked first: nothing is sent), or a refusal; 3 "
                 "if unavailable or timed out (replicas still on the node).")


def _positive(s: str) -> int:
    """A range or node id: a positive integer."""
    try:
        v = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {s!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be positive: {s!r}")
    return v


def _int_list(s: str) -> list[int]:
    try:
        values = [int(x) for x in s.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of integers: {s!r}") from None
    if any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"must be positive: {s!r}")
    return values


def _curve(args: argparse.Namespace, addrs: list[str]) -> ClientCurve | None:
    """The CurveZMQ client keys for ``--keys`` (None without it)."""
    key_dir = getattr(args, "keys", None)
    if key_dir is None:
        return None
    cluster = getattr(args, "cluster", None)
    if cluster is None:
        raise UsageError("--keys needs --cluster DIR (its cluster.json names each address's node)")
    nodes = manifest_nodes(cluster)
    unknown = [a for a in addrs if a not in nodes]
    if unknown:
        raise UsageError(f"{unknown[0]} is not a node of {cluster}/cluster.json")
    try:
        return load_client_curve(key_dir, {a: nodes[a] for a in addrs})
    except (OSError, ValueError) as e:
        raise UsageError(f"keys in {key_dir}: {e}") from None


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    args.json = getattr(args, "json", False)
    timeout = getattr(args, "timeout", getattr(args, "default_timeout", DEFAULT_TIMEOUT))
    try:
        if timeout <= 0:
            raise UsageError("--timeout must be positive")
        command: Callable[..., int] = args.fn
        if command is cmd_keys_gen:
            return cmd_keys_gen(args)
        if command is cmd_check:
            return cmd_check(args)
        if command is cmd_bench and args.compare:
            from .bench import run_compare_command
            return run_compare_command(args)
        addrs = resolve_addresses(getattr(args, "addr", None), getattr(args, "cluster", None))
        with Client(addrs, timeout=timeout, curve=_curve(args, addrs)) as client:
            status: int = args.fn(client, args)
            return status
    except (UsageError, AddressError) as e:
        print(f"multiraft: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except Timeout as e:
        print(f"multiraft: timed out: {e}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    except (ClientError, TimeoutError) as e:
        print(f"multiraft: unavailable: {e}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # stdout closed early (``| head``): not an error of the command
        sys.stdout = open(os.devnull, "w")
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())

"""A transport in its own process, driven by JSON-line commands on stdin (see
``transport_cluster.PeerProcess``); each command gets one JSON-line answer on stdout."""

from __future__ import annotations

import dataclasses
import json
import sys
import threading
from pathlib import Path

from multiraft.raft.types import Message, MessageType
from multiraft.transport import FaultInjector, Heartbeat, Transport
from transport_cluster import Recorder, curve_config


def main() -> None:
    config = json.loads(sys.argv[1])
    me = config["node_id"]
    curve = None
    if config["key_dir"]:
        curve = curve_config(Path(config["key_dir"]), config["key_name"],
                             {int(n): k for n, k in config["node_keys"].items()})
    recorder = Recorder()
    faults = FaultInjector(seed=me)
    t = Transport(me, config["listen"], {int(n): a for n, a in config["peers"].items()},
                  recorder, curve=curve, faults=faults)
    t.start()
    answer({"address": t.address})
    for line in sys.stdin:
        cmd = json.loads(line)
        op = cmd["op"]
        if op == "send":
            for i in range(cmd["count"]):
                t.send(cmd["to"], i % 10, Message(MessageType.APP, cmd["to"], me, cmd["tag"], index=i))
            answer({})
        elif op == "heartbeats":
            t.send_heartbeats(cmd["to"], [Heartbeat(r, me, cmd["to"], 1, r, True)
                                          for r in range(cmd["count"])])
            answer({})
        elif op == "received":
            answer({"raft": [[f, r, m.term, m.index] for f, r, m in list(recorder.raft)],
                    "heartbeats": [[f, h.range_id, h.quiesce] for f, h in list(recorder.heartbeats)],
                    "unreachable": list(recorder.unreachable)})
        elif op == "counters":
            answer(dataclasses.asdict(t.counters))
        elif op == "add_peer":
            t.add_peer(cmd["node"], cmd["address"])
            answer({})
        elif op == "partition":
            faults.partition(me, cmd["peer"])
            answer({})
        elif op == "heal":
            faults.heal()
            answer({})
        elif op == "stop":
            t.stop()
            answer({"threads": [th.name for th in threading.enumerate()]})
            return


def answer(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()

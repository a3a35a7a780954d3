"""Network partitions between loopback nodes, made of iptables rules, always removed.

Each node runs on its own loopback address (``multiraft check --local``: node i on
127.0.0.(i+1)) and its raft connections leave from that address (the transport binds them to
its listen address), so a rule on a (source, destination) address pair cuts one direction
between two nodes::

    iptables -w -I INPUT -i lo -s 127.0.0.2 -d 127.0.0.3 -p tcp --dport 7103 \\
             -m comment --comment multiraft-nemesis-<pid> -j DROP

drops what node 1 (127.0.0.2) sends to node 2's raft port: node 1's messages to node 2 are
lost while node 2's messages to node 1 still arrive (a one-way partition); the rule of the
other direction as well makes it two-way. With the raft port known the rule touches nothing
else on those addresses (another cluster on other ports, the clients on 127.0.0.1); without it
(a cluster known only by its client addresses) it drops all TCP between the two addresses.

Every rule carries the comment ``multiraft-nemesis-<pid>`` of the process that made it, so
``Firewall.heal`` removes exactly its own rules (also those it lost track of), and
``Firewall.sweep_stale`` the rules of a process that died before it could (SIGKILL). Only
loopback addresses (127.0.0.0/8) are ever partitioned: rules on real interfaces could cut this
machine off its network. Needs root and the ``iptables`` program (either backend, nft or
legacy).
"""

from __future__ import annotations

import ipaddress
import os
import shlex
import shutil
import subprocess
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from .. import pids

__all__ = ["TAG_PREFIX", "Endpoint", "DropRule", "one_way", "two_way", "isolate",
           "partitionable", "endpoints_of", "Firewall", "FirewallError"]

#: the comment of every rule: this prefix and the pid of the process that made it
TAG_PREFIX = "multiraft-nemesis-"
CHAIN = "INPUT"

Runner = Callable[[Sequence[str]], "subprocess.CompletedProcess[str]"]


class FirewallError(Exception):
    """iptables is missing, not permitted (not root) or refused a rule."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where a node's peers reach it: its host, and its raft port if known."""

    host: str
    port: int | None = None


@dataclass(frozen=True, slots=True)
class DropRule:
    """Drop what ``source`` sends to ``dest`` (its raft port, if known) on the loopback."""

    source: str
    dest: Endpoint
    tag: str

    def spec(self) -> list[str]:
        """The rule as iptables takes it after ``-I CHAIN`` or ``-D CHAIN``."""
        out = ["-i", "lo", "-s", self.source, "-d", self.dest.host]
        if self.dest.port is not None:
            out += ["-p", "tcp", "--dport", str(self.dest.port)]
        else:
            out += ["-p", "tcp"]
        return out + ["-m", "comment", "--comment", self.tag, "-j", "DROP"]

    def describe(self) -> str:
        return f"{self.source} -> {self.dest.host}" + (f":{self.dest.port}" if self.dest.port else "")


def one_way(source: Endpoint, dest: Endpoint, tag: str) -> list[DropRule]:
    """``source`` can no longer reach ``dest``; ``dest`` still reaches ``source``."""
    return [DropRule(source.host, dest, tag)]


def two_way(a: Endpoint, b: Endpoint, tag: str) -> list[DropRule]:
    """Neither of ``a`` and ``b`` reaches the other."""
    return one_way(a, b, tag) + one_way(b, a, tag)


def isolate(side: Iterable[Endpoint], rest: Iterable[Endpoint], tag: str) -> list[DropRule]:
    """No node of ``side`` reaches a node of ``rest``, nor the other way (majority/minority)."""
    others = list(rest)
    return [r for a in side for b in others for r in two_way(a, b, tag)]


def partitionable(hosts: Sequence[str]) -> str | None:
    """None if nodes on ``hosts`` can be partitioned, else why not (for a usage error)."""
    bad = []
    for h in hosts:
        try:
            ip = ipaddress.ip_address(h)
        except ValueError:
            bad.append(h)
            continue
        if ip.version != 4 or not ip.is_loopback:
            bad.append(h)
    if bad:
        return (f"partition works on loopback clusters only (nodes on 127.0.0.x addresses), "
                f"not on {', '.join(sorted(set(bad)))}")
    if len(set(hosts)) != len(hosts):
        return (f"partition needs every node on its own address, but the nodes share "
                f"{', '.join(sorted({h for h in hosts if hosts.count(h) > 1}))} (multiraft-cluster "
                f"runs every node on 127.0.0.1): use --local, whose nodes run on 127.0.0.2-4")
    return None


def _run(argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=30)


def _find(program: str) -> str:
    """``program`` on the PATH, else in /usr/sbin or /sbin (not on every user's PATH)."""
    for where in (shutil.which(program), f"/usr/sbin/{program}", f"/sbin/{program}"):
        if where is not None and os.access(where, os.X_OK):
            return where
    return program


class Firewall:
    """The partition rules of one process (tag ``multiraft-nemesis-<pid>``).

    ``run`` runs one iptables command line (tests give a fake one).
    """

    def __init__(self, tag: str | None = None, run: Runner = _run,
                 program: str = "iptables") -> None:
        self.tag = tag or f"{TAG_PREFIX}{os.getpid()}"
        self._run = run
        self._program = _find(program) if run is _run else program
        self.applied: list[DropRule] = []

    def _iptables(self, *args: str) -> subprocess.CompletedProcess[str]:
        argv = [self._program, "-w", *args]
        try:
            done = self._run(argv)
        except FileNotFoundError:
            raise FirewallError(f"{self._program} is not installed (Debian/Ubuntu: apt-get "
                                f"install iptables)") from None
        except (OSError, subprocess.TimeoutExpired) as e:
            raise FirewallError(f"{shlex.join(argv)}: {e}") from None
        if done.returncode != 0:
            why = (done.stderr or done.stdout).strip()
            hint = " (partitions need root)" if os.geteuid() != 0 else ""
            raise FirewallError(f"{shlex.join(argv)} failed ({done.returncode}){hint}: {why}")
        return done

    def probe(self) -> None:
        """Raise ``FirewallError`` unless a rule of ours can be inserted and deleted."""
        if self._run is _run and not os.access(self._program, os.X_OK):
            raise FirewallError(f"{self._program} is not installed (Debian/Ubuntu: apt-get "
                                f"install iptables; needs root)")
        probe = DropRule("127.0.0.255", Endpoint("127.0.0.255", 9), self.tag)
        self._iptables("-I", CHAIN, *probe.spec())
        self._iptables("-D", CHAIN, *probe.spec())

    def apply(self, rules: Iterable[DropRule]) -> None:
        """Insert ``rules`` (each is remembered as soon as it is in, for ``heal``)."""
        for rule in rules:
            self._iptables("-I", CHAIN, *rule.spec())
            self.applied.append(rule)

    def heal(self) -> None:
        """Remove every rule this firewall inserted, and any other rule with its tag."""
        errors = []
        while self.applied:
            rule = self.applied.pop()
            try:
                self._iptables("-D", CHAIN, *rule.spec())
            except FirewallError as e:
                errors.append(str(e))
        try:
            self._delete_tagged(lambda tag: tag == self.tag)
        except FirewallError as e:
            errors.append(str(e))
        if errors:
            raise FirewallError("; ".join(errors))

    def sweep_stale(self) -> list[str]:
        """Remove the rules left by nemesis processes that are gone; their descriptions."""
        def stale(tag: str) -> bool:
            pid = tag.removeprefix(TAG_PREFIX)
            return tag != self.tag and pid.isdigit() and not pids.alive(int(pid))
        return self._delete_tagged(stale)

    def listed(self) -> list[list[str]]:
        """The rules of the chain that carry a ``multiraft-nemesis-`` tag, as argv after ``-A``."""
        out = []
        for line in self._iptables("-S", CHAIN).stdout.splitlines():
            words = shlex.split(line)
            if words[:2] == ["-A", CHAIN] and _tag(words) is not None:
                out.append(words[2:])
        return out

    def _delete_tagged(self, which: Callable[[str], bool]) -> list[str]:
        removed = []
        for spec in self.listed():
            tag = _tag(spec)
            if tag is not None and which(tag):
                self._iptables("-D", CHAIN, *spec)
                removed.append(shlex.join(spec))
        return removed


def _tag(spec: Sequence[str]) -> str | None:
    """The ``multiraft-nemesis-*`` comment of a rule, if it has one."""
    for flag, value in zip(spec, spec[1:]):
        if flag == "--comment" and value.startswith(TAG_PREFIX):
            return value
    return None


def endpoints_of(addresses: Mapping[int, str], with_ports: bool) -> dict[int, Endpoint]:
    """node -> ``Endpoint`` from ``HOST:PORT`` addresses (raft addresses: ``with_ports``)."""
    out = {}
    for node, addr in addresses.items():
        host, _, port = addr.rpartition(":")
        out[node] = Endpoint(host, int(port) if with_ports else None)
    return out

"""CurveZMQ keys: generating a node's key pair, loading key files, and a node's key set.

Key files are ZeroMQ certificates (``NAME.key`` holds the public key, ``NAME.key_secret`` both;
the secret file is made readable by its owner only). Generate one per node or client:

    python -m multiraft.transport.keys DIR NAME
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import zmq.auth

__all__ = ["CurveConfig", "ClientCurve", "generate_keypair", "load_keypair", "load_public_key",
           "load_client_curve"]


@dataclass(slots=True, frozen=True)
class CurveConfig:
    """What a node needs to run CurveZMQ; all keys are Z85 (40 bytes).

    Invariant: ``node_keys`` is the complete list of nodes this node accepts frames from and
    can send to (it holds the node's own key too); ``client_keys`` the clients it serves.
    """

    public_key: bytes
    secret_key: bytes
    node_keys: Mapping[int, bytes]
    client_keys: frozenset[bytes] = field(default_factory=frozenset)


@dataclass(slots=True, frozen=True)
class ClientCurve:
    """What a client needs to reach CurveZMQ nodes: its own key pair (listed on the nodes as a
    client key) and each node's public key, by the node's client address."""

    public_key: bytes
    secret_key: bytes
    server_keys: Mapping[str, bytes]


def load_client_curve(key_dir: str | os.PathLike[str], nodes: Mapping[str, int],
                      name: str = "client") -> ClientCurve:
    """The client keys of a directory made by ``multiraft keys gen``: ``name.key_secret`` and
    ``node-ID.key`` for each address in ``nodes`` (client address -> node id)."""
    d = Path(key_dir)
    public, secret = load_keypair(d / f"{name}.key_secret")
    return ClientCurve(public, secret, {a: load_public_key(d / f"node-{i}.key") for a, i in nodes.items()})


def generate_keypair(key_dir: str | os.PathLike[str], name: str) -> tuple[Path, Path]:
    """Write a new key pair as ``key_dir/name.key`` and ``key_dir/name.key_secret``.

    Returns (public file, secret file). The secret file gets mode 0600.
    """
    os.makedirs(key_dir, exist_ok=True)
    public_file, secret_file = zmq.auth.create_certificates(key_dir, name)
    os.chmod(secret_file, 0o600)
    return Path(public_file), Path(secret_file)


def load_keypair(secret_file: str | os.PathLike[str]) -> tuple[bytes, bytes]:
    """(public, secret) from a ``.key_secret`` file."""
    public, secret = zmq.auth.load_certificate(secret_file)
    if secret is None:
        raise ValueError(f"{secret_file} holds no secret key")
    return public, secret


def load_public_key(public_file: str | os.PathLike[str]) -> bytes:
    """The public key of a ``.key`` (or ``.key_secret``) file."""
    return zmq.auth.load_certificate(public_file)[0]


def main(argv: list[str] | None = None) -> None:
    """CLI: generate a key pair."""
    parser = argparse.ArgumentParser(prog="python -m multiraft.transport.keys",
                                     description="Generate a CurveZMQ key pair for a node or client.")
    parser.add_argument("key_dir")
    parser.add_argument("name")
    args = parser.parse_args(argv)
    public_file, secret_file = generate_keypair(args.key_dir, args.name)
    print(f"public key: {public_file}\nsecret key: {secret_file}")


if __name__ == "__main__":
    main()

"""``--split-bytes`` / ``--split-qps`` on ``multiraft-node`` and ``multiraft-cluster``, and the
``NodeConfig.split_bytes`` / ``split_qps`` they set: defaults, the config file, validation (exit 2
with one line, as the other flags), help texts."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from multiraft import NodeConfig
from multiraft.cli.node import _parser, build_config

from .conftest import run


def config(*argv: str) -> NodeConfig:
    return build_config(_parser().parse_args(["--id", "1", *argv]))[0]


def test_node_config_defaults() -> None:
    """Proves: by default a range splits past 64 MiB (67108864 bytes) and never by load
    (split_qps 0: see DEFAULT_SPLIT_QPS), from ``NodeConfig`` and from ``multiraft-node``
    without the flags."""
    for cfg in (NodeConfig(node_id=1), config()):
        assert (cfg.split_bytes, cfg.split_qps) == (67108864, 0.0)


@pytest.mark.parametrize("split_bytes", [0, 65536, 1 << 40])
def test_split_bytes_zero_or_64_kib_and_more_are_honoured(split_bytes: int) -> None:
    """Proves: ``split_bytes`` 0 (no size splits) and any value of 64 KiB or more validate."""
    NodeConfig(node_id=1, engine="memory", split_bytes=split_bytes, split_qps=0).validate()


@pytest.mark.parametrize("split_bytes, split_qps", [
    (1, 2500.0), (65535, 2500.0), (-1, 2500.0), (65536, -1.0), (65536, math.nan),
    (65536, math.inf)])
def test_bad_split_settings_are_refused(split_bytes: int, split_qps: float) -> None:
    """Proves: ``NodeConfig.validate`` refuses 0 < split_bytes < 64 KiB, a negative
    split_bytes, and a negative, NaN or infinite split_qps, naming the field."""
    cfg = NodeConfig(node_id=1, engine="memory", split_bytes=split_bytes, split_qps=split_qps)
    with pytest.raises(ValueError, match="split_bytes" if split_qps == 2500.0 else "split_qps"):
        cfg.validate()


def test_flags_and_config_file(tmp_path: Path) -> None:
    """Proves: ``--split-bytes`` / ``--split-qps`` set the config fields, so do the keys
    ``split-bytes`` / ``split-qps`` of a ``--config`` TOML file, and a flag wins over the file."""
    assert (lambda c: (c.split_bytes, c.split_qps))(
        config("--split-bytes", "0", "--split-qps", "12.5")) == (0, 12.5)
    toml = tmp_path / "node.toml"
    toml.write_text("split-bytes = 131072\nsplit-qps = 0\n")
    cfg = config("--config", str(toml))
    assert (cfg.split_bytes, cfg.split_qps) == (131072, 0.0)
    cfg = config("--config", str(toml), "--split-qps", "300")
    assert (cfg.split_bytes, cfg.split_qps) == (131072, 300.0)


@pytest.mark.parametrize("args, fragment", [
    (["--split-bytes", "100"], "split_bytes must be 0 (no size splits) or at least 65536"),
    (["--split-bytes", "-5"], "split_bytes must be 0"),
    (["--split-qps", "-1"], "split_qps must be 0 (no load splits) or a positive rate"),
    (["--split-qps", "nan"], "split_qps must be 0"),
    (["--split-bytes", "1MiB"], "invalid int value"),
    (["--split-qps", "fast"], "invalid float value"),
])
def test_node_refuses_bad_split_flags_with_exit_2(args: list[str], fragment: str) -> None:
    """Proves: ``multiraft-node`` with a bad ``--split-bytes`` / ``--split-qps`` exits 2 (like
    its other bad flags) with the reason on stderr, before it starts anything."""
    r = run("multiraft-node", "--id", "1", "--engine", "memory", *args)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert fragment in r.stderr.strip().splitlines()[-1], r.stderr


@pytest.mark.parametrize("args, fragment", [
    (["--split-bytes", "65535"], "split_bytes must be 0 (no size splits) or at least 65536"),
    (["--split-qps", "-0.5"], "split_qps must be 0"),
])
def test_cluster_refuses_bad_split_flags_before_starting_nodes(tmp_path: Path, args: list[str],
                                                               fragment: str) -> None:
    """Proves: ``multiraft-cluster`` checks ``--split-bytes`` / ``--split-qps`` itself: exit 2
    with one line on stderr, and no node was started (its data dir was not even created)."""
    d = tmp_path / "c"
    r = run("multiraft-cluster", "--dir", str(d), *args)
    assert r.returncode == 2, (r.stdout, r.stderr)
    [line] = r.stderr.strip().splitlines()
    assert line.startswith("multiraft-cluster: ") and fragment in line
    assert not d.exists()


@pytest.mark.parametrize("program", ["multiraft-node", "multiraft-cluster"])
def test_help_documents_the_split_flags(program: str) -> None:
    """Proves: ``--help`` of both programs lists ``--split-bytes`` and ``--split-qps`` with
    their defaults and what 0 means."""
    out = " ".join(run(program, "--help").stdout.split())
    assert "--split-bytes BYTES" in out and "--split-qps Q" in out
    assert "default 67108864" in out and "default 0;" in out
    assert "0: no size splits" in out and "0: no load splits" in out

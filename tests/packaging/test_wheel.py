"""A new user's install: the wheel built from this checkout, installed (not editable) into a fresh
venv outside the checkout, runs the README's quick start from an empty folder. Everything it
installs lives under the one ``multiraft`` namespace, and ``import multiraft.raft`` loads
neither ZeroMQ nor RocksDB."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.cli.conftest import free_base_port
from tests.support.quick_start import check_quick_start

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True, slots=True)
class InstalledWheel:
    wheel: Path
    venv: Path
    workdir: Path  # an empty folder outside the checkout
    env: dict[str, str]

    def python(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(self.venv / "bin" / "python"), *args], capture_output=True,
                              text=True, timeout=timeout, cwd=self.workdir, env=self.env)


def _run(*cmd: str, cwd: Path, timeout: float = 600) -> None:
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, timeout=timeout)
    assert r.returncode == 0, f"{' '.join(cmd)} exited {r.returncode}:\n{r.stdout}\n{r.stderr}"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InstalledWheel]:
    root = tmp_path_factory.mktemp("wheel")
    dist, venv, work = root / "dist", root / "venv", root / "work"
    work.mkdir()
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(REPO),
         cwd=root)
    (wheel,) = dist.glob("multiraft-*.whl")
    _run(sys.executable, "-m", "venv", str(venv), cwd=root)
    _run(str(venv / "bin" / "python"), "-m", "pip", "install", "-q", str(wheel), cwd=root)
    # The user's shell: nothing of this checkout or of the test run's venv on any path.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    yield InstalledWheel(wheel, venv, work, env)


def test_the_wheel_installs_one_namespace(installed: InstalledWheel) -> None:
    with zipfile.ZipFile(installed.wheel) as z:
        tops = {n.split("/")[0] for n in z.namelist()}
        names = set(z.namelist())
    assert tops == {"multiraft", f"{installed.wheel.name.split('-py')[0]}.dist-info"}, tops
    for part in ("raft", "storage", "transport", "replica", "store", "actors", "lockbased",
                 "bench", "cli"):
        assert f"multiraft/{part}/__init__.py" in names, part
    assert "multiraft/py.typed" in names


def test_the_installed_package_is_the_wheel_not_the_checkout(installed: InstalledWheel) -> None:
    r = installed.python("-c", "import json, multiraft, multiraft.raft, multiraft.actors; print(json.dumps("
                               "[multiraft.__file__, multiraft.raft.__file__, multiraft.actors.__file__]))")
    assert r.returncode == 0, r.stderr
    for f in json.loads(r.stdout):
        assert Path(f).is_relative_to(installed.venv), f
    for name in ("raft", "storage", "transport", "actors", "bench"):
        r = installed.python("-c", f"import {name}")
        assert r.returncode != 0 and "ModuleNotFoundError" in r.stderr, name


def test_importing_the_raft_core_loads_no_zeromq_or_rocksdb(installed: InstalledWheel) -> None:
    r = installed.python("-c", "import multiraft.raft, sys; print(sorted(m for m in sys.modules "
                               "if m.split('.')[0] in {'zmq','rocksdict'}))")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


def test_the_quick_start_runs_from_an_empty_folder(installed: InstalledWheel) -> None:
    check_quick_start(
        [str(installed.venv / "bin" / "multiraft-cluster"), "--nodes", "3", "--ranges", "4",
         "--dir", "./d", "--workload", "5", "--base-port", str(free_base_port())],
        installed.workdir / "d", cwd=installed.workdir, env=installed.env, wait=120)

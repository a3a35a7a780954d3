"""The README's import rules, checked on every module's imports (read with ``ast``, not run).

Dependencies point inward: ``raft`` imports the standard library only; ``storage`` and
``transport`` import ``raft``; ``replica`` imports those three; ``store`` (the node-level
package) imports those four; ``actors`` and ``lockbased`` import all of them and never each
other; only the facade (``multiraft``'s own modules, its command line) and ``bench`` import the
facade; the command line imports ``bench`` only inside the function that runs a benchmark. Every
import of our code names the one installed namespace (``multiraft.raft``, never ``raft``).
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

#: the repository's top-level package folders, installed as multiraft.<name>
PARTS = ("raft", "storage", "transport", "replica", "store", "actors", "lockbased", "bench")
FACADE = "facade"

#: layer -> the layers it may import (itself always allowed)
ALLOWED: dict[str, set[str]] = {
    "raft": set(),
    "storage": {"raft"},
    "transport": {"raft"},
    "replica": {"raft", "storage", "transport"},
    "store": {"raft", "storage", "transport", "replica"},
    "actors": {"raft", "storage", "transport", "replica", "store"},
    "lockbased": {"raft", "storage", "transport", "replica", "store"},
    FACADE: {"raft", "storage", "transport", "replica", "store", "actors", "lockbased", "bench"},
    "bench": {"raft", "storage", "transport", "replica", "store", "actors", "lockbased", FACADE},
}

#: third-party distributions that may be imported per layer (raft: none, the standard library)
THIRD_PARTY_FORBIDDEN_IN = {"raft"}


@dataclass(frozen=True, slots=True)
class Import:
    module: str      # the importing module, e.g. multiraft.storage.keys
    target: str      # the imported module, absolute, e.g. multiraft.raft.types
    line: int
    top_level: bool  # runs on import: at module level, not in a function or TYPE_CHECKING


def _module_files() -> dict[str, Path]:
    """Every module of the package, by its installed name."""
    out: dict[str, Path] = {}
    for part in PARTS:
        for f in (REPO / part).rglob("*.py"):
            rel = f.relative_to(REPO).with_suffix("")
            name = ".".join(("multiraft", *rel.parts))
            out[name.removesuffix(".__init__")] = f
    for f in (REPO / "multiraft").rglob("*.py"):
        rel = f.relative_to(REPO / "multiraft")
        if rel.parts[0] in PARTS:  # the links to the top-level folders
            continue
        name = ".".join(("multiraft", *rel.with_suffix("").parts))
        out[name.removesuffix(".__init__")] = f
    return out


def _is_type_checking_block(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and isinstance(node.test, ast.Name) \
        and node.test.id == "TYPE_CHECKING"


def _imports(module: str, path: Path) -> list[Import]:
    tree = ast.parse(path.read_text(), str(path))
    is_pkg = path.name == "__init__.py"
    package = module if is_pkg else module.rpartition(".")[0]
    out: list[Import] = []

    def visit(node: ast.AST, top: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = top and not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)) \
                and not _is_type_checking_block(child)
            if isinstance(child, ast.Import):
                out.extend(Import(module, a.name, child.lineno, top) for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")
                    base = base[:len(base) - child.level + 1]
                    target = ".".join(base + ([child.module] if child.module else []))
                else:
                    target = child.module or ""
                out.append(Import(module, target, child.lineno, top))
                if child.module is None or child.level:  # `from . import x`: x may be a module
                    out.extend(Import(module, f"{target}.{a.name}", child.lineno, top)
                               for a in child.names)
            visit(child, inner)

    visit(tree, True)
    return out


def layer_of(module: str) -> str | None:
    """The layer of one of our modules (None: not ours)."""
    parts = module.split(".")
    if parts[0] != "multiraft":
        return None
    if len(parts) > 1 and parts[1] in PARTS:
        return parts[1]
    return FACADE


def violations(modules: dict[str, Path], root: Path = REPO) -> list[str]:
    found: list[str] = []
    stdlib = sys.stdlib_module_names
    for module, path in sorted(modules.items()):
        src = layer_of(module)
        assert src is not None
        where = str(path.relative_to(root))
        for imp in _imports(module, path):
            top = imp.target.split(".")[0]
            if top in PARTS:
                found.append(f"{where}:{imp.line}: imports {imp.target!r}: name our code "
                             f"multiraft.{imp.target}")
                continue
            dst = layer_of(imp.target)
            if dst is None:
                if src in THIRD_PARTY_FORBIDDEN_IN and top not in stdlib and top != "__future__":
                    found.append(f"{where}:{imp.line}: {src} imports the standard library "
                                 f"only, not {imp.target!r}")
                continue
            if imp.target == "multiraft" and src not in (FACADE, "bench"):
                found.append(f"{where}:{imp.line}: {src} imports the facade ('multiraft')")
                continue
            if dst != src and dst not in ALLOWED[src]:
                found.append(f"{where}:{imp.line}: {src} may not import {dst} ({imp.target})")
            if src == FACADE and dst == "bench" and imp.top_level:
                found.append(f"{where}:{imp.line}: the facade imports the benchmarks at "
                             f"module level ({imp.target}): import them where they run")
    return found


def test_every_module_follows_the_import_rules() -> None:
    modules = _module_files()
    assert len(modules) > 80, "the walk found too few modules: is the layout still as assumed?"
    assert not violations(modules), "\n".join(violations(modules))


def test_the_checker_catches_each_kind_of_forbidden_arrow(tmp_path: Path) -> None:
    """The rules above are live: a module that breaks each one is reported."""
    cases = {
        "multiraft.raft.bad1": ("import zmq\n", "standard library only"),
        "multiraft.storage.bad2": ("from multiraft.transport import codec\n", "may not import transport"),
        "multiraft.replica.bad3": ("from multiraft.store import NodeConfig\n", "may not import store"),
        "multiraft.actors.bad4": ("from multiraft.lockbased import LockNode\n", "may not import lockbased"),
        "multiraft.store.bad5": ("from raft import RawNode\n", "name our code multiraft.raft"),
        "multiraft.transport.bad6": ("from ..raft import types\nimport multiraft\n", "imports the facade"),
        "multiraft.cli.bad7": ("from multiraft.bench.workload import run_workload\n", "module level"),
    }
    modules = {}
    for name, (source, _) in cases.items():
        f = tmp_path / f"{name}.py"
        f.write_text(source)
        modules[name] = f
    found = violations(modules, root=tmp_path)
    for name, (_, expected) in cases.items():
        assert any(name + ".py" in v and expected in v for v in found), (name, found)
    assert len(found) == len(cases)


@pytest.mark.parametrize("source, top_level", [
    ("from multiraft.bench import workload\n", True),
    ("def run():\n    from multiraft.bench import workload\n", False),
    ("if TYPE_CHECKING:\n    from multiraft.bench import workload\n", False),
])
def test_function_level_imports_are_told_apart(tmp_path: Path, source: str, top_level: bool) -> None:
    f = tmp_path / "m.py"
    f.write_text(source)
    (imp, *_) = [i for i in _imports("multiraft.cli.m", f) if i.target.startswith("multiraft.bench")]
    assert imp.top_level is top_level

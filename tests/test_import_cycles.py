"""No file-level import circle: no module of the project imports, directly or through others, a module
that imports it back (function-level imports included: a deferred import hides a circle, it does not
open it). :mod:`tests.test_floors` checks the packages' floors; this checks the files inside them.

An import ``from a.b import c`` is an edge to ``a/b/c.py`` when that file exists, else to the module
``a/b`` (its ``.py`` or ``__init__.py``); ``import a.b`` is an edge to ``a/b``. Importing a package
also runs its parent packages' ``__init__`` files, but that implicit step is not counted as an edge
(otherwise every ``__init__`` that re-exports a submodule would close a circle with it).
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("ivfpq", "hwrag_rpc", "rtl", "hwsim", "retrieval_service", "llm_client", "bench", "hwrag", "tests")
#: generated code (protoc output) is left out
GENERATED = ("hwrag_rpc",)


def _module_file(mod: str) -> Path | None:
    p = ROOT.joinpath(*mod.split("."))
    if p.with_suffix(".py").is_file():
        return p.with_suffix(".py")
    if (p / "__init__.py").is_file():
        return p / "__init__.py"
    return None


def _targets(path: Path) -> set[Path]:
    """The project files ``path`` imports (anywhere in it)."""
    rel = path.relative_to(ROOT).with_suffix("").parts
    pkg = list(rel[:-1])
    out: set[Path] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            mods = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg[: len(pkg) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            mods = []
            for a in node.names:
                sub = f"{mod}.{a.name}" if mod else a.name
                mods.append(sub if _module_file(sub) is not None else mod)
        else:
            continue
        for m in mods:
            if m.split(".")[0] in PACKAGES:
                f = _module_file(m)
                if f is not None and f != path:
                    out.add(f)
    return out


def import_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for package in PACKAGES:
        if package in GENERATED:
            continue
        for path in sorted((ROOT / package).rglob("*.py")):
            graph[path.relative_to(ROOT).as_posix()] = {
                t.relative_to(ROOT).as_posix() for t in _targets(path)
                if t.relative_to(ROOT).parts[0] not in GENERATED}
    return graph


def circles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """The strongly connected components of more than one file (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[frozenset[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in graph:
                    continue
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                elif w in on:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = set()
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.add(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    out.append(frozenset(comp))
    return out


def _show(c: frozenset[str]) -> str:
    return " <-> ".join(sorted(c))


def test_no_file_level_import_circle():
    found = circles(import_graph())
    assert not found, "file-level import circles:\n" + "\n".join(_show(c) for c in found)


def test_the_finder_itself():
    """The circle finder against hand-made graphs (a triangle, a self-contained chain, two circles)."""
    g = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert circles(g) == [frozenset("abc")]
    assert circles({"a": {"b"}, "b": set()}) == []
    g2 = {"a": {"b"}, "b": {"a", "c"}, "c": {"d"}, "d": {"c"}}
    assert sorted(map(sorted, circles(g2))) == [["a", "b"], ["c", "d"]]

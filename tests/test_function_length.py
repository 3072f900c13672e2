"""No function over 100 lines (docs/DESIGN.md § Conventions), outside the numba DRAM kernel.

The kernel's two controller loops are exempt: ``hwsim/dram/core.py`` ``_run_unit`` keeps its pass over
the banks in the loop (as a called step, inlined or not, the decision ran at half the speed), and
``hwsim/dram/bank_queues.py`` ``simulate`` holds the DRAMsim3 structure's own rules as inner functions,
which numba inlines with their arrays as free variables, without reference counts (each inner function
is still held to the limit: they are checked as ``simulate.<name>``). What the loops share is the step
library, ``hwsim/dram/steps.py``, held to the limit like any module.
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAX_LINES = 100
SKIP_DIRS = {".git", ".venv", "build", "sim_build", "report", "__pycache__", "hwrag_rpc"}
#: the numba DRAM kernel, exempt by name
EXEMPT = {("hwsim/dram/core.py", "_run_unit"), ("hwsim/dram/bank_queues.py", "simulate")}


def _functions(tree: ast.AST, prefix: str = ""):
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            name = prefix + node.name
            yield name, node.end_lineno - node.lineno + 1
            yield from _functions(node, name + ".")
        elif isinstance(node, ast.ClassDef):
            yield from _functions(node, prefix + node.name + ".")


def long_functions() -> dict[tuple[str, str], int]:
    out = {}
    for p in sorted(ROOT.rglob("*.py")):
        rel = p.relative_to(ROOT)
        if any(part in SKIP_DIRS or part.endswith(".egg-info") for part in rel.parts):
            continue
        for name, n in _functions(ast.parse(p.read_text(encoding="utf-8"))):
            if n > MAX_LINES:
                out[(rel.as_posix(), name)] = n
    return out


def test_no_function_over_100_lines():
    found = long_functions()
    over = {k: n for k, n in found.items() if k not in EXEMPT}
    assert not over, "functions over %d lines: %s" % (
        MAX_LINES, "; ".join(f"{f}::{name} ({n} lines)" for (f, name), n in sorted(over.items())))


def test_exemptions_are_still_needed():
    """An exempt function that is gone or now short is a stale entry: remove it."""
    found = long_functions()
    stale = sorted(k for k in EXEMPT if k not in found)
    assert not stale, f"no longer over {MAX_LINES} lines (delete the entry): {stale}"

"""docs/DESIGN.md's checkable claims, held to the code: the files it names exist, its list of ``docs/``
is complete, every assumed value of a hardware configuration is listed in docs/REFERENCE.md § Assumed values,
the memory nodes keep no state between calls, and the DRAM controller loops are built from the step
library it names (no written-out copy of a step in a loop)."""
from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DESIGN = (ROOT / "docs/DESIGN.md").read_text(encoding="utf-8")
REFERENCE = (ROOT / "docs/REFERENCE.md").read_text(encoding="utf-8")


def test_every_file_design_names_exists():
    named = set(re.findall(r"`((?:[a-z_]+/)+[a-z_0-9]+\.py)`", DESIGN))
    assert len(named) > 20  # the finder itself: DESIGN names many files
    missing = sorted(p for p in named if not (ROOT / p).is_file())
    assert not missing, f"docs/DESIGN.md names files that do not exist: {missing}"


def test_the_docs_row_lists_every_doc():
    row = next(line for line in DESIGN.splitlines() if line.startswith("| – | `docs/`"))
    missing = sorted(p.name for p in (ROOT / "docs").glob("*.md") if p.stem != "DESIGN" and p.name not in row)
    assert not missing, f"docs/DESIGN.md's docs/ row leaves out {missing}"


def _assumed_rows() -> str:
    section = REFERENCE.split("## Assumed values", 1)[1].split("\n## ", 1)[0]
    return "\n".join(line for line in section.splitlines() if line.startswith("|"))


def test_every_assumed_value_is_listed_in_reference():
    """'Every parameter is measured, cited or a stated assumption': each configuration with an assumed
    value appears in docs/REFERENCE.md's table of assumed values."""
    from hwsim.configs import CONFIGS

    rows = _assumed_rows()
    assumed = {name for name, cfg in CONFIGS.items()
               if any("assumed" in str(src).lower() for src in cfg.sources.values())}
    assert assumed  # the finder itself: some configurations assume values
    missing = sorted(name for name in assumed if f"`{name}`" not in rows)
    assert not missing, f"configurations with assumed values not in docs/REFERENCE.md § Assumed values: {missing}"


def test_memory_nodes_keep_no_state_between_calls():
    """'the probed lists and the node's list sizes travel in the Workload, no state kept between calls':
    no method of hwsim/nodes.py but a constructor assigns to the instance."""
    tree = ast.parse((ROOT / "hwsim" / "nodes.py").read_text(encoding="utf-8"))
    bad = []
    for cls in (n for n in tree.body if isinstance(n, ast.ClassDef)):
        for fn in (n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name != "__init__"):
            for node in ast.walk(fn):
                targets = node.targets if isinstance(node, ast.Assign) else (
                    [node.target] if isinstance(node, (ast.AugAssign, ast.AnnAssign)) else [])
                for t in targets:
                    if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and t.value.id == "self":
                        bad.append(f"{cls.name}.{fn.name} sets self.{t.attr}")
    assert not bad, bad


def test_dram_loops_are_built_from_the_step_library():
    """Contract 5: both controller loops call the steps (no local copy of a step function), and the
    steps DESIGN names exist."""
    from hwsim.dram import steps

    for name in ("refresh_command", "pick_fcfs"):
        assert name in DESIGN and callable(getattr(steps, name))
    step_names = {n.name for n in ast.parse(Path(steps.__file__).read_text()).body if isinstance(n, ast.FunctionDef)}
    for loop_file in ("core.py", "bank_queues.py"):
        tree = ast.parse((ROOT / "hwsim" / "dram" / loop_file).read_text(encoding="utf-8"))
        defined = {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
        assert not defined & step_names, f"{loop_file} defines its own copy of {sorted(defined & step_names)}"
        imported = {a.name for n in tree.body if isinstance(n, ast.ImportFrom) and n.module == "steps"
                    for a in n.names}
        assert "issue" in imported, f"{loop_file} does not issue through steps.issue"

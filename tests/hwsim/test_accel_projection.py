"""Paper-scale projection figures against hand-computed values from the configurations.

Oracle: arithmetic on the configuration's parameters (written out here), not the model's code paths.
"""
import math

import numpy as np
import pytest

from hwsim.accelerator import Workload
from hwsim.configs import CHAMELEON_U250, HETERRAG_ACCELHBM, UPMEM, UPMEM_SPLIT
from hwsim.pim_dimm import DimmPim
from hwsim.pim_hbm import HbmPim
from hwsim.project import project
from ivfpq.fixedpoint import DEFAULT_FORMAT as F

LUT_B = math.ceil(F.lut_bits / 8)    # bytes per LUT entry
ENTRY_B = math.ceil(F.dist_bits / 8) + 4  # partial top-K entry: distance + 32-bit offset


def test_chameleon_lut_load_single_buffered():
    """Chameleon's kernels set ADC_DOUBLE_BUF_ENABLE 0: 256 LUT rows at II 1 per list, exposed.
    nprobe 32 at 140 MHz: 32 x 256 / 140e6 = 58.51 us per query."""
    assert CHAMELEON_U250.lut_double_buffer is False
    r = project("chameleon_u250", M=16, nodes=4, nq=2, nprobe=32)
    assert r["stage_mean_s"]["lut_build"] == pytest.approx(32 * 256 / 140e6, rel=1e-3)


def test_upmem_split_lut_broadcast_dominates_and_does_not_scale_with_nodes():
    """Chameleon's split layout on 2560 DPUs: every probed list's LUT (256 x 16 B) goes to every DPU over
    10 x 19.2 GB/s, and the host builds it (256 x 128 x 3 FLOP at 100 GFLOP/s): independent of the slice."""
    bus = 10 * 19.2e9
    lut = 32 * (256 * 16 * LUT_B * 2560 / bus + 256 * 128 * 3 / 100e9)  # = 1779 us
    drain1 = 2560 * 100 * (ENTRY_B / bus + 2e-9) + 1e-6  # every DPU's top-100 (it holds >100 codes) merged
    for nodes in (1, 8):
        r = project(UPMEM_SPLIT, M=16, nodes=nodes, nq=2, nprobe=32)
        assert r["stage_mean_s"]["lut_build"] == pytest.approx(lut, rel=1e-3)
        if nodes == 1:
            assert r["stage_mean_s"]["kselect_drain"] == pytest.approx(drain1, rel=1e-3)
        assert r["stage_mean_s"]["lut_build"] > 10 * r["stage_mean_s"]["scan"]


def small_upmem(**kw):
    return UPMEM.with_(dimms=1, dpus_per_dimm=4, host_channels=1, **kw)


def test_upmem_whole_lists_batch_runs_concurrently():
    """4 DPUs, 4 lists of 1000 codes (list i on DPU i), query i probes list i. Per DPU: LUT built on the
    DPU, 256 x (128 x 4 + 16) instructions, then 1000 codes x (16 x 4 + 1 + 6) instructions at 350 MHz
    (compute-bound: 1000 x 16 B at 0.6 GB/s is 27 us). The batch runs the four at once."""
    cfg = small_upmem()
    acc = DimmPim(cfg)
    sizes = np.full(4, 1000)
    w = Workload.of_lists(sizes, np.arange(4)[:, None], 128, 16, 10)
    t = acc.model(w)
    unit = (256 * (128 * 4 + 16) + 1000 * (16 * 4 + 1 + 6)) / 350e6      # 589.05 us
    assert t.stages["lut_build"][0] + t.stages["scan"][0] == pytest.approx(unit, rel=1e-3)
    bus = 19.2e9
    link = 32e9
    bytes_in = 4 * 128 + (4 + 4 * 128) + 16
    dispatch = (4 * 128 + 4 + 16) / bus                                  # query + list id to one DPU
    drain = 10 * ENTRY_B / bus + 10 * 2e-9                               # per query, + one link latency
    makespan = (4 * (bytes_in + 10 * 12) / link + 2e-6 + 4 * dispatch + unit + 4 * drain + 1e-6)
    assert t.batch_makespan_s == pytest.approx(makespan, rel=1e-3)
    assert t.makespan_s == pytest.approx(makespan, rel=1e-3)
    assert t.qps == pytest.approx(4 / makespan, rel=1e-3)
    # the same four queries all on one DPU's list serialise on that DPU
    t1 = acc.model(Workload.of_lists(sizes, np.zeros((4, 1), np.int64), 128, 16, 10))
    assert t1.makespan_s > 3.9 * unit


def test_hbm_pim_all_bank_units_do_not_run_queries_apart():
    acc = HbmPim(HETERRAG_ACCELHBM.with_(layout="whole"))
    t = acc.model(Workload.of_lists(np.full(256, 1000), np.arange(8).reshape(4, 2), 128, 16, 10))
    assert t.batch_makespan_s is None


def test_upmem_projection_batch_parameter_and_cpu_ratio():
    """1 node, 1B / IVF32768 (30518 codes a list), nprobe 32. Batch 1: the busiest DPU scans at least one
    whole list: 30518 x 71 / 350e6 = 6.19 ms. Batch 256: 8192 (query, list) items over 2560 DPUs; the
    ideal (perfect balance) is 256 x 32 x (6.19 + 0.386) ms / 2560 = 21 ms, load imbalance makes it worse."""
    r1 = project("upmem", M=16, nodes=1, nq=1, nprobe=32)
    assert r1["stage_mean_s"]["scan"] >= 30518 * 71 / 350e6 * 0.999
    r = project("upmem", M=16, nodes=1, nq=256, nprobe=32)
    ideal = 256 * 32 * (30518 * 71 + 256 * (128 * 4 + 16)) / 350e6 / 2560
    assert 256 / r["qps_batch256"] >= ideal * 0.999
    assert r["qps_batch256"] > 4 * r["qps_batch1"]
    # the CPU server runs the same 256 queries over its 8 threads, 32 each: the slowest thread's slice takes
    # at least the mean slice's scan (32 x the mean lone-query scan), so its QPS is at most 8 / mean scan;
    # and it is more than one lone query at a time
    ref = r["cpu_reference"]
    assert ref["cores"] == 8
    assert 1 / ref["latency_s"] < ref["qps_batch"] <= 8 / ref["scan_s"] * (1 + 1e-9)
    assert r["qps_batch256_vs_cpu"] == pytest.approx(r["qps_batch256"] / ref["qps_batch"])


def test_rank_dimm_pim_projection_matches_unit_compute():
    """HeterRAG AccelDIMM at 4 nodes: 244,160 codes per query per node over 16 rank units; one M=16 code
    (16 look-up-adds + 1 compare = 17 lane ops) per cycle on 32 lanes at 500 MHz -> 30.5 us."""
    r = project("heterrag_acceldimm", M=16, nodes=4, nq=2, nprobe=32)
    codes = r["codes_per_query_per_node"]
    assert r["stage_mean_s"]["scan"] == pytest.approx(codes / 16 / 500e6, rel=0.02)


@pytest.mark.parametrize("nodes,max_ratio", [(4, 1.6), (8, 2.0)])
def test_hbm_pim_projection_against_internal_bandwidth(nodes, max_ratio):
    """HeterRAG AccelHBM: 128 units x 8 GB/s (32 B per CCD_L = 4 ns, all-bank). The 4 KB LUT (256 x 16 x
    1 B) needs 4 passes through the 1 KB buffer: 16 B of codes + 2 x 2 B partial sums x 3 = 28 B per code.
    Bound: codes x 28 B / 1024 GB/s; the model sits above it by the row activation of each short run
    (32 lists x 4 passes per query, 30-60 codes per unit per list at 4-8 nodes)."""
    r = project("heterrag_accelhbm", M=16, nodes=nodes, nq=2, nprobe=32)
    bound = r["codes_per_query_per_node"] * 28 / (128 * 8e9)
    ratio = r["stage_mean_s"]["scan"] / bound
    assert 1.0 <= ratio <= max_ratio, ratio

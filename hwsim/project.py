"""Paper-scale projection: run the accelerator models from list sizes and layout only (no vectors).

:func:`project` models one system of ``nodes`` devices of a configuration holding an index of
``ntotal`` vectors in ``nlist`` lists (Chameleon's layout: every list split evenly across nodes), for
a batch of queries each probing ``nprobe`` lists drawn in proportion to list size (queries follow the
data). Every node scans its slice of every probed list; nodes are identical up to one code per list,
so node 0 is modeled and the coordinator merges ``nodes x K`` candidates. All figures are *modeled*.

:func:`cpu_reference` is the CPU baseline of the system model (:mod:`hwsim.cpu`: faiss per-core costs
measured here, scaled to Chameleon's EPYC 7313); end-to-end figures (coordinator, network, GPU, energy)
come from :mod:`hwsim.system` (``hwrag hw system``), of which this projection is the device-level view.
:func:`chameleon_table` (``hwrag hw project --chameleon``) is a view of the end-to-end system model itself
(batch-1 latency of faiss-CPU, FPGA with a CPU or GPU coordinator), beside the paper's reported ratios.
"""
from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np

from ivfpq.errors import HwragError

from .accelerator import Workload
from .configs import CHAMELEON_L1, get_config, make_accelerator
from .chameleon_coordinator import merge_s as coordinator_merge_s
from .cpu import EPYC_7313
from .nodes import node_slice
from .system import SystemModel
from .workload import SearchSpec, sample_probes, synthetic_list_sizes

#: reported by the papers (docs/REFERENCE.md § Reported speedups)
CHAMELEON_REPORTED = {
    "fpga_cpu_coordinator_speedup_vs_cpu": (1.36, 6.13),
    "fpga_gpu_coordinator_speedup_vs_cpu_max": 23.72,
    "source": "docs/REFERENCE.md § Reported speedups: Chameleon vector search 1.36-6.13x (FPGA + CPU coordinator), up to "
              "23.72x (FPGA + GPU coordinator) lower latency than an 8-core CPU with FAISS",
}


def cpu_reference(list_codes: np.ndarray, nlist: int, d: int, M: int, k: int, cores: int = 8) -> dict[str, float]:
    """The calibrated faiss CPU baseline (:class:`hwsim.cpu.FaissCpu`, the system model's): per query alone
    on the server (a lone query runs on one thread: coarse selection + scan, mean over the sampled queries),
    and the QPS of the sampled queries run as one batch over the server's ``cores`` threads."""
    from .cpu import EPYC_7313, FaissCpu

    cpu = FaissCpu(EPYC_7313.with_cores(cores))
    codes = np.atleast_2d(np.asarray(list_codes))
    sel = cpu.select_query_s(nlist, d, 1)
    scan = float(cpu.scan_query_s(codes, d, M).mean())
    return {"figures": "modeled (faiss per-core costs measured here, scaled to the server)", "select_s": sel,
            "lut_s": 0.0, "scan_s": scan, "latency_s": sel + scan, "cores": cores,
            "qps_batch": codes.shape[0] / cpu.batch(codes, nlist, d, M).batch_s,
            "source": cpu.describe()}


def project(config, list_sizes: np.ndarray | None = None, nprobe: int = 32, M: int = 16, nodes: int = 1,
            nq: int = 16, d: int = 128, k: int = 100, ntotal: int = 10 ** 9, nlist: int = 32768,
            imbalance: float = 0.0, stream_mode: str = "calibrated", chameleon_l1: bool = False,
            coordinator_select_s: float | None = None, seed: int = 0) -> dict[str, Any]:
    """Model ``nodes`` devices of ``config`` (name or config object) at paper scale.

    ``nq`` is the batch size: the batch is modeled as a whole (QPS at batch ``nq``; PIM whole-list layouts
    on independent units run its queries concurrently), batch-1 latency is each query alone.
    Returns batch-1 latency per query, QPS at batch 1 and ``nq`` (and against the CPU baseline), the stage breakdown, energy per query,
    utilisation and whether the shard fits the device. ``coordinator_select_s`` adds the coordinator's
    IVF list selection to the end-to-end latency (None: not included).
    """
    cfg = get_config(config) if isinstance(config, str) else config
    if nodes < 1:
        raise HwragError("nodes must be >= 1")
    kw = {"stream_mode": stream_mode}
    if chameleon_l1 and hasattr(cfg, "l1"):
        kw["l1"] = CHAMELEON_L1.get(M, k)
    cfg = replace(cfg, **kw)
    acc = make_accelerator(cfg)
    sizes = (np.asarray(list_sizes, np.int64) if list_sizes is not None
             else synthetic_list_sizes(ntotal, nlist, imbalance, seed))
    ntotal = int(sizes.sum())
    node_sizes = node_slice(sizes, nodes)
    fits, why = True, ""
    try:
        acc.check_shard(M, int(node_sizes.sum()))
    except HwragError as e:
        fits, why = False, str(e)
    probe = sample_probes(sizes, nq, nprobe, seed)
    w = Workload.of_lists(node_sizes, probe, d, M, k)
    t1, tb = acc.model(w.head(1)), acc.model(w)
    merge_s = coordinator_merge_s(nodes, k, EPYC_7313.clock_ghz)
    lat = float(np.mean(tb.latency_s)) + merge_s
    cpu = cpu_reference(sizes[probe], nlist, d, M, k)
    out = {
        "figures": "modeled", "config": tb.config, "nodes": nodes, "M": M, "nprobe": nprobe, "k": k,
        "ntotal": ntotal, "nlist": nlist, "d": d, "stream_mode": stream_mode, "fits": fits,
        "capacity_note": why,
        "codes_per_query_per_node": float(w.codes.sum(axis=1).mean()),
        "latency_batch1_s": lat,
        "qps_batch1": 1.0 / (float(t1.makespan_s) + merge_s),
        f"qps_batch{nq}": tb.qps,
        "stage_mean_s": tb.stage_means(),
        "coordinator_merge_s": merge_s,
        "energy_per_query_J": tb.energy_per_query_J * nodes,
        "energy_J_per_query_by_part": {kk: v / nq * nodes for kk, v in tb.energy_J.items()},
        "utilisation": tb.utilisation, "bound": tb.bound, "extra": tb.extra,
        "cpu_reference": cpu,
        "speedup_vs_cpu_scan_only": cpu["latency_s"] / lat,
        # against the CPU server running the same batch of queries over its cores
        f"qps_batch{nq}_vs_cpu": tb.qps / cpu["qps_batch"],
        "batch": nq,
        "dominant_stage_batch1": max(tb.stage_means().items(), key=lambda kv: kv[1])[0],
        "notes": projection_notes(cfg, tb),
    }
    if coordinator_select_s is not None:
        out["end_to_end_latency_s"] = lat + coordinator_select_s
        out["speedup_vs_cpu_end_to_end"] = cpu["latency_s"] / (lat + coordinator_select_s)
    return out


def projection_notes(cfg, t) -> list[str]:
    """What sets the figures, for configurations whose figures need explaining (documented assumptions)."""
    notes = []
    st = t.stage_means()
    layout = getattr(cfg, "layout", None)
    if layout == "split" and getattr(cfg, "kind", "") == "upmem":
        notes.append("split layout over all DPUs: every probed list's LUT is written to every DPU over the "
                     "shared DDR bus (no multicast) and every DPU's partial top-K is merged on the host; both "
                     "are per-list costs that do not shrink when nodes each hold a smaller slice, so latency "
                     "barely improves with nodes (UPMEM IVF-PQ systems place whole lists instead: config upmem)")
    if layout == "whole" and t.batch_makespan_s is not None:
        notes.append("whole lists on independent units: batch-1 latency is one unit scanning a whole list "
                     "slice; a batch's queries run concurrently on different units, and QPS at the batch is "
                     "bound by the busiest unit (load imbalance across lists)")
    if st["lut_build"] + st["kselect_drain"] > st["scan"] and hasattr(cfg, "host_merge_ns"):
        notes.append("host-side work (LUT construction at host_lut_gflops, LUT/query dispatch, merging every "
                     "unit's partial top-K at host_merge_ns per candidate; assumed figures) exceeds the "
                     "in-memory scan at batch 1")
    if getattr(cfg, "lut_double_buffer", None) is False:
        notes.append("LUT single-buffered as in Chameleon's kernels (ADC_DOUBLE_BUF_ENABLE 0): 256 cycles "
                     "per probed list exposed")
    return notes


def chameleon_table(nodes_list=(1, 2, 4, 8), Ms=(16, 32, 64), nq: int = 16, imbalance: float = 0.0,
                    samples: int = 21) -> list[dict[str, Any]]:
    """Chameleon's configuration at paper scale as a view of the end-to-end system model
    (:class:`hwsim.system.SystemModel`, one model, not two): U250 nodes, 1B SIFT-like (d=128) vectors,
    IVF32768, nprobe 32, K=100; FPGA with list selection on the CPU coordinator (``fpga-cpu``) or the GPU
    (``fpga-gpu``) against faiss on 8 EPYC 7313 cores (``cpu``), median batch-1 latency and a batch of ``nq``.
    ``imbalance`` > 0 replaces SIFT's list-size spread (coefficient of variation)."""

    rows = []
    for M in Ms:
        spec = SearchSpec(name="sift-like", d=128, M=M)
        if imbalance > 0:
            spec = replace(spec, list_cv=float(imbalance), list_shape="gamma")
        for n in nodes_list:
            sm = SystemModel(spec, nodes=n, samples=samples)
            r1 = sm.model(("cpu", "fpga-cpu", "fpga-gpu"), 1)
            rb = sm.model(("fpga-gpu",), nq)
            _, nt = sm.node_times("fpga")
            fg, fc, cpu = r1["fpga-gpu"], r1["fpga-cpu"], r1["cpu"].latency_s
            rows.append({
                "figures": "modeled", "M": M, "nodes": n, "fits": nt.fits, "bound": fg.bound,
                "fpga_latency_s": fg.latency_s, "fpga_cpu_latency_s": fc.latency_s,
                "fpga_qps_batch1": 1.0 / fg.latency_s, f"fpga_qps_batch{nq}": nq / rb["fpga-gpu"].latency_s,
                "fpga_throughput_qps": fg.throughput_qps,
                "stage_mean_s": nt.stage_mean_s, "system_stages_s": fg.stages_s,
                "cpu_latency_s": cpu,
                "speedup_cpu_coordinator": cpu / fc.latency_s,
                "speedup_gpu_coordinator": cpu / fg.latency_s,
                "energy_per_query_J": fg.energy_per_query_J,
                "config": fg.config,
            })
    return rows

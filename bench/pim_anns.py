"""UPMEM in the system frame, configured like PIM-ANNS (PIMANN, USENIX ATC'25), against its published QPS.

PIMANN's artifact (github.com/cds-ruc/PIM-ANNS: ``sift1B-32M-4096C.json``, ``common/dataset.h``,
``AE/exps/exp1.sh``; docs/REFERENCE.md § UPMEM): SIFT1B, IVF4096, PQ M = 32 x 8 bit, K = 10, nprobe 6-24,
2,558 DPUs (40 ranks = 20 DIMMs), lists cut into slots of ``SLOT_L`` = 100,000 vectors spread over the DPUs;
its faiss CPU baseline searches batches of 40 queries. Its logs (``AE/Pre-executed-logs/exp1.txt``) give, for
SIFT, QPS of faiss-CPU, of batch-scheduled DPUs (the scheduling earlier UPMEM systems use) and of PIMANN.

Modeled here (every figure *modeled*): the ``upmem`` node (:mod:`hwsim.pim_dimm`, 2,560 DPUs) with each list
cut into 100,000-vector slots placed as whole units (largest first on the least-loaded DPU), a batch run at
once (bulk-synchronous: host dispatch over the DDR bus, the busiest DPU, read-out and merge), QPS = batch /
makespan; the faiss CPU baseline (:class:`hwsim.cpu.FaissCpu`, 8 EPYC 7313 cores; PIMANN's host CPU is not
named in the artifact) on batches of 40. The ratio UPMEM / CPU is compared with the published ratios.
"""
from __future__ import annotations

import numpy as np

from hwsim.cpu import EPYC_7313, FaissCpu
from hwsim.nodes import MemoryNode
from hwsim.workload import SIFT_LIST_CV, SIFT_SCAN_RATIO, probe_alpha, sample_probes, synthetic_list_sizes

SLOT_L = 100_000
NLIST, NTOTAL, D, M, K = 4096, 10 ** 9, 128, 32, 10
CPU_BATCH = 40
#: PIMANN artifact AE/Pre-executed-logs/exp1.txt, SIFT: nprobe -> (faiss-CPU, batch-scheduled DPU, PIMANN) QPS
PUBLISHED_QPS = {6: (253, 610, 1322), 7: (217, 537, 1216), 9: (176, 446, 969), 11: (149, 364, 855),
                 15: (115, 276, 643), 24: (76, 168, 424)}
PUBLISHED_RATIOS = {"pimann_over_faiss_cpu": (2.4, 10.4), "upanns_over_faiss_cpu": 4.3}


def slots(list_sizes: np.ndarray, probe: np.ndarray, slot: int = SLOT_L) -> tuple[np.ndarray, np.ndarray]:
    """Cut every list into ``slot``-vector pieces: (slot sizes + one empty slot, (nq, max slots per query)
    probed slot ids padded with the empty slot)."""
    n = -(-np.asarray(list_sizes, np.int64) // slot)
    first = np.concatenate([[0], np.cumsum(n)])
    sizes = np.concatenate([np.minimum(slot, s - slot * np.arange(c)) for s, c in zip(list_sizes, n)] + [[0]])
    empty = len(sizes) - 1
    rows = [np.concatenate([np.arange(first[l], first[l + 1]) for l in q]) for q in probe]
    width = max(len(r) for r in rows)
    out = np.full((len(rows), width), empty, np.int64)
    for i, r in enumerate(rows):
        out[i, :len(r)] = r
    return sizes, out


def run_pim_anns(nprobes=(6, 24), batch: int = 256, seed: int = 0, batches: int = 8) -> list[dict]:
    """QPS over ``batches`` batches of ``batch`` queries each (one batch's QPS moves by up to 1.7x with the
    draw of its probes: which DPUs hold the hottest lists), with the per-batch range beside it."""
    sizes = synthetic_list_sizes(NTOTAL, NLIST, SIFT_LIST_CV, seed)
    cpu = FaissCpu(EPYC_7313)
    node = MemoryNode("upmem")
    rows = []
    for nprobe in nprobes:
        pim_s, cpu_total = [], 0.0
        for j in range(batches):
            probe = sample_probes(sizes, batch, nprobe, seed + j, probe_alpha(sizes, SIFT_SCAN_RATIO))
            s_sizes, s_probe = slots(sizes, probe)
            pim_s.append(node.batch_s(s_sizes, s_probe, 1, D, M, K))
            codes = sizes[probe]
            cpu_total += sum(cpu.batch(codes[i:i + CPU_BATCH], NLIST, D, M).batch_s for i in range(0, batch, CPU_BATCH))
        pim_qps = batch * batches / sum(pim_s)
        cpu_qps = batch * batches / cpu_total
        pub = PUBLISHED_QPS.get(nprobe)
        rows.append({"figures": "modeled", "nprobe": nprobe, "batch": batch, "batches": batches, "upmem_qps": pim_qps,
                     "upmem_qps_batch_range": [batch / max(pim_s), batch / min(pim_s)],
                     "faiss_cpu_qps": cpu_qps, "ratio": pim_qps / cpu_qps,
                     "published_cpu_qps": pub[0] if pub else None, "published_batch_dpu_qps": pub[1] if pub else None,
                     "published_pimann_qps": pub[2] if pub else None,
                     "published_batch_dpu_ratio": pub[1] / pub[0] if pub else None,
                     "published_pimann_ratio": pub[2] / pub[0] if pub else None,
                     "config": f"upmem: 2560 DPUs, lists in {SLOT_L}-vector slots, batch {batch} at once; "
                               f"CPU: {cpu.describe()}, batches of {CPU_BATCH}"})
    return rows

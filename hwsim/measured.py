"""Chameleon's published measurements, as data, and where they apply.

The figures of docs/REFERENCE.md § Chameleon measured results (Jiang et al., VLDB 2024, and the result archives
of its released code): medians of 100 batches, QPS at large batches, energy per query, ChamLM tokens/s. One
source for the two readers: ``hwrag bench fidelity`` compares every figure with the model, and ``hwrag hw
system`` / ``hwrag hw ralm`` print the measured figure beside the modeled one when a user asks for a
configuration Chameleon measured (:func:`search_figures`, :func:`chamlm_figures`), so the model's error there
is in view where its answer is read. Nothing here feeds the model.
"""
from __future__ import annotations

from dataclasses import dataclass

from .power import ENERGY_RUN_CORES  # the CPU energy run's threads (taskset --cpu-list 0-15)

#: the measured systems, in the column order of the tables below
SYSTEMS = ("cpu", "cpu-gpu", "fpga-cpu", "fpga-gpu")
BATCHES = (1, 4, 16, 64)
#: median latency (ms) by dataset and batch
LATENCY_MS = {
    "sift": {1: (9.12, 7.83, 2.49, 1.59), 4: (10.67, 9.73, 4.22, 3.39), 16: (22.15, 20.99, 11.24, 10.35),
             64: (77.70, 75.77, 43.29, 37.78)},
    "deep": {1: (8.36, 8.68, 2.17, 1.53), 4: (12.66, 11.71, 3.58, 3.44), 16: (25.51, 22.75, 11.25, 10.85),
             64: (83.59, 80.34, 44.99, 39.45)},
}
P95_MS = {"sift": {1: (16.20, 12.94, 2.86, 1.92), 4: (17.15, 16.10, 4.79, 3.94), 16: (27.80, 26.69, 12.74, 11.50),
                   64: (89.68, 87.02, 45.92, 39.91)}}
#: SIFT P95 (ms) of another run of the same latency experiment, printed in a comment of Chameleon's released
#: plot script (``llm_inference_gpu/experiments/plots/vector_search_latency.py``, beside its percentile call):
#: its CPU and CPU-GPU values equal :data:`P95_MS`'s to four digits, its FPGA values are 7-33 % lower, so the
#: testbed's FPGA rows moved that much between two runs of one configuration
#: (docs/REFERENCE.md § Vector search latency). FPGA-CPU, FPGA-GPU at b = 1 / 4 / 16 / 64. Not used by any fit.
P95_OTHER_RUN_MS = {"sift": {1: (1.93, 1.44), 4: (3.45, 3.29), 16: (10.82, 9.41), 64: (44.40, 34.84)}}
#: QPS at large batches
THROUGHPUT_QPS = {"sift": (1018, 1027, 1912, 1932), "deep": (940, 962, 1913, 1931)}
#: whole-system energy per query (mJ) at batch 1 / 4 / 16; the CPU's from a run on 16 threads
ENERGY_MJ = {"sift": {"cpu": (950.3, 434.0, 143.3), "fpga-gpu": (53.6, 28.2, 21.5)},
             "deep": {"cpu": (929.5, 412.9, 141.9), "fpga-gpu": (52.3, 26.9, 20.5)}}
ENERGY_BATCHES = (1, 4, 16)
#: ChamLM tokens/s, (model, retrieval interval, batch): (CPU-GPU baseline, Chameleon FPGA-GPU); use_tiktok: 0
CHAMLM = {("dec-s", 1, 64): (191.8, 609.1), ("encdec-s", 8, 64): (941.0, 1719.0)}
#: the paper's text: speed-up ranges over its configurations (SIFT, Deep, SYN-512, SYN-1024 at batches 1-64;
#: energy at 1-16), and ChamLM's best speed-ups
PUBLISHED_RATIOS = {"fpga-cpu latency speed-up over cpu": (1.36, 6.13), "fpga-gpu latency speed-up over cpu": (2.25, 23.72),
                    "energy saving of fpga-gpu over cpu": (5.8, 26.2)}
PUBLISHED_CHAMLM_MAX = {"dec-s": 3.18, "dec-l": 2.34}
#: the study's configurations as Chameleon ran them (docs/REFERENCE.md § Setup): (d, M, FPGA nodes, CPU cores)
STUDY_SHAPES = {"sift": (128, 16, 1, 8), "deep": (96, 16, 1, 8), "syn-512": (512, 32, 1, 8), "syn-1024": (1024, 64, 2, 16)}
#: the index every measured search ran: 1e9 vectors, IVF32768, nprobe 32, K = 100
MEASURED_INDEX = {"ntotal": 1_000_000_000, "nlist": 32768, "nprobe": 32, "k": 100}
#: which modeled system stands for each measured column: Chameleon's baseline script ran CPU-only faiss for its
#: CPU-GPU column (its ``parse_arch`` returns 'CPU-GPU', its retriever tests ``device == 'cpu-gpu'``)
AS_RUN = {"cpu": "cpu", "cpu-gpu": "cpu", "fpga-cpu": "fpga-cpu", "fpga-gpu": "fpga-gpu"}
AS_RUN_NOTE = {"cpu-gpu": "as run: CPU-only faiss (baseline script's 'CPU-GPU' vs 'cpu-gpu' mismatch)"}
SOURCE = "measured: Chameleon (VLDB 2024), docs/REFERENCE.md § Chameleon measured results"


@dataclass(frozen=True)
class Measured:
    """One measured figure and the modeled system it is compared with (``as_run``, see :data:`AS_RUN`)."""

    system: str
    figure: str        # latency_ms, throughput_qps, energy_mj, tokens_per_s
    value: float
    as_run: str
    note: str = ""

    def error_pct(self, modeled: float) -> float:
        """The model's error against this figure: (modeled - measured) / measured, in %."""
        return (float(modeled) - self.value) / self.value * 100


def _dataset(d: int, M: int) -> str | None:
    return next((ds for ds in LATENCY_MS if STUDY_SHAPES[ds][:2] == (d, M)), None)


def search_figures(d: int, M: int, ntotal: int, nlist: int, nprobe: int, k: int, nodes: int, cpu_cores: int,
                   batch: int) -> list[Measured]:
    """The figures Chameleon measured at exactly this configuration (empty where it measured none): latency at
    its batches and QPS with its nodes and 8 cores, the CPU's energy with 16 cores, FPGA-GPU's energy (no CPU
    in it) at batches 1-16."""
    ds = _dataset(d, M)
    index = {"ntotal": ntotal, "nlist": nlist, "nprobe": nprobe, "k": k}
    if ds is None or index != MEASURED_INDEX or nodes != STUDY_SHAPES[ds][2]:
        return []
    out = []
    if cpu_cores == STUDY_SHAPES[ds][3]:
        if batch in BATCHES:
            out += [Measured(s, "latency_ms", v, AS_RUN[s], AS_RUN_NOTE.get(s, ""))
                    for s, v in zip(SYSTEMS, LATENCY_MS[ds][batch])]
        out += [Measured(s, "throughput_qps", v, AS_RUN[s], AS_RUN_NOTE.get(s, "") or "QPS at large batches")
                for s, v in zip(SYSTEMS, THROUGHPUT_QPS[ds])]
    if batch in ENERGY_BATCHES:
        j = ENERGY_BATCHES.index(batch)
        if cpu_cores == ENERGY_RUN_CORES:
            out.append(Measured("cpu", "energy_mj", ENERGY_MJ[ds]["cpu"][j], "cpu", "the 16-thread energy run"))
        out.append(Measured("fpga-gpu", "energy_mj", ENERGY_MJ[ds]["fpga-gpu"][j], "fpga-gpu",
                            "computed by Chameleon (power x time), not metered"))
    return out


def chamlm_figures(model: str, interval: int, batch: int, tiktok: bool = False) -> list[Measured]:
    """ChamLM's measured tokens/s at exactly this configuration (the measured runs set use_tiktok: 0)."""
    meas = None if tiktok else CHAMLM.get((model, interval, batch))
    if meas is None:
        return []
    return [Measured(s, "tokens_per_s", v, s, "use_tiktok: 0") for s, v in zip(("cpu-gpu", "fpga-gpu"), meas)]


def measured_where() -> str:
    """Where Chameleon measured, for a user whose configuration it did not."""
    shapes = ", ".join(f"{ds} (d={STUDY_SHAPES[ds][0]}, M={STUDY_SHAPES[ds][1]})" for ds in LATENCY_MS)
    return (f"Chameleon measured {shapes}, 1e9 vectors, IVF32768, nprobe 32, K=100, one FPGA, 8 CPU cores, "
            f"batch {'/'.join(map(str, BATCHES))}; ChamLM "
            + ", ".join(f"{m}@{i} batch {b}" for m, i, b in CHAMLM)
            + "; `hwrag bench fidelity` lists the model's error on every measured figure")

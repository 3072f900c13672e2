"""One adapter per ANN backend, all seen the same way by the harness (ann-benchmarks style).

An adapter is fitted on an index once, then answers ``query(queries, k, nprobe)`` with ids and the
seconds the batch took — *measured* (wall clock here) for software engines, *modeled* (hwsim, naming
the configuration) for hardware models. Adapters return ids only; recall is the harness's job.
"""
from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import numpy as np

from ivfpq.fixedpoint import DEFAULT_FORMAT


@dataclass
class BatchAnswer:
    ids: np.ndarray  # (nq, k)
    seconds: float  # the batch's time: measured or modeled, as the adapter's provenance says
    extra: dict = field(default_factory=dict)


class Adapter(ABC):
    name: str = ""
    provenance: str = "measured"
    config: str = ""  # the modeled configuration (modeled adapters)

    @abstractmethod
    def fit(self, index) -> None: ...

    @abstractmethod
    def query(self, queries: np.ndarray, k: int, nprobe: int) -> BatchAnswer: ...


class FaissAdapter(Adapter):
    name, provenance = "faiss-ivfpq", "measured"

    def fit(self, index):
        from ivfpq.faiss_io import to_faiss

        self.index = to_faiss(index)

    def query(self, queries, k, nprobe):
        self.index.nprobe = nprobe
        self.index.search(queries[:2], k)  # warm
        t0 = time.perf_counter()
        _, ids = self.index.search(queries, k)
        return BatchAnswer(ids, time.perf_counter() - t0)


class GoldenAdapter(Adapter):
    """The hwrag golden scan (numba), float or fixed-point LUTs."""

    provenance = "measured"

    def __init__(self, fixed: bool = True, fmt=DEFAULT_FORMAT):
        self.fmt = fmt if fixed else None
        self.name = f"golden-{'fixed' + str(fmt.lut_bits) + 'b' if fixed else 'float'}"

    def fit(self, index):
        self.index = index

    def query(self, queries, k, nprobe):
        from ivfpq.scan import search

        search(self.index, queries[:2], k, nprobe, fmt=self.fmt)  # numba compile outside the timing
        t0 = time.perf_counter()
        r = search(self.index, queries, k, nprobe, fmt=self.fmt)
        return BatchAnswer(r.ids, time.perf_counter() - t0)


class HardwareAdapter(Adapter):
    """An hwsim accelerator holding the whole index: functional top-K from its golden fixed-point
    model; seconds = the modeled makespan of the batch on the device (host list selection excluded)."""

    provenance = "modeled"

    def __init__(self, config_name: str, timing_queries: int = 64):
        from hwsim.configs import BACKEND_OF, get_config

        self.cfg = get_config(config_name)
        self.timing_queries = timing_queries
        self.name = f"{BACKEND_OF[config_name]}:{config_name}"

    def fit(self, index):
        from hwsim.configs import make_accelerator

        self.acc = make_accelerator(self.cfg)
        self.acc.load(index)
        self.index = index
        self.config = self.acc.config_name

    def query(self, queries, k, nprobe):
        from hwsim.accelerator import Workload
        from ivfpq.lut import select_lists

        probe = select_lists(self.index, queries, nprobe)
        ids, _, _ = self.acc.functional(queries, probe, k)  # every query answered by the device's model
        # the cycle-level timing model runs on the first `timing_queries` (a representative batch)
        n = min(len(queries), self.timing_queries)
        t = self.acc.model(Workload.from_shard(self.index, probe[:n], k))
        return BatchAnswer(ids, t.makespan_s * len(queries) / n,
                           {"energy_per_query_J": t.energy_per_query_J, "bound": t.bound,
                            "latency_mean_s": float(np.mean(t.latency_s)), "timing_queries": n,
                            "stage_mean_s": t.stage_means()})


def default_adapters(hardware=("chameleon_u250", "heterrag_accelhbm", "heterrag_acceldimm"),
                     timing_queries: int = 64) -> list[Adapter]:
    return [FaissAdapter(), GoldenAdapter(fixed=False), GoldenAdapter(fixed=True),
            *[HardwareAdapter(h, timing_queries) for h in hardware]]

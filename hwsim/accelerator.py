"""The one accelerator interface every hardware model (FPGA node, HBM-PIM, DIMM-PIM) implements.

An :class:`Accelerator` holds one shard laid out in its device memory (:meth:`Accelerator.load`) and
answers a batch of queries over given probed lists (:meth:`Accelerator.run`) with

* the **functional** top-K, computed here from the shard with the ``ivfpq`` fixed-point golden model
  (``ivfpq.scan.scan_lists``, or ``ivfpq.kselect`` where the model's K-selection is approximate):
  what the scan hardware computes, never copied from another backend (docs/DESIGN.md § Contracts, 3);
* the **modeled** time per stage, energy and utilisation of the configuration
  (:class:`AccelTiming`), from :meth:`Accelerator.model`, which needs only the *sizes* of the probed
  list slices (a :class:`Workload`), so the same code projects paper-scale indexes without vectors.

Stages (seconds, modeled): ``transfer_in`` (query, probed list ids and centroids to the device),
``lut_build`` (LUT construction and loading), ``scan`` (PQ decode over the probed lists, as bound by
memory or compute as simulated), ``kselect_drain`` (K-selection drain, per-unit top-K read-out, merge
on the device or host), ``transfer_out`` (results back). Batches run as a pipeline of three resources
(link in, device, link out): a query's device work starts when its input has arrived and the device is
free; see :func:`pipeline_makespan`.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ivfpq.errors import HwragError
from ivfpq.fixedpoint import DEFAULT_FORMAT, LutFormat
from ivfpq.index import IVFPQIndex

STAGES = ("transfer_in", "lut_build", "scan", "kselect_drain", "transfer_out")
DEVICE_STAGES = ("lut_build", "scan", "kselect_drain")
MODELED = "modeled"


@dataclass
class Workload:
    """What a device scans for a batch, as sizes only: ``codes[q, p]`` = codes of probed list ``p`` of
    query ``q`` held by this device (its shard's slice of the list). ``d``, ``M`` and ``k`` complete it.
    Where the device's layout matters (which unit or address holds a list), ``probe`` names the probed lists
    and ``list_sizes`` the sizes of every list the device holds; without them a model takes a layout that
    needs neither (projections of sizes alone)."""

    codes: np.ndarray  # (nq, nprobe) int64
    d: int
    M: int
    k: int
    probe: np.ndarray | None = None       # (nq, nprobe) probed list ids
    list_sizes: np.ndarray | None = None  # (nlist,) codes of every list on this device

    def __post_init__(self):
        self.codes = np.atleast_2d(np.asarray(self.codes, dtype=np.int64))
        if self.codes.ndim != 2 or (self.codes < 0).any():
            raise HwragError("workload codes must be a (nq, nprobe) array of non-negative counts")
        if self.M < 1 or self.d < 1 or self.k < 1:
            raise HwragError(f"workload needs d, M, k >= 1, got d={self.d} M={self.M} k={self.k}")
        if self.probe is not None:
            self.probe = np.atleast_2d(np.asarray(self.probe, dtype=np.int64))
            if self.probe.shape != self.codes.shape:
                raise HwragError(f"workload probe shape {self.probe.shape} != codes shape {self.codes.shape}")
        if (self.probe is None) != (self.list_sizes is None):
            raise HwragError("workload needs both probe and list_sizes, or neither")

    @property
    def nq(self) -> int:
        return int(self.codes.shape[0])

    @property
    def nprobe(self) -> int:
        return int(self.codes.shape[1])

    @classmethod
    def from_shard(cls, shard: IVFPQIndex, probe: np.ndarray, k: int) -> "Workload":
        probe = np.asarray(probe, dtype=np.int64)
        return cls(shard.list_sizes[probe], shard.d, shard.M, int(k), probe, shard.list_sizes)

    @classmethod
    def of_lists(cls, list_sizes: np.ndarray, probe: np.ndarray, d: int, M: int, k: int) -> "Workload":
        """The workload of ``probe`` over a device holding lists of ``list_sizes``."""
        sizes, probe = np.asarray(list_sizes, np.int64), np.atleast_2d(np.asarray(probe, np.int64))
        return cls(sizes[probe], d, M, k, probe, sizes)

    def head(self, n: int) -> "Workload":
        """The first ``n`` queries."""
        return Workload(self.codes[:n], self.d, self.M, self.k,
                        None if self.probe is None else self.probe[:n], self.list_sizes)


@dataclass
class AccelTiming:
    """Modeled timing, energy and utilisation of one batch on one device configuration."""

    config: str                      # the modeled configuration, named (clock, memory, channels, units)
    stages: dict[str, np.ndarray]    # stage -> (nq,) seconds per query
    energy_J: dict[str, float]       # component -> joules for the whole batch
    utilisation: dict[str, float]    # memory_bandwidth, compute_units (fractions of peak, during scan)
    bound: str                       # what bound the scan: "memory" | "compute" (as simulated)
    codes_scanned: int
    bytes_read: int
    extra: dict[str, Any] = field(default_factory=dict)
    #: set by models whose batch's queries run concurrently on different units (whole-list PIM layout
    #: on independent units): the batch's bulk-synchronous makespan; None = queries one at a time
    batch_makespan_s: float | None = None

    @property
    def nq(self) -> int:
        return int(next(iter(self.stages.values())).shape[0])

    @property
    def latency_s(self) -> np.ndarray:
        """Per query, alone on the device (batch 1): the sum of its stages."""
        return sum(self.stages[s] for s in STAGES)

    @property
    def makespan_s(self) -> float:
        serial = pipeline_makespan(self.stages)
        if self.batch_makespan_s is None:
            return serial
        return min(serial, self.batch_makespan_s)  # the host may also run the batch one query at a time

    @property
    def qps(self) -> float:
        return self.nq / self.makespan_s if self.makespan_s > 0 else float("inf")

    @property
    def energy_per_query_J(self) -> float:
        return self.energy_J.get("total", 0.0) / max(1, self.nq)

    def stage_means(self) -> dict[str, float]:
        return {s: float(np.mean(self.stages[s])) for s in STAGES}

    def to_dict(self) -> dict[str, Any]:
        return {"figures": MODELED, "config": self.config, "queries": self.nq,
                "stage_mean_s": self.stage_means(),
                "latency_mean_s": float(np.mean(self.latency_s)),
                "makespan_s": self.makespan_s, "qps": self.qps,
                "energy_J": dict(self.energy_J), "energy_per_query_J": self.energy_per_query_J,
                "utilisation": dict(self.utilisation), "bound": self.bound,
                "codes_scanned": self.codes_scanned, "bytes_read": self.bytes_read, **self.extra}


@dataclass
class AccelRun:
    """Functional result (ivfpq fixed-point golden model) plus the modeled timing of the batch."""

    ids: np.ndarray            # (nq, k) int64, -1 where missing
    distances: np.ndarray      # (nq, k) float32 decoded, +inf where missing
    int_distances: np.ndarray  # (nq, k) int64 hardware distances, -1 where missing
    timing: AccelTiming


def pipeline_makespan(stages: dict[str, np.ndarray]) -> float:
    """Makespan of a batch on three pipelined resources: link in, device, link out (flow shop).

    Each resource serves queries in order, one at a time; a query enters a resource when it left the
    previous one and the resource is free.
    """
    tin = np.asarray(stages["transfer_in"], float)
    dev = sum(np.asarray(stages[s], float) for s in DEVICE_STAGES)
    tout = np.asarray(stages["transfer_out"], float)
    f1 = f2 = f3 = 0.0
    for a, b, c in zip(tin, dev, tout):
        f1 = f1 + a
        f2 = max(f2, f1) + b
        f3 = max(f3, f2) + c
    return float(f3)


def check_run_args(shard: IVFPQIndex | None, queries, probe, k: int) -> tuple[np.ndarray, np.ndarray]:
    if shard is None:
        raise HwragError("no shard loaded: call load(shard) before run()")
    from ivfpq.lut import check_queries

    q = check_queries(shard, queries)
    probe = np.ascontiguousarray(probe, dtype=np.int64)
    if probe.ndim != 2 or probe.shape[0] != q.shape[0] or probe.shape[1] < 1:
        raise HwragError(f"probe must have shape ({q.shape[0]}, nprobe>=1), got {probe.shape}")
    if probe.min() < 0 or probe.max() >= shard.nlist:
        raise HwragError(f"probed list ids must be in 0..{shard.nlist - 1}")
    if int(k) < 1:
        raise HwragError(f"k={k} must be >= 1")
    return q, probe


class Accelerator(ABC):
    """A device model: load a shard, run queries x probed lists -> functional top-K + modeled timing."""

    #: backend name the retrieval service registers it under ("fpga", "pim-hbm", "pim-dimm")
    kind: str = ""

    def __init__(self, config, fmt: LutFormat = DEFAULT_FORMAT):
        self.config = config
        self.fmt = fmt
        self.shard: IVFPQIndex | None = None

    @property
    def config_name(self) -> str:
        return self.config.describe()

    def load(self, shard: IVFPQIndex) -> None:
        """Lay the shard out in device memory (checks capacity and the code width)."""
        self.check_shard(shard.M, shard.ntotal)
        self.shard = shard

    @abstractmethod
    def check_shard(self, M: int, ntotal: int) -> None:
        """Raise HwragError if a shard of ``ntotal`` codes of ``M`` bytes cannot be held or decoded."""

    @abstractmethod
    def model(self, workload: Workload) -> AccelTiming:
        """Modeled timing, energy and utilisation from list-slice sizes only."""

    def functional(self, queries: np.ndarray, probe: np.ndarray, k: int):
        """Top-K of the shard with the golden fixed-point scan (exact K-selection)."""
        from ivfpq.scan import scan_lists

        res = scan_lists(self.shard, queries, probe, k, self.fmt)
        return res.ids, res.distances, res.int_distances

    def run(self, queries, probe, k: int) -> AccelRun:
        q, probe = check_run_args(self.shard, queries, probe, k)
        ids, dist, idist = self.functional(q, probe, int(k))
        timing = self.model(Workload.from_shard(self.shard, probe, int(k)))
        return AccelRun(ids, dist, idist, timing)

    def describe(self) -> dict[str, Any]:
        return {"backend": self.kind, "figures": MODELED, "config": self.config_name,
                "parameters": self.config.to_dict()}

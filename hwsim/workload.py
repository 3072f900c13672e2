"""The workload of the system model: the index and query shape (:class:`SearchSpec`), the list sizes of an
index and the lists its queries probe (:class:`QueryPool`), and the batches drawn from a pool.

List sizes follow a gamma distribution with a given coefficient of variation (k-means lists on real data are
uneven); a query probes distinct lists with probability ``size ** alpha``, ``alpha`` set so the mean probed
list holds the measured scan ratio times the mean list (:func:`probe_alpha`). The hardware models
(:mod:`hwsim.system`, :mod:`hwsim.project`, the memory nodes) take these as inputs; none of them draws its own.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ivfpq.errors import HwragError


def synthetic_list_sizes(ntotal: int, nlist: int, imbalance: float = 0.0, seed: int = 0) -> np.ndarray:
    """List sizes summing to ``ntotal``: equal (imbalance 0) or gamma-distributed with coefficient of
    variation ``imbalance`` (k-means lists on real data are uneven; SIFT-like ~0.5-1, assumed)."""
    if nlist < 1 or ntotal < 0:
        raise HwragError("need nlist >= 1 and ntotal >= 0")
    if imbalance <= 0:
        sizes = np.full(nlist, ntotal // nlist, np.int64)
        sizes[: ntotal - sizes.sum()] += 1
        return sizes
    rng = np.random.default_rng(seed)
    shape = 1.0 / imbalance ** 2
    w = rng.gamma(shape, 1.0, nlist)
    sizes = np.floor(w / w.sum() * ntotal).astype(np.int64)
    sizes[np.argsort(-w)[: ntotal - sizes.sum()]] += 1
    return sizes


def sample_probes(list_sizes: np.ndarray, nq: int, nprobe: int, seed: int = 0, alpha: float = 1.0) -> np.ndarray:
    """(nq, nprobe) distinct lists per query, drawn with probability proportional to ``size ** alpha``
    (1: queries follow the data; 0: uniform over lists)."""
    rng = np.random.default_rng(seed)
    w = np.asarray(list_sizes, float) ** alpha
    p = w / w.sum()
    return np.stack([rng.choice(list_sizes.size, nprobe, replace=False, p=p) for _ in range(nq)])


def probe_alpha(list_sizes: np.ndarray, scan_ratio: float) -> float:
    """The exponent ``alpha`` in [0, 1] at which the mean probed list holds ``scan_ratio`` x the mean list
    size (``E[s^(a+1)] / E[s^a] / E[s]``, increasing in ``a``); the ends when the ratio is out of reach."""
    s = np.asarray(list_sizes, float)
    s = s[s > 0]

    def ratio(a):
        w = s ** a
        return float((w * s).sum() / w.sum() / s.mean())

    lo, hi = 0.0, 1.0
    if scan_ratio <= ratio(lo):
        return lo
    if scan_ratio >= ratio(hi):
        return hi
    for _ in range(50):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if ratio(mid) < scan_ratio else (lo, mid)
    return (lo + hi) / 2


#: list-size spread of SIFT's k-means lists: E[size^2]/E[size]^2 = 1.136 measured by Chameleon on
#: SIFT100M IVF8192 (Faiss_experiments/my_faiss_extract_scripts/cluster_unbalance_stats.ipynb): CV = 0.369
SIFT_LIST_CV = 0.136 ** 0.5
#: mean codes scanned per query / (nprobe x mean list size), 10,000 real SIFT queries on SIFT100M IVF8192
#: (same notebook): 1.094, below the 1.136 of probing in proportion to size
SIFT_SCAN_RATIO = 1.094


@dataclass(frozen=True)
class SearchSpec:
    """The index and query shape. Defaults: Chameleon's SIFT setup (1B vectors, IVF32768, nprobe 32, K 100)."""

    name: str = "sift"
    d: int = 128
    M: int = 16
    ntotal: int = 10 ** 9
    nlist: int = 32768
    nprobe: int = 32
    k: int = 100
    list_cv: float = SIFT_LIST_CV
    scan_ratio: float = SIFT_SCAN_RATIO
    sources: dict = field(default_factory=lambda: {
        "list_cv": "docs/REFERENCE.md § Chameleon measured results: SIFT list sizes, extra scanned ratio 1.136 "
                   "(used for every dataset; not measured for the others)",
        "scan_ratio": "docs/REFERENCE.md § Chameleon measured results: real SIFT queries scan 1.094 x the "
                      "mean list size per probe (used for every dataset)"}, compare=False, hash=False)

    def __post_init__(self):
        if min(self.d, self.M, self.nlist, self.nprobe, self.k) < 1 or self.ntotal < self.nlist:
            raise HwragError("search spec needs d, M, nlist, nprobe, k >= 1 and ntotal >= nlist")
        if self.nprobe > self.nlist:
            raise HwragError(f"nprobe {self.nprobe} > nlist {self.nlist}")
        if self.d % self.M:
            raise HwragError(f"d={self.d} must be a multiple of M={self.M} (PQ sub-vectors)")


DATASETS = {"sift": SearchSpec(), "deep": SearchSpec("deep", d=96, M=16)}


@dataclass
class QueryPool:
    """Probed lists of a pool of queries, passed explicitly to every model."""

    list_sizes: np.ndarray
    probe: np.ndarray          # (n, nprobe)

    @property
    def codes(self) -> np.ndarray:
        return self.list_sizes[self.probe]


def make_pool(spec: SearchSpec, n: int = 128, seed: int = 0) -> QueryPool:
    sizes = synthetic_list_sizes(spec.ntotal, spec.nlist, spec.list_cv, seed)
    return QueryPool(sizes, sample_probes(sizes, n, spec.nprobe, seed, probe_alpha(sizes, spec.scan_ratio)))


def batches(n_pool: int, b: int, samples: int, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.stack([rng.choice(n_pool, b, replace=b > n_pool) for _ in range(samples)])



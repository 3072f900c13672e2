"""The workload of the system model: the index and query shape (:class:`SearchSpec`), the list sizes of an
index and the lists its queries probe (:class:`QueryPool`), and the batches drawn from a pool.

List sizes follow the shape Chameleon measured for SIFT's k-means lists (:func:`measured_list_sizes`, the 8192
sizes its notebook printed, resampled to the index's list count) or a gamma distribution with a given
coefficient of variation (:func:`synthetic_list_sizes`). A query probes distinct lists with probability
``size ** alpha``, ``alpha`` set so the mean probed list holds the measured scan ratio times the mean list
(:func:`probe_alpha`); the lists one query probes are neighbours in the vector space, so their sizes are
correlated (a query in a dense region probes large lists, one in a sparse region small ones):
:func:`sample_probes` draws them through a Gaussian copula with correlation ``probe_correlation``, which
keeps each probe's distribution (and so the mean work and the throughput) and widens the spread of work
per query. The hardware models (:mod:`hwsim.system`, :mod:`hwsim.project`, the memory nodes) take these as
inputs; none of them draws its own.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
from scipy.special import ndtr

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


def sample_probes(list_sizes: np.ndarray, nq: int, nprobe: int, seed: int = 0, alpha: float = 1.0,
                  correlation: float = 0.0) -> np.ndarray:
    """(nq, nprobe) distinct lists per query, each drawn with probability proportional to ``size ** alpha``
    (1: queries follow the data; 0: uniform over lists). ``correlation`` in [0, 1): the Gaussian-copula
    correlation of the sizes of one query's lists (0: independent draws). Each probe keeps the same
    distribution whatever the correlation; a list drawn twice for a query moves to the nearest unused list
    in size order."""
    if not 0.0 <= correlation < 1.0:
        raise HwragError(f"probe correlation must be in [0, 1), got {correlation}")
    sizes = np.asarray(list_sizes)
    if nprobe > sizes.size:
        raise HwragError(f"nprobe {nprobe} > {sizes.size} lists")
    rng = np.random.default_rng(seed)
    order = np.argsort(sizes, kind="stable")
    w = sizes[order].astype(float) ** alpha
    cdf = np.cumsum(w) / w.sum()
    z = rng.standard_normal((nq, 1))
    u = ndtr(correlation * z + np.sqrt(1.0 - correlation ** 2) * rng.standard_normal((nq, nprobe)))
    pos = np.minimum(np.searchsorted(cdf, u), sizes.size - 1)
    out = np.empty((nq, nprobe), np.int64)
    for q in range(nq):
        out[q] = order[_distinct(pos[q], sizes.size)]
    return out


def _distinct(pos: np.ndarray, n: int) -> np.ndarray:
    """Positions made distinct: each repeat moves to the nearest free position (above first, then below)."""
    used, out = set(), np.empty_like(pos)
    for j, p in enumerate(pos):
        d = 0
        while True:
            c = next((c for c in (p + d, p - d) if 0 <= c < n and c not in used), None)
            if c is not None:
                break
            d += 1
        used.add(c)
        out[j] = c
    return out


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


_MEASURED_SIZES = Path(__file__).parent / "data" / "sift100m_ivf8192_list_sizes.txt"


@lru_cache(maxsize=1)
def _sift_relative_sizes() -> np.ndarray:
    sizes = np.loadtxt(_MEASURED_SIZES, dtype=np.int64, comments="#").ravel()
    return sizes / sizes.mean()


def measured_list_sizes(ntotal: int, nlist: int, seed: int = 0) -> np.ndarray:
    """List sizes summing to ``ntotal`` with the shape of SIFT's k-means lists as Chameleon measured them
    (SIFT100M, IVF8192: ``hwsim/data/sift100m_ivf8192_list_sizes.txt``), resampled to ``nlist`` lists
    (the notebook's E[s^2]/E[s]^2 is 1.136 at IVF8192 and 1.144 at IVF32768: the shape holds across nlist)."""
    if nlist < 1 or ntotal < 0:
        raise HwragError("need nlist >= 1 and ntotal >= 0")
    w = np.random.default_rng(seed).choice(_sift_relative_sizes(), nlist, replace=True)
    sizes = np.floor(w / w.sum() * ntotal).astype(np.int64)
    sizes[np.argsort(-w)[: ntotal - sizes.sum()]] += 1
    return sizes


#: list-size spread of SIFT's k-means lists: E[size^2]/E[size]^2 = 1.136 measured by Chameleon on
#: SIFT100M IVF8192 (Faiss_experiments/my_faiss_extract_scripts/cluster_unbalance_stats.ipynb): CV = 0.369
SIFT_LIST_CV = 0.136 ** 0.5
#: mean codes scanned per query / (nprobe x mean list size), 10,000 real SIFT queries on SIFT100M IVF8192
#: (same notebook): 1.094, below the 1.136 of probing in proportion to size
SIFT_SCAN_RATIO = 1.094
#: Gaussian-copula correlation of the sizes of the lists one real SIFT query probes: a constant of SIFT1B's
#: real query set that cannot be measured here (no SIFT1B) and is not published (Chameleon's notebook gives
#: only the mean, 1.094), so it is fitted once on the calibration set (``bench.fidelity.fit_probe_correlation``:
#: SIFT's P95 minus median latency at batch 1 on the FPGA, whose time follows the codes scanned) and used
#: unchanged for every dataset, system and batch; ``hwrag bench fidelity`` lists it with its residuals.
FITTED_PROBE_CORRELATION = 0.75
LIST_SHAPES = ("sift-measured", "gamma")


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
    list_shape: str = "sift-measured"     # LIST_SHAPES: Chameleon's measured SIFT sizes, or gamma with list_cv
    probe_correlation: float = FITTED_PROBE_CORRELATION
    sources: dict = field(default_factory=lambda: {
        "list_shape": "hwsim/data/sift100m_ivf8192_list_sizes.txt: Chameleon's notebook output (used for every "
                      "dataset; 'gamma' takes list_cv instead)",
        "probe_correlation": "fitted once on the calibration set (hwsim.workload.FITTED_PROBE_CORRELATION)",
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
        if self.list_shape not in LIST_SHAPES:
            raise HwragError(f"unknown list shape {self.list_shape!r}; accepted: {', '.join(LIST_SHAPES)}")
        if not 0.0 <= self.probe_correlation < 1.0:
            raise HwragError(f"probe correlation must be in [0, 1), got {self.probe_correlation}")

    def list_sizes(self, seed: int = 0) -> np.ndarray:
        if self.list_shape == "gamma":
            return synthetic_list_sizes(self.ntotal, self.nlist, self.list_cv, seed)
        return measured_list_sizes(self.ntotal, self.nlist, seed)


DATASETS = {"sift": SearchSpec(), "deep": SearchSpec("deep", d=96, M=16)}


@dataclass
class QueryPool:
    """Probed lists of a pool of queries, passed explicitly to every model."""

    list_sizes: np.ndarray
    probe: np.ndarray          # (n, nprobe)

    @property
    def codes(self) -> np.ndarray:
        return self.list_sizes[self.probe]


#: queries in a pool: enough for a P95 over 101 batches of correlated queries to be stable across seeds
POOL_QUERIES = 512


def make_pool(spec: SearchSpec, n: int = POOL_QUERIES, seed: int = 0) -> QueryPool:
    sizes = spec.list_sizes(seed)
    return QueryPool(sizes, sample_probes(sizes, n, spec.nprobe, seed, probe_alpha(sizes, spec.scan_ratio),
                                          spec.probe_correlation))


def batches(n_pool: int, b: int, samples: int, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.stack([rng.choice(n_pool, b, replace=b > n_pool) for _ in range(samples)])



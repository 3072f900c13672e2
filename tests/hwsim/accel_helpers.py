"""Shared helpers for the accelerator-model tests: a small random IVF-PQ index (no training)."""
import numpy as np

from ivfpq.index import IVFPQIndex


def random_index(nlist=16, M=16, d=32, n=6000, seed=0, metric="l2"):
    rng = np.random.default_rng(seed)
    sizes = rng.multinomial(n, np.ones(nlist) / nlist)
    codes = [rng.integers(0, 256, (s, M), dtype=np.uint8) for s in sizes]
    ids = np.split(rng.permutation(n).astype(np.int64) * 3 + 7, np.cumsum(sizes)[:-1])
    return IVFPQIndex.from_lists(rng.normal(size=(nlist, d)).astype(np.float32),
                                 rng.normal(size=(M, 256, d // M)).astype(np.float32), codes, ids, metric=metric)


def queries_and_probe(index, nq=6, nprobe=4, seed=1):
    rng = np.random.default_rng(seed)
    q = rng.normal(size=(nq, index.d)).astype(np.float32)
    probe = np.stack([rng.choice(index.nlist, nprobe, replace=False) for _ in range(nq)]).astype(np.int64)
    return q, probe

"""Exact k-nearest-neighbour ground truth with faiss ``IndexFlat`` (L2 or inner product)."""
from __future__ import annotations

import faiss
import numpy as np

from ..errors import HwragError


def exact_knn(base: np.ndarray, queries: np.ndarray, k: int, metric: str = "l2", batch: int = 4096):
    """Return (distances (nq, k) float32, ids (nq, k) int64); distances smaller-is-better
    (squared L2, or negated inner product)."""
    base = np.ascontiguousarray(base, dtype=np.float32)
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    if metric not in ("l2", "ip"):
        raise HwragError(f"unknown metric {metric!r}; accepted: l2, ip")
    flat = faiss.IndexFlatL2(base.shape[1]) if metric == "l2" else faiss.IndexFlatIP(base.shape[1])
    flat.add(base)
    k = min(k, base.shape[0])
    D = np.empty((len(queries), k), np.float32)
    I = np.empty((len(queries), k), np.int64)
    for a in range(0, len(queries), batch):
        D[a:a + batch], I[a:a + batch] = flat.search(queries[a:a + batch], k)
    return (D if metric == "l2" else -D), I

"""Recall metrics, tolerant of distance ties.

``recall_at_k`` counts a returned id as a hit when its *true* distance is within the k-th exact
distance (plus a relative epsilon), as ann-benchmarks does: when several vectors tie at the k-th
distance, any of them is a correct answer. Duplicate returned ids are an error, not a hit twice.
"""
from __future__ import annotations

import numpy as np

from .errors import HwragError


def true_distances(base: np.ndarray, queries: np.ndarray, ids: np.ndarray, metric: str = "l2") -> np.ndarray:
    """Exact distances (smaller is better) of returned ``ids`` (nq, k); inf where id is -1."""
    ids = np.asarray(ids)
    safe = np.where(ids >= 0, ids, 0)
    v = np.asarray(base)[safe.ravel()].reshape(*ids.shape, -1).astype(np.float32)
    q = np.asarray(queries, np.float32)[:, None, :]
    d = ((v - q) ** 2).sum(-1) if metric == "l2" else -(v * q).sum(-1)
    return np.where(ids >= 0, d, np.inf).astype(np.float32)


def check_no_duplicates(ids: np.ndarray) -> None:
    s = np.sort(np.asarray(ids), axis=1)
    dup = (np.diff(s, axis=1) == 0) & (s[:, 1:] >= 0)
    if dup.any():
        row = int(np.argmax(dup.any(axis=1)))
        raise HwragError(f"query {row} returned a duplicate id; results must be distinct ids")


def recall_at_k(ids: np.ndarray, gt_ids: np.ndarray, k: int, *, gt_distances=None, base=None,
                queries=None, metric: str = "l2", eps: float = 1e-3) -> float:
    """Mean recall@k of ``ids`` (nq, >=k) against exact neighbours ``gt_ids`` (nq, >=k).

    With ``gt_distances``, ``base`` and ``queries``, ties at the k-th distance are tolerated.
    Otherwise it is the plain id-set intersection.
    """
    ids = np.asarray(ids)[:, :k]
    gt_ids = np.asarray(gt_ids)
    if gt_ids.shape[1] < k or ids.shape[1] < k:
        raise HwragError(f"recall@{k} needs at least {k} results and {k} ground-truth neighbours")
    check_no_duplicates(ids)
    if gt_distances is None or base is None or queries is None:
        hits = [len(np.intersect1d(a[a >= 0], b[:k])) for a, b in zip(ids, gt_ids)]
        return float(np.mean(hits)) / k
    td = true_distances(base, queries, ids, metric)
    thr = np.asarray(gt_distances)[:, k - 1:k]
    thr = thr + eps * np.maximum(np.abs(thr), 1e-6)
    return float(np.mean((td <= thr).sum(axis=1))) / k


def one_recall_at(ids: np.ndarray, gt_ids: np.ndarray, r: int) -> float:
    """R1@r: fraction of queries whose true nearest neighbour is among the first r results."""
    ids = np.asarray(ids)[:, :r]
    return float(np.mean([g in row for g, row in zip(np.asarray(gt_ids)[:, 0], ids)]))


def same_topk_ties_aside(d_a, i_a, d_b, i_b, rtol: float = 1e-4) -> np.ndarray:
    """Per query: do two engines return the same top-k, ties aside?

    True when both return the same number of hits (id -1 marks a missing one; engines pad missing
    distances differently: +inf here, FLT_MAX in faiss), the distances agree (to float32 rounding:
    faiss sums precomputed terms in another order, about 1e-5 relative) and the ids strictly inside
    the last distance are the same set: equal distances may be listed in any order, and which of
    several vectors tied at the last distance makes the cut is free.
    """
    d_a, d_b = np.asarray(d_a, np.float64), np.asarray(d_b, np.float64)
    i_a, i_b = np.asarray(i_a), np.asarray(i_b)
    out = np.zeros(len(d_a), bool)
    for r in range(len(d_a)):
        va, vb = i_a[r] >= 0, i_b[r] >= 0
        if not np.array_equal(va, vb):
            continue
        if not va.any():
            out[r] = True
            continue
        da, db, ia, ib = d_a[r][va], d_b[r][vb], i_a[r][va], i_b[r][vb]
        tol = rtol * max(1.0, abs(da[-1]))
        cut = da[-1] - tol
        out[r] = np.allclose(da, db, rtol=rtol, atol=tol) and set(ia[da < cut]) == set(ib[db < cut])
    return out

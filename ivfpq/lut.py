"""Coarse list selection and float LUT construction (what Chameleon does on the host / node)."""
from __future__ import annotations

import faiss
import numpy as np

from .errors import HwragError
from .index import IVFPQIndex


def check_queries(index: IVFPQIndex, queries) -> np.ndarray:
    q = np.ascontiguousarray(queries, dtype=np.float32)
    if q.ndim == 1:
        q = q[None, :]
    if q.ndim != 2 or q.shape[1] != index.d:
        raise HwragError(f"queries must have shape (n, {index.d}), got {np.shape(queries)}")
    if q.shape[0] == 0:
        raise HwragError("empty query batch; accepted: at least one query")
    if not np.isfinite(q).all():
        raise HwragError("queries contain NaN or inf; accepted: finite float32 values")
    return q


def check_search_args(index: IVFPQIndex, k: int, nprobe: int) -> None:
    if not 1 <= int(k):
        raise HwragError(f"k={k} must be >= 1")
    if not 1 <= int(nprobe) <= index.nlist:
        raise HwragError(f"nprobe={nprobe} must be between 1 and nlist={index.nlist}")


def select_lists(index: IVFPQIndex, queries: np.ndarray, nprobe: int) -> np.ndarray:
    """The ``nprobe`` nearest coarse centroids per query, (nq, nprobe) int64, nearest first."""
    q = check_queries(index, queries)
    check_search_args(index, 1, nprobe)
    flat = faiss.IndexFlatL2(index.d) if index.metric == "l2" else faiss.IndexFlatIP(index.d)
    flat.add(index.centroids)
    _, probe = flat.search(q, int(nprobe))
    return probe.astype(np.int64)


def compute_luts(index: IVFPQIndex, queries: np.ndarray, probe: np.ndarray):
    """Float LUTs (nq, P, M, 256) float32 and per-list biases (nq, P) float32.

    L2: ``T[m,c] = ||r_m - C[m,c]||^2`` with ``r = q - centroid`` (or ``q`` without residuals), bias 0.
    IP: ``T[m,c] = -<q_m, C[m,c]>``, bias ``-<q, centroid>`` with residuals (faiss's convention).
    """
    q = np.ascontiguousarray(queries, dtype=np.float32)
    nq, P = probe.shape
    M, dsub, C = index.M, index.dsub, index.codebooks
    if index.metric == "l2":
        if index.by_residual:
            r = q[:, None, :] - index.centroids[probe]  # (nq, P, d)
        else:
            r = np.broadcast_to(q[:, None, :], (nq, P, index.d))
        r = r.reshape(nq, P, M, dsub)
        T = ((r * r).sum(-1)[..., None] - 2.0 * np.einsum("qpms,mcs->qpmc", r, C, optimize=True)
             + (C * C).sum(-1)[None, None])
        T = np.maximum(T, 0.0)
        bias = np.zeros((nq, P), np.float32)
    else:
        qs = q.reshape(nq, M, dsub)
        T1 = -np.einsum("qms,mcs->qmc", qs, C, optimize=True)  # (nq, M, 256)
        T = np.broadcast_to(T1[:, None], (nq, P, M, 256))
        if index.by_residual:
            bias = -np.einsum("qd,qpd->qp", q, index.centroids[probe])
        else:
            bias = np.zeros((nq, P), np.float32)
    return np.ascontiguousarray(T, dtype=np.float32), np.ascontiguousarray(bias, dtype=np.float32)

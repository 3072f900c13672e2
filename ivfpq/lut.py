"""Coarse list selection and float LUT construction (what Chameleon does on the host / node)."""
from __future__ import annotations

import faiss
import numba as nb
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


@nb.njit(cache=True, fastmath=False)
def lut_one_query(q, centroids, codebooks, probe_row, metric_ip, by_residual, T, bias):
    """Float LUTs of one query for its probed lists: T (P, M, 256) float32, bias (P,) float32.

    The single LUT implementation of hwrag: every scan path (golden, node backends, hardware
    models) calls it, so float LUTs — and therefore fixed-point LUTs — agree bit for bit.
    """
    M, ksub, dsub = codebooks.shape
    P = probe_row.shape[0]
    r = np.empty(M * dsub, np.float32)
    for p in range(P):
        c = centroids[probe_row[p]]
        if metric_ip:
            acc = np.float32(0.0)
            if by_residual:
                for j in range(M * dsub):
                    acc += q[j] * c[j]
            bias[p] = -acc
            for m in range(M):
                for k in range(ksub):
                    t = np.float32(0.0)
                    for s in range(dsub):
                        t += q[m * dsub + s] * codebooks[m, k, s]
                    T[p, m, k] = -t
        else:
            for j in range(M * dsub):
                r[j] = q[j] - c[j] if by_residual else q[j]
            bias[p] = 0.0
            for m in range(M):
                for k in range(ksub):
                    t = np.float32(0.0)
                    for s in range(dsub):
                        e = r[m * dsub + s] - codebooks[m, k, s]
                        t += e * e
                    T[p, m, k] = t


@nb.njit(cache=True, parallel=True)
def _luts_batch(queries, centroids, codebooks, probe, metric_ip, by_residual, T, bias):
    for i in nb.prange(queries.shape[0]):
        lut_one_query(queries[i], centroids, codebooks, probe[i], metric_ip, by_residual, T[i], bias[i])


def compute_luts(index: IVFPQIndex, queries: np.ndarray, probe: np.ndarray):
    """Float LUTs (nq, P, M, 256) float32 and per-list biases (nq, P) float32.

    L2: ``T[m,c] = ||r_m - C[m,c]||^2`` with ``r = q - centroid`` (or ``q`` without residuals), bias 0.
    IP: ``T[m,c] = -<q_m, C[m,c]>``, bias ``-<q, centroid>`` with residuals (faiss's convention).
    """
    q = np.ascontiguousarray(queries, dtype=np.float32)
    probe = np.ascontiguousarray(probe, dtype=np.int64)
    nq, P = probe.shape
    T = np.empty((nq, P, index.M, 256), np.float32)
    bias = np.empty((nq, P), np.float32)
    _luts_batch(q, index.centroids, index.codebooks, probe, index.metric == "ip", bool(index.by_residual), T, bias)
    return T, bias

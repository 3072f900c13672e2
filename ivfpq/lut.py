"""Coarse list selection and float LUT construction (what Chameleon does on the host / node)."""
from __future__ import annotations

import faiss
import numba as nb
import numpy as np

from .errors import HwragError
from .index import IVFPQIndex


def check_queries(index: IVFPQIndex, queries) -> np.ndarray:
    q = np.ascontiguousarray(queries, dtype=np.float32)
    if not q.flags.writeable:  # e.g. a view of a wire buffer; numba would compile a second specialisation
        q = q.copy()
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


@nb.njit(cache=True)
def lut_one_query(q, centroids, codebooks_t, probe_row, metric_ip, by_residual, T, bias):
    """Float LUTs of one query for its probed lists: T (P, M, 256) float32, bias (P,) float32.

    ``codebooks_t`` is the codebook transposed to (M, dsub, 256) so the inner loop runs over the
    256 codewords (SIMD-friendly) while each entry still sums its dsub terms in order s = 0, 1, ...
    This is the single LUT implementation of hwrag: every scan path (golden, node backends,
    hardware models) calls it, so float LUTs — and so fixed-point LUTs — agree bit for bit.
    """
    M, dsub, ksub = codebooks_t.shape
    P = probe_row.shape[0]
    r = np.empty(M * dsub, np.float32)
    qc = np.empty((M, ksub), np.float32)
    if metric_ip:  # -<q_m, C_mk> does not depend on the list
        for m in range(M):
            for k in range(ksub):
                qc[m, k] = 0.0
            for s in range(dsub):
                qs = q[m * dsub + s]
                for k in range(ksub):
                    qc[m, k] += qs * codebooks_t[m, s, k]
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
                    T[p, m, k] = -qc[m, k]
        else:
            for j in range(M * dsub):
                r[j] = q[j] - c[j] if by_residual else q[j]
            bias[p] = 0.0
            for m in range(M):
                t = T[p, m]
                for k in range(ksub):
                    t[k] = 0.0
                for s in range(dsub):
                    rs = r[m * dsub + s]
                    for k in range(ksub):
                        e = rs - codebooks_t[m, s, k]
                        t[k] += e * e


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
    _luts_batch(q, index.centroids, index.codebooks_t, probe, index.metric == "ip", bool(index.by_residual), T, bias)
    return T, bias

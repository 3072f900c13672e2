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
def ip_table(q, codebooks_t, T):
    """T (M, 256) = -<q_m, C_mk> in float32, summed over s = 0, 1, ... (inner product: every list's LUT).
    Four sub-dimensions per pass over T: the same operations, a quarter of the loads and stores."""
    M, dsub, ksub = codebooks_t.shape
    for m in range(M):
        t = T[m]
        c = codebooks_t[m]
        for k in range(ksub):
            t[k] = 0.0
        s = 0
        while s + 4 <= dsub:
            q0, q1, q2, q3 = q[m * dsub + s], q[m * dsub + s + 1], q[m * dsub + s + 2], q[m * dsub + s + 3]
            for k in range(ksub):
                t[k] = (((t[k] + q0 * c[s, k]) + q1 * c[s + 1, k]) + q2 * c[s + 2, k]) + q3 * c[s + 3, k]
            s += 4
        while s < dsub:
            qs = q[m * dsub + s]
            for k in range(ksub):
                t[k] += qs * c[s, k]
            s += 1
        for k in range(ksub):
            t[k] = -t[k]


@nb.njit(cache=True)
def ip_bias(q, c):
    """-<q, c> in float32, summed in order (the inner-product list bias with residuals)."""
    acc = np.float32(0.0)
    for j in range(q.shape[0]):
        acc += q[j] * c[j]
    return -acc


@nb.njit(cache=True)
def l2_table(r, codebooks_t, T):
    """T (M, 256) = ||r_m - C_mk||^2 in float32, summed over s = 0, 1, ... (see :func:`l2_entry_qc`).
    Four sub-dimensions per pass over T: the same operations, a quarter of the loads and stores."""
    M, dsub, ksub = codebooks_t.shape
    for m in range(M):
        t = T[m]
        c = codebooks_t[m]
        for k in range(ksub):
            t[k] = 0.0
        s = 0
        while s + 4 <= dsub:
            r0, r1, r2, r3 = r[m * dsub + s], r[m * dsub + s + 1], r[m * dsub + s + 2], r[m * dsub + s + 3]
            for k in range(ksub):
                e0 = r0 - c[s, k]
                e1 = r1 - c[s + 1, k]
                e2 = r2 - c[s + 2, k]
                e3 = r3 - c[s + 3, k]
                t[k] = (((t[k] + e0 * e0) + e1 * e1) + e2 * e2) + e3 * e3
            s += 4
        while s < dsub:
            rs = r[m * dsub + s]
            for k in range(ksub):
                e = rs - c[s, k]
                t[k] += e * e
            s += 1


@nb.njit(cache=True)
def l2_entry_qc(q, c, codebooks_t, m, k):
    """One entry ``T[m, k]`` of :func:`l2_table` for the residual ``r = fl32(q - c)``, with exactly its
    float32 operations (forming only the dsub coordinates of r it needs), so the fast scans can
    recompute a reference entry on demand."""
    dsub = codebooks_t.shape[1]
    t = np.float32(0.0)
    for s in range(dsub):
        e = (q[m * dsub + s] - c[m * dsub + s]) - codebooks_t[m, s, k]
        t += e * e
    return t


@nb.njit(cache=True)
def lut_one_query(q, centroids, codebooks_t, probe_row, metric_ip, by_residual, T, bias):
    """Float LUTs of one query for its probed lists: T (P, M, 256) float32, bias (P,) float32.

    ``codebooks_t`` is the codebook transposed to (M, dsub, 256) so the inner loop runs over the
    256 codewords (SIMD-friendly) while each entry still sums its dsub terms in order s = 0, 1, ...
    This is the reference LUT of hwrag (contract 1): every scan path (golden, node backends, hardware
    models) gets these float LUTs' fixed-point integers bit for bit — the fast scans by computing
    the same tables once per query (:func:`shared_lut`) or by exactly-rounded reconstruction
    (:mod:`ivfpq.fixed_l2`).
    """
    P = probe_row.shape[0]
    if metric_ip or not by_residual:  # the table does not depend on the list
        shared_lut(q, centroids, codebooks_t, probe_row, metric_ip, by_residual, T[0], bias)
        for p in range(1, P):
            T[p] = T[0]
        return
    r = np.empty(q.shape[0], np.float32)
    for p in range(P):
        c = centroids[probe_row[p]]
        for j in range(q.shape[0]):
            r[j] = q[j] - c[j]
        bias[p] = 0.0
        l2_table(r, codebooks_t, T[p])


@nb.njit(cache=True)
def shared_lut(q, centroids, codebooks_t, probe_row, metric_ip, by_residual, T, bias):
    """The list-independent LUT T (M, 256) of inner product, or of L2 without residuals, and every
    probed list's bias (P,): what :func:`lut_one_query` gives each list, computed once."""
    if metric_ip:
        ip_table(q, codebooks_t, T)
        for p in range(probe_row.shape[0]):
            bias[p] = ip_bias(q, centroids[probe_row[p]]) if by_residual else -np.float32(0.0)
    else:
        l2_table(q, codebooks_t, T)
        bias[:] = 0.0


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

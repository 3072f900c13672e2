"""faiss's precomputed-table decomposition of by-residual L2 LUTs (``IndexIVFPQ.use_precomputed_table``).

With ``r = q - c_l`` the LUT entry ``||r_m - C_mk||^2`` of list ``l`` splits into

- ``term1[l, m, k] = ||C_mk||^2 + 2 <c_lm, C_mk>``: per list, independent of the query, built once per index;
- ``term2[m, k] = -2 <q_m, C_mk>``: per query, shared by every probed list;
- ``R[m] = ||q_m - c_lm||^2``: per probed list, d multiply-adds,

so a list's LUT costs M*256 additions instead of M*256*dsub multiply-adds. The float scan uses the sum
directly, as faiss does. The fixed-point scan must reproduce the reference LUT of
:func:`ivfpq.lut.lut_one_query` bit for bit, so it treats the sum as an approximation within the proven
bound :func:`column_error_bound` and recomputes exactly the entries whose quantised value the bound
leaves open (:mod:`ivfpq.fixed_l2`).

The tables are cached per (centroids, codebooks) pair, so shards of one index share them; an index whose
table would exceed :data:`MAX_TABLE_BYTES` gets none and its scans build every LUT in full.
"""
from __future__ import annotations

import math
import threading
import weakref
from dataclasses import dataclass

import numba as nb
import numpy as np

MAX_TABLE_BYTES = 1 << 30  # faiss's own default cap (precomputed_table_max_bytes) is 2 GiB
U32 = 2.0 ** -24  # float32 unit roundoff


@dataclass(frozen=True)
class L2Tables:
    term1: np.ndarray  # (nlist, M, 256) float32, computed in float64 and rounded once
    term1_absmax: np.ndarray  # (nlist, M) float64: max_k |term1[l, m, k]|
    centroid_norm: np.ndarray  # (nlist, M) float64: ||c_lm||
    codeword_norm: np.ndarray  # (M,) float64: max_k ||C_mk||


@nb.njit(cache=True, parallel=True)
def _build_term1(centroids, codebooks_t, term1, absmax, cnorm):
    nlist = centroids.shape[0]
    M, dsub, ksub = codebooks_t.shape
    for l in nb.prange(nlist):
        acc = np.empty(ksub, np.float64)
        for m in range(M):
            cn = 0.0
            for k in range(ksub):
                acc[k] = 0.0
            for s in range(dsub):
                c = np.float64(centroids[l, m * dsub + s])
                cn += c * c
                for k in range(ksub):
                    w = np.float64(codebooks_t[m, s, k])
                    acc[k] += w * (w + 2.0 * c)  # ||C||^2 + 2<c, C>, summed per coordinate
            amax = 0.0
            for k in range(ksub):
                term1[l, m, k] = acc[k]
                amax = max(amax, abs(np.float64(term1[l, m, k])))
            absmax[l, m] = amax
            cnorm[l, m] = np.sqrt(cn)


def build_l2_tables(centroids: np.ndarray, codebooks_t: np.ndarray) -> L2Tables:
    nlist = centroids.shape[0]
    M, _, ksub = codebooks_t.shape
    term1 = np.empty((nlist, M, ksub), np.float32)
    absmax = np.empty((nlist, M), np.float64)
    cnorm = np.empty((nlist, M), np.float64)
    _build_term1(np.ascontiguousarray(centroids, np.float32), np.ascontiguousarray(codebooks_t, np.float32),
                 term1, absmax, cnorm)
    cw = np.sqrt((codebooks_t.astype(np.float64) ** 2).sum(axis=1)).max(axis=1)
    return L2Tables(term1, absmax, cnorm, cw)


_cache: dict[tuple[int, int], tuple[weakref.ref, weakref.ref, L2Tables]] = {}
_lock = threading.Lock()


def _forget(key):
    with _lock:
        _cache.pop(key, None)


def l2_tables(index) -> L2Tables | None:
    """The precomputed tables of a by-residual L2 index (built on first use), or None when they do not
    apply (inner product, no residual) or would be larger than :data:`MAX_TABLE_BYTES`."""
    if index.metric != "l2" or not index.by_residual:
        return None
    if index.nlist * index.M * 256 * 4 > MAX_TABLE_BYTES:
        return None
    c, cb = index.centroids, index.codebooks
    key = (id(c), id(cb))
    with _lock:
        hit = _cache.get(key)
        if hit is not None and hit[0]() is c and hit[1]() is cb:
            return hit[2]
    tables = build_l2_tables(c, index.codebooks_t)
    with _lock:
        _cache[key] = (weakref.ref(c), weakref.ref(cb), tables)
    weakref.finalize(c, _forget, key)
    return tables


@nb.njit(cache=True)
def query_term2(q, codebooks_t, t2):
    """term2 = -2<q_m, C_mk> into t2 (M, 256) float32, summed over s = 0, 1, ... in float32 as faiss
    computes it; eight (or four) sub-dimensions per pass over t2: the same operations, a fraction of the
    loads and stores."""
    M, dsub, ksub = codebooks_t.shape
    for m in range(M):
        t = t2[m]
        c = codebooks_t[m]
        if dsub < 8:
            for k in range(ksub):
                t[k] = 0.0
        s = 0
        while s + 8 <= dsub:  # the common dsub = 8 (d = 128, M = 16) in one pass
            q0 = np.float32(-2.0) * q[m * dsub + s]
            q1 = np.float32(-2.0) * q[m * dsub + s + 1]
            q2 = np.float32(-2.0) * q[m * dsub + s + 2]
            q3 = np.float32(-2.0) * q[m * dsub + s + 3]
            q4 = np.float32(-2.0) * q[m * dsub + s + 4]
            q5 = np.float32(-2.0) * q[m * dsub + s + 5]
            q6 = np.float32(-2.0) * q[m * dsub + s + 6]
            q7 = np.float32(-2.0) * q[m * dsub + s + 7]
            if s == 0:  # no running sum to add to yet (0 + x = x, the sign of a zero aside)
                for k in range(ksub):
                    a = ((q0 * c[0, k] + q1 * c[1, k]) + q2 * c[2, k]) + q3 * c[3, k]
                    t[k] = (((a + q4 * c[4, k]) + q5 * c[5, k]) + q6 * c[6, k]) + q7 * c[7, k]
            else:
                for k in range(ksub):
                    a = (((t[k] + q0 * c[s, k]) + q1 * c[s + 1, k]) + q2 * c[s + 2, k]) + q3 * c[s + 3, k]
                    t[k] = (((a + q4 * c[s + 4, k]) + q5 * c[s + 5, k]) + q6 * c[s + 6, k]) + q7 * c[s + 7, k]
            s += 8
        while s + 4 <= dsub:
            q0 = np.float32(-2.0) * q[m * dsub + s]
            q1 = np.float32(-2.0) * q[m * dsub + s + 1]
            q2 = np.float32(-2.0) * q[m * dsub + s + 2]
            q3 = np.float32(-2.0) * q[m * dsub + s + 3]
            for k in range(ksub):
                t[k] = (((t[k] + q0 * c[s, k]) + q1 * c[s + 1, k]) + q2 * c[s + 2, k]) + q3 * c[s + 3, k]
            s += 4
        while s < dsub:
            qs = np.float32(-2.0) * q[m * dsub + s]
            for k in range(ksub):
                t[k] += qs * c[s, k]
            s += 1


@nb.njit(cache=True, inline="always")
def float_of_bits(b):
    """The float32 whose bits are the non-negative int32 b, exactly (arithmetic, no array view)."""
    e = b >> 23
    if e == 255:
        return np.inf
    if e == 0:
        return math.ldexp(float(b), -149)
    return math.ldexp(float((b & 0x7FFFFF) | 0x800000), e - 150)


@nb.njit(cache=True)
def query_term2_bounds(q, t2, t2_absmax, q_norm):
    """max_k |term2[m, k]| and ||q_m|| per sub-space (inputs of :func:`column_error_bound`)."""
    M, ksub = t2.shape
    dsub = q.shape[0] // M
    bits = t2.view(np.int32)
    for m in range(M):
        mx = np.int32(0)
        for k in range(ksub):  # |x| of a float32 orders like its bits without the sign bit (vectorises)
            mx = max(mx, bits[m, k] & np.int32(0x7FFFFFFF))
        t2_absmax[m] = float_of_bits(mx)
        qn = 0.0
        for s in range(dsub):
            qs = np.float64(q[m * dsub + s])
            qn += qs * qs
        q_norm[m] = np.sqrt(qn)


@nb.njit(cache=True, inline="always")
def column_error_bound(R, t1_absmax, t2_absmax, q_norm, c_norm, cw_norm, dsub):
    """Bound on |approximate - reference| for every entry of one LUT column (list p, sub-space m).

    approximate: ``fl32(fl32(term1 + term2) + fl32(R))`` as :mod:`ivfpq.fixed_l2` sums it;
    reference: :func:`ivfpq.lut.lut_one_query`, i.e. ``r_s = fl32(q_s - c_s)`` and the float32 sum over s
    of ``fl32(fl32(r_s - C_sk)^2)``. With u = 2^-24, x = q_m - c_m (exact), T(y) = ||y - C_k||^2 (exact),
    Mag = R + max|term1| + max|term2| (>= T(x) up to roundoff):

    - reference vs T(r): dsub+2 roundings of non-negative terms: <= (dsub+2) u T(r) (1 + 1e-3);
    - T(r) vs T(x): |r_s - x_s| <= u |x_s|, so <= 2u ||x|| sqrt(T(x)) + u^2 R <= u (R + T(x)) + u^2 R;
    - approximate vs T(x): term1 and R rounded once to float32 (u times their size); term2 summed in
      float32 (:func:`query_term2`): <= (dsub+1) u sum_s |2 q_s C_sk| <= (dsub+1) u 2 ||q_m|| max||C_mk||;
      two float32 additions (u (|term1| + |term2|) and u Mag); float64 residues <= 3 (dsub+3) 2^-53 W with
      W = (||q_m|| + ||c_m|| + max||C_mk||)^2, which bounds every float64 sum involved.

    Together <= (dsub + 7) u Mag + (dsub+1) u 2 ||q_m|| max||C_mk|| + 2^-42 W; returned with one more
    u Mag, 1 % on the term2 part and 2^-40 W of slack, which also covers the rounding of the comparisons
    that use the bound.
    """
    mag = R + t1_absmax + t2_absmax
    w = q_norm + c_norm + cw_norm
    return (dsub + 8) * U32 * mag + (dsub + 1) * U32 * 2.02 * q_norm * cw_norm + 2.0 ** -40 * w * w

"""Golden PQ scan with top-K, in numba, for float LUTs and for fixed-point LUTs.

A query scans *segments*: contiguous runs of codes (a probed list, or one shard's slice of it),
each with its own LUT and bias. Candidates are ranked by ``(distance, id)`` — equal distances go to
the smaller id (see :mod:`ivfpq.fixedpoint`), so results do not depend on scan order.
Missing results (fewer than k candidates) are id -1 with distance +inf (float) or -1 (fixed).

How a query's LUTs are built (:func:`_lut_plan`):

- ``SHARED``: inner product, or L2 without residuals: one LUT for every list, built (and in fixed point
  quantised) once per query;
- ``L2_TABLES``: L2 by residual: faiss's precomputed-table decomposition (:mod:`ivfpq.precomputed`);
  the float scan sums it as faiss does, the fixed-point scan recovers the reference's integers from it
  (:mod:`ivfpq.fixed_l2`);
- ``L2_REFERENCE``: L2 by residual whose tables would be too large: the reference LUT of every list.

Every fixed-point path gives the integers of the reference (:func:`ivfpq.lut.lut_one_query` quantised
by :func:`ivfpq.fixedpoint.quantize_one_query`) bit for bit; the float paths agree with it to float
rounding (``L2_TABLES`` sums in faiss's order).
"""
from __future__ import annotations

from dataclasses import dataclass

import numba as nb
import numpy as np

from .errors import HwragError
from .fixed_l2 import filter_rows, luts_one_query, scratch, search_one_query
from .fixedpoint import DEFAULT_FORMAT, LutFormat, QuantizedLuts, quantize_luts, quantize_one_query, quantize_shared
from .index import IVFPQIndex
from .lut import check_queries, check_search_args, compute_luts, l2_table, lut_one_query, select_lists, shared_lut
from .precomputed import l2_tables, query_term2
from .topk import insert


@nb.njit(cache=True)
def scan_rows_fixed(codes, ids, a, b, lut, bias, dist_max, top_d, top_i, n):
    """Fixed-point scan of rows [a, b) with one LUT (M, 256) int32 and bias; returns the new fill n."""
    k = top_d.shape[0]
    M = codes.shape[1]
    worst = top_d[k - 1] if n == k else dist_max + 1  # kept in a register: most codes stop here
    for r in range(a, b):
        acc = bias
        for m in range(M):
            acc += lut[m, codes[r, m]]
        if acc > dist_max:
            acc = dist_max
        if acc > worst:
            continue
        n = insert(top_d, top_i, n, k, acc, ids[r])
        if n == k:
            worst = top_d[k - 1]
    return n


@nb.njit(cache=True)
def scan_rows_float(codes, ids, a, b, lut, bias, top_d, top_i, n):
    """Float scan of rows [a, b) with one LUT (M, 256) float32 and bias; returns the new fill n."""
    k = top_d.shape[0]
    M = codes.shape[1]
    worst = top_d[k - 1] if n == k else np.float32(np.inf)
    for r in range(a, b):
        acc = np.float32(0.0)
        for m in range(M):
            acc += lut[m, codes[r, m]]
        acc += bias
        if acc > worst:
            continue
        n = insert(top_d, top_i, n, k, acc, ids[r])
        if n == k:
            worst = top_d[k - 1]
    return n


@nb.njit(cache=True)
def scan_rows_float_fast(codes, ids, a, b, lut, bias, top_d, top_i, n, rows, dists):
    """:func:`scan_rows_float` (the same distances and top-k) with the rows filtered first in a tight loop."""
    k = top_d.shape[0]
    worst = top_d[k - 1] if n == k else np.float32(np.inf)
    found = filter_rows(codes, a, b, lut, bias, worst, rows, dists)
    for j in range(found):
        if n == k and dists[j] > top_d[k - 1]:
            continue
        n = insert(top_d, top_i, n, k, dists[j], ids[rows[j]])
    return n


@nb.njit(cache=True)
def scan_segments_fixed(codes, ids, starts, ends, luts, biases, dist_max, top_d, top_i):
    """Fixed-point scan of one query. luts (S, M, 256) int32, biases (S,) int64.

    Fills top_d/top_i (length k) ascending by (dist, id); returns how many were filled.
    """
    n = 0
    for s in range(starts.shape[0]):
        n = scan_rows_fixed(codes, ids, starts[s], ends[s], luts[s], biases[s], dist_max, top_d, top_i, n)
    return n


@nb.njit(cache=True)
def scan_segments_float(codes, ids, starts, ends, luts, biases, top_d, top_i):
    """Float scan of one query. luts (S, M, 256) float32, biases (S,) float32."""
    n = 0
    for s in range(starts.shape[0]):
        n = scan_rows_float(codes, ids, starts[s], ends[s], luts[s], biases[s], top_d, top_i, n)
    return n


@nb.njit(cache=True)
def _pad(out_d, out_i, n, fill):
    for j in range(n, out_d.shape[0]):
        out_d[j] = fill
        out_i[j] = -1


# how a query's LUTs are built (see scan_lists)
SHARED, L2_TABLES, L2_REFERENCE = 0, 1, 2


@nb.njit(cache=True)
def _fixed_reference(q, codes, ids, offsets, centroids, codebooks_t, probe_row, metric_ip, by_residual,
                     lut_max, dist_max, top_d, top_i):
    """Reference LUTs of every probed list, quantised and scanned (L2 by residual without tables)."""
    P = probe_row.shape[0]
    M = codebooks_t.shape[0]
    T = np.empty((P, M, 256), np.float32)
    b = np.empty(P, np.float32)
    lut = np.empty((P, M, 256), np.int32)
    bias = np.empty(P, np.int64)
    lut_one_query(q, centroids, codebooks_t, probe_row, metric_ip, by_residual, T, b)
    scale, offset = quantize_one_query(T, b, lut_max, dist_max, lut, bias)
    n = scan_segments_fixed(codes, ids, offsets[probe_row], offsets[probe_row + 1], lut, bias, dist_max, top_d, top_i)
    return n, scale, offset


@nb.njit(cache=True)
def _fixed_shared(q, codes, ids, offsets, centroids, codebooks_t, probe_row, metric_ip, by_residual,
                  lut_max, dist_max, top_d, top_i):
    """One LUT for every probed list (inner product, L2 without residuals), quantised once."""
    P = probe_row.shape[0]
    M = codebooks_t.shape[0]
    T = np.empty((M, 256), np.float32)
    b = np.empty(P, np.float32)
    lut = np.empty((M, 256), np.int32)
    bias = np.empty(P, np.int64)
    shared_lut(q, centroids, codebooks_t, probe_row, metric_ip, by_residual, T, b)
    scale, offset = quantize_shared(T, b, lut_max, dist_max, lut, bias)
    n = 0
    for p in range(P):
        l = probe_row[p]
        n = scan_rows_fixed(codes, ids, offsets[l], offsets[l + 1], lut, bias[p], dist_max, top_d, top_i, n)
    return n, scale, offset


@nb.njit(cache=True, parallel=True)
def _search_fixed(codes, ids, offsets, centroids, codebooks_t, queries, probe, metric_ip, by_residual, mode,
                  term1, t1_absmax, c_norm, cw_norm, lut_max, dist_max, nchunks, out_d, out_i, out_scale, out_offset):
    """Per query: LUTs -> fixed-point LUTs -> scan of the probed lists -> top-K (queries in chunks, so
    each thread allocates its scratch once)."""
    nq, P = probe.shape
    M = codebooks_t.shape[0]
    longest = 0
    for l in range(offsets.shape[0] - 1):
        longest = max(longest, offsets[l + 1] - offsets[l])
    for c in nb.prange(nchunks):
        work = scratch(P, M, longest)
        bias = np.empty(P, np.int64)
        for q in range(c * nq // nchunks, (c + 1) * nq // nchunks):
            args = (queries[q], codes, ids, offsets, centroids, codebooks_t, probe[q])
            n = -1
            if mode == L2_TABLES:
                n, s, o = search_one_query(*args, term1, t1_absmax, c_norm, cw_norm, lut_max, dist_max, work, bias,
                                           out_d[q], out_i[q])
            if mode == SHARED:
                n, s, o = _fixed_shared(*args, metric_ip, by_residual, lut_max, dist_max, out_d[q], out_i[q])
            if n < 0:  # L2_REFERENCE, or sums not finite for the tables
                n, s, o = _fixed_reference(*args, metric_ip, by_residual, lut_max, dist_max, out_d[q], out_i[q])
            out_scale[q], out_offset[q] = s, o
            _pad(out_d[q], out_i[q], n, -1)


@nb.njit(cache=True)
def _float_one_query(q, codes, ids, offsets, centroids, codebooks_t, probe_row, metric_ip, by_residual, mode,
                     term1, T, t2, r, rows, dists, top_d, top_i):
    P = probe_row.shape[0]
    n = 0
    if mode == SHARED:
        b = np.empty(P, np.float32)
        shared_lut(q, centroids, codebooks_t, probe_row, metric_ip, by_residual, T, b)
        for p in range(P):
            l = probe_row[p]
            n = scan_rows_float_fast(codes, ids, offsets[l], offsets[l + 1], T, b[p], top_d, top_i, n, rows, dists)
        return n
    if mode == L2_TABLES:
        query_term2(q, codebooks_t, t2)
    for p in range(P):
        l = probe_row[p]
        if offsets[l + 1] == offsets[l]:
            continue
        c = centroids[l]
        for j in range(q.shape[0]):
            r[j] = q[j] - c[j]
        if mode == L2_TABLES:  # faiss's decomposition: ||r||^2 + term1[l] + term2
            part = np.zeros(8, np.float32)  # eight partial sums: no 128-long chain of dependent adds
            for j in range(0, q.shape[0] - 7, 8):
                for u in range(8):
                    part[u] += r[j + u] * r[j + u]
            for j in range(q.shape[0] - q.shape[0] % 8, q.shape[0]):
                part[0] += r[j] * r[j]
            bias = ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]))
            for m in range(T.shape[0]):
                for k in range(T.shape[1]):
                    T[m, k] = term1[l, m, k] + t2[m, k]
        else:
            bias = np.float32(0.0)
            l2_table(r, codebooks_t, T)
        n = scan_rows_float_fast(codes, ids, offsets[l], offsets[l + 1], T, bias, top_d, top_i, n, rows, dists)
    return n


@nb.njit(cache=True, parallel=True)
def _search_float(codes, ids, offsets, centroids, codebooks_t, queries, probe, metric_ip, by_residual, mode,
                  term1, nchunks, out_d, out_i):
    nq, P = probe.shape
    M = codebooks_t.shape[0]
    longest = 1
    for l in range(offsets.shape[0] - 1):
        longest = max(longest, offsets[l + 1] - offsets[l])
    for c in nb.prange(nchunks):
        T = np.empty((M, 256), np.float32)
        t2 = np.empty((M, 256), np.float32)
        r = np.empty(queries.shape[1], np.float32)
        rows = np.empty(longest, np.int64)
        dists = np.empty(longest, np.float32)
        for q in range(c * nq // nchunks, (c + 1) * nq // nchunks):
            n = _float_one_query(queries[q], codes, ids, offsets, centroids, codebooks_t, probe[q], metric_ip,
                                 by_residual, mode, term1, T, t2, r, rows, dists, out_d[q], out_i[q])
            _pad(out_d[q], out_i[q], n, np.inf)


@dataclass
class SearchResult:
    ids: np.ndarray  # (nq, k) int64, -1 where fewer than k candidates
    distances: np.ndarray  # (nq, k) float32, smaller is better (decoded for fixed point)
    int_distances: np.ndarray | None = None  # (nq, k) int64 hardware distances (fixed point only)
    probe: np.ndarray | None = None  # (nq, nprobe) lists scanned


def _lut_plan(index: IVFPQIndex, fmt: LutFormat | None):
    """(mode, term1, term1_absmax, centroid_norm, codeword_norm) for :func:`_search_fixed` / ``_float``."""
    M = index.M
    if index.metric == "ip" or not index.by_residual:
        mode, tables = SHARED, None
    else:
        tables = l2_tables(index)
        mode = L2_TABLES if tables is not None else L2_REFERENCE
    if mode != L2_TABLES:
        return mode, np.empty((0, M, 256), np.float32), np.empty((0, M)), np.empty((0, M)), np.empty(M)
    return mode, tables.term1, tables.term1_absmax, tables.centroid_norm, tables.codeword_norm


def _chunks(nq: int) -> int:
    return max(1, min(nq, 4 * nb.get_num_threads()))


def scan_lists(index: IVFPQIndex, queries: np.ndarray, probe: np.ndarray, k: int,
               fmt: LutFormat | None = DEFAULT_FORMAT) -> SearchResult:
    """Scan the given probed lists of each query (the memory-node side: LUT build, scan, top-K).

    ``fmt=None`` scans with float LUTs; otherwise with the fixed-point format ``fmt``.
    """
    q = check_queries(index, queries)
    probe = np.ascontiguousarray(probe, dtype=np.int64)
    if not probe.flags.writeable:
        probe = probe.copy()
    if probe.ndim != 2 or probe.shape[0] != q.shape[0]:
        raise HwragError(f"probe must have shape ({q.shape[0]}, nprobe), got {probe.shape}")
    if probe.size and (probe.min() < 0 or probe.max() >= index.nlist):
        raise HwragError(f"probed list ids must be in 0..{index.nlist - 1}")
    check_search_args(index, k, max(1, probe.shape[1]))
    nq = q.shape[0]
    if probe.shape[1] == 0:  # nothing to scan
        none = np.full((nq, k), -1, np.int64)
        return SearchResult(none, np.full((nq, k), np.inf, np.float32), None if fmt is None else none.copy(), probe)
    out_i = np.empty((nq, k), np.int64)
    mode, term1, t1_absmax, c_norm, cw_norm = _lut_plan(index, fmt)
    args = (index.codes, index.ids, index.offsets, index.centroids, index.codebooks_t, q, probe,
            index.metric == "ip", bool(index.by_residual), mode, term1)
    if fmt is None:
        out_f = np.empty((nq, k), np.float32)
        _search_float(*args, _chunks(nq), out_f, out_i)
        return SearchResult(out_i, out_f, None, probe)
    fmt.check(index.M)
    out_int = np.empty((nq, k), np.int64)
    scale, offset = np.empty(nq), np.empty(nq)
    _search_fixed(*args, t1_absmax, c_norm, cw_norm, fmt.lut_max, fmt.dist_max, _chunks(nq), out_int, out_i,
                  scale, offset)
    dec = (out_int * scale[:, None] + offset[:, None]).astype(np.float32)
    return SearchResult(out_i, np.where(out_i >= 0, dec, np.inf).astype(np.float32), out_int, probe)


def search(index: IVFPQIndex, queries, k: int, nprobe: int,
           fmt: LutFormat | None = DEFAULT_FORMAT) -> SearchResult:
    """Full IVF-PQ search: list selection, LUT construction, golden scan and top-K."""
    check_search_args(index, k, nprobe)
    q = check_queries(index, queries)
    probe = select_lists(index, q, nprobe)
    return scan_lists(index, q, probe, k, fmt)


@nb.njit(cache=True, parallel=True)
def _luts_l2_tables(queries, offsets, centroids, codebooks_t, probe, term1, t1_absmax, c_norm, cw_norm, lut_max,
                    dist_max, lut, bias, scale, offset, failed):
    nq, P = probe.shape
    M = codebooks_t.shape[0]
    for q in nb.prange(nq):
        work = scratch(P, M, 0)
        scale[q], offset[q] = luts_one_query(queries[q], offsets, centroids, codebooks_t, probe[q], term1, t1_absmax,
                                             c_norm, cw_norm, lut_max, dist_max, work, lut[q], bias[q])
        failed[q] = not np.isfinite(scale[q])


def quantized_luts_for(index: IVFPQIndex, queries, probe, fmt: LutFormat = DEFAULT_FORMAT) -> QuantizedLuts:
    """The fixed-point LUTs the hardware loads for these queries and probed lists (the reference's
    integers; by-residual L2 builds them from the precomputed tables, :mod:`ivfpq.fixed_l2`)."""
    q = check_queries(index, queries)
    probe = np.ascontiguousarray(probe, dtype=np.int64)
    mode, term1, t1_absmax, c_norm, cw_norm = _lut_plan(index, fmt)
    if mode != L2_TABLES or probe.ndim != 2 or probe.shape[0] != q.shape[0] or probe.shape[1] == 0:
        T, bias = compute_luts(index, q, probe)
        return quantize_luts(T, bias, fmt)
    fmt.check(index.M)
    nq, P = probe.shape
    lut = np.empty((nq, P, index.M, 256), np.int32)
    bias = np.empty((nq, P), np.int64)
    scale, offset, failed = np.empty(nq), np.empty(nq), np.zeros(nq, np.bool_)
    _luts_l2_tables(q, index.offsets, index.centroids, index.codebooks_t, probe, term1, t1_absmax, c_norm, cw_norm,
                    fmt.lut_max, fmt.dist_max, lut, bias, scale, offset, failed)
    for i in np.flatnonzero(failed):  # sums not finite: the reference LUTs
        T, b = compute_luts(index, q[i:i + 1], probe[i:i + 1])
        ref = quantize_luts(T, b, fmt)
        lut[i], bias[i], scale[i], offset[i] = ref.lut[0], ref.bias[0], ref.scale[0], ref.offset[0]
    return QuantizedLuts(lut, bias, scale, offset)

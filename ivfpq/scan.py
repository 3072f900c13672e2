"""Golden PQ scan with top-K, in numba, for float LUTs and for fixed-point LUTs.

A query scans *segments*: contiguous runs of codes (a probed list, or one shard's slice of it),
each with its own LUT and bias. Candidates are ranked by ``(distance, id)`` — equal distances go to
the smaller id (see :mod:`ivfpq.fixedpoint`), so results do not depend on scan order.
Missing results (fewer than k candidates) are id -1 with distance +inf (float) or -1 (fixed).
"""
from __future__ import annotations

from dataclasses import dataclass

import numba as nb
import numpy as np

from .errors import HwragError
from .fixedpoint import DEFAULT_FORMAT, LutFormat, QuantizedLuts, quantize_luts, quantize_one_query
from .index import IVFPQIndex
from .lut import check_queries, check_search_args, compute_luts, lut_one_query, select_lists


@nb.njit(cache=True, inline="always")
def _insert(top_d, top_i, n, k, d, i):
    """Insert (d, i) into the ascending top list of length n <= k; returns the new length."""
    if n == k:
        if d > top_d[k - 1] or (d == top_d[k - 1] and i >= top_i[k - 1]):
            return n
        pos = k - 1
    else:
        pos = n
        n += 1
    while pos > 0 and (top_d[pos - 1] > d or (top_d[pos - 1] == d and top_i[pos - 1] > i)):
        top_d[pos] = top_d[pos - 1]
        top_i[pos] = top_i[pos - 1]
        pos -= 1
    top_d[pos] = d
    top_i[pos] = i
    return n


@nb.njit(cache=True)
def scan_segments_fixed(codes, ids, starts, ends, luts, biases, dist_max, top_d, top_i):
    """Fixed-point scan of one query. luts (S, M, 256) int32, biases (S,) int64.

    Fills top_d/top_i (length k) ascending by (dist, id); returns how many were filled.
    """
    k = top_d.shape[0]
    M = codes.shape[1]
    n = 0
    for s in range(starts.shape[0]):
        lut = luts[s]
        b = biases[s]
        for r in range(starts[s], ends[s]):
            acc = b
            for m in range(M):
                acc += lut[m, codes[r, m]]
            if acc > dist_max:
                acc = dist_max
            n = _insert(top_d, top_i, n, k, acc, ids[r])
    return n


@nb.njit(cache=True)
def scan_segments_float(codes, ids, starts, ends, luts, biases, top_d, top_i):
    """Float scan of one query. luts (S, M, 256) float32, biases (S,) float32."""
    k = top_d.shape[0]
    M = codes.shape[1]
    n = 0
    for s in range(starts.shape[0]):
        lut = luts[s]
        for r in range(starts[s], ends[s]):
            acc = np.float32(0.0)
            for m in range(M):
                acc += lut[m, codes[r, m]]
            acc += biases[s]
            n = _insert(top_d, top_i, n, k, acc, ids[r])
    return n


@nb.njit(cache=True, parallel=True)
def _search_fixed(codes, ids, offsets, centroids, codebooks_t, queries, probe, metric_ip, by_residual,
                  lut_max, dist_max, out_d, out_i, out_scale, out_offset):
    """Per query: float LUTs -> fixed-point LUTs -> scan of the probed lists -> top-K."""
    nq, P = probe.shape
    M = codebooks_t.shape[0]
    for q in nb.prange(nq):
        T = np.empty((P, M, 256), np.float32)
        b = np.empty(P, np.float32)
        lut = np.empty((P, M, 256), np.int32)
        bias = np.empty(P, np.int64)
        lut_one_query(queries[q], centroids, codebooks_t, probe[q], metric_ip, by_residual, T, b)
        out_scale[q], out_offset[q] = quantize_one_query(T, b, lut_max, dist_max, lut, bias)
        starts = offsets[probe[q]]
        ends = offsets[probe[q] + 1]
        n = scan_segments_fixed(codes, ids, starts, ends, lut, bias, dist_max, out_d[q], out_i[q])
        for j in range(n, out_d.shape[1]):
            out_d[q, j] = -1
            out_i[q, j] = -1


@nb.njit(cache=True, parallel=True)
def _search_float(codes, ids, offsets, centroids, codebooks_t, queries, probe, metric_ip, by_residual,
                  out_d, out_i):
    nq, P = probe.shape
    M = codebooks_t.shape[0]
    for q in nb.prange(nq):
        T = np.empty((P, M, 256), np.float32)
        b = np.empty(P, np.float32)
        lut_one_query(queries[q], centroids, codebooks_t, probe[q], metric_ip, by_residual, T, b)
        starts = offsets[probe[q]]
        ends = offsets[probe[q] + 1]
        n = scan_segments_float(codes, ids, starts, ends, T, b, out_d[q], out_i[q])
        for j in range(n, out_d.shape[1]):
            out_d[q, j] = np.inf
            out_i[q, j] = -1


@dataclass
class SearchResult:
    ids: np.ndarray  # (nq, k) int64, -1 where fewer than k candidates
    distances: np.ndarray  # (nq, k) float32, smaller is better (decoded for fixed point)
    int_distances: np.ndarray | None = None  # (nq, k) int64 hardware distances (fixed point only)
    probe: np.ndarray | None = None  # (nq, nprobe) lists scanned


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
    out_i = np.empty((nq, k), np.int64)
    args = (index.codes, index.ids, index.offsets, index.centroids, index.codebooks_t, q, probe,
            index.metric == "ip", bool(index.by_residual))
    if fmt is None:
        out_f = np.empty((nq, k), np.float32)
        _search_float(*args, out_f, out_i)
        return SearchResult(out_i, out_f, None, probe)
    fmt.check(index.M)
    out_int = np.empty((nq, k), np.int64)
    scale, offset = np.empty(nq), np.empty(nq)
    _search_fixed(*args, fmt.lut_max, fmt.dist_max, out_int, out_i, scale, offset)
    dec = (out_int * scale[:, None] + offset[:, None]).astype(np.float32)
    return SearchResult(out_i, np.where(out_i >= 0, dec, np.inf).astype(np.float32), out_int, probe)


def search(index: IVFPQIndex, queries, k: int, nprobe: int,
           fmt: LutFormat | None = DEFAULT_FORMAT) -> SearchResult:
    """Full IVF-PQ search: list selection, LUT construction, golden scan and top-K."""
    check_search_args(index, k, nprobe)
    q = check_queries(index, queries)
    probe = select_lists(index, q, nprobe)
    return scan_lists(index, q, probe, k, fmt)


def quantized_luts_for(index: IVFPQIndex, queries, probe, fmt: LutFormat = DEFAULT_FORMAT) -> QuantizedLuts:
    """The fixed-point LUTs the hardware loads for these queries and probed lists."""
    T, bias = compute_luts(index, check_queries(index, queries), np.asarray(probe, np.int64))
    return quantize_luts(T, bias, fmt)

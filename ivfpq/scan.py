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

from .fixedpoint import DEFAULT_FORMAT, LutFormat, QuantizedLuts, quantize_luts
from .index import IVFPQIndex
from .lut import check_queries, check_search_args, compute_luts, select_lists


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
def _search_fixed(codes, ids, offsets, probe, luts, biases, dist_max, out_d, out_i):
    nq, P = probe.shape
    for q in nb.prange(nq):
        starts = offsets[probe[q]]
        ends = offsets[probe[q] + 1]
        n = scan_segments_fixed(codes, ids, starts, ends, luts[q], biases[q], dist_max, out_d[q], out_i[q])
        for j in range(n, out_d.shape[1]):
            out_d[q, j] = -1
            out_i[q, j] = -1


@nb.njit(cache=True, parallel=True)
def _search_float(codes, ids, offsets, probe, luts, biases, out_d, out_i):
    nq, P = probe.shape
    for q in nb.prange(nq):
        starts = offsets[probe[q]]
        ends = offsets[probe[q] + 1]
        n = scan_segments_float(codes, ids, starts, ends, luts[q], biases[q], out_d[q], out_i[q])
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
               fmt: LutFormat | None = DEFAULT_FORMAT, batch: int = 64) -> SearchResult:
    """Scan the given probed lists of each query (the memory-node side: LUT build, scan, top-K).

    ``fmt=None`` scans with float LUTs; otherwise with the fixed-point format ``fmt``.
    """
    q = check_queries(index, queries)
    probe = np.ascontiguousarray(probe, dtype=np.int64)
    nq = q.shape[0]
    out_i = np.empty((nq, k), np.int64)
    out_f = np.empty((nq, k), np.float32)
    out_int = np.empty((nq, k), np.int64) if fmt is not None else None
    for a in range(0, nq, batch):
        b = min(nq, a + batch)
        T, bias = compute_luts(index, q[a:b], probe[a:b])
        if fmt is None:
            _search_float(index.codes, index.ids, index.offsets, probe[a:b], T, bias, out_f[a:b], out_i[a:b])
        else:
            ql = quantize_luts(T, bias, fmt)
            _search_fixed(index.codes, index.ids, index.offsets, probe[a:b], ql.lut, ql.bias,
                          fmt.dist_max, out_int[a:b], out_i[a:b])
            dec = ql.decode(out_int[a:b])
            out_f[a:b] = np.where(out_i[a:b] >= 0, dec, np.inf)
    return SearchResult(out_i, out_f, out_int, probe)


def search(index: IVFPQIndex, queries, k: int, nprobe: int,
           fmt: LutFormat | None = DEFAULT_FORMAT, batch: int = 64) -> SearchResult:
    """Full IVF-PQ search: list selection, LUT construction, golden scan and top-K."""
    check_search_args(index, k, nprobe)
    q = check_queries(index, queries)
    probe = select_lists(index, q, nprobe)
    return scan_lists(index, q, probe, k, fmt, batch)


def quantized_luts_for(index: IVFPQIndex, queries, probe, fmt: LutFormat = DEFAULT_FORMAT) -> QuantizedLuts:
    """The fixed-point LUTs the hardware loads for these queries and probed lists."""
    T, bias = compute_luts(index, check_queries(index, queries), np.asarray(probe, np.int64))
    return quantize_luts(T, bias, fmt)

"""The golden scan as it was before the fast paths (commit 4fc0327): one reference LUT per probed list
(``lut_one_query``), quantised per query (``quantize_one_query``), then scanned. Kept verbatim, single
threaded, as the oracle the fast scans must equal bit for bit (fixed point) or to float rounding (float).
"""
import numba as nb
import numpy as np


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


@nb.njit(cache=True)
def quantize_one_query(T, b, lut_max, dist_max, lut, bias):
    """Quantise one query's float LUTs T (P, M, 256) and biases b (P,) into lut (P, M, 256) int32
    and bias (P,) int64; returns (scale, offset). Float64 arithmetic in a fixed order, so every
    caller gets the same integers."""
    P, M, K = T.shape
    B = np.empty(P, np.float64)
    mins = np.empty((P, M), np.float64)
    tmax = 0.0
    for p in range(P):
        acc = np.float64(b[p])
        for m in range(M):
            mn = np.float64(T[p, m, 0])
            for k in range(1, K):
                v = np.float64(T[p, m, k])
                if v < mn:
                    mn = v
            mins[p, m] = mn
            acc += mn
            for k in range(K):
                v = np.float64(T[p, m, k]) - mn
                if v > tmax:
                    tmax = v
        B[p] = acc
    offset = B.min()
    scale = tmax / lut_max if tmax > 0 else 1.0
    for p in range(P):
        for m in range(M):
            for k in range(K):
                v = np.rint((np.float64(T[p, m, k]) - mins[p, m]) / scale)
                lut[p, m, k] = min(max(v, 0.0), lut_max)
        bias[p] = min(np.rint((B[p] - offset) / scale), dist_max)
    return scale, offset


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


@nb.njit(cache=True)
def _search_fixed(codes, ids, offsets, centroids, codebooks_t, queries, probe, metric_ip, by_residual,
                  lut_max, dist_max, out_d, out_i, out_scale, out_offset):
    """Per query: float LUTs -> fixed-point LUTs -> scan of the probed lists -> top-K."""
    nq, P = probe.shape
    M = codebooks_t.shape[0]
    for q in range(nq):
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


@nb.njit(cache=True)
def _search_float(codes, ids, offsets, centroids, codebooks_t, queries, probe, metric_ip, by_residual,
                  out_d, out_i):
    nq, P = probe.shape
    M = codebooks_t.shape[0]
    for q in range(nq):
        T = np.empty((P, M, 256), np.float32)
        b = np.empty(P, np.float32)
        lut_one_query(queries[q], centroids, codebooks_t, probe[q], metric_ip, by_residual, T, b)
        starts = offsets[probe[q]]
        ends = offsets[probe[q] + 1]
        n = scan_segments_float(codes, ids, starts, ends, T, b, out_d[q], out_i[q])
        for j in range(n, out_d.shape[1]):
            out_d[q, j] = np.inf
            out_i[q, j] = -1


def reference_scan(index, queries, probe, k, fmt=None):
    """(ids, distances) — float distances with ``fmt=None``, else (ids, int distances, scale, offset)."""
    q = np.ascontiguousarray(queries, np.float32)
    probe = np.ascontiguousarray(probe, np.int64)
    nq = q.shape[0]
    out_i = np.empty((nq, k), np.int64)
    args = (index.codes, index.ids, index.offsets, index.centroids, np.ascontiguousarray(index.codebooks.transpose(0, 2, 1)),
            q, probe, index.metric == "ip", bool(index.by_residual))
    if fmt is None:
        out_f = np.empty((nq, k), np.float32)
        _search_float(*args, out_f, out_i)
        return out_i, out_f
    out_d = np.empty((nq, k), np.int64)
    scale, offset = np.empty(nq), np.empty(nq)
    _search_fixed(*args, fmt.lut_max, fmt.dist_max, out_d, out_i, scale, offset)
    return out_i, out_d, scale, offset


def reference_luts(index, queries, probe, fmt):
    """The quantised LUTs (lut, bias, scale, offset) of every query and probed list."""
    q = np.ascontiguousarray(queries, np.float32)
    probe = np.ascontiguousarray(probe, np.int64)
    cbt = np.ascontiguousarray(index.codebooks.transpose(0, 2, 1))
    nq, P = probe.shape
    lut = np.empty((nq, P, index.M, 256), np.int32)
    bias = np.empty((nq, P), np.int64)
    scale, offset = np.empty(nq), np.empty(nq)
    for i in range(nq):
        T = np.empty((P, index.M, 256), np.float32)
        b = np.empty(P, np.float32)
        lut_one_query(q[i], index.centroids, cbt, probe[i], index.metric == "ip", bool(index.by_residual), T, b)
        scale[i], offset[i] = quantize_one_query(T, b, fmt.lut_max, fmt.dist_max, lut[i], bias[i])
    return lut, bias, scale, offset

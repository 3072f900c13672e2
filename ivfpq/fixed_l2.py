"""Fixed-point scan of by-residual L2 lists from faiss's precomputed tables, with the reference's integers.

The reference (contract 1, :mod:`ivfpq.fixedpoint`) quantises the float32 LUT of
:func:`ivfpq.lut.lut_one_query`, whose M*256*dsub multiply-adds per list cost more than the scan.
The decomposition of :mod:`ivfpq.precomputed` costs M*256 additions but rounds differently, so
rounding its sum could give other integers. This module gets the reference's integers from it.

Every entry of the approximate LUT (``term1 + term2 + R`` in float32) is within its column's proven
bound E of the reference's entry (:func:`ivfpq.precomputed.column_error_bound`), so a column's
reference minimum ``mn`` lies within E of the approximate minimum. From these intervals:

- the scale (the reference's ``max(T - mn)``) needs exact values only for the columns and entries
  whose interval reaches the largest lower bound;
- the offset (``min_p B[p]``, ``B[p] = sum_m mn``) needs exact minima only for the lists whose
  interval of B reaches the smallest upper bound, and a bias ``rint((B[p] - offset) / scale)`` only
  when its interval straddles a rounding edge;
- an entry's integer ``rint((T - mn) / scale)`` needs exact values only when a half-integer lies
  within the interval of its x.

An exact column minimum (:func:`resolve_columns`) is the least reference entry among those within 2E
of the approximate minimum — nearly always one entry, computed with :func:`ivfpq.lut.l2_entry_qc`.
The scan (:func:`scan_query`) turns a code's float sum into a lower bound on its integer distance and
gives exact integers only to the codes that bound does not exclude from the top-k. Every integer that
decides the result — scale, offset, biases, LUT entries, distances — is the reference's, bit for bit.

Per query, two passes over the probed lists: :func:`approx_lists` writes each list's approximate LUT
and tracks its column minima and maxima in the same loop (as int32 bits, :func:`ivfpq.llvm_ops.f32_bits`);
the LUTs are kept for the scan while the probed lists' fit in :data:`KEEP_BYTES` (at d = 128, M = 16: up
to nprobe 32), so the scan reads them from L2 instead of rebuilding them from term1 (beyond that size,
keeping them measured slower than rebuilding each in L1). The scan filters a list's rows by their float
sums against the integer top-k, whole sums eight rows at a time, or with a cut after half the entries
when a typical row of the list is out by then (:func:`filter_rows`, :func:`filter_rows_cut`); the first
list scanned, before there is a top-k, is bounded by its own k-th least float sum. A single
pass that filters before the scale exists (a margin for the unknown scale, candidates kept until it is
known) was measured and lost to this scan (about 40 vs 36 us/query at nprobe 16): its margin for the
unknown scale left ~170 rows per query for exact integers.

numba note: a call passing an array costs two atomic reference-count updates per array, so the loops
over lists, columns and codes live inside the per-query functions and only rare paths call out.
"""
from __future__ import annotations

import numba as nb
import numpy as np

from .llvm_ops import f32_bits
from .lut import l2_entry_qc
from .precomputed import U32, column_error_bound, query_term2, query_term2_bounds

SLACK = 1.0 + 8 * U32  # on E wherever a comparison with it is itself rounded
KEEP_BYTES = 1 << 19  # the probed lists' approximate LUTs are kept from pass 1 to the scan up to this size


@nb.njit(cache=True)
def scratch(P, M, longest):
    """Per-query work arrays, allocated once per thread and reused for every query (``longest``: the
    most codes one list holds)."""
    return (np.empty((M, 256), np.float32), np.empty(M), np.empty(M),  # term2, max|term2|, ||q_m||
            np.empty((P, M), np.float32), np.empty((P, M)),  # R (float32), E per column
            np.empty((P, M), np.float32), np.empty((P, M), np.float32),  # approximate column min, max
            np.empty((P, M)), np.zeros((P, M), np.bool_),  # exact column minima, and which are known
            np.empty((6, P)),  # per list: bounds of B (both B once exact), max|entry|, sum E, rest, mid (scan_query)
            # one list's approximate LUT; every probed list's (P, M, 256) when they fit in KEEP_BYTES (the scan
            # then reads them from L2 instead of rebuilding them; else (0, M, 256)); one column
            np.empty((M, 256), np.float32), np.empty((P if P * M * 256 * 4 <= KEEP_BYTES else 0, M, 256), np.float32),
            np.empty(256, np.float32),
            np.arange(256).astype(np.int32), np.empty(M, np.float32), np.empty(M, np.float32),  # iota, mn, edge
            np.empty(max(longest, 1), np.int64), np.empty(max(longest, 1), np.float32))  # a list's candidates


@nb.njit(cache=True)
def approx_lists(q, centroids, probe_row, term1, t1_absmax, c_norm, cw_norm, t2, t2_absmax, q_norm, R32, E, cmin,
                 cmax, known, B, T, Tall):
    """Pass 1 over the probed lists: per column R, the error bound E, the approximate minimum and
    maximum of ``T = (term1 + term2) + R`` (float32, the arithmetic every rebuild of T repeats), and
    per list the interval of B. Returns False when a sum is not finite."""
    P, M = E.shape
    dsub = q.shape[0] // M
    min_bits = cmin.view(np.int32)
    max_bits = cmax.view(np.int32)
    for p in range(P):
        l = probe_row[p]
        for m in range(M):  # every column's R first: short independent chains the CPU overlaps
            R = 0.0
            for s in range(dsub):
                x = np.float64(q[m * dsub + s]) - np.float64(centroids[l, m * dsub + s])
                R += x * x
            E[p, m] = R
        for m in range(M):
            R32[p, m] = E[p, m]
            E[p, m] = column_error_bound(E[p, m], t1_absmax[l, m], t2_absmax[m], q_norm[m], c_norm[l, m], cw_norm[m],
                                         dsub)
        Tp = Tall[p] if Tall.shape[0] == P else T
        for m in range(M):
            R32_pm = R32[p, m]
            # non-negative float32s order like their bits as int32, and integer min/max vectorise
            # (float ones do not in numba), in the loop that writes the column (no second pass over
            # it); a column with a negative entry takes the float loop
            lo = np.int32(0x7FFFFFFF)
            hi = np.int32(-0x80000000)
            for k in range(256):
                v = (term1[l, m, k] + t2[m, k]) + R32_pm
                Tp[m, k] = v
                lo = min(lo, f32_bits(v))
                hi = max(hi, f32_bits(v))
            if lo >= 0:
                min_bits[p, m] = lo
                max_bits[p, m] = hi
            else:
                cmin[p, m] = Tp[m].min()
                cmax[p, m] = Tp[m].max()
        lo_sum = 0.0
        hi_sum = 0.0
        size = 0.0
        amax = 0.0
        rest = 0.0
        mid = 0.0
        for m in range(M):
            known[p, m] = False
            if m < M // 2:
                mid += 0.5 * (np.float64(cmin[p, m]) + np.float64(cmax[p, m]))
            else:
                rest += np.float64(cmin[p, m])
            lo_sum += np.float64(cmin[p, m]) - E[p, m]
            hi_sum += np.float64(cmin[p, m]) + E[p, m]
            size += abs(np.float64(cmin[p, m])) + abs(np.float64(cmax[p, m])) + E[p, m]
            amax = max(amax, abs(np.float64(cmin[p, m])), abs(np.float64(cmax[p, m])))
        if not np.isfinite(size):
            return False
        # B = the reference's float64 sum of minima each within E of cmin, plus its rounding and ours
        B[0, p] = lo_sum - 2.0 ** -40 * size
        B[1, p] = hi_sum + 2.0 ** -40 * size
        B[2, p] = amax  # what scan_query needs per list, gathered here where the columns are at hand
        B[3, p] = hi_sum - lo_sum
        B[4, p] = rest  # the least a code's second half adds
        B[5, p] = mid  # a code's first half, if its entries were spread evenly: a guess at a typical one
    return True


@nb.njit(cache=True)
def resolve_columns(q, c, codebooks_t, t1_l, t2, R32, E, cmin, mins, known, col, iota, m_lo, m_hi, Tl, have_T):
    """The reference's minimum (float32 value) of each not yet known column m_lo..m_hi-1 of one list
    (rows R32, E, cmin, mins, known of that list): the least reference entry among those within 2E of
    the approximate minimum (+E/2 for rounding the limit to float32; E >= 16 u |cmin|). The list's
    approximate LUT is read from Tl when ``have_T``, else rebuilt column by column into col."""
    for m in range(m_lo, m_hi):
        if known[m]:
            continue
        if have_T:
            src = Tl[m]
        else:
            src = col
            R32_m = R32[m]
            for k in range(256):
                col[k] = (t1_l[m, k] + t2[m, k]) + R32_m
        lim = np.float32(np.float64(cmin[m]) + 2.5 * E[m])
        n = np.int32(0)
        at = np.int32(0)
        for k in range(256):  # int32 throughout (numba widens int32 arithmetic unless told): vectorises
            hit = np.int32(src[k] <= lim)
            n = np.int32(n + hit)
            at = np.int32(at + (iota[k] & np.int32(-hit)))
        if n == 1:
            best = l2_entry_qc(q, c, codebooks_t, m, at)
        else:
            best = np.float32(np.inf)
            for k in range(256):
                if src[k] <= lim:
                    best = min(best, l2_entry_qc(q, c, codebooks_t, m, k))
        mins[m] = best
        known[m] = True


@nb.njit(cache=True)
def exact_B(q, c, codebooks_t, t1_l, t2, R32, E, cmin, mins, known, col, iota, B, p, Tall):
    """The reference's ``B[p] = sum_m mn`` (float64, in order; b = 0 for L2); B's interval becomes it."""
    kept = Tall.shape[0] == E.shape[0]
    resolve_columns(q, c, codebooks_t, t1_l, t2, R32[p], E[p], cmin[p], mins[p], known[p], col, iota, 0, E.shape[1],
                    Tall[p] if kept else col.reshape(1, 256), kept)
    acc = 0.0
    for m in range(E.shape[1]):
        acc += mins[p, m]
    B[0, p] = acc
    B[1, p] = acc
    return acc


@nb.njit(cache=True)
def exact_tmax(q, centroids, codebooks_t, probe_row, term1, t2, R32, E, cmin, cmax, mins, known, col, iota, Tall):
    """The reference's ``max(T - mn)`` over all probed lists (float64): only columns whose interval
    reaches the largest lower bound are looked at, and in them only the entries that could hold it."""
    P, M = E.shape
    kept = Tall.shape[0] == P
    low = 0.0  # a lower bound on the maximum: max_k T - mn >= (cmax - E) - (cmin + E)
    for p in range(P):
        for m in range(M):
            low = max(low, np.float64(cmax[p, m]) - np.float64(cmin[p, m]) - 2.0 * E[p, m] * SLACK)
    tmax = 0.0
    for p in range(P):
        l = probe_row[p]
        for m in range(M):
            if np.float64(cmax[p, m]) - np.float64(cmin[p, m]) + 2.0 * E[p, m] * SLACK < low:
                continue
            resolve_columns(q, centroids[l], codebooks_t, term1[l], t2, R32[p], E[p], cmin[p], mins[p], known[p], col,
                            iota, m, m + 1, Tall[p] if kept else col.reshape(1, 256), kept)
            mn = mins[p, m]
            lim = low + mn - E[p, m] * SLACK
            if kept:
                src = Tall[p, m]
            else:
                src = col
                R32_pm = R32[p, m]
                for k in range(256):
                    col[k] = (term1[l, m, k] + t2[m, k]) + R32_pm
            for k in range(256):
                if src[k] >= lim:
                    tmax = max(tmax, np.float64(l2_entry_qc(q, centroids[l], codebooks_t, m, k)) - mn)
    return tmax


@nb.njit(cache=True)
def prepare_query(q, offsets, centroids, codebooks_t, probe_row, term1, t1_absmax, c_norm, cw_norm, lut_max,
                  dist_max, work, bias, all_biases):
    """Approximate columns, exact scale and offset, and the biases (P,) of the non-empty lists (of all
    with ``all_biases``); returns (scale, offset), or (nan, nan) when the sums are not finite (the
    caller then uses the reference path)."""
    t2, t2_absmax, q_norm, R32, E, cmin, cmax, mins, known, B, T, Tall, col, iota, mn32, edge, rows, sums = work
    P, M = E.shape
    query_term2(q, codebooks_t, t2)
    query_term2_bounds(q, t2, t2_absmax, q_norm)
    if not approx_lists(q, centroids, probe_row, term1, t1_absmax, c_norm, cw_norm, t2, t2_absmax, q_norm, R32, E,
                        cmin, cmax, known, B, T, Tall):
        return np.nan, np.nan
    tmax = exact_tmax(q, centroids, codebooks_t, probe_row, term1, t2, R32, E, cmin, cmax, mins, known, col, iota, Tall)
    scale = tmax / lut_max if tmax > 0 else 1.0
    low_hi = B[1].min()
    offset = np.inf
    for p in range(P):  # offset = min_p B[p]: only lists whose interval reaches the least upper bound
        if B[0, p] <= low_hi:
            l = probe_row[p]
            offset = min(offset, exact_B(q, centroids[l], codebooks_t, term1[l], t2, R32, E, cmin, mins, known, col,
                                         iota, B, p, Tall))
    for p in range(P):  # bias = min(rint((B - offset) / scale), dist_max): exact B only near an edge
        l = probe_row[p]
        if not (all_biases or offsets[l + 1] > offsets[l]):
            continue
        x_lo = (B[0, p] - offset) / scale
        x_hi = (B[1, p] - offset) / scale
        eps = 2.0 ** -40 * (abs(x_lo) + abs(x_hi) + 1.0)  # the reference's own two float64 roundings
        a, b = x_lo - eps, x_hi + eps
        na, nb_ = np.rint(a), np.rint(b)
        if a > dist_max - 0.5:
            bias[p] = dist_max
        elif na == nb_ and abs(a - na) < 0.5 and abs(b - nb_) < 0.5:
            bias[p] = min(na, dist_max)
        else:
            x = (exact_B(q, centroids[l], codebooks_t, term1[l], t2, R32, E, cmin, mins, known, col, iota, B, p, Tall)
                 - offset) / scale
            bias[p] = min(np.rint(x), dist_max)
    return scale, offset


@nb.njit(cache=True, inline="always")
def edge_of(E, cmin, cmax, mn, known, scale):
    """(mn32, edge) of one column: the minimum to subtract (exact, else approximate) and the edge such
    that ``|x - rint(x)| < edge`` for ``x = (T - mn32) * fl32(1/scale)`` in float32 makes ``rint(x)``
    the reference's integer: x is within (E, plus E more while mn is approximate) / scale of the
    reference's value, plus 3 float32 roundings (subtraction, 1/scale, product) of |x| <= xmax."""
    if not known:
        mn = np.float64(cmin)
    err = E if known else 2.0 * E
    xmax = (np.float64(cmax) - mn + err) / scale
    margin = err / scale * (1.0 + 8 * U32) + 4 * U32 * (abs(xmax) + 1.0) + 2.0 ** -30
    return np.float32(mn), np.float32(0.5 - margin)


@nb.njit(cache=True, inline="always")
def sure_int(tv, mn32, inv, edge, top):
    """The reference's integer for an entry whose approximate value is tv (clamped to [0, top]), or -1
    when the bound does not decide it (scalars only, for the scan loop)."""
    x = (tv - mn32) * inv
    n = np.rint(x)
    if abs(x - n) < edge:
        return min(max(n, np.float32(0.0)), top)
    return np.float32(-1.0)


@nb.njit(cache=True)
def exact_int(q, c, codebooks_t, t1_l, t2, R32, E, cmin, cmax, mins, known, col, iota, T, mn32, edge, m, k, scale,
              lut_max):
    """The reference's integer for entry (m, k) of one list (rows R32..known of it), where the bound
    alone did not decide it: with the exact minimum (updating the list's edges), else the exact entry."""
    if not known[m]:
        resolve_columns(q, c, codebooks_t, t1_l, t2, R32, E, cmin, mins, known, col, iota, m, m + 1, T, True)
        mn32[m], edge[m] = edge_of(E[m], cmin[m], cmax[m], mins[m], True, scale)
        v = sure_int(T[m, k], mn32[m], np.float32(1.0 / scale), edge[m], np.float32(lut_max))
        if v >= 0:
            return v
    t = l2_entry_qc(q, c, codebooks_t, m, k)
    v = np.rint((np.float64(t) - mins[m]) / scale)  # fixedpoint.quantize_one_query's arithmetic
    return min(max(v, 0.0), lut_max)


@nb.njit(cache=True)
def filter_rows(codes, a, b, T, bias, limit, rows, sums):
    """The rows of [a, b) whose float32 distance ``S + bias`` (S: the sum of the row's LUT entries, in
    order m = 0, 1, ...; then the bias, as faiss adds it) is <= limit: their indices and distances; returns
    how many. The fixed-point scan passes bias 0 (adding +0.0 changes no sum); the float scan its list's
    bias. Eight rows at a time (independent chains the CPU overlaps: 8 measured ~5 % faster than 4; two
    chains per row or codes read as 64-bit words measured slower, as did cutting a row after half its
    entries), written out: a helper taking the arrays would cost reference counting per call; kept small
    and separate, as inside the big scan function register pressure doubles the cost of this loop."""
    M = codes.shape[1]
    n = 0
    row = a
    while row + 8 <= b:
        s0 = np.float32(0.0)
        s1 = np.float32(0.0)
        s2 = np.float32(0.0)
        s3 = np.float32(0.0)
        s4 = np.float32(0.0)
        s5 = np.float32(0.0)
        s6 = np.float32(0.0)
        s7 = np.float32(0.0)
        for m in range(M):
            s0 += T[m, codes[row, m]]
            s1 += T[m, codes[row + 1, m]]
            s2 += T[m, codes[row + 2, m]]
            s3 += T[m, codes[row + 3, m]]
            s4 += T[m, codes[row + 4, m]]
            s5 += T[m, codes[row + 5, m]]
            s6 += T[m, codes[row + 6, m]]
            s7 += T[m, codes[row + 7, m]]
        s0 += bias
        s1 += bias
        s2 += bias
        s3 += bias
        s4 += bias
        s5 += bias
        s6 += bias
        s7 += bias
        if s0 <= limit:
            rows[n], sums[n], n = row, s0, n + 1
        if s1 <= limit:
            rows[n], sums[n], n = row + 1, s1, n + 1
        if s2 <= limit:
            rows[n], sums[n], n = row + 2, s2, n + 1
        if s3 <= limit:
            rows[n], sums[n], n = row + 3, s3, n + 1
        if s4 <= limit:
            rows[n], sums[n], n = row + 4, s4, n + 1
        if s5 <= limit:
            rows[n], sums[n], n = row + 5, s5, n + 1
        if s6 <= limit:
            rows[n], sums[n], n = row + 6, s6, n + 1
        if s7 <= limit:
            rows[n], sums[n], n = row + 7, s7, n + 1
        row += 8
    for r in range(row, b):
        S = np.float32(0.0)
        for m in range(M):
            S += T[m, codes[r, m]]
        S += bias
        if S <= limit:
            rows[n], sums[n], n = r, S, n + 1
    return n


@nb.njit(cache=True)
def kth_least(sums, found, k, out):
    """The k-th least of sums[:found] (k <= found, k <= len(out)), by insertion into out[:k]."""
    c = 0
    for j in range(found):
        v = sums[j]
        if c == k:
            if v >= out[k - 1]:
                continue
            pos = k - 1
        else:
            pos = c
            c += 1
        while pos > 0 and out[pos - 1] > v:
            out[pos] = out[pos - 1]
            pos -= 1
        out[pos] = v
    return out[k - 1]


@nb.njit(cache=True)
def filter_rows_cut(codes, a, b, T, limit, rest, rows, sums):
    """:func:`filter_rows` for a list whose rows mostly exceed the limit: a row whose first half alone
    exceeds ``limit - rest`` (rest: the least the other half can add) is dropped early. Four rows at a
    time; the branches cost more than they save when many rows pass (measured)."""
    M = codes.shape[1]
    half = M // 2
    cut = limit - rest
    n = 0
    row = a
    while row + 4 <= b:
        s0 = np.float32(0.0)
        s1 = np.float32(0.0)
        s2 = np.float32(0.0)
        s3 = np.float32(0.0)
        for m in range(half):
            s0 += T[m, codes[row, m]]
            s1 += T[m, codes[row + 1, m]]
            s2 += T[m, codes[row + 2, m]]
            s3 += T[m, codes[row + 3, m]]
        if s0 <= cut:
            for m in range(half, M):
                s0 += T[m, codes[row, m]]
            if s0 <= limit:
                rows[n], sums[n], n = row, s0, n + 1
        if s1 <= cut:
            for m in range(half, M):
                s1 += T[m, codes[row + 1, m]]
            if s1 <= limit:
                rows[n], sums[n], n = row + 1, s1, n + 1
        if s2 <= cut:
            for m in range(half, M):
                s2 += T[m, codes[row + 2, m]]
            if s2 <= limit:
                rows[n], sums[n], n = row + 2, s2, n + 1
        if s3 <= cut:
            for m in range(half, M):
                s3 += T[m, codes[row + 3, m]]
            if s3 <= limit:
                rows[n], sums[n], n = row + 3, s3, n + 1
        row += 4
    for r in range(row, b):
        S = np.float32(0.0)
        for m in range(M):
            S += T[m, codes[r, m]]
        if S <= limit:
            rows[n], sums[n], n = r, S, n + 1
    return n


@nb.njit(cache=True)
def scan_query(q, codes, ids, offsets, centroids, codebooks_t, probe_row, term1, work, bias, scale, lut_max, dist_max,
               top_d, top_i):
    """Scan every probed list with its approximate LUT (kept from pass 1 when they fit, else rebuilt).

    A code's integer distance is ``min(bias + sum_m q_m, dist_max)`` with
    ``q_m >= (T_m - mn_m) / scale - 1/2``, ``|T_m - Tq_m| <= E_m`` and ``sum_m mn_m <= B_hi``, so with S
    the float32 sum of its approximate entries (error <= (M-1) u M max|Tq|, in any order) it is at least
    ``bias + (S - err - sum_m E_m - B_hi) / scale - M/2``: a code whose S exceeds ``limit`` cannot
    enter the top-k and is skipped; the others get their exact integers. Returns how many were filled.
    """
    t2, t2_absmax, q_norm, R32, E, cmin, cmax, mins, known, B, T, Tall, col, iota, mn32, edge, rows, sums = work
    k = top_d.shape[0]
    P, M = E.shape
    inv = np.float32(1.0 / scale)
    top = np.float32(lut_max)
    n = 0
    for p in range(P):
        l = probe_row[p]
        if offsets[l + 1] == offsets[l]:
            continue
        # every entry is >= 0, so no code of list p is nearer than its bias: skip the whole list
        if n == k and top_d[k - 1] < dist_max and bias[p] > top_d[k - 1]:
            continue
        if Tall.shape[0] == P:
            Tp = Tall[p]
        else:
            Tp = T
            for m in range(M):
                R32_pm = R32[p, m]
                for kk in range(256):
                    Tp[m, kk] = (term1[l, m, kk] + t2[m, kk]) + R32_pm
        amax, sum_e = B[2, p], 0.5 * B[3, p] * SLACK
        # float32 sum error, E terms, M/2 roundings; 2^-30 relative covers the float64 arithmetic here
        slack = (M * M * U32 * amax * 1.01 + sum_e + 0.5 * M * scale) * (1.0 + 2.0 ** -30) \
            + 2.0 ** -30 * (abs(B[1, p]) + M * amax + scale * (dist_max + M))
        limit = np.inf
        if n == k and top_d[k - 1] < dist_max:  # saturated distances tie at dist_max: no code is excluded
            limit = (top_d[k - 1] - bias[p]) * scale + B[1, p] + slack
        if B[5, p] > limit - B[4, p]:  # most rows are likely out after half their entries
            found = filter_rows_cut(codes, offsets[l], offsets[l + 1], Tp, limit, B[4, p], rows, sums)
        else:
            found = filter_rows(codes, offsets[l], offsets[l + 1], Tp, np.float32(0.0), limit, rows, sums)
        if n == 0 and found > k and k <= col.shape[0]:
            # the first scanned list: its k least sums bound the k-th best distance from above, since
            # D <= bias + (S + slack - B_lo) / scale for every code (the bound above, from the other
            # side); a code whose lower bound exceeds that upper bound cannot enter the top-k
            s_k = np.float64(kth_least(sums, found, k, col))
            if bias[p] + (s_k + slack - B[0, p]) / scale * (1.0 + 2.0 ** -30) < dist_max:
                limit = s_k + 2.0 * slack + (B[1, p] - B[0, p])
        ready = False
        for j in range(found):
            if sums[j] > limit:  # the limit has tightened since the row was kept
                continue
            if not ready:
                for m in range(M):
                    mn32[m], edge[m] = edge_of(E[p, m], cmin[p, m], cmax[p, m], mins[p, m], known[p, m], scale)
                ready = True
            row = rows[j]
            for m in range(M):  # gathered first, so the rounding below runs as vector code
                col[m] = Tp[m, codes[row, m]]
            total = 0
            unsure = np.int32(0)
            for m in range(M):
                x = (col[m] - mn32[m]) * inv
                nr = np.rint(x)
                unsure = np.int32(unsure + np.int32(abs(x - nr) >= edge[m]))
                total += np.int64(min(max(nr, np.float32(0.0)), top))
            acc = bias[p] + total
            if unsure:
                acc = bias[p]
                for m in range(M):
                    v = sure_int(Tp[m, codes[row, m]], mn32[m], inv, edge[m], top)
                    if v < 0:
                        v = exact_int(q, centroids[l], codebooks_t, term1[l], t2, R32[p], E[p], cmin[p], cmax[p],
                                      mins[p], known[p], col, iota, Tp, mn32, edge, m, codes[row, m], scale, lut_max)
                    acc += np.int64(v)
            if acc > dist_max:
                acc = dist_max
            i = ids[row]  # topk.insert, written out: a call passing arrays costs atomics per code
            if n == k:
                if acc > top_d[k - 1] or (acc == top_d[k - 1] and i >= top_i[k - 1]):
                    continue
                pos = k - 1
            else:
                pos = n
                n += 1
            while pos > 0 and (top_d[pos - 1] > acc or (top_d[pos - 1] == acc and top_i[pos - 1] > i)):
                top_d[pos] = top_d[pos - 1]
                top_i[pos] = top_i[pos - 1]
                pos -= 1
            top_d[pos] = acc
            top_i[pos] = i
            if n == k and top_d[k - 1] < dist_max:
                limit = (top_d[k - 1] - bias[p]) * scale + B[1, p] + slack
    return n


@nb.njit(cache=True)
def search_one_query(q, codes, ids, offsets, centroids, codebooks_t, probe_row, term1, t1_absmax, c_norm, cw_norm,
                     lut_max, dist_max, work, bias, top_d, top_i):
    """Fixed-point top-k of one query over its probed lists; returns (filled, scale, offset), or
    (-1, nan, nan) when the approximation is not finite and the caller must use the reference path."""
    scale, offset = prepare_query(q, offsets, centroids, codebooks_t, probe_row, term1, t1_absmax, c_norm, cw_norm,
                                  lut_max, dist_max, work, bias, False)
    if not np.isfinite(scale):
        return -1, scale, offset
    n = scan_query(q, codes, ids, offsets, centroids, codebooks_t, probe_row, term1, work, bias, scale, lut_max,
                   dist_max, top_d, top_i)
    return n, scale, offset


@nb.njit(cache=True)
def luts_one_query(q, offsets, centroids, codebooks_t, probe_row, term1, t1_absmax, c_norm, cw_norm, lut_max,
                   dist_max, work, lut_out, bias_out):
    """The whole quantised LUTs (P, M, 256) and biases of one query, as the hardware loads them;
    returns (scale, offset), or (nan, nan) as :func:`search_one_query`."""
    scale, offset = prepare_query(q, offsets, centroids, codebooks_t, probe_row, term1, t1_absmax, c_norm, cw_norm,
                                  lut_max, dist_max, work, bias_out, True)
    if not np.isfinite(scale):
        return scale, offset
    t2, t2_absmax, q_norm, R32, E, cmin, cmax, mins, known, B, T, Tall, col, iota, mn32, edge, rows, sums = work
    inv = np.float32(1.0 / scale)
    top = np.float32(lut_max)
    P, M = E.shape
    for p in range(P):
        l = probe_row[p]
        if Tall.shape[0] == P:
            Tp = Tall[p]
        else:
            Tp = T
            for m in range(M):
                R32_pm = R32[p, m]
                for k in range(256):
                    Tp[m, k] = (term1[l, m, k] + t2[m, k]) + R32_pm
        for m in range(M):
            mn32[m], edge[m] = edge_of(E[p, m], cmin[p, m], cmax[p, m], mins[p, m], known[p, m], scale)
        for m in range(M):
            for k in range(256):
                v = sure_int(Tp[m, k], mn32[m], inv, edge[m], top)
                if v < 0:
                    v = exact_int(q, centroids[l], codebooks_t, term1[l], t2, R32[p], E[p], cmin[p], cmax[p], mins[p],
                                  known[p], col, iota, Tp, mn32, edge, m, k, scale, lut_max)
                lut_out[p, m, k] = np.int32(v)
    return scale, offset

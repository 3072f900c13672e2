"""Stage breakdown of the golden scan (by-residual L2, fixed point and float) next to faiss's total.

numba code cannot be profiled from Python, so each stage is timed as the difference between a run
that stops after it and a run that stops before it, all in process CPU time (best of ``repeat``):

- ``select``: the nprobe nearest centroids (faiss flat search, as faiss's own IVF search does);
- ``term2``: -2<q_m, C_mk> once per query (:func:`ivfpq.precomputed.query_term2`) and its bounds;
- ``approx_luts``: pass 1 over the probed lists: term1 + term2 + R with column minima and maxima, the
  LUTs kept for the scan while they fit (:data:`ivfpq.fixed_l2.KEEP_BYTES`);
- ``exact_scale_offset_bias``: the reference's scale, offset and biases from the intervals;
- ``scan``: each list's LUT (kept, else rebuilt), filter, exact integers for the codes that pass, top-k;
- ``golden_fixed`` / ``golden_float``: :func:`ivfpq.scan.scan_lists` end to end (no selection);
- ``faiss``: ``IndexIVFPQ.search`` end to end (selection included);
- ``float_luts``: the float path's LUTs alone (term2 once, then per list ``||r||^2`` and term1 + term2 into
  one L1-resident table, as :func:`ivfpq.scan._float_one_query` builds them), and ``float_scan`` =
  ``golden_float - float_luts``.

The float path beats faiss, so the fixed path's gap is what it does beyond the float path, in three
parts (``fixed_minus_float`` = their sum): ``extra_luts`` = term2 + approx_luts - float_luts (column
minima and maxima, error bounds, and every probed list's LUT kept in L2 instead of one table in L1),
``exact_scale_offset_bias``, and ``extra_scan`` = scan - float_scan (filtering against the integer
top-k from the kept LUTs, exact integers for the codes that pass).
"""
from __future__ import annotations

import time

import numba as nb
import numpy as np

from ivfpq.fixed_l2 import approx_lists, prepare_query, scratch, search_one_query
from ivfpq.precomputed import query_term2, query_term2_bounds


@nb.njit(cache=True)
def _stages(stage, queries, codes, ids, offsets, centroids, codebooks_t, probe, term1, t1_absmax, c_norm, cw_norm,
            lut_max, dist_max, k):
    nq, P = probe.shape
    M = codebooks_t.shape[0]
    longest = 0
    for l in range(offsets.shape[0] - 1):
        longest = max(longest, offsets[l + 1] - offsets[l])
    work = scratch(P, M, longest)
    t2, t2_absmax, q_norm, R32, E, cmin, cmax, mins, known, B, T, Tall, col, iota, mn32, edge, rows, sums = work
    bias = np.empty(P, np.int64)
    top_d = np.empty(k, np.int64)
    top_i = np.empty(k, np.int64)
    for i in range(nq):
        q = queries[i]
        if stage <= 1:
            query_term2(q, codebooks_t, t2)
            query_term2_bounds(q, t2, t2_absmax, q_norm)
            if stage == 1:
                approx_lists(q, centroids, probe[i], term1, t1_absmax, c_norm, cw_norm, t2, t2_absmax, q_norm, R32,
                             E, cmin, cmax, known, B, T, Tall)
        elif stage == 2:
            prepare_query(q, offsets, centroids, codebooks_t, probe[i], term1, t1_absmax, c_norm, cw_norm, lut_max,
                          dist_max, work, bias, False)
        else:
            search_one_query(q, codes, ids, offsets, centroids, codebooks_t, probe[i], term1, t1_absmax, c_norm,
                             cw_norm, lut_max, dist_max, work, bias, top_d, top_i)
    return 0


@nb.njit(cache=True)
def _float_luts(queries, centroids, codebooks_t, probe, term1):
    """The float path's LUT work per query, without its scan (timing only; the arithmetic of
    :func:`ivfpq.scan._float_one_query`'s L2_TABLES branch)."""
    M = codebooks_t.shape[0]
    T = np.empty((M, 256), np.float32)
    t2 = np.empty((M, 256), np.float32)
    r = np.empty(queries.shape[1], np.float32)
    check = np.float32(0.0)
    for i in range(queries.shape[0]):
        q = queries[i]
        query_term2(q, codebooks_t, t2)
        for p in range(probe.shape[1]):
            l = probe[i, p]
            bias = np.float32(0.0)
            for j in range(q.shape[0]):
                r[j] = q[j] - centroids[l, j]
                bias += r[j] * r[j]
            for m in range(M):
                for k in range(256):
                    T[m, k] = term1[l, m, k] + t2[m, k]
            check += T[0, 0] + bias  # keeps the tables live
    return check


def _cpu(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        c0 = time.process_time()
        fn()
        best = min(best, time.process_time() - c0)
    return best


def profile(index, queries, nprobes=(1, 4, 16, 64), k: int = 10, threads: int = 1, repeat: int = 3,
            fmt=None) -> dict:
    from ivfpq.faiss_io import to_faiss
    from ivfpq.fixedpoint import DEFAULT_FORMAT
    from ivfpq.lut import select_lists
    from ivfpq.precomputed import l2_tables
    from ivfpq.scan import scan_lists
    from ivfpq.threads import set_threads

    if index.metric != "l2" or not index.by_residual or l2_tables(index) is None:
        return {"rows": [], "note": "the stage breakdown covers by-residual L2 indexes with precomputed tables"}
    set_threads(threads)
    fmt = fmt or DEFAULT_FORMAT
    tb = l2_tables(index)
    q = np.ascontiguousarray(queries, np.float32)
    fi = to_faiss(index)
    rows = []
    for nprobe in nprobes:
        fi.nprobe = nprobe
        probe = select_lists(index, q, nprobe)
        args = (q, index.codes, index.ids, index.offsets, index.centroids, index.codebooks_t, probe, tb.term1,
                tb.term1_absmax, tb.centroid_norm, tb.codeword_norm, fmt.lut_max, fmt.dist_max, k)
        for stage in range(4):  # compile outside the timing
            _stages(stage, *[a[:2] if j in (0, 6) else a for j, a in enumerate(args)])
        scan_lists(index, q[:2], probe[:2], k, fmt)
        scan_lists(index, q[:2], probe[:2], k, None)
        float_args = (q, index.centroids, index.codebooks_t, probe, tb.term1)
        _float_luts(*[a[:2] if j in (0, 3) else a for j, a in enumerate(float_args)])
        t = [_cpu(lambda: _stages(s, *args), repeat) for s in range(4)]
        us = 1e6 / len(q)
        row = {"nprobe": nprobe, "select": _cpu(lambda: select_lists(index, q, nprobe), repeat) * us,
               "term2": t[0] * us, "approx_luts": (t[1] - t[0]) * us,
               "exact_scale_offset_bias": (t[2] - t[1]) * us, "scan": (t[3] - t[2]) * us,
               "golden_fixed": _cpu(lambda: scan_lists(index, q, probe, k, fmt), repeat) * us,
               "golden_float": _cpu(lambda: scan_lists(index, q, probe, k, None), repeat) * us,
               "float_luts": _cpu(lambda: _float_luts(*float_args), repeat) * us,
               "faiss": _cpu(lambda: fi.search(q, k), repeat) * us}
        row["float_scan"] = row["golden_float"] - row["float_luts"]
        row["extra_luts"] = row["term2"] + row["approx_luts"] - row["float_luts"]
        row["extra_scan"] = row["scan"] - row["float_scan"]
        row["fixed_minus_float"] = row["extra_luts"] + row["exact_scale_offset_bias"] + row["extra_scan"]
        rows.append(row)
    return {"rows": rows, "unit": "us/query, process CPU time (measured)"}

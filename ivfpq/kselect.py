"""Golden model of the scan hardware's K-selection (the RTL in ``rtl/`` agrees bit for bit).

The hardware (Chameleon's hierarchical priority queue) streams a query's codes in *beats* of U
codes; every probed list (segment) starts a fresh beat, so code ``r`` of segment ``[start, end)``
goes to lane ``(r - start) % U``. Lane u feeds distance unit u, whose level-1 queue keeps the
``l1`` smallest candidates it saw; the merge stage returns the ``k`` smallest of the union of the U
level-1 queues. Candidates are ordered by ``(dist, id)`` (:mod:`ivfpq.fixedpoint`), a total order,
so the result does not depend on the order codes arrive in. With ``l1 >= k`` this is exactly the
top-k of :func:`ivfpq.scan.scan_segments_fixed`; with ``l1 < k`` it may miss candidates when more
than ``l1`` of the true top-k land on one lane (the approximation Chameleon bounds).

Missing results (fewer candidates kept than k) are distance -1, id -1, as in :mod:`ivfpq.scan`.
"""
from __future__ import annotations

import numpy as np

from .errors import HwragError


def segment_lanes(starts, ends, units: int) -> np.ndarray:
    """Lane (distance unit) of each code, in scan order (segments concatenated)."""
    starts = np.asarray(starts, np.int64)
    ends = np.asarray(ends, np.int64)
    if units < 1:
        raise HwragError(f"units={units} not supported; accepted: >= 1")
    parts = [np.arange(e - s, dtype=np.int64) % units for s, e in zip(starts, ends)]
    return np.concatenate(parts) if parts else np.zeros(0, np.int64)


def fixed_distances(codes, starts, ends, luts, biases, dist_max: int) -> np.ndarray:
    """Saturated fixed-point distances of the codes of every segment, in scan order (int64)."""
    codes = np.asarray(codes)
    out = []
    for s, (a, b) in enumerate(zip(starts, ends)):
        c = codes[a:b].astype(np.int64)
        lut = np.asarray(luts[s], np.int64)
        d = lut[np.arange(c.shape[1])[None, :], c].sum(axis=1) + int(biases[s])
        out.append(np.minimum(d, dist_max))
    return np.concatenate(out) if out else np.zeros(0, np.int64)


def _smallest(dist: np.ndarray, ids: np.ndarray, n: int) -> np.ndarray:
    """Indices of the n smallest by (dist, id), ascending."""
    order = np.lexsort((ids, dist))
    return order[:n]


def hierarchical_topk(dist, ids, lanes, units: int, l1: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-k by (dist, id) of the union of per-lane top-``l1`` queues; (k,) int64 each, -1 padded."""
    if l1 < 1 or k < 1:
        raise HwragError(f"l1={l1}, k={k} not supported; accepted: >= 1")
    dist = np.asarray(dist, np.int64)
    ids = np.asarray(ids, np.int64)
    lanes = np.asarray(lanes, np.int64)
    kept = []
    for u in range(units):
        idx = np.flatnonzero(lanes == u)
        kept.append(idx[_smallest(dist[idx], ids[idx], l1)])
    kept = np.concatenate(kept) if kept else np.zeros(0, np.int64)
    top = kept[_smallest(dist[kept], ids[kept], k)]
    out_d = np.full(k, -1, np.int64)
    out_i = np.full(k, -1, np.int64)
    out_d[:len(top)] = dist[top]
    out_i[:len(top)] = ids[top]
    return out_d, out_i


def scan_segments_hier(codes, ids, starts, ends, luts, biases, dist_max: int, units: int, l1: int,
                       k: int) -> tuple[np.ndarray, np.ndarray]:
    """What the scan hardware returns for one query: segments scanned with their own LUT
    (S, M, 256) and bias (S,), hierarchical selection with U lanes, level-1 length l1, top-k."""
    starts = np.asarray(starts, np.int64)
    ends = np.asarray(ends, np.int64)
    d = fixed_distances(codes, starts, ends, luts, biases, dist_max)
    ids = np.asarray(ids, np.int64)
    sid = np.concatenate([ids[a:b] for a, b in zip(starts, ends)]) if len(starts) else np.zeros(0, np.int64)
    return hierarchical_topk(d, sid, segment_lanes(starts, ends, units), units, l1, k)

"""Chameleon's layout: every IVF list split evenly across N shards, and the exact top-K merge."""
from __future__ import annotations

import numpy as np

from .errors import HwragError
from .index import IVFPQIndex


def shard_bounds(list_size: int, nshards: int, shard: int) -> tuple[int, int]:
    """Rows [a, b) of a list of ``list_size`` that shard ``shard`` of ``nshards`` holds."""
    return list_size * shard // nshards, list_size * (shard + 1) // nshards


def shard_index(index: IVFPQIndex, nshards: int, only: int | None = None) -> list[IVFPQIndex]:
    """Split every list evenly (contiguous slices) across ``nshards`` shards.

    Every shard keeps all centroids and codebooks, so each computes the same LUTs and the shards'
    partial top-K merge exactly into the unsharded answer. ``only=i`` builds just shard ``i`` (a
    memory node needs only its own) and returns it as a one-element list.
    """
    if not 1 <= nshards:
        raise HwragError(f"nshards={nshards} must be >= 1")
    if only is not None and not 0 <= only < nshards:
        raise HwragError(f"shard {only} does not exist; accepted: 0..{nshards - 1}")
    sizes = index.list_sizes
    out = []
    for s in range(nshards) if only is None else [only]:
        lo = index.offsets[:-1] + sizes * s // nshards
        hi = index.offsets[:-1] + sizes * (s + 1) // nshards
        rows = np.concatenate([np.arange(a, b) for a, b in zip(lo, hi)]) if index.nlist else np.zeros(0, np.int64)
        offsets = np.zeros(index.nlist + 1, np.int64)
        np.cumsum(hi - lo, out=offsets[1:])
        out.append(IVFPQIndex(index.centroids, index.codebooks, np.ascontiguousarray(index.codes[rows]),
                              np.ascontiguousarray(index.ids[rows]), offsets, index.metric, index.by_residual))
    return out


def merge_topk(distances: list[np.ndarray], ids: list[np.ndarray], k: int,
               carry: list[np.ndarray] | None = None):
    """Merge partial top-K lists (each (nq, k_i)) into the top ``k`` by ``(distance, id)``.

    Entries with id -1 (missing) sort last. Returns (distances (nq, k), ids (nq, k)); with ``carry``
    (arrays shaped like ``ids`` that follow the ranking, e.g. float distances beside the integer keys
    they are ranked by) also the carried values (nq, k), +inf where padded.
    Raises on an id returned by two partial lists for one query: shards must be disjoint.
    """
    if not distances:
        raise HwragError("nothing to merge: no partial results")
    D = np.concatenate([np.asarray(d) for d in distances], axis=1)
    I = np.concatenate([np.asarray(i, dtype=np.int64) for i in ids], axis=1)
    floating = np.issubdtype(D.dtype, np.floating)
    Dk = D if floating else D.astype(np.int64, copy=False)
    Ik = I
    missing = I < 0
    if missing.any():  # missing entries rank last, whatever their distance
        Dk = np.where(missing, np.inf if floating else np.iinfo(np.int64).max, Dk)
        Ik = np.where(missing, np.iinfo(np.int64).max, I)
    order = np.lexsort((Ik, Dk), axis=-1)[:, :k]
    I_out = np.take_along_axis(I, order, 1)
    D_out = np.take_along_axis(D, order, 1)
    srt = np.sort(I, axis=1)
    if ((srt[:, 1:] == srt[:, :-1]) & (srt[:, 1:] >= 0)).any():
        raise HwragError("partial results share an id for one query: shards are not disjoint")
    C_out = None if carry is None else np.take_along_axis(np.concatenate([np.asarray(c) for c in carry], axis=1),
                                                          order, 1)
    if I_out.shape[1] < k:  # fewer candidates than k in total
        pad = ((0, 0), (0, k - I_out.shape[1]))
        I_out = np.pad(I_out, pad, constant_values=-1)
        D_out = np.pad(D_out, pad, constant_values=np.inf if floating else -1)
        if C_out is not None:
            C_out = np.pad(C_out, pad, constant_values=np.inf)
    return (D_out, I_out) if carry is None else (D_out, I_out, C_out)

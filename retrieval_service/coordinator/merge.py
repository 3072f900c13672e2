"""The exact merge of the memory nodes' partial top-K answers, and the figures each answer carries.

Fixed-point nodes rank on their integer hardware distances (the float distances follow along), float
nodes on their float distances; ties go to the smaller id, missing entries (-1) last: the order of
``ivfpq.shard.merge_topk``, which also refuses answers whose shards overlap.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import grpc
import numpy as np
from hwrag_rpc.v1 import common_pb2
from ivfpq.errors import HwragError
from ivfpq.shard import merge_topk

from ..wire import MEASURED, Figure, ServiceError, figure_from_pb, unpack
from .fanout import NodeAnswer


def merge_partials(ids: list[np.ndarray], keys: list[np.ndarray], dists: list[np.ndarray], k: int):
    """Merge partial top-K lists by (key, id), -1 ids last. ``keys`` rank (int hardware distances for
    fixed point, float distances otherwise); ``dists`` (float) follow along. Returns (ids, dists) (nq, k)."""
    try:
        _, I, D = merge_topk(keys, ids, k, carry=dists)
    except HwragError as e:
        raise ServiceError(grpc.StatusCode.FAILED_PRECONDITION,
                           f"memory nodes answered the same id for one query ({e}): does the index hold "
                           "duplicate ids?") from None
    D = D.astype(np.float32)
    D[I < 0] = np.inf
    return I, D


def in_merge_order(ids: np.ndarray, keys: np.ndarray) -> bool:
    """Whether one answer is already what :func:`merge_partials` makes of it alone: every row ascending by
    (key, id), missing entries (-1) last, no id twice. (A memory node answers in this order; checking it
    costs a few vectorised comparisons, merging a sort.)"""
    if ids.shape[1] < 2:
        return True
    valid = ids >= 0
    if (valid[:, 1:] & ~valid[:, :-1]).any():  # a hit after a missing entry
        return False
    k0, k1, i0, i1 = keys[:, :-1], keys[:, 1:], ids[:, :-1], ids[:, 1:]
    ordered = (k0 < k1) | ((k0 == k1) & (i0 < i1))
    if not ordered[valid[:, 1:]].all():
        return False
    srt = np.sort(ids, axis=1)
    return not ((srt[:, 1:] == srt[:, :-1]) & (srt[:, 1:] >= 0)).any()


def merge_one(ids: np.ndarray, keys: np.ndarray, dists: np.ndarray, k: int):
    """:func:`merge_partials` of a single answer: the answer itself when it is in merge order."""
    if ids.shape[1] != k or not in_merge_order(ids, keys):
        return merge_partials([ids], [keys], [dists], k)
    D = dists.astype(np.float32)  # a copy: the caller's array stays as it was
    D[ids < 0] = np.inf
    return ids, D


@dataclass
class Merged:
    ids: np.ndarray
    distances: np.ndarray
    fixed_point: bool
    figures: list[Figure] = field(default_factory=list)  # every node's figures, round trip and network; merge


def _number_format(answers: list[NodeAnswer]) -> bool:
    formats = {a.response.number_format for a in answers}
    if len(formats) != 1:
        raise ServiceError(grpc.StatusCode.FAILED_PRECONDITION,
                           "memory nodes compute in different number formats; their distances do not merge")
    return formats.pop() == common_pb2.FIXED_POINT


def merge_answers(answers: list[NodeAnswer], nq: int, k: int, nshards: int) -> Merged:
    """Unpack and check every node's answer, collect its figures, and merge them into the top ``k``."""
    fixed = _number_format(answers)
    ids, keys, dists, figs = [], [], [], []
    shape = (nq, k)
    for a in answers:
        resp, where = a.response, f"node {a.node.shard}/{nshards}"
        if (resp.nq, resp.k) != shape:
            raise ServiceError(grpc.StatusCode.INTERNAL, f"{where} answered shape ({resp.nq}, {resp.k})")
        ids.append(unpack(resp.ids, np.int64, shape, "ids"))
        d = unpack(resp.distances, np.float32, shape, "distances")
        dists.append(d)
        keys.append(unpack(resp.int_distances, np.int64, shape, "int_distances") if fixed else d)
        node_s = 0.0
        for f in resp.timing:
            figs.append(figure_from_pb(f))
            if f.stage == "node" and f.provenance == common_pb2.MEASURED:
                node_s = f.value
        figs.append(Figure("node_rtt", a.rtt_s, MEASURED, where=where))
        figs.append(Figure("network", max(0.0, a.rtt_s - node_s), MEASURED, where=where))
    t0 = time.perf_counter()
    I, D = merge_one(ids[0], keys[0], dists[0], k) if len(ids) == 1 else merge_partials(ids, keys, dists, k)
    figs.append(Figure("merge", time.perf_counter() - t0, MEASURED, where="coordinator"))
    return Merged(I, D, fixed, figs)

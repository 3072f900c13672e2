"""Training through faiss, and import/export of any faiss ``IndexIVFPQ`` (object or file)."""
from __future__ import annotations

import logging
import os

import faiss
import numpy as np
from faiss.contrib.inspect_tools import get_invlist

from .errors import HwragError
from .index import KSUB, IVFPQIndex

log = logging.getLogger(__name__)

_FAISS_METRIC = {"l2": faiss.METRIC_L2, "ip": faiss.METRIC_INNER_PRODUCT}


def train_index(xb: np.ndarray, nlist: int, M: int, *, metric: str = "l2", by_residual: bool = True,
                ids: np.ndarray | None = None, train_size: int | None = None, seed: int = 1234,
                niter: int = 20) -> IVFPQIndex:
    """Train coarse centroids and PQ codebooks with faiss, add ``xb`` and return the hwrag index."""
    xb = np.ascontiguousarray(xb, dtype=np.float32)
    if xb.ndim != 2:
        raise HwragError(f"training vectors must be 2-d (n, d), got shape {xb.shape}")
    n, d = xb.shape
    if metric not in _FAISS_METRIC:
        raise HwragError(f"unknown metric {metric!r}; accepted: {', '.join(_FAISS_METRIC)}")
    if M <= 0 or d % M:
        raise HwragError(f"M={M} must divide the dimension d={d}")
    if not 1 <= nlist <= n:
        raise HwragError(f"nlist={nlist} must be between 1 and the number of vectors ({n})")
    quantizer = faiss.IndexFlatL2(d) if metric == "l2" else faiss.IndexFlatIP(d)
    index = faiss.IndexIVFPQ(quantizer, d, nlist, M, 8, _FAISS_METRIC[metric])
    index.by_residual = by_residual
    index.cp.seed = seed
    index.cp.niter = niter
    index.pq.cp.seed = seed
    # small demo sets train on fewer than faiss's 39 points per centroid; that is deliberate
    index.cp.min_points_per_centroid = 1
    index.pq.cp.min_points_per_centroid = 1
    rng = np.random.default_rng(seed)
    ntrain = min(n, train_size or max(256 * 39, nlist * 39))
    train = xb if ntrain >= n else xb[np.sort(rng.choice(n, ntrain, replace=False))]
    if len(train) < 256:  # each sub-quantiser has 256 centroids: a small set is repeated to train them
        train = np.resize(train, (256, d))
    log.info("training IVF%d,PQ%d on %d vectors (d=%d)", nlist, M, len(train), d)
    index.train(train)
    if ids is None:
        index.add(xb)
    else:
        index.add_with_ids(xb, np.ascontiguousarray(ids, dtype=np.int64))
    return from_faiss(index)


def _unwrap(index) -> "faiss.IndexIVFPQ":
    ivf = faiss.try_extract_index_ivf(index)
    if ivf is not index and not isinstance(index, faiss.IndexIVF):
        raise HwragError(f"faiss index of type {type(index).__name__} wraps its IVF index in a transform; "
                         "accepted: a plain IndexIVFPQ")
    ivf = faiss.downcast_index(index)
    if not isinstance(ivf, faiss.IndexIVFPQ) or type(ivf).__name__ != "IndexIVFPQ":
        raise HwragError(f"faiss index of type {type(ivf).__name__} is not supported; accepted: IndexIVFPQ "
                         "(IVF*,PQ*x8)")
    return ivf


def from_faiss(index_or_path) -> IVFPQIndex:
    """Import a faiss ``IndexIVFPQ`` (object, or path to a file written by ``faiss.write_index``)."""
    if isinstance(index_or_path, (str, os.PathLike)):
        path = os.fspath(index_or_path)
        if not os.path.exists(path):
            raise HwragError(f"faiss index file {path} does not exist")
        try:
            index_or_path = faiss.read_index(path)
        except RuntimeError as e:
            raise HwragError(f"{path} is not a readable faiss index: {str(e).splitlines()[0]}") from None
    ivf = _unwrap(index_or_path)
    if ivf.pq.nbits != 8:
        raise HwragError(f"PQ with {ivf.pq.nbits}-bit codes is not supported; accepted: 8-bit codes")
    if not ivf.is_trained:
        raise HwragError("the faiss index is not trained")
    if ivf.metric_type == faiss.METRIC_L2:
        metric = "l2"
    elif ivf.metric_type == faiss.METRIC_INNER_PRODUCT:
        metric = "ip"
    else:
        raise HwragError(f"faiss metric type {ivf.metric_type} is not supported; accepted: L2, inner product")
    nlist, d, M = ivf.nlist, ivf.d, ivf.pq.M
    centroids = ivf.quantizer.reconstruct_n(0, nlist).astype(np.float32)
    codebooks = faiss.vector_to_array(ivf.pq.centroids).reshape(M, KSUB, d // M).astype(np.float32)
    invlists = ivf.invlists
    list_codes, list_ids = [], []
    for l in range(nlist):
        ids_l, codes_l = get_invlist(invlists, l)
        list_ids.append(np.asarray(ids_l, dtype=np.int64))
        list_codes.append(np.asarray(codes_l, dtype=np.uint8).reshape(-1, M))
    return IVFPQIndex.from_lists(centroids, codebooks, list_codes, list_ids, metric, bool(ivf.by_residual))


def to_faiss(index: IVFPQIndex) -> "faiss.IndexIVFPQ":
    """Export to an equivalent faiss ``IndexIVFPQ`` (same centroids, codebooks, lists and ids)."""
    d, nlist, M = index.d, index.nlist, index.M
    quantizer = faiss.IndexFlatL2(d) if index.metric == "l2" else faiss.IndexFlatIP(d)
    quantizer.add(index.centroids)
    out = faiss.IndexIVFPQ(quantizer, d, nlist, M, 8, _FAISS_METRIC[index.metric])
    quantizer.this.disown()  # the IVF index owns and frees its quantizer
    out.own_fields = True
    faiss.copy_array_to_vector(np.ascontiguousarray(index.codebooks).ravel(), out.pq.centroids)
    out.by_residual = index.by_residual
    out.is_trained = True
    if index.by_residual and index.metric == "l2":
        out.precompute_table()
    for l in range(nlist):
        a, b = int(index.offsets[l]), int(index.offsets[l + 1])
        if b > a:
            ids = np.ascontiguousarray(index.ids[a:b])
            codes = np.ascontiguousarray(index.codes[a:b])
            out.invlists.add_entries(l, b - a, faiss.swig_ptr(ids), faiss.swig_ptr(codes))
    out.ntotal = index.ntotal
    return out

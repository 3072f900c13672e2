"""IVF list selection: the ``nprobe`` nearest coarse centroids of each query, nearest first.

One selector per served index, built once when the index is registered: :class:`CpuListSelector`
(a faiss flat index over the centroids) or :class:`TorchListSelector` (the centroids on a torch device,
CUDA in production). Both answer what :func:`ivfpq.lut.select_lists` answers.
"""
from __future__ import annotations

import threading
from abc import ABC, abstractmethod

import numpy as np
from ivfpq.errors import HwragError
from ivfpq.index import IVFPQIndex
from ivfpq.lut import select_lists

# faiss's OpenMP thread count is a per-thread setting: remember what each thread was given
_omp = threading.local()


def make_quantizer(index: IVFPQIndex):
    """A faiss flat index over the coarse centroids, built once per served index (not once per call)."""
    import faiss

    flat = faiss.IndexFlatL2(index.d) if index.metric == "l2" else faiss.IndexFlatIP(index.d)
    flat.add(np.ascontiguousarray(index.centroids, dtype=np.float32))
    return flat


def select_probe(index: IVFPQIndex, q: np.ndarray, nprobe: int, quantizer=None) -> np.ndarray:
    """CPU list selection (what ``ivfpq.lut.select_lists`` answers; ``quantizer`` from
    :func:`make_quantizer` saves rebuilding it)."""
    if quantizer is None:
        return select_lists(index, q, nprobe)
    _, probe = quantizer.search(q, int(nprobe))
    return probe.astype(np.int64, copy=False)


class ListSelector(ABC):
    """Selects the probed lists of a batch of queries for one index."""

    name: str = ""  # the ``config`` of the coordinator's ``select`` figure

    @abstractmethod
    def select(self, q: np.ndarray, nprobe: int) -> np.ndarray:
        """(nq, nprobe) int64 list ids, nearest first."""


class CpuListSelector(ListSelector):
    name = "cpu"

    def __init__(self, index: IVFPQIndex, threads: int = 1):
        self.index, self.threads = index, threads
        self.quantizer = make_quantizer(index)

    def select(self, q: np.ndarray, nprobe: int) -> np.ndarray:
        if getattr(_omp, "threads", None) != self.threads:
            import faiss

            faiss.omp_set_num_threads(self.threads)
            _omp.threads = self.threads
        return select_probe(self.index, q, nprobe, self.quantizer)


class TorchListSelector(ListSelector):
    name = "torch-cuda"

    def __init__(self, index: IVFPQIndex, device: str = "cuda"):
        import torch

        self.metric = index.metric
        self.centroids = torch.as_tensor(np.array(index.centroids, dtype=np.float32), device=device)

    def select(self, q: np.ndarray, nprobe: int) -> np.ndarray:
        import torch

        c = self.centroids
        x = torch.as_tensor(q, device=c.device)
        if self.metric == "l2":
            score = -((x * x).sum(1, keepdim=True) - 2 * x @ c.T + (c * c).sum(1)[None])
        else:
            score = x @ c.T
        return score.topk(nprobe, dim=1).indices.cpu().numpy().astype(np.int64)


def torch_selection(list_selection: str) -> bool:
    """Whether ``list_selection`` ("cpu", "torch", "auto") selects lists with torch on CUDA here."""
    if list_selection == "cpu":
        return False
    try:
        import torch
        ok = torch.cuda.is_available()
    except ImportError:
        ok = False
    if list_selection == "torch" and not ok:
        raise HwragError("list_selection='torch' needs torch with a CUDA device; accepted here: cpu, auto")
    return ok


def make_selector(index: IVFPQIndex, use_torch: bool, threads: int = 1) -> ListSelector:
    return TorchListSelector(index) if use_torch else CpuListSelector(index, threads)

"""CPU backends: the golden fixed-point scan (``cpu``) and faiss float search (``cpu-faiss``)."""
from __future__ import annotations

import numpy as np
from ivfpq.fixedpoint import DEFAULT_FORMAT, LutFormat
from ivfpq.index import IVFPQIndex
from ivfpq.scan import scan_lists

from .base import PartialTopK, ScanBackend, ShardInfo, register_backend


@register_backend("cpu")
class CpuBackend(ScanBackend):
    """The golden scan (numba) in the hardware's fixed-point format: what the hardware would answer."""

    number_format = "fixed"
    inline_max_codes = 1 << 18  # about 10 ms of golden scan on one core; numba holds the GIL meanwhile

    def __init__(self, lut_bits: int = DEFAULT_FORMAT.lut_bits, dist_bits: int = DEFAULT_FORMAT.dist_bits):
        super().__init__()
        self.fmt = LutFormat(lut_bits=int(lut_bits), dist_bits=int(dist_bits))

    def load(self, shard: IVFPQIndex, info: ShardInfo) -> None:
        self.fmt.check(shard.M)
        self.shard, self.info = shard, info

    def scan(self, queries: np.ndarray, probe: np.ndarray, k: int) -> PartialTopK:
        assert self.shard is not None, "no shard loaded"
        r = scan_lists(self.shard, queries, probe, int(k), fmt=self.fmt)
        return PartialTopK(r.ids, r.distances, r.int_distances)

    def describe(self) -> dict:
        return {**super().describe(), "lut_format": self.fmt.to_dict(), "engine": "ivfpq golden scan (numba)"}


@register_backend("cpu-faiss")
class CpuFaissBackend(ScanBackend):
    """faiss float search over the shard with the coordinator's list assignment (search_preassigned)."""

    number_format = "float"
    inline_max_codes = 1 << 18

    def __init__(self, threads: int = 0):
        super().__init__()
        self.threads = int(threads)
        self._faiss_index = None

    def load(self, shard: IVFPQIndex, info: ShardInfo) -> None:
        import faiss
        from ivfpq.faiss_io import to_faiss

        if self.threads > 0:
            faiss.omp_set_num_threads(self.threads)
        self._faiss_index = to_faiss(shard)
        self.shard, self.info = shard, info

    def scan(self, queries: np.ndarray, probe: np.ndarray, k: int) -> PartialTopK:
        assert self.shard is not None, "no shard loaded"
        ix = self._faiss_index
        probe = np.ascontiguousarray(probe, dtype=np.int64)
        q = np.ascontiguousarray(queries, dtype=np.float32)
        c = self.shard.centroids[probe]  # (nq, P, d)
        if self.shard.metric == "l2":
            coarse = ((q[:, None, :] - c) ** 2).sum(-1)
        else:
            coarse = np.einsum("qd,qpd->qp", q, c)
        ix.nprobe = probe.shape[1]
        D, I = ix.search_preassigned(q, int(k), probe, np.ascontiguousarray(coarse, dtype=np.float32))
        D = D.astype(np.float32)
        if self.shard.metric == "ip":
            D = -D  # smaller is better everywhere
        D[I < 0] = np.inf
        return PartialTopK(I.astype(np.int64), D)

    def describe(self) -> dict:
        return {**super().describe(), "engine": "faiss IndexIVFPQ.search_preassigned (float32)"}

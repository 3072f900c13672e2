"""The IVF-PQ index model shared by every backend.

Inverted lists are stored list-major in one CSR layout (``codes``/``ids`` concatenated, list ``l``
occupies ``offsets[l]:offsets[l+1]``) so that a list is a contiguous slice: what a memory node
streams from DRAM, what numba scans, and what memory-maps from disk.

Distances are always *smaller is better*: squared L2 for ``metric="l2"``, the negated inner
product for ``metric="ip"``.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from .errors import HwragError

METRICS = ("l2", "ip")
KSUB = 256  # 8-bit PQ codes: the only code width the hardware decodes


@dataclass
class IVFPQIndex:
    centroids: np.ndarray  # (nlist, d) float32 coarse centroids
    codebooks: np.ndarray  # (M, 256, dsub) float32 PQ sub-codebooks
    codes: np.ndarray  # (N, M) uint8, list-major
    ids: np.ndarray  # (N,) int64 vector ids, aligned with codes
    offsets: np.ndarray  # (nlist + 1,) int64 list boundaries into codes/ids
    metric: str = "l2"
    by_residual: bool = True

    def __post_init__(self):
        self.validate()

    # ---- shape facts -------------------------------------------------------------------------
    @property
    def d(self) -> int:
        return int(self.centroids.shape[1])

    @property
    def nlist(self) -> int:
        return int(self.centroids.shape[0])

    @property
    def M(self) -> int:
        return int(self.codebooks.shape[0])

    @property
    def dsub(self) -> int:
        return int(self.codebooks.shape[2])

    @property
    def ntotal(self) -> int:
        return int(self.ids.shape[0])

    @cached_property
    def codebooks_t(self) -> np.ndarray:
        """Codebooks as (M, dsub, 256): the layout the LUT kernel streams."""
        return np.ascontiguousarray(self.codebooks.transpose(0, 2, 1))

    @property
    def list_sizes(self) -> np.ndarray:
        return np.diff(self.offsets)

    def list_codes(self, list_no: int) -> np.ndarray:
        return self.codes[self.offsets[list_no] : self.offsets[list_no + 1]]

    def list_ids(self, list_no: int) -> np.ndarray:
        return self.ids[self.offsets[list_no] : self.offsets[list_no + 1]]

    def describe(self) -> dict:
        sizes = self.list_sizes
        return {
            "d": self.d,
            "nlist": self.nlist,
            "M": self.M,
            "dsub": self.dsub,
            "ntotal": self.ntotal,
            "metric": self.metric,
            "by_residual": bool(self.by_residual),
            "code_bytes": int(self.codes.nbytes),
            "list_size_min": int(sizes.min()) if len(sizes) else 0,
            "list_size_mean": float(sizes.mean()) if len(sizes) else 0.0,
            "list_size_max": int(sizes.max()) if len(sizes) else 0,
            "empty_lists": int((sizes == 0).sum()),
        }

    # ---- invariants --------------------------------------------------------------------------
    def validate(self) -> None:
        if self.metric not in METRICS:
            raise HwragError(f"unknown metric {self.metric!r}; accepted: {', '.join(METRICS)}")
        c, cb = self.centroids, self.codebooks
        if c.ndim != 2 or c.dtype != np.float32:
            raise HwragError(f"centroids must be a 2-d float32 array, got {c.dtype}{c.shape}")
        if cb.ndim != 3 or cb.shape[1] != KSUB or cb.dtype != np.float32:
            raise HwragError(f"codebooks must be float32 (M, {KSUB}, dsub), got {cb.dtype}{cb.shape}")
        if cb.shape[0] * cb.shape[2] != c.shape[1]:
            raise HwragError(f"codebooks M*dsub = {cb.shape[0]}*{cb.shape[2]} != d = {c.shape[1]}")
        if self.codes.ndim != 2 or self.codes.dtype != np.uint8 or self.codes.shape[1] != cb.shape[0]:
            raise HwragError(f"codes must be uint8 (N, M={cb.shape[0]}), got {self.codes.dtype}{self.codes.shape}")
        if self.ids.ndim != 1 or self.ids.dtype != np.int64 or self.ids.shape[0] != self.codes.shape[0]:
            raise HwragError(f"ids must be int64 (N={self.codes.shape[0]},), got {self.ids.dtype}{self.ids.shape}")
        o = self.offsets
        if o.ndim != 1 or o.shape[0] != c.shape[0] + 1 or o.dtype != np.int64:
            raise HwragError(f"offsets must be int64 (nlist+1={c.shape[0] + 1},), got {o.dtype}{o.shape}")
        if o[0] != 0 or o[-1] != self.codes.shape[0] or np.any(np.diff(o) < 0):
            raise HwragError("offsets must start at 0, be non-decreasing and end at N")

    @classmethod
    def from_lists(cls, centroids, codebooks, list_codes, list_ids, metric="l2", by_residual=True):
        """Build from per-list arrays (``list_codes[l]`` (n_l, M) uint8, ``list_ids[l]`` (n_l,))."""
        sizes = np.array([len(x) for x in list_ids], dtype=np.int64)
        offsets = np.zeros(len(sizes) + 1, dtype=np.int64)
        np.cumsum(sizes, out=offsets[1:])
        M = codebooks.shape[0]
        codes = (np.concatenate(list_codes).astype(np.uint8, copy=False).reshape(-1, M)
                 if len(list_codes) else np.zeros((0, M), np.uint8))
        ids = (np.concatenate(list_ids).astype(np.int64, copy=False)
               if len(list_ids) else np.zeros(0, np.int64))
        return cls(np.ascontiguousarray(centroids, dtype=np.float32),
                   np.ascontiguousarray(codebooks, dtype=np.float32),
                   np.ascontiguousarray(codes), np.ascontiguousarray(ids), offsets, metric, by_residual)

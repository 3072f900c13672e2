"""Random queries for the scan unit and what the golden model (``ivfpq.kselect``) says they return."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ivfpq.kselect import scan_segments_hier

from .config import CODE_BITS, LUT_ENTRIES, ScanConfig


@dataclass
class Query:
    """One query: S probed lists (segments of ``codes``), each with its own LUT and bias."""

    luts: np.ndarray  # (S, M, 256) int32
    biases: np.ndarray  # (S,) int64
    codes: np.ndarray  # (N, M) uint8
    ids: np.ndarray  # (N,) int64
    starts: np.ndarray  # (S,) int64
    ends: np.ndarray  # (S,) int64

    @property
    def n_codes(self) -> int:
        return int((self.ends - self.starts).sum())

    def expected(self, cfg: ScanConfig) -> tuple[np.ndarray, np.ndarray]:
        """Golden (dist, id), each (k,), -1 where the hardware reports an empty slot."""
        return scan_segments_hier(self.codes, self.ids, self.starts, self.ends, self.luts, self.biases,
                                  cfg.fmt.dist_max, cfg.units, cfg.queue_len, cfg.k)

    def lut_rows(self, s: int, cfg: ScanConfig) -> list[int]:
        """The 256 values of the ``lut_row`` port for list s: row c = entry c of every column."""
        W = cfg.lut_bits
        lut = self.luts[s].astype(np.int64)
        rows = []
        for c in range(LUT_ENTRIES):
            v = 0
            for m in range(cfg.m):
                v |= int(lut[m, c]) << (m * W)
            rows.append(v)
        return rows

    def beats(self, s: int, cfg: ScanConfig) -> list[tuple[int, int, int]]:
        """``(in_codes, in_ids, in_mask)`` of each beat of list s (lane u = code b*U + u)."""
        U, cb, ib = cfg.units, cfg.m * CODE_BITS, cfg.id_bits
        a, e = int(self.starts[s]), int(self.ends[s])
        out = []
        for b0 in range(a, e, U):
            codes = ids = mask = 0
            for u, r in enumerate(range(b0, min(b0 + U, e))):
                codes |= int.from_bytes(self.codes[r].tobytes(), "little") << (u * cb)
                ids |= int(self.ids[r]) << (u * ib)
                mask |= 1 << u
            out.append((codes, ids, mask))
        return out


def random_query(cfg: ScanConfig, rng: np.random.Generator, n_lists: int = 2, max_codes: int = 40,
                 ties: bool = False) -> Query:
    """Random LUTs, biases and codes; ``ties`` narrows the LUT range so equal distances are common.

    Biases are drawn so that some distances saturate at ``2**dist_bits - 1``.
    """
    M = cfg.m
    lens = rng.integers(0, max_codes + 1, n_lists)
    ends = np.cumsum(lens).astype(np.int64)
    starts = (ends - lens).astype(np.int64)
    N = int(ends[-1]) if n_lists else 0
    codes = rng.integers(0, 256, (N, M), dtype=np.uint8)
    id_space = min(2 ** min(cfg.id_bits, 63), 2 ** 62)
    ids = rng.choice(id_space, size=N, replace=False) if N else np.zeros(0, np.int64)
    ids = np.asarray(ids, np.int64)
    hi = 3 if ties else cfg.fmt.lut_max + 1
    luts = rng.integers(0, hi, (n_lists, M, LUT_ENTRIES)).astype(np.int32)
    # most lists get a small bias; some a bias so large that about half their sums saturate
    sat = max(1, cfg.fmt.dist_max - (hi - 1) * M // 2)
    biases = rng.integers(0, 16, n_lists).astype(np.int64)
    big = rng.random(n_lists) < 0.3
    biases[big] = rng.integers(sat // 2, sat + 1, int(big.sum()))
    return Query(luts, biases, codes, ids, starts, ends)

"""The fixed-point LUT format the scan hardware computes in (docs/DESIGN.md § Contracts, 1).

Defined here once; the golden scan, the RTL, and the FPGA/PIM models all compute with it.

For one query, the float look-up tables of its P probed lists are ``T[p, m, c]`` (distance
contribution of sub-code ``c`` in sub-space ``m``) and a float per-list bias ``b[p]`` (0 for L2;
``-<q, centroid_p>`` for inner product with residuals), so that ``dist = b[p] + sum_m T[p, m, code_m]``.

Quantisation, per query (all P lists share one scale so distances compare across lists and shards):

1. Column minimum moved into the bias: ``T'[p,m,c] = T[p,m,c] - min_c T[p,m,c]`` (every entry >= 0)
   and ``B[p] = b[p] + sum_m min_c T[p,m,c]``.
2. Per-query offset: ``offset = min_p B[p]``; ``B'[p] = B[p] - offset`` (every bias >= 0). A constant
   per query does not change the ranking.
3. Per-query scale: ``scale = max(T') / (2**lut_bits - 1)`` (1.0 when every entry is 0), so no LUT
   entry saturates.
4. LUT entries: ``lut[p,m,c] = rint(T'[p,m,c] / scale)``, unsigned ``lut_bits`` wide (round half to even).
5. List bias: ``bias[p] = min(rint(B'[p] / scale), 2**dist_bits - 1)``, unsigned ``dist_bits`` wide.

The hardware distance of a code in list p is
``dist = min(bias[p] + sum_m lut[p, m, code_m], 2**dist_bits - 1)`` — an unsigned ``dist_bits``
integer, saturating (the adder tree is wide enough never to wrap: ``dist_bits >= lut_bits +
ceil(log2 M)`` is checked). The float distance it stands for is ``dist * scale + offset``.

Tie order: candidates are ranked by the pair ``(dist, id)``: equal distances go to the smaller id.
The order is total, so the top-K does not depend on scan order, unit count, or sharding — which is
what lets a cluster of N memory nodes return exactly what one node returns.

:func:`quantize_one_query` is the reference arithmetic, applied to the float LUTs of
:func:`ivfpq.lut.lut_one_query`. The fast scans reach the same integers without materialising them:
list-independent LUTs (inner product, L2 without residuals) are quantised once per query
(:func:`quantize_shared`), and by-residual L2 LUTs are rebuilt exactly from faiss's precomputed
tables within a proven rounding bound (:mod:`ivfpq.fixed_l2`).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numba as nb
import numpy as np

from .errors import HwragError


@dataclass(frozen=True)
class LutFormat:
    lut_bits: int = 8  # width of one LUT entry
    dist_bits: int = 16  # width of the accumulated, saturated distance
    id_bits: int = 64  # width of the vector id carried beside the distance

    @property
    def lut_max(self) -> int:
        return (1 << self.lut_bits) - 1

    @property
    def dist_max(self) -> int:
        return (1 << self.dist_bits) - 1

    def check(self, M: int) -> None:
        if not 2 <= self.lut_bits <= 16:
            raise HwragError(f"lut_bits={self.lut_bits} not supported; accepted: 2..16")
        if not 1 <= self.id_bits <= 64:
            raise HwragError(f"id_bits={self.id_bits} not supported; accepted: 1..64")
        need = self.lut_bits + math.ceil(math.log2(max(M, 1)))
        if not need <= self.dist_bits <= 32:
            raise HwragError(f"dist_bits={self.dist_bits} must be in {need}..32 for M={M} and "
                             f"lut_bits={self.lut_bits} (the adder tree must not wrap)")

    def to_dict(self) -> dict:
        return asdict(self)


DEFAULT_FORMAT = LutFormat()


@dataclass
class QuantizedLuts:
    lut: np.ndarray  # (..., P, M, 256) int32, each in [0, 2**lut_bits)
    bias: np.ndarray  # (..., P) int64, each in [0, 2**dist_bits)
    scale: np.ndarray  # (...,) float64 per-query scale
    offset: np.ndarray  # (...,) float64 per-query offset

    def decode(self, dist: np.ndarray) -> np.ndarray:
        """Float distances that integer distances ``dist`` (..., k) stand for."""
        return (dist * self.scale[..., None] + self.offset[..., None]).astype(np.float32)


@nb.njit(cache=True)
def quantize_one_query(T, b, lut_max, dist_max, lut, bias):
    """Quantise one query's float LUTs T (P, M, 256) and biases b (P,) into lut (P, M, 256) int32
    and bias (P,) int64; returns (scale, offset). Float64 arithmetic in a fixed order, so every
    caller gets the same integers."""
    P, M, K = T.shape
    B = np.empty(P, np.float64)
    mins = np.empty((P, M), np.float64)
    tmax = 0.0
    for p in range(P):
        acc = np.float64(b[p])
        for m in range(M):
            mn = np.float64(T[p, m, 0])
            for k in range(1, K):
                v = np.float64(T[p, m, k])
                if v < mn:
                    mn = v
            mins[p, m] = mn
            acc += mn
            for k in range(K):
                v = np.float64(T[p, m, k]) - mn
                if v > tmax:
                    tmax = v
        B[p] = acc
    offset = B.min()
    scale = tmax / lut_max if tmax > 0 else 1.0
    for p in range(P):
        for m in range(M):
            for k in range(K):
                v = np.rint((np.float64(T[p, m, k]) - mins[p, m]) / scale)
                lut[p, m, k] = min(max(v, 0.0), lut_max)
        bias[p] = min(np.rint((B[p] - offset) / scale), dist_max)
    return scale, offset


@nb.njit(cache=True)
def quantize_shared(T, b, lut_max, dist_max, lut, bias):
    """:func:`quantize_one_query` for P lists that share one float LUT T (M, 256) — inner product, or
    L2 without residuals — with biases b (P,): the same integers, computed once: lut (M, 256) int32
    (every list's), bias (P,) int64; returns (scale, offset)."""
    M, K = T.shape
    P = b.shape[0]
    mins = np.empty(M, np.float64)
    tmax = 0.0
    for m in range(M):
        mn = np.float64(T[m, 0])
        for k in range(1, K):
            v = np.float64(T[m, k])
            if v < mn:
                mn = v
        mins[m] = mn
        for k in range(K):
            v = np.float64(T[m, k]) - mn
            if v > tmax:
                tmax = v
    B = np.empty(P, np.float64)
    for p in range(P):
        acc = np.float64(b[p])
        for m in range(M):
            acc += mins[m]
        B[p] = acc
    offset = B.min()
    scale = tmax / lut_max if tmax > 0 else 1.0
    for m in range(M):
        for k in range(K):
            v = np.rint((np.float64(T[m, k]) - mins[m]) / scale)
            lut[m, k] = min(max(v, 0.0), lut_max)
    for p in range(P):
        bias[p] = min(np.rint((B[p] - offset) / scale), dist_max)
    return scale, offset


@nb.njit(cache=True, parallel=True)
def _quantize_batch(T, b, lut_max, dist_max, lut, bias, scale, offset):
    for i in nb.prange(T.shape[0]):
        scale[i], offset[i] = quantize_one_query(T[i], b[i], lut_max, dist_max, lut[i], bias[i])


def quantize_luts(T: np.ndarray, b: np.ndarray, fmt: LutFormat = DEFAULT_FORMAT) -> QuantizedLuts:
    """Quantise float LUTs ``T`` (..., P, M, 256) and biases ``b`` (..., P) per query (leading axes)."""
    fmt.check(T.shape[-2])
    lead = T.shape[:-3]
    T3 = np.ascontiguousarray(T, np.float32).reshape(-1, *T.shape[-3:])
    b2 = np.ascontiguousarray(b, np.float32).reshape(-1, T.shape[-3])
    n = T3.shape[0]
    lut = np.empty(T3.shape, np.int32)
    bias = np.empty(b2.shape, np.int64)
    scale = np.empty(n, np.float64)
    offset = np.empty(n, np.float64)
    _quantize_batch(T3, b2, fmt.lut_max, fmt.dist_max, lut, bias, scale, offset)
    return QuantizedLuts(lut.reshape(T.shape), bias.reshape(b.shape), scale.reshape(lead), offset.reshape(lead))

"""Packing arrays into messages, figures, index fingerprints and the service's error type."""
from __future__ import annotations

import hashlib

import grpc
import numpy as np
from ivfpq.errors import HwragError
from ivfpq.index import IVFPQIndex

from .backends.base import MEASURED, MODELED, Figure
from .hwrag.v1 import common_pb2

_F32 = np.dtype("<f4")
_I64 = np.dtype("<i8")


class ServiceError(Exception):
    """A request that fails with a given gRPC status (user errors use HwragError: INVALID_ARGUMENT)."""

    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def pack_matrix(a: np.ndarray) -> common_pb2.Matrix:
    a = np.ascontiguousarray(a, dtype=_F32)
    if a.ndim == 1:
        a = a[None, :]
    assert a.ndim == 2, a.shape
    return common_pb2.Matrix(data=a.tobytes(), shape=list(a.shape))


def unpack_matrix(m: common_pb2.Matrix, what: str = "queries") -> np.ndarray:
    """(rows, cols) float32 from a Matrix; HwragError when the shape and the bytes disagree."""
    shape = tuple(int(s) for s in m.shape)
    if len(shape) != 2:
        raise HwragError(f"{what}: shape {list(shape)} must have 2 dimensions (n, d)")
    if len(m.data) != shape[0] * shape[1] * 4:
        raise HwragError(f"{what}: {len(m.data)} bytes of data do not hold shape {list(shape)} of float32 "
                         f"(expected {shape[0] * shape[1] * 4} bytes, little-endian float32, row-major)")
    # a writable native copy: read-only arrays would make numba compile another specialisation
    return np.frombuffer(m.data, dtype=_F32).reshape(shape).astype(np.float32, copy=True)


def pack_i64(a: np.ndarray) -> bytes:
    return np.ascontiguousarray(a, dtype=_I64).tobytes()


def pack_f32(a: np.ndarray) -> bytes:
    return np.ascontiguousarray(a, dtype=_F32).tobytes()


def unpack(data: bytes, dtype, shape: tuple[int, ...], what: str) -> np.ndarray:
    dt = np.dtype(dtype).newbyteorder("<")
    n = int(np.prod(shape)) if shape else 1
    if len(data) != n * dt.itemsize:
        raise HwragError(f"{what}: {len(data)} bytes do not hold shape {list(shape)} of {dt.name}")
    return np.frombuffer(data, dtype=dt).reshape(shape).astype(dt.newbyteorder("="), copy=True)


_PROV = {MEASURED: common_pb2.MEASURED, MODELED: common_pb2.MODELED}
_PROV_BACK = {v: k for k, v in _PROV.items()}


def figure_to_pb(f: Figure, where: str | None = None) -> common_pb2.Figure:
    return common_pb2.Figure(stage=f.stage, quantity=f.quantity, value=float(f.value), unit=f.unit,
                             provenance=_PROV[f.provenance], where=where if where is not None else f.where,
                             config=f.config)


def figure_from_pb(p: common_pb2.Figure) -> Figure:
    return Figure(stage=p.stage, value=p.value, provenance=_PROV_BACK.get(p.provenance, MEASURED),
                  quantity=p.quantity or "time", unit=p.unit or "s", where=p.where, config=p.config)


def index_fingerprint(index: IVFPQIndex) -> str:
    """What every shard of one index shares: centroids, codebooks, metric, residual flag.

    The coordinator sends it with every Scan; a node serving another index refuses (FAILED_PRECONDITION)
    rather than answer silently wrong ids.
    """
    h = hashlib.sha256()
    h.update(f"{index.metric}|{int(index.by_residual)}|{index.centroids.shape}|{index.codebooks.shape}|".encode())
    h.update(np.ascontiguousarray(index.centroids).tobytes())
    h.update(np.ascontiguousarray(index.codebooks).tobytes())
    return h.hexdigest()[:32]

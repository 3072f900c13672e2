"""TEXMEX vector files (``.fvecs``, ``.ivecs``, ``.bvecs``): each vector is an int32 dimension
followed by that many float32 / int32 / uint8 components (the SIFT1M/1B and GIST formats)."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import HwragError

_DTYPES = {".fvecs": np.float32, ".ivecs": np.int32, ".bvecs": np.uint8}


def _dtype_for(path) -> np.dtype:
    ext = Path(path).suffix
    if ext not in _DTYPES:
        raise HwragError(f"{path}: unknown vector file extension {ext!r}; accepted: {', '.join(_DTYPES)}")
    return np.dtype(_DTYPES[ext])


def read_vecs(path, count: int | None = None, mmap: bool = True) -> np.ndarray:
    """Read a ``.fvecs/.ivecs/.bvecs`` file into an (n, d) array (memory-mapped when possible)."""
    path = os.fspath(path)
    dt = _dtype_for(path)
    if not os.path.isfile(path):
        raise HwragError(f"{path}: no such file")
    size = os.path.getsize(path)
    if size < 4:
        raise HwragError(f"{path}: file too short to hold a vector ({size} bytes)")
    d = int(np.fromfile(path, dtype="<i4", count=1)[0])
    if d <= 0 or d > 1 << 20:
        raise HwragError(f"{path}: implausible dimension {d} in the first record")
    rec = 4 + d * dt.itemsize
    if size % rec:
        raise HwragError(f"{path}: size {size} is not a multiple of the record size {rec} (d={d}); "
                         "truncated or not a TEXMEX file")
    n = size // rec if count is None else min(count, size // rec)
    raw = np.memmap(path, dtype=np.uint8, mode="r", shape=(n, rec)) if mmap else \
        np.fromfile(path, dtype=np.uint8, count=n * rec).reshape(n, rec)
    dims = raw[:, :4].copy().view("<i4").ravel()
    if (dims != d).any():
        bad = int(np.argmax(dims != d))
        raise HwragError(f"{path}: record {bad} has dimension {dims[bad]}, expected {d}")
    return raw[:, 4:].view(dt.newbyteorder("<")).reshape(n, d)


def write_vecs(path, x: np.ndarray) -> None:
    """Write an (n, d) array as ``.fvecs/.ivecs/.bvecs`` (by extension), atomically."""
    dt = _dtype_for(path)
    x = np.asarray(x)
    if x.ndim != 2:
        raise HwragError(f"vectors must be 2-d (n, d), got shape {x.shape}")
    n, d = x.shape
    out = np.empty((n, 4 + d * dt.itemsize), np.uint8)
    out[:, :4] = np.full((n, 1), d, "<i4").view(np.uint8)
    out[:, 4:] = np.ascontiguousarray(x.astype(dt.newbyteorder("<"))).view(np.uint8).reshape(n, -1)
    tmp = f"{path}.tmp-{os.getpid()}"
    out.tofile(tmp)
    os.replace(tmp, path)

"""The payload store: the stored value of every id (chunk text, token ids, next token) as bytes.

A directory beside the index (default ``<index path>.payloads``) written atomically with a
checksummed manifest by :mod:`ivfpq.storage`: ``ids`` (sorted int64), ``offsets`` (n+1 int64) and
``data`` (uint8) -- value of ``ids[j]`` is ``data[offsets[j]:offsets[j+1]]``; memory-mapped on load.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Mapping

import numpy as np
from ivfpq.errors import HwragError
from ivfpq.storage import read_arrays_verified, write_arrays_atomic

FORMAT_NAME = "hwrag-payloads"
FORMAT_VERSION = 1


def default_path(index_path) -> Path:
    p = Path(index_path)
    return p.with_name(p.name + ".payloads")


class PayloadStore:
    def __init__(self, ids: np.ndarray, offsets: np.ndarray, data: np.ndarray):
        if ids.ndim != 1 or offsets.shape != (ids.shape[0] + 1,) or data.ndim != 1:
            raise HwragError(f"payload store arrays disagree: ids {ids.shape}, offsets {offsets.shape}, "
                             f"data {data.shape}")
        if ids.shape[0] > 1 and not (np.diff(ids) > 0).all():
            raise HwragError("payload store ids must be strictly increasing (unique)")
        self.ids, self.offsets, self.data = ids, offsets, data

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    @classmethod
    def build(cls, values: Mapping[int, bytes | str] | Iterable[tuple[int, bytes | str]]) -> "PayloadStore":
        items = values.items() if isinstance(values, Mapping) else values
        pairs = sorted((int(i), v.encode() if isinstance(v, str) else bytes(v)) for i, v in items)
        ids = np.array([i for i, _ in pairs], dtype=np.int64)
        lens = np.array([len(v) for _, v in pairs], dtype=np.int64)
        offsets = np.zeros(len(pairs) + 1, np.int64)
        np.cumsum(lens, out=offsets[1:])
        data = np.frombuffer(b"".join(v for _, v in pairs), dtype=np.uint8).copy()
        return cls(ids, offsets, data)

    def save(self, path) -> Path:
        return write_arrays_atomic(path, {"ids": self.ids, "offsets": self.offsets, "data": self.data},
                                   {"count": len(self)}, FORMAT_NAME, FORMAT_VERSION)

    @classmethod
    def load(cls, path, mmap: bool = True, verify: bool = True) -> "PayloadStore":
        _, a = read_arrays_verified(path, FORMAT_NAME, FORMAT_VERSION, mmap, verify)
        return cls(a["ids"], a["offsets"], a["data"])

    def get(self, ids: np.ndarray) -> list[bytes]:
        """Values of ``ids`` (any shape, flattened); b"" for -1 or an id without a value."""
        flat = np.asarray(ids, dtype=np.int64).ravel()
        if len(self) == 0:
            return [b""] * flat.shape[0]
        pos = np.searchsorted(self.ids, flat)
        pos_c = np.minimum(pos, len(self) - 1)
        hit = (self.ids[pos_c] == flat) & (flat >= 0)
        a, b = self.offsets[pos_c], self.offsets[pos_c + 1]
        return [self.data[x:y].tobytes() if h else b"" for h, x, y in zip(hit.tolist(), a.tolist(), b.tolist())]

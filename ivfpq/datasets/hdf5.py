"""ann-benchmarks HDF5 datasets: ``train``, ``test``, ``neighbors``, ``distances`` and the
``distance`` attribute (``euclidean`` or ``angular``; angular data is searched as inner product
on normalised vectors)."""
from __future__ import annotations

import os

import h5py
import numpy as np

from ..errors import HwragError

METRIC_OF = {"euclidean": "l2", "angular": "ip", "dot": "ip", "ip": "ip", "l2": "l2"}


def read_ann_hdf5(path) -> dict:
    if not os.path.isfile(path):
        raise HwragError(f"{path}: no such file")
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise HwragError(f"{path}: not a readable HDF5 file ({e})") from None
    with f:
        missing = [k for k in ("train", "test") if k not in f]
        if missing:
            raise HwragError(f"{path}: lacks datasets {missing}; accepted: ann-benchmarks layout "
                             "(train, test, neighbors, distances)")
        dist = f.attrs.get("distance", "euclidean")
        dist = dist.decode() if isinstance(dist, bytes) else str(dist)
        if dist not in METRIC_OF:
            raise HwragError(f"{path}: distance {dist!r} not supported; accepted: {', '.join(METRIC_OF)}")
        out = {"train": np.asarray(f["train"], np.float32), "test": np.asarray(f["test"], np.float32),
               "metric": METRIC_OF[dist], "distance": dist}
        if "neighbors" in f:
            out["neighbors"] = np.asarray(f["neighbors"], np.int64)
        if "distances" in f:
            out["distances"] = np.asarray(f["distances"], np.float32)
    if dist == "angular":
        for k in ("train", "test"):
            out[k] = out[k] / np.maximum(np.linalg.norm(out[k], axis=1, keepdims=True), 1e-12)
    return out


def write_ann_hdf5(path, train, test, neighbors=None, distances=None, distance: str = "euclidean") -> None:
    tmp = f"{path}.tmp-{os.getpid()}"
    with h5py.File(tmp, "w") as f:
        f.attrs["distance"] = distance
        f.create_dataset("train", data=np.asarray(train, np.float32))
        f.create_dataset("test", data=np.asarray(test, np.float32))
        if neighbors is not None:
            f.create_dataset("neighbors", data=np.asarray(neighbors, np.int32))
        if distances is not None:
            f.create_dataset("distances", data=np.asarray(distances, np.float32))
    os.replace(tmp, path)

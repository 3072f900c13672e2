"""Save/load of an index: a directory with a manifest and one ``.npy`` file per array.

The manifest records the format name and version, metric, and for every array its shape, dtype,
byte size and sha256. The directory is written beside its destination and renamed into place, so
a crash never leaves a half-written index under the real name. Loading memory-maps the arrays
and checks sizes (truncation), the version, and (``verify=True``) every checksum; any mismatch
raises :class:`HwragError` naming the file and the problem.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from .errors import HwragError
from .index import IVFPQIndex

FORMAT_NAME = "hwrag-ivfpq"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
_ARRAYS = ("centroids", "codebooks", "codes", "ids", "offsets")


def sha256_file(path: Path, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def write_arrays_atomic(path, arrays: dict[str, np.ndarray], meta: dict, format_name: str,
                        version: int) -> Path:
    """Write ``arrays`` + manifest into directory ``path`` atomically (replacing an old one)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        entries = {}
        for name, arr in arrays.items():
            arr = np.ascontiguousarray(arr)
            fname = f"{name}.npy"
            np.save(tmp / fname, arr, allow_pickle=False)
            entries[name] = {"file": fname, "shape": list(arr.shape), "dtype": arr.dtype.str,
                             "bytes": (tmp / fname).stat().st_size, "sha256": sha256_file(tmp / fname)}
        manifest = {"format": format_name, "version": version, **meta, "arrays": entries}
        with open(tmp / MANIFEST, "w") as f:
            json.dump(manifest, f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        old = None
        if path.exists():
            old = path.with_name(f".{path.name}.old-{os.getpid()}")
            os.rename(path, old)
        os.rename(tmp, path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def read_manifest(path, format_name: str, version: int) -> dict:
    """The manifest of a directory written by :func:`write_arrays_atomic`, its format and version checked
    (cheap: no array is read)."""
    mpath = Path(path) / MANIFEST
    if not mpath.is_file():
        raise HwragError(f"{path} is not a saved {format_name} (no {MANIFEST}); accepted: a directory "
                         f"written by hwrag")
    try:
        manifest = json.loads(mpath.read_text())
    except (OSError, ValueError) as e:
        raise HwragError(f"{mpath}: manifest is unreadable ({e})") from None
    if manifest.get("format") != format_name:
        raise HwragError(f"{mpath}: format {manifest.get('format')!r}, expected {format_name!r}")
    if manifest.get("version") != version:
        raise HwragError(f"{mpath}: format version {manifest.get('version')!r} is not supported; "
                         f"accepted: {version}")
    return manifest


def read_arrays_verified(path, format_name: str, version: int, mmap: bool = True,
                         verify: bool = True) -> tuple[dict, dict[str, np.ndarray]]:
    """Read a directory written by :func:`write_arrays_atomic`; returns (manifest, arrays)."""
    path = Path(path)
    manifest = read_manifest(path, format_name, version)
    arrays = {}
    for name, e in manifest.get("arrays", {}).items():
        f = path / e["file"]
        if not f.is_file():
            raise HwragError(f"{f}: missing array file")
        size = f.stat().st_size
        if size != e["bytes"]:
            raise HwragError(f"{f}: {size} bytes on disk, manifest says {e['bytes']} (truncated or replaced)")
        if verify and sha256_file(f) != e["sha256"]:
            raise HwragError(f"{f}: sha256 mismatch — the file is corrupted")
        try:
            arr = np.load(f, mmap_mode="r" if mmap else None, allow_pickle=False)
        except ValueError as err:
            raise HwragError(f"{f}: not a valid .npy array ({err})") from None
        if list(arr.shape) != e["shape"] or arr.dtype.str != e["dtype"]:
            raise HwragError(f"{f}: array is {arr.dtype.str}{list(arr.shape)}, manifest says "
                             f"{e['dtype']}{e['shape']}")
        arrays[name] = arr
    return manifest, arrays


def save_index(index: IVFPQIndex, path, extra: dict | None = None) -> Path:
    """Save ``index`` to directory ``path`` (atomically)."""
    meta = {"metric": index.metric, "by_residual": bool(index.by_residual), "extra": extra or {}}
    return write_arrays_atomic(path, {n: getattr(index, n) for n in _ARRAYS}, meta, FORMAT_NAME, FORMAT_VERSION)


def load_index(path, mmap: bool = True, verify: bool = True) -> IVFPQIndex:
    """Load an index saved by :func:`save_index` (arrays memory-mapped when ``mmap``)."""
    manifest, arrays = read_arrays_verified(path, FORMAT_NAME, FORMAT_VERSION, mmap, verify)
    missing = [n for n in _ARRAYS if n not in arrays]
    if missing:
        raise HwragError(f"{path}: manifest lacks arrays {missing}")
    return IVFPQIndex(**{n: arrays[n] for n in _ARRAYS}, metric=manifest["metric"],
                      by_residual=bool(manifest["by_residual"]))


def load_manifest(path) -> dict:
    """The manifest of the index saved at ``path`` (a cheap check that one is there: no array is read)."""
    return read_manifest(path, FORMAT_NAME, FORMAT_VERSION)

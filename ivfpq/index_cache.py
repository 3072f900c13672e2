"""Indexes built from a dataset spec, cached beside the datasets (one place decides the path)."""
from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger(__name__)


def default_index_path(dataset: str, nlist: int, M: int) -> Path:
    from .datasets.cache import cache_dir

    safe = dataset.replace(":", "_").replace(",", "_").replace("=", "").replace("/", "_")
    return cache_dir("indexes") / f"{safe}_IVF{nlist}_PQ{M}"


def cached_index(dataset: str, nlist: int, M: int, index_path=None):
    """``(index, dataset, path)``: the saved index at ``index_path``, or the cached IVF<nlist>,PQ<M>
    of ``dataset`` (trained with faiss and saved on first use)."""
    from .datasets import load_dataset
    from .errors import HwragError
    from .faiss_io import train_index
    from .storage import load_index, save_index

    ds = load_dataset(dataset)
    path = Path(index_path) if index_path else default_index_path(dataset, nlist, M)
    if not (path / "manifest.json").exists():
        if index_path:
            raise HwragError(f"no index at {path}: give a directory saved by `hwrag index build|import-faiss`")
        log.info("training IVF%d,PQ%d on %s (cached at %s)", nlist, M, ds.name, path)
        save_index(train_index(ds.base, nlist, M, metric=ds.metric), path, extra={"dataset": ds.name})
    index = load_index(path)
    if index.d != ds.d:
        raise HwragError(f"index dimension {index.d} does not match dataset dimension {ds.d}")
    return index, ds, path

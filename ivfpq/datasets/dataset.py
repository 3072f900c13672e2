"""A dataset: base vectors, queries, exact ground truth, metric, and (for text) chunk texts.

Specs name where a dataset comes from:

- ``synthetic`` or ``synthetic:n=100000,d=128,nq=1000,seed=0`` — SIFT-like clustered data;
- ``pydocs`` or ``pydocs:chunk_words=64`` — Python's documentation, chunked, MiniLM-embedded
  (384-d, inner product on unit vectors), chunk texts kept; queries are held-out chunks;
- a ``.hdf5`` file in the ann-benchmarks layout;
- a TEXMEX directory holding ``*base.fvecs`` (or ``.bvecs``), ``*query.fvecs`` and optionally
  ``*groundtruth.ivecs`` (SIFT1M / GIST1M as distributed).

Made datasets are cached under :func:`cache_dir` ``("datasets")`` with checksums.
"""
from __future__ import annotations

import glob
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import HwragError
from ..storage import read_arrays_verified, write_arrays_atomic
from .cache import cache_dir
from .groundtruth import exact_knn

log = logging.getLogger(__name__)
FORMAT_NAME, FORMAT_VERSION = "hwrag-dataset", 1
GT_K = 100


@dataclass
class Dataset:
    name: str
    base: np.ndarray  # (n, d) float32
    queries: np.ndarray  # (nq, d) float32
    gt_ids: np.ndarray  # (nq, k) int64 exact neighbours, nearest first
    gt_distances: np.ndarray  # (nq, k) float32, smaller is better
    metric: str = "l2"
    texts: list[str] | None = None  # chunk text per base vector (text datasets)
    meta: dict = field(default_factory=dict)

    @property
    def d(self) -> int:
        return int(self.base.shape[1])

    def describe(self) -> dict:
        return {"name": self.name, "n": int(self.base.shape[0]), "d": self.d, "nq": int(self.queries.shape[0]),
                "metric": self.metric, "gt_k": int(self.gt_ids.shape[1]), "has_texts": self.texts is not None,
                **self.meta}


def parse_spec(spec: str) -> tuple[str, dict]:
    kind, _, rest = spec.partition(":")
    params = {}
    for item in filter(None, rest.split(",")):
        k, eq, v = item.partition("=")
        if not eq:
            raise HwragError(f"dataset spec {spec!r}: {item!r} is not key=value")
        params[k.strip()] = v.strip()
    return kind, params


_SYNTH_KEYS = {"n": 100_000, "d": 128, "nq": 1000, "seed": 0}
_TEXT_KEYS = {"chunk_words": 64, "nq": 500, "max_docs": 0}


def _int_params(spec, params, defaults):
    unknown = set(params) - set(defaults)
    if unknown:
        raise HwragError(f"dataset spec {spec!r}: unknown keys {sorted(unknown)}; accepted: {sorted(defaults)}")
    try:
        return {k: int(float(params.get(k, v))) for k, v in defaults.items()}
    except ValueError as e:
        raise HwragError(f"dataset spec {spec!r}: {e}") from None


def _canonical(kind, p) -> str:
    return kind + ":" + ",".join(f"{k}={v}" for k, v in p.items())


def _cached_path(canon: str) -> Path:
    return cache_dir("datasets") / canon.replace(":", "_").replace(",", "_").replace("=", "")


def save_dataset(ds: Dataset, path) -> Path:
    arrays = {"base": ds.base, "queries": ds.queries, "gt_ids": ds.gt_ids, "gt_distances": ds.gt_distances}
    if ds.texts is not None:
        enc = [t.encode("utf-8") for t in ds.texts]
        arrays["text_offsets"] = np.cumsum([0] + [len(e) for e in enc]).astype(np.int64)
        arrays["text_bytes"] = np.frombuffer(b"".join(enc), np.uint8)
    return write_arrays_atomic(path, arrays, {"name": ds.name, "metric": ds.metric, "meta": ds.meta},
                               FORMAT_NAME, FORMAT_VERSION)


def load_saved_dataset(path, verify: bool = True) -> Dataset:
    man, a = read_arrays_verified(path, FORMAT_NAME, FORMAT_VERSION, mmap=True, verify=verify)
    texts = None
    if "text_offsets" in a:
        off, raw = np.asarray(a["text_offsets"]), bytes(np.asarray(a["text_bytes"]))
        texts = [raw[off[i]:off[i + 1]].decode("utf-8") for i in range(len(off) - 1)]
    return Dataset(man["name"], a["base"], a["queries"], a["gt_ids"], a["gt_distances"], man["metric"], texts,
                   man.get("meta", {}))


def _make_synthetic(p) -> Dataset:
    from .synthetic import make_clustered

    base, queries = make_clustered(p["n"], p["d"], p["nq"], seed=p["seed"])
    D, I = exact_knn(base, queries, GT_K, "l2")
    return Dataset(_canonical("synthetic", p), base, queries, I, D, "l2", None, {"source": "synthetic SIFT-like"})


def _make_pydocs(p) -> Dataset:
    from .text import chunk_documents, embed_texts, load_corpus

    docs = load_corpus(p["max_docs"] or None)
    train_docs = [d for d in docs if not d.heldout]
    held_docs = [d for d in docs if d.heldout]
    texts, _ = chunk_documents(train_docs, p["chunk_words"])
    qtexts, _ = chunk_documents(held_docs, p["chunk_words"])
    rng = np.random.default_rng(0)
    qtexts = [qtexts[i] for i in sorted(rng.choice(len(qtexts), min(p["nq"], len(qtexts)), replace=False))]
    log.info("embedding %d chunks + %d queries with MiniLM", len(texts), len(qtexts))
    base = embed_texts(texts)
    queries = embed_texts(qtexts, progress=False)
    D, I = exact_knn(base, queries, GT_K, "ip")
    return Dataset(_canonical("pydocs", p), base, queries, I, D, "ip", texts,
                   {"source": "Python documentation (pydoc topics + stdlib docstrings), all-MiniLM-L6-v2",
                    "query_texts": qtexts[:5]})


def _load_texmex_dir(path: Path) -> Dataset:
    from .texmex import read_vecs

    def one(pattern, required=True):
        hits = sorted(glob.glob(str(path / pattern)))
        if not hits and required:
            raise HwragError(f"{path}: no file matching {pattern}; a TEXMEX directory holds *base.fvecs|bvecs, "
                             "*query.fvecs|bvecs and optionally *groundtruth.ivecs")
        return hits[0] if hits else None

    base_f = one("*base.[fb]vecs")
    q_f = one("*query.[fb]vecs")
    gt_f = one("*groundtruth.ivecs", required=False)
    base = np.asarray(read_vecs(base_f), np.float32)
    queries = np.asarray(read_vecs(q_f), np.float32)
    D, I = exact_knn(base, queries, GT_K, "l2")
    if gt_f is not None:
        given = read_vecs(gt_f)
        agree = float(np.mean(given[:, 0] == I[:, 0]))
        log.info("%s: shipped ground truth agrees with faiss on top-1 for %.1f%% of queries", gt_f, 100 * agree)
    return Dataset(path.name, base, queries, I, D, "l2", None, {"source": str(path)})


def _load_hdf5(path: Path) -> Dataset:
    from .hdf5 import read_ann_hdf5

    h = read_ann_hdf5(path)
    D, I = exact_knn(h["train"], h["test"], GT_K, h["metric"])
    return Dataset(path.stem, h["train"], h["test"], I, D, h["metric"], None,
                   {"source": str(path), "distance": h["distance"]})


def load_dataset(spec: str = "synthetic", refresh: bool = False) -> Dataset:
    """Load (making and caching on first use) the dataset named by ``spec`` (see module doc)."""
    path = Path(os.path.expanduser(spec))
    if path.suffix in (".hdf5", ".h5"):
        return _load_hdf5(path)
    if path.is_dir() and not (path / "manifest.json").exists():
        return _load_texmex_dir(path)
    if path.is_dir():
        return load_saved_dataset(path)
    kind, params = parse_spec(spec)
    makers = {"synthetic": (_SYNTH_KEYS, _make_synthetic), "pydocs": (_TEXT_KEYS, _make_pydocs)}
    if kind not in makers:
        raise HwragError(f"unknown dataset {spec!r}; accepted: synthetic[:n=..,d=..,nq=..,seed=..], "
                         "pydocs[:chunk_words=..,nq=..], a .hdf5 file (ann-benchmarks), a TEXMEX directory, "
                         "or a directory saved by hwrag")
    defaults, make = makers[kind]
    p = _int_params(spec, params, defaults)
    cached = _cached_path(_canonical(kind, p))
    if cached.exists() and not refresh:
        try:
            return load_saved_dataset(cached)
        except HwragError as e:
            log.warning("cached dataset unusable (%s); rebuilding", e)
    ds = make(p)
    save_dataset(ds, cached)
    return load_saved_dataset(cached, verify=False)

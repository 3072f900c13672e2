"""Datastores of the user's own documents, under names: ``build_named("notes", "chunk", ["docs/"])``
reads the documents (:mod:`.documents`), builds a chunk store (MiniLM) or a kNN-LM store (the LM's
hidden states) cached by content hash like the built-in ones, and records the name last -- an
interrupted build leaves no name behind. ``open_named(name, lm)`` finds it again and refuses a
token store whose keys came from another model.
"""
from __future__ import annotations

import json
import os
import re
import tempfile
import time
from pathlib import Path

import numpy as np
from ivfpq.errors import HwragError

from .datastore import ChunkStoreConfig, Datastore, KnnStoreConfig, build_chunk_store, build_knn_store

KINDS = ("chunk", "token")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def _registry() -> Path:
    from ivfpq.datasets.cache import cache_dir

    return cache_dir("datastores", "named")


def check_name(name: str) -> str:
    if not _NAME.match(name or ""):
        raise HwragError(f"datastore name {name!r}; accepted: 1-64 letters, digits, '_', '.', '-' "
                         "(starting with a letter or digit)")
    return name


def list_named() -> list[dict]:
    """Every named datastore's record (name, kind, model, size, sources), sorted by name."""
    out = []
    for f in sorted(_registry().glob("*.json")):
        try:
            out.append(json.loads(f.read_text()))
        except (OSError, json.JSONDecodeError):
            continue
    return sorted(out, key=lambda r: r.get("name", ""))


def _write_record(rec: dict) -> None:
    reg = _registry()
    fd, tmp = tempfile.mkstemp(dir=reg, prefix=rec["name"] + ".", suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(rec, f, indent=1)
    os.replace(tmp, reg / f"{rec['name']}.json")


def require_named(name: str) -> Path:
    """The record file of datastore ``name``, or an error listing the known names."""
    f = _registry() / f"{name}.json"
    if not _NAME.match(name or "") or not f.is_file():
        known = ", ".join(r["name"] for r in list_named()) or "none yet"
        raise HwragError(f"no datastore named {name!r}; known: {known} (build one with hwrag datastore build "
                         "--texts PATH --kind chunk|token --name NAME)")
    return f


def open_named(name: str, lm=None) -> Datastore:
    """The datastore called ``name``; with ``lm``, a token store must hold that model's keys."""
    rec = json.loads(require_named(name).read_text())
    path = Path(rec["path"])
    meta_file = path.with_name(path.name + ".json")
    if not path.exists() or not meta_file.is_file():
        raise HwragError(f"datastore {name!r}: its files at {path} are gone; build it again with hwrag datastore build")
    ds = Datastore(rec["kind"], path, json.loads(meta_file.read_text()))
    if lm is not None and ds.kind == "token" and ds.meta.get("model") != lm.name:
        raise HwragError(f"datastore {name!r} holds kNN-LM keys of model {ds.meta.get('model')!r}, but this run uses "
                         f"{lm.name!r}: its keys would be meaningless; use --model for that model or build the "
                         "datastore again with this one")
    return ds


def build_named(name: str, kind: str, paths: list[str], lm=None, chunk: ChunkStoreConfig | None = None,
                knn: KnnStoreConfig | None = None, progress: bool = True) -> tuple[Datastore, dict]:
    """Build (or find cached) the ``kind`` datastore of the documents under ``paths`` and record it as
    ``name``. Every input is read and checked before anything is written."""
    from ivfpq.datasets.text import chunk_documents

    from .corpus import SEPARATOR
    from .documents import documents_fingerprint, read_documents

    check_name(name)
    if kind not in KINDS:
        raise HwragError(f"kind {kind!r}; accepted: {', '.join(KINDS)}")
    docs = read_documents(paths)
    fp = documents_fingerprint(docs)
    t0 = time.perf_counter()
    if kind == "chunk":
        cfg = chunk or ChunkStoreConfig()
        texts, _ = chunk_documents(docs, cfg.chunk_words)
        if not texts:
            raise HwragError(f"the documents under {', '.join(paths)} hold no passage of 8 words or more to retrieve")
        ds = build_chunk_store(cfg, texts=texts, progress=progress, name=f"{name}-chunks")
    else:
        if lm is None:
            raise HwragError("a token datastore needs the LM whose hidden states are its keys")
        tokens = np.asarray(lm.tokenizer.encode(SEPARATOR.join(d.text for d in docs)), dtype=np.int64)
        if len(tokens) < 2:
            raise HwragError(f"the documents under {', '.join(paths)} are shorter than two tokens")
        ds = build_knn_store(lm, knn or KnnStoreConfig(), tokens=tokens, progress=progress,
                             name=f"{name}-knn-{lm.name}")
    rec = {"name": name, "kind": kind, "path": str(ds.path), "index_name": ds.index_name, "model": ds.meta.get("model"),
           "encoder": ds.meta.get("encoder"), "ntotal": ds.meta["ntotal"], "documents": len(docs),
           "sources": [str(Path(p).expanduser().resolve()) for p in paths], "fingerprint": fp,
           "created": time.strftime("%Y-%m-%d %H:%M:%S")}
    _write_record(rec)
    return ds, rec | {"seconds_measured": time.perf_counter() - t0}

"""Datastores of the user's own documents, under names: ``build_named("notes", "chunk", ["docs/"])``
reads the documents (:mod:`.documents`), builds a chunk store (MiniLM) or a kNN-LM store (the LM's
hidden states) cached by content like the built-in ones -- the same documents and settings under
another name reuse the work -- and records the name last: an interrupted build leaves no name behind.
A name already taken needs ``replace=True`` (``--replace``); a kind change is said, never silent.
``open_named(name, lm)`` finds it again, refuses a token store whose keys came from another model
and a store of an older format (with the command that rebuilds it); ``remove_named`` deletes the
name, and the store's files when no other name uses them.
"""
from __future__ import annotations

import json
import os
import re
import shutil
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


def _rebuild_hint(rec: dict) -> str:
    return (f"hwrag datastore build --replace --name {rec['name']} --kind {rec['kind']} --texts "
            + " ".join(rec.get("sources") or ["PATH"]))


def open_named(name: str, lm=None, kind: str | None = None) -> Datastore:
    """The datastore called ``name``; with ``lm``, a token store must hold that model's keys; with
    ``kind``, the store must be of that kind."""
    from .datastore import FORMAT

    rec = json.loads(require_named(name).read_text())
    path = Path(rec["path"])
    meta_file = path.with_name(path.name + ".json")
    if not path.exists() or not meta_file.is_file():
        raise HwragError(f"datastore {name!r}: its files at {path} are gone; build it again: {_rebuild_hint(rec)}")
    ds = Datastore(rec["kind"], path, json.loads(meta_file.read_text()), label=name)
    if ds.meta.get("format", 1) != FORMAT or not ds.sources_path.exists():
        raise HwragError(f"datastore {name!r} was built by an older hwrag (format {ds.meta.get('format', 1)}, "
                         f"this one reads {FORMAT}: it keeps no sources); rebuild it: {_rebuild_hint(rec)}")
    if kind is not None and ds.kind != kind:
        raise HwragError(f"datastore {name!r} is a {ds.kind} store; this needs a {kind} store (chunk: passages "
                         "for chunk RALM and questions; token: kNN-LM keys)")
    if lm is not None and ds.kind == "token" and ds.meta.get("model") != lm.name:
        raise HwragError(f"datastore {name!r} holds kNN-LM keys of model {ds.meta.get('model')!r}, but this run uses "
                         f"{lm.name!r}: its keys would be meaningless; use --model for that model or build the "
                         "datastore again with this one")
    return ds


def check_replace(name: str, kind: str, replace: bool) -> dict | None:
    """The record ``name`` holds now (None if free); an error unless ``replace``."""
    f = _registry() / f"{name}.json"
    if not f.is_file():
        return None
    old = json.loads(f.read_text())
    if not replace:
        change = "" if old["kind"] == kind else f" (and it would change its kind from {old['kind']} to {kind})"
        raise HwragError(f"datastore {name!r} exists: a {old['kind']} store of {old['documents']} documents built "
                         f"{old['created']}; pass --replace to build over it{change}, or choose another --name")
    return old


def _files_in_use(path: str, besides: str) -> bool:
    return any(r.get("path") == path for r in list_named() if r.get("name") != besides)


def _delete_store_files(path: Path) -> None:
    """A store's files, record first (so a half-deleted store is never taken for a whole one)."""
    path.with_name(path.name + ".json").unlink(missing_ok=True)
    for p in (path, path.with_name(path.name + ".payloads"), path.with_name(path.name + ".sources")):
        shutil.rmtree(p, ignore_errors=True)


def remove_named(name: str) -> dict:
    """Forget datastore ``name``; its files go too unless another name uses the same store."""
    f = require_named(name)
    rec = json.loads(f.read_text())
    f.unlink()
    kept = _files_in_use(rec["path"], name)
    if not kept:
        _delete_store_files(Path(rec["path"]))
    return rec | {"files_removed": not kept}


def build_named(name: str, kind: str, paths: list[str], lm=None, chunk: ChunkStoreConfig | None = None,
                knn: KnnStoreConfig | None = None, progress: bool = True, replace: bool = False
                ) -> tuple[Datastore, dict]:
    """Build (or find cached) the ``kind`` datastore of the documents under ``paths`` and record it as
    ``name``. Every input is read and checked before anything is written; a name already taken needs
    ``replace``."""
    from .documents import documents_fingerprint, read_documents

    check_name(name)
    if kind not in KINDS:
        raise HwragError(f"kind {kind!r}; accepted: {', '.join(KINDS)}")
    old = check_replace(name, kind, replace)
    docs = read_documents(paths)
    fp = documents_fingerprint(docs)
    t0 = time.perf_counter()
    if kind == "chunk":
        ds = build_chunk_store(chunk or ChunkStoreConfig(), docs=docs, progress=progress)
    else:
        if lm is None:
            raise HwragError("a token datastore needs the LM whose hidden states are its keys")
        ds = build_knn_store(lm, knn or KnnStoreConfig(), docs=docs, progress=progress)
    rec = {"name": name, "kind": kind, "path": str(ds.path), "index_name": ds.index_name, "model": ds.meta.get("model"),
           "encoder": ds.meta.get("encoder"), "ntotal": ds.meta["ntotal"], "documents": len(docs),
           "sources": [str(Path(p).expanduser().resolve()) for p in paths], "fingerprint": fp,
           "format": ds.meta.get("format"), "created": time.strftime("%Y-%m-%d %H:%M:%S")}
    _write_record(rec)
    if old and old["path"] != rec["path"] and not _files_in_use(old["path"], "\0"):
        _delete_store_files(Path(old["path"]))
    ds.label = name
    return ds, rec | {"seconds_measured": time.perf_counter() - t0,
                      "replaced": {"kind": old["kind"], "documents": old["documents"]} if old else None}

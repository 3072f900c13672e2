"""Retrieval datastores, saved as IVF-PQ indexes with a payload store (``<index>.payloads``, the format
``retrieval_service`` loads) and a sources store (``<index>.sources``, :mod:`.sources`) beside them:

- **chunk store**: MiniLM embeddings (384-d, unit norm, inner product) of passages cut on sentence
  and paragraph boundaries with overlap (:mod:`.chunking`); payload = passage text; sources = file,
  character span and lines of every passage, and the passage texts (for lexical search and snippets).
- **kNN-LM store**: the LM's last-layer hidden states (after the final layer norm) at every position of
  the text (L2); payload = the next token (uint32 little-endian); sources = file, character span and
  line of every next token. The store belongs to the model that produced the keys.

Stores are cached under ``cache_dir("datastores")`` by content: the path carries a hash of the
documents (text and source) and the config, never a user's name, so the same documents and settings
are built once whatever they are called. A build writes into ``.building/<pid>-...`` and moves the
files into place, the ``.json`` record last: a killed build leaves no store behind, and its staging
folder is removed by the next build. ``meta["format"]`` is :data:`FORMAT`; older stores are rebuilt
(built-in ones) or refused with a "rebuild" message (named ones, :mod:`.named_stores`).
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from ivfpq.errors import HwragError

from .defaults import (CHUNK_OVERLAP_WORDS, CHUNK_WORDS, CHUNKING, DEMO_CHUNK_DOCS, KNN_KEY_WINDOW, KNN_KEYS_PER_LIST,
                       KNN_MIN_DSUB, KNN_NLIST)

log = logging.getLogger(__name__)

FORMAT = 2  # 1: no sources kept (before provenance); 2: <index>.sources beside the index
STALE_S = 600  # an orphan entry (no .json record) this old is a killed build's leftover


def auto_m(d: int) -> int:
    """PQ sub-quantisers for d-dim keys: the most that leave each at least KNN_MIN_DSUB dims."""
    return max(m for m in range(1, d + 1) if d % m == 0 and d // m >= KNN_MIN_DSUB)


def token_payload(token: int) -> bytes:
    return int(token).to_bytes(4, "little")


def payload_token(b: bytes) -> int:
    return int.from_bytes(b, "little") if len(b) == 4 else -1


@dataclass
class ChunkStoreConfig:
    chunk_words: int = CHUNK_WORDS  # words per passage, at most
    overlap_words: int = CHUNK_OVERLAP_WORDS  # the next passage repeats up to this many words
    chunking: str = CHUNKING  # sentence (sentence/paragraph boundaries) | words (fixed windows, no overlap)
    nlist: int = 64
    M: int = 48  # 384 / 48 = 8 dims per sub-quantiser
    seed: int = 0
    max_docs: int = 0  # embed only the corpus's first N documents (0 = all); MiniLM on CPU is the cost


def demo_chunk_config(full: bool = False) -> ChunkStoreConfig:
    """The built-in chunk store's configuration (``full``: every document, whatever the default)."""
    return ChunkStoreConfig(max_docs=0 if full else DEMO_CHUNK_DOCS)


@dataclass
class KnnStoreConfig:
    nlist: int = KNN_NLIST  # capped at ntotal / KNN_KEYS_PER_LIST
    M: int = 0  # must divide the LM's hidden size; 0: the most with >= KNN_MIN_DSUB dims each (576 -> 48)
    max_tokens: int = 0  # keys from the first max_tokens positions of the training text (0 = all)
    seed: int = 0
    batch_size: int = 16  # windows per forward pass while collecting keys
    window: int = KNN_KEY_WINDOW  # tokens per forward pass while collecting keys (each key sees >= window/2 of context)


@dataclass
class Datastore:
    kind: str  # "chunk" | "token"
    path: Path  # the saved IVF-PQ index (a directory)
    meta: dict
    label: str = ""  # the name the user knows it by (a named store's name, or "built-in ...")

    @property
    def payload_path(self) -> Path:
        from ivfpq.payloads import default_path

        return default_path(self.path)

    @property
    def sources_path(self) -> Path:
        return self.path.with_name(self.path.name + ".sources")

    @property
    def index_name(self) -> str:
        return self.meta["index_name"]

    @property
    def nlist(self) -> int:
        return int(self.meta.get("nlist") or self.load_index().nlist)

    @property
    def display_name(self) -> str:
        return self.label or ("built-in " + self.index_name)

    def load_index(self):
        from ivfpq.storage import load_index

        return load_index(self.path)

    def load_payloads(self):
        from ivfpq.payloads import PayloadStore

        return PayloadStore.load(self.payload_path)

    def load_sources(self):
        """The :class:`~llm_client.sources.Sources` of the store (read once)."""
        from .sources import Sources

        if getattr(self, "_sources", None) is None:
            self._sources = Sources.load(self.sources_path)
        return self._sources


def to_serve(stores: dict[str, Datastore]) -> dict[str, tuple]:
    """{index name: (index, payloads)} of ``stores``: what a service that serves them loads."""
    return {ds.index_name: (ds.load_index(), ds.load_payloads()) for ds in stores.values()}


def _say(progress: bool, msg: str) -> None:
    """A line on stderr for a long step that shows no bar of its own (index training, saving)."""
    if progress:
        import sys

        print(msg, file=sys.stderr, flush=True)


def _key(obj: dict) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:12]


def _meta_file(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def _parts(path: Path) -> list[Path]:
    return [path, path.with_name(path.name + ".payloads"), path.with_name(path.name + ".sources")]


def _cached(path: Path, kind: str) -> Datastore | None:
    meta_file = _meta_file(path)
    if all(p.exists() for p in _parts(path)) and meta_file.exists():
        meta = json.loads(meta_file.read_text())
        if meta.get("format") == FORMAT:
            return Datastore(kind, path, meta)
    return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale(root: Path) -> list[Path]:
    """Remove what killed builds left under ``root``: staging folders of processes no longer alive,
    and (older than :data:`STALE_S`) hidden temporary folders, store parts without a ``.json`` and
    half-written kNN-LM key files."""
    removed = []
    now = time.time()
    for p in sorted((root / ".building").glob("*")) if (root / ".building").is_dir() else []:
        pid = p.name.split("-", 1)[0]
        if not pid.isdigit() or not _pid_alive(int(pid)):
            shutil.rmtree(p, ignore_errors=True)
            removed.append(p)
    for p in root.iterdir():
        try:
            old = now - p.stat().st_mtime > STALE_S
        except OSError:
            continue
        base = p.name.removesuffix(".payloads").removesuffix(".sources")
        orphan = p.is_dir() and not p.name.startswith(".") and not (root / (base + ".json")).exists() \
            and p.name not in ("named", "keys")
        if old and p.is_dir() and ((p.name.startswith(".") and p.name != ".building") or orphan):
            shutil.rmtree(p, ignore_errors=True)
            removed.append(p)
    for p in (root / "keys").glob("*.tmp.npy") if (root / "keys").is_dir() else []:  # kNN-LM keys cut short
        if now - p.stat().st_mtime > STALE_S:
            p.unlink(missing_ok=True)
            removed.append(p)
    if removed:
        log.info("removed %d leftovers of interrupted builds under %s", len(removed), root)
    return removed


def _save(kind: str, path: Path, index, payloads, sources, meta: dict) -> Datastore:
    """Write the store into a staging folder, move its parts into place and write the record last."""
    from ivfpq.storage import save_index

    stage = path.parent / ".building" / f"{os.getpid()}-{path.name}"
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir(parents=True)
    try:
        save_index(index, stage / "index", extra={"datastore": kind})
        payloads.save(stage / "payloads")
        sources.save(stage / "sources")
        tmp = stage / "meta.json"
        tmp.write_text(json.dumps(meta | {"format": FORMAT}, indent=1))
        _meta_file(path).unlink(missing_ok=True)  # the old store (if any) is invisible from here on
        for part, dst in zip(("index", "payloads", "sources"), _parts(path)):
            if dst.exists():
                shutil.rmtree(dst)
            os.rename(stage / part, dst)
        os.rename(tmp, _meta_file(path))
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return Datastore(kind, path, meta | {"format": FORMAT})


def documents_key(docs: list) -> str:
    """Hash of the documents' texts and sources: the part of a store's cache key that is its input."""
    from .sources import document_record

    h = hashlib.sha256()
    for d in docs:
        r = document_record(d)
        h.update(f"{r['source']}\0{r['sha256']}\0{r['line']}\0{r['char_offset']}\0".encode())
    return h.hexdigest()[:16]


def chunk_passages(docs: list, cfg: ChunkStoreConfig):
    """(passage texts, :class:`~llm_client.sources.Sources`) of ``docs`` under ``cfg``."""
    from .chunking import chunk_spans
    from .sources import Sources

    spans = [chunk_spans(d.text, cfg.chunk_words, cfg.overlap_words if cfg.chunking == "sentence" else 0,
                         cfg.chunking) for d in docs]
    src = Sources.of_spans(docs, spans, keep_text=True)
    return src.texts, src


def build_chunk_store(cfg: ChunkStoreConfig | None = None, rebuild: bool = False,
                      texts: list[str] | None = None, progress: bool = False, name: str | None = None,
                      docs: list | None = None) -> Datastore:
    """The chunk store (cached) of the corpus's training documents, of ``docs`` or of ``texts`` (one
    document each). Embedding the whole corpus the first time takes minutes (MiniLM on CPU). The
    index is served under its directory's name, which changes with the content and the config."""
    from ivfpq.datasets.cache import cache_dir
    from ivfpq.datasets.text import Document
    from ivfpq.faiss_io import train_index
    from ivfpq.payloads import PayloadStore

    from .chunk_ralm import default_encoder
    from .corpus import corpus_documents

    cfg = cfg or ChunkStoreConfig()
    if docs is None and texts is None:
        docs = corpus_documents("train")[:cfg.max_docs or None]
        label = "pydocs-chunks"
    else:
        docs = docs if docs is not None else [Document(f"text:{i}", t) for i, t in enumerate(texts)]
        label = name or "docs-chunks"
    root = cache_dir("datastores")
    path = root / f"{label}-w{cfg.chunk_words}-IVF{cfg.nlist}-PQ{cfg.M}-{_key(asdict(cfg) | {'docs': documents_key(docs)})}"
    if not rebuild and (ds := _cached(path, "chunk")):
        return ds
    clean_stale(root)
    t0 = time.perf_counter()
    texts, sources = chunk_passages(docs, cfg)
    if not texts:
        raise HwragError("the documents hold no passage of 8 words or more to retrieve")
    _say(progress, f"chunk store: embedding {len(texts)} passages of {len(docs)} documents with MiniLM")
    base = default_encoder().encode(texts, progress=progress)
    ids = np.arange(base.shape[0], dtype=np.int64)
    _say(progress, f"chunk store: training IVF{min(cfg.nlist, max(1, len(texts) // 39))},PQ{cfg.M} on {len(texts)} vectors")
    index = train_index(base, min(cfg.nlist, max(1, len(texts) // 39)), cfg.M, metric="ip", ids=ids, seed=cfg.seed)
    payloads = PayloadStore.build((int(i), t) for i, t in zip(ids, texts))
    meta = {"kind": "chunk", "index_name": path.name, "encoder": "minilm", "d": int(base.shape[1]), "nlist": index.nlist,
            "metric": "ip", "ntotal": int(index.ntotal), "documents": len(docs), "config": asdict(cfg),
            "build_seconds_measured": time.perf_counter() - t0}
    log.info("chunk store: %d passages of %d documents -> %s", index.ntotal, len(docs), path)
    return _save("chunk", path, index, payloads, sources, meta)


@torch.no_grad()
def collect_keys(lm, tokens: np.ndarray, batch_size: int = 16, progress: bool = True, window: int = 0
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Hidden state at each position t of ``tokens`` (keys, (N, C) float32) and tokens[t+1] (values).

    Windows of ``window`` tokens (0: the model's context) overlap by half; each position's key comes
    from the window where it has at least half a window of context (the first window: all its positions)."""
    from tqdm.auto import tqdm

    T = min(window or lm.block_size, lm.block_size)
    n = len(tokens) - 1  # positions with a next token
    if n < 1:
        raise HwragError("need at least two tokens to collect kNN-LM keys")
    stride = max(1, T // 2)
    starts = list(range(0, max(1, n - T + 1), stride))
    if starts[-1] + T < n:
        starts.append(max(0, n - T))
    keys = np.zeros((n, lm.hidden_size), np.float32)
    filled = 0  # positions [0, filled) are done
    tok = torch.from_numpy(np.asarray(tokens, dtype=np.int64))
    for a in tqdm(range(0, len(starts), batch_size), desc="kNN-LM keys", disable=not progress, leave=False):
        group = starts[a:a + batch_size]
        L = min(T, n)
        idx = torch.stack([tok[s:s + L] for s in group]).to(lm.device)  # (b, L)
        hidden = lm.hidden_states(idx)  # (b, L, C)
        hidden = hidden.float().cpu().numpy()
        for j, s in enumerate(group):
            lo = max(filled, s)  # the first new position of this window
            hi = s + L
            if hi > lo:
                keys[lo:hi] = hidden[j, lo - s:hi - s]
                filled = hi
    assert filled >= n, (filled, n)
    return keys, np.asarray(tokens[1:n + 1], dtype=np.int64)


def _save_keys(keys: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npy")
    np.save(tmp, keys)
    tmp.replace(path)


def knn_keys_path(ds: Datastore) -> Path | None:
    """The full-precision keys of a token store built with ``keep_keys`` (None if not kept)."""
    p = ds.meta.get("keys_file")
    return Path(p) if p and Path(p).exists() else None


def _token_text(lm, docs: list | None, tokens: np.ndarray | None):
    """(documents, tokens, source id, character start of every token) of a token store's text."""
    from ivfpq.datasets.text import Document

    from .corpus import SEPARATOR, corpus_documents, corpus_fingerprint
    from .sources import token_char_starts

    if tokens is not None and docs is None:  # a bare token stream (tests, benchmarks): one document
        tokens = np.asarray(tokens, np.int64)
        text = lm.tokenizer.decode(tokens.tolist())
        docs = [Document("token stream", text)]
        src = "custom-" + hashlib.sha256(tokens.tobytes()).hexdigest()[:12]
        return docs, tokens, src, token_char_starts(lm.tokenizer, text, tokens.tolist())
    builtin = docs is None
    docs = corpus_documents("train") if builtin else docs
    text = SEPARATOR.join(d.text for d in docs)
    ids = lm.tokenizer.encode(text)
    tokens = np.asarray(ids, dtype=np.int64)
    src = f"train-{corpus_fingerprint('train')}" if builtin else f"docs-{documents_key(docs)}"
    return docs, tokens, src, token_char_starts(lm.tokenizer, text, ids)


def build_knn_store(lm, cfg: KnnStoreConfig | None = None, tokens: np.ndarray | None = None,
                    rebuild: bool = False, progress: bool = True, name: str | None = None,
                    keep_keys: bool = False, docs: list | None = None) -> Datastore:
    """The kNN-LM store of ``lm`` over the training text (or ``docs`` joined by a blank line, or a bare
    ``tokens`` stream), cached by model, content and config. ``keep_keys`` also keeps the
    full-precision keys (float32, N x hidden size) in the cache, for comparisons with exact search
    (``bench.knnlm_exact``), and reuses them when the store is rebuilt."""
    from ivfpq.datasets.cache import cache_dir
    from ivfpq.faiss_io import train_index
    from ivfpq.payloads import PayloadStore

    from .corpus import SEPARATOR
    from .sources import token_sources

    cfg = cfg or KnnStoreConfig()
    if not cfg.M:
        cfg = KnnStoreConfig(**{**asdict(cfg), "M": auto_m(lm.hidden_size)})
    if lm.hidden_size % cfg.M:
        raise HwragError(f"M={cfg.M} must divide the LM's hidden size {lm.hidden_size}")
    docs, tokens, src, starts = _token_text(lm, docs, tokens)
    if cfg.max_tokens:
        tokens = tokens[:cfg.max_tokens + 1]
    name = name or ("pydocs-knn" if src.startswith("train-") else "docs-knn")
    name = f"{name}-{lm.name}"
    root = cache_dir("datastores")
    path = root / f"{name}-IVF{cfg.nlist}-PQ{cfg.M}-{_key(asdict(cfg) | {'src': src, 'dtype': str(lm.dtype)})}"
    if not rebuild and (ds := _cached(path, "token")) and (not keep_keys or knn_keys_path(ds)):
        return ds
    clean_stale(root)
    t0 = time.perf_counter()
    keys_id = _key({"src": src, "model": lm.name, "dtype": str(lm.dtype), "max_tokens": cfg.max_tokens,
                    "window": cfg.window, "batch_size": cfg.batch_size})
    keys_file = root / "keys" / f"{name}-{keys_id}.npy"
    if keep_keys and keys_file.exists():
        keys, values = np.load(keys_file), np.asarray(tokens[1:], dtype=np.int64)
    else:
        keys, values = collect_keys(lm, tokens, cfg.batch_size, progress, cfg.window)
        if keep_keys:
            _save_keys(keys, keys_file)
    nlist = min(cfg.nlist, max(1, len(keys) // KNN_KEYS_PER_LIST))
    ids = np.arange(len(keys), dtype=np.int64)
    _say(progress, f"kNN-LM store: training IVF{nlist},PQ{cfg.M} on {len(keys)} keys (minutes for a large store)")
    index = train_index(keys, nlist, cfg.M, metric="l2", ids=ids, seed=cfg.seed)
    payloads = PayloadStore.build((int(i), token_payload(v)) for i, v in zip(ids, values))
    sources = token_sources(docs, SEPARATOR, starts, len(keys))
    a, b = keys[:512].astype(np.float64), keys[-512:].astype(np.float64)  # scale of the distances, for tuning
    dist_scale = float(np.median((a * a).sum(1)[:, None] + (b * b).sum(1)[None] - 2 * a @ b.T))
    meta = {"kind": "token", "index_name": path.name, "model": lm.name, "dtype": str(lm.dtype).replace("torch.", ""), "d": int(keys.shape[1]), "metric": "l2",
            "ntotal": int(index.ntotal), "nlist": nlist, "documents": len(docs), "config": asdict(cfg), "source": src,
            "median_sq_distance": dist_scale, "build_seconds_measured": time.perf_counter() - t0}
    if keep_keys:
        meta["keys_file"] = str(keys_file)
    log.info("kNN-LM store: %d keys -> %s", index.ntotal, path)
    return _save("token", path, index, payloads, sources, meta)

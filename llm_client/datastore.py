"""Retrieval datastores built from the corpus's training documents, saved as IVF-PQ indexes with a
payload store beside them (``<index>.payloads``, the format ``retrieval_service`` loads):

- **chunk store**: MiniLM embeddings (384-d, unit norm, inner product) of ~64-word chunks; payload = chunk text.
  Embeddings come from ``ivfpq``'s cached ``pydocs`` dataset (the same training-document chunks).
- **kNN-LM store**: the LM's last-layer hidden states (after the final layer norm) at every position of
  the training text (L2); payload = the next token (uint32 little-endian). The store belongs to the
  model that produced the keys; its name carries the model's name.

Both are cached under ``cache_dir("datastores")`` and rebuilt only when their config changes.
"""
from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from ivfpq.errors import HwragError

from .defaults import KNN_KEY_WINDOW, KNN_KEYS_PER_LIST, KNN_MIN_DSUB, KNN_NLIST

log = logging.getLogger(__name__)


def auto_m(d: int) -> int:
    """PQ sub-quantisers for d-dim keys: the most that leave each at least KNN_MIN_DSUB dims."""
    return max(m for m in range(1, d + 1) if d % m == 0 and d // m >= KNN_MIN_DSUB)


def token_payload(token: int) -> bytes:
    return int(token).to_bytes(4, "little")


def payload_token(b: bytes) -> int:
    return int.from_bytes(b, "little") if len(b) == 4 else -1


@dataclass
class ChunkStoreConfig:
    chunk_words: int = 64
    nlist: int = 64
    M: int = 48  # 384 / 48 = 8 dims per sub-quantiser
    seed: int = 0
    max_docs: int = 0  # embed only the corpus's first N documents (0 = all); MiniLM on CPU is the cost


@dataclass
class KnnStoreConfig:
    nlist: int = KNN_NLIST  # capped at ntotal / KNN_KEYS_PER_LIST
    M: int = 0  # must divide the LM's hidden size; 0: the most with >= KNN_MIN_DSUB dims each (576 -> 96)
    max_tokens: int = 0  # keys from the first max_tokens positions of the training text (0 = all)
    seed: int = 0
    batch_size: int = 16  # windows per forward pass while collecting keys
    window: int = KNN_KEY_WINDOW  # tokens per forward pass while collecting keys (each key sees >= window/2 of context)


@dataclass
class Datastore:
    kind: str  # "chunk" | "token"
    path: Path  # the saved IVF-PQ index (a directory)
    meta: dict

    @property
    def payload_path(self) -> Path:
        from ivfpq.payloads import default_path

        return default_path(self.path)

    @property
    def index_name(self) -> str:
        return self.meta["index_name"]

    @property
    def nlist(self) -> int:
        return int(self.meta.get("nlist") or self.load_index().nlist)

    def load_index(self):
        from ivfpq.storage import load_index

        return load_index(self.path)

    def load_payloads(self):
        from ivfpq.payloads import PayloadStore

        return PayloadStore.load(self.payload_path)


def to_serve(stores: dict[str, Datastore]) -> dict[str, tuple]:
    """{index name: (index, payloads)} of ``stores``: what a service that serves them loads."""
    return {ds.index_name: (ds.load_index(), ds.load_payloads()) for ds in stores.values()}


def _key(obj: dict) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:12]


def _cached(path: Path, kind: str) -> Datastore | None:
    meta_file = path.with_name(path.name + ".json")
    if path.exists() and meta_file.exists() and (path.with_name(path.name + ".payloads")).exists():
        return Datastore(kind, path, json.loads(meta_file.read_text()))
    return None


def _save(kind: str, path: Path, index, payloads, meta: dict) -> Datastore:
    from ivfpq.storage import save_index
    from ivfpq.payloads import default_path

    save_index(index, path, extra={"datastore": kind})
    payloads.save(default_path(path))
    meta_file = path.with_name(path.name + ".json")
    tmp = meta_file.with_name(meta_file.name + ".tmp")
    tmp.write_text(json.dumps(meta, indent=1))
    tmp.replace(meta_file)
    return Datastore(kind, path, meta)


def build_chunk_store(cfg: ChunkStoreConfig | None = None, rebuild: bool = False,
                      texts: list[str] | None = None, progress: bool = False, name: str | None = None) -> Datastore:
    """The chunk store (cached) of the training documents' chunks, or of ``texts`` (embedded here).
    Embedding the whole corpus the first time takes minutes (MiniLM on CPU). The index is served under
    its directory's name, which changes with the content and the config."""
    from ivfpq.datasets import load_dataset
    from ivfpq.datasets.cache import cache_dir
    from ivfpq.faiss_io import train_index
    from ivfpq.payloads import PayloadStore

    cfg = cfg or ChunkStoreConfig()
    src = {} if texts is None else {"texts": hashlib.sha256("\0".join(texts).encode()).hexdigest()[:12]}
    if texts is None:
        name = f"pydocs-chunks-w{cfg.chunk_words}" + (f"-d{cfg.max_docs}" if cfg.max_docs else "")
    else:
        name = name or "chunks"
    path = cache_dir("datastores") / f"{name}-IVF{cfg.nlist}-PQ{cfg.M}-{_key(asdict(cfg) | src)}"
    if not rebuild and (ds := _cached(path, "chunk")):
        return ds
    t0 = time.perf_counter()
    if texts is None:
        data = load_dataset(f"pydocs:chunk_words={cfg.chunk_words}"
                            + (f",max_docs={cfg.max_docs}" if cfg.max_docs else ""))
        if data.texts is None:
            raise HwragError("the pydocs dataset carries no chunk texts")
        base, texts = data.base, data.texts
    else:
        from .chunk_ralm import default_encoder

        base = default_encoder().encode(texts, progress=progress)
    ids = np.arange(base.shape[0], dtype=np.int64)
    index = train_index(base, min(cfg.nlist, max(1, len(texts) // 39)), cfg.M, metric="ip", ids=ids, seed=cfg.seed)
    payloads = PayloadStore.build((int(i), t) for i, t in zip(ids, texts))
    meta = {"kind": "chunk", "index_name": path.name, "encoder": "minilm", "d": int(base.shape[1]), "nlist": index.nlist,
            "metric": "ip", "ntotal": int(index.ntotal), "config": asdict(cfg),
            "build_seconds_measured": time.perf_counter() - t0}
    log.info("chunk store: %d chunks -> %s", index.ntotal, path)
    return _save("chunk", path, index, payloads, meta)


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


def build_knn_store(lm, cfg: KnnStoreConfig | None = None, tokens: np.ndarray | None = None,
                    rebuild: bool = False, progress: bool = True, name: str | None = None,
                    keep_keys: bool = False) -> Datastore:
    """The kNN-LM store of ``lm`` over the training text (or ``tokens``), cached by model and config.
    ``keep_keys`` also keeps the full-precision keys (float32, N x hidden size) in the cache, for
    comparisons with exact search (``bench.knnlm_exact``), and reuses them when the store is rebuilt."""
    from ivfpq.datasets.cache import cache_dir
    from ivfpq.faiss_io import train_index
    from ivfpq.payloads import PayloadStore

    from .corpus import corpus_fingerprint, corpus_text

    cfg = cfg or KnnStoreConfig()
    if not cfg.M:
        cfg = KnnStoreConfig(**{**asdict(cfg), "M": auto_m(lm.hidden_size)})
    if lm.hidden_size % cfg.M:
        raise HwragError(f"M={cfg.M} must divide the LM's hidden size {lm.hidden_size}")
    src = "custom" if tokens is not None else f"train-{corpus_fingerprint('train')}"
    if tokens is None:
        tokens = np.asarray(lm.tokenizer.encode(corpus_text("train")), dtype=np.int64)
    else:
        src += "-" + hashlib.sha256(np.asarray(tokens, np.int64).tobytes()).hexdigest()[:12]
    if cfg.max_tokens:
        tokens = tokens[:cfg.max_tokens + 1]
    name = name or f"pydocs-knn-{lm.name}"
    path = cache_dir("datastores") / f"{name}-IVF{cfg.nlist}-PQ{cfg.M}-{_key(asdict(cfg) | {'src': src, 'dtype': str(lm.dtype)})}"
    if not rebuild and (ds := _cached(path, "token")) and (not keep_keys or knn_keys_path(ds)):
        return ds
    t0 = time.perf_counter()
    keys_id = _key({"src": src, "model": lm.name, "dtype": str(lm.dtype), "max_tokens": cfg.max_tokens,
                    "window": cfg.window, "batch_size": cfg.batch_size})
    keys_file = cache_dir("datastores") / "keys" / f"{name}-{keys_id}.npy"
    if keep_keys and keys_file.exists():
        keys, values = np.load(keys_file), np.asarray(tokens[1:], dtype=np.int64)
    else:
        keys, values = collect_keys(lm, tokens, cfg.batch_size, progress, cfg.window)
        if keep_keys:
            _save_keys(keys, keys_file)
    nlist = min(cfg.nlist, max(1, len(keys) // KNN_KEYS_PER_LIST))
    ids = np.arange(len(keys), dtype=np.int64)
    index = train_index(keys, nlist, cfg.M, metric="l2", ids=ids, seed=cfg.seed)
    payloads = PayloadStore.build((int(i), token_payload(v)) for i, v in zip(ids, values))
    a, b = keys[:512].astype(np.float64), keys[-512:].astype(np.float64)  # scale of the distances, for tuning
    dist_scale = float(np.median((a * a).sum(1)[:, None] + (b * b).sum(1)[None] - 2 * a @ b.T))
    meta = {"kind": "token", "index_name": path.name, "model": lm.name, "dtype": str(lm.dtype).replace("torch.", ""), "d": int(keys.shape[1]), "metric": "l2",
            "ntotal": int(index.ntotal), "nlist": nlist, "config": asdict(cfg), "source": src,
            "median_sq_distance": dist_scale, "build_seconds_measured": time.perf_counter() - t0}
    if keep_keys:
        meta["keys_file"] = str(keys_file)
    log.info("kNN-LM store: %d keys -> %s", index.ntotal, path)
    return _save("token", path, index, payloads, meta)

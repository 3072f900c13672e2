"""Perplexity on held-out text with retrieval off (``none``), chunk RALM (``chunk``) or kNN-LM (``token``).

Every mode scores the same tokens with the same own context: the text is cut into segments of
``stride`` tokens; each segment is scored in one forward pass whose input is the ``window`` tokens
ending just before its last target (so every target sees between ``window - stride`` and ``window - 1``
tokens of its own text). In chunk mode the segment's query is the ``query_tokens`` before the segment
(never the segment itself) and up to ``max_prefix_tokens`` of retrieved text go before that same
window (the model's context permitting). In token mode the hidden state at every scored position is
a query and p = λ·p_kNN + (1−λ)·p_LM at the target. Perplexity is per token of the model's tokenizer.

:func:`tune_knn` picks λ, k and temperature on one slice from a single pass (the LM's target
log-probabilities and the neighbours of every position, retrieved once at the largest k).
"""
from __future__ import annotations

import itertools
import logging
import math
import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from ivfpq.errors import HwragError

from .chunk_ralm import ChunkRALMConfig, conditioned_input, conditioned_segments, default_encoder, query_text
from .datastore import payload_token
from .knnlm import KnnLMConfig, interpolate_target, knn_target_log_probs

log = logging.getLogger(__name__)

MODES = ("none", "chunk", "token")


@dataclass
class EvalConfig:
    mode: str = "none"  # none | chunk | token
    max_tokens: int = 4096  # tokens of held-out text scored (0 = all)
    window: int = 256  # own-context tokens of each forward pass (capped at the model's context)
    stride: int = 64  # tokens scored per forward pass (a chunk-mode segment = one retrieval)
    batch_size: int = 8  # segments per forward pass
    query_batch: int = 1024  # kNN-LM queries per request
    chunk: ChunkRALMConfig = field(default_factory=ChunkRALMConfig)
    knn: KnnLMConfig = field(default_factory=KnnLMConfig)

    def check(self, block_size: int) -> int:
        """The window actually used (``min(window, block_size)``), after checking the config."""
        if self.mode not in MODES:
            raise HwragError(f"mode={self.mode!r}; accepted: {', '.join(MODES)}")
        W = min(self.window, block_size)
        if not 1 <= self.stride < W:
            raise HwragError(f"stride={self.stride}; accepted: 1 <= stride < window={W}")
        if self.mode == "chunk":
            self.chunk.check(block_size)
            if self.chunk.min_context < self.stride:
                raise HwragError(f"min_context={self.chunk.min_context} must be >= stride={self.stride} "
                                 "(it holds the scored segment)")
        if self.mode == "token":
            self.knn.check()
        return W


def heldout_tokens(lm, max_tokens: int = 0, offset: int = 0, split: str = "heldout") -> np.ndarray:
    """Tokens of the corpus's held-out documents (``split``: heldout, validation or test)."""
    from .corpus import corpus_text

    ids = np.asarray(lm.tokenizer.encode(corpus_text(split)), dtype=np.int64)[offset:]
    return ids[:max_tokens + 1] if max_tokens else ids


def _segments(n: int, S: int) -> list[tuple[int, int]]:
    return [(a, min(a + S, n)) for a in range(1, n, S)]  # segment [a, b) scores targets toks[a:b]


def _score_batch(lm, inputs: list[list[int]], targets: list[list[int]], want_hidden: bool):
    """LM log-probability of each target (N,) and, if wanted, the hidden state that predicts it (N, C)."""
    idx, mask = lm.batch(inputs)
    L, S = idx.shape[1], max(len(t) for t in targets)
    logits, hidden = lm.forward(idx, None if bool(mask.all()) else mask, logits_last=S)
    rows, cols, tg = [], [], []
    for i, t_ in enumerate(targets):  # the last len(t) positions of each (left-padded) row predict t
        rows += [i] * len(t_)
        cols += list(range(S - len(t_), S))
        tg += t_
    r = torch.tensor(rows, device=logits.device)
    c = torch.tensor(cols, device=logits.device)
    t = torch.tensor(tg, device=logits.device)
    lp = torch.log_softmax(logits[r, c].float(), dim=-1).gather(1, t[:, None])[:, 0].cpu()
    h = hidden[r, c + (L - S)].float().cpu().numpy() if want_hidden else None
    return lp, h


def _score_cached(lm, kv_cache, parts: list, targets: list[list[int]], want_hidden: bool):
    """:func:`_score_batch` one row at a time through the KV knowledge cache (``parts``: per row the
    placed chunks and the context after them): the retrieved chunks' KV comes from the cache where held."""
    from .kv_cache import prefill

    lps, hs = [], []
    for (segs, tail), t_ in zip(parts, targets):
        logits, hidden, _ = prefill(lm, kv_cache, segs, tail, logits_last=len(t_))
        t = torch.tensor(t_, device=logits.device)
        lps.append(torch.log_softmax(logits[0].float(), dim=-1).gather(1, t[:, None])[:, 0].cpu())
        if want_hidden:
            hs.append(hidden[0, -len(t_):].float().cpu().numpy())
    return torch.cat(lps), (np.concatenate(hs) if want_hidden else None)


@torch.no_grad()
def lm_pass(lm, tokens: np.ndarray, cfg: EvalConfig, want_hidden: bool, retriever=None, encoder=None,
            progress: bool = True, kv_cache=None) -> dict:
    """One pass over ``tokens``: LM target log-probs (N,), targets (N,), hidden states (N, C) if wanted;
    in chunk mode conditioned on retrieved chunks (their KV reused from ``kv_cache``, a
    :class:`~llm_client.kv_cache.KnowledgeCache`, when given). Measured seconds (retrieval apart)."""
    from tqdm.auto import tqdm

    W = cfg.check(lm.block_size)
    toks = [int(x) for x in tokens]
    if len(toks) < 2:
        raise HwragError("need at least two tokens to score")
    tok = lm.tokenizer
    chunk_block = min(lm.block_size, W + cfg.chunk.max_prefix_tokens)
    if cfg.mode == "chunk":
        encoder = encoder or default_encoder()
    segs = _segments(len(toks), cfg.stride)
    lps, hs, tgts = [], [], []
    t_ret = 0.0
    t0 = time.perf_counter()
    for g in tqdm(range(0, len(segs), cfg.batch_size), desc=f"ppl {cfg.mode}", disable=not progress, leave=False):
        group = segs[g:g + cfg.batch_size]
        chunks, ids = [[] for _ in group], [None for _ in group]
        if cfg.mode == "chunk":
            t = time.perf_counter()
            q = encoder.encode([query_text(tok, toks[:a], cfg.chunk) for a, _ in group])
            r = retriever.search("chunk", q, cfg.chunk.k, cfg.chunk.nprobe).result
            t_ret += time.perf_counter() - t
            chunks = r.payloads
            if kv_cache is not None:  # the passages' ids label the cache's tree
                ids = [[int(x) for x in row] for row in r.ids]
        inputs, targets = [], []
        for (a, b), c, i in zip(group, chunks, ids):
            ctx = toks[max(0, b - 1 - W):b - 1]  # the window ending before the last target
            if cfg.mode != "chunk":
                inputs.append(ctx)
            elif kv_cache is not None:
                inputs.append(conditioned_segments(tok, c, ctx, chunk_block, cfg.chunk, i))
            else:
                inputs.append(conditioned_input(tok, c, ctx, chunk_block, cfg.chunk))
            targets.append(toks[a:b])
        if cfg.mode == "chunk" and kv_cache is not None:
            lp, h = _score_cached(lm, kv_cache, inputs, targets, want_hidden)
        else:
            lp, h = _score_batch(lm, inputs, targets, want_hidden)
        lps.append(lp)
        tgts += [x for t_ in targets for x in t_]
        if h is not None:
            hs.append(h)
    return {"lp": torch.cat(lps).double(), "targets": torch.tensor(tgts), "hidden": np.concatenate(hs) if hs else None,
            "seconds": time.perf_counter() - t0 - t_ret, "retrieval_seconds": t_ret, "window": W}


def neighbours(retriever, hidden: np.ndarray, k: int, nprobe: int, query_batch: int = 1024
               ) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Distances (N, k) and next tokens (N, k; −1 = none) of every hidden state, and the seconds it took."""
    ds, ts = [], []
    t = time.perf_counter()
    for q0 in range(0, len(hidden), query_batch):
        r = retriever.search("token", hidden[q0:q0 + query_batch], k, nprobe).result
        nxt = torch.tensor([[payload_token(p) for p in row] for row in r.payloads], dtype=torch.long).reshape(-1, k)
        nxt[torch.from_numpy(np.asarray(r.ids)).reshape(-1, k) < 0] = -1
        ds.append(torch.from_numpy(np.asarray(r.distances, dtype=np.float64)).reshape(-1, k))
        ts.append(nxt)
    return torch.cat(ds), torch.cat(ts), time.perf_counter() - t


def _figures(nll_sum: float, count: int, cfg: EvalConfig, W: int, seconds: float, retrieval_s: float) -> dict:
    mean = nll_sum / count
    out = {"mode": cfg.mode, "tokens": count, "nll_per_token": mean, "perplexity": math.exp(mean),
           "bits_per_token": mean / math.log(2), "seconds_measured": seconds, "retrieval_seconds_measured": retrieval_s,
           "provenance": "measured", "stride": cfg.stride, "window": W}
    if cfg.mode == "token":
        out.update(knn_k=cfg.knn.k, knn_lambda=cfg.knn.lam, knn_temperature=cfg.knn.temperature,
                   knn_nprobe=cfg.knn.nprobe)
    if cfg.mode == "chunk":
        out.update(chunk_k=cfg.chunk.k, chunk_nprobe=cfg.chunk.nprobe, query_tokens=cfg.chunk.query_tokens,
                   max_prefix_tokens=cfg.chunk.max_prefix_tokens)
    return out


def perplexity(lm, tokens: np.ndarray, cfg: EvalConfig, retriever=None, encoder=None,
               progress: bool = True, kv_cache=None) -> dict:
    """Score tokens[1:] given what precedes them; returns figures (perplexity, nll, measured seconds)."""
    if cfg.mode not in MODES:
        raise HwragError(f"mode={cfg.mode!r}; accepted: {', '.join(MODES)}")
    if cfg.mode != "none" and (retriever is None or not retriever.has(cfg.mode)):
        raise HwragError(f"mode {cfg.mode!r} needs a connected {cfg.mode} datastore")
    p = lm_pass(lm, tokens, cfg, cfg.mode == "token", retriever, encoder, progress,
                kv_cache if cfg.mode == "chunk" else None)
    lp, ret_s = p["lp"], p["retrieval_seconds"]
    if cfg.mode == "token":
        d, nxt, s = neighbours(retriever, p["hidden"], cfg.knn.k, cfg.knn.nprobe, cfg.query_batch)
        ret_s += s
        klp, valid = knn_target_log_probs(d, nxt, p["targets"], cfg.knn.temperature)
        lp = interpolate_target(lp, klp, cfg.knn.lam, valid)
    out = _figures(-float(lp.sum()), len(lp), cfg, p["window"], p["seconds"], ret_s)
    if cfg.mode == "chunk" and kv_cache is not None:
        out["kv_cache"] = kv_cache.stats.as_dict() | {"policy": kv_cache.policy}
    return out


def perplexities(lm, tokens: np.ndarray, modes: list[str], cfg: EvalConfig, retriever=None, encoder=None,
                 progress: bool = True, kv_cache=None) -> list[dict]:
    """:func:`perplexity` for each of ``modes`` on the same tokens; ``none`` and ``token`` share one LM pass
    (kNN-LM only adds retrieval to the plain LM's forward pass), so their figures are the same as apart."""
    from dataclasses import replace

    for m in modes:
        if m not in MODES:
            raise HwragError(f"mode={m!r}; accepted: {', '.join(MODES)}")
        if m != "none" and (retriever is None or not retriever.has(m)):
            raise HwragError(f"mode {m!r} needs a connected {m} datastore")
    out = {}
    if "none" in modes and "token" in modes:
        c = replace(cfg, mode="token")
        p = lm_pass(lm, tokens, c, True, retriever, encoder, progress)
        out["none"] = _figures(-float(p["lp"].sum()), len(p["lp"]), replace(cfg, mode="none"), p["window"],
                               p["seconds"], 0.0) | {"shared_lm_pass_with": "token"}
        d, nxt, s = neighbours(retriever, p["hidden"], c.knn.k, c.knn.nprobe, c.query_batch)
        klp, valid = knn_target_log_probs(d, nxt, p["targets"], c.knn.temperature)
        lp = interpolate_target(p["lp"], klp, c.knn.lam, valid)
        out["token"] = _figures(-float(lp.sum()), len(lp), c, p["window"], p["seconds"], s) | {"shared_lm_pass_with": "none"}
    for m in modes:
        if m not in out:
            out[m] = perplexity(lm, tokens, replace(cfg, mode=m), retriever, encoder, progress, kv_cache)
    return [out[m] for m in modes]


@dataclass
class KnnGrid:
    """Values tried by :func:`tune_knn`; temperatures are in units of the store's median squared
    distance between keys (``Datastore.meta['median_sq_distance']``), so one grid fits any model."""
    k: tuple[int, ...] = (8, 16, 32, 64, 128)
    lam: tuple[float, ...] = (0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)
    temperature: tuple[float, ...] = (0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)


def grid_search(lp_lm: torch.Tensor, targets: torch.Tensor, d: torch.Tensor, nxt: torch.Tensor, dist_scale: float,
                grid: KnnGrid) -> list[dict]:
    """Perplexity of every (k, temperature, λ) of ``grid`` given the LM's target log-probabilities and the
    neighbours (distances, next tokens; at least max(grid.k) per position, nearest first)."""
    rows = []
    for k, temp in itertools.product(grid.k, grid.temperature):
        klp, valid = knn_target_log_probs(d[:, :k], nxt[:, :k], targets, temp * dist_scale)
        for lam in grid.lam:
            nll = -float(interpolate_target(lp_lm, klp, lam, valid).mean())
            rows.append({"k": k, "lam": lam, "temperature": temp * dist_scale, "temperature_rel": temp,
                         "perplexity": math.exp(nll)})
    return rows


def tune_knn(lm, val_tokens: np.ndarray, retriever, dist_scale: float, grid: KnnGrid | None = None,
             base: KnnLMConfig | None = None, cfg: EvalConfig | None = None, progress: bool = True) -> dict:
    """The (λ, k, temperature) of ``grid`` with the lowest perplexity on ``val_tokens`` (a slice that is
    neither in the datastore nor the test slice). Returns the chosen KnnLMConfig's fields, the plain
    LM's and the chosen config's validation perplexity, and every grid point."""
    grid, base = grid or KnnGrid(), base or KnnLMConfig()
    cfg = cfg or EvalConfig()
    cfg = EvalConfig(**{**asdict(cfg), "mode": "token", "chunk": cfg.chunk, "knn": base})
    p = lm_pass(lm, val_tokens, cfg, True, progress=progress)
    d, nxt, ret_s = neighbours(retriever, p["hidden"], max(grid.k), base.nprobe, cfg.query_batch)
    lp_lm, tg = p["lp"], p["targets"]
    rows = grid_search(lp_lm, tg, d, nxt, dist_scale, grid)
    best = min(rows, key=lambda r: r["perplexity"])
    return {"k": best["k"], "lam": best["lam"], "temperature": best["temperature"], "nprobe": base.nprobe,
            "validation_tokens": len(tg), "validation_ppl_none": math.exp(-float(lp_lm.mean())),
            "validation_ppl_token": best["perplexity"], "grid": rows, "provenance": "measured",
            "seconds_measured": p["seconds"] + ret_s}

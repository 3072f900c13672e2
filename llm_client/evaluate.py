"""Perplexity on held-out text with retrieval off (``none``), chunk RALM (``chunk``) or kNN-LM (``token``).

All modes score the same tokens the same way: the text is cut into segments of ``stride`` tokens;
each segment is scored in one forward pass whose input ends with the segment and holds as much
preceding text as fits in ``block_size``. In chunk mode the segment's query is the ``query_tokens``
before the segment (never the segment itself), and the retrieved text takes part of the block (the
in-context RALM trade). In token mode the hidden state at every scored position is a query.
Perplexity is per token (a byte for the byte-level model).
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from ivfpq.errors import HwragError

from .chunk_ralm import ChunkRALMConfig, conditioned_input, default_encoder, query_text
from .datastore import payload_token
from .knnlm import KnnLMConfig, interpolate, knn_log_probs

log = logging.getLogger(__name__)


@dataclass
class EvalConfig:
    mode: str = "none"  # none | chunk | token
    max_tokens: int = 16384  # tokens of held-out text scored (0 = all)
    stride: int = 32  # tokens scored per forward pass (a chunk-mode segment = one retrieval)
    batch_size: int = 16  # segments per forward pass
    query_batch: int = 1024  # kNN-LM queries per request
    chunk: ChunkRALMConfig = field(default_factory=ChunkRALMConfig)
    knn: KnnLMConfig = field(default_factory=KnnLMConfig)


def heldout_tokens(lm, max_tokens: int = 0, offset: int = 0) -> np.ndarray:
    from .corpus import corpus_text

    ids = np.asarray(lm.tokenizer.encode(corpus_text("heldout")), dtype=np.int64)[offset:]
    return ids[:max_tokens + 1] if max_tokens else ids


@torch.no_grad()
def perplexity(lm, tokens: np.ndarray, cfg: EvalConfig, retriever=None, encoder=None,
               progress: bool = True) -> dict:
    """Score tokens[1:] given what precedes them; returns figures (perplexity, nll, measured seconds)."""
    from tqdm.auto import tqdm

    if cfg.mode not in ("none", "chunk", "token"):
        raise HwragError(f"mode={cfg.mode!r}; accepted: none, chunk, token")
    if cfg.mode != "none" and (retriever is None or not retriever.has(cfg.mode)):
        raise HwragError(f"mode {cfg.mode!r} needs a connected {cfg.mode} datastore")
    T, S = lm.block_size, cfg.stride
    if not 1 <= S < T:
        raise HwragError(f"stride={S}; accepted: 1 <= stride < block_size={T}")
    if cfg.mode == "chunk":
        cfg.chunk.check(T)
        if cfg.chunk.min_context < S:
            raise HwragError(f"min_context={cfg.chunk.min_context} must be >= stride={S} (it holds the scored segment)")
        encoder = encoder or default_encoder()
    if cfg.mode == "token":
        cfg.knn.check()
    toks = [int(x) for x in tokens]
    n = len(toks)
    if n < 2:
        raise HwragError("need at least two tokens to score")
    seg_starts = list(range(1, n, S))  # segment [a, b) scores targets toks[a:b]
    tok = lm.tokenizer
    nll, count = 0.0, 0
    t_ret = 0.0
    t0 = time.perf_counter()
    for g in tqdm(range(0, len(seg_starts), cfg.batch_size), desc=f"ppl {cfg.mode}", disable=not progress,
                  leave=False):
        group = seg_starts[g:g + cfg.batch_size]
        inputs, targets = [], []
        chunks = [[] for _ in group]
        if cfg.mode == "chunk":
            qs = [query_text(tok, toks[:a], cfg.chunk) for a in group]
            t = time.perf_counter()
            emb = encoder.encode(qs)
            r = retriever.search("chunk", emb, cfg.chunk.k, cfg.chunk.nprobe).result
            t_ret += time.perf_counter() - t
            chunks = [c if a > 1 else [] for c, a in zip(r.payloads, group)]
        for a, c in zip(group, chunks):
            b = min(a + S, n)
            ctx = toks[:b - 1]  # the input: everything before the last target
            if cfg.mode == "chunk":
                x = conditioned_input(tok, c, ctx, T, cfg.chunk)
            else:
                x = ctx[-T:]
            inputs.append(x)
            targets.append(toks[a:b])
        idx, mask = lm.batch(inputs)
        logits, hidden = lm.forward(idx, None if bool(mask.all()) else mask)
        # the last len(target) positions of each (left-padded) row predict its targets
        rows, cols, tg = [], [], []
        for i, t_ in enumerate(targets):
            L = idx.shape[1]
            rows += [i] * len(t_)
            cols += list(range(L - len(t_), L))
            tg += t_
        rows_t, cols_t = torch.tensor(rows, device=logits.device), torch.tensor(cols, device=logits.device)
        lg = logits[rows_t, cols_t].float().cpu()  # (N, V)
        tgt = torch.tensor(tg)
        if cfg.mode == "token":
            h = hidden[rows_t, cols_t].float().cpu().numpy()
            lps = []
            for q0 in range(0, len(h), cfg.query_batch):
                t = time.perf_counter()
                r = retriever.search("token", h[q0:q0 + cfg.query_batch], cfg.knn.k, cfg.knn.nprobe).result
                t_ret += time.perf_counter() - t
                nxt = torch.tensor([[payload_token(p) for p in row] for row in r.payloads], dtype=torch.long)
                nxt[torch.from_numpy(r.ids) < 0] = -1
                klp, valid = knn_log_probs(torch.from_numpy(r.distances), nxt, lm.vocab_size, cfg.knn.temperature)
                lps.append(interpolate(lg[q0:q0 + cfg.query_batch], klp, cfg.knn.lam, valid))
            lp = torch.cat(lps)
        else:
            lp = torch.log_softmax(lg, dim=-1)
        nll -= float(lp[torch.arange(len(tgt)), tgt].double().sum())
        count += len(tgt)
    wall = time.perf_counter() - t0
    mean = nll / count
    out = {"mode": cfg.mode, "tokens": count, "nll_per_token": mean, "perplexity": math.exp(mean),
           "bits_per_token": mean / math.log(2), "seconds_measured": wall, "retrieval_seconds_measured": t_ret,
           "provenance": "measured", "stride": S, "block_size": T}
    if cfg.mode == "token":
        out.update(knn_k=cfg.knn.k, knn_lambda=cfg.knn.lam, knn_temperature=cfg.knn.temperature,
                   knn_nprobe=cfg.knn.nprobe)
    if cfg.mode == "chunk":
        out.update(chunk_k=cfg.chunk.k, chunk_nprobe=cfg.chunk.nprobe, query_tokens=cfg.chunk.query_tokens,
                   min_context=cfg.chunk.min_context)
    return out

"""Chunk-level RALM, in-context style (Ram et al., 2023): every ``interval`` generated tokens the
recent context is encoded, the K nearest chunks are retrieved, and generation continues conditioned
on them -- their text placed before the context, within the model's context budget:

    [retrieved chunk K] ... [retrieved chunk 1] <sep> [most recent context]

The context keeps at least ``min_context`` of the model's ``block_size`` tokens; the retrieved
text gets the rest, at most ``max_prefix_tokens`` (the best chunk nearest the context; chunks cut at
their end if too long). The query is the text of the ``query_tokens`` most recent tokens (Ram et al.
found short recent queries, ~32 tokens, best).

The encoder is MiniLM (all-MiniLM-L6-v2), not the LM's own states: it is trained for retrieval
(contrastive sentence similarity) where a causal LM's states are trained to predict the next token;
it costs 22M parameters per chunk against the LM's 135M; and a chunk store then serves every LM
(SmolLM2, the byte GPT, any HF model) instead of belonging to one. (A measured comparison with
mean-pooled SmolLM2 states is not made yet.)
"""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass

import numpy as np
from ivfpq.errors import HwragError

from .defaults import CHUNK_INTERVAL, CHUNK_K


@dataclass
class ChunkRALMConfig:
    k: int = CHUNK_K  # passages retrieved per query
    interval: int = CHUNK_INTERVAL  # tokens generated between retrievals (0: once, from the prompt)
    nprobe: int = 8
    hybrid: bool = False  # fuse BM25 over the passages with the dense results (reciprocal-rank fusion)
    candidates: int = 20  # hybrid: results taken from each list before fusing
    query_tokens: int = 32  # recent context tokens encoded into the query
    min_context: int = 128  # tokens of own context always kept (the rest of the block is for chunks)
    max_prefix_tokens: int = 256  # retrieved text placed before the context, at most
    separator: str = "\n\n"

    def check(self, block_size: int | None = None) -> None:
        if min(self.k, self.nprobe, self.query_tokens, self.min_context, self.max_prefix_tokens, self.candidates) < 1:
            raise HwragError("k, nprobe, query_tokens, min_context, max_prefix_tokens and candidates must all be >= 1")
        if self.interval < 0:
            raise HwragError(f"interval={self.interval}; accepted: 0 (retrieve once, from the prompt) or >= 1")
        if block_size is not None and self.min_context >= block_size:
            raise HwragError(f"min_context={self.min_context} leaves no room for retrieved text in a "
                             f"block of {block_size}; accepted: min_context < {block_size}")


class MiniLMEncoder:
    """The chunk store's encoder (all-MiniLM-L6-v2, offline): text -> 384-d unit vector."""
    dim = 384

    def __init__(self, device: str | None = None):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from ivfpq.datasets.minilm import load_minilm

        self.model = load_minilm(device)

    def encode(self, texts: list[str], progress: bool = False) -> np.ndarray:
        e = self.model.encode(list(texts), batch_size=64, show_progress_bar=progress, convert_to_numpy=True,
                              normalize_embeddings=True)
        return np.ascontiguousarray(e, dtype=np.float32)


@functools.lru_cache(maxsize=1)
def default_encoder() -> MiniLMEncoder:
    return MiniLMEncoder()


def query_text(tokenizer, context: list[int], cfg: ChunkRALMConfig) -> str:
    return tokenizer.decode(context[-cfg.query_tokens:])


def prefix_parts(tokenizer, chunks: list[bytes | str], budget: int, separator: str) -> list[tuple[int, list[int]]]:
    """The retrieved chunks as placed before the context, in placement order (best chunk last, nearest
    the context): (index into ``chunks``, its tokens with the separator that follows it), the whole at
    most ``budget`` tokens. One part per chunk: the unit the KV knowledge cache keeps."""
    sep = tokenizer.encode(separator)
    room = budget - len(sep)
    if room <= 0:
        return []
    parts: list[tuple[int, list[int]]] = []
    for j, c in enumerate(chunks):  # best first
        text = c.decode("utf-8", errors="replace") if isinstance(c, bytes) else c
        if not text:
            continue
        tail = sep if parts else []  # a lesser chunk goes further left, separated from the next
        if room <= len(tail):
            break
        ids = tokenizer.encode(text)[:room - len(tail)] + tail
        parts.append((j, ids))
        room -= len(ids)
        if room <= 0:
            break
    if parts:  # the best chunk (placed last) is followed by the separator before the context
        parts[0] = (parts[0][0], parts[0][1] + sep)
    return parts[::-1]


def retrieved_prefix(tokenizer, chunks: list[bytes | str], budget: int, separator: str) -> list[int]:
    """Tokens of the retrieved chunks to place before the context: best chunk last (nearest the
    context), the whole prefix (separator included) at most ``budget`` tokens."""
    return [t for _, ids in prefix_parts(tokenizer, chunks, budget, separator) for t in ids]


def question_budget(lm, max_new_tokens: int, question: str) -> int:
    """Tokens left for passages in question mode: the context less the answer, the question and ~64
    tokens of template."""
    return lm.block_size - max_new_tokens - len(lm.tokenizer.encode(question)) - 64


def conditioned_segments(tokenizer, chunks: list[bytes | str], context: list[int], block_size: int,
                         cfg: ChunkRALMConfig, chunk_ids: list[int] | None = None):
    """:func:`conditioned_input` cut where the KV knowledge cache cuts it: (the placed chunks as
    :class:`~llm_client.kv_cache.Segment` s, the context tokens after them). ``chunk_ids[j]`` is the store's
    id of ``chunks[j]`` (a label of the cache's tree; -1 where unknown)."""
    from .kv_cache import Segment

    budget = min(block_size - min(len(context), cfg.min_context), cfg.max_prefix_tokens)
    parts = prefix_parts(tokenizer, chunks, budget, cfg.separator) if chunks else []
    segs = [Segment(int(chunk_ids[j]) if chunk_ids is not None and j < len(chunk_ids) else -1, ids)
            for j, ids in parts]
    keep = block_size - sum(len(s.tokens) for s in segs)
    return segs, list(context[-keep:])


def conditioned_input(tokenizer, chunks: list[bytes | str], context: list[int], block_size: int,
                      cfg: ChunkRALMConfig) -> list[int]:
    """The model's input: retrieved text (within the budget ``block_size - min(len(context), min_context)``
    and ``max_prefix_tokens``) followed by as much of the most recent context as fits in ``block_size``."""
    segs, tail = conditioned_segments(tokenizer, chunks, context, block_size, cfg)
    return [t for s in segs for t in s.tokens] + tail

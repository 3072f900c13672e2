"""Passage retrieval from a chunk store, and what each hit is: the dense IVF-PQ search through the
retrieval service (the main path, on the memory nodes), optionally fused with a lexical BM25 search
(``bm25s``, run here on the client over the store's passage texts) by reciprocal-rank fusion
(Cormack et al., 2009: score = sum over lists of 1 / (RRF_K + rank)).

    hits = fuse(dense_ids, dense_scores, bm25_hits, k=3)     # [{"id", "score", "dense_rank", "bm25_rank"}]
    explain(store, hits)                                     # + source file:lines, snippet, text

BM25 finds the passages a keyword match finds and the dense search ranks low (a name such as
``nonlocal`` or ``GPL`` that MiniLM blurs with its neighbours); the dense search finds paraphrases.
"""
from __future__ import annotations

import functools
import logging
import re
from dataclasses import dataclass

import numpy as np

log = logging.getLogger(__name__)

RRF_K = 60  # the constant of reciprocal-rank fusion (Cormack et al.'s value)
SNIPPET_CHARS = 160


@dataclass
class Hit:
    id: int
    score: float  # dense: the inner product (MiniLM cosine; higher is better); hybrid: the RRF score
    dense_rank: int | None = None  # 1-based rank in each list (None: not in it)
    bm25_rank: int | None = None

    def as_dict(self) -> dict:
        return {"id": self.id, "score": self.score, "dense_rank": self.dense_rank, "bm25_rank": self.bm25_rank}


_TOKEN = re.compile(r"[A-Za-z0-9_]+")


def _tokens(text: str) -> list[str]:
    return [t.lower() for t in _TOKEN.findall(text)]


class BM25:
    """A BM25 index (``bm25s``, Lucene's variant) over a store's passage texts."""

    def __init__(self, texts: list[str]):
        import bm25s

        self.n = len(texts)
        self.model = bm25s.BM25()
        self.model.index([_tokens(t) or ["_"] for t in texts], show_progress=False)

    def search(self, queries: list[str], k: int) -> list[list[tuple[int, float]]]:
        k = min(k, self.n)
        out = []
        for q in queries:
            toks = _tokens(q) or ["_"]
            ids, scores = self.model.retrieve([toks], k=k, show_progress=False, n_threads=1)
            out.append([(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if s > 0])
        return out


@functools.lru_cache(maxsize=4)
def _bm25_of(path: str, texts: tuple) -> BM25:
    return BM25(list(texts))


def bm25_for(store) -> BM25:
    """The BM25 index of a chunk store's passages (built once per process; ~1 s for 5k passages)."""
    src = store.load_sources()
    return _bm25_of(str(store.path), tuple(src.texts or ()))


def dense_hits(ids: np.ndarray, distances: np.ndarray, k: int) -> list[Hit]:
    """The dense results (best first) as hits; the service's inner-product distance is the negated inner
    product (smaller is better), so the score is its negation."""
    return [Hit(int(i), -float(d), dense_rank=r + 1) for r, (i, d) in enumerate(zip(ids, distances)) if i >= 0][:k]


def fuse(ids: np.ndarray, scores: np.ndarray, lexical: list[tuple[int, float]], k: int) -> list[Hit]:
    """The top ``k`` of the dense list (``ids``/``scores``, best first) and the BM25 list by RRF."""
    hits: dict[int, Hit] = {}
    for r, i in enumerate(int(x) for x in ids):
        if i >= 0:
            hits.setdefault(i, Hit(i, 0.0)).dense_rank = r + 1
    for r, (i, _) in enumerate(lexical):
        hits.setdefault(i, Hit(i, 0.0)).bm25_rank = r + 1
    for h in hits.values():
        h.score = sum(1.0 / (RRF_K + x) for x in (h.dense_rank, h.bm25_rank) if x is not None)
    return sorted(hits.values(), key=lambda h: (-h.score, h.id))[:k]


def snippet(text: str | None, n: int = SNIPPET_CHARS) -> str:
    s = " ".join((text or "").split())
    return s if len(s) <= n else s[:n - 1] + "…"


def explain(store, hits: list[Hit]) -> list[dict]:
    """Each hit with its rank, source (file, lines, characters, document hash), snippet and text."""
    src = store.load_sources()
    out = []
    for r, h in enumerate(hits, 1):
        d = src.describe(h.id)
        text = src.text(h.id)
        out.append({"rank": r} | h.as_dict() | d | {"snippet": snippet(text), "text": text})
    return out


def passage_texts(store, hits: list[Hit]) -> list[str]:
    src = store.load_sources()
    return [src.text(h.id) or "" for h in hits]

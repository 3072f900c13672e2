"""The LM's text: Python's documentation (``ivfpq.datasets.text``), training documents and the
deterministic 10 % held-out documents, each joined into one byte string (documents separated by a
blank line). The held-out split is never trained on and never enters a datastore."""
from __future__ import annotations

import functools
import hashlib

import numpy as np

SEPARATOR = "\n\n"


@functools.lru_cache(maxsize=2)
def corpus_text(split: str = "train") -> str:
    from ivfpq.datasets.text import load_corpus
    from ivfpq.errors import HwragError

    if split not in ("train", "heldout"):
        raise HwragError(f"split={split!r}; accepted: train, heldout")
    docs = [d for d in load_corpus() if d.heldout == (split == "heldout")]
    return SEPARATOR.join(d.text for d in docs)


def corpus_bytes(split: str = "train") -> np.ndarray:
    """The split as uint8 tokens (the byte tokenizer's ids)."""
    return np.frombuffer(corpus_text(split).encode("utf-8"), dtype=np.uint8)


def corpus_fingerprint(split: str = "train") -> str:
    return hashlib.sha256(corpus_text(split).encode("utf-8")).hexdigest()[:16]

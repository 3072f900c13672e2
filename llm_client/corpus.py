"""The LM's text: Python's documentation (``ivfpq.datasets.text``), training documents and the
deterministic 10 % held-out documents, each joined into one byte string (documents separated by a
blank line). The held-out split is never trained on and never enters a datastore; its documents
alternate between a validation and a test split, leaving out the 27 of 297 held-out documents that
are near-copies of training text."""
from __future__ import annotations

import functools
import hashlib

import numpy as np

SEPARATOR = "\n\n"
# heldout = validation + test (alternate held-out documents): kNN-LM settings are chosen on one, reported on the other
SPLITS = ("train", "heldout", "validation", "test")


@functools.lru_cache(maxsize=1)
def _documents() -> tuple:
    """The corpus's documents, read once per process (reading them takes ~3 s here)."""
    from ivfpq.datasets.text import load_corpus

    return tuple(load_corpus())


def corpus_documents(split: str = "train") -> list:
    """The documents of ``split`` (see :data:`SPLITS`), in corpus order."""
    from ivfpq.errors import HwragError

    if split not in SPLITS:
        raise HwragError(f"split={split!r}; accepted: {', '.join(SPLITS)}")
    docs = [d for d in _documents() if d.heldout == (split != "train")]
    if split in ("validation", "test"):
        docs = [d for d in docs if not _near_copy(d.text)][(split == "test")::2]  # alternately, in corpus order
    return docs


@functools.lru_cache(maxsize=4)
def corpus_text(split: str = "train") -> str:
    return SEPARATOR.join(d.text for d in corpus_documents(split))


def _word_grams(text: str, n: int = 8) -> set[str]:
    w = text.split()
    return {" ".join(w[i:i + n]) for i in range(len(w) - n + 1)}


@functools.lru_cache(maxsize=1)
def _train_grams() -> frozenset:
    out: set[str] = set()
    for d in _documents():
        if not d.heldout:
            out |= _word_grams(d.text)
    return frozenset(out)


def _near_copy(text: str) -> bool:
    """Half or more of the document's word 8-grams occur in the training text: a near-copy (the
    documentation repeats sections, e.g. topic "attribute-access" inside "customization"), left out of
    the validation and test slices so that they measure held-out text, not recall of a copy."""
    g = _word_grams(text)
    return bool(g) and len(g & _train_grams()) >= 0.5 * len(g)


def corpus_bytes(split: str = "train") -> np.ndarray:
    """The split as uint8 tokens (the byte tokenizer's ids)."""
    return np.frombuffer(corpus_text(split).encode("utf-8"), dtype=np.uint8)


def corpus_fingerprint(split: str = "train") -> str:
    return hashlib.sha256(corpus_text(split).encode("utf-8")).hexdigest()[:16]

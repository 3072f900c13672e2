"""A real English text corpus available offline: the documentation that ships with Python.

Documents are the help topics of ``pydoc_data`` (the language reference sections behind
``help()``) and the docstrings of the standard library's modules, classes and functions, read
with ``ast`` (nothing is imported). The corpus depends only on the Python version, so it is the
same on every machine of this kind. Documents are split into chunks of about ``chunk_words``
words; a chunk keeps its text beside its vector, as a RALM datastore needs.
"""
from __future__ import annotations

import ast
import hashlib
import logging
import os
import re
import sysconfig
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

_SKIP_DIRS = {"test", "tests", "idlelib", "lib2to3", "site-packages", "ensurepip", "turtledemo",
              "__pycache__", "tkinter", "distutils", "pydoc_data", "config-3.11-x86_64-linux-gnu"}


@dataclass(frozen=True)
class Document:
    title: str
    text: str

    @property
    def heldout(self) -> bool:
        """Deterministic 10 % held-out split by title (for perplexity on unseen text)."""
        return int(hashlib.sha1(self.title.encode()).hexdigest(), 16) % 10 == 0


def _clean(text: str) -> str:
    text = text.replace("\t", " ")
    text = re.sub(r"[ ]+", " ", text)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip()


def _docstrings(path: Path, modname: str):
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (SyntaxError, UnicodeDecodeError, ValueError):
        return
    doc = ast.get_docstring(tree)
    if doc and len(doc) > 80:
        yield Document(modname, _clean(doc))
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and not node.name.startswith("_"):
            d = ast.get_docstring(node)
            if d and len(d) > 80:
                yield Document(f"{modname}.{node.name}", _clean(d))


def load_corpus(max_docs: int | None = None) -> list[Document]:
    """All documents, in a fixed order (help topics first, then stdlib docstrings by path)."""
    from pydoc_data.topics import topics

    docs = [Document(f"topic:{name}", _clean(text)) for name, text in sorted(topics.items())]
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    for root, dirs, files in os.walk(stdlib):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS)
        for fn in sorted(files):
            if fn.endswith(".py"):
                p = Path(root) / fn
                mod = ".".join(p.relative_to(stdlib).with_suffix("").parts)
                docs.extend(_docstrings(p, mod))
    seen, out = set(), []
    for d in docs:  # the same docstring appears in several places (overloads, aliases)
        h = hash(d.text)
        if h not in seen:
            seen.add(h)
            out.append(d)
    return out[:max_docs] if max_docs else out


def chunk_documents(docs: list[Document], chunk_words: int = 64) -> tuple[list[str], list[str]]:
    """Split each document into consecutive chunks of ``chunk_words`` words (the last may be shorter,
    but at least 8 words). Returns (chunk texts, titles)."""
    texts, titles = [], []
    for d in docs:
        words = d.text.split()
        for a in range(0, len(words), chunk_words):
            piece = words[a:a + chunk_words]
            if len(piece) >= 8:
                texts.append(" ".join(piece))
                titles.append(d.title)
    return texts, titles


def embed_texts(texts: list[str], batch_size: int = 128, progress: bool = True) -> np.ndarray:
    """MiniLM (all-MiniLM-L6-v2, 384-d, unit norm) sentence embeddings, offline, float32."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from .minilm import load_minilm

    model = load_minilm()
    emb = model.encode(texts, batch_size=batch_size, show_progress_bar=progress,
                       convert_to_numpy=True, normalize_embeddings=True)
    return np.ascontiguousarray(emb, dtype=np.float32)

"""The user's own documents: plain text, Markdown and JSON Lines (a ``text`` field per line), from files
and directories (recursed; hidden entries skipped). A file that is empty, binary or not UTF-8 -- or a
JSON Lines record without a string ``text`` -- is an error naming it, before anything is built.

    docs = read_documents(["notes/", "faq.jsonl"])     # [SourceDocument(title, text, ...), ...]

Each document remembers where its text sits in its file (the first line and character of the
text, leading white space aside; for a JSON Lines record its line), so a datastore can cite
``file:line`` for every passage (:mod:`.sources`).
"""
from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

from ivfpq.datasets.text import Document
from ivfpq.errors import HwragError

log = logging.getLogger(__name__)

TEXT_SUFFIXES = (".txt", ".md", ".markdown", ".rst", ".text")
JSONL_SUFFIXES = (".jsonl", ".ndjson")
ACCEPTED = ", ".join(TEXT_SUFFIXES + JSONL_SUFFIXES)


@dataclass(frozen=True)
class SourceDocument(Document):
    """A document with its place in its file: ``source`` (the file), the file ``line`` and character
    (``char_offset``) where ``text`` starts; ``lines_in_file`` is False for a JSON Lines record (its
    text is one escaped line of the file)."""
    source: str = ""
    line: int = 1
    char_offset: int = 0
    lines_in_file: bool = True


def _files(paths: list[str]) -> list[Path]:
    """Given files (any suffix) and the accepted files under given directories, in a fixed order."""
    out: list[Path] = []
    for raw in paths:
        p = Path(raw).expanduser()
        if not p.exists():
            raise HwragError(f"{p} does not exist; --texts takes files and directories of {ACCEPTED} files")
        if p.is_file():
            out.append(p)
            continue
        found, skipped = [], 0
        for f in sorted(p.rglob("*")):
            if any(part.startswith(".") for part in f.relative_to(p).parts) or not f.is_file():
                continue
            if f.suffix.lower() in TEXT_SUFFIXES + JSONL_SUFFIXES:
                found.append(f)
            else:
                skipped += 1
        if skipped:
            log.info("%s: skipped %d files that are not %s", p, skipped, ACCEPTED)
        if not found:
            raise HwragError(f"no text files under {p}; accepted: {ACCEPTED}")
        out += found
    if not out:
        raise HwragError(f"no text files given; --texts takes files and directories of {ACCEPTED} files")
    return list(dict.fromkeys(out))


def _text(path: Path) -> str:
    data = path.read_bytes()
    if b"\x00" in data[:65536]:
        raise HwragError(f"{path} is a binary file, not text; accepted: UTF-8 {ACCEPTED} files")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise HwragError(f"{path} is not UTF-8 text (byte {e.start} cannot be decoded); accepted: UTF-8 files") from None
    if not text.strip():
        raise HwragError(f"{path} is empty; every file given must hold text")
    return text


def _jsonl(path: Path, text: str) -> list[Document]:
    docs = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            raise HwragError(f"{path}:{n} is not valid JSON ({e.msg}); accepted: one JSON object per line "
                             "with a string 'text' field") from None
        if not isinstance(rec, dict) or not isinstance(rec.get("text"), str):
            raise HwragError(f"{path}:{n} has no string 'text' field; accepted: one JSON object per line "
                             "with a string 'text' field")
        if rec["text"].strip():
            docs.append(SourceDocument(f"{path}:{n}", rec["text"].strip(), f"{path.resolve()}:{n}", n, 0, False))
    if not docs:
        raise HwragError(f"{path} holds no non-empty 'text' record")
    return docs


def read_documents(paths: list[str]) -> list[Document]:
    """Every document of ``paths`` (a JSON Lines record is one document, a text file another)."""
    docs: list[Document] = []
    for f in _files(paths):
        text = _text(f)
        if f.suffix.lower() in JSONL_SUFFIXES:
            docs += _jsonl(f, text)
        else:
            lead = len(text) - len(text.lstrip())
            docs.append(SourceDocument(str(f), text.strip(), str(f.resolve()), text.count("\n", 0, lead) + 1, lead))
    return docs


def documents_fingerprint(docs: list[Document]) -> str:
    """sha256 of the documents' text (titles aside): the cache key of a datastore built from them."""
    h = hashlib.sha256()
    for d in docs:
        h.update(d.text.encode())
        h.update(b"\0")
    return h.hexdigest()[:16]

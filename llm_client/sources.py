"""Where every entry of a datastore came from: saved beside the index as ``<index>.sources``
(a directory of verified arrays, ``ivfpq.storage`` format "hwrag-sources").

- per document: its source (a file path, ``file.jsonl:LINE`` for a JSON Lines record, or the corpus
  title such as ``topic:nonlocal``), the sha256 of its text, its length, and where its text starts in
  the file (line and character), so spans are reported in the file's own lines;
- per entry (a passage of a chunk store, a position of a token store): document, character span
  ``[start, end)`` in the document's text, first and last line in the file;
- chunk stores also keep each passage's text (the client needs it to fuse lexical hits, and for snippets).

    src = Sources.load(ds.sources_path)
    src.describe(17)   # {"source": "notes/a.txt", "lines": [3, 9], "chars": [120, 480], "sha256": "..."}
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ivfpq.errors import HwragError

FORMAT_NAME = "hwrag-sources"
FORMAT_VERSION = 1


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def document_record(doc) -> dict:
    """The record of one document (``ivfpq`` Document or :class:`llm_client.documents.SourceDocument`)."""
    return {"source": getattr(doc, "source", None) or doc.title, "sha256": text_sha256(doc.text),
            "chars": len(doc.text), "line": int(getattr(doc, "line", 1)),
            "char_offset": int(getattr(doc, "char_offset", 0)),
            "lines_in_file": bool(getattr(doc, "lines_in_file", True))}


def _line_of(text: str, offsets: np.ndarray) -> np.ndarray:
    """0-based line of each character offset of ``text``."""
    nl = np.array([i for i, c in enumerate(text) if c == "\n"], dtype=np.int64) if "\n" in text else np.zeros(0, np.int64)
    return np.searchsorted(nl, offsets, side="left").astype(np.int64)


def file_lines(rec: dict, text: str, starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First and last file line of each span of a document's ``text``."""
    if not rec["lines_in_file"]:  # a JSON Lines record: its text sits on one line of the file
        n = np.full(len(starts), rec["line"], np.int64)
        return n, n.copy()
    last = np.maximum(np.asarray(ends) - 1, np.asarray(starts))
    return rec["line"] + _line_of(text, np.asarray(starts)), rec["line"] + _line_of(text, last)


@dataclass
class Sources:
    documents: list[dict]
    doc: np.ndarray  # (n,) int32: the entry's document
    start: np.ndarray  # (n,) int64: character span in the document's text
    end: np.ndarray
    line_start: np.ndarray  # (n,) int32: lines in the file
    line_end: np.ndarray
    texts: list[str] | None = None  # chunk stores: each passage's text

    def __len__(self) -> int:
        return len(self.doc)

    @classmethod
    def of_spans(cls, docs: list, spans: list[list[tuple[int, int]]], keep_text: bool) -> "Sources":
        """Entries = ``spans[i]`` (character spans) of ``docs[i]``, in order."""
        recs = [document_record(d) for d in docs]
        doc, st, en, l0, l1, texts = [], [], [], [], [], []
        for i, (d, rec, sp) in enumerate(zip(docs, recs, spans)):
            if not sp:
                continue
            a = np.array([s for s, _ in sp], np.int64)
            b = np.array([e for _, e in sp], np.int64)
            x, y = file_lines(rec, d.text, a, b)
            doc.append(np.full(len(sp), i, np.int32))
            st.append(a)
            en.append(b)
            l0.append(x)
            l1.append(y)
            if keep_text:
                texts += [d.text[s:e] for s, e in sp]
        cat = (lambda xs, t: np.concatenate(xs).astype(t) if xs else np.zeros(0, t))
        return cls(recs, cat(doc, np.int32), cat(st, np.int64), cat(en, np.int64), cat(l0, np.int32),
                   cat(l1, np.int32), texts if keep_text else None)

    def save(self, path) -> Path:
        from ivfpq.storage import write_arrays_atomic

        arrays = {"doc": self.doc, "start": self.start, "end": self.end, "line_start": self.line_start,
                  "line_end": self.line_end}
        if self.texts is not None:
            data = [t.encode("utf-8") for t in self.texts]
            off = np.zeros(len(data) + 1, np.int64)
            np.cumsum([len(x) for x in data], out=off[1:])
            arrays |= {"text_offsets": off, "text_data": np.frombuffer(b"".join(data) or b"\0", np.uint8)}
        return write_arrays_atomic(path, arrays, {"documents": self.documents}, FORMAT_NAME, FORMAT_VERSION)

    @classmethod
    def load(cls, path) -> "Sources":
        from ivfpq.storage import read_arrays_verified

        if not Path(path).exists():
            raise HwragError(f"{path} is missing: this datastore keeps no sources (built by an older hwrag); "
                             "rebuild it")
        manifest, a = read_arrays_verified(path, FORMAT_NAME, FORMAT_VERSION, False, True)
        texts = None
        if "text_offsets" in a:
            off, data = a["text_offsets"], a["text_data"].tobytes()
            texts = [data[off[i]:off[i + 1]].decode("utf-8") for i in range(len(off) - 1)]
        return cls(manifest["documents"], a["doc"], a["start"], a["end"], a["line_start"], a["line_end"], texts)

    def describe(self, i: int) -> dict:
        """Where entry ``i`` came from: source, lines, character span, the document's sha256."""
        i = int(i)
        if not 0 <= i < len(self.doc):
            return {"id": i, "source": None}
        rec = self.documents[int(self.doc[i])]
        a, b = int(self.start[i]), int(self.end[i])
        return {"id": i, "source": rec["source"], "lines": [int(self.line_start[i]), int(self.line_end[i])],
                "chars": [rec["char_offset"] + a, rec["char_offset"] + b], "document_sha256": rec["sha256"]}

    def text(self, i: int) -> str | None:
        return self.texts[int(i)] if self.texts is not None and 0 <= int(i) < len(self.texts) else None


def cite(d: dict) -> str:
    """``file:12-15`` (or ``file:12``) of a :meth:`Sources.describe` record."""
    if not d.get("source"):
        return "(unknown source)"
    a, b = d["lines"]
    return f"{d['source']}:{a}" + (f"-{b}" if b != a else "")


def token_char_starts(tokenizer, text: str, ids: list[int]) -> np.ndarray:
    """Character offset in ``text`` where each token of ``ids`` (``tokenizer.encode(text)``) starts."""
    tok = getattr(tokenizer, "tok", None)
    if tok is not None and getattr(tok, "is_fast", False):
        enc = tok(text, return_offsets_mapping=True, add_special_tokens=False)
        if list(enc["input_ids"]) == list(ids):
            return np.array([a for a, _ in enc["offset_mapping"]], np.int64)
    if getattr(tokenizer, "name", "") == "bytes":  # one token per UTF-8 byte
        lens = np.array([len(c.encode("utf-8")) for c in text], np.int64)
        out = np.repeat(np.arange(len(text), dtype=np.int64), lens)[:len(ids)]
    else:  # an approximation for other tokenizers
        lens = np.array([len(tokenizer.decode([t])) for t in ids], np.int64)
        out = np.minimum(np.concatenate([[0], np.cumsum(lens)[:-1]]), max(len(text) - 1, 0)) if len(ids) else lens
    if len(out) < len(ids):  # replacement characters: the tail keeps the last known offset
        out = np.concatenate([out, np.full(len(ids) - len(out), out[-1] if len(out) else 0, np.int64)])
    return out.astype(np.int64)


def token_sources(docs: list, separator: str, char_starts: np.ndarray, n: int) -> "Sources":
    """Sources of the ``n`` positions of a token store whose text is ``separator.join(docs)``: entry t
    is the position whose next token (the value) starts at ``char_starts[t + 1]`` (and ends where the
    token after it starts, or at the end of the text)."""
    recs = [document_record(d) for d in docs]
    bounds = np.cumsum([0] + [len(d.text) + len(separator) for d in docs])[:-1].astype(np.int64)
    nxt = np.asarray(char_starts[1:n + 1], np.int64)
    after = np.asarray(char_starts[n + 1:n + 2], np.int64)
    doc = np.clip(np.searchsorted(bounds, nxt, side="right") - 1, 0, len(docs) - 1)
    start = np.clip(nxt - bounds[doc], 0, None)
    dl = np.array([len(d.text) for d in docs], np.int64)
    end = np.minimum(np.concatenate([nxt[1:], after if len(after) else [bounds[-1] + dl[-1]]]) - bounds[doc], dl[doc])
    end = np.maximum(end, start)
    l0 = np.zeros(len(nxt), np.int32)
    cut = np.searchsorted(doc, np.arange(len(docs) + 1), side="left")  # positions are in document order
    for i, d in enumerate(docs):
        a, b = cut[i], cut[i + 1]
        if b > a:
            l0[a:b], _ = file_lines(recs[i], d.text, start[a:b], start[a:b] + 1)
    return Sources(recs, doc.astype(np.int32), start, end, l0, l0.copy(), None)

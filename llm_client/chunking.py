"""Passages of a document on sentence and paragraph boundaries, with overlap; each passage is an exact
character span of its document (``text[start:end]``), so where it came from is never lost.

    spans = chunk_spans(doc.text, words=64, overlap=16)     # [(start, end), ...]

A sentence ends at ``.``, ``!``, ``?`` or ``:`` followed by white space, a paragraph at a blank line;
a sentence longer than ``words`` words is cut on word boundaries. Sentences are packed into a passage
until the next one would pass ``words``; a paragraph break ends a passage once it holds half of
``words``. The next passage starts with the previous one's last sentences up to ``overlap`` words
(never all of them: every passage brings new text), so an answer that straddles two passages is
whole in one of them. ``mode="words"`` is the old layout: fixed word windows without overlap.
"""
from __future__ import annotations

import re

from ivfpq.errors import HwragError

MODES = ("sentence", "words")
MIN_WORDS = 8  # a shorter passage is dropped (it is too short to retrieve by meaning)

_PARA = re.compile(r"\n[ \t]*\n\s*")
_SENT = re.compile(r"(?<=[.!?:])\s+")
_WORD = re.compile(r"\S+")


def _units(text: str, words: int) -> list[tuple[int, int, int, bool]]:
    """(start, end, words, ends a paragraph) of each sentence of ``text``, long ones cut into pieces."""
    out = []
    para_start = 0
    for para in [*_PARA.finditer(text), None]:
        para_end = para.start() if para else len(text)
        pos = para_start
        pieces = []
        for m in [*_SENT.finditer(text, para_start, para_end), None]:
            end = m.start() if m else para_end
            spans = [(w.start(), w.end()) for w in _WORD.finditer(text, pos, end)]
            for a in range(0, len(spans), words):
                part = spans[a:a + words]
                pieces.append((part[0][0], part[-1][1], len(part)))
            pos = m.end() if m else para_end
        out += [(a, b, n, i == len(pieces) - 1) for i, (a, b, n) in enumerate(pieces)]
        para_start = para.end() if para else len(text)
    return out


def chunk_spans(text: str, words: int = 64, overlap: int = 16, mode: str = "sentence") -> list[tuple[int, int]]:
    """Character spans of the passages of ``text`` (see the module doc); passages under 8 words dropped."""
    if mode not in MODES:
        raise HwragError(f"chunking mode {mode!r}; accepted: {', '.join(MODES)}")
    if words < MIN_WORDS or overlap < 0 or overlap >= words:
        raise HwragError(f"chunk words {words}, overlap {overlap}; accepted: words >= {MIN_WORDS}, "
                         "0 <= overlap < words")
    if mode == "words":
        spans = [(m.start(), m.end()) for m in _WORD.finditer(text)]
        return [(spans[a][0], spans[min(a + words, len(spans)) - 1][1]) for a in range(0, len(spans), words)
                if len(spans[a:a + words]) >= MIN_WORDS]
    units = _units(text, words)
    out: list[tuple[int, int]] = []
    i = 0
    while i < len(units):
        j, n = i, 0
        while j < len(units) and (j == i or n + units[j][2] <= words):
            n += units[j][2]
            j += 1
            if units[j - 1][3] and n >= words // 2:
                break
        if n >= MIN_WORDS:
            out.append((units[i][0], units[j - 1][1]))
        if j >= len(units):
            break
        back, k = 0, j  # the next passage starts with this one's last sentences, up to ``overlap`` words
        while k - 1 > i and back + units[k - 1][2] <= overlap and not units[k - 1][3]:
            k -= 1
            back += units[k][2]
        i = k
    return out

"""How repetitive a generated continuation is: the share of its words that repeat an earlier word of
it, and the longest run of one word. Degenerate output (``the the the ...``) scores near 1 and a long
run; ordinary prose stays well under one half (function words repeat) with runs of 1."""
from __future__ import annotations

import re

_WORD = re.compile(r"\w+", re.UNICODE)


def repetition(text: str) -> dict:
    words = [w.lower() for w in _WORD.findall(text)]
    if not words:
        return {"words": 0, "repeated_word_share": 0.0, "longest_run": 0}
    run = longest = 1
    for a, b in zip(words, words[1:]):
        run = run + 1 if a == b else 1
        longest = max(longest, run)
    return {"words": len(words), "repeated_word_share": 1.0 - len(set(words)) / len(words), "longest_run": longest}


def is_repetitive(text: str) -> bool:
    """The acceptance line: half or more of the words repeated, or one word four times in a row."""
    r = repetition(text)
    return r["repeated_word_share"] >= 0.5 or r["longest_run"] >= 4

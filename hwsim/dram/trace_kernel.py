"""The trace parser's compiled loop: one pass over a trace file's bytes (:func:`parse_buffer`), for
:func:`.trace.read_trace` (which explains a malformed line with the line parser). Compiled ahead of
time with the other DRAM kernels when built (:mod:`.kernels`), else by numba's JIT."""
from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def _number(buf, lo, hi, hex_ok):
    """Unsigned number in buf[lo:hi]: decimal, or 0x-hex if ``hex_ok``; -1 if malformed or too long."""
    base = 10
    if hex_ok and hi - lo > 2 and buf[lo] == 48 and (buf[lo + 1] == 120 or buf[lo + 1] == 88):
        base = 16
        lo += 2
    if hi <= lo or hi - lo > (15 if base == 16 else 18):
        return -1
    v = 0
    for i in range(lo, hi):
        c = buf[i]
        if 48 <= c <= 57:
            d = c - 48
        elif base == 16 and 97 <= (c | 32) <= 102:
            d = (c | 32) - 87
        else:
            return -1
        v = v * base + d
    return v


@njit(cache=True, inline='always')
def _word_is(buf, lo, hi, word):
    """Case-insensitive comparison of buf[lo:hi] with the lower-case ASCII codes ``word``."""
    if hi - lo != word.size:
        return False
    for i in range(word.size):
        if (buf[lo + i] | 32) != word[i]:
            return False
    return True


@njit(cache=True)
def parse_buffer(buf, fmt, gap, words):
    """One pass over a trace file's bytes (``fmt`` 0 auto, 1 DRAMsim3, 2 Ramulator; ``words``: the
    lower-case codes of read, write, ld, st). Returns (addresses, is_write, arrival, bad) where
    ``bad`` is the first malformed line's number (0: none), for the line parser to explain."""
    n = 1
    for c in buf:
        n += c == 10
    addr = np.empty(n, dtype=np.int64)
    w = np.empty(n, dtype=np.bool_)
    t = np.empty(n, dtype=np.int64)
    lo_ = np.empty(4, dtype=np.int64)
    hi_ = np.empty(4, dtype=np.int64)
    m = 0
    line = 0
    i = 0
    L = buf.size
    while i < L:
        line += 1
        ntok = 0
        while i < L and buf[i] != 10:
            c = buf[i]
            if c == 9 or c == 13 or c == 32:
                i += 1
                continue
            if ntok == 0 and c == 35:  # '#': a comment line
                while i < L and buf[i] != 10:
                    i += 1
                break
            if ntok == 4:
                return addr[:m], w[:m], t[:m], line
            lo_[ntok] = i
            while i < L and buf[i] != 10 and buf[i] != 9 and buf[i] != 13 and buf[i] != 32:
                i += 1
            hi_[ntok] = i
            ntok += 1
        i += 1  # past the newline
        if ntok == 0:
            continue
        if ntok == 2 and fmt != 1 and (_word_is(buf, lo_[0], hi_[0], words[2])
                                       or _word_is(buf, lo_[0], hi_[0], words[3])):
            a = _number(buf, lo_[1], hi_[1], True)
            wr = _word_is(buf, lo_[0], hi_[0], words[3])
            cyc = m * gap
        elif ntok == 3 and fmt != 2 and (_word_is(buf, lo_[1], hi_[1], words[0])
                                         or _word_is(buf, lo_[1], hi_[1], words[1])):
            a = _number(buf, lo_[0], hi_[0], True)
            wr = _word_is(buf, lo_[1], hi_[1], words[1])
            cyc = _number(buf, lo_[2], hi_[2], False)
        else:
            return addr[:m], w[:m], t[:m], line
        if a < 0 or cyc < 0 or (m and cyc < t[m - 1]):
            return addr[:m], w[:m], t[:m], line
        addr[m] = a
        w[m] = wr
        t[m] = cyc
        m += 1
    return addr[:m], w[:m], t[:m], 0

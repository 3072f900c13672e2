"""Trace files: DRAMsim3 (``0x2000D5C0 READ 30``) and Ramulator 2 (``LD 0x...`` / ``ST 0x...``).

DRAMsim3 lines are ``<hex address> <READ|WRITE> <arrival cycle>``. Ramulator 2's load/store trace
lines are ``LD <address>`` or ``ST <address>`` (decimal or 0x-hex) with no timing: every request is
given arrival cycle 0 (the controller takes them as fast as its queues allow), or ``arrival_gap``
cycles apart if given. Blank lines and lines starting with ``#`` are skipped. A bad line fails with
its file, line number and the accepted formats.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from numba import njit

from ivfpq.errors import HwragError

FORMATS = ("auto", "dramsim3", "ramulator")
_ACCEPTED = "DRAMsim3 '0x2000D5C0 READ 30' (READ/WRITE, arrival cycle) or Ramulator 2 'LD 0x...' / 'ST 0x...'"


def _int(tok: str) -> int:
    return int(tok, 16) if tok.lower().startswith("0x") else int(tok)


def parse_trace_lines(lines, fmt: str = "auto", origin: str = "<trace>", arrival_gap: int = 0):
    """Parse trace lines -> (addresses uint64, is_write bool, arrival int64)."""
    if fmt not in FORMATS:
        raise HwragError(f"trace format {fmt!r} unknown; accepted: {', '.join(FORMATS)}")
    addr, wr, arr = [], [], []
    for no, line in enumerate(lines, 1):
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        tok = s.split()
        try:
            if fmt in ("auto", "ramulator") and tok[0].upper() in ("LD", "ST") and len(tok) == 2:
                addr.append(_int(tok[1]))
                wr.append(tok[0].upper() == "ST")
                arr.append(len(arr) * arrival_gap)
            elif fmt in ("auto", "dramsim3") and len(tok) == 3 and tok[1].upper() in ("READ", "WRITE"):
                addr.append(_int(tok[0]))
                wr.append(tok[1].upper() == "WRITE")
                arr.append(int(tok[2]))
            else:
                raise ValueError
        except ValueError:
            raise HwragError(f"{origin}:{no}: cannot parse {s!r}; accepted: {_ACCEPTED}") from None
        if addr[-1] < 0 or arr[-1] < 0:
            raise HwragError(f"{origin}:{no}: negative address or cycle in {s!r}")
    a = np.asarray(addr, dtype=np.uint64)
    w = np.asarray(wr, dtype=bool)
    t = np.asarray(arr, dtype=np.int64)
    if t.size and np.any(np.diff(t) < 0):
        raise HwragError(f"{origin}: arrival cycles must be non-decreasing")
    return a, w, t


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
def _parse_buffer(buf, fmt, gap, words):
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


_WORDS = tuple(np.frombuffer(x, dtype=np.uint8).astype(np.int64) for x in (b"read", b"write", b"ld", b"st"))


def read_trace(path, fmt: str = "auto", arrival_gap: int = 0):
    """Read a trace file (see module docstring) -> (addresses, is_write, arrival)."""
    p = Path(path)
    if not p.is_file():
        raise HwragError(f"trace file {str(p)!r} not found")
    if fmt not in FORMATS:
        raise HwragError(f"trace format {fmt!r} unknown; accepted: {', '.join(FORMATS)}")
    buf = np.frombuffer(p.read_bytes(), dtype=np.uint8)
    a, w, t, bad = _parse_buffer(buf, FORMATS.index(fmt), int(arrival_gap), _WORDS)
    if not bad:
        return a.astype(np.uint64), w, t
    with p.open() as f:  # a malformed line: the line parser names it
        return parse_trace_lines(f, fmt, origin=str(p), arrival_gap=arrival_gap)


def write_trace(path, addresses, is_write, arrival, fmt: str = "dramsim3") -> None:
    """Write a trace in DRAMsim3 or Ramulator 2 format (atomically: temp file then rename)."""
    if fmt not in ("dramsim3", "ramulator"):
        raise HwragError(f"trace format {fmt!r} unknown; accepted: dramsim3, ramulator")
    p = Path(path)
    tmp = p.with_name(p.name + ".tmp")
    with tmp.open("w") as f:
        if fmt == "dramsim3":
            for a, w, t in zip(np.asarray(addresses).tolist(), np.asarray(is_write).tolist(),
                               np.asarray(arrival).tolist()):
                f.write(f"0x{a:X} {'WRITE' if w else 'READ'} {t}\n")
        else:
            for a, w in zip(np.asarray(addresses).tolist(), np.asarray(is_write).tolist()):
                f.write(f"{'ST' if w else 'LD'} 0x{a:X}\n")
    tmp.replace(p)

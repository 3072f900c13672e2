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

from ivfpq.errors import HwragError

from .kernels import kernels

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


_WORDS = tuple(np.frombuffer(x, dtype=np.uint8).astype(np.int64) for x in (b"read", b"write", b"ld", b"st"))


def read_trace(path, fmt: str = "auto", arrival_gap: int = 0):
    """Read a trace file (see module docstring) -> (addresses, is_write, arrival)."""
    p = Path(path)
    if not p.is_file():
        raise HwragError(f"trace file {str(p)!r} not found")
    if fmt not in FORMATS:
        raise HwragError(f"trace format {fmt!r} unknown; accepted: {', '.join(FORMATS)}")
    buf = np.fromfile(p, dtype=np.uint8)  # writable, as the compiled parser is typed
    a, w, t, bad = kernels().parse_buffer(buf, FORMATS.index(fmt), np.int64(arrival_gap), _WORDS)
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

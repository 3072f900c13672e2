"""Address mapping: byte address -> (unit, rank, bank group, bank, row, column).

A mapping is a bit-order string, most significant field first, in either spelling:

* Ramulator style, capitalised two-letter fields, e.g. ``RoBaRaCoCh`` or ``RoBgBaRaCoCh``;
* DRAMsim3 style, lower case, e.g. ``rochrababgco`` or ``rorabgbachco``.

Fields: ``Ro`` row, ``Ra`` rank, ``Bg`` bank group, ``Ba`` bank, ``Co`` column (burst index inside the
row), ``Ch`` channel, ``Pc`` pseudo-channel. Case is ignored. Missing fields are folded the way
Ramulator 2.1 does: without ``Bg`` the ``Ba`` field holds bank-group bits (low) then bank bits (high);
without ``Pc`` the ``Ch`` field holds pseudo-channel bits (low) then channel bits (high). The low
``log2(bytes per burst)`` address bits select the byte inside a burst and are dropped. Address bits
above the mapped fields wrap (the address is taken modulo the capacity).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ivfpq.errors import HwragError

FIELDS = ("ro", "ra", "bg", "ba", "co", "ch", "pc")
_FIELD_NAMES = "Ro (row), Ra (rank), Bg (bank group), Ba (bank), Co (column), Ch (channel), Pc (pseudo-channel)"


def _log2(x: int) -> int:
    assert x > 0 and x & (x - 1) == 0, x
    return x.bit_length() - 1


def parse_mapping(text: str) -> list[str]:
    """Split a mapping string into field tokens (lower case, MSB first); raise on bad input."""
    s = text.strip()
    if not s or len(s) % 2:
        raise HwragError(f"address mapping {text!r}: expected two-letter fields ({_FIELD_NAMES}), "
                         "most significant first, e.g. RoBaRaCoCh or rochrababgco")
    toks = [s[i:i + 2].lower() for i in range(0, len(s), 2)]
    bad = [t for t in toks if t not in FIELDS]
    if bad:
        raise HwragError(f"address mapping {text!r}: unknown field(s) {bad}; accepted: {_FIELD_NAMES}")
    dup = sorted({t for t in toks if toks.count(t) > 1})
    if dup:
        raise HwragError(f"address mapping {text!r}: field(s) {dup} given twice")
    for need in ("ro", "co"):
        if need not in toks:
            raise HwragError(f"address mapping {text!r}: field {need.capitalize()} is required")
    return toks


@dataclass(frozen=True)
class AddressMapping:
    """A parsed mapping for one spec; :meth:`decode` maps byte addresses to DRAM coordinates."""

    text: str
    offset_bits: int
    # (field, low bit, width) in decode order, LSB first
    layout: tuple

    @classmethod
    def build(cls, spec, text: "str | None" = None) -> "AddressMapping":
        text = text or spec.default_mapping
        toks = parse_mapping(text)
        o = spec.org
        widths = {"ro": _log2(o["rows"]), "ra": _log2(o["ranks"]), "bg": _log2(o["bankgroups"]),
                  "ba": _log2(o["banks"]), "co": _log2(spec.bursts_per_row), "ch": _log2(o["channels"]),
                  "pc": _log2(o["pseudo_channels"])}
        for fld, host in (("bg", "ba"), ("pc", "ch")):
            if fld not in toks:
                if host not in toks and widths[fld] + widths[host] > 0:
                    raise HwragError(f"address mapping {text!r}: needs field {host.capitalize()} "
                                     f"for this preset ({spec.name})")
        for fld in ("ra", "ba", "ch"):
            if fld not in toks and widths[fld] > 0 and not (fld == "ba" and "bg" in toks and widths["ba"] == 0):
                raise HwragError(f"address mapping {text!r}: preset {spec.name} needs field "
                                 f"{fld.capitalize()} ({1 << widths[fld]} values)")
        layout = []
        pos = 0
        for tok in reversed(toks):  # LSB first
            if tok == "ba" and "bg" not in toks:
                layout.append(("bg", pos, widths["bg"]))
                pos += widths["bg"]
            if tok == "ch" and "pc" not in toks:
                layout.append(("pc", pos, widths["pc"]))
                pos += widths["pc"]
            layout.append((tok, pos, widths[tok]))
            pos += widths[tok]
        return cls(text=text, offset_bits=_log2(spec.tx_bytes), layout=tuple(layout))

    @property
    def address_bits(self) -> int:
        return self.offset_bits + sum(w for _, _, w in self.layout)

    def decode(self, addresses: np.ndarray) -> dict[str, np.ndarray]:
        """Vectorised decode: dict of int64 arrays ``ch, pc, ra, bg, ba, ro, co``."""
        a = np.asarray(addresses, dtype=np.uint64) >> np.uint64(self.offset_bits)
        out = {f: np.zeros(a.shape, dtype=np.int64) for f in FIELDS}
        for f, lo, w in self.layout:
            if w:
                out[f] = ((a >> np.uint64(lo)) & np.uint64((1 << w) - 1)).astype(np.int64)
        return out

    def encode(self, **coords: int) -> int:
        """Inverse of :meth:`decode` for one request (handy in tests and for laying out data)."""
        bad = sorted(set(coords) - set(FIELDS))
        if bad:
            raise HwragError(f"unknown coordinate(s) {bad}; accepted: {', '.join(FIELDS)}")
        a = 0
        for f, lo, w in self.layout:
            v = int(coords.get(f, 0))
            if v >> w:
                raise HwragError(f"coordinate {f}={v} does not fit in {w} bits")
            a |= v << lo
        return a << self.offset_bits

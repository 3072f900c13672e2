"""Configuration of one scan-unit instance (the parameters every generator and card is keyed by)."""
from __future__ import annotations

from dataclasses import asdict, dataclass

from ivfpq.errors import HwragError
from ivfpq.fixedpoint import DEFAULT_FORMAT, LutFormat

LUT_ENTRIES = 256  # one byte per sub-code: 256 entries per LUT column
CODE_BITS = 8


@dataclass(frozen=True)
class ScanConfig:
    """One scan unit: ``units`` PQ distance units of ``m`` bytes per code, top-``k`` out.

    ``l1`` is the length of each unit's level-1 queue (Chameleon's approximate hierarchical
    queue); ``None`` means ``k`` (exact top-K). The number format is ``ivfpq.fixedpoint``'s.
    """

    m: int = 16
    units: int = 4
    k: int = 10
    l1: int | None = None
    lut_bits: int = DEFAULT_FORMAT.lut_bits
    dist_bits: int = DEFAULT_FORMAT.dist_bits
    id_bits: int = DEFAULT_FORMAT.id_bits

    def __post_init__(self):
        for name, lo, hi in (("m", 1, 128), ("units", 1, 32), ("k", 1, 1024)):
            v = getattr(self, name)
            if not isinstance(v, int) or not lo <= v <= hi:
                raise HwragError(f"{name}={v!r} not supported; accepted: integers {lo}..{hi}")
        if self.l1 is not None and (not isinstance(self.l1, int) or not 1 <= self.l1 <= self.k):
            raise HwragError(f"l1={self.l1!r} not supported; accepted: 1..k (k={self.k}) or None for k")
        self.fmt.check(self.m)

    @property
    def fmt(self) -> LutFormat:
        return LutFormat(self.lut_bits, self.dist_bits, self.id_bits)

    @property
    def queue_len(self) -> int:
        return self.k if self.l1 is None else self.l1

    @property
    def key_bits(self) -> int:
        """Queue key: {empty, dist, id}; the all-ones key is an empty slot, larger than any candidate."""
        return 1 + self.dist_bits + self.id_bits

    @property
    def name(self) -> str:
        s = f"m{self.m}_u{self.units}_k{self.k}"
        if self.l1 is not None and self.l1 != self.k:
            s += f"_l{self.l1}"
        if (self.lut_bits, self.dist_bits, self.id_bits) != (DEFAULT_FORMAT.lut_bits, DEFAULT_FORMAT.dist_bits,
                                                              DEFAULT_FORMAT.id_bits):
            s += f"_f{self.lut_bits}x{self.dist_bits}x{self.id_bits}"
        return s

    @property
    def module_name(self) -> str:
        return f"ivfpq_scan_{self.name}"

    def to_dict(self) -> dict:
        d = asdict(self)
        d["l1"] = self.queue_len
        return d


# The configurations whose timing cards are checked in under rtl/cards/.
DEFAULT_CONFIGS = (
    ScanConfig(m=8, units=4, k=10),
    ScanConfig(m=16, units=4, k=10),
    ScanConfig(m=16, units=4, k=100),
    ScanConfig(m=32, units=4, k=100),
    ScanConfig(m=64, units=4, k=100),
)

"""The verification matrices: which (simulator, configuration) pairs the default and the full runs cover.

The default matrix (``make test``) reaches K = 1 and K = 100, one and four units, and a short level-1
queue; the full matrix (``make test-slow``) sweeps M x U x K on both simulators. Functional coverage
is merged over a matrix; the default tier must reach >= 90 % of the bins, the full matrix 100 %.
"""
from __future__ import annotations

import itertools

from .config import ScanConfig

DEFAULT = (
    ("verilator", ScanConfig(m=8, units=4, k=10)), ("verilator", ScanConfig(m=8, units=1, k=1)),
    ("icarus", ScanConfig(m=8, units=4, k=10)), ("icarus", ScanConfig(m=8, units=1, k=100)),
    ("icarus", ScanConfig(m=16, units=4, k=10, l1=3)),
)
#: the default run that also collects Verilator line/toggle coverage (small, so the build stays short)
DEFAULT_CODE_COVERAGE = ("verilator", ScanConfig(m=8, units=1, k=1))

FULL_CONFIGS = tuple(ScanConfig(m=m, units=u, k=k) for m, u, k in itertools.product((8, 16, 32), (1, 4), (1, 10, 100)))
FULL_CONFIGS += (ScanConfig(m=64, units=4, k=100), ScanConfig(m=16, units=4, k=100, l1=15),
                 ScanConfig(m=32, units=4, k=100, l1=23), ScanConfig(m=8, units=3, k=10, l1=4, id_bits=32))
FULL = tuple((s, c) for s in ("verilator", "icarus") for c in FULL_CONFIGS)

MATRICES = {"default": DEFAULT, "full": FULL}

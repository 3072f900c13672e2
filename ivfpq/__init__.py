"""The algorithmic core: IVF-PQ index model, faiss train/import/export, save/load, Chameleon
sharding and merge, the fixed-point LUT format, the golden scan, datasets and metrics.

The names below are loaded on first use (PEP 562): importing ``ivfpq.errors``, as every command
does, must not import numba and faiss (a ``hwrag dram run`` needs neither)."""
from __future__ import annotations

import importlib

from .errors import HwragError

_LAZY = {"IVFPQIndex": ".index", "LutFormat": ".fixedpoint", "DEFAULT_FORMAT": ".fixedpoint",
         "quantize_luts": ".fixedpoint"}

__all__ = ["HwragError", "IVFPQIndex", "LutFormat", "DEFAULT_FORMAT", "quantize_luts"]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""The algorithmic core: IVF-PQ index model, faiss train/import/export, save/load, Chameleon
sharding and merge, the fixed-point LUT format, the golden scan, datasets and metrics."""
from .errors import HwragError
from .fixedpoint import DEFAULT_FORMAT, LutFormat, quantize_luts
from .index import IVFPQIndex

__all__ = ["HwragError", "IVFPQIndex", "LutFormat", "DEFAULT_FORMAT", "quantize_luts"]

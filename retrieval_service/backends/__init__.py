"""Scan backends behind one adapter (DESIGN.md, contract 4): see :mod:`.base`."""
from .base import (Figure, PartialTopK, ScanBackend, ShardInfo, available_backends, create_backend,
                   register_backend)

__all__ = ["Figure", "PartialTopK", "ScanBackend", "ShardInfo", "available_backends", "create_backend",
           "register_backend"]

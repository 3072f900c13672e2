"""Scan backends behind one adapter (docs/DESIGN.md § Contracts, 4): see :mod:`.base`."""
from .base import (PartialTopK, ScanBackend, ShardInfo, available_backends, create_backend,
                   register_backend)

__all__ = ["PartialTopK", "ScanBackend", "ShardInfo", "available_backends", "create_backend",
           "register_backend"]

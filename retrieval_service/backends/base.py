"""The ``ScanBackend`` adapter: the only thing a memory node knows (docs/DESIGN.md § Contracts, 4).

A backend loads one shard (an :class:`ivfpq.IVFPQIndex` holding a slice of every IVF list, with all
centroids and codebooks) and scans a batch of queries over given probed lists, answering the partial
top-K and its timing. Functional results must be real (contract 3): an emulated backend computes
its ids and distances with the golden model in the hardware number format, and adds its *modeled*
device time and energy per stage as :class:`Figure` s with ``provenance="modeled"`` and ``config``
naming the modeled configuration. The memory node adds the *measured* wall time itself.

Adding a backend (e.g. one built on an hwsim model)::

    from retrieval_service.backends.base import ScanBackend, register_backend

    @register_backend("fpga")
    class FpgaBackend(ScanBackend):
        number_format = "fixed"
        def load(self, shard, info): ...
        def scan(self, queries, probe, k): ...   # -> PartialTopK

and list the module in ``_BUILTIN`` below so ``create_backend("fpga")`` imports it on demand.
``create_backend("package.module:Class")`` also works for backends outside this package.
"""
from __future__ import annotations

import importlib
import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Callable, ClassVar

import numpy as np
from ivfpq.errors import HwragError
from ivfpq.index import IVFPQIndex

from ..wire import Figure

@dataclass(frozen=True)
class ShardInfo:
    index: str  # the name the index is served under
    shard: int
    nshards: int
    fingerprint: str  # index_fingerprint of the full index


@dataclass
class PartialTopK:
    """A backend's answer for a batch: ascending by (distance, id), id -1 = missing."""
    ids: np.ndarray  # (nq, k) int64
    distances: np.ndarray  # (nq, k) float32, smaller is better; +inf where missing
    int_distances: np.ndarray | None = None  # (nq, k) int64 hardware distances (fixed point only)
    figures: list[Figure] = field(default_factory=list)  # backend-internal stages (modeled or measured)


class ScanBackend(ABC):
    """Load a shard; scan queries x probed lists -> partial top-K + timing."""

    name: ClassVar[str] = ""
    number_format: ClassVar[str] = "fixed"  # "fixed" (ivfpq.fixedpoint, mergeable on ints) | "float"
    # scans of at most this many codes (queries x probed lists x mean list length) run on the memory
    # node's event loop instead of its scan worker thread: no thread hand-off for small scans (they
    # would hold the GIL anyway). 0: always on the worker (the safe default for a backend of unknown cost).
    inline_max_codes: ClassVar[int] = 0

    def __init__(self, **options):
        if options:
            raise HwragError(f"backend {self.name!r} takes no options, got {sorted(options)}")
        self.shard: IVFPQIndex | None = None
        self.info: ShardInfo | None = None

    @abstractmethod
    def load(self, shard: IVFPQIndex, info: ShardInfo) -> None:
        """Take this shard (replacing any shard loaded before)."""

    @abstractmethod
    def scan(self, queries: np.ndarray, probe: np.ndarray, k: int) -> PartialTopK:
        """queries (nq, d) float32 finite, probe (nq, nprobe) int64 valid list ids, k >= 1."""

    def warmup(self) -> None:
        """Run once after load, before the node reports ready (JIT compilation, caches): a 1-query scan."""
        s = self.shard
        if s is not None and s.nlist > 0:
            self.scan(np.array(s.centroids[:1], dtype=np.float32), np.zeros((1, 1), np.int64), 1)

    def describe(self) -> dict:
        """What Info reports: for emulated backends, the modeled configuration."""
        return {"backend": self.name, "number_format": self.number_format}

    def describe_json(self) -> str:
        return json.dumps(self.describe(), sort_keys=True, default=str)

    def close(self) -> None:
        """Release resources (called on shutdown)."""


_REGISTRY: dict[str, Callable[..., ScanBackend]] = {}
# Built-in backends, imported on first use so that a node pays only for the backend it runs.
_BUILTIN: dict[str, str] = {
    "cpu": "retrieval_service.backends.cpu",
    "cpu-faiss": "retrieval_service.backends.cpu",
    "fpga": "retrieval_service.backends.hwsim_backends",
    "pim-hbm": "retrieval_service.backends.hwsim_backends",
    "pim-dimm": "retrieval_service.backends.hwsim_backends",
}


def register_backend(name: str):
    """Class decorator (or call with a factory) registering a backend under ``name``."""
    def deco(factory):
        if name in _REGISTRY and _REGISTRY[name] is not factory:
            raise HwragError(f"backend {name!r} is already registered")
        _REGISTRY[name] = factory
        if isinstance(factory, type) and not factory.name:
            factory.name = name
        return factory
    return deco


def available_backends() -> list[str]:
    return sorted(set(_REGISTRY) | set(_BUILTIN))


def create_backend(name: str, **options) -> ScanBackend:
    """A new backend by registered name (``cpu``, ``cpu-faiss``, ...) or ``module:Class`` path."""
    if name not in _REGISTRY and name in _BUILTIN:
        importlib.import_module(_BUILTIN[name])
    if name not in _REGISTRY and ":" in name:
        mod, _, attr = name.partition(":")
        try:
            factory = getattr(importlib.import_module(mod), attr)
        except (ImportError, AttributeError) as e:
            raise HwragError(f"cannot import backend {name!r}: {e}") from None
        return factory(**options)
    if name not in _REGISTRY:
        raise HwragError(f"unknown backend {name!r}; accepted: {', '.join(available_backends())} "
                         "or a 'package.module:Class' path")
    return _REGISTRY[name](**options)

"""The answer to one search, as the coordinator's plain functions return it."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from hwrag_rpc.v1 import retrieval_pb2

from ..wire import Figure, add_figures


@dataclass
class SharedFigures:
    """The figures of one fan-out, shared by every caller gathered into it, and their wire form, built once
    (each caller's answer merges the bytes in instead of building ~10 Figure messages of its own)."""
    figures: list[Figure]
    _wire: bytes | None = None

    def wire(self) -> bytes:
        """A serialized SearchResponse holding only ``timing``: merged into an answer, it appends them."""
        if self._wire is None:
            m = retrieval_pb2.SearchResponse()
            add_figures(m.timing, self.figures)
            self._wire = m.SerializeToString()
        return self._wire


@dataclass
class SearchOutcome:
    ids: np.ndarray  # (nq, k) int64, -1 = missing
    distances: np.ndarray  # (nq, k) float32, +inf where missing
    fixed_point: bool
    missing_shards: list[int] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    payloads: list[bytes] | None = None
    # figures[start:start + len(shared.figures)] are a gathered fan-out's, with their wire form built once
    shared: tuple[int, SharedFigures] | None = None

    def rows(self, a: int, b: int, first: list[Figure], shared: SharedFigures | None = None) -> "SearchOutcome":
        """Queries ``a:b`` of this answer (one caller's share of a gathered fan-out): its figures are
        ``first`` followed by this answer's (``shared``: those same figures, whose wire form callers share)."""
        return SearchOutcome(self.ids[a:b], self.distances[a:b], self.fixed_point, self.missing_shards,
                             [*first, *self.figures], shared=None if shared is None else (len(first), shared))

"""The answer to one search, as the coordinator's plain functions return it."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..wire import Figure


@dataclass
class SearchOutcome:
    ids: np.ndarray  # (nq, k) int64, -1 = missing
    distances: np.ndarray  # (nq, k) float32, +inf where missing
    fixed_point: bool
    missing_shards: list[int] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    payloads: list[bytes] | None = None

    def rows(self, a: int, b: int, figures: list[Figure]) -> "SearchOutcome":
        """Queries ``a:b`` of this answer, with ``figures`` (one caller's share of a gathered fan-out)."""
        return SearchOutcome(self.ids[a:b], self.distances[a:b], self.fixed_point, self.missing_shards, figures)

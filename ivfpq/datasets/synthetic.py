"""Seeded synthetic clustered data, SIFT-like: non-negative integer-valued components drawn from
an anisotropic Gaussian mixture with uneven cluster sizes (so IVF lists are unevenly filled, as on
real data). Any dimension."""
from __future__ import annotations

import numpy as np

from ..errors import HwragError


def make_clustered(n: int, d: int = 128, nq: int = 1000, *, n_clusters: int | None = None,
                   seed: int = 0, value_max: float = 255.0) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(base (n, d), queries (nq, d))`` float32, deterministic in ``seed``."""
    if n < 1 or d < 1 or nq < 0:
        raise HwragError(f"n={n}, d={d} must be >= 1 and nq={nq} >= 0")
    rng = np.random.default_rng(seed)
    c = n_clusters or max(8, int(np.sqrt(n + nq) / 2))
    # sparse-ish non-negative cluster centres, like SIFT histograms
    centres = rng.gamma(0.6, value_max / 6, size=(c, d)) * (rng.random((c, d)) < 0.6)
    spread = rng.uniform(0.05, 0.25, size=(c, 1)) * value_max * rng.uniform(0.3, 1.0, size=(c, d))
    weights = rng.dirichlet(np.full(c, 2.0))

    def draw(m: int) -> np.ndarray:
        lab = rng.choice(c, size=m, p=weights)
        x = centres[lab] + rng.normal(size=(m, d)) * spread[lab]
        return np.clip(np.rint(x), 0, value_max).astype(np.float32)

    return draw(n), draw(nq)

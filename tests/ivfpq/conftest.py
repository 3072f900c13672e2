import numpy as np
import pytest

from ivfpq.faiss_io import train_index


@pytest.fixture(scope="session")
def data():
    rng = np.random.default_rng(7)
    centres = rng.normal(size=(20, 32)) * 4
    xb = (centres[rng.integers(0, 20, 6000)] + rng.normal(size=(6000, 32))).astype(np.float32)
    xq = (centres[rng.integers(0, 20, 40)] + rng.normal(size=(40, 32))).astype(np.float32)
    return xb, xq


@pytest.fixture(scope="session")
def indexes(data):
    xb, _ = data
    return {(m, r): train_index(xb if m == "l2" else xb / np.linalg.norm(xb, axis=1, keepdims=True),
                                32, 8, metric=m, by_residual=r, niter=10)
            for m in ("l2", "ip") for r in (True, False)}

import numpy as np
import pytest
from ivfpq.datasets.synthetic import make_clustered
from ivfpq.faiss_io import train_index


@pytest.fixture(scope="session")
def data():
    xb, xq = make_clustered(4000, 32, 40, seed=3)
    return xb, xq


@pytest.fixture(scope="session")
def index(data):
    return train_index(data[0], 32, 8, niter=6, seed=1)


@pytest.fixture(scope="session")
def index_ip(data):
    rng = np.random.default_rng(5)
    xb = rng.standard_normal((3000, 32)).astype(np.float32)
    return train_index(xb, 16, 8, metric="ip", niter=6, seed=2)


@pytest.fixture(scope="session")
def saved_index(index, tmp_path_factory):
    from ivfpq.storage import save_index
    from ivfpq.payloads import PayloadStore, default_path

    path = tmp_path_factory.mktemp("idx") / "index"
    save_index(index, path)
    PayloadStore.build({int(i): f"chunk-{int(i)}" for i in index.ids}).save(default_path(path))
    return path

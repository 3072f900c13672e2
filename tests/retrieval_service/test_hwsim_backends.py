"""Emulated backends behind the service: exact golden answers across a cluster, modeled figures."""
import numpy as np
import pytest

from ivfpq.faiss_io import train_index
from ivfpq.scan import search
from retrieval_service.backends.base import create_backend
from retrieval_service.client import RetrievalClient
from retrieval_service.local import LocalCluster
from ivfpq.errors import HwragError


@pytest.fixture(scope="module")
def index_and_queries():
    rng = np.random.default_rng(11)
    xb = rng.normal(size=(3000, 32)).astype(np.float32)
    return train_index(xb, 16, 8, niter=8), rng.normal(size=(6, 32)).astype(np.float32)


@pytest.mark.parametrize("backend", ["fpga", "pim-hbm", "pim-dimm"])
def test_two_node_emulated_cluster_equals_unsharded_golden(index_and_queries, backend):
    index, q = index_and_queries
    want = search(index, q, 10, 4)
    with LocalCluster(index, nshards=2, backend=backend) as c:
        r = RetrievalClient(c.address, timeout=60).search(q, 10, 4)
    np.testing.assert_array_equal(r.ids, want.ids)
    modeled = [f for f in r.timing if f.provenance == "modeled"]
    assert modeled and all(f.config for f in modeled)  # every modeled figure names its configuration
    assert any(f.quantity == "energy" and f.value > 0 for f in modeled)
    assert r.time("node", "measured") > 0


def test_unknown_configuration_is_rejected():
    with pytest.raises(HwragError, match="accepted: chameleon_u250"):
        create_backend("fpga", config="heterrag_accelhbm")

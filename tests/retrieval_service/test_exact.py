"""A cluster of N memory nodes returns exactly what unsharded ivfpq search returns (contract 3)."""
import concurrent.futures as cf

import faiss
import numpy as np
import pytest
from ivfpq.faiss_io import to_faiss
from ivfpq.scan import search
from retrieval_service.client import RetrievalClient
from retrieval_service.coordinator import CoordinatorConfig
from retrieval_service.coordinator.merge import merge_partials
from retrieval_service.local import LocalCluster
from ivfpq.payloads import PayloadStore
from ivfpq.shard import merge_topk


@pytest.mark.parametrize("nshards", [1, 2, 4])
def test_cluster_equals_unsharded_search(index, data, nshards):
    xq = data[1]
    ref = search(index, xq, 10, 6)
    with LocalCluster(index, nshards) as c, RetrievalClient(c.address) as cl:
        r = cl.search(xq, 10, 6)
    assert r.complete and r.number_format == "fixed"
    np.testing.assert_array_equal(r.ids, ref.ids)
    np.testing.assert_array_equal(r.distances, ref.distances)
    assert r.time("select") > 0 and r.time("network") >= 0
    assert sum(1 for f in r.timing if f.stage == "node") == nshards
    assert all(f.provenance == "measured" for f in r.timing)  # cpu: nothing modeled


def test_cluster_ip_metric_and_k_beyond_candidates(index_ip):
    rng = np.random.default_rng(9)
    xq = rng.standard_normal((7, 32)).astype(np.float32)
    ref = search(index_ip, xq, 300, 1)  # one list holds fewer than 300 vectors: -1 padding
    with LocalCluster(index_ip, 4) as c, RetrievalClient(c.address) as cl:
        r = cl.search(xq, 300, 1)
    assert (ref.ids == -1).any()
    np.testing.assert_array_equal(r.ids, ref.ids)


def test_cpu_faiss_backend_matches_faiss(index, data):
    xq = data[1]
    f = to_faiss(index)
    f.nprobe = 6
    D, I = f.search(xq, 10)
    with LocalCluster(index, 2, backend="cpu-faiss") as c, RetrievalClient(c.address) as cl:
        r = cl.search(xq, 10, 6)
    assert r.number_format == "float"
    np.testing.assert_allclose(r.distances, D, rtol=1e-5, atol=1e-3)
    # ids equal wherever the distance is not tied with a neighbour
    assert (r.ids == I).mean() > 0.98


def test_merge_partials_agrees_with_ivfpq_merge_topk():
    rng = np.random.default_rng(0)
    parts_i, parts_d = [], []
    ids = rng.permutation(1000)[:60].reshape(3, 20)
    for s in range(3):
        i = np.sort(ids[s].reshape(2, 10), axis=1)
        d = rng.integers(0, 5, size=(2, 10)).astype(np.int64)
        i[:, -2:] = -1
        parts_i.append(i)
        parts_d.append(d)
    I, _ = merge_partials(parts_i, parts_d, [d.astype(np.float32) for d in parts_d], 12)
    _, I2 = merge_topk(parts_d, parts_i, 12)
    np.testing.assert_array_equal(I, I2)


def test_merge_refuses_overlapping_answers_as_a_service_error():
    """Two nodes answering the same id for one query is the nodes' fault, not the caller's: not INVALID_ARGUMENT."""
    import grpc
    from retrieval_service.wire import ServiceError

    ids = [np.array([[3, 7]]), np.array([[5, 7]])]
    keys = [np.array([[10, 20]]), np.array([[15, 25]])]
    with pytest.raises(ServiceError) as e:
        merge_partials(ids, keys, [k.astype(np.float32) for k in keys], 3)
    assert e.value.code == grpc.StatusCode.FAILED_PRECONDITION and "same id" in e.value.message


def test_payloads_and_batching_window(index, data):
    xq = data[1]
    ref = search(index, xq, 5, 4)
    store = PayloadStore.build({int(i): f"text {int(i)}" for i in index.ids[::2]})
    cfg = CoordinatorConfig(batch_window_s=0.02)
    with LocalCluster(index, 2, config=cfg, payloads=store) as c, RetrievalClient(c.address) as cl:
        with cf.ThreadPoolExecutor(8) as ex:
            futs = [ex.submit(cl.search, xq[i:i + 5], 5, 4, with_payloads=True) for i in range(0, 40, 5)]
            res = [f.result() for f in futs]
    for j, r in enumerate(res):
        np.testing.assert_array_equal(r.ids, ref.ids[5 * j:5 * j + 5])
        have = set(int(i) for i in index.ids[::2])
        for row_ids, row_pl in zip(r.ids, r.payloads):
            for i, p in zip(row_ids, row_pl):
                assert p == (f"text {i}".encode() if int(i) in have else b"")
    assert any(r.time("batch_wait") > 0 for r in res)


def test_stream_sync_and_async(index, data):
    import asyncio

    from retrieval_service.client import AsyncRetrievalClient

    xq = data[1]
    ref = search(index, xq, 4, 3)
    with LocalCluster(index, 2) as c:
        with RetrievalClient(c.address) as cl, cl.stream() as s:
            for i in range(5):
                np.testing.assert_array_equal(s.search(xq[i], 4, 3).ids, ref.ids[i:i + 1])

        async def run():
            async with AsyncRetrievalClient(c.address) as ac:
                r = await ac.search(xq, 4, 3)
                np.testing.assert_array_equal(r.ids, ref.ids)
                async with ac.stream() as s:
                    for i in range(3):
                        r = await s.search(xq[i:i + 1], 4, 3)
                        np.testing.assert_array_equal(r.ids, ref.ids[i:i + 1])
                info = await ac.info()
                assert info.indexes[0].nshards == 2 and all(n.reachable for n in info.indexes[0].nodes)

        asyncio.run(run())


def test_torch_list_selection_matches_faiss(index, data):
    """The torch path (CUDA in production) picks the same lists as ivfpq.lut.select_lists; run on CPU here."""
    torch = pytest.importorskip("torch")
    from ivfpq.lut import select_lists
    from retrieval_service.coordinator.selection import TorchListSelector

    selector = TorchListSelector(index, device="cpu")
    np.testing.assert_array_equal(selector.select(data[1], 6), select_lists(index, data[1], 6))

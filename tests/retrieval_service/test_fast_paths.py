"""The latency fast paths answer exactly what the general paths do: small scans on the node's event loop
vs its worker thread, the cached list-selection quantizer vs ivfpq.lut.select_lists, and the batching
window that never holds a lone caller and lets callers gathered behind a fan-out go when it finishes."""
import concurrent.futures as cf

import numpy as np
from ivfpq.lut import select_lists
from ivfpq.scan import search
from retrieval_service.client import RetrievalClient
from retrieval_service.coordinator import CoordinatorConfig
from retrieval_service.coordinator.selection import make_quantizer, select_probe
from retrieval_service.local import LocalCluster
from retrieval_service.memory_node import MemoryNode


def test_quantizer_selects_what_select_lists_does(index, index_ip, data):
    for ix in (index, index_ip):
        q = np.ascontiguousarray(data[1] if ix is index else np.random.default_rng(0).standard_normal(
            (20, ix.d)).astype(np.float32))
        for nprobe in (1, 5, ix.nlist):
            np.testing.assert_array_equal(select_probe(ix, q, nprobe, make_quantizer(ix)), select_lists(ix, q, nprobe))


def test_inline_threshold(index):
    node = MemoryNode("cpu")
    assert not node.runs_inline(1, 1)  # nothing loaded
    from retrieval_service.backends.base import ShardInfo
    from retrieval_service.wire import index_fingerprint

    node.load(index, ShardInfo("default", 0, 1, index_fingerprint(index)))
    per_list = index.ntotal / index.nlist
    limit = node._loaded.backend.inline_max_codes
    assert node.runs_inline(1, 1)
    assert not node.runs_inline(int(limit / per_list) + 1, 1)
    node.inline_max_codes = 0
    assert not node.runs_inline(1, 1)
    node.close()


def test_inline_and_worker_scans_agree(index, data):
    xq = data[1]
    ref = search(index, xq, 10, 6)
    with LocalCluster(index, 2) as c, RetrievalClient(c.address) as cl:
        for inline in (None, 0):  # the backend's threshold (inline), then always the worker thread
            for n in c.nodes:
                n.inline_max_codes = inline
            assert all(n.runs_inline(len(xq), 6) == (inline is None) for n in c.nodes)
            r = cl.search(xq, 10, 6)
            np.testing.assert_array_equal(r.ids, ref.ids)
            np.testing.assert_array_equal(r.distances, ref.distances)


def test_batching_window_never_holds_a_lone_caller(index, data):
    xq = data[1]
    ref = search(index, xq, 5, 4)
    # a window far longer than the callers' deadline: a caller held for it would fail DEADLINE_EXCEEDED
    cfg = CoordinatorConfig(batch_window_s=30.0)
    with LocalCluster(index, 2, config=cfg) as c, RetrievalClient(c.address, timeout=10.0) as cl:
        r = cl.search(xq[:3], 5, 4)
        np.testing.assert_array_equal(r.ids, ref.ids[:3])
        assert r.time("batch_wait") == 0.0
        with cf.ThreadPoolExecutor(8) as ex:  # callers gathered behind a fan-out go when it finishes
            futs = [ex.submit(cl.search, xq[i:i + 5], 5, 4) for i in range(0, 40, 5)]
            res = [f.result() for f in futs]
    for j, r in enumerate(res):
        np.testing.assert_array_equal(r.ids, ref.ids[5 * j:5 * j + 5])

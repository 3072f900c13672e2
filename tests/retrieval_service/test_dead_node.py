"""A memory node killed (or hung) during a load run: PARTIAL flags the missing shard within the deadline,
FAIL gives UNAVAILABLE within the deadline, nothing hangs, and full answers resume after a restart."""
import signal
import threading
import time

import grpc
import numpy as np
import pytest
from ivfpq.lut import select_lists
from ivfpq.scan import scan_lists, search
from ivfpq.shard import shard_index
from retrieval_service.client import RetrievalClient, RetrievalError
from retrieval_service.cluster import Cluster
from retrieval_service.config import ClusterConfig

DEADLINE = 1.5
SLACK = 0.5  # scheduling noise on a shared 2-core machine


@pytest.fixture(scope="module")
def cluster(saved_index, tmp_path_factory):
    cfg = ClusterConfig.from_dict({
        "coordinator": {"listen": "127.0.0.1:0", "default_deadline_s": DEADLINE},
        "index": [{"name": "default", "path": str(saved_index), "shards": 2, "backend": "cpu"}]})
    with Cluster(cfg, run_dir=tmp_path_factory.mktemp("run")) as c:
        yield c


def _shard0_answer(index, xq, k, nprobe):
    probe = select_lists(index, xq, nprobe)
    return scan_lists(shard_index(index, 2)[0], xq, probe, k).ids


def _timed(fn):
    t = time.monotonic()
    try:
        return fn(), time.monotonic() - t
    except RetrievalError as e:
        return e, time.monotonic() - t


def test_kill_node_during_load_run(cluster, index, data):
    xq = data[1][:8]
    full = search(index, xq, 10, 6).ids
    partial_ref = _shard0_answer(index, xq, 10, 6)
    results, stop = [], threading.Event()

    with RetrievalClient(cluster.address, timeout=DEADLINE) as cl:
        r = cl.search(xq, 10, 6, with_payloads=True)
        np.testing.assert_array_equal(r.ids, full)
        assert r.payloads[0][0] == f"chunk-{r.ids[0, 0]}".encode()

        def load():
            while not stop.is_set():
                results.append(_timed(lambda: cl.search(xq, 10, 6, policy="partial")))

        threads = [threading.Thread(target=load) for _ in range(2)]
        for t in threads:
            t.start()
        time.sleep(0.5)
        cluster.node(1).kill()  # SIGKILL mid-run
        time.sleep(1.0)
        stop.set()
        for t in threads:
            t.join(10)
        assert not any(t.is_alive() for t in threads), "a client call hung"
        assert results
        for res, dt in results:
            assert not isinstance(res, Exception), res
            assert dt < DEADLINE + SLACK
            if res.missing_shards:
                assert res.missing_shards == [1]
                np.testing.assert_array_equal(res.ids, partial_ref)
            else:
                np.testing.assert_array_equal(res.ids, full)
        assert results[-1][0].missing_shards == [1]

        # policy FAIL: UNAVAILABLE within the deadline, naming the shard
        err, dt = _timed(lambda: cl.search(xq, 10, 6, policy="fail"))
        assert isinstance(err, RetrievalError) and err.code == grpc.StatusCode.UNAVAILABLE, err
        assert "shard 1" in err.details and dt < DEADLINE + SLACK
        # the coordinator still answers Info, and reports the dead node
        info = cl.info()
        assert [n.reachable for n in info.indexes[0].nodes] == [True, False]

        # restart the node on its old address: full answers resume
        cluster.restart_node(1)
        t_end = time.monotonic() + 20
        while True:
            res, _ = _timed(lambda: cl.search(xq, 10, 6, policy="fail"))
            if not isinstance(res, Exception):
                break
            assert time.monotonic() < t_end, f"no full answer after restart: {res}"
            time.sleep(0.1)
        assert res.complete
        np.testing.assert_array_equal(res.ids, full)


def test_hung_node_answers_within_deadline(cluster, index, data):
    xq = data[1][:4]
    with RetrievalClient(cluster.address, timeout=DEADLINE) as cl:
        assert cl.search(xq, 5, 4).complete
        node = cluster.node(0)
        node.signal(signal.SIGSTOP)
        try:
            res, dt = _timed(lambda: cl.search(xq, 5, 4, policy="partial", timeout=1.0))
            assert not isinstance(res, Exception), res
            assert res.missing_shards == [0] and dt < 1.0 + SLACK
            err, dt = _timed(lambda: cl.search(xq, 5, 4, policy="fail", timeout=1.0))
            assert isinstance(err, RetrievalError)
            assert err.code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
            assert dt < 1.0 + SLACK
        finally:
            node.signal(signal.SIGCONT)
        time.sleep(0.2)
        assert cl.search(xq, 5, 4).complete

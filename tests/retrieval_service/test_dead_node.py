"""A memory node killed (or hung) during a load run: PARTIAL flags the missing shard within the deadline,
FAIL gives UNAVAILABLE within the deadline, nothing hangs, and full answers resume after a restart.

No sleeps and no wall-clock slack: "within the deadline" is gRPC's own deadline on the client (an answer or
the coordinator's UNAVAILABLE arrives only if it came in time; a late one is DEADLINE_EXCEEDED), and every
wait is for an event (each load thread's answers, the node back in service) under a bound that only a hang
reaches, so the test holds on a loaded machine (checked with `nproc` busy loops beside it)."""
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

DEADLINE = 1.5  # the clients' deadline, and the coordinator's default
HANG = 60.0  # an event not seen within this long is a hang


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


def _answer(fn):
    try:
        return fn()
    except RetrievalError as e:
        return e


def _until(fn, what: str):
    """Call ``fn`` until it returns an answer (not an error); the last error if none within HANG."""
    t_end = time.monotonic() + HANG
    while True:
        res = _answer(fn)
        if not isinstance(res, Exception):
            return res
        assert time.monotonic() < t_end, f"{what}: still {res} after {HANG} s"
        time.sleep(0.05)  # the poll's pace (not a timing assumption): spare the coordinator a busy loop


class _LoadRun:
    """Threads that search with policy PARTIAL until stopped; each keeps its answers (or errors) in order."""

    def __init__(self, search, n: int = 2):
        self.answers = [[] for _ in range(n)]
        self.cond, self.stop = threading.Condition(), threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(search, a)) for a in self.answers]
        for t in self.threads:
            t.start()

    def _run(self, search, mine):
        while not self.stop.is_set():
            res = _answer(search)
            with self.cond:
                mine.append(res)
                self.cond.notify_all()

    def wait_each(self, pred, what: str):
        """Until every thread has an answer that satisfies ``pred`` (or any error)."""
        def seen():
            return all(any(isinstance(r, Exception) or pred(r) for r in a) for a in self.answers)

        with self.cond:
            assert self.cond.wait_for(seen, HANG), f"no {what} from every load thread within {HANG} s"

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(HANG)
        assert not any(t.is_alive() for t in self.threads), "a client call hung"
        return self.answers


def test_kill_node_during_load_run(cluster, index, data):
    xq = data[1][:8]
    full = search(index, xq, 10, 6).ids
    partial_ref = _shard0_answer(index, xq, 10, 6)

    with RetrievalClient(cluster.address, timeout=DEADLINE) as cl:
        r = cl.search(xq, 10, 6, with_payloads=True)
        np.testing.assert_array_equal(r.ids, full)
        assert r.payloads[0][0] == f"chunk-{r.ids[0, 0]}".encode()

        run = _LoadRun(lambda: cl.search(xq, 10, 6, policy="partial"))
        try:
            run.wait_each(lambda r: r.complete, "full answer")
            cluster.node(1).kill()  # SIGKILL mid-run
            run.wait_each(lambda r: r.missing_shards, "partial answer after the kill")
        finally:
            answers = run.finish()
        for mine in answers:
            for res in mine:  # every call answered within the clients' deadline (gRPC's), none failed
                assert not isinstance(res, Exception), res
                if res.missing_shards:
                    assert res.missing_shards == [1]
                    np.testing.assert_array_equal(res.ids, partial_ref)
                else:
                    np.testing.assert_array_equal(res.ids, full)
            # one thread's calls are in order: full answers, then (the node dead) only partial ones
            flags = [bool(res.missing_shards) for res in mine]
            assert flags == sorted(flags) and flags[-1], flags

        # policy FAIL: the coordinator's UNAVAILABLE (within the deadline: not the client's DEADLINE_EXCEEDED),
        # naming the shard
        err = _answer(lambda: cl.search(xq, 10, 6, policy="fail"))
        assert isinstance(err, RetrievalError) and err.code == grpc.StatusCode.UNAVAILABLE, err
        assert "shard 1" in err.details
        # the coordinator still answers Info, and reports the dead node
        info = cl.info()
        assert [n.reachable for n in info.indexes[0].nodes] == [True, False]

        # restart the node on its old address: full answers resume
        cluster.restart_node(1)
        res = _until(lambda: cl.search(xq, 10, 6, policy="fail"), "no full answer after the restart")
        assert res.complete
        np.testing.assert_array_equal(res.ids, full)


def test_hung_node_answers_within_deadline(cluster, index, data):
    xq = data[1][:4]
    with RetrievalClient(cluster.address, timeout=DEADLINE) as cl:
        assert cl.search(xq, 5, 4).complete
        node = cluster.node(0)
        node.signal(signal.SIGSTOP)
        try:
            # an answer at all is one within the 1 s deadline (later, gRPC gives DEADLINE_EXCEEDED instead)
            res = _answer(lambda: cl.search(xq, 5, 4, policy="partial", timeout=1.0))
            assert not isinstance(res, Exception), res
            assert res.missing_shards == [0]
            err = _answer(lambda: cl.search(xq, 5, 4, policy="fail", timeout=1.0))
            assert isinstance(err, RetrievalError)
            assert err.code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
        finally:
            node.signal(signal.SIGCONT)
        # the node resumed: full answers again once the coordinator's health probe has it back
        assert _until(lambda: cl.search(xq, 5, 4, policy="fail"), "no full answer after SIGCONT").complete

"""Faults on real servers on loopback (issue 24): a memory node held down by the coordinator's circuit
breaker is not dialled (PARTIAL answers from the others, exact; FAIL answers at once) and its health probe
brings it back; the coordinator's deliberate UNAVAILABLE is not retried, neither by hwrag's client nor by
a plain gRPC client configured with a standard retry policy (while that policy does retry an UNAVAILABLE
without pushback); a bad request on a stream gets its own error and the stream goes on."""
import asyncio
import json
import threading
import time

import grpc
import numpy as np
import pytest
from hwrag_rpc.v1 import retrieval_pb2
from ivfpq.scan import search
from retrieval_service.chaos import ExactOracle
from retrieval_service.client import AsyncRetrievalClient, RetrievalClient, RetrievalError
from retrieval_service.coordinator import CoordinatorConfig
from retrieval_service.local import LocalCluster
from retrieval_service.wire import PUSHBACK_KEY, RETRIEVAL_SERVICE, pack_matrix

K, NPROBE, SHARDS = 10, 6, 3
UNAVAILABLE, INVALID = grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.INVALID_ARGUMENT
#: a standard gRPC retry policy (gRPC A6), as a foreign client would configure it
STANDARD_RETRY = json.dumps({"methodConfig": [{
    "name": [{"service": RETRIEVAL_SERVICE}],
    "retryPolicy": {"maxAttempts": 5, "initialBackoff": "0.01s", "maxBackoff": "0.1s", "backoffMultiplier": 2,
                    "retryableStatusCodes": ["UNAVAILABLE"]}}]})


@pytest.fixture(scope="module")
def cluster(index):
    with LocalCluster(index, SHARDS, config=CoordinatorConfig(probe_interval_s=0.1, batch_window_s=0)) as c:
        yield c


@pytest.fixture(scope="module")
def oracle(index, data):
    o = ExactOracle(index, SHARDS, [data[1][:8]], K, NPROBE)
    # the oracle itself against the plain in-process search: with no shard missing it is the full answer
    np.testing.assert_array_equal(o.expected(0), search(index, data[1][:8], K, NPROBE).ids)
    return o


def _wait_state(cluster, shard: int, state: str, timeout: float = 20.0):
    """Info until node ``shard`` is in ``state`` (the probe runs every 0.1 s)."""
    t_end = time.monotonic() + timeout
    with RetrievalClient(cluster.address) as c:
        while True:
            st = c.info().indexes[0].nodes[shard]
            if st.state == state:
                return st
            assert time.monotonic() < t_end, f"node {shard} not {state} after {timeout} s: {st}"
            time.sleep(0.02)


def _node(cluster, shard: int):
    return cluster.coordinator.entry("default").nodes[shard]


def test_a_dead_node_is_held_down_not_dialled_and_probed_back(cluster, data, oracle):
    xq = data[1][:8]
    coord = cluster.coordinator
    with RetrievalClient(cluster.address, timeout=5) as c:
        np.testing.assert_array_equal(c.search(xq, K, NPROBE).ids, oracle.expected(0))
        cluster.stop_node(2)
        r = c.search(xq, K, NPROBE, policy="partial")  # finds it dead: marks it down
        assert r.missing_shards == [2]
        np.testing.assert_array_equal(r.ids, oracle.expected(0, [2]))
        st = c.info().indexes[0].nodes[2]
        assert (st.state, st.reachable) == ("down", False) and st.transitions == 1
        assert "UNAVAILABLE" in st.state_reason and abs(st.state_since_unix_s - time.time()) < 60
        dials = _node(cluster, 2).scans
        for _ in range(5):  # PARTIAL: the others answer, exactly; the down node is not dialled
            r = c.search(xq, K, NPROBE, policy="partial")
            assert r.missing_shards == [2]
            np.testing.assert_array_equal(r.ids, oracle.expected(0, [2]))
        searches = coord.searches
        with pytest.raises(RetrievalError) as e:  # FAIL: at once, naming the shard and since when
            c.search(xq, K, NPROBE, policy="fail")
        assert e.value.code == UNAVAILABLE and "shard 2" in e.value.details and "down since" in e.value.details
        assert coord.searches == searches + 1, "hwrag's client retried the final UNAVAILABLE"
        assert _node(cluster, 2).scans == dials, "a node held down was dialled"

        cluster.restart_node(2)  # back on its address: the probe brings it up, full answers resume
        st = _wait_state(cluster, 2, "up")
        assert st.reachable and st.transitions == 2 and "SERVING" in st.state_reason
        r = c.search(xq, K, NPROBE, policy="fail")
        assert r.complete
        np.testing.assert_array_equal(r.ids, oracle.expected(0))


def test_a_suspect_node_is_probed_at_once(cluster, data):
    """A scan that fails without saying the node is gone (here: a broken stream's answer) makes the node
    suspect; the probe asks it at once and, as it answers SERVING, keeps it up."""
    n = _node(cluster, 0)
    probes = cluster.coordinator.prober.probes
    done = threading.Event()

    async def flag():
        err = grpc.aio.AioRpcError(grpc.StatusCode.INTERNAL, grpc.aio.Metadata(), grpc.aio.Metadata(), "test")
        cluster.coordinator.links.failed(n, err)
        assert n.health.suspect
        while n.health.suspect:
            await asyncio.sleep(0.01)
        done.set()

    cluster.loop.run(flag(), timeout=10)
    assert done.is_set() and n.health.up and cluster.coordinator.prober.probes > probes


def _raw_search(address: str, req: retrieval_pb2.SearchRequest, retries: bool = True):
    """Search from a plain gRPC client: generated messages, no hwrag code, a standard retry policy."""
    opts = [("grpc.enable_retries", 1), ("grpc.service_config", STANDARD_RETRY)] if retries else []
    with grpc.insecure_channel(address, options=opts) as ch:
        call = ch.unary_unary(f"/{RETRIEVAL_SERVICE}/Search", request_serializer=lambda m: m.SerializeToString(),
                              response_deserializer=retrieval_pb2.SearchResponse.FromString)
        return call.with_call(req, timeout=5)


def test_a_standard_retry_policy_does_not_retry_the_deliberate_fail(cluster, data):
    req = retrieval_pb2.SearchRequest(queries=pack_matrix(data[1][:2]), k=K, nprobe=NPROBE,
                                      policy=retrieval_pb2.FAIL)
    cluster.stop_node(1)
    try:
        with pytest.raises(grpc.RpcError):  # finds it dead
            _raw_search(cluster.address, req)
        _wait_state(cluster, 1, "down")
        before = cluster.coordinator.searches
        with pytest.raises(grpc.RpcError) as e:
            _raw_search(cluster.address, req)
        assert e.value.code() == UNAVAILABLE
        assert (PUSHBACK_KEY, "-1") in [(m.key, m.value) for m in e.value.trailing_metadata()]
        assert cluster.coordinator.searches == before + 1, "the foreign client retried the final UNAVAILABLE"
    finally:
        cluster.restart_node(1)
        _wait_state(cluster, 1, "up")


class _Unavailable:
    """A bare gRPC server whose Search always answers UNAVAILABLE without pushback (what a transport
    failure looks like to a client); ``calls`` counts the attempts it saw."""

    def __enter__(self):
        from concurrent.futures import ThreadPoolExecutor

        self.calls = []

        def handler(raw, context):
            self.calls.append(1)
            context.abort(UNAVAILABLE, "try again")

        self.server = grpc.server(ThreadPoolExecutor(2))
        self.server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
            RETRIEVAL_SERVICE, {"Search": grpc.unary_unary_rpc_method_handler(handler)}),))
        self.address = f"127.0.0.1:{self.server.add_insecure_port('127.0.0.1:0')}"
        self.server.start()
        return self

    def __exit__(self, *exc):
        self.server.stop(0)


def test_the_standard_retry_policy_does_retry_without_pushback():
    """The control: the same channel settings retry an UNAVAILABLE that carries no pushback (so the test
    above can fail)."""
    with _Unavailable() as s:
        with pytest.raises(grpc.RpcError) as e:
            _raw_search(s.address, retrieval_pb2.SearchRequest())
        assert e.value.code() == UNAVAILABLE and len(s.calls) == 5


def test_hwrag_client_retries_by_the_book_within_a_budget():
    """hwrag's client retries a retryable UNAVAILABLE (3 attempts), and its retry budget (retryThrottling:
    10 tokens, one per failed attempt, no retry at half or below) stops retrying a server that keeps failing."""
    with _Unavailable() as s, RetrievalClient(s.address, timeout=5) as c:
        per_call = []
        for _ in range(5):
            n = len(s.calls)
            with pytest.raises(RetrievalError) as e:
                c.search(np.zeros((1, 4), np.float32), 1, 1)
            assert e.value.code == UNAVAILABLE
            per_call.append(len(s.calls) - n)
    assert per_call == [3, 2, 1, 1, 1], per_call


def _bad_cases(xq):
    nan = xq.copy()
    nan[0, 3] = np.nan
    return [((nan, K), INVALID, "NaN"), ((xq, 10 ** 6), INVALID, "k="), ((xq[:, :5], K), INVALID, "shape"),
            ((xq[:0], K), INVALID, "empty")]


def test_stream_isolates_a_bad_request(cluster, data, oracle):
    xq = data[1][:8]
    with RetrievalClient(cluster.address, timeout=10) as c, c.stream() as s:
        for (q, k), code, words in _bad_cases(xq):
            with pytest.raises(RetrievalError) as e:
                s.search(q, k, NPROBE)
            assert e.value.code == code and words in e.value.details, e.value
            np.testing.assert_array_equal(s.search(xq, K, NPROBE).ids, oracle.expected(0))


def test_async_stream_isolates_a_bad_request(cluster, data, oracle):
    xq = data[1][:8]

    async def go():
        async with AsyncRetrievalClient(cluster.address, timeout=10) as c:
            s = c.stream()
            try:
                for (q, k), code, _ in _bad_cases(xq):
                    with pytest.raises(RetrievalError) as e:
                        await s.search(q, k, NPROBE)
                    assert e.value.code == code
                    np.testing.assert_array_equal((await s.search(xq, K, NPROBE)).ids, oracle.expected(0))
            finally:
                await s.close()

    asyncio.run(go())


def test_foreign_stream_gets_per_request_status(cluster, data, oracle):
    """A plain gRPC client (generated messages, no hwrag code): good, NaN, malformed bytes, good; four
    answers, the bad ones with their own status, the good ones exact."""
    xq = data[1][:8]
    nan = xq.copy()
    nan[1, 0] = np.nan
    good = retrieval_pb2.SearchRequest(queries=pack_matrix(xq), k=K, nprobe=NPROBE, request_id=1)
    bad = retrieval_pb2.SearchRequest(queries=pack_matrix(nan), k=K, nprobe=NPROBE, request_id=2)
    raw = [good.SerializeToString(), bad.SerializeToString(), b"\xff\xff\xff", good.SerializeToString()]
    with grpc.insecure_channel(cluster.address) as ch:
        call = ch.stream_stream(f"/{RETRIEVAL_SERVICE}/SearchStream", request_serializer=lambda b: b,
                                response_deserializer=retrieval_pb2.SearchResponse.FromString)
        answers = list(call(iter(raw), timeout=20))
    assert len(answers) == 4
    for a in (answers[0], answers[3]):
        assert not a.HasField("error") and a.request_id == 1
        np.testing.assert_array_equal(np.frombuffer(a.ids, "<i8").reshape(a.nq, a.k), oracle.expected(0))
    assert answers[1].request_id == 2 and answers[1].error.code == INVALID.value[0]
    assert "NaN" in answers[1].error.message and not answers[1].ids
    assert answers[2].error.code == INVALID.value[0] and "malformed" in answers[2].error.message

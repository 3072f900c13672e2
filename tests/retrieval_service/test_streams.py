"""Streaming sessions (issue 26) on real servers on loopback: many requests in flight on one SearchStream,
answers matched by request id and exact against an independent oracle (the golden scan of each shard,
merged), back-pressure when the window is full, requests of several streams and unary calls gathered into
the same batching window, a dead node mid-stream answered per request, and a stream cut by the server
ending every pending request with a status (nothing hangs)."""
import asyncio
import threading

import grpc
import numpy as np
import pytest
from ivfpq.errors import HwragError
from ivfpq.scan import search
from retrieval_service.chaos import ExactOracle
from retrieval_service.client import AsyncRetrievalClient, RetrievalClient, RetrievalError
from retrieval_service.coordinator import CoordinatorConfig
from retrieval_service.local import LocalCluster

K, NPROBE, SHARDS = 10, 6, 2


@pytest.fixture(scope="module")
def batches(data):
    return [data[1][i:i + 1 + i % 3] for i in range(0, 30)]  # 30 batches of 1-3 queries


@pytest.fixture(scope="module")
def oracle(index, batches):
    return ExactOracle(index, SHARDS, batches, K, NPROBE)


@pytest.fixture(scope="module")
def cluster(index):
    with LocalCluster(index, SHARDS, config=CoordinatorConfig(probe_interval_s=0.1)) as c:  # adaptive window
        yield c


def test_many_requests_in_flight_matched_by_id_within_the_window(cluster, batches, oracle):
    with RetrievalClient(cluster.address) as c, c.stream(window=4) as s:
        futs, most = [], 0
        for b in batches:
            futs.append(s.submit(b, K, NPROBE))
            most = max(most, s.in_flight())
        ids = [f.result(timeout=20) for f in futs]
        assert most <= 4  # back-pressure: submit waited for a free slot
        for j, r in enumerate(ids):
            np.testing.assert_array_equal(r.ids, oracle.expected(j))
        assert len({r.request_id for r in ids}) == len(batches)


def test_async_session_pipelines(cluster, batches, oracle):
    async def go():
        async with AsyncRetrievalClient(cluster.address) as c, c.stream(window=8) as s:
            futs = [await s.submit(b, K, NPROBE) for b in batches]
            return await asyncio.gather(*futs)

    for j, r in enumerate(asyncio.run(go())):
        np.testing.assert_array_equal(r.ids, oracle.expected(j))


def test_streams_and_unary_calls_share_the_batching_window(cluster, batches, oracle):
    """Three streams with all their requests in flight and unary callers on threads: the coordinator
    gathers them into fewer fan-outs than requests, and every answer is exact."""
    b = cluster.coordinator.batcher
    fanouts, queries = b.fanouts, b.queries
    errors, unary_ok = [], []

    def unary(j):
        try:
            with RetrievalClient(cluster.address) as c:
                r = c.search(batches[j], K, NPROBE)
            np.testing.assert_array_equal(r.ids, oracle.expected(j))
            unary_ok.append(j)
        except Exception as e:  # noqa: BLE001 -- reported below
            errors.append(e)

    threads = [threading.Thread(target=unary, args=(j,)) for j in range(4)]
    with RetrievalClient(cluster.address) as c:
        sessions = [c.stream() for _ in range(3)]
        try:
            futs = [(j, s.submit(batches[j], K, NPROBE)) for j in range(len(batches)) for s in sessions]
            for t in threads:
                t.start()
            results = [(j, f.result(timeout=20)) for j, f in futs]
        finally:
            for s in sessions:
                s.close()
    for t in threads:
        t.join(20)
    assert not errors and len(unary_ok) == 4
    for j, r in results:
        np.testing.assert_array_equal(r.ids, oracle.expected(j))
    calls = len(futs) + 4
    assert b.queries - queries == sum(len(batches[j]) for j, _ in futs) + sum(len(batches[j]) for j in range(4))
    assert b.fanouts - fanouts < calls, "no request was gathered with another"
    assert any(r.time("batch_wait") > 0 for _, r in results)


def test_a_coalescing_session_sends_waiting_requests_as_one_message_and_splits_the_answers(cluster, batches,
                                                                                            oracle):
    """Many callers on one coalescing session: requests of one key waiting for a write go as one message
    (at most max_rows queries), each caller gets exactly its own rows; another k goes in a message of its
    own; a request of a bad shape fails alone."""
    async def go():
        async with AsyncRetrievalClient(cluster.address) as c, c.stream(coalesce=True, max_rows=8) as s:
            other = s.search(batches[4], 5, NPROBE)  # another key: never stacked with the k=K requests
            rs = await asyncio.gather(other, *[s.search(b, K, NPROBE) for b in batches])
            with pytest.raises(HwragError, match=r"queries must be \(n, d\)"):
                await s.search(np.zeros((1, 2, 3), np.float32), K, NPROBE)
            alone = await s.search(batches[0], K, NPROBE)
            return rs, alone, s.messages

    (other, *rs), alone, messages = asyncio.run(go())
    for j, r in enumerate(rs):
        assert r.ids.shape == (len(batches[j]), K)
        np.testing.assert_array_equal(r.ids, oracle.expected(j))
    np.testing.assert_array_equal(alone.ids, oracle.expected(0))
    assert other.ids.shape == (len(batches[4]), 5)
    np.testing.assert_array_equal(other.ids, oracle.expected(4)[:, :5])
    rows = sum(len(b) for b in batches)
    assert -(-rows // 8) + 2 <= messages < len(batches) + 2, messages  # stacked, never more than 8 rows


def test_a_dead_node_mid_stream_answers_that_request_and_the_stream_goes_on(cluster, batches, oracle):
    with RetrievalClient(cluster.address) as c, c.stream() as s:
        np.testing.assert_array_equal(s.search(batches[0], K, NPROBE).ids, oracle.expected(0))
        cluster.stop_node(1)
        try:
            with pytest.raises(RetrievalError) as e:
                s.search(batches[1], K, NPROBE, policy="fail")
            assert e.value.code == grpc.StatusCode.UNAVAILABLE and "shard" in e.value.details
            r = s.search(batches[2], K, NPROBE, policy="partial")
            assert r.missing_shards == [1]
            np.testing.assert_array_equal(r.ids, oracle.expected(2, missing=[1]))
        finally:
            cluster.restart_node(1)
    node = cluster.coordinator.entry("default").nodes[1]
    for _ in range(400):  # the probe (every 0.1 s) brings it back
        if node.health.up:
            break
        threading.Event().wait(0.025)
    assert node.health.up


def test_a_stream_cut_by_the_server_ends_every_pending_request(index, batches):
    c = LocalCluster(index, SHARDS).start()
    try:
        client = RetrievalClient(c.address)
        s = client.stream(window=64)
        s.search(batches[0], K, NPROBE)
        futs = [s.submit(b, K, NPROBE) for b in batches]
        c.stop(grace=0)  # the coordinator goes away with requests in flight
        codes = set()
        for f in futs:
            try:
                f.result(timeout=20)  # answered before the cut, or its status: never a hang
            except RetrievalError as e:
                codes.add(e.code)
        with pytest.raises(RetrievalError) as e:  # the stream has ended: a new request fails at once
            s.submit(batches[0], K, NPROBE).result(timeout=20)
        assert e.value.code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED)
        assert codes <= {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED}
        s.close()
        client.close()
    finally:
        c.stop()


def test_a_coalescing_session_cut_by_the_server_ends_every_waiting_request(index, batches):
    """Callers queued on a coalescing session when the coordinator goes away: each gets its answer or the
    stream's status (nothing hangs), and a later request fails at once."""
    c = LocalCluster(index, SHARDS).start()

    async def go():
        client = AsyncRetrievalClient(c.address)
        s = client.stream(coalesce=True, max_rows=4)
        await s.search(batches[0], K, NPROBE)
        calls = [asyncio.ensure_future(s.search(b, K, NPROBE)) for b in batches]
        await asyncio.sleep(0)  # every caller queued (one of them writes)
        c.stop(grace=0)
        got = await asyncio.wait_for(asyncio.gather(*calls, return_exceptions=True), 20)
        try:
            await asyncio.wait_for(s.search(batches[0], K, NPROBE), 20)
            later = None
        except RetrievalError as e:
            later = e.code
        await s.close()
        await client.close()
        return got, later

    try:
        got, later = asyncio.run(go())
    finally:
        c.stop()
    ends = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED}
    assert all(isinstance(r, RetrievalError) and r.code in ends or r.ids.shape[1] == K for r in got)
    assert later in ends


def test_the_session_checks_its_window_and_the_query_shape(cluster, data):
    with RetrievalClient(cluster.address) as c:
        with pytest.raises(HwragError, match="window=0; accepted: >= 1"):
            c.stream(window=0)
        with c.stream() as s:
            with pytest.raises(HwragError, match=r"queries must be \(n, d\)"):
                s.submit(np.zeros((1, 2, 3), np.float32), K, NPROBE)
            np.testing.assert_array_equal(s.search(data[1][:2], K, NPROBE).ids,
                                          search(cluster.served["default"].index, data[1][:2], K, NPROBE).ids)


def test_threads_sharing_a_session_in_lock_step(cluster, batches, oracle):
    """search() only: the waiting threads read the answers themselves (no reader thread), each its own."""
    errors = []
    with RetrievalClient(cluster.address) as c, c.stream(window=8) as s:
        def worker(w):
            try:
                for j in range(w, len(batches), 8):
                    np.testing.assert_array_equal(s.search(batches[j], K, NPROBE).ids, oracle.expected(j))
            except Exception as e:  # noqa: BLE001 -- reported below
                errors.append(e)

        threads = [threading.Thread(target=worker, args=(w,)) for w in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not any(t.is_alive() for t in threads), "a thread hung"
        assert s._reader is None and not errors, errors


def test_gathered_callers_share_the_fanouts_figures_on_the_wire():
    """An answer built from a gathered fan-out's shared wire figures carries the same figures, in the same
    order, as one built figure by figure."""
    from retrieval_service.client import parse_response
    from retrieval_service.coordinator.outcome import SearchOutcome, SharedFigures
    from retrieval_service.coordinator.servicer import search_response
    from retrieval_service.wire import MEASURED, MODELED, Figure

    fan = [Figure("select", 1e-4, MEASURED, where="coordinator", config="faiss"),
           Figure("scan", 2e-4, MODELED, where="node 0/2 (fpga)", config="FPGA 200 MHz"),
           Figure("energy", 3e-6, MODELED, quantity="energy", unit="J", where="node 1/2")]
    out = SearchOutcome(np.arange(20).reshape(2, 10), np.ones((2, 10), np.float32), True, [], fan)
    wait = Figure("batch_wait", 5e-4, MEASURED, where="coordinator")
    shared = out.rows(1, 2, [wait], SharedFigures(fan))
    shared.figures.append(Figure("coordinator_total", 1e-3, MEASURED, where="coordinator"))
    plain = SearchOutcome(shared.ids, shared.distances, True, [], list(shared.figures))
    a, b = (parse_response(search_response(o, 7)) for o in (shared, plain))
    assert a.timing == b.timing == shared.figures
    np.testing.assert_array_equal(a.ids, np.arange(10, 20)[None, :])

"""The service's paths for concurrent load answer exactly what the general paths do: the adaptive
batching window (policy and gathering, against a scripted fan-out), the scan stream to each memory node
(against unary scans and the in-process golden search, its fallback when a node does not offer it),
concurrent scans on a node, and the merge of a single node's answer (against ``merge_partials``)."""
import asyncio
import concurrent.futures as cf
import time

import grpc
import numpy as np
import pytest
from ivfpq.errors import HwragError
from ivfpq.scan import search
from retrieval_service.client import RetrievalClient
from retrieval_service.config import ClusterConfig
from retrieval_service.coordinator import CoordinatorConfig
from retrieval_service.coordinator.batching import ADAPTIVE_SLACK, Batcher, BatchWindow, batch_window
from retrieval_service.coordinator.merge import in_merge_order, merge_one, merge_partials
from retrieval_service.coordinator.outcome import SearchOutcome
from retrieval_service.local import LocalCluster
from retrieval_service.memory_node import MemoryNode
from retrieval_service.wire import ServiceError


# ---- the batching window --------------------------------------------------------------------------
def test_batch_window_policy():
    w = BatchWindow(None, max_queries=8, max_in_flight=2)
    assert w.adaptive and w.go_alone(0) and w.go_alone(1) and not w.go_alone(2)
    assert w.limit_s(None) is None  # nothing measured yet: until the fan-out in flight finishes
    assert w.limit_s(0.004) == pytest.approx(ADAPTIVE_SLACK * 0.004)
    assert BatchWindow(0.003).limit_s(1.0) == 0.003  # a fixed window ignores the measurement
    assert w.full(8) and not w.full(7)


def test_window_settings_parse_and_refuse():
    assert batch_window(CoordinatorConfig()) == BatchWindow(None, 1024, 1)  # adaptive by default
    assert batch_window(CoordinatorConfig(batch_window_s=0)) is None
    cfg = ClusterConfig.from_dict({"coordinator": {"batch_window_ms": 2.5, "batch_in_flight": 2},
                                   "index": [{"path": "/x"}]})
    assert batch_window(cfg.coordinator_config()) == BatchWindow(0.0025, 1024, 2)
    for bad in ("soon", -1.0, True):
        with pytest.raises(HwragError, match="accepted: 'adaptive' or a number >= 0"):
            CoordinatorConfig(batch_window_s=bad).check()
    with pytest.raises(HwragError, match="batch_in_flight=0"):
        CoordinatorConfig(batch_in_flight=0).check()
    with pytest.raises(HwragError, match="scan_threads=0"):
        ClusterConfig.from_dict({"index": [{"path": "/x", "scan_threads": 0}]})
    with pytest.raises(HwragError, match="scan_threads=0"):
        MemoryNode(scan_threads=0)
    toml = ClusterConfig.from_dict({"coordinator": {"batch_window_ms": "adaptive"}, "index": [{"path": "/x"}]})
    assert toml.coordinator_config().batch_window_s == "adaptive"


class _Entry:
    name = "default"


ENTRY = _Entry()
KEY = ("default", id(ENTRY), 3, 2, 1)  # the Batcher's key of _caller's searches


class _Runs(list):
    """The rows of each scripted fan-out, in order, and the loop time each began; ``await reach(n)`` waits
    for the n-th (an event, not a sleep)."""

    def __init__(self):
        super().__init__()
        self.times, self.grew = [], asyncio.Event()

    def append(self, rows):
        super().append(rows)
        self.times.append(asyncio.get_running_loop().time())
        self.grew.set()

    async def reach(self, n: int) -> None:
        while len(self) < n:
            self.grew.clear()
            await self.grew.wait()


async def _yield(n: int = 3) -> None:
    """Let the loop run every callback already due (no clock involved)."""
    for _ in range(n):
        await asyncio.sleep(0)


# a timer handle may run this much before its time (asyncio's end_time = now + clock resolution)
CLOCK_RES = time.get_clock_info("monotonic").resolution


def _scripted_batcher(window: BatchWindow):
    """A Batcher whose fan-outs finish when the test says so; ``runs`` records each fan-out's rows."""
    runs, gates = _Runs(), []

    async def execute(entry, q, k, nprobe, policy, deadline):
        gate = asyncio.get_running_loop().create_future()
        runs.append(q[:, 0].tolist())
        gates.append(gate)
        await gate
        ids = np.repeat(q[:, :1].astype(np.int64), k, axis=1)  # each row answers its own query value
        return SearchOutcome(ids, np.zeros(ids.shape, np.float32), True)

    return Batcher(execute, window), runs, gates


def _caller(b: Batcher, value: float, deadline: float = 1e9):
    q = np.full((1, 4), value, np.float32)
    return asyncio.ensure_future(b.submit(ENTRY, q, 3, 2, 1, deadline))


def test_adaptive_window_gathers_behind_the_fanout_in_flight():
    async def run():
        b, runs, gates = _scripted_batcher(BatchWindow(None))
        first = _caller(b, 0)
        await asyncio.sleep(0)
        assert runs == [[0.0]]  # a lone caller goes at once
        later = [_caller(b, v) for v in (1, 2, 3)]
        await _yield()
        assert runs == [[0.0]]  # gathered: no measured fan-out yet, so they wait for the one in flight
        # (their timer only at half their time left, ~1e9 s: no clock lets them go)
        assert b.timers[KEY][0] - asyncio.get_running_loop().time() > 1e8
        gates[0].set_result(None)
        out = await first
        await asyncio.sleep(0)
        assert runs == [[0.0], [1.0, 2.0, 3.0]]  # ... and go together when it finishes
        gates[1].set_result(None)
        for v, f in zip((1, 2, 3), later):
            o = await f
            assert o.ids.tolist() == [[v] * 3]
            assert o.figures[0].stage == "batch_wait" and o.figures[0].value > 0
        assert out.figures[0].stage == "batch_wait" and out.figures[0].value == 0.0
        assert (b.fanouts, b.queries) == (2, 4)

    asyncio.run(asyncio.wait_for(run(), 10))


def test_adaptive_window_lets_callers_go_when_a_fanout_takes_too_long():
    async def run():
        b, runs, gates = _scripted_batcher(BatchWindow(None))
        f0 = _caller(b, 0)
        await asyncio.sleep(0)
        gates[0].set_result(None)
        await f0
        assert KEY in b.mean_fanout_s  # one fan-out measured
        loop = asyncio.get_running_loop()
        b.mean_fanout_s[KEY] = 0.1  # say the mean is 100 ms
        stuck = _caller(b, 1)
        await _yield()
        assert runs == [[0.0], [1.0]]  # a free slot: it goes at once, and stays in flight
        t_before = loop.time()
        waiting = _caller(b, 2)
        await asyncio.sleep(0)  # one loop pass: its submit runs and arms the timer, which cannot fire before the next
        t_after = loop.time()
        limit = ADAPTIVE_SLACK * 0.1
        when = b.timers[KEY][0]
        assert t_before + limit <= when <= t_after + limit  # armed for ADAPTIVE_SLACK x the mean, exactly
        await runs.reach(3)  # the timer fires (however late a loaded machine makes it)
        assert runs == [[0.0], [1.0], [2.0]] and not stuck.done()  # it went on its own, the stuck one in flight
        assert runs.times[2] >= when - CLOCK_RES  # not before its time
        gates[2].set_result(None)
        assert (await waiting).ids.tolist() == [[2, 2, 2]]
        gates[1].set_result(None)
        await stuck

    asyncio.run(asyncio.wait_for(run(), 10))


def test_a_gathered_caller_waits_at_most_half_its_time_left():
    """Before any fan-out is measured, gathered callers wait for the one in flight, but not past half of
    their time left: their own fan-out still has time to answer (e.g. without a hung shard)."""

    async def run():
        loop = asyncio.get_running_loop()
        b, runs, gates = _scripted_batcher(BatchWindow(None))
        hung = _caller(b, 0)
        await _yield()
        t_before = time.monotonic()  # the loop's clock
        short = _caller(b, 1, deadline=t_before + 1.0)
        await asyncio.sleep(0)  # one loop pass: its submit runs and arms the timer
        t_after = loop.time()
        when = b.timers[KEY][0]
        # armed at now + (deadline - now) / 2, for a now between t_before and t_after
        assert t_before + (t_before + 1.0 - t_after) / 2 <= when <= t_after + (t_before + 1.0 - t_before) / 2
        assert runs == [[0.0]]
        await runs.reach(2)
        assert runs == [[0.0], [1.0]] and not hung.done()  # went on its own, the hung fan-out still in flight
        assert runs.times[1] >= when - CLOCK_RES
        gates[1].set_result(None)
        waited = (await short).figures[0]
        assert waited.stage == "batch_wait" and waited.value >= when - t_after - CLOCK_RES  # measured: its timer's wait
        gates[0].set_result(None)
        await hung

    asyncio.run(asyncio.wait_for(run(), 10))


def test_in_flight_limit_lets_that_many_fanouts_go_at_once():
    async def run():
        b, runs, gates = _scripted_batcher(BatchWindow(None, max_in_flight=2))
        fs = [_caller(b, v) for v in (0, 1, 2)]
        await asyncio.sleep(0)
        assert runs == [[0.0], [1.0]]
        gates[1].set_result(None)
        await fs[1]
        await asyncio.sleep(0)
        assert runs == [[0.0], [1.0], [2.0]]
        for g in gates[::2]:
            g.set_result(None)
        await asyncio.gather(*fs)

    asyncio.run(asyncio.wait_for(run(), 10))


def test_a_failed_fanout_fails_every_gathered_caller():
    async def run():
        b, runs, gates = _scripted_batcher(BatchWindow(None))
        f0 = _caller(b, 0)
        await asyncio.sleep(0)
        f1, f2 = _caller(b, 1), _caller(b, 2)
        gates[0].set_result(None)
        await f0
        await asyncio.sleep(0)
        gates[1].set_exception(ServiceError(grpc.StatusCode.UNAVAILABLE, "node gone"))
        for f in (f1, f2):
            with pytest.raises(ServiceError, match="node gone"):
                await f
        assert not b.inflight and not b.pending

    asyncio.run(asyncio.wait_for(run(), 10))


# ---- the merge of one node's answer ------------------------------------------------------------------
def test_single_answer_merge_is_merge_partials(index, data):
    from ivfpq.lut import select_lists
    from ivfpq.scan import scan_lists

    xq = data[1]
    r = scan_lists(index, xq, select_lists(index, xq, 1), 200)  # a real node answer, with missing entries
    assert (r.ids < 0).any() and in_merge_order(r.ids, r.int_distances)
    rng = np.random.default_rng(0)
    cases = [(r.ids, r.int_distances, r.distances)]
    for _ in range(200):  # small integer keys: many ties; missing tails; some unsorted or duplicated rows
        keys = np.sort(rng.integers(0, 4, (3, 6)), axis=1)
        ids = rng.permutation(20)[:18].reshape(3, 6).astype(np.int64)
        if rng.random() < 0.5:  # put rows in (key, id) order
            o = np.lexsort((ids, keys), axis=1)
            ids, keys = np.take_along_axis(ids, o, 1), np.take_along_axis(keys, o, 1)
        if rng.random() < 0.3:
            ids[:, -2:], keys[:, -2:] = -1, -1
        if rng.random() < 0.1:
            ids[0, 1] = ids[0, 0] if ids[0, 0] >= 0 else 5
        cases.append((ids, keys, keys.astype(np.float32) / 7))
    for ids, keys, dists in cases:
        try:
            want = merge_partials([ids], [keys], [dists], ids.shape[1])
        except ServiceError as e:
            with pytest.raises(ServiceError, match="same id"):
                merge_one(ids, keys, dists, ids.shape[1])
            assert e.code == grpc.StatusCode.FAILED_PRECONDITION
            continue
        got = merge_one(ids, keys, dists, ids.shape[1])
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])


# ---- scan streams and concurrent scans, end to end --------------------------------------------------
def _concurrent(address, xq, k, nprobe, n=8):
    with RetrievalClient(address) as cl, cf.ThreadPoolExecutor(n) as ex:
        return list(ex.map(lambda i: cl.search(xq[i:i + 3], k, nprobe), range(0, 3 * n, 3)))


def test_streamed_scans_answer_what_unary_scans_do(index, data):
    xq = data[1]
    ref = search(index, xq, 6, 5)
    for streams in (True, False):
        with LocalCluster(index, 2, config=CoordinatorConfig(node_streams=streams)) as c:
            res = _concurrent(c.address, xq, 6, 5)
            with RetrievalClient(c.address) as cl:
                assert cl.info().batch_window_s == -1.0  # Info: adaptive
            nodes = c.coordinator.registry.get("default").nodes
            assert all((n.stream is not None and n.stream._open is not None) == streams for n in nodes)
        for j, r in enumerate(res):
            np.testing.assert_array_equal(r.ids, ref.ids[3 * j:3 * j + 3])
            np.testing.assert_array_equal(r.distances, ref.distances[3 * j:3 * j + 3])


def test_a_node_without_the_stream_is_asked_with_scan(index, data):
    from retrieval_service import memory_node
    from retrieval_service.server import Service

    xq = data[1]
    ref = search(index, xq, 4, 3)
    orig = memory_node.MemoryNode.service

    def without_stream(self):  # a node of the release before ScanStream
        s = orig(self)
        return Service(s.full_name, [m for m in s.methods if m.name != "ScanStream"])

    memory_node.MemoryNode.service = without_stream
    try:
        with LocalCluster(index, 1) as c, RetrievalClient(c.address) as cl:
            for i in range(3):
                np.testing.assert_array_equal(cl.search(xq[i:i + 1], 4, 3).ids, ref.ids[i:i + 1])
            assert not c.coordinator.registry.get("default").nodes[0].stream.offered
    finally:
        memory_node.MemoryNode.service = orig


def test_concurrent_scans_on_a_node(index, data):
    """Several scan threads: scans of one stream overlap and answer out of order, matched by request id."""
    xq = data[1]
    for backend in ("cpu", "cpu-faiss"):
        ref = LocalCluster(index, 1, backend=backend, config=CoordinatorConfig(batch_window_s=0))
        with ref, RetrievalClient(ref.address) as cl:
            want = cl.search(xq[:24], 6, 5)
        cfg = CoordinatorConfig(batch_in_flight=3)
        with LocalCluster(index, 1, backend=backend, scan_threads=3, config=cfg) as c:
            assert not c.nodes[0].runs_inline(1, 1)
            res = _concurrent(c.address, xq, 6, 5)
        for j, r in enumerate(res):
            np.testing.assert_array_equal(r.ids, want.ids[3 * j:3 * j + 3])
            np.testing.assert_array_equal(r.distances, want.distances[3 * j:3 * j + 3])


def test_a_window_under_a_millisecond_on_uvloop_gathers_and_goes():
    """uvloop (the servers' event loop) hands back a plain Handle, without ``when()``, for a timer less than half a
    millisecond ahead; a fixed window that short must still gather the callers behind a fan-out and let them go
    together (the second gathered caller raised AttributeError there, an INTERNAL error to its client)."""
    from retrieval_service.eventloop import run as run_on

    async def run():
        b, runs, gates = _scripted_batcher(BatchWindow(0.0001))
        first = _caller(b, 0)
        await asyncio.sleep(0)
        later = [_caller(b, v) for v in (1, 2, 3)]  # their submits run in one loop pass, before the window's flush
        await runs.reach(2)
        assert runs == [[0.0], [1.0, 2.0, 3.0]]  # gathered while the first fan-out is in flight, gone together
        for g in gates:
            g.set_result(None)
        assert (await first).ids.tolist() == [[0, 0, 0]]
        for v, f in zip((1, 2, 3), later):
            assert (await f).ids.tolist() == [[v] * 3]

    run_on(asyncio.wait_for(run(), 10), "uvloop")

"""``hwrag bench service`` / ``python -m bench.service_bench``: the gRPC retrieval service against the
same search called in process, side by side in one run.

For each (backend, memory nodes, deployment mode, batch, concurrent clients) it runs a closed loop of
``concurrency`` client threads, each sending ``requests`` Search calls of ``batch`` queries, against:

* **in process** — the same search with no gRPC: the coordinator's list selection, the same backend
  class scanning the same shards (one backend per shard, as the nodes hold them), the coordinator's
  exact merge; same index, k, nprobe, batch, query rows and thread settings;
* **service** — real gRPC on loopback through the coordinator and the memory nodes, deployed as
  ``process`` (coordinator and each memory node a separate process: ``retrieval_service.cluster``,
  the deployment ``hwrag serve`` makes) or ``local`` (coordinator and nodes on one event-loop thread
  inside the benchmark process: they share its GIL with the client threads), once per coordinator
  batching window of ``batch_windows`` (e.g. off and adaptive: the deployments run side by side), and
  once per transport of ``transports`` (``--transport unary stream``): ``unary``: each client a thread
  making a unary Search call per request; ``stream``: each client keeps one ``SearchStream`` and sends its
  requests on it, the clients being coroutines on one asyncio thread (``AsyncSearchSession``, one channel
  each: no thread hand-off per request; a single client uses the synchronous ``SearchSession``);
  ``stream-threads``: each client a thread with its own synchronous ``SearchSession``; ``stream-shared``:
  the clients are coroutines sharing one ``AsyncSearchSession(coalesce=True)``: requests waiting while
  another is written go as one message (a client-side batch: not independent clients; with one client it
  is the synchronous session like the others).

Beside each row two floors, measured in the same repeat: two unary hops with no work (a health check on
the coordinator and one on a memory node) and two streamed hops with no work (2 x the round trip of one
message on an open stream of hwrag's server, :mod:`bench.grpc_floor`'s ``EchoStream``, messages back to
back). With one client also the streamed floor *between calls* (:class:`InterleavedStreamFloor`): the
query's bytes echoed by two such servers in turn, as one more side of the alternating loop, so that each
hop, like the service's, reaches a process idle since the last call.

With one client the calls alternate call by call on the same batches (in process, then each service in
a rotating order); with several, the closed loops run back to back, in a rotating order. The whole
set repeats ``repeats`` times, so load drift on a shared machine hits every side; each row reports the
median over repeats of p50, p99, QPS, the added latency (service p50 − in-process p50 of the same
repeat) and the QPS ratio (service / in process of the same repeat).

CPU time per query (``process`` mode) says where the time goes whatever the load: the benchmark
process (the client threads; for the in-process side, the search itself), the coordinator process and
the memory node processes, from the kernel's per-thread run time (``/proc``). The service's processes
stay in the benchmark's session, so under autogroup scheduling they share its CPU share rather than
get one more share each. Every figure is measured (wall clock or CPU time on this machine); the load
average is recorded with the result.

Writes ``service.json`` and ``service_latency.png``.

``--chaos SECONDS`` runs the service under faults instead (``retrieval_service.chaos``): a supervised
process cluster of ``--chaos-shards`` memory nodes, ``--chaos-clients`` closed-loop clients at batch
``--chaos-batch`` (policies PARTIAL and FAIL alternating), a memory node SIGKILLed every
``--chaos-kill-every`` seconds (the supervisor restarts it) and a bad actor; it reports the run's
figures (recovery time per kill, calls lost, latency healthy and during a fault, the coordinator's RSS)
and its violations (wrong ids, hangs), and writes ``chaos.json``.
"""
from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import logging
import os
import statistics
import sys
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
from ivfpq.errors import HwragError
from retrieval_service.eventloop import CHOICES, EVENT_LOOP_ENV, loop_kind, new_event_loop, run as run_loop
from tqdm import tqdm

from .table import format_table
from .timing import process_cpu_seconds

log = logging.getLogger(__name__)

MODES = ("process", "local")
#: how the clients call: "unary": a thread per client, a Search call each; "stream": each client one
#: SearchStream, the clients coroutines on one asyncio thread (AsyncSearchSession; one client: the synchronous
#: SearchSession); "stream-threads": each client a thread with its own synchronous SearchSession;
#: "stream-shared": the clients coroutines sharing ONE AsyncSearchSession that coalesces the requests
#: waiting for a write into one message (a client-side batch, like a RALM batch's sequences)
TRANSPORTS = ("unary", "stream", "stream-threads", "stream-shared")
STREAM_TRANSPORTS = ("stream", "stream-threads", "stream-shared")
GOAL_ADDED_P50_MS = 1.0  # issue 6: p50 added latency <= 1 ms at batch 16 on loopback
GOAL_BATCH = 16
GOAL_QPS_RATIO = 0.8  # issue 15: 8 concurrent clients at batch 1 get >= 80 % of the in-process QPS
GOAL_QPS_BATCH, GOAL_QPS_CONCURRENCY = 1, 8
GOAL_STREAM_QPS_RATIO = 0.5  # issue 26: 8 streaming clients at batch 1 get >= 50 % of the in-process QPS
GOAL_STREAM_OVER_FLOOR_MS = 0.3  # issue 26: batch 16, one streaming client: added p50 <= streaming 2-hop floor + 0.3 ms


@dataclass
class ServiceBenchConfig:
    """The service benchmark's one configuration, whichever front-end runs it (``hwrag bench service``,
    ``python -m bench.service_bench``, or :func:`run_service`): their flags map onto these fields."""
    dataset: str = "synthetic:n=20000,d=64,nq=1000,seed=0"
    index: str | None = None  # a saved index (default: the cached IVF<nlist>,PQ<m> of the dataset)
    nlist: int = 64
    m: int = 16
    k: int = 10
    nprobe: int = 8
    backends: tuple[str, ...] = ("cpu",)
    nodes: tuple[int, ...] = (1,)  # memory nodes per deployment
    modes: tuple[str, ...] = MODES
    batches: tuple[int, ...] = (1, 16, 64)  # queries per Search call
    concurrency: tuple[int, ...] = (1, 8)  # concurrent client threads
    requests: int = 40  # Search calls per client thread per measurement
    repeats: int = 3
    compute_threads: int | None = 1  # faiss/numba threads of list selection and of each scan
    # the coordinator batching windows compared side by side: "adaptive", or milliseconds (0: off)
    batch_windows: tuple[str, ...] = ("0", "adaptive")
    scan_threads: tuple[int, ...] = (1,)  # scans each memory node serves at once (and fan-outs in flight per key)
    node_streams: tuple[bool, ...] = (True,)  # coordinator -> node scans on a stream (True) or a call each
    transports: tuple[str, ...] = ("unary", "stream")  # client kinds side by side (see TRANSPORTS)
    # event loops of the servers (process mode) and of the asyncio clients, side by side ("auto": uvloop when
    # installed, else asyncio; retrieval_service.eventloop)
    event_loops: tuple[str, ...] = ("auto",)
    out: str = "report/bench"

    def check(self) -> None:
        from retrieval_service.coordinator.config import window_seconds

        bad = [m for m in self.modes if m not in MODES]
        if bad:
            raise HwragError(f"mode={bad[0]!r}; accepted: {', '.join(MODES)}")
        if min((*self.nodes, *self.batches, *self.concurrency, self.requests, self.repeats, *self.scan_threads)) < 1:
            raise HwragError("--nodes, --batch, --concurrency, --requests, --repeats and --scan-threads take "
                             "values >= 1")
        if not self.batch_windows:
            raise HwragError("--batch-window-ms needs at least one window ('adaptive' or milliseconds, 0: off)")
        for w in self.batch_windows:
            window_seconds(w, 1e-3, "--batch-window-ms")
        bad = [e for e in self.event_loops if e not in CHOICES]
        if bad or not self.event_loops:
            raise HwragError(f"--event-loop {' '.join(self.event_loops)}: accepted: {', '.join(CHOICES)} "
                             "(at least one)")
        bad = [c for c in self.transports if c not in TRANSPORTS]
        if bad or not self.transports or not self.node_streams:
            raise HwragError(f"--transport {' '.join(self.transports)}: accepted: {', '.join(TRANSPORTS)} (at least one); "
                             "--node-streams: on, off (at least one)")


def _stage_means(results) -> dict:
    acc = defaultdict(list)
    for r in results:
        per = defaultdict(float)
        for f in r.timing:
            if f.quantity == "time":
                per[(f.stage, f.provenance)] += f.value
        for key, v in per.items():
            acc[key].append(v)
    return {f"{stage} ({prov})": float(np.mean(v)) for (stage, prov), v in sorted(acc.items())}


# ---- CPU time of processes ---------------------------------------------------------------------------
def process_stats(pid: int) -> tuple[float, int]:
    """(CPU seconds, context switches) of every live thread of process ``pid`` so far (nan, 0 without
    /proc): the CPU from :func:`bench.timing.process_cpu_seconds`, the switches from each thread's status."""
    cpu, switches = process_cpu_seconds(pid), 0
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return cpu, 0
    for t in tasks:
        try:
            with open(f"/proc/{pid}/task/{t}/status") as f:
                switches += sum(int(line.split()[1]) for line in f if "ctxt_switches" in line)
        except (OSError, ValueError, IndexError):  # a thread that just ended
            continue
    return cpu, switches


class CpuMeter:
    """CPU seconds of the benchmark process and of the servers' processes over an interval, and the
    servers' context switches (``<role>_switches``): each hand-off between threads costs one."""

    def __init__(self, servers: dict[str, list[int]]):
        self.servers = servers  # role -> pids, e.g. {"coordinator": [pid], "nodes": [pid, ...]}

    def read(self) -> dict[str, float]:
        out = {"bench": time.process_time()}
        for role, pids in self.servers.items():
            stats = [process_stats(p) for p in pids]
            out[role] = sum(c for c, _ in stats)
            out[f"{role}_switches"] = sum(n for _, n in stats)
        return out

    @staticmethod
    def delta(a: dict[str, float], b: dict[str, float]) -> dict[str, float]:
        return {k: b[k] - a[k] for k in a}


# ---- the same search, in process -----------------------------------------------------------------
class InProcessSearch:
    """The service's search without gRPC: the coordinator's list selection (its cached faiss quantizer),
    one backend per shard, the coordinator's exact merge (a single shard's answer taken as it is when in
    merge order, as the coordinator does)."""

    def __init__(self, index, backend: str = "cpu", nodes: int = 1, name: str = "default"):
        from ivfpq.shard import shard_index
        from retrieval_service.backends.base import ShardInfo, create_backend
        from retrieval_service.coordinator.selection import make_quantizer
        from retrieval_service.wire import index_fingerprint

        self.index = index
        self.quantizer = make_quantizer(index)
        fp = index_fingerprint(index)
        shards = shard_index(index, nodes) if nodes > 1 else [index]
        self.backends = []
        for i, sh in enumerate(shards):
            b = create_backend(backend)
            b.load(sh, ShardInfo(name, i, nodes, fp))
            b.warmup()
            self.backends.append(b)

    def search(self, q: np.ndarray, k: int, nprobe: int):
        from retrieval_service.coordinator.merge import merge_one, merge_partials
        from retrieval_service.coordinator.selection import select_probe

        probe = select_probe(self.index, q, nprobe, self.quantizer)
        parts = [b.scan(q, probe, k) for b in self.backends]
        fixed = parts[0].int_distances is not None
        keys = [p.int_distances if fixed else p.distances for p in parts]
        if len(parts) == 1:
            return merge_one(parts[0].ids, keys[0], parts[0].distances, k)
        return merge_partials([p.ids for p in parts], keys, [p.distances for p in parts], k)

    def close(self) -> None:
        for b in self.backends:
            b.close()


# ---- a closed loop of client threads -------------------------------------------------------------
def closed_loop(call_factory, queries: np.ndarray, batch: int, requests: int, concurrency: int,
                seed: int = 0, compute_threads: int | None = 1, meter: CpuMeter | None = None) -> dict:
    """``concurrency`` threads, each ``call = call_factory(w)`` then ``requests`` timed ``call(q)``.

    The query batches are drawn before timing (thread w uses rng(seed + w): every side sees the same
    rows). Returns latencies (s), wall time, results, errors and, with ``meter``, the CPU seconds of the
    timed part (``cpu_s``: role -> seconds; each thread's warm-up call is outside it).
    """
    lat, results, errors = [], [], []
    lock = threading.Lock()
    batches = []
    for w in range(concurrency):
        rng = np.random.default_rng(seed + w)
        batches.append([np.ascontiguousarray(queries[rng.integers(0, len(queries), batch)])
                        for _ in range(requests)])
    calls = [call_factory(w) for w in range(concurrency)]
    start = threading.Barrier(concurrency + 1)

    def worker(w: int):
        if compute_threads:
            from ivfpq.threads import set_threads

            set_threads(compute_threads)  # faiss/numba settings are per thread
        call = calls[w]
        call(batches[w][0])  # warm this thread (connection, thread-local pools)
        mine, res = [], []
        start.wait()
        for q in batches[w]:
            t0 = time.perf_counter()
            try:
                r = call(q)
            except Exception as e:  # a failed call is reported, not hidden
                with lock:
                    errors.append(str(e))
                continue
            mine.append(time.perf_counter() - t0)
            res.append(r)
        with lock:
            lat.extend(mine)
            results.extend(res)

    threads = [threading.Thread(target=worker, args=(w,), daemon=True) for w in range(concurrency)]
    for t in threads:
        t.start()
    start.wait()
    c0 = meter.read() if meter else None
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    cpu = CpuMeter.delta(c0, meter.read()) if meter else {}
    return {"lat": np.array(lat), "wall": wall, "results": results, "errors": errors, "cpu_s": cpu}


def async_closed_loop(address: str, k: int, nprobe: int, queries: np.ndarray, batch: int, requests: int,
                      concurrency: int, seed: int = 0, meter: CpuMeter | None = None, shared: bool = False,
                      event_loop: str | None = None) -> dict:
    """:func:`closed_loop`'s measurement with the clients as ``concurrency`` coroutines on one asyncio loop
    (a fresh thread), each with its own channel and ``SearchStream`` (:class:`AsyncSearchSession`), or
    (``shared``) all on one session that coalesces waiting requests into one message: the same batches
    (rng(seed + w) per client), each client's warm-up call outside the timed part."""
    import asyncio

    from retrieval_service.client import AsyncRetrievalClient

    batches = []
    for w in range(concurrency):
        rng = np.random.default_rng(seed + w)
        batches.append([np.ascontiguousarray(queries[rng.integers(0, len(queries), batch)])
                        for _ in range(requests)])
    out: dict = {}

    async def client(session, mine: list[np.ndarray], lat: list, results: list, errors: list) -> None:
        for q in mine:
            t0 = time.perf_counter()
            try:
                r = await session.search(q, k, nprobe)
            except Exception as e:  # a failed call is reported, not hidden
                errors.append(str(e))
                continue
            lat.append(time.perf_counter() - t0)
            results.append(r)

    async def main() -> None:
        clients = [AsyncRetrievalClient(address, timeout=120) for _ in range(1 if shared else concurrency)]
        sessions = [c.stream(coalesce=shared) for c in clients]
        lat, results, errors = [], [], []
        try:
            of = [sessions[0 if shared else w] for w in range(concurrency)]
            for s, mine in zip(of, batches):
                await s.search(mine[0], k, nprobe)  # warm: connection, stream
            c0 = meter.read() if meter else None
            t0 = time.perf_counter()
            await asyncio.gather(*[client(s, mine, lat, results, errors) for s, mine in zip(of, batches)])
            wall = time.perf_counter() - t0
            cpu = CpuMeter.delta(c0, meter.read()) if meter else {}
        finally:
            for s in sessions:
                await s.close()
            for c in clients:
                await c.close()
        out.update(lat=np.array(lat), wall=wall, results=results, errors=errors, cpu_s=cpu)

    t = threading.Thread(target=run_loop, args=(main(), event_loop), daemon=True)  # a fresh thread, like the others
    t.start()
    t.join()
    return out


def alternating_loop(calls: list, queries: np.ndarray, batch: int, requests: int, seed: int = 0,
                     compute_threads: int | None = 1, meters: list[CpuMeter | None] | None = None) -> list[dict]:
    """One client calling each of ``calls`` in turn on the same batches, the order rotating from batch
    to batch: every side sees the same load at the same moments. Wall time of a side = the sum of its
    latencies; its ``cpu_s``: the benchmark process's CPU time during its calls (``bench``: every thread, so a
    stream session's sending thread counts too; nothing else runs meanwhile) and, with
    ``meters[i]``, the CPU time of side i's servers over the loop (they serve no other side)."""
    n = len(calls)
    out = [([], [], [], [0.0]) for _ in range(n)]
    rng = np.random.default_rng(seed)
    batches = [np.ascontiguousarray(queries[rng.integers(0, len(queries), batch)]) for _ in range(requests)]
    meters = meters or [None] * n
    server_cpu: list[dict] = [{} for _ in range(n)]

    def run():
        if compute_threads:
            from ivfpq.threads import set_threads

            set_threads(compute_threads)
        for fn in calls:
            fn(batches[0])
        c0 = [m.read() if m else None for m in meters]
        for i, q in enumerate(batches):
            for j in range(n):
                side = (i + j) % n
                lat, res, err, cpu = out[side]
                t0, tc = time.perf_counter(), time.process_time()
                try:
                    r = calls[side](q)
                except Exception as e:  # reported, not hidden
                    err.append(str(e))
                    continue
                lat.append(time.perf_counter() - t0)
                cpu[0] += time.process_time() - tc
                res.append(r)
        for j, m in enumerate(meters):
            if m:
                d = CpuMeter.delta(c0[j], m.read())
                server_cpu[j] = {k: v for k, v in d.items() if k != "bench"}

    t = threading.Thread(target=run, daemon=True)  # a fresh thread, like the closed loops'
    t.start()
    t.join()
    return [{"lat": np.array(lat), "wall": float(np.sum(lat)) or float("nan"), "results": res, "errors": err,
             "cpu_s": {"bench": cpu[0], **server_cpu[j]}} for j, (lat, res, err, cpu) in enumerate(out)]


def _summary(loop: dict, batch: int) -> dict:
    lat = loop["lat"] if len(loop["lat"]) else np.array([np.nan])
    queries = len(loop["lat"]) * batch
    cpu = {(f"switches_per_query_{k[:-len('_switches')]}" if k.endswith("_switches") else f"cpu_us_per_query_{k}"):
           (v if k.endswith("_switches") else 1e6 * v) / queries if queries else float("nan")
           for k, v in loop.get("cpu_s", {}).items()}
    return {"p50_ms": float(np.percentile(lat, 50) * 1e3), "p99_ms": float(np.percentile(lat, 99) * 1e3),
            "qps": queries / loop["wall"], "calls": int(len(loop["lat"])), "errors": len(loop["errors"]),
            "error_texts": list(loop["errors"]), **cpu}


# ---- service deployments ---------------------------------------------------------------------------
class _Deployment:
    """A running coordinator + nodes: ``address``; ``meter`` (their CPU time, process mode); ``close()``."""

    def __init__(self, mode: str, index, backend: str, nodes: int, compute_threads: int | None,
                 batch_window_ms: float | str = 0.0, scan_threads: int = 1, node_streams: bool = True,
                 event_loop: str | None = None):
        from retrieval_service.config import ClusterConfig, CoordinatorSection, IndexSection
        from retrieval_service.coordinator.config import window_seconds

        self.mode = mode
        self.window = str(batch_window_ms)
        self._tmp = None
        self.node_addresses: list[str] = []
        self.meter: CpuMeter | None = None
        if mode == "local":
            from retrieval_service.coordinator import CoordinatorConfig
            from retrieval_service.local import LocalCluster

            cfg = CoordinatorConfig(batch_window_s=window_seconds(batch_window_ms, 1e-3, "batch_window_ms"),
                                    batch_in_flight=scan_threads, node_streams=node_streams)
            self._c = LocalCluster(index, nshards=nodes, backend=backend, compute_threads=compute_threads,
                                   scan_threads=scan_threads, config=cfg).start()
            self.address = self._c.address
            self.node_addresses = list(self._c.node_addresses)
        elif mode == "process":
            from ivfpq.storage import save_index
            from retrieval_service.cluster import Cluster

            self._tmp = tempfile.TemporaryDirectory(prefix="hwrag-bench-service-")
            path = save_index(index, Path(self._tmp.name) / "index")
            cfg = ClusterConfig(CoordinatorSection(listen="127.0.0.1:0", batch_window_ms=batch_window_ms,
                                                   batch_in_flight=scan_threads, node_streams=node_streams),
                                index=[IndexSection(name="default", path=str(path), shards=nodes, backend=backend,
                                                    compute_threads=int(compute_threads or 0),
                                                    scan_threads=scan_threads)])
            # the servers stay in this process's session: under autogroup scheduling they share its CPU
            with _environ(EVENT_LOOP_ENV, event_loop):  # the servers' event loop (the cluster copies the environment)
                self._c = Cluster(cfg, run_dir=Path(self._tmp.name) / "run", new_sessions=False)
            self.address = self._c.start()
            self.node_addresses = [self._c.node(i).address for i in range(nodes)]
            self.meter = CpuMeter({"coordinator": [self._c.coordinator.proc.pid],
                                   "nodes": [self._c.node(i).proc.pid for i in range(nodes)]})
        else:
            raise HwragError(f"mode={mode!r}; accepted: {', '.join(MODES)}")

    def close(self) -> None:
        try:
            self._c.stop()
        finally:
            if self._tmp is not None:
                self._tmp.cleanup()


def transport_floor(dep: "_Deployment", calls: int = 200) -> dict:
    """The two gRPC hops of a Search with no work: p50 of a health check on the coordinator plus p50 of
    one on a memory node, alternating (measured). What a service call costs above the search itself
    can't go below this on the machine it is measured on. In process mode also the CPU time one such
    call costs the server answering it and the calling thread (the unary hop's CPU floor)."""
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    chans = [grpc.insecure_channel(a) for a in (dep.address, dep.node_addresses[0])]
    servers = [dep.meter.servers["coordinator"], dep.meter.servers["nodes"][:1]] if dep.meter else None
    try:
        stubs = [health_pb2_grpc.HealthStub(c) for c in chans]
        req = health_pb2.HealthCheckRequest()
        lat, client_cpu, server_cpu = [[], []], [0.0, 0.0], [0.0, 0.0]
        for i in range(calls + 20):
            for j in ((0, 1) if i % 2 == 0 else (1, 0)):
                s0 = sum(process_cpu_seconds(p) for p in servers[j]) if servers and i >= 20 else 0.0
                t0, c0 = time.perf_counter(), time.thread_time()
                stubs[j].Check(req, timeout=10)
                if i >= 20:
                    lat[j].append(time.perf_counter() - t0)
                    client_cpu[j] += time.thread_time() - c0
                    if servers:
                        server_cpu[j] += sum(process_cpu_seconds(p) for p in servers[j]) - s0
        a, b = (float(np.percentile(x, 50) * 1e3) for x in lat)
        out = {"client_to_coordinator_ms": a, "to_node_ms": b, "two_hops_ms": a + b}
        if servers:
            out["cpu_us_per_call_client"] = 1e6 * sum(client_cpu) / (2 * calls)
            out["cpu_us_per_call_coordinator"] = 1e6 * server_cpu[0] / calls
            out["cpu_us_per_call_node"] = 1e6 * server_cpu[1] / calls
        return out
    finally:
        for c in chans:
            c.close()


class StreamFloor:
    """The streaming floor beside the service: hwrag's server with a no-op bidirectional stream
    (:mod:`bench.grpc_floor`'s ``EchoStream``, through the same stream handler as ``SearchStream``) in a
    process of its own; :meth:`measure` sends messages of ``message_bytes`` one at a time on one stream."""

    def __init__(self, message_bytes: int):
        from .grpc_floor import _start

        self.message_bytes = message_bytes
        self.proc, self.port = _start("hwrag")

    def measure(self, calls: int = 200) -> dict:
        """Round trip p50 of one message (x2: the two hops of a streamed Search, no work) and CPU per
        message of the answering server and of this process (measured)."""
        from .grpc_floor import _echo_messages

        r = run_loop(_echo_messages(f"127.0.0.1:{self.port}", self.proc.pid, "stream", 1, calls,
                                    self.message_bytes))
        return {"two_hops_ms": 2e-3 * r["round_trip_p50_us"], "cpu_us_per_msg_client": r["client_cpu_us_per_msg"],
                "cpu_us_per_msg_server": r["server_cpu_us_per_msg"]}

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()


class InterleavedStreamFloor:
    """The streaming two-hop floor measured like a lone client's Search: a call sends the query bytes as
    one message on an open stream to one no-op server (``EchoStream`` of hwrag's server, a process of its
    own), then on a stream to a second one, each answered before the next, and it runs in the alternating
    loop between the in-process search and the service calls. Each hop so finds its server idle since the
    last call, as the coordinator and the memory node are (:class:`StreamFloor` sends its messages back to
    back: every hop finds its server awake; a round trip to a server idle for 1.5-4 ms took 1.6-2.3x as
    long here)."""

    def __init__(self):
        import grpc

        from .grpc_floor import ECHO_SERVICE, _start

        self.procs, ports = [], []
        try:
            for _ in range(2):
                p, port = _start("hwrag")
                self.procs.append(p)
                ports.append(port)
        except Exception:
            self.close()
            raise
        self.loop = new_event_loop()  # the default kind, as the servers' (retrieval_service.eventloop)

        async def open_():
            chans = [grpc.aio.insecure_channel(f"127.0.0.1:{port}") for port in ports]
            return chans, [c.stream_stream(f"/{ECHO_SERVICE}/EchoStream")() for c in chans]

        self.channels, self.calls = self.loop.run_until_complete(open_())

    async def _hops(self, msg: bytes) -> None:
        for call in self.calls:
            await call.write(msg)
            await call.read()

    def __call__(self, q: np.ndarray) -> None:
        self.loop.run_until_complete(self._hops(q.tobytes()))

    def close(self) -> None:
        if getattr(self, "loop", None) is not None and not self.loop.is_closed():
            async def close_():
                for call in self.calls:
                    await call.done_writing()
                    await call.read()  # EOF: the server ended the call
                for c in self.channels:
                    await c.close()

            self.loop.run_until_complete(close_())
            self.loop.close()
        for p in self.procs:
            p.kill()
            p.wait()


def _service_calls(address: str, k: int, nprobe: int, clients: list, kind: str = "unary"):
    """A factory of one client per thread: ``unary`` Search calls, or a stream (one synchronous
    SearchSession per client, the token-level RALM API). ``clients`` collects what to close."""
    from retrieval_service.client import RetrievalClient

    def factory(w: int):
        c = RetrievalClient(address, timeout=120)  # one channel per client thread: independent clients
        clients.append(c)
        if kind in STREAM_TRANSPORTS:
            s = c.stream()
            clients.append(s)
            return lambda q: s.search(q, k, nprobe)
        return lambda q: c.search(q, k, nprobe)

    return factory


@dataclass
class _Side:
    """One service side of the comparison: a deployment and the kind of client calling it."""
    dep: _Deployment
    transport: str  # one of TRANSPORTS
    node_streams: bool
    scan_threads: int
    event_loop: str  # of the servers (process mode) and of the asyncio clients: loop_kind()'s answer

    @property
    def window(self) -> str:
        return self.dep.window


def _measure(inproc, sides: list[_Side], queries, bs: int, c: int, rep: int, seed: int,
             cfg: ServiceBenchConfig, ifloor: InterleavedStreamFloor | None = None
             ) -> tuple[dict, list[dict], dict | None]:
    """One repeat of one (batch, concurrency): the in-process loop and one loop per service side (one
    client: and ``ifloor``'s calls among them)."""
    k, nprobe, requests, threads = cfg.k, cfg.nprobe, cfg.requests, cfg.compute_threads
    clients: list = []
    try:
        factories = [_service_calls(sd.dep.address, k, nprobe, clients, sd.transport) for sd in sides]
        local = lambda q: inproc.search(q, k, nprobe)
        if c == 1:  # one client: alternate the calls, paired under the same load
            extra = [ifloor] if ifloor is not None else []
            loops = alternating_loop([local, *[f(0) for f in factories], *extra], queries, bs, requests, seed,
                                     threads, [CpuMeter({}), *[sd.dep.meter for sd in sides], *[None] * len(extra)])
            return loops[0], loops[1:1 + len(sides)], (loops[-1] if extra else None)
        order = [(rep + j) % (len(sides) + 1) for j in range(len(sides) + 1)]  # rotate who goes first
        loops: dict[int, dict] = {}
        for j in order:
            if j == 0:
                loops[0] = closed_loop(lambda w: local, queries, bs, requests, c, seed, threads, CpuMeter({}))
            else:
                sd = sides[j - 1]
                meter = CpuMeter(sd.dep.meter.servers if sd.dep.meter else {})
                if sd.transport in ("stream", "stream-shared"):  # the clients as coroutines on one thread
                    loops[j] = async_closed_loop(sd.dep.address, k, nprobe, queries, bs, requests, c, seed, meter,
                                                 shared=sd.transport == "stream-shared", event_loop=sd.event_loop)
                else:
                    loops[j] = closed_loop(factories[j - 1], queries, bs, requests, c, seed, threads, meter)
        return loops[0], [loops[j] for j in range(1, len(sides) + 1)], None
    finally:
        for cl in reversed(clients):  # stream sessions before their clients
            cl.close()


def _row(backend: str, nodes: int, mode: str, side: _Side, bs: int, c: int, cfg: ServiceBenchConfig,
         reps: list[tuple[dict, dict]], floors: list[dict], results: list, stream_floors: list[dict],
         interleaved: list[float] | None = None) -> dict:
    med = statistics.median
    ins, svc = [x[0] for x in reps], [x[1] for x in reps]
    floor = {key: med(f[key] for f in floors) for key in floors[0]} if floors else {}
    sfloor = {key: med(f[key] for f in stream_floors) for key in stream_floors[0]} if stream_floors else {}
    row = {
        "backend": backend, "nodes": nodes, "mode": mode, "window": side.window, "node_streams": side.node_streams,
        "transport": side.transport, "event_loop": side.event_loop, "scan_threads": side.scan_threads, "batch": bs, "concurrency": c,
        "k": cfg.k, "nprobe": cfg.nprobe, "repeats": len(reps), "calls": sum(x["calls"] for x in svc),
        "errors": sum(x["errors"] + y["errors"] for x, y in zip(svc, ins)),
        # what the failed calls said (distinct texts, the first few): a count alone cannot be acted on
        "error_texts": sorted({t for x in svc + ins for t in x.get("error_texts", [])})[:5],
        "latency_p50_ms_measured": med(x["p50_ms"] for x in svc),
        "latency_p99_ms_measured": med(x["p99_ms"] for x in svc),
        "qps_measured": med(x["qps"] for x in svc),
        "inprocess_p50_ms_measured": med(x["p50_ms"] for x in ins),
        "inprocess_p99_ms_measured": med(x["p99_ms"] for x in ins),
        "inprocess_qps_measured": med(x["qps"] for x in ins),
        "added_p50_ms_measured": med(y["p50_ms"] - x["p50_ms"] for x, y in zip(ins, svc)),
        "added_p99_ms_measured": med(y["p99_ms"] - x["p99_ms"] for x, y in zip(ins, svc)),
        "qps_ratio_measured": med(y["qps"] / x["qps"] for x, y in zip(ins, svc)),
        "floor_two_hops_p50_ms_measured": floor.get("two_hops_ms", float("nan")),
        "floor_unary_cpu_us_per_call_measured": {k[len("cpu_us_per_call_"):]: v for k, v in floor.items()
                                                 if k.startswith("cpu_us_per_call_")},
        "floor_stream_two_hops_p50_ms_measured": sfloor.get("two_hops_ms", float("nan")),
        "floor_stream_interleaved_two_hops_p50_ms_measured": med(interleaved) if interleaved else float("nan"),
        "floor_stream_cpu_us_per_msg_measured": {k[len("cpu_us_per_msg_"):]: v for k, v in sfloor.items()
                                                 if k.startswith("cpu_us_per_msg_")},
        "batch_window_ms": side.window,
        "floor_per_repeat": floors,
        "stream_floor_per_repeat": stream_floors,
        "per_repeat": [{"inprocess": x, "service": y} for x, y in reps],
        "stage_mean_s": _stage_means(results),
    }
    if mode == "process":  # CPU time per query: where the time goes, whatever the load
        cpu = {"inprocess": med(x.get("cpu_us_per_query_bench", np.nan) for x in ins)}
        for role in ("bench", "coordinator", "nodes"):
            cpu[f"service_{'client' if role == 'bench' else role}"] = med(
                y.get(f"cpu_us_per_query_{role}", np.nan) for y in svc)
        cpu["service_servers"] = cpu["service_coordinator"] + cpu["service_nodes"]
        cpu["service_total"] = cpu["service_servers"] + cpu["service_client"]
        row.update({f"cpu_us_per_query_{k}_measured": v for k, v in cpu.items()})
        for role in ("coordinator", "nodes"):
            row[f"switches_per_query_{role}_measured"] = med(y.get(f"switches_per_query_{role}", np.nan) for y in svc)
        row["cpu_ratio_measured"] = cpu["inprocess"] / cpu["service_total"]
    return row


def bench_deployment(index, queries, backend: str, nodes: int, mode: str, cfg: ServiceBenchConfig,
                     bar=None) -> list[dict]:
    """Rows for one (backend, nodes, mode): one deployment per (batching window, node streams, client
    kind), side by side; each (batch, concurrency) measured ``cfg.repeats`` times, in process and on
    every deployment."""
    inproc = InProcessSearch(index, backend, nodes)
    sides: list[_Side] = []
    raw = defaultdict(list)
    results = defaultdict(list)
    floors = defaultdict(list)
    stream_floors: list[dict] = []
    sfloor = StreamFloor(4 * index.d * GOAL_BATCH)
    ifloor: InterleavedStreamFloor | None = None
    interleaved = defaultdict(list)  # (batch, 1) -> the interleaved floor's p50 (ms) per repeat
    try:
        ifloor = InterleavedStreamFloor() if 1 in cfg.concurrency else None
        for w, ns, kind, st, el in itertools.product(cfg.batch_windows, cfg.node_streams, cfg.transports,
                                                     cfg.scan_threads, cfg.event_loops):
            el = loop_kind(el)
            dep = _Deployment(mode, index, backend, nodes, cfg.compute_threads, w, st, ns, el)
            sides.append(_Side(dep, kind, ns, st, el))
        for rep in range(cfg.repeats):
            for j, sd in enumerate(sides):
                floors[j].append(transport_floor(sd.dep))
            stream_floors.append(sfloor.measure())
            for bs in cfg.batches:
                for c in cfg.concurrency:
                    seed = 1000 * rep + 17 * bs + c
                    a, svc, fl = _measure(inproc, sides, queries, bs, c, rep, seed, cfg, ifloor)
                    if fl is not None:
                        interleaved[(bs, c)].append(_summary(fl, bs)["p50_ms"])
                    for j, s in enumerate(svc):
                        raw[(j, bs, c)].append((_summary(a, bs), _summary(s, bs)))
                        results[(j, bs, c)].extend(s["results"])
                    if bar is not None:
                        bar.update(1)
    finally:
        for sd in sides:
            sd.dep.close()
        inproc.close()
        sfloor.close()
        if ifloor is not None:
            ifloor.close()
    return [_row(backend, nodes, mode, sides[j], bs, c, cfg, reps, floors[j], results[(j, bs, c)], stream_floors,
                 interleaved.get((bs, c)))
            for (j, bs, c), reps in raw.items()]


def _goals(rows: list[dict]) -> dict:
    added, qps, stream = [], [], []
    for r in rows:
        where = {"backend": r["backend"], "nodes": r["nodes"], "mode": r["mode"], "window": r["window"],
                 "node_streams": r["node_streams"], "transport": r["transport"], "scan_threads": r["scan_threads"],
                 "event_loop": r.get("event_loop", "asyncio"), "concurrency": r["concurrency"],
                 "batch": r["batch"]}
        if r["batch"] == GOAL_BATCH:
            added.append({**where, "added_p50_ms_measured": r["added_p50_ms_measured"],
                          "met": bool(r["added_p50_ms_measured"] <= GOAL_ADDED_P50_MS)})
        if r["batch"] == GOAL_QPS_BATCH and r["concurrency"] == GOAL_QPS_CONCURRENCY:
            qps.append({**where, "qps_ratio_measured": r["qps_ratio_measured"],
                        "met": bool(r["qps_ratio_measured"] >= GOAL_QPS_RATIO)})
        if r["transport"] not in STREAM_TRANSPORTS:
            continue
        if r["batch"] == GOAL_QPS_BATCH and r["concurrency"] == GOAL_QPS_CONCURRENCY:
            stream.append({**where, "goal": f"QPS >= {GOAL_STREAM_QPS_RATIO:.0%} of in process",
                           "value": f"{r['qps_ratio_measured']:.1%}",
                           "met": bool(r["qps_ratio_measured"] >= GOAL_STREAM_QPS_RATIO)})
        if r["batch"] == GOAL_BATCH and r["concurrency"] == 1:
            over = r["added_p50_ms_measured"] - r["floor_stream_two_hops_p50_ms_measured"]
            stream.append({**where, "goal": f"added p50 <= streaming 2-hop floor + {GOAL_STREAM_OVER_FLOOR_MS} ms",
                           "value": f"{r['added_p50_ms_measured']:.3f} ms = floor "
                                    f"{r['floor_stream_two_hops_p50_ms_measured']:.3f} + {over:.3f} ms",
                           "met": bool(over <= GOAL_STREAM_OVER_FLOOR_MS)})
            fl = r.get("floor_stream_interleaved_two_hops_p50_ms_measured", float("nan"))
            if fl == fl:  # the same floor measured between the calls (each hop to a server idle since the last)
                over = r["added_p50_ms_measured"] - fl
                stream.append({**where, "goal": f"added p50 <= interleaved streaming 2-hop floor + "
                                                f"{GOAL_STREAM_OVER_FLOOR_MS} ms",
                               "value": f"{r['added_p50_ms_measured']:.3f} ms = floor {fl:.3f} + {over:.3f} ms",
                               "met": bool(over <= GOAL_STREAM_OVER_FLOOR_MS)})
    return {"added_p50_ms_at_most": GOAL_ADDED_P50_MS, "batch": GOAL_BATCH, "checks": added,
            "qps_ratio_at_least": GOAL_QPS_RATIO, "qps_checks": qps, "stream_checks": stream}


def run_service(index, queries, cfg: ServiceBenchConfig | None = None, progress: bool = True) -> dict:
    """Service vs in-process search for every (backend, nodes, mode, window, batch, concurrency) of
    ``cfg``; see the module doc. ``cfg.dataset``, ``index`` and ``out`` are the front-ends' business."""
    cfg = cfg or ServiceBenchConfig()
    cfg.check()
    load_before = os.getloadavg()
    t0 = time.time()
    rows = []
    total = len(cfg.backends) * len(cfg.nodes) * len(cfg.modes) * cfg.repeats * len(cfg.batches) * len(cfg.concurrency)
    with tqdm(total=total, desc="bench service", disable=not progress) as bar:
        for b in cfg.backends:
            for n in cfg.nodes:
                for m in cfg.modes:
                    rows += bench_deployment(index, queries, b, n, m, cfg, bar)
    return {
        "rows": rows, "goal": _goals(rows),
        "machine": {"cpus": os.cpu_count(), "loadavg_before": list(load_before), "loadavg_after": list(os.getloadavg()),
                    "python": sys.version.split()[0], "wall_s": time.time() - t0},
        "index": {"ntotal": int(index.ntotal), "d": int(index.d), "nlist": int(index.nlist), "M": int(index.M)},
        "settings": {"requests_per_client": cfg.requests, "repeats": cfg.repeats,
                     "compute_threads": cfg.compute_threads, "batch_windows": list(cfg.batch_windows),
                     "node_streams": list(cfg.node_streams), "transports": list(cfg.transports),
                     "event_loops": sorted({r["event_loop"] for r in rows}),
                     "scan_threads": list(cfg.scan_threads)},
        "config": asdict(cfg),
        "note": "all figures measured (wall clock or CPU time on this machine, loopback gRPC); each row is the "
                "median over repeats; added = service p50 - in-process p50 of the same repeat; qps ratio = service "
                "QPS / in-process QPS of the same repeat; in process = the same list selection, backend scan per "
                "shard and merge without gRPC; mode 'process': coordinator and each memory node a separate process "
                "(in the benchmark's session); 'local': servers in the benchmark process (share its GIL); window = "
                "the coordinator's batching window (0: off); floor = p50 of a gRPC health check on the coordinator "
                "+ on a memory node (the two hops of a Search, no work); stream floor = 2 x p50 of one message on an open "
                "stream with no work (hwrag's server, bench.grpc_floor's EchoStream, 4 x d x 16 bytes), messages back to back; "
                "stream floor between calls (one client) = p50 of the query bytes echoed by two such servers in turn, "
                "called in the alternating loop like the service (each hop finds its server idle since the last call); cpu us/query = CPU time per query of the "
                "benchmark process (client threads, or the in-process search), the coordinator and the nodes",
    }


def write_service_report(result: dict, out: Path) -> list[Path]:
    from .plots import bar_plot

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "service.json").write_text(json.dumps(result, indent=1, default=float))
    rows = result["rows"]
    labels = [f"{r['backend']} n={r['nodes']} {r.get('mode', 'local')} w={r.get('window', '0')}"
              f"{'' if r.get('node_streams', True) else ' unary-nodes'}{' ' + r['transport'] if r.get('transport', 'unary') != 'unary' else ''}"
              f"{'' if r.get('scan_threads', 1) == 1 else ' scan-threads=%d' % r['scan_threads']}"
              f" b={r['batch']} c={r.get('concurrency', '')}" for r in rows]
    series = {"service p50 (measured)": [r["latency_p50_ms_measured"] for r in rows],
              "service p99 (measured)": [r["latency_p99_ms_measured"] for r in rows]}
    if rows and "inprocess_p50_ms_measured" in rows[0]:
        series["in-process p50 (measured)"] = [r["inprocess_p50_ms_measured"] for r in rows]
        series["added p50 (measured)"] = [r["added_p50_ms_measured"] for r in rows]
    if rows and "floor_two_hops_p50_ms_measured" in rows[0]:
        series["2-hop gRPC floor p50 (measured)"] = [r["floor_two_hops_p50_ms_measured"] for r in rows]
    png = bar_plot(labels, series, out / "service_latency.png",
                   "gRPC Search latency per call vs the same search in process (loopback)", "ms", log=True,
                   note="measured: wall clock per call, median over repeats; b = queries per call, "
                        "c = concurrent clients, n = memory nodes, w = batching window (ms, 0: off); "
                        "log scale: an added latency <= 0 is not drawn")
    return [out / "service.json", png]


TABLE_COLS = ["mode", "nodes", "window", "node_streams", "transport", "event_loop", "scan_threads", "batch", "concurrency",
              "inprocess_p50_ms_measured", "latency_p50_ms_measured", "added_p50_ms_measured", "floor_two_hops_p50_ms_measured",
              "floor_stream_two_hops_p50_ms_measured", "floor_stream_interleaved_two_hops_p50_ms_measured",
              "inprocess_p99_ms_measured", "latency_p99_ms_measured", "inprocess_qps_measured", "qps_measured",
              "qps_ratio_measured", "errors"]
CPU_COLS = ["mode", "nodes", "window", "node_streams", "transport", "event_loop", "scan_threads", "batch", "concurrency",
            "cpu_us_per_query_inprocess_measured",
            "cpu_us_per_query_service_client_measured", "cpu_us_per_query_service_coordinator_measured",
            "cpu_us_per_query_service_nodes_measured", "cpu_us_per_query_service_servers_measured",
            "cpu_us_per_query_service_total_measured", "cpu_ratio_measured", "switches_per_query_coordinator_measured",
            "switches_per_query_nodes_measured"]


def format_rows(rows: list[dict], cols=TABLE_COLS) -> str:
    short = [c.replace("_measured", "").replace("latency_", "svc_").replace("inprocess_", "inproc_")
             .replace("floor_two_hops_p50", "floor_2hop_p50").replace("floor_stream_two_hops_p50", "strm_floor_2hop_p50").replace("floor_stream_interleaved_two_hops_p50", "strm_floor_2hop_between_calls_p50").replace("cpu_us_per_query_", "cpu_us/q ")
             .replace("service_", "svc ").replace("switches_per_query_", "ctx sw/q ").replace("scan_threads", "scan_thr")
             .replace("node_streams", "node_strm").replace("event_loop", "loop") for c in cols]
    return format_table(rows, list(cols), short)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The flags of both front-ends, defaulting to :class:`ServiceBenchConfig`'s fields."""
    d = ServiceBenchConfig()
    p.add_argument("--dataset", default=d.dataset)
    p.add_argument("--index", default=d.index, help="saved index (default: the cached IVF<nlist>,PQ<m> of the dataset)")
    p.add_argument("--nlist", type=int, default=d.nlist)
    p.add_argument("--m", type=int, default=d.m)
    p.add_argument("--k", type=int, default=d.k)
    p.add_argument("--nprobe", type=int, default=d.nprobe)
    p.add_argument("--backends", nargs="+", default=list(d.backends))
    p.add_argument("--nodes", type=int, nargs="+", default=list(d.nodes), help="memory nodes per deployment")
    p.add_argument("--modes", nargs="+", default=list(d.modes), choices=MODES)
    p.add_argument("--batch", dest="batches", type=int, nargs="+", default=list(d.batches),
                   help="queries per Search call")
    p.add_argument("--concurrency", type=int, nargs="+", default=list(d.concurrency), help="concurrent client threads")
    p.add_argument("--requests", type=int, default=d.requests, help="Search calls per client thread per measurement")
    p.add_argument("--repeats", type=int, default=d.repeats)
    p.add_argument("--compute-threads", type=int, default=d.compute_threads)
    p.add_argument("--batch-window-ms", dest="batch_windows", nargs="+", default=list(d.batch_windows),
                   help="coordinator batching windows, each its own deployment side by side: 'adaptive' or "
                        "milliseconds (0: off)")
    p.add_argument("--scan-threads", type=int, nargs="+", default=list(d.scan_threads),
                   help="scans each memory node serves at once (the coordinator keeps as many fan-outs in flight); "
                        "each its own deployment")
    p.add_argument("--node-streams", nargs="+", type=_on_off, default=list(d.node_streams),
                   help="coordinator -> memory node scans on a stream (on) or a unary call each (off); each its "
                        "own deployment")
    p.add_argument("--transport", "--clients", dest="transports", nargs="+", default=list(d.transports),
                   choices=TRANSPORTS, help="how the clients call, each kind its own deployment side by side: unary "
                                            "(a thread each, a Search call per request), stream (a SearchStream "
                                            "each, the clients coroutines on one asyncio thread), stream-threads "
                                            "(a thread each with a synchronous SearchSession), stream-shared (one "
                                            "coalescing session for all: a client-side batch) (default: unary "
                                            "stream)")
    p.add_argument("--event-loop", dest="event_loops", nargs="+", default=list(d.event_loops),
                   choices=CHOICES,
                   help="event loop of the coordinator and memory node processes and of the asyncio (stream, "
                        "stream-shared) clients, each its own deployment side by side (default: auto: uvloop "
                        "when installed, else asyncio)")
    p.add_argument("--out", default=d.out, help="directory for service.json and the plot")
    p.add_argument("--json", action="store_true", help="print the JSON instead of the table")
    g = p.add_argument_group("chaos run (instead of the latency benchmark)")
    g.add_argument("--chaos", type=float, default=0.0, metavar="SECONDS",
                   help="run the service under faults for this long (default 0: off)")
    g.add_argument("--chaos-shards", type=int, default=3, help="memory nodes (default 3)")
    g.add_argument("--chaos-clients", type=int, default=8, help="closed-loop client threads (default 8)")
    g.add_argument("--chaos-batch", type=int, default=4, help="queries per call (default 4)")
    g.add_argument("--chaos-kill-every", type=float, default=40.0,
                   help="seconds between SIGKILLs of a memory node (default 40.0)")


@contextlib.contextmanager
def _environ(name: str, value: str | None):
    """``os.environ[name] = value`` within the block (None: unchanged)."""
    old = os.environ.get(name)
    if value is not None:
        os.environ[name] = value
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = old


def _on_off(text: str) -> bool:
    if text.lower() in ("on", "true", "1", "yes"):
        return True
    if text.lower() in ("off", "false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"{text!r}: accepted: on, off")


def config_from_args(a) -> ServiceBenchConfig:
    vals = {f.name: getattr(a, f.name) for f in fields(ServiceBenchConfig)}
    return ServiceBenchConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in vals.items()})


def _print_result(res: dict, cfg: ServiceBenchConfig) -> None:
    ix, m = res["index"], res["machine"]
    print(f"$ {res['command']}")
    print(f"bench service — {cfg.dataset}: {ix['ntotal']} x {ix['d']}, nlist {ix['nlist']}, M {ix['M']}, "
          f"k {cfg.k}, nprobe {cfg.nprobe}, backend {', '.join(cfg.backends)}; {cfg.requests} calls per client, "
          f"median of {cfg.repeats} repeats; load average {m['loadavg_before'][0]:.2f} -> "
          f"{m['loadavg_after'][0]:.2f} on {m['cpus']} cpus")
    print(format_rows(res["rows"]))
    cpu_rows = [r for r in res["rows"] if "cpu_us_per_query_inprocess_measured" in r]
    if cpu_rows:
        print("CPU time per query (us, measured): the benchmark process (in process: the search; service: the "
              "client threads), the coordinator, the memory nodes")
        print(format_rows(cpu_rows, CPU_COLS))
        floors = [r["floor_unary_cpu_us_per_call_measured"] for r in cpu_rows if r["floor_unary_cpu_us_per_call_measured"]]
        if floors:
            med = {k: statistics.median(f[k] for f in floors) for k in floors[0]}
            print("a unary gRPC call with no work (health check), CPU per call (us, measured, median): calling thread "
                  f"{med['client']:.0f}, coordinator process {med['coordinator']:.0f}, memory node process {med['node']:.0f}")
        sf = [r["floor_stream_cpu_us_per_msg_measured"] for r in cpu_rows if r.get("floor_stream_cpu_us_per_msg_measured")]
        if sf:
            med = {k: statistics.median(f[k] for f in sf) for k in sf[0]}
            print("a message on an open stream with no work (hwrag's server, bench.grpc_floor's EchoStream), CPU per "
                  f"message (us, measured, median): client process {med['client']:.0f}, server process {med['server']:.0f}")
    for g in res["goal"]["checks"]:
        print(f"goal (added p50 <= {GOAL_ADDED_P50_MS} ms at batch {GOAL_BATCH}): {g['mode']} n={g['nodes']} "
              f"window={g['window']} node_streams={g['node_streams']} transport={g['transport']} c={g['concurrency']}: "
              f"{g['added_p50_ms_measured']:.3f} ms -> "
              f"{'met' if g['met'] else 'not met'}")
    for g in res["goal"]["qps_checks"]:
        print(f"goal (QPS >= {GOAL_QPS_RATIO:.0%} of in process, {GOAL_QPS_CONCURRENCY} clients at batch "
              f"{GOAL_QPS_BATCH}): {g['mode']} n={g['nodes']} window={g['window']} node_streams={g['node_streams']} "
              f"transport={g['transport']}: {g['qps_ratio_measured']:.1%} "
              f"-> {'met' if g['met'] else 'not met'}")
    for g in res["goal"].get("stream_checks", []):
        print(f"goal (issue 26, streams: {g['goal']}): {g['mode']} n={g['nodes']} window={g['window']} "
              f"transport={g['transport']} loop={g.get('event_loop', 'asyncio')} "
              f"node_streams={g['node_streams']} b={g['batch']} c={g['concurrency']}: {g['value']} "
              f"-> {'met' if g['met'] else 'not met'}")
    for r in res["rows"]:
        for t in r.get("error_texts", []):
            print(f"error ({r['mode']} window={r['window']} transport={r['transport']} b={r['batch']} "
                  f"c={r['concurrency']}): {t}")
    print(f"({res['note']})")
    print("wrote", ", ".join(res["files"]))


def run_chaos_bench(a, cfg: ServiceBenchConfig, index, queries, command: str) -> dict:
    """``--chaos``: one chaos run (``retrieval_service.chaos``) on a supervised process cluster; its figures."""
    from ivfpq.storage import save_index
    from retrieval_service.chaos import ChaosConfig, dead_node_latency, large_request_stall, run_chaos
    from retrieval_service.cluster import Cluster
    from retrieval_service.config import ClusterConfig

    if a.chaos_shards < 2 or a.chaos_clients < 1 or a.chaos_batch < 1 or a.chaos_kill_every <= 0:
        raise HwragError("--chaos-shards >= 2, --chaos-clients >= 1, --chaos-batch >= 1 and --chaos-kill-every > 0 "
                         "required")
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="hwrag-bench-chaos-") as tmp:
        path = save_index(index, Path(tmp) / "index")
        ccfg = ClusterConfig.from_dict({"coordinator": {"listen": "127.0.0.1:0"},
                                        "index": [{"path": str(path), "shards": a.chaos_shards,
                                                   "backend": cfg.backends[0]}]})
        with Cluster(ccfg, run_dir=Path(tmp) / "run-dead", new_sessions=False) as cluster:  # not supervised
            stall = large_request_stall(cluster.address, queries, k=cfg.k, nprobe=cfg.nprobe, calls=1000)
            dead = dead_node_latency(cluster, queries, cfg.k, cfg.nprobe, a.chaos_batch)
        with Cluster(ccfg, run_dir=Path(tmp) / "run", new_sessions=False) as cluster:
            cluster.supervise()
            chaos = ChaosConfig(duration_s=a.chaos, clients=a.chaos_clients, batch=a.chaos_batch, k=cfg.k,
                                nprobe=cfg.nprobe, kill_first_s=min(10.0, a.chaos / 4),
                                kill_every_s=a.chaos_kill_every, quiet_tail_s=min(15.0, a.chaos / 4))
            rep = run_chaos(cluster, index, queries, chaos)
    return {"command": command, "config": asdict(chaos), "shards": a.chaos_shards, "backend": cfg.backends[0],
            "index": {"ntotal": int(index.ntotal), "d": int(index.d), "nlist": int(index.nlist), "M": int(index.M)},
            "report": rep.to_dict(), "violations": rep.violations(), "dead_node": dead,
            "large_request_stall": stall, "cpus": os.cpu_count(),
            "loadavg_before": load_before, "loadavg_after": os.getloadavg(), "provenance": "measured"}


def _print_chaos(res: dict) -> None:
    r, c = res["report"], res["config"]
    ms = lambda d: (f"p50 {d['p50']:.1f} / p99 {d['p99']:.1f} ms (n={d['n']})" if d else "none")  # noqa: E731
    print(f"$ {res['command']}")
    print(f"chaos run (measured) — {res['index']['ntotal']} x {res['index']['d']}, {res['shards']} shards "
          f"({res['backend']}), {c['clients']} clients at batch {c['batch']}, {r['duration_s']} s, a node SIGKILLed "
          f"every {c['kill_every_s']} s; load average {res['loadavg_before'][0]:.2f} -> "
          f"{res['loadavg_after'][0]:.2f} on {res['cpus']} cpus")
    print(f"calls {r['calls']}: complete {r['complete']}, partial {r['partial']}, FAIL answered UNAVAILABLE "
          f"{r['fail_unavailable']}; wrong ids {r['wrong_ids']}, hangs {r['hangs']}, other errors {r['errors']}")
    print(f"kills {r['kills']}, recovery (SIGKILL -> first complete answer) {r['recoveries_s']} s, "
          f"unrecovered {r['unrecovered']}")
    print(f"latency healthy {ms(r['healthy_ms'])}; during a fault: PARTIAL {ms(r['fault_partial_ms'])}, "
          f"FAIL {ms(r['fault_fail_ms'])}")
    print(f"bad actor calls {r['bad_calls']} (not refused as they should be: {r['bad_wrong']}); coordinator RSS "
          f"{r['rss_mb_start']:.0f} -> {r['rss_mb_end']:.0f} MB")
    print("violations:", "; ".join(res["violations"]) or "none")
    d = res["dead_node"]
    print(f"one client, one node SIGKILLed and not restarted ({d['calls']} calls each, batch {d['batch']}): healthy "
          f"{ms(d['healthy_ms'])}; the first call after the kill {d['first_after_kill_ms']:.1f} ms (missing shards "
          f"{d['missing_shards']}); then PARTIAL {ms(d['partial_ms'])}, FAIL {ms(d['fail_ms'])} ({', '.join(d['fail_codes'])})")
    s = res["large_request_stall"]
    print(f"one client's batch-1 calls alone {ms(s['alone_ms'])}; while another sends {s['big_mb']:.0f} MB requests "
          f"back to back ({s['large_requests']} sent, refused: too many queries) {ms(s['during_ms'])}")


def run_from_args(a, prog: str | None = None, argv: list[str] | None = None) -> int:
    """Both front-ends: the config from the flags, the index, the run, the report, the table (or JSON)."""
    from ivfpq.index_cache import cached_index

    cfg = config_from_args(a)
    cfg.check()
    index, ds, _ = cached_index(cfg.dataset, cfg.nlist, cfg.m, cfg.index)
    if getattr(a, "chaos", 0) > 0:
        command = " ".join([prog or Path(sys.argv[0]).name, *(sys.argv[1:] if argv is None else argv)])
        res = run_chaos_bench(a, cfg, index, ds.queries, command)
        Path(cfg.out).mkdir(parents=True, exist_ok=True)
        (Path(cfg.out) / "chaos.json").write_text(json.dumps(res, indent=1, default=float))
        if a.json:
            json.dump(res, sys.stdout, indent=1, default=float)
            print()
        else:
            _print_chaos(res)
        return 1 if res["violations"] else 0
    res = run_service(index, ds.queries, cfg, progress=not a.json)
    res["command"] = " ".join([prog or Path(sys.argv[0]).name, *(sys.argv[1:] if argv is None else argv)])
    res["files"] = [str(f) for f in write_service_report(res, Path(cfg.out))]
    (Path(cfg.out) / "service.json").write_text(json.dumps(res, indent=1, default=float))
    if a.json:
        json.dump(res, sys.stdout, indent=1, default=float)
        print()
    else:
        _print_result(res, cfg)
    return 0


def main(argv: list[str] | None = None) -> int:
    from ivfpq.errors import CommandParser, run_command

    prog = "python -m bench.service_bench"
    ap = CommandParser(prog=prog, description=__doc__.split("\n\n")[0])
    add_arguments(ap)
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    return run_command(lambda: run_from_args(a, prog, argv))


if __name__ == "__main__":
    sys.exit(main())

"""A chaos run against a process cluster (``Cluster``, supervised): closed-loop clients under load while
memory nodes are SIGKILLed (the supervisor restarts them) and bad actors send bad requests, every answer
checked against an exact oracle.

    with Cluster(cfg) as c:
        c.supervise()
        report = run_chaos(c, index, queries, ChaosConfig(duration_s=10))
    report.violations()   # [] when: no wrong id, no hang, every partial answer exact, every kill recovered

What it checks, call by call: a complete answer equals the golden search over every shard; a partial
answer (policy PARTIAL) equals the golden merge of exactly the shards it did not list as missing; policy
FAIL answers either completely or UNAVAILABLE; nothing else (no DEADLINE_EXCEEDED: a hang). Each bad
actor's request gets the error it should, and the stream it was sent on goes on. The figures: calls,
answers by kind, recovery time per kill (SIGKILL -> the first complete answer of a call started after
it), latency percentiles healthy and during a fault, the coordinator's RSS at the start and the end.
Every figure is measured (wall clock on this machine).
"""
from __future__ import annotations

import random
import threading
import time
from dataclasses import asdict, dataclass, field

import grpc
import numpy as np
from ivfpq.index import IVFPQIndex
from ivfpq.lut import select_lists
from ivfpq.scan import scan_lists
from ivfpq.shard import merge_topk, shard_index

from .client import RetrievalClient, RetrievalError

#: a call taking this much longer than its deadline counts as a hang even if it answered
HANG_SLACK_S = 1.0


class ExactOracle:
    """The exact answer of each query batch with any set of shards missing: the golden scan of each shard
    (``ivfpq.scan.scan_lists``) merged by ``ivfpq.shard.merge_topk`` over the shards present."""

    def __init__(self, index: IVFPQIndex, nshards: int, batches: list[np.ndarray], k: int, nprobe: int):
        self.k, self.nshards = k, nshards
        shards = shard_index(index, nshards) if nshards > 1 else [index]
        self.parts = []  # per batch: per shard (int or float keys, ids)
        for q in batches:
            probe = select_lists(index, q, nprobe)
            per = []
            for s in shards:
                r = scan_lists(s, q, probe, k)
                per.append((r.int_distances if r.int_distances is not None else r.distances, r.ids))
            self.parts.append(per)
        self._cache: dict[tuple, np.ndarray] = {}
        self._lock = threading.Lock()

    def expected(self, batch: int, missing=()) -> np.ndarray:
        key = (batch, tuple(sorted(missing)))
        with self._lock:
            if key not in self._cache:
                per = [p for i, p in enumerate(self.parts[batch]) if i not in key[1]]
                _, ids = merge_topk([p[0] for p in per], [p[1] for p in per], self.k)
                self._cache[key] = ids
            return self._cache[key]


@dataclass
class ChaosConfig:
    duration_s: float = 10.0
    clients: int = 4  # closed-loop client threads (policies PARTIAL and FAIL alternating call by call)
    batch: int = 4
    k: int = 10
    nprobe: int = 8
    deadline_s: float = 5.0
    kill_first_s: float = 2.0  # the first SIGKILL of a memory node, after the start
    kill_every_s: float = 8.0  # then one every this many seconds (round robin over the nodes)
    quiet_tail_s: float = 6.0  # no kill in the run's last seconds: every kill has time to recover
    bad_actors: bool = True
    oversize_bytes: int = (64 << 20) + 64  # a request of this many query bytes (above the default limit)
    seed: int = 0


@dataclass
class ChaosReport:
    calls: int = 0
    complete: int = 0
    partial: int = 0
    fail_unavailable: int = 0  # policy FAIL while a shard was down: the final UNAVAILABLE
    wrong_ids: int = 0
    hangs: int = 0
    errors: dict = field(default_factory=dict)  # unexpected errors by code
    kills: int = 0
    recoveries_s: list = field(default_factory=list)  # per kill: SIGKILL -> first complete answer after it
    unrecovered: int = 0
    bad_calls: int = 0
    bad_wrong: int = 0  # bad requests that did not get their error, or broke their stream
    healthy_ms: dict = field(default_factory=dict)  # latency percentiles of the answers with every node up
    fault_partial_ms: dict = field(default_factory=dict)  # ... of the partial answers between a kill and recovery
    fault_fail_ms: dict = field(default_factory=dict)  # ... of the FAIL policy's UNAVAILABLE answers then
    rss_mb_start: float = 0.0
    rss_mb_end: float = 0.0
    duration_s: float = 0.0
    notes: list = field(default_factory=list)

    def violations(self, rss_growth_mb: float = 50.0, recovery_s: float | None = None) -> list[str]:
        v = []
        if self.wrong_ids:
            v.append(f"{self.wrong_ids} answers with wrong ids")
        if self.hangs:
            v.append(f"{self.hangs} calls hung past their deadline")
        if self.errors:
            v.append(f"unexpected errors {self.errors}")
        if self.unrecovered:
            v.append(f"{self.unrecovered} of {self.kills} killed nodes never served a complete answer again")
        if recovery_s is not None and any(r > recovery_s for r in self.recoveries_s):
            v.append(f"recovery times {self.recoveries_s} s exceed {recovery_s} s")
        if self.bad_wrong:
            v.append(f"{self.bad_wrong} bad requests not refused as they should be (notes: {self.notes[:5]})")
        if self.rss_mb_end - self.rss_mb_start > rss_growth_mb:
            v.append(f"coordinator RSS grew {self.rss_mb_start:.0f} -> {self.rss_mb_end:.0f} MB")
        return v

    def to_dict(self) -> dict:
        return asdict(self)


def rss_mb(pid: int) -> float:
    """Resident set size of process ``pid`` (MB), from /proc."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _percentiles(ms: list[float]) -> dict:
    if not ms:
        return {}
    a = np.asarray(ms)
    return {"n": len(ms), "p50": float(np.percentile(a, 50)), "p99": float(np.percentile(a, 99)),
            "max": float(a.max())}


class _Run:
    """The shared state of one chaos run: the call log, the kill log, the stop flag."""

    def __init__(self, cluster, oracle: ExactOracle, batches, cfg: ChaosConfig):
        self.cluster, self.oracle, self.batches, self.cfg = cluster, oracle, batches, cfg
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.report = ChaosReport()
        self.calls: list[tuple[float, float, str]] = []  # (start, latency s, "complete" | "partial" | "error")
        self.kills: list[float] = []

    def guarded(self, fn, *args) -> None:
        """Run a thread's loop; a crash of it is an unexpected error of the run, not a silent stop."""
        try:
            fn(*args)
        except Exception as e:  # noqa: BLE001 -- reported
            with self.lock:
                key = f"{fn.__name__} crashed: {type(e).__name__}"
                self.report.errors[key] = self.report.errors.get(key, 0) + 1
            self.note(f"{fn.__name__}: {e!r}")

    def note(self, text: str) -> None:
        with self.lock:
            if len(self.report.notes) < 50:
                self.report.notes.append(text)

    def client(self, w: int) -> None:
        cfg = self.cfg
        rnd = random.Random(cfg.seed * 1000 + w)
        with RetrievalClient(self.cluster.address, timeout=cfg.deadline_s) as c:
            n = 0
            while not self.stop.is_set():
                b = rnd.randrange(len(self.batches))
                policy = "partial" if (n + w) % 2 == 0 else "fail"
                n += 1
                t0 = time.monotonic()
                try:
                    r = c.search(self.batches[b], cfg.k, cfg.nprobe, policy=policy)
                    err = None
                except RetrievalError as e:
                    r, err = None, e
                self._record(b, policy, t0, time.monotonic() - t0, r, err)

    def _record(self, b: int, policy: str, t0: float, dt: float, r, err) -> None:
        rep = self.report
        with self.lock:
            rep.calls += 1
            if dt > self.cfg.deadline_s + HANG_SLACK_S:
                rep.hangs += 1
            if err is not None:
                if err.code == grpc.StatusCode.DEADLINE_EXCEEDED:
                    rep.hangs += 1
                elif err.code == grpc.StatusCode.UNAVAILABLE and policy == "fail":
                    rep.fail_unavailable += 1
                else:
                    rep.errors[err.code.name] = rep.errors.get(err.code.name, 0) + 1
                    self.note(f"{policy}: {err}")
                self.calls.append((t0, dt, "error"))
                return
            if r.missing_shards and policy != "partial":
                rep.wrong_ids += 1
                self.note(f"a {policy} answer missing shards {r.missing_shards}")
            if not np.array_equal(r.ids, self.oracle.expected(b, r.missing_shards)):
                rep.wrong_ids += 1
                self.note(f"wrong ids, batch {b}, missing {r.missing_shards}")
            rep.partial += bool(r.missing_shards)
            rep.complete += not r.missing_shards
            self.calls.append((t0, dt, "partial" if r.missing_shards else "complete"))

    def killer(self) -> None:
        cfg, t_start = self.cfg, time.monotonic()
        nodes = list(self.cluster.nodes.values())
        i, t_next = 0, t_start + cfg.kill_first_s
        t_last = t_start + cfg.duration_s - cfg.quiet_tail_s
        while t_next <= t_last and not self.stop.wait(max(0.0, t_next - time.monotonic())):
            p = nodes[i % len(nodes)]
            i += 1
            t_next += cfg.kill_every_s
            if p.proc is None or p.proc.poll() is not None or p.restarting:
                continue  # not serving (yet): skip this turn
            p.proc.kill()  # SIGKILL, as a crash
            with self.lock:
                self.kills.append(time.monotonic())
            self.report.kills += 1

    def bad_actor(self) -> None:
        """Bad requests between the good ones: each must get its own error, and its stream must go on."""
        cfg = self.cfg
        d = self.batches[0].shape[1]
        good = self.batches[0]
        nan = good.copy()
        nan[0, 0] = np.nan
        cases = [(nan, cfg.k, grpc.StatusCode.INVALID_ARGUMENT), (good, 10 ** 6, grpc.StatusCode.INVALID_ARGUMENT),
                 (np.zeros((0, d), np.float32), cfg.k, grpc.StatusCode.INVALID_ARGUMENT),
                 (np.ones((2, d + 1), np.float32), cfg.k, grpc.StatusCode.INVALID_ARGUMENT)]
        big = np.zeros((cfg.oversize_bytes // (4 * d) + 1, d), np.float32)
        with RetrievalClient(self.cluster.address, timeout=cfg.deadline_s) as c:
            n = 0
            while not self.stop.is_set():
                q, k, code = cases[n % len(cases)]
                if n % 8 == 7:  # now and then a request above the size limit
                    q, k, code = big, cfg.k, grpc.StatusCode.RESOURCE_EXHAUSTED
                n += 1
                self._bad_unary(c, q, k, code)
                self._bad_on_stream(c, q, k, code)
                self.stop.wait(0.05)

    def _bad_unary(self, c, q, k, code) -> None:
        try:
            c.search(q, k, self.cfg.nprobe, policy="partial")
            ok = False
        except RetrievalError as e:
            ok = e.code == code
            if not ok:
                self.note(f"bad request got {e}, expected {code.name}")
        with self.lock:
            self.report.bad_calls += 1
            self.report.bad_wrong += not ok

    def _bad_on_stream(self, c, q, k, code) -> None:
        if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
            return  # the transport refuses it: that ends the call (a stream too), by gRPC's design
        ok = True
        with c.stream(timeout=self.cfg.deadline_s * 3) as s:
            try:
                s.search(q, k, self.cfg.nprobe, policy="partial")
                ok = False
            except RetrievalError as e:
                ok = e.code == code
            try:  # the stream goes on: a good request after the bad one is answered
                r = s.search(self.batches[0], self.cfg.k, self.cfg.nprobe, policy="partial")
                ok = ok and np.array_equal(r.ids, self.oracle.expected(0, r.missing_shards))
            except RetrievalError as e:
                if e.code != grpc.StatusCode.UNAVAILABLE:  # (a node may be down: the stream is fine)
                    ok = False
                    self.note(f"the stream after a bad request: {e}")
        with self.lock:
            self.report.bad_calls += 1
            self.report.bad_wrong += not ok

    def figures(self) -> None:
        rep = self.report
        calls = sorted(self.calls)
        healthy = []
        for t_kill in self.kills:
            back = next((t0 + dt for t0, dt, kind in calls if t0 > t_kill and kind == "complete"), None)
            if back is None:
                rep.unrecovered += 1
            else:
                rep.recoveries_s.append(round(back - t_kill, 3))
        windows = [(t, t + r) for t, r in zip(self.kills, rep.recoveries_s)]
        windows += [(t, float("inf")) for t in self.kills[len(rep.recoveries_s):]]
        partial, failed = [], []
        for t0, dt, kind in calls:
            in_fault = any(a <= t0 <= b for a, b in windows)
            if not in_fault and kind == "complete":
                healthy.append(dt * 1e3)
            elif in_fault and kind == "partial":
                partial.append(dt * 1e3)
            elif in_fault and kind == "error":
                failed.append(dt * 1e3)
        rep.healthy_ms, rep.fault_partial_ms = _percentiles(healthy), _percentiles(partial)
        rep.fault_fail_ms = _percentiles(failed)


def run_chaos(cluster, index: IVFPQIndex, queries: np.ndarray, cfg: ChaosConfig | None = None) -> ChaosReport:
    """Load + kills + restarts + bad actors against ``cluster`` (started, and supervised so that it restarts
    the nodes it loses: ``cluster.supervise()``); returns the report (see :meth:`ChaosReport.violations`)."""
    cfg = cfg or ChaosConfig()
    nshards = len(cluster.nodes)
    batches = [queries[i:i + cfg.batch] for i in range(0, len(queries) - cfg.batch + 1, cfg.batch)][:32]
    run = _Run(cluster, ExactOracle(index, nshards, batches, cfg.k, cfg.nprobe), batches, cfg)
    coord_pid = cluster.coordinator.proc.pid
    with RetrievalClient(cluster.address, timeout=cfg.deadline_s) as c:  # warm: every node up, kernels compiled
        r = c.search(batches[0], cfg.k, cfg.nprobe, policy="fail")
        assert np.array_equal(r.ids, run.oracle.expected(0)), "the cluster's first answer is wrong"
    run.report.rss_mb_start = rss_mb(coord_pid)
    threads = [threading.Thread(target=run.guarded, args=(run.client, w), name=f"chaos-client-{w}")
               for w in range(cfg.clients)]
    threads.append(threading.Thread(target=run.guarded, args=(run.killer,), name="chaos-killer"))
    if cfg.bad_actors:
        threads.append(threading.Thread(target=run.guarded, args=(run.bad_actor,), name="chaos-bad-actor"))
    t0 = time.monotonic()
    for t in threads:
        t.start()
    run.stop.wait(cfg.duration_s)
    run.stop.set()
    for t in threads:
        t.join(cfg.deadline_s * 4 + 10)
        if t.is_alive():
            run.report.hangs += 1
            run.note(f"thread {t.name} did not finish")
    run.report.duration_s = round(time.monotonic() - t0, 2)
    run.report.rss_mb_end = rss_mb(coord_pid)
    run.figures()
    return run.report


def dead_node_latency(cluster, queries: np.ndarray, k: int = 10, nprobe: int = 8, batch: int = 4,
                      calls: int = 200, deadline_s: float = 5.0) -> dict:
    """One client, calls one after the other: latency (ms) with every node up, then with the last memory
    node SIGKILLed and not restarted (``cluster`` unsupervised, or ``[supervisor] restart = false``):
    the first call after the kill (it finds the node gone), then PARTIAL and FAIL answers (measured)."""
    q = queries[:batch]
    out: dict = {"calls": calls, "batch": batch}

    def timed(c, policy: str) -> tuple[float, object]:
        t0 = time.perf_counter()
        try:
            r = c.search(q, k, nprobe, policy=policy)
        except RetrievalError as e:
            r = e
        return (time.perf_counter() - t0) * 1e3, r

    with RetrievalClient(cluster.address, timeout=deadline_s) as c:
        timed(c, "fail")
        out["healthy_ms"] = _percentiles([timed(c, "partial")[0] for _ in range(calls)])
        victim = list(cluster.nodes.values())[-1]
        victim.proc.kill()
        victim.proc.wait(10)
        first, r = timed(c, "partial")
        out["first_after_kill_ms"] = first
        out["missing_shards"] = list(getattr(r, "missing_shards", []))
        out["partial_ms"] = _percentiles([timed(c, "partial")[0] for _ in range(calls)])
        fails = [timed(c, "fail") for _ in range(calls)]
        out["fail_ms"] = _percentiles([t for t, _ in fails])
        out["fail_codes"] = sorted({e.code.name for _, e in fails if isinstance(e, RetrievalError)})
    return out


_SENDER = """
import sys, numpy as np
from retrieval_service.client import RetrievalClient, RetrievalError
address, nbytes, d, k, nprobe = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
big = np.zeros((nbytes // (4 * d), d), np.float32)
with RetrievalClient(address, timeout=60) as c:
    while True:
        try:
            c.search(big, k, nprobe)
        except RetrievalError:
            pass
        print("sent", flush=True)
"""


def large_request_stall(address: str, queries: np.ndarray, big_bytes: int = 60 << 20, k: int = 10,
                        nprobe: int = 8, calls: int = 200, deadline_s: float = 30.0) -> dict:
    """How much large requests stall other callers: one client's small calls (latency, ms) alone, then
    while another client (its own process, so that its GIL is not this one's) sends requests of
    ``big_bytes`` of queries back to back (under the size limit, so the transport takes them; too many
    queries, so the coordinator refuses them). Measured."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    d = queries.shape[1]
    q = queries[:1]
    root = str(Path(__file__).resolve().parent.parent)
    env = dict(os.environ, PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))

    def timed(c) -> float:
        t0 = time.perf_counter()
        c.search(q, k, nprobe)
        return (time.perf_counter() - t0) * 1e3

    with RetrievalClient(address, timeout=deadline_s) as c:
        timed(c)
        alone = [timed(c) for _ in range(calls)]
        sender = subprocess.Popen([sys.executable, "-c", _SENDER, address, str(big_bytes), str(d), str(k),
                                   str(nprobe)], stdout=subprocess.PIPE, text=True, env=env)
        try:
            sender.stdout.readline()  # its first large request is answered: it sends the next one now
            during = [timed(c) for _ in range(calls)]
        finally:
            sender.kill()
            out, _ = sender.communicate(timeout=30)
    return {"big_mb": big_bytes / 2 ** 20, "large_requests": 1 + out.count("sent"),
            "alone_ms": _percentiles(alone), "during_ms": _percentiles(during)}

"""``hwrag bench service`` / ``python -m bench.service_bench``: the gRPC retrieval service against the
same search called in process, side by side in one run.

For each (backend, memory nodes, deployment mode, batch, concurrent clients) it runs a closed loop of
``concurrency`` client threads, each sending ``requests`` Search calls of ``batch`` queries, twice:

* **in process** — the same search with no gRPC: the coordinator's list selection, the same backend
  class scanning the same shards (one backend per shard, as the nodes hold them), the coordinator's
  exact merge; same index, k, nprobe, batch, query rows and thread settings;
* **service** — real gRPC on loopback through the coordinator and the memory nodes, deployed as
  ``process`` (coordinator and each memory node a separate process: ``retrieval_service.cluster``,
  the deployment ``hwrag serve`` makes) or ``local`` (coordinator and nodes on one event-loop thread
  inside the benchmark process: they share its GIL with the client threads).

With one client the two searches alternate call by call on the same batches; with several, the two
closed loops run back to back. The pairs repeat ``repeats`` times, so load drift on a shared machine
hits both sides; each row reports the median over repeats of p50, p99, QPS
and the added latency (service p50 − in-process p50 of the same repeat). Every figure is measured
(wall clock on this machine); the load average is recorded with the result.

Writes ``service.json`` and ``service_latency.png``.
"""
from __future__ import annotations

import argparse
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
from tqdm import tqdm

from .table import format_table

log = logging.getLogger(__name__)

MODES = ("process", "local")
GOAL_ADDED_P50_MS = 1.0  # issue 6: p50 added latency <= 1 ms at batch 16 on loopback
GOAL_BATCH = 16


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
    batch_window_ms: float = 0.0  # the coordinator's batching window
    out: str = "report/bench"

    def check(self) -> None:
        bad = [m for m in self.modes if m not in MODES]
        if bad:
            raise HwragError(f"mode={bad[0]!r}; accepted: {', '.join(MODES)}")
        if min((*self.nodes, *self.batches, *self.concurrency, self.requests, self.repeats)) < 1:
            raise HwragError("--nodes, --batch, --concurrency, --requests and --repeats take values >= 1")


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


# ---- the same search, in process -----------------------------------------------------------------
class InProcessSearch:
    """The service's search without gRPC: coordinator list selection, one backend per shard, exact merge."""

    def __init__(self, index, backend: str = "cpu", nodes: int = 1, name: str = "default"):
        from ivfpq.shard import shard_index
        from retrieval_service.backends.base import ShardInfo, create_backend
        from retrieval_service.wire import index_fingerprint

        self.index = index
        fp = index_fingerprint(index)
        shards = shard_index(index, nodes) if nodes > 1 else [index]
        self.backends = []
        for i, sh in enumerate(shards):
            b = create_backend(backend)
            b.load(sh, ShardInfo(name, i, nodes, fp))
            b.warmup()
            self.backends.append(b)

    def search(self, q: np.ndarray, k: int, nprobe: int):
        from retrieval_service.coordinator.merge import merge_partials
        from retrieval_service.coordinator.selection import select_probe

        probe = select_probe(self.index, q, nprobe)
        parts = [b.scan(q, probe, k) for b in self.backends]
        fixed = parts[0].int_distances is not None
        return merge_partials([p.ids for p in parts], [p.int_distances if fixed else p.distances for p in parts],
                              [p.distances for p in parts], k)

    def close(self) -> None:
        for b in self.backends:
            b.close()


# ---- a closed loop of client threads -------------------------------------------------------------
def closed_loop(call_factory, queries: np.ndarray, batch: int, requests: int, concurrency: int,
                seed: int = 0, compute_threads: int | None = 1) -> dict:
    """``concurrency`` threads, each ``call = call_factory(w)`` then ``requests`` timed ``call(q)``.

    The query batches are drawn before timing (thread w uses rng(seed + w): both sides of a pair see the
    same rows). Returns latencies (s), wall time, results and errors.
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
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    return {"lat": np.array(lat), "wall": wall, "results": results, "errors": errors}


def paired_loop(call_a, call_b, queries: np.ndarray, batch: int, requests: int, seed: int = 0,
                compute_threads: int | None = 1) -> tuple[dict, dict]:
    """One client alternating ``call_a(q)`` and ``call_b(q)`` on the same batches (a, b, b, a, a, b, ...):
    both see the same load at the same moments. Wall time of each side = the sum of its latencies."""
    out = {"a": ([], [], []), "b": ([], [], [])}
    rng = np.random.default_rng(seed)
    batches = [np.ascontiguousarray(queries[rng.integers(0, len(queries), batch)]) for _ in range(requests)]

    def run():
        if compute_threads:
            from ivfpq.threads import set_threads

            set_threads(compute_threads)
        call_a(batches[0])
        call_b(batches[0])
        for i, q in enumerate(batches):
            order = ("a", "b") if i % 2 == 0 else ("b", "a")
            for side in order:
                fn = call_a if side == "a" else call_b
                lat, res, err = out[side]
                t0 = time.perf_counter()
                try:
                    r = fn(q)
                except Exception as e:  # reported, not hidden
                    err.append(str(e))
                    continue
                lat.append(time.perf_counter() - t0)
                res.append(r)

    t = threading.Thread(target=run, daemon=True)  # a fresh thread, like the closed loops'
    t.start()
    t.join()
    return tuple({"lat": np.array(out[s][0]), "wall": float(np.sum(out[s][0])) or float("nan"),
                  "results": out[s][1], "errors": out[s][2]} for s in ("a", "b"))


def _summary(loop: dict, batch: int) -> dict:
    lat = loop["lat"] if len(loop["lat"]) else np.array([np.nan])
    return {"p50_ms": float(np.percentile(lat, 50) * 1e3), "p99_ms": float(np.percentile(lat, 99) * 1e3),
            "qps": len(loop["lat"]) * batch / loop["wall"], "calls": int(len(loop["lat"])),
            "errors": len(loop["errors"])}


# ---- service deployments ---------------------------------------------------------------------------
class _Deployment:
    """A running coordinator + nodes: ``address``; ``close()``."""

    def __init__(self, mode: str, index, backend: str, nodes: int, compute_threads: int | None,
                 batch_window_ms: float = 0.0):
        from retrieval_service.config import ClusterConfig, CoordinatorSection, IndexSection

        self.mode = mode
        self._tmp = None
        self.node_addresses: list[str] = []
        if mode == "local":
            from retrieval_service.coordinator import CoordinatorConfig
            from retrieval_service.local import LocalCluster

            self._c = LocalCluster(index, nshards=nodes, backend=backend, compute_threads=compute_threads,
                                   config=CoordinatorConfig(batch_window_s=batch_window_ms / 1e3)).start()
            self.address = self._c.address
            self.node_addresses = list(self._c.node_addresses)
        elif mode == "process":
            from ivfpq.storage import save_index
            from retrieval_service.cluster import Cluster

            self._tmp = tempfile.TemporaryDirectory(prefix="hwrag-bench-service-")
            path = save_index(index, Path(self._tmp.name) / "index")
            cfg = ClusterConfig(CoordinatorSection(listen="127.0.0.1:0", batch_window_ms=batch_window_ms),
                                index=[IndexSection(name="default", path=str(path), shards=nodes, backend=backend,
                                                    compute_threads=int(compute_threads or 0))])
            self._c = Cluster(cfg, run_dir=Path(self._tmp.name) / "run")
            self.address = self._c.start()
            self.node_addresses = [self._c.node(i).address for i in range(nodes)]
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
    can't go below this on the machine it is measured on."""
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    chans = [grpc.insecure_channel(a) for a in (dep.address, dep.node_addresses[0])]
    try:
        stubs = [health_pb2_grpc.HealthStub(c) for c in chans]
        req = health_pb2.HealthCheckRequest()
        lat = [[], []]
        for i in range(calls + 20):
            for j in ((0, 1) if i % 2 == 0 else (1, 0)):
                t0 = time.perf_counter()
                stubs[j].Check(req, timeout=10)
                if i >= 20:
                    lat[j].append(time.perf_counter() - t0)
        a, b = (float(np.percentile(x, 50) * 1e3) for x in lat)
        return {"client_to_coordinator_ms": a, "to_node_ms": b, "two_hops_ms": a + b}
    finally:
        for c in chans:
            c.close()


def _service_calls(address: str, k: int, nprobe: int, clients: list):
    from retrieval_service.client import RetrievalClient

    def factory(w: int):
        c = RetrievalClient(address, timeout=120)  # one channel per client thread: independent clients
        clients.append(c)
        return lambda q: c.search(q, k, nprobe)

    return factory


def bench_deployment(index, queries, backend: str, nodes: int, mode: str, cfg: ServiceBenchConfig,
                     bar=None) -> list[dict]:
    """Rows for one deployment: each (batch, concurrency) measured ``cfg.repeats`` times, in process and service."""
    k, nprobe, requests, threads = cfg.k, cfg.nprobe, cfg.requests, cfg.compute_threads
    inproc = InProcessSearch(index, backend, nodes)
    dep = _Deployment(mode, index, backend, nodes, threads, cfg.batch_window_ms)
    raw = defaultdict(list)
    stages = defaultdict(list)
    floors = []
    try:
        for rep in range(cfg.repeats):
            floors.append(transport_floor(dep))
            for bs in cfg.batches:
                for c in cfg.concurrency:
                    seed = 1000 * rep + 17 * bs + c
                    clients: list = []
                    svc = _service_calls(dep.address, k, nprobe, clients)
                    try:
                        if c == 1:  # one client: alternate the two calls, paired under the same load
                            a, s = paired_loop(lambda q: inproc.search(q, k, nprobe), svc(0), queries, bs,
                                               requests, seed, threads)
                        else:
                            a = closed_loop(lambda w: (lambda q: inproc.search(q, k, nprobe)), queries, bs,
                                            requests, c, seed, threads)
                            s = closed_loop(svc, queries, bs, requests, c, seed, threads)
                    finally:
                        for cl in clients:
                            cl.close()
                    raw[(bs, c)].append((_summary(a, bs), _summary(s, bs)))
                    stages[(bs, c)].extend(s["results"])
                    if bar is not None:
                        bar.update(1)
    finally:
        dep.close()
        inproc.close()
    rows = []
    med = statistics.median
    floor = {k: med(f[k] for f in floors) for k in floors[0]} if floors else {}
    for (bs, c), reps in raw.items():
        ins, svc = [x[0] for x in reps], [x[1] for x in reps]
        rows.append({
            "backend": backend, "nodes": nodes, "mode": mode, "batch": bs, "concurrency": c, "k": k,
            "nprobe": nprobe, "repeats": len(reps), "calls": sum(x["calls"] for x in svc),
            "errors": sum(x["errors"] + y["errors"] for x, y in zip(svc, ins)),
            "latency_p50_ms_measured": med(x["p50_ms"] for x in svc),
            "latency_p99_ms_measured": med(x["p99_ms"] for x in svc),
            "qps_measured": med(x["qps"] for x in svc),
            "inprocess_p50_ms_measured": med(x["p50_ms"] for x in ins),
            "inprocess_p99_ms_measured": med(x["p99_ms"] for x in ins),
            "inprocess_qps_measured": med(x["qps"] for x in ins),
            "added_p50_ms_measured": med(y["p50_ms"] - x["p50_ms"] for x, y in zip(ins, svc)),
            "added_p99_ms_measured": med(y["p99_ms"] - x["p99_ms"] for x, y in zip(ins, svc)),
            "floor_two_hops_p50_ms_measured": floor.get("two_hops_ms", float("nan")),
            "batch_window_ms": cfg.batch_window_ms,
            "floor_per_repeat": floors,
            "per_repeat": [{"inprocess": x, "service": y} for x, y in reps],
            "stage_mean_s": _stage_means(stages[(bs, c)]),
        })
    return rows


def run_service(index, queries, cfg: ServiceBenchConfig | None = None, progress: bool = True) -> dict:
    """Service vs in-process search for every (backend, nodes, mode, batch, concurrency) of ``cfg``;
    see the module doc. ``cfg.dataset``, ``index`` and ``out`` are the front-ends' business."""
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
    goal = []
    for r in rows:
        if r["batch"] == GOAL_BATCH:
            goal.append({"backend": r["backend"], "nodes": r["nodes"], "mode": r["mode"],
                         "concurrency": r["concurrency"], "added_p50_ms_measured": r["added_p50_ms_measured"],
                         "met": bool(r["added_p50_ms_measured"] <= GOAL_ADDED_P50_MS)})
    return {
        "rows": rows, "goal": {"added_p50_ms_at_most": GOAL_ADDED_P50_MS, "batch": GOAL_BATCH, "checks": goal},
        "machine": {"cpus": os.cpu_count(), "loadavg_before": list(load_before), "loadavg_after": list(os.getloadavg()),
                    "python": sys.version.split()[0], "wall_s": time.time() - t0},
        "index": {"ntotal": int(index.ntotal), "d": int(index.d), "nlist": int(index.nlist), "M": int(index.M)},
        "settings": {"requests_per_client": cfg.requests, "repeats": cfg.repeats,
                     "compute_threads": cfg.compute_threads, "batch_window_ms": cfg.batch_window_ms},
        "config": asdict(cfg),
        "note": "all figures measured (wall clock on this machine, loopback gRPC); each row is the median over "
                "repeats; added = service p50 - in-process p50 of the same repeat; in process = the same list "
                "selection, backend scan per shard and merge without gRPC; mode 'process': coordinator and each "
                "memory node a separate process; 'local': servers in the benchmark process (share its GIL); floor = p50 "
                "of a gRPC health check on the coordinator + on a memory node (the two hops of a Search, no work)",
    }


def write_service_report(result: dict, out: Path) -> list[Path]:
    from .plots import bar_plot

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "service.json").write_text(json.dumps(result, indent=1, default=float))
    rows = result["rows"]
    labels = [f"{r['backend']} n={r['nodes']} {r.get('mode', 'local')} b={r['batch']} c={r.get('concurrency', '')}"
              for r in rows]
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
                        "c = concurrent clients, n = memory nodes; log scale: an added latency <= 0 is not drawn")
    return [out / "service.json", png]


TABLE_COLS = ["mode", "nodes", "batch", "concurrency", "inprocess_p50_ms_measured", "latency_p50_ms_measured",
              "added_p50_ms_measured", "floor_two_hops_p50_ms_measured", "inprocess_p99_ms_measured", "latency_p99_ms_measured",
              "inprocess_qps_measured", "qps_measured", "errors"]


def format_rows(rows: list[dict], cols=TABLE_COLS) -> str:
    short = [c.replace("_measured", "").replace("latency_", "svc_").replace("inprocess_", "inproc_")
             .replace("floor_two_hops_p50", "floor_2hop_p50") for c in cols]
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
    p.add_argument("--batch-window-ms", type=float, default=d.batch_window_ms, help="coordinator batching window")
    p.add_argument("--out", default=d.out, help="directory for service.json and the plot")
    p.add_argument("--json", action="store_true", help="print the JSON instead of the table")


def config_from_args(a) -> ServiceBenchConfig:
    vals = {f.name: getattr(a, f.name) for f in fields(ServiceBenchConfig)}
    return ServiceBenchConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in vals.items()})


def _print_result(res: dict, cfg: ServiceBenchConfig) -> None:
    ix, m = res["index"], res["machine"]
    print(f"bench service — {cfg.dataset}: {ix['ntotal']} x {ix['d']}, nlist {ix['nlist']}, M {ix['M']}, "
          f"k {cfg.k}, nprobe {cfg.nprobe}, backend {', '.join(cfg.backends)}; {cfg.requests} calls per client, "
          f"median of {cfg.repeats} repeats; load average {m['loadavg_before'][0]:.2f} -> "
          f"{m['loadavg_after'][0]:.2f} on {m['cpus']} cpus")
    print(format_rows(res["rows"]))
    for g in res["goal"]["checks"]:
        print(f"goal (added p50 <= {GOAL_ADDED_P50_MS} ms at batch {GOAL_BATCH}): {g['mode']} n={g['nodes']} "
              f"c={g['concurrency']}: {g['added_p50_ms_measured']:.3f} ms -> {'met' if g['met'] else 'not met'}")
    print(f"({res['note']})")
    print("wrote", ", ".join(res["files"]))


def run_from_args(a) -> int:
    """Both front-ends: the config from the flags, the index, the run, the report, the table (or JSON)."""
    from ivfpq.index_cache import cached_index

    cfg = config_from_args(a)
    cfg.check()
    index, ds, _ = cached_index(cfg.dataset, cfg.nlist, cfg.m, cfg.index)
    res = run_service(index, ds.queries, cfg, progress=not a.json)
    res["command"] = " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])
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

    ap = CommandParser(prog="python -m bench.service_bench", description=__doc__.split("\n\n")[0])
    add_arguments(ap)
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    return run_command(lambda: run_from_args(a))


if __name__ == "__main__":
    sys.exit(main())

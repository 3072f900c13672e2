"""``hwrag bench service``: the gRPC retrieval service under load, per backend and node count.

A real coordinator and memory nodes on loopback (in-process servers, real gRPC), a closed loop of
``concurrency`` client threads each sending ``requests`` Search calls of ``batch`` queries. Reports
measured latency percentiles and QPS, the measured time per stage (select, fan-out, node, network,
merge) from the answers' timing figures, and — for emulated backends — the modeled device time the
nodes reported. Writes ``service.json`` and ``service_latency.png``.
"""
from __future__ import annotations

import json
import threading
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .plots import bar_plot


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


def bench_one(index, queries, backend: str, nodes: int, k: int, nprobe: int, batch: int, requests: int,
              concurrency: int) -> dict:
    from retrieval_service.client import RetrievalClient
    from retrieval_service.local import LocalCluster

    lat, results, errors = [], [], []
    lock = threading.Lock()
    with LocalCluster(index, nshards=nodes, backend=backend) as cluster:
        client = RetrievalClient(cluster.address, timeout=120)
        client.search(queries[:batch], k, nprobe)  # warm-up: compile, connect

        def worker(w: int):
            rng = np.random.default_rng(w)
            for _ in range(requests):
                rows = rng.integers(0, len(queries), batch)
                t0 = time.perf_counter()
                try:
                    r = client.search(queries[rows], k, nprobe)
                except Exception as e:  # a failed call is reported, not hidden
                    with lock:
                        errors.append(str(e))
                    continue
                dt = time.perf_counter() - t0
                with lock:
                    lat.append(dt)
                    results.append(r)

        t0 = time.perf_counter()
        threads = [threading.Thread(target=worker, args=(w,)) for w in range(concurrency)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
        client.close()
    lat = np.array(lat) if lat else np.array([np.nan])
    return {"backend": backend, "nodes": nodes, "batch": batch, "concurrency": concurrency, "k": k,
            "nprobe": nprobe, "calls": len(results), "errors": len(errors),
            "latency_p50_ms_measured": float(np.percentile(lat, 50) * 1e3),
            "latency_p99_ms_measured": float(np.percentile(lat, 99) * 1e3),
            "qps_measured": len(results) * batch / wall,
            "stage_mean_s": _stage_means(results)}


def run_service(index, queries, backends=("cpu",), nodes=(1, 2, 4), k: int = 10, nprobe: int = 16,
                batches=(1, 16), requests: int = 30, concurrency: int = 4, progress: bool = True) -> dict:
    combos = [(b, n, bs) for b in backends for n in nodes for bs in batches]
    rows = [bench_one(index, queries, b, n, k, nprobe, bs, requests, concurrency)
            for b, n, bs in tqdm(combos, desc="bench service", disable=not progress)]
    return {"rows": rows, "note": "latency and QPS measured: wall clock, in-process loopback gRPC servers "
            "sharing this machine's cores with the client; '(modeled)' stages are the emulated device times "
            "the memory nodes reported"}


def write_service_report(result: dict, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    (out / "service.json").write_text(json.dumps(result, indent=1, default=float))
    rows = result["rows"]
    labels = [f"{r['backend']} n={r['nodes']} b={r['batch']}" for r in rows]
    png = bar_plot(labels, {"p50 (measured)": [r["latency_p50_ms_measured"] for r in rows],
                            "p99 (measured)": [r["latency_p99_ms_measured"] for r in rows]},
                   out / "service_latency.png", "gRPC Search latency per call (loopback cluster)", "ms",
                   note="measured: wall clock per Search call; b = queries per call, n = memory nodes")
    return [out / "service.json", png]

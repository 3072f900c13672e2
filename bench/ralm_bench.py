"""``python -m bench.ralm_bench``: RALM generation throughput through the retrieval service, side by side
in one run -- retrieval off, chunk RALM and kNN-LM (token mode), each with and without overlap of
retrieval and LM compute (ChamLM-style alternating sub-batches), on the cpu backend and on emulated
backends (fpga, pim-hbm, pim-dimm) when present. Per backend, retrieval off is measured with the
service up, and the configurations take turns in every repeat (``vs off``: median tokens/s relative to
its median; ``vs off (paired)``: the median over repeats of each run against the retrieval-off run of
the same repeat, which cancels load that drifts between repeats).

Every figure is labelled. *measured*: wall clock on this machine (tokens/s, LM compute, retrieval
latency and wait, retrieval share of step time, overlap achieved; CPU seconds of the LM's process and of
the service's processes per run, which a loaded machine disturbs less than wall clock). For emulated backends the measured
retrieval time is the emulator's own speed (the golden model plus the hardware model, in Python), not
the hardware's; their *modeled* figures are the device makespan per request (max over memory nodes,
naming the modeled configuration) and the throughput it implies without overlap:
tokens / (measured LM compute + modeled device time) -- network and coordinator time excluded.

Deployment (``--deploy``): ``process`` (default) starts the retrieval service as separate processes on
loopback (``retrieval_service.cluster.Cluster``: ``--shards`` memory nodes per datastore, each scanning
with one compute thread, and a coordinator), the way a disaggregated deployment runs it, so the LM's
interpreter (GIL) is its own; on a 2-core machine the processes still share the cores with the LM.
``local`` runs the coordinator and memory nodes inside this process
(``retrieval_service.local.LocalCluster``): their scans share the GIL with the LM, which makes overlap
slow generation down rather than speed it up.

Writes ``ralm_bench.json`` and ``ralm_tokens_per_s.png`` under ``--out``.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from ivfpq.errors import HwragError

from .table import format_table, print_result

log = logging.getLogger(__name__)

EMULATED = ("fpga", "pim-hbm", "pim-dimm")
DEPLOYMENTS = {
    "process": "separate processes on loopback gRPC (a coordinator and memory nodes, 1 compute thread each)",
    "local": "in-process (coordinator and memory nodes share the LM's interpreter), loopback gRPC",
}


@dataclass
class RalmBenchConfig:
    """The RALM benchmark's one configuration, whichever front-end runs it (``hwrag bench ralm``,
    ``python -m bench.ralm_bench``, or :func:`run`): their flags map onto these fields."""
    backends: tuple[str, ...] = ("cpu", "fpga")
    modes: tuple[str, ...] = ("chunk", "token")  # RALM modes measured beside retrieval off
    batch: int = 8
    new_tokens: int = 32
    sub_batches: int = 2
    shards: int = 2  # memory nodes per datastore
    threads: int = 1  # torch/faiss/numba threads (a 2-thread torch pool stalls on a shared 2-core machine)
    model: str | None = None
    chunk_interval: int = 16
    knn_interval: int = 1
    seed: int = 0
    repeats: int = 3  # runs per configuration (the median is reported)
    deploy: str = "process"
    transport: str = "stream"  # the LM's searches: on one SearchStream session ("stream") or a Search call each
    chunk_min_context: int | None = None  # None: ChunkRALMConfig's default
    full: bool = False  # kNN-LM store over the whole training text (default: the demo size)
    out: str = "report/bench"


def cluster_config(stores: dict, backend: str, shards: int):
    """A :class:`ClusterConfig`: one ``[[index]]`` per datastore, ``shards`` memory nodes each, on ``backend``."""
    from retrieval_service.config import ClusterConfig, CoordinatorSection, IndexSection

    ix = [IndexSection(name=ds.index_name, path=str(ds.path), payloads=str(ds.payload_path), backend=backend,
                       shards=shards, compute_threads=1) for ds in stores.values()]
    return ClusterConfig(CoordinatorSection(listen="127.0.0.1:0", default_deadline_s=120.0), index=ix)


@contextmanager
def service(stores: dict, backend: str, shards: int, deploy: str = "process", transport: str = "stream"):
    """A retriever connected to a service for ``stores`` on ``backend``, deployed as ``deploy``, searching on
    ``transport`` (``llm_client.retrieval.Retriever``)."""
    if deploy == "local":
        from llm_client.datastore import to_serve
        from llm_client.retrieval import connect
        from retrieval_service.local import LocalCluster

        with LocalCluster(to_serve(stores), nshards=shards, backend=backend) as c, \
                connect(c.address, stores, transport=transport) as r:
            yield r
    elif deploy == "process":
        from llm_client.retrieval import connect
        from retrieval_service.cluster import Cluster

        with Cluster(cluster_config(stores, backend, shards)) as cluster:
            with connect(cluster.address, stores, transport=transport) as retriever:
                retriever.wait_ready()
                yield retriever
    else:
        raise HwragError(f"unknown deployment {deploy!r}; accepted: {', '.join(DEPLOYMENTS)}")


def _prompts(n: int) -> list[str]:
    from llm_client.corpus import corpus_text

    docs = [d for d in corpus_text("heldout").split("\n\n") if len(d) > 60]
    return [d[:48] for d in docs[:n]]


def _available(backends: list[str]) -> list[str]:
    from retrieval_service.backends import available_backends

    have = set(available_backends())
    out = []
    for b in backends:
        if b in have:
            out.append(b)
        else:
            log.warning("backend %r is not available here (have: %s); skipped", b, ", ".join(sorted(have)))
    return out


def _cpu_seconds() -> tuple[float, dict]:
    """CPU seconds (measured) of this process, all its threads, by the process CPU clock (nanoseconds:
    ``/proc``'s 10 ms ticks would read a short generation as 0), and per child process (the service, when
    deployed as processes; in-process it counts in the first figure) its threads' on-CPU seconds."""
    import psutil

    kids = {}
    for k in psutil.Process().children(recursive=True):
        try:
            kids[k.pid] = _thread_cpu_seconds(k)
        except (psutil.Error, OSError):  # a child that ended
            pass
    return time.process_time(), kids


def _thread_cpu_seconds(proc) -> dict:
    """``{thread id: on-CPU seconds}`` of a process (:func:`bench.timing.thread_cpu_seconds`), or
    ``{0: user + system}`` from psutil where the system has no ``/proc`` (clock ticks)."""
    from .timing import thread_cpu_seconds

    out = thread_cpu_seconds(proc.pid)
    if not out:
        t = proc.cpu_times()
        out = {0: t.user + t.system}
    return out


def _children_cpu_delta(before: dict, after: dict) -> float:
    """CPU seconds the child processes spent between two :func:`_cpu_seconds` readings: per thread, so a
    thread that starts counts from zero and one that ends only loses its last stretch (never negative)."""
    return sum(max(0.0, sec - before.get(pid, {}).get(tid, 0.0))
               for pid, threads in after.items() if pid in before for tid, sec in threads.items())


def _row(backend: str, res, lm_name: str) -> dict:
    s = res.summary()
    row = {"backend": backend, "mode": s["mode"], "overlap": s["overlap"] if s["mode"] != "none" else None,
           "tokens_per_s": s["tokens_per_s"], "wall_s": s["wall_s"], "lm_compute_s": s["lm_compute_s"],
           "retrieval_latency_s": s["retrieval_latency_s"], "retrieval_wait_s": s["retrieval_wait_s"],
           "retrieval_share_of_step_time": s["retrieval_share_of_step_time"],
           "overlap_achieved": s["overlap_achieved"] if s["mode"] != "none" and s["overlap"] else None,
           "retrievals": s["retrievals"], "new_tokens": s["new_tokens"], "provenance": "measured",
           "model": lm_name}
    if s["modeled_device_s"] > 0 and not s["overlap"]:
        row["modeled"] = {
            "provenance": "modeled", "config": s["modeled_config"],
            "device_time_s": s["modeled_device_s"],
            "tokens_per_s_no_overlap": s["new_tokens"] / (s["lm_compute_s"] + s["modeled_device_s"]),
            "retrieval_share_no_overlap": s["modeled_device_s"] / (s["lm_compute_s"] + s["modeled_device_s"]),
            "note": "measured LM compute + modeled device makespan; network and coordinator excluded"}
    return row


def _median(runs: list[dict]) -> dict:
    """The median run (by tokens/s), with every run's tokens/s beside it."""
    runs = sorted(runs, key=lambda r: r["tokens_per_s"])
    row = runs[len(runs) // 2]
    row["tokens_per_s_runs"] = [r["tokens_per_s"] for r in runs]
    return row


def _interleaved(generate, backend: str, cases: list[tuple[str, bool]], repeats: int, lm_name: str) -> list[dict]:
    """Each case's median of ``repeats``, the cases run in turn in every repeat (a drift in the machine's
    load falls on all of them alike); tokens/s relative to the block's retrieval-off case, as medians and
    paired within each repeat. ``generate(mode, overlap)`` runs one generation."""
    runs: dict = {case: [] for case in cases}
    for _ in range(repeats):
        for mode, overlap in cases:
            before = _cpu_seconds()
            row = _row(backend, generate(mode, overlap), lm_name)
            after = _cpu_seconds()
            row["cpu_s_lm_process"] = after[0] - before[0]
            row["cpu_s_service"] = _children_cpu_delta(before[1], after[1])
            runs[(mode, overlap)].append(row)
    off_runs = [r["tokens_per_s"] for r in runs.get(("none", False), [])]
    out = []
    for case in cases:
        paired = [r["tokens_per_s"] / o - 1 for r, o in zip(runs[case], off_runs)]  # same repeat, back to back
        row = _median(runs[case])
        for key in ("cpu_s_lm_process", "cpu_s_service"):  # medians of their own (less disturbed by load)
            row[key + "_runs"] = [r[key] for r in runs[case]]
            row[key] = statistics.median(row[key + "_runs"])
        row["vs_retrieval_off_paired_runs"] = paired
        row["vs_retrieval_off_paired"] = statistics.median(paired) if paired else None
        out.append(row)
    off = next((r["tokens_per_s"] for r in out if r["mode"] == "none"), None)
    for r in out:
        r["vs_retrieval_off"] = r["tokens_per_s"] / off - 1 if off else None
    return out


def run(cfg: RalmBenchConfig | None = None, lm=None, stores: dict | None = None, prompts: list[str] | None = None
        ) -> dict:
    """``lm``, ``stores`` and ``prompts`` default to SmolLM2-135M-Instruct, the demo-size datastores
    (``full``: the kNN-LM store over the whole training text) and held-out prompts (tests pass tiny
    ones). kNN-LM uses the tuned defaults of ``llm_client.defaults`` (temperature relative to the
    store's key distances)."""
    import torch
    from ivfpq.threads import set_threads
    from llm_client.chunk_ralm import ChunkRALMConfig
    from llm_client.inference_coordinator import GenerationConfig, InferenceCoordinator
    from llm_client.datastore import KnnStoreConfig, build_chunk_store, build_knn_store, demo_chunk_config
    from llm_client.defaults import DEMO_KNN_TOKENS, REPETITION_PENALTY
    from llm_client.knnlm import KnnLMConfig, tuned_config
    from llm_client.loading import load_lm

    c = cfg or RalmBenchConfig()
    if c.deploy not in DEPLOYMENTS:
        raise HwragError(f"unknown deployment {c.deploy!r}; accepted: {', '.join(DEPLOYMENTS)}")
    set_threads(c.threads)
    torch.set_num_threads(c.threads)
    if lm is None:
        lm = load_lm(c.model)
    if stores is None:
        stores = {}
        if "chunk" in c.modes:
            stores["chunk"] = build_chunk_store(demo_chunk_config(c.full))
        if "token" in c.modes:
            stores["token"] = build_knn_store(lm, KnnStoreConfig(max_tokens=0 if c.full else DEMO_KNN_TOKENS))
    knn_base = (tuned_config(stores["token"].meta["median_sq_distance"]) if "token" in stores
                and "median_sq_distance" in stores["token"].meta else KnnLMConfig())
    prompts = list(prompts) if prompts is not None else _prompts(c.batch)
    load_before = os.getloadavg()

    chunk_kw = {} if c.chunk_min_context is None else {"min_context": c.chunk_min_context}

    def generation(mode, overlap, n=c.new_tokens):
        return GenerationConfig(mode=mode, max_new_tokens=n, sub_batches=c.sub_batches, overlap=overlap, seed=c.seed,
                                repetition_penalty=REPETITION_PENALTY,
                                chunk=ChunkRALMConfig(interval=c.chunk_interval, **chunk_kw),
                                knn=KnnLMConfig(**{**knn_base.__dict__, "interval": c.knn_interval}))

    rows = []
    co = InferenceCoordinator(lm, None)
    co.generate(prompts, generation("none", False, 8))  # warm-up
    for backend in _available(list(c.backends)):
        log.info("backend %s: starting the service, %s (%d memory nodes per datastore)", backend,
                 DEPLOYMENTS[c.deploy], c.shards)
        with service(stores, backend, c.shards, c.deploy, c.transport) as retriever:
            co = InferenceCoordinator(lm, retriever)
            modes = [m for m in c.modes if m in stores]
            for mode in modes:
                co.generate(prompts, generation(mode, True, 4))  # warm-up: encoder, JIT, channels
            t = time.perf_counter()
            cases = [("none", False)] + [(m, o) for m in modes for o in (False, True)]
            rows += _interleaved(lambda mode, overlap: co.generate(prompts, generation(mode, overlap)), backend,
                                 cases, c.repeats, lm.name)
            log.info("%s: %.1f s", backend, time.perf_counter() - t)
    return {
        "bench": "ralm", "provenance": "measured unless a figure says modeled",
        "setup": {"batch": c.batch, "new_tokens": c.new_tokens, "sub_batches": c.sub_batches,
                  "memory_nodes_per_store": c.shards, "threads": c.threads, "repeats": c.repeats,
                  "chunk_interval": c.chunk_interval, "knn_interval": c.knn_interval,
                  "knn_k": knn_base.k, "knn_nprobe": knn_base.nprobe, "knn_lambda": knn_base.lam,
                  "knn_temperature": knn_base.temperature, "chunk_k": ChunkRALMConfig().k,
                  "chunk_min_context": ChunkRALMConfig(**chunk_kw).min_context,
                  "model": lm.name, "device": str(lm.device), "deployment": c.deploy, "transport": c.transport,
                  "deployment_note": DEPLOYMENTS[c.deploy],
                  "stores": {k: {"index": v.index_name, "ntotal": v.meta["ntotal"], "d": v.meta["d"]}
                             for k, v in stores.items()}},
        "config": asdict(c),
        "machine": {"cpus": os.cpu_count(), "loadavg_before": list(load_before), "loadavg_after": list(os.getloadavg())},
        "rows": rows,
    }


def table(result: dict) -> str:
    cols = ["backend", "mode", "overlap", "tokens_per_s", "vs_retrieval_off", "vs_retrieval_off_paired",
            "cpu_s_lm_process", "cpu_s_service",
            "lm_compute_s", "retrieval_latency_s", "retrieval_wait_s",
            "retrieval_share_of_step_time", "overlap_achieved"]
    heads = ["backend", "mode", "overlap", "tok/s", "vs off", "vs off (paired)", "LM proc CPU s", "service CPU s", "LM s", "retr lat s", "retr wait s", "retr share", "overlap"]
    su, m = result["setup"], result["machine"]
    out = [f"RALM generation (measured, wall clock on this machine); service: {su['deployment']} -- "
           f"{su.get('deployment_note', '')}; searches on {su.get('transport', 'unary')}",
           f"  batch {su['batch']}, {su['new_tokens']} new tokens, {su['sub_batches']} sub-batches, "
           f"{su['memory_nodes_per_store']} memory nodes per store, LM threads {su['threads']}, median of "
           f"{su['repeats']}; load average (1/5/15 min) before {'/'.join(f'{x:.2f}' for x in m['loadavg_before'])}, "
           f"after {'/'.join(f'{x:.2f}' for x in m['loadavg_after'])}",
           format_table(result["rows"], cols, heads)]
    mod = [r for r in result["rows"] if "modeled" in r]
    if mod:
        out.append("modeled (emulated backends, no overlap: measured LM compute + modeled device makespan)")
        for r in mod:
            m = r["modeled"]
            out.append(f"  {r['backend']:<8} {r['mode']:<6} device {m['device_time_s']:.3g} s"
                       f"  -> {m['tokens_per_s_no_overlap']:.3g} tok/s, retrieval share {m['retrieval_share_no_overlap']:.3g}"
                       f"  [{m['config']}]")
    return "\n".join(out)


def write_report(result: dict, out: Path) -> list[Path]:
    from .plots import bar_plot

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    j = out / "ralm_bench.json"
    j.write_text(json.dumps(result, indent=1, default=float))
    rows = [r for r in result["rows"]]
    labels = [f"{r['backend']} {r['mode']}" + ("" if r["overlap"] is None else (" ovl" if r["overlap"] else " seq"))
              for r in rows]
    png = bar_plot(labels, {"tokens/s (measured)": [r["tokens_per_s"] for r in rows]}, out / "ralm_tokens_per_s.png",
                   f"RALM generation, batch {result['setup']['batch']}, {result['setup']['model']}", "tokens/s",
                   note=f"measured, wall clock on this machine; service: {result['setup']['deployment']}")
    return [j, png]


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The flags of both front-ends, defaulting to :class:`RalmBenchConfig`'s fields."""
    d = RalmBenchConfig()
    p.add_argument("--backends", default=",".join(d.backends),
                   help="comma-separated (cpu, cpu-faiss, fpga, pim-hbm, pim-dimm)")
    p.add_argument("--modes", default=",".join(d.modes), help="comma-separated RALM modes (chunk, token) beside "
                   "retrieval off")
    p.add_argument("--batch", type=int, default=d.batch)
    p.add_argument("--new-tokens", type=int, default=d.new_tokens)
    p.add_argument("--sub-batches", type=int, default=d.sub_batches)
    p.add_argument("--shards", type=int, default=d.shards, help="memory nodes per datastore")
    p.add_argument("--threads", type=int, default=d.threads,
                   help=f"torch/faiss/numba threads (default {d.threads}: a 2-thread torch pool stalls on a shared "
                        "2-core machine)")
    p.add_argument("--model", default=d.model, help="default smollm2 (SmolLM2-135M-Instruct); see hwrag generate --help")
    p.add_argument("--full", action="store_true", help="kNN-LM store over the whole training text (default: demo size)")
    p.add_argument("--deploy", choices=sorted(DEPLOYMENTS), default=d.deploy,
                   help="process: coordinator and memory nodes as separate processes (default); "
                        "local: in this process (they share the LM's GIL)")
    p.add_argument("--transport", choices=("stream", "unary"), default=d.transport,
                   help="the LM's searches on one SearchStream session per service (stream, the default) or a "
                        "Search call each (unary)")
    p.add_argument("--chunk-interval", type=int, default=d.chunk_interval)
    p.add_argument("--knn-interval", type=int, default=d.knn_interval)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--repeats", type=int, default=d.repeats, help="runs per configuration (the median is reported)")
    p.add_argument("--chunk-min-context", type=int, default=d.chunk_min_context,
                   help="tokens of own context chunk RALM always keeps (default: ChunkRALMConfig's)")
    p.add_argument("--out", default=d.out, help="directory for ralm_bench.json and the plot")
    p.add_argument("--json", action="store_true", help="print the JSON instead of the table")


def config_from_args(a) -> RalmBenchConfig:
    vals = {f.name: getattr(a, f.name) for f in fields(RalmBenchConfig)}
    vals["backends"] = tuple(b for b in a.backends.split(",") if b)
    vals["modes"] = tuple(m for m in a.modes.split(",") if m)
    bad = set(vals["modes"]) - {"chunk", "token"}
    if bad:
        raise HwragError(f"--modes {a.modes!r}; accepted: chunk, token (comma-separated)")
    return RalmBenchConfig(**vals)


def run_from_args(a) -> int:
    cfg = config_from_args(a)
    res = run(cfg)
    paths = write_report(res, Path(cfg.out))
    print_result(res, paths, a.json, table)
    return 0


def main(argv: list[str] | None = None) -> int:
    from ivfpq.errors import module_main

    return module_main("python -m bench.ralm_bench", __doc__.split("\n")[0], add_arguments, run_from_args, argv)


if __name__ == "__main__":
    sys.exit(main())

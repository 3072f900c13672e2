"""``python -m bench.knnlm_exact``: kNN-LM perplexity with the service's approximate retrieval (IVF-PQ
through a local cluster of memory nodes, at several nprobe) beside exact search over the same
full-precision keys (brute force, checked against faiss's IndexFlatL2) and IVF-PQ candidates re-ranked
by their exact distances -- so that retrieval error and the method's own limit are told apart.

For each neighbour source, λ, k and temperature are chosen on the corpus's validation slice (a grid,
the temperature relative to the store's median squared key distance) and the chosen setting is reported
on the test slice (never tuned there). Every figure is measured on this machine; one LM pass per slice
is shared by all sources (the plain LM's perplexity is the same for all). Deterministic: scoring only,
the store's k-means seeded (``--seed``).

    python -m bench.knnlm_exact --full --json       # the whole training text as the store (346,590 keys)
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from .table import format_table

log = logging.getLogger(__name__)

EXACT = "exact (brute force)"


@dataclass
class KnnExactConfig:
    full: bool = False  # the store over the whole training text (default: the demo size)
    max_tokens: int = 4096  # tokens of the validation slice and of the test slice
    nprobes: tuple[int, ...] = (16, 64, 256)
    rerank_nprobe: int = 64  # IVF-PQ candidates at this nprobe, re-ranked by exact distance
    rerank_candidates: int = 256
    shards: int = 2
    threads: int = 2  # faiss/numba threads (torch: 1)
    seed: int = 0
    model: str | None = None
    out: str = "report/bench"


def _exact(keys, hidden, K: int):
    """Exact K nearest keys by squared L2 (brute force, float32 matmul in blocks of queries): faiss's
    IndexFlatL2 gives the same neighbours (checked on a sample, :func:`_faiss_agreement`) but keeps a
    K-heap per query that makes K = 128 over 346k keys take minutes here."""
    import numpy as np
    import torch

    X = torch.from_numpy(np.ascontiguousarray(keys, dtype=np.float32))
    xx = (X * X).sum(1)
    ds, ids = [], []
    for a in range(0, len(hidden), 256):
        Q = torch.from_numpy(np.ascontiguousarray(hidden[a:a + 256], dtype=np.float32))
        d = (Q * Q).sum(1)[:, None] + xx[None] - 2 * Q @ X.T
        v, i = torch.topk(d, K, dim=1, largest=False, sorted=True)
        ds.append(v.double().clamp(min=0))
        ids.append(i)
    return torch.cat(ds), torch.cat(ids)


def _faiss_agreement(keys, hidden, ids, n: int = 32, k: int = 16) -> float:
    """Share of the top-k ids of :func:`_exact` that faiss's IndexFlatL2 also returns, on n queries."""
    import faiss
    import numpy as np

    index = faiss.IndexFlatL2(keys.shape[1])
    index.add(np.ascontiguousarray(keys, dtype=np.float32))
    _, fi = index.search(np.ascontiguousarray(hidden[:n], dtype=np.float32), k)
    return float(np.mean([len(set(a) & set(b)) / k for a, b in zip(fi, ids[:n, :k].numpy())]))


def _rerank(keys, hidden, cand_ids, K: int):
    """The candidates' exact squared distances, nearest K first (missing ids -1 stay last)."""
    import numpy as np
    import torch

    ids = cand_ids.numpy()
    d = np.empty(ids.shape, np.float64)
    for a in range(0, len(ids), 128):  # (128, C', d) at a time
        kv = keys[np.clip(ids[a:a + 128], 0, None)].astype(np.float32)
        d[a:a + 128] = ((kv - hidden[a:a + 128, None, :].astype(np.float32)) ** 2).sum(-1)
    d[ids < 0] = np.inf
    order = np.argsort(d, axis=1, kind="stable")[:, :K]
    return torch.from_numpy(np.take_along_axis(d, order, 1)), torch.from_numpy(np.take_along_axis(ids, order, 1))


def _service_neighbours(retriever, hidden, K: int, nprobe: int):
    """Distances, ids and next tokens (−1: none) from the service."""
    import numpy as np
    import torch

    from llm_client.datastore import payload_token

    ds, ids, nx = [], [], []
    for q0 in range(0, len(hidden), 512):
        r = retriever.search("token", hidden[q0:q0 + 512], K, nprobe).result
        i = torch.from_numpy(np.asarray(r.ids, dtype=np.int64)).reshape(-1, K)
        t = torch.tensor([[payload_token(p) for p in row] for row in r.payloads], dtype=torch.long).reshape(-1, K)
        t[i < 0] = -1
        ds.append(torch.from_numpy(np.asarray(r.distances, dtype=np.float64)).reshape(-1, K))
        ids.append(i)
        nx.append(t)
    return torch.cat(ds), torch.cat(ids), torch.cat(nx)


def _recall(ids, exact_ids, k: int) -> float:
    import numpy as np

    a, b = ids[:, :k].numpy(), exact_ids[:, :k].numpy()
    return float(np.mean([len(set(x) & set(y)) / k for x, y in zip(a, b)]))


def _score(p: dict, d, nxt, kcfg: dict, dist_scale: float) -> float:
    from llm_client.knnlm import interpolate_target, knn_target_log_probs

    k = kcfg["k"]
    klp, valid = knn_target_log_probs(d[:, :k], nxt[:, :k], p["targets"], kcfg["temperature_rel"] * dist_scale)
    return math.exp(-float(interpolate_target(p["lp"], klp, kcfg["lam"], valid).mean()))


def _sources(c: KnnExactConfig, keys, values, passes: dict, retriever) -> dict:
    """{source name: {split: (distances, ids, next tokens)}} for exact search, IVF-PQ per nprobe and re-ranked."""
    import torch

    from llm_client.evaluate import KnnGrid

    K = max(KnnGrid().k)
    vals = torch.from_numpy(values)
    out: dict = {EXACT: {}}
    for split, p in passes.items():
        t = time.perf_counter()
        d, i = _exact(keys, p["hidden"], K)
        out[EXACT][split] = (d, i, torch.where(i >= 0, vals[i.clamp(min=0)], -1))
        log.info("exact search, %s: %.1f s", split, time.perf_counter() - t)
        for nprobe in sorted(set(c.nprobes) | {c.rerank_nprobe}):
            t = time.perf_counter()
            kk = max(K, c.rerank_candidates) if nprobe == c.rerank_nprobe else K
            d, i, n = _service_neighbours(retriever, p["hidden"], kk, nprobe)
            log.info("service nprobe %d, %s: %.1f s", nprobe, split, time.perf_counter() - t)
            if nprobe in c.nprobes:
                out.setdefault(f"ivfpq nprobe {nprobe}", {})[split] = (d[:, :K], i[:, :K], n[:, :K])
            if nprobe == c.rerank_nprobe:
                rd, ri = _rerank(keys, p["hidden"], i, K)
                out.setdefault(f"ivfpq nprobe {nprobe}, top {kk} re-ranked exactly", {})[split] = (
                    rd, ri, torch.where(ri >= 0, vals[ri.clamp(min=0)], -1))
    return out


def run(c: KnnExactConfig) -> dict:
    import numpy as np
    import torch
    from ivfpq.threads import set_threads

    from llm_client.corpus import corpus_text
    from llm_client.datastore import KnnStoreConfig, build_knn_store, knn_keys_path, to_serve
    from llm_client.defaults import DEMO_KNN_TOKENS
    from llm_client.evaluate import EvalConfig, KnnGrid, grid_search, heldout_tokens, lm_pass
    from llm_client.loading import load_lm
    from llm_client.retrieval import connect
    from retrieval_service.local import LocalCluster

    set_threads(c.threads, torch_threads=1)
    torch.manual_seed(c.seed)
    load_before = os.getloadavg()
    lm = load_lm(c.model, progress=False)
    store = build_knn_store(lm, KnnStoreConfig(max_tokens=0 if c.full else DEMO_KNN_TOKENS, seed=c.seed),
                            keep_keys=True)
    keys = np.load(knn_keys_path(store))
    toks = np.asarray(lm.tokenizer.encode(corpus_text("train")), dtype=np.int64)
    values = toks[1:len(keys) + 1]
    scale = store.meta["median_sq_distance"]
    passes = {s: lm_pass(lm, heldout_tokens(lm, c.max_tokens, split=s), EvalConfig(mode="token"), True)
              for s in ("validation", "test")}
    with LocalCluster(to_serve({"token": store}), nshards=c.shards, backend="cpu") as cl, \
            connect(cl.address, {"token": store}) as r:
        src = _sources(c, keys, values, passes, r)
    grid = KnnGrid()
    none = {s: math.exp(-float(p["lp"].mean())) for s, p in passes.items()}
    exact_ids = src[EXACT]["test"][1]
    faiss_check = _faiss_agreement(keys, passes["test"]["hidden"], exact_ids)
    rows = []
    for name, per in src.items():
        v = per["validation"]
        best = min(grid_search(passes["validation"]["lp"], passes["validation"]["targets"], v[0], v[2], scale, grid),
                   key=lambda x: x["perplexity"])
        test = _score(passes["test"], per["test"][0], per["test"][2], best, scale)
        rows.append({"neighbours": name, "recall_at_64_vs_exact": _recall(per["test"][1], exact_ids, 64),
                     "k": best["k"], "lambda": best["lam"], "temperature_rel": best["temperature_rel"],
                     "validation_ppl_none": none["validation"], "validation_ppl_knnlm": best["perplexity"],
                     "test_ppl_none": none["test"], "test_ppl_knnlm": test, "test_change": test / none["test"] - 1,
                     "provenance": "measured"})
    return {"bench": "knnlm_exact", "config": asdict(c), "model": lm.name, "dtype": str(lm.dtype),
            "store": {"index": store.index_name, "ntotal": store.meta["ntotal"], "nlist": store.meta["nlist"],
                      "M": store.meta["config"]["M"], "median_sq_distance": scale},
            "tokens": {s: int(len(p["targets"])) for s, p in passes.items()},
            "exact_vs_faiss_flat_top16_agreement": faiss_check,
            "machine": {"cpus": os.cpu_count(), "loadavg_before": list(load_before),
                        "loadavg_after": list(os.getloadavg())},
            "rows": rows}


def table(res: dict) -> str:
    st, m = res["store"], res["machine"]
    head = (f"kNN-LM, {res['model']} ({res['dtype']}), store {st['ntotal']:,} keys IVF{st['nlist']},PQ{st['M']}; "
            f"λ/k/temperature chosen on {res['tokens']['validation']} validation tokens, perplexity on "
            f"{res['tokens']['test']} test tokens (measured); load average before "
            f"{'/'.join(f'{x:.2f}' for x in m['loadavg_before'])}, after {'/'.join(f'{x:.2f}' for x in m['loadavg_after'])}")
    cols = ["neighbours", "recall_at_64_vs_exact", "k", "lambda", "temperature_rel", "validation_ppl_none",
            "validation_ppl_knnlm", "test_ppl_none", "test_ppl_knnlm", "test_change"]
    return head + "\n" + format_table(res["rows"], cols)


def main(argv: list[str] | None = None) -> int:
    from ivfpq.errors import CommandParser, quiet_library_loggers, run_command

    d = KnnExactConfig()
    p = CommandParser(prog="python -m bench.knnlm_exact", description=__doc__.split("\n")[0])
    p.add_argument("--full", action="store_true", help="the store over the whole training text (default: demo size)")
    p.add_argument("--max-tokens", type=int, default=d.max_tokens, help="validation and test tokens each")
    p.add_argument("--nprobe", type=int, nargs="+", default=list(d.nprobes))
    p.add_argument("--rerank-nprobe", type=int, default=d.rerank_nprobe)
    p.add_argument("--rerank-candidates", type=int, default=d.rerank_candidates)
    p.add_argument("--threads", type=int, default=d.threads)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--model", default=d.model)
    p.add_argument("--out", default=d.out)
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    quiet_library_loggers()

    def go() -> int:
        c = KnnExactConfig(full=a.full, max_tokens=a.max_tokens, nprobes=tuple(a.nprobe), rerank_nprobe=a.rerank_nprobe,
                           rerank_candidates=a.rerank_candidates, threads=a.threads, seed=a.seed, model=a.model,
                           out=a.out)
        res = run(c)
        out = Path(c.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "knnlm_exact.json").write_text(json.dumps(res, indent=1, default=float))
        print(json.dumps(res, indent=1, default=float) if a.json else table(res))
        print(f"wrote {out / 'knnlm_exact.json'}", file=sys.stderr)
        return 0

    return run_command(go)


if __name__ == "__main__":
    sys.exit(main())

"""``python -m bench.ralm_cuda``: SmolLM2-135M-Instruct RALM on a CUDA device, one prepared run for a
machine with a GPU (it refuses to run without one; no test depends on it).

Side by side in one run, all measured (wall clock, ``torch.cuda.synchronize`` around the LM):
  - kNN-LM key collection throughput on the GPU (keys/s) for the demo-size or --full store;
  - generation tokens/s with retrieval off, chunk RALM and kNN-LM (overlap on), batch ``--batch``;
  - the retrieval coordinator's IVF list selection on the CPU (faiss) and with ``list_selection="torch"``
    (centroid distances on CUDA), each for the kNN-LM store's queries: measured Search latency and the
    coordinator's own ``list_selection`` stage figure;
  - held-out perplexity none / chunk / token on the test slice.

    python -m bench.ralm_cuda --out report/cuda [--full] [--batch 16] [--new-tokens 64]

Writes ``ralm_cuda.json`` under ``--out`` and prints a table.
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from ivfpq.errors import CommandParser, HwragError


def _sync():
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def _search_latency(stores: dict, selection: str, hidden, k: int, nprobe: int, repeats: int = 20) -> dict:
    from llm_client.datastore import to_serve
    from llm_client.retrieval import connect
    from retrieval_service.coordinator import CoordinatorConfig
    from retrieval_service.local import LocalCluster

    token = {"token": stores["token"]}
    with LocalCluster(to_serve(token), nshards=2, config=CoordinatorConfig(list_selection=selection)) as c, \
            connect(c.address, token) as r:
        r.search("token", hidden[:1], k, nprobe)  # warm
        lat, stage = [], []
        for _ in range(repeats):
            t = r.search("token", hidden, k, nprobe)
            lat.append(t.latency_s)
            stage += [f.value for f in t.result.timing if f.stage == "select"]
    lat.sort()
    return {"list_selection": selection, "queries_per_call": len(hidden), "search_p50_s": lat[len(lat) // 2],
            "select_stage_mean_s": sum(stage) / len(stage) if stage else None, "provenance": "measured"}


def run(full: bool, batch: int, new_tokens: int, ppl_tokens: int) -> dict:
    import numpy as np
    import torch

    from llm_client.inference_coordinator import GenerationConfig, InferenceCoordinator
    from llm_client.corpus import corpus_text
    from llm_client.datastore import (KnnStoreConfig, build_chunk_store, build_knn_store, collect_keys,
                                      demo_chunk_config, to_serve)
    from llm_client.defaults import DEMO_KNN_TOKENS, REPETITION_PENALTY
    from llm_client.evaluate import EvalConfig, heldout_tokens, perplexities
    from llm_client.knnlm import tuned_config
    from llm_client.loading import load_lm
    from llm_client.retrieval import connect
    from retrieval_service.local import LocalCluster

    if not torch.cuda.is_available():
        raise HwragError("bench.ralm_cuda needs a CUDA device; none is visible here")
    out = {"device": torch.cuda.get_device_name(0), "loadavg_before": list(os.getloadavg())}
    t = time.perf_counter()
    lm = load_lm(device="cuda")
    out["model"], out["model_load_s"] = lm.describe(), time.perf_counter() - t
    toks = np.asarray(lm.tokenizer.encode(corpus_text("train")), dtype=np.int64)[:8193]
    collect_keys(lm, toks[:1025], progress=False)  # warm
    _sync()
    t = time.perf_counter()
    collect_keys(lm, toks, batch_size=64, progress=False)
    _sync()
    out["keys_per_s"] = 8192 / (time.perf_counter() - t)
    stores = {"chunk": build_chunk_store(demo_chunk_config(full)),
              "token": build_knn_store(lm, KnnStoreConfig(max_tokens=0 if full else DEMO_KNN_TOKENS, batch_size=64))}
    knn = tuned_config(stores["token"].meta["median_sq_distance"])
    prompts = [d[:60] for d in corpus_text("test").split("\n\n") if len(d) > 80][:batch]
    with LocalCluster(to_serve(stores), nshards=2) as c, connect(c.address, stores) as r:
        co = InferenceCoordinator(lm, r)
        co.generate(prompts[:2], GenerationConfig(mode="chunk", max_new_tokens=2))  # warm
        out["generation"] = []
        for mode in ("none", "chunk", "token"):
            res = co.generate(prompts, GenerationConfig(mode=mode, max_new_tokens=new_tokens, knn=knn,
                                                        repetition_penalty=REPETITION_PENALTY))
            out["generation"].append(res.summary() | {"sample": prompts[0] + res.texts[0]})
        test = heldout_tokens(lm, ppl_tokens, split="test")
        out["perplexity"] = perplexities(lm, test, ["none", "chunk", "token"], EvalConfig(knn=knn, batch_size=32),
                                         retriever=r, progress=False)
    hidden = lm.last([lm.tokenizer.encode(p) for p in prompts])[1].cpu().numpy()
    out["list_selection"] = [_search_latency(stores, sel, hidden, knn.k, knn.nprobe) for sel in ("cpu", "torch")]
    out["loadavg_after"] = list(os.getloadavg())
    return out


def main(argv: list[str] | None = None) -> int:
    p = CommandParser(prog="python -m bench.ralm_cuda", description=__doc__.split("\n")[0])
    p.add_argument("--full", action="store_true", help="kNN-LM store over the whole training text")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--new-tokens", type=int, default=64)
    p.add_argument("--ppl-tokens", type=int, default=4096)
    p.add_argument("--out", default="report/cuda")
    a = p.parse_args(argv)
    try:
        res = run(a.full, a.batch, a.new_tokens, a.ppl_tokens)
    except HwragError as e:
        print(f"bench.ralm_cuda: error: {e}", file=sys.stderr)
        return 2
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "ralm_cuda.json").write_text(json.dumps(res, indent=1, default=float))
    from .table import format_table

    print(f"{res['device']}: {res['keys_per_s']:.0f} kNN-LM keys/s (measured)")
    print(format_table([{k: g[k] for k in ("mode", "new_tokens", "tokens_per_s", "retrieval_wait_s")} for g in res["generation"]]))
    print(format_table([{"mode": r["mode"], "perplexity": r["perplexity"]} for r in res["perplexity"]]))
    print(format_table(res["list_selection"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())

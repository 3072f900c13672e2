"""The demo's RALM part, through the gRPC service: SmolLM2-135M-Instruct with retrieval off, chunk RALM
(MiniLM passages of Python's documentation placed before the context) and kNN-LM (SmolLM2's own
hidden states over the documentation's training text) side by side.

1. kNN-LM λ, k and temperature chosen on the validation slice of the held-out documents;
2. perplexity per mode on the test slice (other held-out documents, never in a datastore);
3. the same prompts in each mode: text, tokens/s, how repetitive;
   and chunk mode on a short skewed stream of those prompts, one request at a time, with the KV
   knowledge cache off and on (``--kv-cache-mb``): time to first token, hit rate, same tokens;
4. one question whose answer is in the corpus, asked in the model's chat template without and with
   retrieved passages (dense, and dense fused with BM25), with the passages' sources, whether the answer's passage was retrieved and
   whether the answer holds the reference answer.

Every figure is measured (wall clock on this machine).
"""
from __future__ import annotations

import logging

log = logging.getLogger(__name__)

# everyday prompts about the corpus's subject (Python)
PROMPTS = ("To read a file line by line in Python,", "A dictionary maps keys to",
           "The with statement is used to", "When a generator function is called, it")
# its answer is in the documentation (topic "nonlocal" in the chunk store): the statement makes the listed
# identifiers refer to previously bound variables in the nearest enclosing scope excluding globals
QUESTION = "What does the nonlocal statement do in Python?"
QUESTION_ANSWERS = ["refer to previously bound variables in the nearest enclosing scope", "nearest enclosing scope"]
QUESTION_SOURCE = "topic:nonlocal"
GEN_MODES = ("none", "chunk", "token")


def _generate(co, prompts, mode: str, max_new_tokens: int, knn) -> dict:
    from llm_client.inference_coordinator import GenerationConfig
    from llm_client.defaults import REPETITION_PENALTY
    from llm_client.repetition import repetition

    res = co.generate(list(prompts), GenerationConfig(mode=mode, max_new_tokens=max_new_tokens, knn=knn,
                                                      repetition_penalty=REPETITION_PENALTY))
    return {"summary": res.summary(),
            "samples": [{"prompt": p, "continuation": t} | repetition(t) for p, t in zip(res.prompts, res.texts)]}


def _ask(co, mode: str, max_new_tokens: int, hybrid: bool = False) -> dict:
    """The question in the chat template (chunk mode: with its retrieved passages, dense or fused with
    BM25 when ``hybrid``), scored, with sources."""
    from llm_client.chunk_ralm import ChunkRALMConfig
    from llm_client.inference_coordinator import GenerationConfig
    from llm_client.passages import Hit, explain
    from llm_client.qa import score
    from llm_client.sources import cite

    res = co.generate([QUESTION], GenerationConfig(mode=mode, max_new_tokens=max_new_tokens, question=True,
                                                   chunk=ChunkRALMConfig(hybrid=hybrid)))
    passages = []
    for st in res.retrievals[0][:1]:
        hits = [Hit(h["id"], h["score"], h["dense_rank"], h["bm25_rank"]) for h in st["hits"]]
        passages = [{k: v for k, v in e.items() if k != "text"} | {"cite": cite(e)}
                    for e in explain(co.stores["chunk"], hits)]
    q = {"question": QUESTION, "answers": QUESTION_ANSWERS, "source": QUESTION_SOURCE}
    full = explain(co.stores["chunk"], [Hit(p["id"], p["score"]) for p in passages]) if passages else []
    summary = res.summary() | ({"mode": "chunk+hybrid"} if hybrid else {})
    return {"summary": summary, "samples": [{"prompt": QUESTION, "continuation": res.texts[0]}],
            "sources": passages} | score(q, res.texts[0], full)


KV_STREAM = 12  # requests of the demo's skewed stream (Zipf s=1 over PROMPTS, seed 0)


def kv_cache_ttft(co_for, mb: float, new_tokens: int = 4) -> dict:
    """Chunk mode on a short Zipf stream over :data:`PROMPTS`, one request at a time, with the KV knowledge
    cache off (plain decoder), as its exact cache-off reference (segmented, nothing kept) and on (``mb``):
    mean time to first token of each (measured) and the cache's hit rate. ``co_for(cache)`` is a
    coordinator using ``cache``."""
    import statistics

    from bench.ralm_cache import zipf_stream
    from llm_client.inference_coordinator import GenerationConfig
    from llm_client.defaults import REPETITION_PENALTY
    from llm_client.kv_cache import KnowledgeCache

    gen = GenerationConfig(mode="chunk", max_new_tokens=new_tokens, sub_batches=1, repetition_penalty=REPETITION_PENALTY)
    stream = zipf_stream(KV_STREAM, len(PROMPTS), 1.0, 0)
    cache = KnowledgeCache(int(mb * 2**20))
    cos = {"off": co_for(None), "segmented": co_for(KnowledgeCache(0, fused=False)), "on": co_for(cache)}
    ttft = {k: [] for k in cos}
    toks = {k: [] for k in cos}
    for i in stream:
        for k, co in cos.items():
            res = co.generate([PROMPTS[i]], gen)
            ttft[k].append(res.summary()["ttft_s"])
            toks[k].append(res.tokens)
    st = cache.stats
    return {"requests": len(stream), "distinct_prompts": len(set(stream)), "budget_mb": mb, "policy": cache.policy,
            "ttft_off_s": statistics.fmean(ttft["off"]), "ttft_segmented_s": statistics.fmean(ttft["segmented"]),
            "ttft_on_s": statistics.fmean(ttft["on"]), "token_hit_rate": st.token_hit_rate,
            "full_hits": st.full_hits, "lookups": st.lookups, "held_mb": st.bytes / 2**20,
            "same_tokens_as_segmented": toks["on"] == toks["segmented"], "provenance": "measured"}


def ralm_through_service(address: str, lm, stores: dict, ppl_tokens: int, max_new_tokens: int,
                         kv_cache_mb: float = 0.0) -> dict:
    """Tuning, perplexity per mode, generation side by side and the question; a dict for the report."""
    from llm_client.inference_coordinator import GenerationConfig, InferenceCoordinator
    from llm_client.evaluate import EvalConfig, heldout_tokens, perplexities, tune_knn
    from llm_client.knnlm import KnnLMConfig
    from llm_client.retrieval import connect

    out = {"model": lm.name, "model_info": lm.describe(), "prompts": list(PROMPTS), "question": QUESTION}
    with connect(address, stores) as r:
        val = heldout_tokens(lm, ppl_tokens, split="validation")
        tuned = tune_knn(lm, val, r, stores["token"].meta["median_sq_distance"], progress=False)
        knn = KnnLMConfig(k=tuned["k"], lam=tuned["lam"], temperature=tuned["temperature"], nprobe=tuned["nprobe"])
        out["knn_tuning"] = {k: v for k, v in tuned.items() if k != "grid"} | {"grid_points": len(tuned["grid"])}
        test = heldout_tokens(lm, ppl_tokens, split="test")
        out["perplexity"] = perplexities(lm, test, ["none", "chunk", "token"], EvalConfig(knn=knn), retriever=r,
                                         progress=False)
        co = InferenceCoordinator(lm, r, stores=stores)
        co.generate(list(PROMPTS[:1]), GenerationConfig(mode="chunk", max_new_tokens=2))  # warm-up: MiniLM, channels
        out["generation"] = [_generate(co, PROMPTS, m, max_new_tokens, knn) for m in GEN_MODES]
        out["qa"] = [_ask(co, m, max_new_tokens, h) for m, h in (("none", False), ("chunk", False), ("chunk", True))]
        if kv_cache_mb > 0:
            out["kv_cache"] = kv_cache_ttft(lambda c: InferenceCoordinator(lm, r, stores=stores, kv_cache=c), kv_cache_mb)
    return out

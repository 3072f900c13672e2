"""The default model and datastores (cached in the user's cache; trained/built on first use: ~10 min)."""
import os

import pytest

from . import conftest


@pytest.mark.slow
def test_full_size_knnlm_beats_the_plain_lm(monkeypatch):
    from llm_client.datastore import build_knn_store
    from llm_client.evaluate import EvalConfig, heldout_tokens, perplexity
    from llm_client.lm import load_lm
    from llm_client.datastore import to_serve
    from llm_client.retrieval import connect
    from retrieval_service.local import LocalCluster

    if conftest.USER_CACHE is None:
        monkeypatch.delenv("HWRAG_CACHE", raising=False)
    else:
        monkeypatch.setenv("HWRAG_CACHE", conftest.USER_CACHE)
    lm = load_lm(device="cpu", progress=False)
    held = heldout_tokens(lm, 8192)
    stores = {"token": build_knn_store(lm, progress=False)}
    with LocalCluster(to_serve(stores), nshards=2) as c, connect(c.address, stores) as r:
        none = perplexity(lm, held, EvalConfig(mode="none"), progress=False)
        tok = perplexity(lm, held, EvalConfig(mode="token"), retriever=r, progress=False)
    print(f"\nfull-size held-out ppl ({none['tokens']} tokens): none {none['perplexity']:.3f} "
          f"token {tok['perplexity']:.3f}")
    assert tok["perplexity"] < none["perplexity"]

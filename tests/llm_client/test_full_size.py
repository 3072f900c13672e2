"""The default model and its full-size kNN-LM store (the whole training text, 346,589 keys; ~12 min of
SmolLM2 forward passes on 2 shared CPU cores the first time, cached in the user's cache): λ, k and
temperature tuned on the whole validation slice, perplexity on the whole test slice (26k tokens) at
least 10 % below the plain LM. The whole slices, not their first 4,096 tokens: those are two or three
documents (the test slice's begin with the language reference's long "strings" and "types" topics)."""
import pytest

from . import conftest


@pytest.mark.slow
@pytest.mark.timeout(3600)  # the store's first build alone is ~12 min here, past the suite's 600 s default
def test_full_size_knnlm_beats_the_plain_lm_by_ten_percent(monkeypatch):
    from llm_client.datastore import KnnStoreConfig, build_knn_store, to_serve
    from llm_client.evaluate import EvalConfig, heldout_tokens, perplexities, tune_knn
    from llm_client.knnlm import KnnLMConfig
    from llm_client.loading import load_lm
    from llm_client.retrieval import connect
    from retrieval_service.local import LocalCluster

    if conftest.USER_CACHE is None:
        monkeypatch.delenv("HWRAG_CACHE", raising=False)
    else:
        monkeypatch.setenv("HWRAG_CACHE", conftest.USER_CACHE)
    lm = load_lm(device="cpu", progress=False)
    stores = {"token": build_knn_store(lm, KnnStoreConfig(max_tokens=0), progress=False)}
    with LocalCluster(to_serve(stores), nshards=2) as c, connect(c.address, stores) as r:
        t = tune_knn(lm, heldout_tokens(lm, 0, split="validation"), r, stores["token"].meta["median_sq_distance"],
                     progress=False)
        knn = KnnLMConfig(k=t["k"], lam=t["lam"], temperature=t["temperature"])
        none, tok = perplexities(lm, heldout_tokens(lm, 0, split="test"), ["none", "token"], EvalConfig(knn=knn),
                                 retriever=r, progress=False)
    print(f"\nfull-size test-slice ppl ({none['tokens']} tokens): none {none['perplexity']:.3f} "
          f"token {tok['perplexity']:.3f} (k={knn.k}, lambda={knn.lam}, T={knn.temperature:.4g})")
    assert tok["perplexity"] <= 0.9 * none["perplexity"]

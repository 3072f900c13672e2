"""GPU inference coordinator: decoder LM, tokenizer, trainer, datastores, chunk RALM and kNN-LM.

    from llm_client.lm import load_lm
    from llm_client.datastore import build_chunk_store, build_knn_store
    from llm_client.retrieval import LocalService, connect
    from llm_client.coordinator import InferenceCoordinator, GenerationConfig
    from llm_client.evaluate import EvalConfig, heldout_tokens, perplexity

    lm = load_lm()                                   # byte-level GPT, trained and cached on first use
    stores = {"chunk": build_chunk_store(), "token": build_knn_store(lm)}   # cached IVF-PQ + payloads
    with LocalService(stores, nshards=2) as svc:     # or connect("host:port", stores)
        res = InferenceCoordinator(lm, svc.retriever).generate(["The return value"], GenerationConfig(mode="token"))
        res.texts, res.summary(), res.per_step()     # text; measured tokens/s, retrieval share, overlap
        perplexity(lm, heldout_tokens(lm, 16384), EvalConfig(mode="token"), retriever=svc.retriever)

CLI: ``add_llm_parsers(subparsers)`` in :mod:`llm_client.cli` registers ``generate`` and ``eval-ppl``.
"""

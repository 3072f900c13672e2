"""GPU inference coordinator: decoder LM, tokenizer, trainer, datastores, chunk RALM and kNN-LM.

    from llm_client.loading import load_lm
    from llm_client.datastore import build_chunk_store, build_knn_store
    from llm_client.retrieval import connect
    from llm_client.inference_coordinator import InferenceCoordinator, GenerationConfig
    from llm_client.evaluate import EvalConfig, heldout_tokens, perplexity

    lm = load_lm()                                   # SmolLM2-135M-Instruct (the default model)
    stores = {"chunk": build_chunk_store(), "token": build_knn_store(lm)}   # cached IVF-PQ + payloads
    with connect("host:port", stores) as r:          # a running Retrieval service serving the stores
        res = InferenceCoordinator(lm, r).generate(["The return value"], GenerationConfig(mode="token"))
        res.texts, res.summary(), res.per_step()     # text; measured tokens/s, retrieval share, overlap
        perplexity(lm, heldout_tokens(lm, 16384), EvalConfig(mode="token"), retriever=r)

Every store keeps where its entries came from (:mod:`.sources`: file, lines, characters, document
sha256); :mod:`.kv_cache` keeps the retrieved passages' KV state across requests in chunk mode
(``InferenceCoordinator(lm, r, kv_cache=KnowledgeCache(budget_bytes))``, bit-identical outputs);
:mod:`.loading` holds the model factory (``load_lm``), :mod:`.lm` the interface. :mod:`.passages` explains hits and fuses BM25 with the dense results; :mod:`.qa` scores
question answering (``hwrag eval-qa``).

``llm_client`` imports only the client side of ``retrieval_service`` (``client``, ``wire``, the stubs).
A local service for a test or example: ``retrieval_service.local.LocalCluster(to_serve(stores))``
(``llm_client.datastore.to_serve``). The ``hwrag generate`` / ``eval-ppl`` commands live in
:mod:`hwrag.ralm_commands`.
"""

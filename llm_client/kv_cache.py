"""A knowledge cache of retrieved chunks' KV state, reused across requests (after RAGCache, Jin et al.,
arXiv 2404.12457).

Chunk RALM places the retrieved passages before the context, so each retrieval changes the prompt's
prefix and the LM would recompute the keys and values of every retrieved token. The cache keeps them
in a prefix tree: a root per (model, dtype, device, position offset of the first chunk) -- the things
that make a KV state reusable exactly -- and below it one node per placed chunk, keyed by (chunk id,
digest of the chunk's tokens), holding the KV of that chunk's tokens *given its ancestors* (the chunks
placed before it). A request whose placed chunks share a prefix with the tree computes only the rest.

Exactness. The cache-off reference is :func:`prefill` with ``fused=False`` and no cache (the
segmented prefill: one forward pass per placed chunk over the KV of the chunks before it, then the
context over all of them; ``KnowledgeCache(0, fused=False)``). With a cache, a hit hands the stored
tensor -- the very bytes an earlier request computed with the same kernels, shapes and inputs -- where
the reference computes it again, so logits and tokens are equal bit for bit (tested on SmolLM2).
Against the one-pass prefill of the plain decoder the segmented pass differs by rounding (other matrix
shapes): measured max |logit difference| on SmolLM2 2.7e-5 in float32, 0.3 in bfloat16; see the tests.

Misses in one pass (``fused``, the default). One forward per chunk re-runs every layer's kernels per
chunk, so a miss cost ~1.4x the one-pass prefill. The fused pass computes all missing chunks and the
context in one forward: the linear layers, norms and activations over all their rows at once, the
attention segment by segment with the segmented pass's own calls (same query rows, keys up to the
segment's end, same mask). That gives every token the reference's bits exactly when a row's product
does not depend on the other rows computed with it; :func:`rows_invariant` probes that once per dtype
and thread count on the model's own weights (bfloat16 here: yes; float32: no, so float32 stays
segmented), and parts of one token (matrix-vector products) are never fused. Tested bit for bit
against HF's own forward per chunk (``tests/llm_client/test_kv_cache.py``), and every bench request is
checked against the segmented reference.

Every hit is checked before use: the node's tokens and start position equal the request's, its tensor
has the model's layer/head shape and dtype, and (``verify``) its CRC-32 equals the one taken at
insertion; a node that fails is dropped with its subtree (``stats.rejected``) and recomputed.

Memory: ``budget_bytes`` bounds the bytes of the KV tensors held (the only large objects); an insert
evicts leaves (a node's children depend on it) until it fits, and is skipped if it cannot fit without
evicting the request's own path. Policies:

- ``lru``: the leaf used longest ago goes first;
- ``pgdsf`` (prefix-aware greedy dual size frequency, RAGCache §5): priority = clock + frequency x
  cost / size, the lowest-priority leaf goes first and the clock rises to its priority (aging). The
  cost is the forward pass's multiply-adds to recompute the node, a FLOP estimate (2 x parameters per
  token plus attention over the node's prefix), not a timer, so priorities do not depend on the load.
"""
from __future__ import annotations

import hashlib
import zlib
from dataclasses import asdict, dataclass

import torch
from ivfpq.errors import HwragError

POLICIES = ("pgdsf", "lru")


@dataclass
class Segment:
    """One placed chunk: its id in the store (a label; -1 if unknown) and the tokens placed for it
    (its text, cut to the budget, and its separator)."""
    chunk_id: int
    tokens: list[int]

    @property
    def key(self) -> tuple[int, str]:
        return self.chunk_id, token_digest(self.tokens)


def token_digest(tokens: list[int]) -> str:
    return hashlib.blake2b(repr(list(tokens)).encode(), digest_size=12).hexdigest()


def _crc(kv: torch.Tensor) -> int:
    return zlib.crc32(kv.detach().contiguous().view(torch.uint8).cpu().numpy())


@dataclass
class CacheStats:
    lookups: int = 0  # prefills that consulted the cache
    full_hits: int = 0  # ... whose every placed chunk was cached
    hit_segments: int = 0
    miss_segments: int = 0
    hit_tokens: int = 0  # prefix tokens whose KV came from the cache
    miss_tokens: int = 0  # prefix tokens computed
    inserts: int = 0
    evictions: int = 0
    evicted_bytes: int = 0
    rejected: int = 0  # nodes that failed their check (mismatch or corruption): dropped, never used
    skipped: int = 0  # inserts that could not fit in the budget
    fused: int = 0  # prefills whose missing chunks and context ran in one forward pass (prefill's fused)
    bytes: int = 0
    peak_bytes: int = 0
    budget_bytes: int = 0
    nodes: int = 0

    @property
    def token_hit_rate(self) -> float:
        n = self.hit_tokens + self.miss_tokens
        return self.hit_tokens / n if n else 0.0

    def as_dict(self) -> dict:
        d = asdict(self)
        d["token_hit_rate"] = self.token_hit_rate
        d["segment_hit_rate"] = self.hit_segments / max(1, self.hit_segments + self.miss_segments)
        return d


class Node:
    __slots__ = ("key", "parent", "children", "tokens", "start", "kv", "crc", "nbytes", "freq", "last", "cost",
                 "priority")

    def __init__(self, key, parent, tokens=(), start=0, kv=None, cost=0.0):
        self.key, self.parent, self.children = key, parent, {}
        self.tokens, self.start, self.kv, self.cost = list(tokens), start, kv, cost
        self.nbytes = kv.numel() * kv.element_size() if kv is not None else 0
        self.crc = _crc(kv) if kv is not None else 0
        self.freq, self.last, self.priority = 0, 0, 0.0


class KnowledgeCache:
    """``KnowledgeCache(budget_bytes, policy)``: see the module's text. Not thread-safe (one coordinator)."""

    def __init__(self, budget_bytes: int, policy: str = "pgdsf", verify: bool = True, fused: bool = True,
                 order: bool = False):
        if policy not in POLICIES:
            raise HwragError(f"KV cache policy {policy!r}; accepted: {', '.join(POLICIES)}")
        if budget_bytes < 0:
            raise HwragError(f"KV cache budget {budget_bytes} bytes; accepted: >= 0 (0: keep nothing)")
        self.budget, self.policy, self.verify = int(budget_bytes), policy, verify
        self.fused = fused  # misses computed in one forward pass where that is exact (see fused_ok)
        self.order = order  # a batch's rows run in the prefix tree's order (KnowledgeDecoder.order; measured
        # no gain on the bench's Zipf stream in windows of 8, so off by default)
        self.roots: dict[tuple, Node] = {}
        self.stats = CacheStats(budget_bytes=self.budget)
        self.clock = 0.0  # PGDSF's aging term
        self.tick = 0  # LRU's logical time

    # ---- lookup -------------------------------------------------------------------------------------
    def match(self, root_key: tuple, segments: list[Segment], start: int, shape: tuple, dtype) -> list[Node]:
        """The cached nodes of the longest prefix of ``segments`` (placed from position ``start``) that
        pass their checks; ``shape`` = (layers, 2, kv heads, head dim) and ``dtype`` of the model's KV."""
        self.stats.lookups += 1
        node, out, pos = self.roots.get(root_key), [], start
        for seg in segments:
            child = node.children.get(seg.key) if node is not None else None
            if child is None:
                break
            if not self._valid(child, seg, pos, shape, dtype):
                self.stats.rejected += 1
                self._drop(child)
                break
            self._touch(child)
            out.append(child)
            node, pos = child, pos + len(seg.tokens)
        if len(out) == len(segments):
            self.stats.full_hits += 1
        self.stats.hit_segments += len(out)
        self.stats.miss_segments += len(segments) - len(out)
        hit = sum(len(s.tokens) for s in segments[:len(out)])
        self.stats.hit_tokens += hit
        self.stats.miss_tokens += sum(len(s.tokens) for s in segments) - hit
        return out

    def _valid(self, n: Node, seg: Segment, pos: int, shape: tuple, dtype) -> bool:
        kv = n.kv
        return (n.tokens == list(seg.tokens) and n.start == pos and kv is not None and kv.dtype == dtype
                and kv.dim() == 5 and tuple(kv.shape[:3]) == tuple(shape[:3]) and kv.shape[4] == shape[3]
                and kv.shape[3] == len(seg.tokens) and (not self.verify or _crc(kv) == n.crc))

    def _touch(self, n: Node) -> None:
        self.tick += 1
        n.freq += 1
        n.last = self.tick
        n.priority = self.clock + n.freq * n.cost / max(1, n.nbytes)

    # ---- insert and evict ---------------------------------------------------------------------------
    def insert(self, root_key: tuple, path: list[Node], seg: Segment, start: int, kv: torch.Tensor,
               cost: float) -> Node | None:
        """Keep ``kv`` (layers, 2, kv heads, len(seg.tokens), head dim) as the child of ``path``'s last node
        (the root when empty); evicts leaves off ``path`` to make room. None when it cannot fit."""
        nbytes = kv.numel() * kv.element_size()
        if nbytes > self.budget or not self._make_room(nbytes, {id(n) for n in path}):
            self.stats.skipped += 1
            return None
        parent = path[-1] if path else self.roots.setdefault(root_key, Node(root_key, None))
        old = parent.children.get(seg.key)
        if old is not None:
            self._drop(old)
        n = Node(seg.key, parent, seg.tokens, start, kv.detach().clone().contiguous(), cost)
        parent.children[seg.key] = n
        self._touch(n)
        self.stats.inserts += 1
        self.stats.nodes += 1
        self.stats.bytes += n.nbytes
        self.stats.peak_bytes = max(self.stats.peak_bytes, self.stats.bytes)
        return n

    def _leaves(self, protect: set[int]):
        stack = list(self.roots.values())
        while stack:
            n = stack.pop()
            if n.parent is not None and not n.children and id(n) not in protect:
                yield n
            stack.extend(n.children.values())

    def _make_room(self, nbytes: int, protect: set[int]) -> bool:
        while self.stats.bytes + nbytes > self.budget:
            rank = (lambda n: n.last) if self.policy == "lru" else (lambda n: (n.priority, n.last))
            victim = min(self._leaves(protect), key=rank, default=None)
            if victim is None:
                return False
            if self.policy == "pgdsf":
                self.clock = max(self.clock, victim.priority)
            self.stats.evictions += 1
            self.stats.evicted_bytes += victim.nbytes
            self._drop(victim)
        return True

    def _drop(self, n: Node) -> None:
        """Remove ``n`` and its subtree from the tree and the accounting."""
        if n.parent is not None:
            n.parent.children.pop(n.key, None)
            if n.parent.parent is None and not n.parent.children:  # an empty root goes too
                self.roots.pop(n.parent.key, None)
        stack = [n]
        while stack:
            x = stack.pop()
            stack.extend(x.children.values())
            self.stats.bytes -= x.nbytes
            self.stats.nodes -= 1
            x.kv, x.children = None, {}

    def reset_counters(self) -> None:
        """Zero the hit, miss and eviction counters (the contents, bytes and budget stay): statistics of
        a measured stretch after a warm-up."""
        keep = {k: getattr(self.stats, k) for k in ("bytes", "peak_bytes", "budget_bytes", "nodes")}
        self.stats = CacheStats(**keep)

    def held_bytes(self) -> int:
        """Bytes of the KV tensors reachable from the roots, counted afresh (the oracle of the accounting)."""
        total, stack = 0, list(self.roots.values())
        while stack:
            n = stack.pop()
            if n.kv is not None:
                total += n.kv.numel() * n.kv.element_size()
            stack.extend(n.children.values())
        return total

    def clear(self) -> None:
        for r in list(self.roots.values()):
            for c in list(r.children.values()):
                self._drop(c)
        self.roots.clear()


def kv_cache_from_mb(mb: float | None, policy: str = "pgdsf") -> KnowledgeCache | None:
    """The cache a ``--kv-cache-mb`` value asks for: None when ``mb`` is None or 0 (off)."""
    if mb is None or mb == 0:
        return None
    if mb < 0:
        raise HwragError(f"--kv-cache-mb {mb}; accepted: 0 (off) or a positive size in MB")
    return KnowledgeCache(int(mb * 2**20), policy)


# ---- the decoder that uses it -------------------------------------------------------------------------
def kv_shape(lm) -> tuple[int, int, int, int]:
    """(layers, 2, kv heads, head dim) of a Hugging Face decoder's KV state."""
    c = lm.model.config
    heads = int(getattr(c, "num_key_value_heads", None) or c.num_attention_heads)
    dim = int(getattr(c, "head_dim", None) or c.hidden_size // c.num_attention_heads)
    return int(c.num_hidden_layers), 2, heads, dim


def root_key(lm, start: int = 0) -> tuple:
    """What makes a KV state reusable exactly: the model (its identity changes with the weights), the
    dtype, the device kind and the position of the first placed chunk."""
    return lm.name, str(lm.dtype).replace("torch.", ""), lm.device.type, int(start)


def recompute_cost(lm, start: int, n: int) -> float:
    """Multiply-adds of recomputing ``n`` tokens placed at ``start`` (PGDSF's cost): 2 x parameters per
    token, plus each token's attention over its prefix (4 x layers x heads x head dim per pair)."""
    params = getattr(lm, "_kv_params", None)
    if params is None:
        params = lm._kv_params = sum(p.numel() for p in lm.model.parameters())
    c = lm.model.config
    per_pair = 4 * c.num_hidden_layers * c.hidden_size
    return n * (2.0 * params + per_pair * (start + (n + 1) / 2))


def _past(kvs: list[torch.Tensor]):
    """A fresh transformers cache holding ``kvs`` (each (layers, 2, heads, n, dim)) one after another."""
    from transformers import DynamicCache

    cache = DynamicCache()
    if kvs:
        full = kvs[0] if len(kvs) == 1 else torch.cat(kvs, dim=3)
        for layer in range(full.shape[0]):
            cache.update(full[layer, 0][None], full[layer, 1][None], layer)
    return cache


def _new_kv(past, start: int, n: int) -> torch.Tensor:
    """The KV of positions [start, start + n) out of a transformers cache: (layers, 2, heads, n, dim)."""
    return torch.stack([torch.stack([lay.keys[0, :, start:start + n], lay.values[0, :, start:start + n]])
                        for lay in past.layers]).contiguous()


def need_kv_model(lm) -> None:
    if not (hasattr(lm, "model") and hasattr(lm, "_body_and_head") and hasattr(lm.model, "config")):
        raise HwragError(f"the KV knowledge cache (--kv-cache-mb) needs a Hugging Face model (smollm2, a model "
                         f"directory or a .gguf file); {lm.name} keeps no reusable KV state -- use --kv-cache-mb 0")


# ---- the fused miss: the missing chunks and the context in one forward pass -----------------------------
FUSED_MODEL_TYPES = ("llama",)  # decoders whose fused pass is tested bitwise against the segmented one
PROBE_ROWS = 512  # the most rows a fused pass computes (the row-invariance probe's product)
_SEGMENTS = "hwrag_segments"  # the attention implementation a fused pass runs under
_PLAN: dict = {}  # the fused pass running now: its segments and the model's own attention function


def rows_invariant(lm) -> bool:
    """Whether the model's linear layers give a row the same bits whatever rows are computed with it (the
    matrix product's per-row arithmetic independent of the number and offset of the rows): the condition
    for computing several placed chunks in one pass exactly. Probed once per (dtype, threads) on layer 0's
    own weights: runs of 2-17, 31-33, 64, 85, 127-129, 200, 256 and 383 rows at offsets 0, 1, 5 and 77
    against one product of ``PROBE_ROWS`` rows. Measured on this project's machine (AMD EPYC Zen 4, torch
    2.13): bfloat16 invariant (oneDNN); float32 not (small runs take other kernels), so float32 keeps the
    segmented pass. One-row products (matrix-vector) differ in both; a fused pass never holds a one-token
    segment."""
    key = (str(lm.dtype), torch.get_num_threads())
    memo = lm.__dict__.setdefault("_kv_rows_invariant", {})
    if key not in memo:
        body, _ = lm._body_and_head()
        shapes: dict[tuple, torch.nn.Linear] = {}
        for m in body.layers[0].modules():
            if isinstance(m, torch.nn.Linear):
                shapes.setdefault((m.in_features, m.out_features), m)
        runs = [*range(2, 18), 31, 32, 33, 64, 85, 127, 128, 129, 200, 256, 383]
        g, ok = torch.Generator().manual_seed(0), bool(shapes)
        with torch.no_grad():
            for m in shapes.values():
                x = torch.randn(1, PROBE_ROWS, m.in_features, generator=g).to(m.weight.dtype).to(m.weight.device)
                full = m(x)
                ok = ok and all(torch.equal(m(x[:, a:a + n].contiguous()), full[:, a:a + n])
                                for a, n in zip([0, 1, 5, 77] * len(runs), runs))
        memo[key] = ok
    return memo[key]


def fused_ok(lm) -> bool:
    """A fused pass is exact for ``lm``: a tested decoder type under scaled-dot-product attention whose
    linear layers are row-invariant here (:func:`rows_invariant`)."""
    c = lm.model.config
    return (getattr(c, "model_type", None) in FUSED_MODEL_TYPES and c._attn_implementation == "sdpa"
            and rows_invariant(lm))


def _segment_mask(body, past: int, n: int, dtype, device):
    """The attention mask the segmented pass builds for ``n`` tokens after ``past`` (None: causal)."""
    from transformers import DynamicCache
    from transformers.masking_utils import create_causal_mask

    c = DynamicCache()
    if past:
        z = torch.zeros(1, 1, past, 1, dtype=dtype, device=device)
        c.update(z, z, 0)
    return create_causal_mask(config=body.config, inputs_embeds=torch.zeros(1, n, 1, dtype=dtype, device=device),
                              attention_mask=None, past_key_values=c,
                              position_ids=torch.arange(past, past + n, device=device)[None])


def _segments_attention(module, query, key, value, attention_mask, **kw):
    """Attention in a fused pass: each segment's queries over the keys up to its own end, with the mask the
    segmented pass builds for it -- the very calls (shapes, masks, kernel) the segmented pass makes."""
    inner, outs = _PLAN["inner"], []
    for a, b, past, mask in _PLAN["segments"]:
        end = past + b - a
        o, _ = inner(module, query[:, :, a:b], key[:, :, :end].contiguous(), value[:, :, :end].contiguous(),
                     mask, **kw)
        outs.append(o)
    return torch.cat(outs, dim=1), None


def _register() -> None:
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface

    if _SEGMENTS not in AttentionInterface._global_mapping:
        AttentionInterface.register(_SEGMENTS, _segments_attention)
        AttentionMaskInterface.register(_SEGMENTS, lambda *a, **k: None)  # the segments build their own


def _fused_pass(lm, past, seqs: list[list[int]], pos: int):
    """One forward pass over ``seqs`` (placed one after another from ``pos``, after ``past``) whose every
    token gets the bits of the segmented pass: the linear layers, norms and activations row by row over all
    of them (row-invariant), the attention segment by segment (the segmented pass's own calls)."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    _register()
    body, _ = lm._body_and_head()
    dev, cfg = lm.device, body.config
    plan, a, p = [], 0, pos
    for s in seqs:
        plan.append((a, a + len(s), p, _segment_mask(body, p, len(s), lm.dtype, dev)))
        a, p = a + len(s), p + len(s)
    ids = [t for s in seqs for t in s]
    old = cfg._attn_implementation
    _PLAN.update(segments=plan, inner=sdpa_attention_forward)
    cfg._attn_implementation = _SEGMENTS  # for this call only; the coordinator runs the LM on one thread
    try:
        return body(input_ids=torch.tensor([ids], device=dev), past_key_values=past, use_cache=True,
                    position_ids=torch.arange(pos, pos + len(ids), device=dev)[None])
    finally:
        cfg._attn_implementation = old
        _PLAN.clear()


@torch.no_grad()
def prefill(lm, cache: KnowledgeCache | None, segments: list[Segment], tail: list[int], logits_last: int = 1,
            fused: bool | None = None):
    """One sequence (no padding): the placed chunks' KV from ``cache`` where it holds them; the rest
    computed -- each chunk over the KV of the chunks before it -- and offered to the cache, then ``tail``
    over all of them. ``fused`` (default: the cache's setting, True without a cache) computes the missing
    chunks and the tail in one forward pass where :func:`fused_ok` (bit for bit the segmented pass, which
    is one forward per chunk; ``fused=False`` is that reference). Returns (logits of the last
    ``logits_last`` positions (1, S, V), hidden states of ``tail`` (1, len(tail), C), the transformers
    cache of the whole sequence)."""
    if not tail:
        raise HwragError("a prefill needs at least one context token after the retrieved chunks")
    body, head = lm._body_and_head()
    dev = lm.device
    key, shape = root_key(lm), kv_shape(lm)
    path = cache.match(key, segments, 0, shape, lm.dtype) if cache is not None else []
    kvs = [n.kv for n in path]
    pos = sum(len(s.tokens) for s in segments[:len(path)])
    missing = segments[len(path):]
    seqs = [s.tokens for s in missing] + [tail]
    fused = (cache.fused if cache is not None else True) if fused is None else fused
    if (fused and len(seqs) > 1 and min(map(len, seqs)) >= 2 and sum(map(len, seqs)) <= PROBE_ROWS
            and fused_ok(lm)):
        out = _fused_pass(lm, _past(kvs), seqs, pos)
        if cache is not None:
            cache.stats.fused += 1
        hidden = out.last_hidden_state[:, -len(tail):]
        done = out.past_key_values
    else:
        done = None
    for seg in missing:
        n = len(seg.tokens)
        if done is None:
            out = body(input_ids=torch.tensor([seg.tokens], device=dev), past_key_values=_past(kvs),
                       use_cache=True, position_ids=torch.arange(pos, pos + n, device=dev)[None])
            kv = _new_kv(out.past_key_values, pos, n)
            kvs.append(kv)
        else:
            kv = _new_kv(done, pos, n)
        if cache is not None and path is not None:
            node = cache.insert(key, path, seg, pos, kv, recompute_cost(lm, pos, n))
            path = None if node is None else path + [node]  # a node cannot outlive a skipped parent
        pos += n
    if done is None:
        out = body(input_ids=torch.tensor([tail], device=dev), past_key_values=_past(kvs), use_cache=True,
                   position_ids=torch.arange(pos, pos + len(tail), device=dev)[None])
        hidden = out.last_hidden_state
    return head(hidden[:, -logits_last:]), hidden, out.past_key_values


class KnowledgeDecoder:
    """The decoder of chunk mode with the knowledge cache (``cache=None``: nothing kept; with
    ``fused=False`` too, the segmented prefill -- the exact cache-off reference). Rows run one at a time
    (no padding, so a row's arithmetic never depends on its neighbours'); a row whose input is its
    previous input plus one token runs that token only, over its own KV."""

    def __init__(self, lm, cache: KnowledgeCache | None, fused: bool | None = None):
        need_kv_model(lm)
        self.lm, self.cache, self.fused = lm, cache, fused
        self.rows: list[dict] = []

    @torch.no_grad()
    def last(self, seqs: list[list[int]], segments: list[list[Segment]] | None = None):
        lm = self.lm
        body, head = lm._body_and_head()
        if len(self.rows) != len(seqs):
            self.rows = [{"prev": None} for _ in seqs]
        logits, hidden = [None] * len(seqs), [None] * len(seqs)
        for i in self.order(segments, len(seqs)):
            s = list(seqs[i])
            segs = segments[i] if segments else []
            cut = sum(len(g.tokens) for g in segs)
            if len(s) > lm.block_size or [t for g in segs for t in g.tokens] != s[:cut]:
                raise HwragError("the retrieved segments must be the input's leading tokens, within the context")
            row = self.rows[i]
            prev = row["prev"]
            if prev is not None and len(s) == len(prev) + 1 and s[:-1] == prev:
                pos = len(prev)
                out = body(input_ids=torch.tensor([s[-1:]], device=lm.device), past_key_values=row["past"],
                           position_ids=torch.tensor([[pos]], device=lm.device), use_cache=True)
                h = out.last_hidden_state
                lg, row["past"] = head(h[:, -1:]), out.past_key_values
            else:
                lg, h, row["past"] = prefill(lm, self.cache, segs, s[cut:], fused=self.fused)
            row["prev"] = s
            logits[i], hidden[i] = lg[:, -1], h[:, -1]
        return torch.cat(logits).float(), torch.cat(hidden).float()

    def order(self, segments: list[list[Segment]] | None, n: int) -> list[int]:
        """The order the rows run in: with a cache that orders (``KnowledgeCache.order``), sorted by their
        placed chunks' keys -- the prefix tree's depth-first order, so rows sharing a prefix run one after
        another and the prefix is computed once, by the first, and found by the rest before anything else
        can evict it (cache-aware ordering of a batch, after RAGCache). Rows are independent, so the
        order changes which work is reused, never a row's bits."""
        if self.cache is None or not self.cache.order or not segments:
            return list(range(n))
        return sorted(range(n), key=lambda i: [g.key for g in segments[i]])

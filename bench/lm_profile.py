"""Profile the launched operators of ChamLM's inference step, module by module (as Vidur profiles operators).

    python -m bench.lm_profile [--out-dir hwsim/data/rates]

ChamLM runs fairseq's ``TransformerDecoder`` (and ``TransformerEncoder``) eagerly in fp32 with incremental
decoding (docs/REFERENCE.md § RALM configurations). fairseq does not install with this torch, so this module
holds a replica of that decoding path written for measurement (post-norm layers; multi-head attention that
projects q, k and v separately, scales q, makes each contiguous, extends the cached keys and values with
``torch.cat`` and keeps them in a dict per layer, two ``bmm`` around a softmax, a contiguous copy and the
output projection; cross-attention over keys and values projected once, fairseq's ``static_kv``; ReLU
feed-forward; token embedding scaled, learned positions, a 4-symbol output projection). It runs at the
published shapes with random weights on the CPU, one incremental step at a time, under ``torch.profiler``,
and counts per module the operators that would launch a GPU kernel (views, reshapes and transposes launch
none), the synchronising ones, and the host time per operator of this CPU-only run.

Every figure is *measured*: operator counts (independent of the machine), and host CPU time per operator on
this CPU at tiny widths (so the arithmetic is negligible: what remains is Python, module calls and the
dispatcher, the host side of an eager step). :mod:`hwsim.ralm` composes a step from the counts as a launch
queue against the GPU roofline.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

#: aten operators that launch no kernel on a GPU (metadata only) or are the profiler's own bookkeeping
NO_KERNEL = {"aten::view", "aten::transpose", "aten::reshape", "aten::as_strided", "aten::t", "aten::expand",
             "aten::unsqueeze", "aten::squeeze", "aten::slice", "aten::select", "aten::permute", "aten::detach",
             "aten::alias", "aten::_reshape_alias", "aten::empty", "aten::empty_like", "aten::empty_strided",
             "aten::resize_", "aten::contiguous", "aten::type_as", "aten::to", "aten::_unsafe_view",
             "aten::lift_fresh", "aten::result_type", "aten::dropout", "aten::linear", "aten::matmul",
             "aten::softmax", "aten::layer_norm", "aten::embedding", "aten::broadcast_to", "aten::split",
             "aten::chunk", "aten::size", "aten::stride", "aten::numel", "aten::is_nonzero", "aten::narrow"}


def _modules():
    import torch
    from torch import nn
    from torch.nn import functional as F

    class Attention(nn.Module):
        """Multi-head attention in fairseq's incremental form (module doc)."""

        def __init__(self, d, heads, cross=False):
            super().__init__()
            self.h, self.hd, self.cross = heads, d // heads, cross
            self.scaling = self.hd ** -0.5
            self.q_proj, self.k_proj, self.v_proj, self.out_proj = (nn.Linear(d, d) for _ in range(4))

        def forward(self, x, cache, memory=None):   # x: (1, B, d); memory: (S, B, d) for cross-attention
            tgt, bsz, d = x.shape
            q = self.q_proj(x) * self.scaling
            q = q.contiguous().view(tgt, bsz * self.h, self.hd).transpose(0, 1)
            if self.cross and "k" in cache:          # static keys and values: projected at the first step only
                k, v = cache["k"], cache["v"]
            else:
                src = memory if self.cross else x
                k = self.k_proj(src).contiguous().view(-1, bsz * self.h, self.hd).transpose(0, 1)
                v = self.v_proj(src).contiguous().view(-1, bsz * self.h, self.hd).transpose(0, 1)
                if not self.cross and "k" in cache:
                    k = torch.cat([cache["k"], k], dim=1)   # (B*h, t, hd): the whole cache read and rewritten
                    v = torch.cat([cache["v"], v], dim=1)
            cache["k"], cache["v"] = k, v
            w = F.softmax(torch.bmm(q, k.transpose(1, 2)).float(), dim=-1).type_as(q)
            a = torch.bmm(w, v).transpose(0, 1).contiguous().view(tgt, bsz, d)
            return self.out_proj(a)

    class Layer(nn.Module):
        def __init__(self, d, heads, cross):
            super().__init__()
            self.self_attn, self.self_norm = Attention(d, heads), nn.LayerNorm(d)
            self.cross_attn = Attention(d, heads, cross=True) if cross else None
            self.cross_norm = nn.LayerNorm(d) if cross else None
            self.fc1, self.fc2, self.final_norm = nn.Linear(d, 4 * d), nn.Linear(4 * d, d), nn.LayerNorm(d)

        def forward(self, x, cache, memory=None):
            x = self.self_norm(x + self.self_attn(x, cache.setdefault("self", {})))
            if self.cross_attn is not None:
                x = self.cross_norm(x + self.cross_attn(x, cache.setdefault("cross", {}), memory))
            return self.final_norm(x + self.fc2(F.relu(self.fc1(x))))

    class Decoder(nn.Module):
        def __init__(self, d, layers, heads, cross, vocab=4, max_pos=1024):
            super().__init__()
            self.embed, self.pos = nn.Embedding(vocab, d), nn.Embedding(max_pos, d)
            self.scale = d ** 0.5
            self.layers = nn.ModuleList(Layer(d, heads, cross) for _ in range(layers))
            self.out = nn.Linear(d, vocab, bias=False)

        def step_outside(self, tokens, t):     # tokens: (B, 1) -> (1, B, d)
            x = self.embed(tokens) * self.scale + self.pos(torch.full_like(tokens, t))
            return x.transpose(0, 1)

        def forward(self, tokens, t, caches, memory=None):
            x = self.step_outside(tokens, t)
            for layer, cache in zip(self.layers, caches):
                x = layer(x, cache, memory)
            return self.out(x.transpose(0, 1))

    return Decoder


def _count(fn) -> dict:
    """Kernel-launching operators (and their host time) of one call of ``fn`` under torch.profiler."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        fn()
    ops = [e for e in prof.events() if e.name.startswith("aten::") and e.name not in NO_KERNEL]
    top = [e for e in ops if not any(p.name.startswith("aten::") and p.name not in NO_KERNEL
                                     for p in _parents(e))]
    syncs = [e for e in prof.events() if e.name in ("aten::item", "aten::_local_scalar_dense", "aten::nonzero")]
    names: dict[str, int] = {}
    for e in top:
        names[e.name] = names.get(e.name, 0) + 1
    return {"kernels": len(top), "syncs": len(syncs), "by_operator": dict(sorted(names.items()))}


def _parents(e):
    p = e.cpu_parent
    while p is not None:
        yield p
        p = p.cpu_parent


def profile_shapes(d=512, heads=8, batch=4, ctx=16, memory=640) -> dict:
    """Operator counts per module kind: a self-attention layer, the cross-attention block, the step outside
    the layers, an encoder layer (a self-attention layer over a sequence, no cache)."""
    import torch

    torch.manual_seed(0)
    Decoder = _modules()
    dec = Decoder(d, 2, heads, cross=False).eval()
    xdec = Decoder(d, 2, heads, cross=True).eval()
    tokens = torch.zeros(batch, 1, dtype=torch.long)
    mem = torch.randn(memory, batch, d)
    with torch.no_grad():
        caches = [{} for _ in dec.layers]
        for t in range(ctx):
            dec(tokens, t, caches)
        xcaches = [{} for _ in xdec.layers]
        for t in range(2):
            xdec(tokens, t, xcaches, mem)
        layer = dec.layers[0]
        x = torch.randn(1, batch, d)
        self_layer = _count(lambda: layer(x, caches[0]))
        outside = _count(lambda: dec.step_outside(tokens, ctx))
        output = _count(lambda: dec.out(x.transpose(0, 1)))
        xlayer = _count(lambda: xdec.layers[0](x, xcaches[0], mem))
        enc_layer = dec.layers[1]
        seq = torch.randn(64, batch, d)
        encoder = _count(lambda: enc_layer(seq, {}))
    cross = {"kernels": xlayer["kernels"] - self_layer["kernels"], "syncs": xlayer["syncs"] - self_layer["syncs"]}
    return {"self_attention_layer": self_layer, "cross_attention_block": cross,
            "step_outside_layers": {"kernels": outside["kernels"] + output["kernels"],
                                    "syncs": outside["syncs"] + output["syncs"],
                                    "by_operator": {**outside["by_operator"], **output["by_operator"]}},
            "encoder_layer": encoder}


def host_seconds_per_kernel(layers=24, heads=8, d=64, batch=2, steps=64) -> float:
    """This CPU's host time per launched operator of an eager incremental step at a tiny width (the
    arithmetic negligible): on-CPU time of ``steps`` steps / their kernel count, best of 3, one thread."""
    import torch

    torch.set_num_threads(1)
    Decoder = _modules()
    dec = Decoder(d, layers, heads, cross=False).eval()
    tokens = torch.zeros(batch, 1, dtype=torch.long)
    kernels = _count(lambda: dec(tokens, 0, [{} for _ in dec.layers]))["kernels"]
    best = float("inf")
    with torch.no_grad():
        for _ in range(3):
            caches = [{} for _ in dec.layers]
            t0 = time.thread_time()
            for t in range(steps):
                dec(tokens, t, caches)
            best = min(best, (time.thread_time() - t0) / steps)
    return best / kernels


def run() -> dict:
    import platform

    import torch

    from .machine import cpu_identity

    before = os.getloadavg()
    shapes = profile_shapes()
    per_kernel = host_seconds_per_kernel()
    return {"figures": "measured (operator counts from torch.profiler; host time: on-CPU time, 1 thread)",
            "what": "replica of fairseq's incremental TransformerDecoder step (bench/lm_profile.py), fp32, eager",
            "torch": torch.__version__, "cpu_model": cpu_identity()["cpu_model"], "machine": platform.machine(),
            "load_average_before": before, "load_average_after": os.getloadavg(),
            "date": time.strftime("%Y-%m-%d"), "command": "python -m bench.lm_profile",
            "modules": shapes, "host_s_per_kernel_cpu_only": per_kernel}


def main(argv=None) -> int:
    from hwsim.rates import RATES_DIR, RatesFile
    from ivfpq.errors import CommandParser, run_command

    from .machine import cpu_identity

    ap = CommandParser(prog="python -m bench.lm_profile", description=__doc__.splitlines()[0])
    ap.add_argument("--out-dir", default=str(RATES_DIR),
                    help="folder of measured-rates files; this machine's file of today gets the section (default: %(default)s)")
    args = ap.parse_args(argv)

    def go():
        res = run()
        f = RatesFile.for_this_machine(cpu_identity(), Path(args.out_dir))
        f.put("lm_profile", {k: res[k] for k in ("figures", "what", "torch", "modules", "host_s_per_kernel_cpu_only")},
              res["command"], res["load_average_before"])
        out = f.save(Path(args.out_dir))
        for name, m in res["modules"].items():
            print(f"{name}: {m['kernels']} kernels, {m['syncs']} synchronisations")
        print(f"host time per kernel (CPU-only eager, {res['cpu_model']}): {res['host_s_per_kernel_cpu_only'] * 1e6:.1f} us;"
              f" wrote {out}")
        return 0

    return run_command(go)


if __name__ == "__main__":
    raise SystemExit(main())

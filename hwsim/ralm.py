"""ChamLM end to end: RALM generation throughput with retrieval through the system model.

Per generated token the GPU runs one decoder step (:meth:`hwsim.gpu.GpuConfig.step_s`: fp16 weights and the
KV cache read once, 2 x params FLOPs per token at tensor peak); encoder-decoder models also cross-attend to
the K retrieved 64-token chunks and, at each retrieval, encode the query chunk and the K chunks with their
2-layer encoder. Every ``interval`` tokens the batch retrieves through the vector-search system
(:class:`hwsim.system.SystemModel`: ``cpu-gpu`` = faiss on the CPU server, ``fpga-gpu`` = Chameleon, or a PIM
node kind), its query being the model's hidden state (D = d_model). ChamLM overlaps them as two half-batches
in alternation: one half's retrieval runs while the GPU steps the other half, so ``interval`` tokens of the
batch take ``max(2 x interval x step(B/2), interval x step(B/2) + retrieval(B/2))``.

Models (docs/REFERENCE.md § Chameleon measured results): sequences of 512 tokens, vocabulary 50K, nlist 32768, nprobe 32.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from ivfpq.errors import HwragError

from .gpu import RTX_3090
from .system import SearchSpec, SystemModel

SEQ_LEN = 512
CHUNK = 64


@dataclass(frozen=True)
class LmModel:
    name: str
    d_model: int
    layers: int
    params: float
    encoder_layers: int = 0   # > 0: encoder-decoder (retrieved chunks encoded and cross-attended)
    k: int = 100
    pq_m: int = 32
    fpga_nodes: int = 1
    cpu_cores: int = 8


MODELS = {
    "dec-s": LmModel("dec-s", 512, 24, 101e6, k=100, pq_m=32),
    "dec-l": LmModel("dec-l", 1024, 96, 1259e6, k=100, pq_m=64, fpga_nodes=2, cpu_cores=16),
    "encdec-s": LmModel("encdec-s", 512, 24, 158e6, encoder_layers=2, k=10, pq_m=32),
    "encdec-l": LmModel("encdec-l", 1024, 96, 1738e6, encoder_layers=2, k=10, pq_m=64, fpga_nodes=2, cpu_cores=16),
}
BACKENDS = {"fpga": "fpga-gpu", "pim-hbm": "pim-hbm", "pim-dimm": "pim-dimm", "upmem": "upmem"}


def step_s(m: LmModel, batch: int, gpu=RTX_3090) -> float:
    """One decoder step for ``batch`` sequences at the mean context (half the sequence)."""
    ctx = SEQ_LEN / 2
    kv = m.layers * 2 * m.d_model * ctx * batch * 2
    flops = 2 * m.params * batch + 4 * m.layers * m.d_model * ctx * batch
    if m.encoder_layers:  # cross-attention over K retrieved chunks
        mem = m.k * CHUNK
        kv += m.layers * 2 * m.d_model * mem * batch * 2
        flops += 4 * m.layers * m.d_model * mem * batch
    return gpu.step_s(m.params * 2, kv, flops)


def encode_s(m: LmModel, batch: int, gpu=RTX_3090) -> float:
    """At each retrieval of an encoder-decoder: the query chunk and K chunks through the encoder."""
    if not m.encoder_layers:
        return 0.0
    enc_params = m.encoder_layers * 12 * m.d_model ** 2
    tokens = (1 + m.k) * CHUNK * batch
    return gpu.step_s(enc_params * 2, 0.0, 2 * enc_params * tokens)


def tokens_per_s(model: str, interval: int, batch: int, backends=("cpu", "fpga")) -> dict[str, Any]:
    if model not in MODELS:
        raise HwragError(f"unknown model {model!r}; accepted: {', '.join(MODELS)}")
    if interval < 1 or batch < 2:
        raise HwragError(f"need interval >= 1 and batch >= 2 (two half-batches), got {interval}, {batch}")
    m = MODELS[model]
    spec = replace(SearchSpec(name=f"ralm-{model}", d=m.d_model, M=m.pq_m, k=m.k))
    half = batch // 2
    lm = step_s(m, half)
    enc = encode_s(m, half)
    out, stages = {}, {}
    for be in backends:
        system = "cpu-gpu" if be == "cpu" else BACKENDS.get(be)
        if system is None:
            raise HwragError(f"unknown backend {be!r}; accepted: cpu, {', '.join(BACKENDS)}")
        nodes = m.fpga_nodes if be != "cpu" else 1
        sm = SystemModel(spec, nodes=nodes, cpu_cores=m.cpu_cores, samples=21)
        r = sm.model((system,), half)
        ret = r["latency_s"][system]
        period = max(2 * interval * lm, interval * lm + ret + enc)
        key = "cpu-gpu" if be == "cpu" else system
        out[key] = batch * interval / period
        stages[key] = {"decoder_step_half_batch_s": lm, "encode_half_batch_s": enc, "retrieval_half_batch_s": ret,
                       "interval_period_s": period, "search_config": r["config"][system]}
    return {"figures": "modeled", "model": model, "interval": interval, "batch": batch,
            "tokens_per_s": out, "stages": stages,
            "config": f"{m.name}: d_model {m.d_model}, {m.layers} layers, {m.params / 1e6:.0f}M params, "
                      f"K={m.k}, IVF32768,PQ{m.pq_m}, nprobe 32; LM on {RTX_3090.name} (roofline)"}

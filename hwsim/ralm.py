"""ChamLM end to end: RALM generation throughput with retrieval through the system model.

How Chameleon's released ChamLM runs (``llm_inference_gpu``: ``GPU_process.py``, ``ralm/ralm/ralm.py``,
``ralm/lm/get_model.py``, the ``ralm_runtime_*_throughput.yaml`` configs), which this model follows:

* The LM is a fairseq ``TransformerDecoder`` (and ``TransformerEncoder``) run eagerly in PyTorch, fp32,
  incremental decoding with a per-layer key/value cache that ``torch.cat`` extends every step (the whole
  cache is read and rewritten). The output projection has fairseq's default 4-symbol dictionary.
* The measured throughput runs set ``use_tiktok: 0``: one batch of B sequences, each step = one decoder
  step, and every ``interval`` steps a retrieval of B queries, in series (no half-batch overlap; the
  ``--tiktok`` option models Chameleon's two-half-batch scheduling instead).
* A step's kernels are launched asynchronously and the step ends with a synchronisation (the next token or the
  retrieval's query is read on the host): a launch queue (:func:`launch_queue_s`) of the kernels the profile
  counts per module (``bench.lm_profile``: torch.profiler on a replica of fairseq's incremental step, as
  Vidur profiles operators) issued at :data:`FITTED_OP_S` each, against each layer's GPU work (roofline:
  bytes over memory bandwidth, FLOPs over the FP32 CUDA-core peak).
* Retrieval: the GPU process sends the B queries to a local Python coordinator (``use_coordinator: 1``,
  ``retriever_coordinator_server.py``), which relays them to the search server: faiss on 8 CPU cores
  (``cpu-gpu``) or Chameleon's C++ coordinator and FPGA node with list selection on the GPU (``fpga-gpu``),
  both through :class:`hwsim.system.SystemModel`; the relay costs two more Python endpoints
  (:meth:`hwsim.system.SystemModel.client_s`).
* Encoder-decoder models encode, at each retrieval, the 64-token query chunk and the K retrieved chunks
  (one sequence of K x 64 tokens) with the 2-layer encoder; the decoder cross-attends to them.

Models (docs/REFERENCE.md § RALM configurations): sequences of 512 tokens, nlist 32768, nprobe 32.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from ivfpq.errors import HwragError

from .gpu import RTX_3090
from .system import SystemModel
from .workload import SearchSpec

SEQ_LEN = 512
CHUNK = 64
#: host time per launched GPU op of eager fairseq on ChamLM's GPU host: the one fitted constant of the
#: inference model (Python, module calls, dispatcher and the CUDA launch; ChamLM's host CPU is not named),
#: fitted once on the calibration set's Chameleon (FPGA-GPU) ChamLM rows by bench.fidelity fit_op_cost.
#: Plausibility: bench.lm_profile measures ~12 us of host time per op for the replica's CPU-only step here,
#: to which a GPU adds its launch (NVIDIA: ~20 us end to end for an eager element-wise op on a V100 system)
FITTED_OP_S = 37.5e-6
FP32_BYTES = 4


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


def layer_params(d: int) -> float:
    """Attention (4 d^2) and feed-forward (2 x 4 d^2) weights of one layer."""
    return 12.0 * d * d


@lru_cache(maxsize=1)
def op_counts() -> dict[str, int]:
    """Kernels per module kind from the profile (``bench.lm_profile``)."""
    from .rates import section

    mods = section("lm_profile")[0]["modules"]
    return {k: int(v["kernels"]) for k, v in mods.items()}


def launch_queue_s(host_per_chunk: list[float], gpu_per_chunk: list[float]) -> float:
    """A step as a launch queue: the host issues each chunk's kernels one after another, the GPU runs a chunk
    once its kernels are issued and the previous chunk is done; the step ends with a synchronisation (the
    next token, or the retrieval's query, is read on the host), so it lasts until both are done."""
    host = gpu = 0.0
    for h, g in zip(host_per_chunk, gpu_per_chunk):
        host += h
        gpu = max(gpu, host) + g
    return max(host, gpu)


def step_s(m: LmModel, batch: int, ctx: float = SEQ_LEN / 2, gpu=RTX_3090, op_s: float | None = None) -> dict[str, float]:
    """One decoder step for ``batch`` sequences at context ``ctx``: the profiled kernels issued at ``op_s``
    each (the fitted host cost) in a launch queue against each layer's GPU roofline."""
    op_s = FITTED_OP_S if op_s is None else op_s
    d, L, n = m.d_model, m.layers, op_counts()
    layer_ops = n["self_attention_layer"] + (n["cross_attention_block"] if m.encoder_layers else 0)
    ops = L * layer_ops + n["step_outside_layers"]
    cache = L * 2 * batch * ctx * d * FP32_BYTES           # self-attention keys and values
    weights = L * layer_params(d) * FP32_BYTES
    flops = 2 * L * layer_params(d) * batch + 4 * L * d * ctx * batch
    kv_bytes = 3 * cache                                    # torch.cat reads and rewrites it, attention reads it
    if m.encoder_layers:
        mem = m.k * CHUNK
        kv_bytes += L * 2 * batch * mem * d * FP32_BYTES    # cross-attention over the encoded chunks
        weights += L * 4 * d * d * FP32_BYTES
        flops += 4 * L * d * mem * batch
    gpu_s = max((weights + kv_bytes) / (gpu.memory_gbs * 1e9), flops / (gpu.fp32_tflops * 1e12))
    chunks_host = [n["step_outside_layers"] * op_s] + [layer_ops * op_s] * L
    chunks_gpu = [0.0] + [gpu_s / L] * L
    return {"host_s": ops * op_s, "gpu_s": gpu_s, "kernels": ops, "step_s": launch_queue_s(chunks_host, chunks_gpu)}


def encode_s(m: LmModel, batch: int, gpu=RTX_3090, op_s: float | None = None) -> float:
    """At each retrieval of an encoder-decoder: the query chunk and the K retrieved chunks (one sequence of
    K x 64 tokens) through the encoder, plus the decoder's one-off cross-attention key/value projections."""
    if not m.encoder_layers:
        return 0.0
    d, mem = m.d_model, m.k * CHUNK
    flops = 2 * m.encoder_layers * layer_params(d) * (CHUNK + mem) * batch
    flops += 4 * m.encoder_layers * d * (CHUNK ** 2 + mem ** 2) * batch
    weights = m.encoder_layers * layer_params(d) * FP32_BYTES
    gpu_s = max(weights / (gpu.memory_gbs * 1e9), flops / (gpu.fp32_tflops * 1e12))
    op_s = FITTED_OP_S if op_s is None else op_s
    n = op_counts()
    host = 2 * (m.encoder_layers * n["encoder_layer"] + n["step_outside_layers"]) * op_s
    return launch_queue_s([host / 2, host / 2], [gpu_s / 2, gpu_s / 2])


@lru_cache(maxsize=64)
def _retrieval(m: LmModel, be: str, batch: int) -> tuple[float, str]:
    system = "cpu" if be == "cpu" else BACKENDS[be]
    spec = SearchSpec(name=f"ralm-{m.name}", d=m.d_model, M=m.pq_m, k=m.k)
    sm = SystemModel(spec, nodes=1 if be == "cpu" else m.fpga_nodes, cpu_cores=m.cpu_cores, samples=21)
    r = sm.model((system,), batch)[system]
    return r.latency_s + relay_s(sm, batch), r.config


def relay_s(sm: SystemModel, batch: int) -> float:
    """ChamLM's local Python coordinator: it receives and forwards each batch, both ways."""
    return 2 * sm.client_s(batch)


def interval_period_s(interval: int, step: float, retrieval: float, encode: float, tiktok: bool = False) -> float:
    """Seconds per retrieval interval: ``use_tiktok: 0`` (as measured) the decoder steps, then the retrieval
    and the encoding, in series; tik-tok: one half-batch retrieves while the GPU steps the other."""
    if tiktok:
        return max(2 * interval * step, interval * step + retrieval + encode)
    return interval * step + retrieval + encode


def tokens_per_s(model: str, interval: int, batch: int, backends=("cpu", "fpga"), tiktok: bool = False,
                 op_s: float | None = None) -> dict[str, Any]:
    if model not in MODELS:
        raise HwragError(f"unknown model {model!r}; accepted: {', '.join(MODELS)}")
    if interval < 1 or batch < 2:
        raise HwragError(f"need interval >= 1 and batch >= 2, got {interval}, {batch}")
    bad = [be for be in backends if be != "cpu" and be not in BACKENDS]
    if bad:
        raise HwragError(f"unknown backend {bad[0]!r}; accepted: cpu, {', '.join(BACKENDS)}")
    m = MODELS[model]
    sub = batch // 2 if tiktok else batch
    st, enc = step_s(m, sub, op_s=op_s), encode_s(m, sub, op_s=op_s)
    out, stages = {}, {}
    for be in backends:
        ret, cfg = _retrieval(m, be, sub)
        period = interval_period_s(interval, st["step_s"], ret, enc, tiktok)
        key = "cpu-gpu" if be == "cpu" else BACKENDS[be]
        out[key] = batch * interval / period
        stages[key] = {"decoder_step_s": st["step_s"], "decoder_host_launch_s": st["host_s"],
                       "decoder_gpu_roofline_s": st["gpu_s"], "encode_s": enc, "retrieval_s": ret,
                       "interval_period_s": period, "search_config": cfg}
    return {"figures": "modeled", "model": model, "interval": interval, "batch": batch, "tiktok": tiktok,
            "tokens_per_s": out, "stages": stages,
            "config": f"{m.name}: d_model {m.d_model}, {m.layers} layers, {m.params / 1e6:.0f}M params, fp32 eager "
                      f"fairseq on {RTX_3090.name} ({(FITTED_OP_S if op_s is None else op_s) * 1e6:.3g} us per launched op (fitted), profiled kernel counts, launch queue against the roofline); K={m.k}, "
                      f"IVF32768,PQ{m.pq_m}, nprobe 32; {'tik-tok half batches' if tiktok else 'steps then retrieval, in series'}"}

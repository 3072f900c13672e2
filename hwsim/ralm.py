"""ChamLM end to end: RALM generation throughput with retrieval through the system model.

How Chameleon's released ChamLM runs (``llm_inference_gpu``: ``GPU_process.py``, ``ralm/ralm/ralm.py``,
``ralm/lm/get_model.py``, the ``ralm_runtime_*_throughput.yaml`` configs), which this model follows:

* The LM is a fairseq ``TransformerDecoder`` (and ``TransformerEncoder``) run eagerly in PyTorch, fp32,
  incremental decoding with a per-layer key/value cache that ``torch.cat`` extends every step (the whole
  cache is read and rewritten). The output projection has fairseq's default 4-symbol dictionary.
* The measured throughput runs set ``use_tiktok: 0``: one batch of B sequences, each step = one decoder
  step, and every ``interval`` steps a retrieval of B queries, in series (no half-batch overlap; the
  ``--tiktok`` option models Chameleon's two-half-batch scheduling instead).
* A step's kernels are launched asynchronously; the host then retrieves (or launches the next step), so a
  decoder step costs the longer of its host-side launch work (``ops x`` :data:`EAGER_OP_S`) and its GPU
  work (roofline: bytes over memory bandwidth, FLOPs over the FP32 CUDA-core peak).
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
from typing import Any

from ivfpq.errors import HwragError

from .gpu import RTX_3090
from .system import SearchSpec, SystemModel

SEQ_LEN = 512
CHUNK = 64
#: kernels per fairseq layer in incremental decoding, counted from fairseq's ``TransformerDecoderLayer`` and
#: ``MultiheadAttention`` (post-norm): q/k/v projections 3, scaling 1, 3 contiguous copies, 2 cache cats, 2 bmm,
#: softmax 1, output copy 1, out projection 1, 2 residual adds, 2 layer norms, fc1, relu, fc2 = 22
SELF_LAYER_OPS = 22
#: encoder-decoder cross attention adds: q projection, scaling, 2 copies, 2 bmm, softmax, out projection,
#: residual add, layer norm = 10 (its keys/values are projected once, fairseq's ``static_kv``)
CROSS_LAYER_OPS = 10
#: per step outside the layers: embedding, positions, scale, add, output projection, input-token copy
STEP_OPS = 8
#: end-to-end cost of one eagerly dispatched PyTorch CUDA op (Python, dispatcher, driver launch):
#: ~20 us measured by NVIDIA for an element-wise op on a V100 system (docs/REFERENCE.md § RALM configurations)
EAGER_OP_S = 20e-6
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


def step_s(m: LmModel, batch: int, ctx: float = SEQ_LEN / 2, gpu=RTX_3090) -> dict[str, float]:
    """One decoder step for ``batch`` sequences at context ``ctx``: host launch work vs GPU roofline."""
    d, L = m.d_model, m.layers
    ops = L * (SELF_LAYER_OPS + (CROSS_LAYER_OPS if m.encoder_layers else 0)) + STEP_OPS
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
    return {"host_s": ops * EAGER_OP_S, "gpu_s": gpu_s, "step_s": max(ops * EAGER_OP_S, gpu_s)}


def encode_s(m: LmModel, batch: int, gpu=RTX_3090) -> float:
    """At each retrieval of an encoder-decoder: the query chunk and the K retrieved chunks (one sequence of
    K x 64 tokens) through the encoder, plus the decoder's one-off cross-attention key/value projections."""
    if not m.encoder_layers:
        return 0.0
    d, mem = m.d_model, m.k * CHUNK
    flops = 2 * m.encoder_layers * layer_params(d) * (CHUNK + mem) * batch
    flops += 4 * m.encoder_layers * d * (CHUNK ** 2 + mem ** 2) * batch
    weights = m.encoder_layers * layer_params(d) * FP32_BYTES
    gpu_s = max(weights / (gpu.memory_gbs * 1e9), flops / (gpu.fp32_tflops * 1e12))
    host = 2 * (m.encoder_layers * (SELF_LAYER_OPS - 2) + STEP_OPS) * EAGER_OP_S
    return max(host, gpu_s)


def _retrieval(m: LmModel, be: str, batch: int) -> tuple[float, str]:
    system = "cpu" if be == "cpu" else BACKENDS[be]
    spec = SearchSpec(name=f"ralm-{m.name}", d=m.d_model, M=m.pq_m, k=m.k)
    sm = SystemModel(spec, nodes=1 if be == "cpu" else m.fpga_nodes, cpu_cores=m.cpu_cores, samples=21)
    r = sm.model((system,), batch)
    relay = 2 * sm.client_s(batch)  # the local Python coordinator: receive and forward, both ways
    return r["latency_s"][system] + relay, r["config"][system]


def tokens_per_s(model: str, interval: int, batch: int, backends=("cpu", "fpga"), tiktok: bool = False) -> dict[str, Any]:
    if model not in MODELS:
        raise HwragError(f"unknown model {model!r}; accepted: {', '.join(MODELS)}")
    if interval < 1 or batch < 2:
        raise HwragError(f"need interval >= 1 and batch >= 2, got {interval}, {batch}")
    bad = [be for be in backends if be != "cpu" and be not in BACKENDS]
    if bad:
        raise HwragError(f"unknown backend {bad[0]!r}; accepted: cpu, {', '.join(BACKENDS)}")
    m = MODELS[model]
    sub = batch // 2 if tiktok else batch
    st, enc = step_s(m, sub), encode_s(m, sub)
    out, stages = {}, {}
    for be in backends:
        ret, cfg = _retrieval(m, be, sub)
        if tiktok:  # one half-batch retrieves while the GPU steps the other
            period = max(2 * interval * st["step_s"], interval * st["step_s"] + ret + enc)
        else:       # use_tiktok: 0, as measured: decoder steps, then the retrieval, in series
            period = interval * st["step_s"] + ret + enc
        key = "cpu-gpu" if be == "cpu" else BACKENDS[be]
        out[key] = batch * interval / period
        stages[key] = {"decoder_step_s": st["step_s"], "decoder_host_launch_s": st["host_s"],
                       "decoder_gpu_roofline_s": st["gpu_s"], "encode_s": enc, "retrieval_s": ret,
                       "interval_period_s": period, "search_config": cfg}
    return {"figures": "modeled", "model": model, "interval": interval, "batch": batch, "tiktok": tiktok,
            "tokens_per_s": out, "stages": stages,
            "config": f"{m.name}: d_model {m.d_model}, {m.layers} layers, {m.params / 1e6:.0f}M params, fp32 eager "
                      f"fairseq on {RTX_3090.name} ({EAGER_OP_S * 1e6:g} us per launched op, roofline); K={m.k}, "
                      f"IVF32768,PQ{m.pq_m}, nprobe 32; {'tik-tok half batches' if tiktok else 'steps then retrieval, in series'}"}

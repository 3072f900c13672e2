"""A GPU in the system frame: IVF list selection (faiss GPU flat search) by roofline, and the card's figures
the ChamLM model (:mod:`hwsim.ralm`) runs its decoder steps on.

List selection is ``fixed + max(bytes / bandwidth, FLOPs / peak)``: the memory and compute bounds of the
named card (data sheet) plus a fixed per-call cost (kernel launches, host synchronisation, PCIe round
trip), cited from Chameleon's measured RTX 3090 selection time for one SIFT query (0.19 ms, energy script)
less its own roofline (a component measurement on a SIFT run, so the SIFT rows of ``hwrag bench fidelity``
are not independent of it); no value is fitted to an end-to-end figure.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ivfpq.errors import HwragError


@dataclass(frozen=True)
class GpuConfig:
    name: str
    memory_gbs: float       # HBM/GDDR bandwidth
    fp32_tflops: float      # non-tensor FP32 (faiss flat search: cuBLAS SGEMM)
    fp16_tflops: float      # tensor FP16 with FP32 accumulate (LM inference)
    memory_gb: float
    pcie_gbs: float
    select_fixed_s: float   # per faiss GPU search call
    active_power_w: float
    sources: dict = field(default_factory=dict, compare=False, hash=False)

    def select_s(self, b: int, nlist: int, d: int, nprobe: int) -> float:
        """faiss GPU ``IndexFlatL2.search`` of b queries: centroids read once, b x nlist x d MACs, plus the
        queries up and the (distance, id) pairs down over PCIe."""
        if b < 1:
            raise HwragError(f"batch must be >= 1, got {b}")
        roof = max(nlist * d * 4 / (self.memory_gbs * 1e9), 2.0 * b * nlist * d / (self.fp32_tflops * 1e12))
        pcie = (b * d * 4 + b * nprobe * 12) / (self.pcie_gbs * 1e9)
        return self.select_fixed_s + roof + pcie


def _rtx3090_select_fixed() -> float:
    """0.19 ms measured for one SIFT query (D=128, nlist 32768) less its roofline (16.8 MB at 936 GB/s)."""
    return 0.19e-3 - 32768 * 128 * 4 / 936e9 - (128 * 4 + 32 * 12) / 25e9


RTX_3090 = GpuConfig(
    "rtx3090", memory_gbs=936.0, fp32_tflops=35.6, fp16_tflops=71.0, memory_gb=24.0, pcie_gbs=25.0,
    select_fixed_s=_rtx3090_select_fixed(), active_power_w=183.31,
    sources={
        "memory_gbs": "NVIDIA GeForce RTX 3090 data sheet: 936 GB/s GDDR6X",
        "fp32_tflops": "NVIDIA Ampere GA102 whitepaper: RTX 3090 35.6 TFLOPS FP32",
        "fp16_tflops": "NVIDIA Ampere GA102 whitepaper: 71 TFLOPS FP16 tensor (FP32 accumulate, dense)",
        "memory_gb": "RTX 3090 data sheet: 24 GB",
        "pcie_gbs": "PCIe 4.0 x16: 31.5 GB/s raw, ~25 GB/s achieved (host<->device copies)",
        "select_fixed_s": "Chameleon's released energy script (Faiss_experiments/energy_measurement/"
                          "ASPLOS_compute_CPU_GPU_FPGA_energy.py): GPU list selection 0.19 ms for one SIFT "
                          "query, less its roofline",
        "active_power_w": "Chameleon's energy script: RTX 3090 power 183.31 W measured during list selection "
                          "(SIFT, batch 1); used for every batch",
    })


"""Default configurations, named after the hardware they model; every parameter cites its source or says it is assumed.

``REF`` is ``docs/REFERENCE.md`` (the project's reference figures, a section per device). Values marked *assumed* have
no published source we could use; they are the model's stated assumptions, each listed in
``docs/REFERENCE.md`` § Assumed values (``tests/test_design_claims.py`` checks that).
"""
from __future__ import annotations

from .fpga import FpgaConfig
from .pim_dimm import DimmPimConfig
from .pim_hbm import HbmPimConfig

REF = "docs/REFERENCE.md"

CHAMELEON_U250 = FpgaConfig(
    name="chameleon_u250", clock_mhz=140.0, memory="DDR4_3200AA", channels=4, channel_capacity_gb=16.0,
    axi_bits=512, id_layout="separate", id_bytes=8, l1=None, lut_double_buffer=False,
    network_gbps=100.0, network_latency_us=1.0, stream_mode="exact", device="xcu250",
    sources={
        "clock_mhz": f"{REF} FPGA memory node: kernel clock 140 MHz (Chameleon, Alveo U250)",
        "device": f"{REF} § FPGA devices: Alveo U250 (XCU250); totals in rtl/fpga_devices.py",
        "memory": f"{REF}: 4 DDR4 channels (16 GB each); DDR4-3200AA timing preset (Ramulator 2.1)",
        "channels": f"{REF}: 4 DDR4 channels", "channel_capacity_gb": f"{REF}: 16 GB each",
        "axi_bits": f"{REF}: AXI ports 512 bits",
        "units_per_channel": f"{REF}: decode units per channel = 512 / 8 / M",
        "id_layout": f"{REF}: vector ids (64-bit) read from DDR via a (list, offset) -> address table",
        "l1": "None = exact K; Chameleon's approximate lengths 10/15/23/38 (M=8/16/32/64) are "
              f"selectable with l1= ({REF})",
        "lut_double_buffer": "False as Chameleon built it: its released kernels (github.com/WenqiJiang/"
                             "FPGA-PQ-disaggregated-memory, kernel/user_krnl/*/src/hls/constants.hpp) all set "
                             "ADC_DOUBLE_BUF_ENABLE 0 ('might result in P&R failure'): each decode PE reads a "
                             "list's 256 LUT rows (II 1) before scanning it; LUT construction is a separate "
                             "dataflow stage, so only those 256 cycles per list are exposed. Same as the "
                             "rtl/scan_unit.py protocol",
        "network_gbps": "Alveo U250 QSFP28 100 GbE; Chameleon's FPGA TCP/IP stack (assumed line rate)",
        "network_latency_us": "assumed: one switch hop + FPGA TCP stack, one way",
        "static_power_w": "not modeled (0)",
    })

#: Chameleon's level-1 queue lengths by M (binomial model, 99.99 % hit rate), REF
CHAMELEON_L1 = {8: 10, 16: 15, 32: 23, 64: 38}

FANNS_U55C = FpgaConfig(
    name="fanns_u55c", clock_mhz=140.0, memory="HBM2_2Gbps", channels=16, channel_capacity_gb=0.5,
    axi_bits=512, id_layout="interleaved", id_bytes=4, l1=None,
    network_gbps=100.0, network_latency_us=1.0, stream_mode="exact", device="xcu55c",
    sources={
        "device": f"{REF} § FPGA devices: Alveo U55C (XCU55C); totals in rtl/fpga_devices.py",
        "memory": "Alveo U55C: 16 GB HBM2 (2 stacks x 16 pseudo-channels of 512 MB); HBM2 2 Gbps preset",
        "channels": "assumed: 16 of the 32 pseudo-channels hold list data (FANNS sizes this per design)",
        "id_layout": f"{REF}: a 512-bit HBM word holds 3 x (int32 id + 16-byte code)",
        "clock_mhz": "assumed equal to Chameleon's 140 MHz (FANNS's clock is per generated design)",
        "axi_bits": f"{REF}: 512-bit HBM word",
    })

AQUABOLT_XL = HbmPimConfig(
    name="aquabolt_xl", memory="HBM2_2Gbps", stacks=1, banks_per_unit=2, unit_clock_mhz=300.0, lanes=16,
    buffer_bytes=512, capacity_gb_per_stack=6.0, link_gbps=32.0, link_kind="pcie", link_latency_us=1.0,
    sources={
        "banks_per_unit": f"{REF}: one PIM unit per two banks, 8 per pseudo-channel",
        "unit_clock_mhz": f"{REF}: 300 MHz", "lanes": f"{REF}: 16-lane FP16 SIMD",
        "buffer_bytes": f"{REF}: GRF_A/GRF_B 8 x 256-bit each = 512 B",
        "capacity_gb_per_stack": "Samsung Aquabolt-XL HBM-PIM: 6 GB stack (ISSCC 2021)",
        "memory": "HBM2 2 Gbps preset (Ramulator 2.1); 8 channels x 2 pseudo-channels",
        "link_gbps": "assumed: host attaches over a CXL/PCIe 5 x8-class link (32 GB/s), as HeterRAG",
        "host_merge_ns": "assumed: ~2 ns per candidate for a heap merge on the host",
        "host_lut_gflops": "assumed: host builds LUTs at 100 GFLOP/s",
    })

HETERRAG_ACCELHBM = HbmPimConfig(
    name="heterrag_accelhbm", memory="HBM2_2Gbps", stacks=1, banks_per_unit=2, unit_clock_mhz=500.0,
    lanes=32, buffer_bytes=1024, capacity_gb_per_stack=8.0, link_gbps=32.0, link_kind="pcie",
    link_latency_us=1.0,
    sources={
        "banks_per_unit": f"{REF} HeterRAG: one unit per two banks",
        "lanes": f"{REF}: 32 FP16 mul + 32 FP16 add", "buffer_bytes": f"{REF}: 8 Kb buffer",
        "unit_clock_mhz": f"{REF}: units synthesized at 500 MHz",
        "memory": f"{REF}: 8-Hi HBM2, 8 channels (HBM2 2 Gbps preset)",
        "capacity_gb_per_stack": "8-Hi HBM2 of 8 Gb dies = 8 GB",
        "link_gbps": f"{REF}: CXL over PCIe 5.0 x8 ~ 32 GB/s",
    })

HETERRAG_ACCELDIMM = DimmPimConfig(
    name="heterrag_acceldimm", kind="rank", memory="DDR4_3200AA",
    rank_org={"rows": 1 << 17}, rank_timing={"RFC": 880}, dimms=8, ranks_per_dimm=2, host_channels=4,
    unit_clock_mhz=500.0, lanes=32, buffer_bytes=128 * 1024, capacity_gb_per_dimm=32.0,
    host_bus_gbs=25.6, link_gbps=32.0, link_kind="pcie",
    sources={
        "kind": f"{REF}: rank-level units in the DIMM buffer chip",
        "memory": f"{REF}: DDR4-3200 16Gb x8, 2 ranks (DDR4-3200AA preset, 16 Gb: rows 2^17, "
                  "tRFC 550 ns = 880 tCK, JESD79-4)",
        "lanes": f"{REF}: 32 FP32 multipliers + 32 FP32 adders",
        "buffer_bytes": f"{REF}: 128 KB vertex cache (holds the LUT)",
        "unit_clock_mhz": f"{REF}: 500 MHz",
        "dimms": "assumed: 8 DIMMs on 4 channels (one memory node)",
        "capacity_gb_per_dimm": "2 ranks x 8 chips x 16 Gb = 32 GB",
        "host_bus_gbs": "DDR4-3200 x64 = 25.6 GB/s per channel",
        "link_gbps": f"{REF}: CXL over PCIe 5.0 x8 ~ 32 GB/s",
    })

UPMEM_SOURCES = {
    "dpus_per_dimm": f"{REF}: 128 DPUs per DIMM", "unit_clock_mhz": f"{REF}: 350-400 MHz (350 used)",
    "lanes": f"{REF}: 14-stage pipeline, 11 tasklets to fill -> ~1 instruction per cycle",
    "ops_per_subcode": "assumed: load code byte, form LUT address, load WRAM entry, add = 4 instructions",
    "ops_per_code": "assumed: loop, bias, compare against the top-K threshold = 6 instructions",
    "buffer_bytes": f"{REF}: 64 KB WRAM per DPU, 16 KB left for stacks and DMA buffers (assumed)",
    "capacity_gb_per_dimm": f"{REF}: 64 MB MRAM per DPU x 128",
    "mram_gbs": f"{REF}: measured MRAM bandwidth ~574 MiB/s per DPU",
    "host_bus_gbs": "UPMEM DIMMs run at DDR4-2400: 19.2 GB/s per channel (peak; assumed sustained, "
                    "optimistic for host<->DPU transfers)",
    "dimms": "assumed: a 20-DIMM (2560-DPU) server, 2 DIMMs per channel",
    "layout": f"{REF}: PIM IVF-PQ systems on UPMEM place whole lists on DPUs (their bottleneck is load "
              "imbalance across lists); only the DPUs holding probed lists receive work",
    "lut_on_host": f"{REF}: LUT placement in WRAM; LUTs built on the DPUs (the published systems' "
                   "optimisation), the host sends the query and probed list ids",
    "lut_ops_per_term": "assumed: int8 residual and codebook, per (entry, dimension) load, sub, 8x8 mul "
                        "(the DPU's native multiply), add = 4 instructions",
}

UPMEM = DimmPimConfig(
    name="upmem", kind="upmem", memory="DDR4_3200AA", dimms=20, dpus_per_dimm=128, host_channels=10,
    unit_clock_mhz=350.0, lanes=1, ops_per_subcode=4, ops_per_code=6, buffer_bytes=48 * 1024,
    capacity_gb_per_dimm=8.0, mram_gbs=574 * 2**20 / 1e9, mram_dma_bytes=8, mram_latency_ns=0.0,
    host_bus_gbs=19.2, host_bus_efficiency=1.0, link_gbps=32.0, link_kind="pcie",
    layout="whole", lut_on_host=False, lut_ops_per_term=4, sources=UPMEM_SOURCES)

#: the same server with Chameleon's layout (every list split over all 2560 DPUs, host-built LUTs sent to
#: every DPU): kept to show why UPMEM IVF-PQ systems do not do this
UPMEM_SPLIT = UPMEM.with_(
    name="upmem_split", layout="split", lut_on_host=True,
    sources={**UPMEM_SOURCES, "layout": "Chameleon's layout: every list split evenly over all units",
             "lut_on_host": "host builds each LUT (host_lut_gflops, assumed) and writes it to every DPU"})

CONFIGS = {c.name: c for c in (CHAMELEON_U250, FANNS_U55C, AQUABOLT_XL, HETERRAG_ACCELHBM,
                               HETERRAG_ACCELDIMM, UPMEM, UPMEM_SPLIT)}
BACKEND_OF = {"chameleon_u250": "fpga", "fanns_u55c": "fpga", "aquabolt_xl": "pim-hbm",
              "heterrag_accelhbm": "pim-hbm", "heterrag_acceldimm": "pim-dimm", "upmem": "pim-dimm",
              "upmem_split": "pim-dimm"}
DEFAULT_FOR_BACKEND = {"fpga": "chameleon_u250", "pim-hbm": "heterrag_accelhbm", "pim-dimm": "heterrag_acceldimm"}


def get_config(name: str):
    from ivfpq.errors import HwragError

    if name not in CONFIGS:
        raise HwragError(f"unknown hardware configuration {name!r}; accepted: {', '.join(CONFIGS)}")
    return CONFIGS[name]


def make_accelerator(config, **kw):
    """The accelerator model for a configuration (object or name)."""
    from .fpga import FpgaNode
    from .pim_dimm import DimmPim
    from .pim_hbm import HbmPim

    if isinstance(config, str):
        config = get_config(config)
    if isinstance(config, FpgaConfig):
        return FpgaNode(config, **kw)
    if isinstance(config, HbmPimConfig):
        return HbmPim(config, **kw)
    if isinstance(config, DimmPimConfig):
        return DimmPim(config, **kw)
    raise TypeError(f"not a hardware configuration: {config!r}")

"""Energy per operation of the accelerator logic (DRAM energy comes from hwsim.dram's command counts).

Every constant names its source. Logic energies are 45 nm ASIC figures (Horowitz, "Computing's energy
problem", ISSCC 2014, Table: 8-bit add 0.03 pJ, 32-bit add 0.1 pJ, 16-bit FP add 0.4 pJ, 16-bit FP mult
1.1 pJ, 32-bit FP add 0.9 pJ, 32-bit FP mult 3.7 pJ, 8 KB SRAM 64-bit read 10 pJ); an FPGA pays the
Kuon & Rose (IEEE TCAD 2007) dynamic-power gap of about 14x over an ASIC for the same logic.
PIM data movement uses AttAcc's HBM3 energy per bit (docs/REFERENCE.md § DRAM energy).
"""
from __future__ import annotations

HOROWITZ = "Horowitz, ISSCC 2014 (45 nm)"
KUON_ROSE = "Kuon & Rose, IEEE TCAD 2007: FPGA/ASIC dynamic power ~14x"
ATTACC = "AttAcc (ASPLOS 2024) HBM3 energy per bit, docs/REFERENCE.md § DRAM energy"

#: one PQ sub-code step: one LUT entry read from a small on-chip buffer (8 KB SRAM 64-bit read
#: 10 pJ -> 1.25 pJ per byte) plus one 16-bit integer add (between 8-bit 0.03 and 32-bit 0.1 pJ)
ASIC_PJ_PER_SUBCODE = (1.25 + 0.05, f"{HOROWITZ}: 8 KB SRAM read per byte + 16-bit add")
FPGA_OVERHEAD = (14.0, KUON_ROSE)
#: LUT construction per entry element: FP32 sub, mul, add (Horowitz 0.9 + 3.7 + 0.9 pJ)
ASIC_PJ_PER_LUT_FLOP3 = (0.9 + 3.7 + 0.9, f"{HOROWITZ}: FP32 add+mult+add")
#: one top-K compare-and-insert step on a (dist, id) pair: ~3 32-bit compares/moves
ASIC_PJ_PER_COMPARE = (3 * 0.1, f"{HOROWITZ}: 32-bit add-class ops x3")

#: PIM reading codes at the bank periphery: cell read + column to bank-group mux (no TSV/interposer)
PIM_PJ_PER_BIT_READ = (0.44 + 1.01, f"{ATTACC}: cell read 0.44 + column->bank-group mux 1.01")
PIM_PJ_PER_BIT_ACT = (0.11, f"{ATTACC}: ACT 0.11 pJ per bit of the row")
#: host reads over the full path (cell, muxes, global I/O, TSV, interposer)
HOST_PJ_PER_BIT_HBM = (0.44 + 1.01 + 1.23 + 0.5 + 0.3, f"{ATTACC}: full read path 3.48")
#: off-chip link energy (CXL/PCIe SerDes ~ 5 pJ/bit; DDR4 I/O ~ 20 pJ/bit incl. termination)
LINK_PJ_PER_BIT = {"pcie": (5.0, "PCIe 5 SerDes ~5 pJ/bit (estimate; Lee et al., ISSCC 2021 class)"),
                   "ddr": (20.0, "DDR4 interface ~20 pJ/bit incl. I/O and termination (Micron TN-40-07 class estimate)"),
                   "ethernet": (15.0, "100 GbE NIC+SerDes ~15 pJ/bit (estimate)")}

"""Hardware models: cycle-level DRAM (HBM2/3, DDR4/5), the FPGA memory node, HBM-PIM and DIMM-PIM.
Never imports pyrtl: RTL facts arrive as timing cards (JSON)."""

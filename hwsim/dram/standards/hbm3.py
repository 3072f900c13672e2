"""HBM3 preset: Ramulator 2.1 HBM3 6.4 Gbps, 16Gb 8-high dies (channel density 8 Gb)."""
from __future__ import annotations

from ..command_energy import attacc_energies
from ..spec import make_spec

R2 = "Ramulator 2.1 python/ramulator/dram/hbm3.py"
R2T = f"{R2} timing_presets['HBM3_6400Mbps']"
R2O = f"{R2} org_presets['HBM3_16Gb_8hi']"
R2J = f"{R2} resolve_secondary_timings (JESD238)"


def presets():
    org = {
        "channels": (16, "JESD238: 16 channels per stack (reference: 819.2 GB/s per stack)"),
        "pseudo_channels": (2, f"{R2O} pseudochannel=2"),
        "ranks": (1, f"{R2O} has sid=2; the two stack IDs are folded into rows (tCCDR not modeled)"),
        "bankgroups": (4, f"{R2O} bankgroup=4"), "banks": (4, f"{R2O} bank=4"),
        "rows": (1 << 15, f"{R2O} row=1<<14 x sid=2"),
        "columns": ((1 << 5) << 3, f"{R2O} column=(1<<5)<<3"),
        "bus_width": (32, f"{R2O} channel_width=32 (per pseudo-channel)"),
        "burst_length": (8, f"{R2} internal_prefetch_size=8 (BL8)"),
    }
    timing = {
        "tCK_ps": (625, R2T), "rate_mtps": (6400, R2T), "BL": (2, f"{R2T} nBL"),
        "CL": (20, R2T), "CWL": (10, R2T), "RCDRD": (31, R2T), "RCDWR": (15, R2T),
        "RP": (26, R2T), "RAS": (45, R2T), "RC": (72, R2T), "WR": (33, R2T), "RTP": (9, R2T),
        "CCD_S": (2, R2T), "CCD_L": (4, R2T), "RRD_S": (4, R2T), "RRD_L": (5, R2T), "FAW": (24, R2T),
        "WTR_S": (7, R2T), "WTR_L": (10, R2T), "RTW": (20, R2T), "PPD": (2, R2T),
        "RFC": (560, f"{R2J}: channel density 8 Gb -> 350 ns / 0.625 ns"),
        "REFI": (6240, R2T), "RFCpb": (320, R2T), "RREFD": (8, R2T),
    }
    rows_per_ref = max(1, (1 << 15) // 8192) * 16  # rows refreshed per REFab: rows/8192 in each bank
    src = "AttAcc (ASPLOS 2024) HBM3 energy per bit, docs/REFERENCE.md § DRAM energy: ACT 0.11 pJ/bit of the row, RD/WR 3.48 pJ/bit"
    energy = {k: (v, src) for k, v in attacc_energies(
        row_bits=32 * 32 * 8, burst_bits=32 * 8, rows_per_ref=rows_per_ref).items()}
    energy["REFpb"] = (energy["REF"][0] / 16, src + "; REFpb = REF / banks")
    energy["background_mW"] = (0.0, "not modeled: AttAcc gives no standby figure")
    return [make_spec("HBM3_6400", "HBM3", org, timing, energy, default_mapping="RoBaRaCoBgCh",
                      dual_command_bus=True, per_bank_refresh=True,
                      description="HBM3 6.4 Gbps stack: 16 channels x 2 pseudo-channels x 32 bit (Ramulator 2.1)")]

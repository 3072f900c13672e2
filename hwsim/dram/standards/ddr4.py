"""DDR4 presets: Ramulator 2.1 DDR4-3200AA (8Gb x8) and DRAMsim3 DDR4_8Gb_x8_3200."""
from __future__ import annotations

from ..command_energy import idd_energies
from ..spec import make_spec

R2 = "Ramulator 2.1 python/ramulator/dram/ddr4.py"
R2T = f"{R2} timing_presets['DDR4_3200AA']"
R2O = f"{R2} org_presets['DDR4_8Gb_x8']"
R2J = f"{R2} resolve_secondary_timings (JESD79-4 tables)"
D3 = "DRAMsim3 configs/DDR4_8Gb_x8_3200.ini"
D3C = "DRAMsim3 src/timing.cc"

# DRAMsim3 DDR4_8Gb_x8_3200.ini [power]; used for both DDR4 presets (same device: 8Gb x8 at 3200)
_IDD = dict(vdd=1.2, idd0=57, idd2n=37, idd3n=52, idd4r=168, idd4w=150, idd5ab=250)
_IDD_SRC = f"{D3} [power] IDD values, DRAMsim3 src/configuration.cc formulas (8 x8 devices/rank)"


def presets():
    org = {
        "channels": (1, f"{R2O}: one 64-bit channel"),
        "pseudo_channels": (1, "DDR4 has no sub-channels"),
        "ranks": (1, f"{R2O} rank=1"),
        "bankgroups": (4, f"{R2O} bankgroup=4"),
        "banks": (4, f"{R2O} bank=4"),
        "rows": (1 << 16, f"{R2O} row=1<<16"),
        "columns": (1 << 10, f"{R2O} column=1<<10"),
        "bus_width": (64, f"{R2O} channel_width=64"),
        "burst_length": (8, "JESD79-4 BL8"),
    }
    timing = {
        "tCK_ps": (625, R2T), "rate_mtps": (3200, R2T), "BL": (4, f"{R2T} nBL"),
        "CL": (22, R2T), "CWL": (16, R2T), "RCDRD": (22, f"{R2T} nRCD"), "RCDWR": (22, f"{R2T} nRCD"),
        "RP": (22, R2T), "RAS": (52, R2T), "RC": (74, R2T), "WR": (24, R2T), "RTP": (12, R2T),
        "CCD_S": (4, R2T), "CCD_L": (8, R2T), "WTR_S": (4, R2T), "WTR_L": (12, R2T), "CS": (2, R2T),
        "RRD_S": (4, f"{R2J} x8"), "RRD_L": (8, f"{R2J} x8, 3200"), "FAW": (34, f"{R2J} x8, 3200"),
        "RFC": (576, f"{R2J} 8Gb: ceil(360 ns / 0.625 ns)"),
        "REFI": (12480, f"{R2J}: ceil(7800 ns / 0.625 ns)"),
    }
    t = {k: v for k, (v, _) in timing.items()}
    energy = {k: (v, _IDD_SRC) for k, v in idd_energies(
        **_IDD, devices=8, tck_ps=t["tCK_ps"], RC=t["RC"], RAS=t["RAS"], RP=t["RP"], burst=t["BL"],
        RFC=t["RFC"]).items()}
    a = make_spec("DDR4_3200AA", "DDR4", org, timing, energy, default_mapping="RoBaRaCoBgCh",
                  description="DDR4-3200AA 8Gb x8, one 64-bit channel, 1 rank (Ramulator 2.1)")

    org3 = {
        "channels": (1, f"{D3} [system] channels=1"),
        "pseudo_channels": (1, "DDR4 has no sub-channels"),
        "ranks": (2, f"{D3}: channel_size 16384 MB / (8 devices x 8 Gb) = 2 ranks (DRAMsim3 rule)"),
        "bankgroups": (4, f"{D3} bankgroups"), "banks": (4, f"{D3} banks_per_group"),
        "rows": (65536, f"{D3} rows"), "columns": (1024, f"{D3} columns"),
        "bus_width": (64, f"{D3} bus_width"), "burst_length": (8, f"{D3} BL=8"),
    }
    timing3 = {
        "tCK_ps": (630, f"{D3} tCK=0.63"), "rate_mtps": (3200, f"{D3} (file name)"),
        "BL": (4, f"{D3}: burst_cycle = BL/2 (DRAMsim3 configuration.cc)"),
        "CL": (22, D3), "CWL": (16, D3), "RCDRD": (22, f"{D3} tRCD"), "RCDWR": (22, f"{D3} tRCD"),
        "RP": (22, D3), "RAS": (52, D3), "WR": (24, D3), "RTP": (12, D3),
        "CCD_S": (4, D3), "CCD_L": (8, D3), "WTR_S": (4, D3), "WTR_L": (12, D3),
        "RRD_S": (4, D3), "RRD_L": (8, D3), "FAW": (34, D3), "RFC": (560, D3), "REFI": (12480, D3),
        "RTW": (11, f"{D3C}: read_to_write = RL + burst - WL + tRTRS = 22 + 4 - 16 + 1"),
        "CS": (1, f"{D3} tRTRS=1"),
    }
    t3 = {k: v for k, (v, _) in timing3.items()}
    energy3 = {k: (v, _IDD_SRC) for k, v in idd_energies(
        **_IDD, devices=8, tck_ps=t3["tCK_ps"], RC=t3["RAS"] + t3["RP"], RAS=t3["RAS"], RP=t3["RP"],
        burst=t3["BL"], RFC=t3["RFC"]).items()}
    b = make_spec("DDR4_8Gb_x8_3200", "DDR4", org3, timing3, energy3, default_mapping="rochrababgco",
                  description="DRAMsim3 DDR4_8Gb_x8_3200: one 64-bit channel, 2 ranks")
    return [a, b]

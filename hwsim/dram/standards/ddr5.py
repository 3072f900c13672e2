"""DDR5 preset: Ramulator 2.1 DDR5-4800AN with the 16Gb x8 organisation (one 32-bit sub-channel)."""
from __future__ import annotations

from ..command_energy import idd_energies
from ..spec import make_spec

R2 = "Ramulator 2.1 python/ramulator/dram/ddr5.py"
R2T = f"{R2} timing_presets['DDR5_4800AN']"
R2O = f"{R2} org_presets['DDR5_16Gb_x8']"
R2J = f"{R2} resolve_secondary_timings (JESD79-5 tables)"


def presets():
    org = {
        "channels": (1, f"{R2O}: one 32-bit sub-channel (a DIMM has two: use with_org(channels=2))"),
        "pseudo_channels": (1, "modeled sub-channel is the channel"),
        "ranks": (1, f"{R2O} rank=1"),
        "bankgroups": (8, f"{R2O} bankgroup=8"), "banks": (4, f"{R2O} bank=4"),
        "rows": (1 << 16, f"{R2O} row=1<<16"), "columns": (1 << 10, f"{R2O} column=1<<10"),
        "bus_width": (32, f"{R2O} channel_width=32"), "burst_length": (16, "JESD79-5 BL16"),
    }
    timing = {
        "tCK_ps": (416, R2T), "rate_mtps": (4800, R2T), "BL": (8, f"{R2T} nBL"),
        "CL": (34, R2T), "CWL": (32, R2T), "RCDRD": (34, f"{R2T} nRCD"), "RCDWR": (34, f"{R2T} nRCD"),
        "RP": (34, R2T), "RAS": (77, R2T), "RC": (111, R2T), "WR": (72, R2T), "RTP": (18, R2T),
        "CCD_S": (8, R2T), "CCD_L": (12, R2T), "CCD_S_WR": (8, R2T), "CCD_L_WR": (48, R2T),
        "WTR_S": (6, R2T), "WTR_L": (24, R2T), "CS": (2, R2T), "PPD": (2, R2T),
        "RRD_S": (8, f"{R2J} x8, 4800"), "RRD_L": (12, f"{R2J} x8, 4800"),
        "FAW": (48, f"{R2J}: max(32, ceil(20 ns / tCK)) for x8"),
        "RFC": (710, f"{R2J} 16Gb: ceil(295 ns / 0.416 ns)"),
        "REFI": (9375, f"{R2J}: ceil(3900 ns / 0.416 ns)"),
    }
    t = {k: v for k, (v, _) in timing.items()}
    src = ("approximation: DRAMsim3 configs/DDR4_8Gb_x8_3200.ini IDD currents at DDR5 VDD=1.1 V "
           "(JESD79-5), 4 x8 devices per 32-bit sub-channel, DDR5-4800 timings; no public DDR5 IDD "
           "table in the project references")
    energy = {k: (v, src) for k, v in idd_energies(
        vdd=1.1, idd0=57, idd2n=37, idd3n=52, idd4r=168, idd4w=150, idd5ab=250, devices=4,
        tck_ps=t["tCK_ps"], RC=t["RC"], RAS=t["RAS"], RP=t["RP"], burst=t["BL"], RFC=t["RFC"]).items()}
    return [make_spec("DDR5_4800AN", "DDR5", org, timing, energy, default_mapping="RoBaRaCoBgCh",
                      description="DDR5-4800AN 16Gb x8, one 32-bit sub-channel (Ramulator 2.1)")]

"""HBM2 presets: Ramulator 2.1 HBM2 2.0 Gbps (8Gb, pseudo-channel mode) and DRAMsim3 HBM2_8Gb_x128."""
from __future__ import annotations

from ..command_energy import idd_energies
from ..spec import make_spec

R2 = "Ramulator 2.1 python/ramulator/dram/hbm2.py"
R2T = f"{R2} timing_presets['HBM2_2000Mbps']"
R2O = f"{R2} org_presets['HBM2_8Gb']"
R2J = f"{R2} resolve_secondary_timings (JESD235D)"
D3 = "DRAMsim3 configs/HBM2_8Gb_x128.ini"
D3C = "DRAMsim3 src/timing.cc"
_IDD = dict(vdd=1.2, idd0=65, idd2n=40, idd3n=55, idd4r=390, idd4w=500, idd5ab=250)


def presets():
    org = {
        "channels": (8, "JESD235: 8 channels per stack (reference: 256 GB/s per stack)"),
        "pseudo_channels": (2, f"{R2O} pseudochannel=2"),
        "ranks": (1, "HBM2 pseudo-channel: one rank"),
        "bankgroups": (4, f"{R2O} bankgroup=4"), "banks": (4, f"{R2O} bank=4"),
        "rows": (1 << 16, f"{R2O} row=1<<16"),
        "columns": ((1 << 5) << 2, f"{R2O} column=(1<<5)<<2"),
        "bus_width": (64, f"{R2O} channel_width=64 (per pseudo-channel)"),
        "burst_length": (4, f"{R2} internal_prefetch_size=4 (BL4)"),
    }
    timing = {
        "tCK_ps": (1000, R2T), "rate_mtps": (2000, R2T), "BL": (2, f"{R2T} nBL"),
        "CL": (14, R2T), "CWL": (5, R2T), "RCDRD": (14, R2T), "RCDWR": (12, R2T),
        "RP": (14, R2T), "RAS": (34, R2T), "RC": (48, R2T), "WR": (16, R2T), "RTP": (5, f"{R2T} nRTPL"),
        "CCD_S": (2, R2T), "CCD_L": (4, R2T), "WTR_S": (6, R2T), "WTR_L": (8, R2T),
        "RRD_S": (4, f"{R2J}: max(4, ceil(4 ns / tCK))"), "RRD_L": (4, f"{R2J}: max(4, ceil(4 ns / tCK))"),
        "FAW": (15, f"{R2J}: max(8, ceil(15 ns / tCK))"),
        "RFC": (350, f"{R2J} 8Gb: 350 ns"), "REFI": (3900, f"{R2J}: 3900 ns"),
        "RFCpb": (160, f"{R2J} tRFCSB 8Gb: 160 ns"),
        "REFIpb": (122, f"{R2J}: ceil(3900 ns / 32 banks per channel)"),
        "RREFD": (8, f"{R2J}: max(4, ceil(8 ns / tCK))"),
    }
    t = {k: v for k, (v, _) in timing.items()}
    src = (f"{D3} [power] IDD values (128-bit legacy channel) halved for a 64-bit pseudo-channel, "
           "DRAMsim3 src/configuration.cc formulas")
    energy = {k: (v, src) for k, v in idd_energies(
        **_IDD, devices=0.5, tck_ps=t["tCK_ps"], RC=t["RC"], RAS=t["RAS"], RP=t["RP"], burst=t["BL"],
        RFC=t["RFC"], RFCpb=t["RFCpb"]).items()}
    a = make_spec("HBM2_2Gbps", "HBM2", org, timing, energy, default_mapping="RoBaRaCoBgCh",
                  dual_command_bus=True, per_bank_refresh=True,
                  description="HBM2 2.0 Gbps stack: 8 channels x 2 pseudo-channels x 64 bit (Ramulator 2.1)")

    org3 = {
        "channels": (8, f"{D3} channels=8"), "pseudo_channels": (1, f"{D3}: legacy mode, 128-bit channels"),
        "ranks": (1, f"{D3}: channel_size 1024 MB = one rank"),
        "bankgroups": (4, f"{D3} bankgroups"), "banks": (4, f"{D3} banks_per_group"),
        "rows": (32768, f"{D3} rows"),
        "columns": (128, f"{D3} columns=64, x2 for HBM prefetch (DRAMsim3 configuration.cc)"),
        "bus_width": (128, f"{D3} bus_width"), "burst_length": (4, f"{D3} BL=4"),
    }
    timing3 = {
        "tCK_ps": (1000, f"{D3} tCK=1"), "rate_mtps": (2000, f"{D3}: DDR at tCK 1 ns"),
        "BL": (2, f"{D3}: burst_cycle = BL/2 (DRAMsim3 configuration.cc)"),
        "CL": (14, D3), "CWL": (4, D3), "RCDRD": (14, D3), "RCDWR": (14, D3), "RP": (14, D3),
        "RAS": (34, D3), "WR": (16, D3),
        "RTP": (6, f"{D3} tRTP_L (same-bank value; DRAMsim3 itself reads only tRTP, default 5)"),
        "CCD_S": (1, D3), "CCD_L": (2, D3), "WTR_S": (6, D3), "WTR_L": (8, D3),
        "RRD_S": (4, D3), "RRD_L": (6, D3), "FAW": (30, D3), "RFC": (260, D3), "REFI": (3900, D3),
        "RFCpb": (160, f"JESD235 tRFCSB 8Gb via {R2J} (DRAMsim3 leaves tRFCb at its 20-cycle default)"),
        "REFIpb": (128, f"{D3} tREFIb"),
        "RTW": (14, f"{D3C}: read_to_write = RL + burst - WL + tRTRS = 14 + 2 - 4 + 2 (tRTRS default 2)"),
    }
    t3 = {k: v for k, (v, _) in timing3.items()}
    src3 = f"{D3} [power] IDD values, DRAMsim3 src/configuration.cc formulas (1 device)"
    energy3 = {k: (v, src3) for k, v in idd_energies(
        **_IDD, devices=1, tck_ps=t3["tCK_ps"], RC=t3["RAS"] + t3["RP"], RAS=t3["RAS"], RP=t3["RP"],
        burst=t3["BL"], RFC=t3["RFC"], RFCpb=t3["RFCpb"]).items()}
    b = make_spec("HBM2_8Gb_x128", "HBM2", org3, timing3, energy3, default_mapping="rorabgbachco",
                  dual_command_bus=True, per_bank_refresh=True,
                  description="DRAMsim3 HBM2_8Gb_x128: 8 legacy channels x 128 bit")
    return [a, b]

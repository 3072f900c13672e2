"""Commands, derived timings, and the command-to-command timing-constraint tables.

Everything that turns a preset's raw numbers into the constraints the bank state machines enforce
lives here, so there is one place to read them:

* :func:`derive_timings` fills derived parameters (``RC = RAS + RP``, ``RTW``, ``REFIpb``, ...).
* :data:`CONSTRAINTS` names every constraint: level, preceding commands, following commands and the
  latency formula. The formulas follow Ramulator 2.1 ``python/ramulator/dram/{hbm2,hbm3,ddr4,ddr5}.py``
  (itself from the JEDEC standards), with the rank-switch turnaround corrected to keep the data bus
  free (as DRAMsim3 ``src/timing.cc`` does).
* :func:`build_tables` evaluates them for a spec into a ``(levels, ncmd, ncmd)`` int64 array the
  numba core reads: after command *p* issues at cycle *t* on a node of level *L*, command *n* on the
  same node is legal from cycle ``t + table[L, p, n]`` on (0 = no constraint).

Levels: ``CH`` the (pseudo-)channel (data bus, command bus), ``RK`` the rank the command targets,
``SIB`` every *other* rank of the channel, ``BG`` the bank group, ``BK`` the bank. A HBM pseudo-channel
has one rank, so its rank-level constraints (tRRD_S, tFAW, tCCD_S, refresh) are per pseudo-channel,
as in Ramulator's HBM tables.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable, Mapping

import numpy as np

# commands (the numba core uses these integers)
ACT, PRE, PREA, RD, WR, RDA, WRA, REF, REFPB = range(9)
NCMD = 9
CMD_NAMES = ("ACT", "PRE", "PREA", "RD", "WR", "RDA", "WRA", "REF", "REFpb")
ROW_CMDS = (ACT, PRE, PREA, REF, REFPB)
COL_CMDS = (RD, WR, RDA, WRA)
CH, RK, SIB, BG, BK = range(5)
NLEVELS = 5
LEVEL_NAMES = ("channel", "rank", "other-rank", "bankgroup", "bank")

_RDs = (RD, RDA)
_WRs = (WR, WRA)
_CAS = _RDs + _WRs
_PREs = (PRE, PREA)

# default read-to-write bus-turnaround gap (tRPST + tWPRE, cycles) by standard, Ramulator 2.1
# ddr4.py/hbm2.py "nCL + nBL + 2 - nCWL", ddr5.py "nCL + nBL + 2 - nCWL + 2"
_RTW_GAP = {"DDR4": 2, "HBM2": 2, "HBM3": 2, "DDR5": 4}


#: whose rules derive the timing values a preset leaves out, where the two differ. Ramulator 2.1
#: (the default) puts the rank switch nCS between two writes to different ranks as between any other
#: pair of column commands; DRAMsim3 ``src/timing.cc`` does not (``write_to_write_o = burst_cycle``,
#: while read_to_read_o, read_to_write_o and write_to_read_o add tRTRS). ``dramsim3`` is for
#: comparing with DRAMsim3 on its own terms (``hwrag bench dram --against``).
TIMING_RULES = {"ramulator": "Ramulator 2.1 / JEDEC: CS_WW = CS",
                "dramsim3": "DRAMsim3 src/timing.cc: CS_WW = 0 (write_to_write_o = burst_cycle)"}


def derive_timings(spec) -> tuple[dict, dict]:
    """Fill derived timing parameters of ``spec`` (the one place they are computed).

    Returns ``(timing, sources)``; each derived value's source reads ``derived: <formula>``.
    """
    t = dict(spec.timing)
    src = dict(spec.sources)

    def put(key, value, formula):
        if key not in t:
            t[key] = int(value)
            src[key] = f"derived: {formula}"

    put("RC", t["RAS"] + t["RP"], "RAS + RP")
    put("RTW", t["CL"] + t["BL"] + _RTW_GAP[spec.standard] - t["CWL"],
        f"CL + BL + {_RTW_GAP[spec.standard]} - CWL (Ramulator 2.1 RD->WR turnaround)")
    put("CCD_S_WR", t["CCD_S"], "CCD_S")
    put("CCD_L_WR", t["CCD_L"], "CCD_L")
    put("CS", 2, "2 (Ramulator 2.1 nCS, rank-to-rank switch)")
    if spec.timing_rules == "dramsim3":
        put("CS_WW", 0, "0 (DRAMsim3 rule, src/timing.cc: write_to_write_o = burst_cycle, no rank-switch "
            "gap between writes to different ranks)")
    else:
        put("CS_WW", t["CS"], "CS (Ramulator 2.1: the rank switch applies between writes too; DRAMsim3 "
            "src/timing.cc leaves it out, see TIMING_RULES)")
    put("PPD", 0, "0 (no PRE-to-PRE constraint in this standard)")
    if spec.per_bank_refresh:
        put("REFIpb", t["REFI"] // spec.banks_per_rank, "REFI / banks per rank (round robin)")
        put("RREFD", t["RRD_S"], "RRD_S")
        if "RFCpb" not in t:
            from ivfpq.errors import HwragError
            raise HwragError(f"preset {spec.name!r}: per_bank_refresh needs timing RFCpb")
    else:
        for k in ("RFCpb", "REFIpb", "RREFD"):
            put(k, 0, "0 (no per-bank refresh in this standard)")
    return t, src


@dataclass(frozen=True)
class Constraint:
    """A named timing constraint: ``following`` is illegal before ``preceding + latency(t)``."""

    name: str
    level: int
    preceding: tuple
    following: tuple
    formula: str
    latency: Callable[[Mapping[str, int]], int]


@functools.lru_cache(maxsize=None)
def _compiled(formula: str):
    return compile(formula, formula, "eval")


def _c(name, level, pre, fol, formula):
    return Constraint(name, level, tuple(pre), tuple(fol), formula,
                      lambda t, _f=formula: int(eval(_compiled(_f), {"max": max}, dict(t))))


#: every constraint the bank state machines enforce (Ramulator 2.1 tables, see module docstring)
CONSTRAINTS: tuple[Constraint, ...] = (
    # -- channel: data bus and command bus -----------------------------------------------------
    _c("data bus RD->RD (nBL)", CH, _RDs, _RDs, "BL"),
    _c("data bus WR->WR (nBL)", CH, _WRs, _WRs, "BL"),
    # -- rank (HBM: pseudo-channel) --------------------------------------------------------------
    _c("tCCD_S RD->RD", RK, _RDs, _RDs, "CCD_S"),
    _c("tCCD_S WR->WR", RK, _WRs, _WRs, "CCD_S_WR"),
    _c("tRTW RD->WR", RK, _RDs, _WRs, "RTW"),
    _c("tWTR_S WR->RD", RK, _WRs, _RDs, "CWL + BL + WTR_S"),
    _c("tRTP RD->PREA", RK, (RD,), (PREA,), "RTP"),
    _c("tWR WR->PREA", RK, (WR,), (PREA,), "CWL + BL + WR"),
    _c("tRRD_S ACT->ACT", RK, (ACT,), (ACT,), "RRD_S"),
    _c("tRAS ACT->PREA", RK, (ACT,), (PREA,), "RAS"),
    _c("tRP PREA->ACT", RK, (PREA,), (ACT,), "RP"),
    _c("tPPD PRE->PRE", RK, _PREs, _PREs, "PPD"),
    _c("tRC ACT->REF", RK, (ACT,), (REF,), "RC"),
    _c("tRP PRE->REF", RK, _PREs, (REF,), "RP"),
    _c("tRTP+tRP RDA->REF", RK, (RDA,), (REF,), "RTP + RP"),
    _c("tWR+tRP WRA->REF", RK, (WRA,), (REF,), "CWL + BL + WR + RP"),
    _c("tRFC REF->ACT", RK, (REF,), (ACT, PREA, REF, REFPB), "RFC"),
    _c("tRREFD REFpb->ACT", RK, (REFPB,), (ACT, REFPB), "RREFD"),
    _c("tRRD_S ACT->REFpb", RK, (ACT,), (REFPB,), "RRD_S"),
    # -- other ranks of the channel (rank switching; DRAMsim3 timing.cc *_o terms) -----------------
    _c("rank switch RD->RD", SIB, _RDs, _RDs, "BL + CS"),
    _c("rank switch RD->WR", SIB, _RDs, _WRs, "max(CL + BL + CS - CWL, BL + CS)"),
    _c("rank switch WR->RD", SIB, _WRs, _RDs, "max(CWL + BL + CS - CL, 1)"),
    _c("rank switch WR->WR", SIB, _WRs, _WRs, "BL + CS_WW"),
    # -- bank group ----------------------------------------------------------------------------
    _c("tCCD_L RD->RD", BG, _RDs, _RDs, "CCD_L"),
    _c("tCCD_L WR->WR", BG, _WRs, _WRs, "CCD_L_WR"),
    _c("tWTR_L WR->RD", BG, _WRs, _RDs, "CWL + BL + WTR_L"),
    _c("tRRD_L ACT->ACT", BG, (ACT,), (ACT,), "RRD_L"),
    # -- bank ----------------------------------------------------------------------------------
    _c("tRC ACT->ACT", BK, (ACT,), (ACT,), "RC"),
    _c("tRCDRD ACT->RD", BK, (ACT,), _RDs, "RCDRD"),
    _c("tRCDWR ACT->WR", BK, (ACT,), _WRs, "RCDWR"),
    _c("tRAS ACT->PRE", BK, (ACT,), (PRE,), "RAS"),
    _c("tRP PRE->ACT", BK, (PRE,), (ACT,), "RP"),
    _c("tRTP RD->PRE", BK, (RD,), (PRE,), "RTP"),
    _c("tWR WR->PRE", BK, (WR,), (PRE,), "CWL + BL + WR"),
    _c("tRTP+tRP RDA->ACT", BK, (RDA,), (ACT, REFPB), "RTP + RP"),
    _c("tWR+tRP WRA->ACT", BK, (WRA,), (ACT, REFPB), "CWL + BL + WR + RP"),
    _c("tRFCpb REFpb->ACT", BK, (REFPB,), (ACT,), "RFCpb"),
    _c("tRC ACT->REFpb", BK, (ACT,), (REFPB,), "RC"),
    _c("tRP PRE->REFpb", BK, (PRE,), (REFPB,), "RP"),
)

#: the four-activate window (rank level): the 5th ACT waits FAW after the 1st of the last four
FAW_WINDOW = 4


def build_tables(spec) -> np.ndarray:
    """Evaluate :data:`CONSTRAINTS` (plus command-bus occupancy) for ``spec``: int64 (5, 9, 9)."""
    t = spec.timing
    tab = np.zeros((NLEVELS, NCMD, NCMD), dtype=np.int64)
    # every formula in one expression: one compile per process, not one per constraint
    lats = eval(_compiled("(" + ", ".join(c.formula for c in CONSTRAINTS) + ",)"), {"max": max}, dict(t))
    for c, lat in zip(CONSTRAINTS, lats):
        lat = int(lat)
        if c.level == SIB and spec.org["ranks"] == 1:
            continue
        for p in c.preceding:
            for n in c.following:
                if REFPB in (p, n) and not spec.per_bank_refresh:
                    continue
                tab[c.level, p, n] = max(tab[c.level, p, n], lat)
    # one command per command bus per cycle; HBM has separate row and column buses
    for p in range(NCMD):
        for n in range(NCMD):
            same_bus = (p in ROW_CMDS) == (n in ROW_CMDS)
            if same_bus or not spec.dual_command_bus:
                tab[CH, p, n] = max(tab[CH, p, n], 1)
    return tab

"""Per-command DRAM energies (pJ) and how they are obtained.

Two public methods, both cited by the presets that use them:

* **IDD-based** (DRAMsim3 ``src/configuration.cc``, from Micron's power notes TN-40-07): with VDD in V,
  currents in mA and times in cycles, ``E_ACT = VDD*(IDD0*tRC - (IDD3N*tRAS + IDD2N*tRP))*devices``,
  ``E_RD = VDD*(IDD4R - IDD3N)*burst*devices``, ``E_WR = VDD*(IDD4W - IDD3N)*burst*devices``,
  ``E_REF = VDD*(IDD5AB - IDD3N)*tRFC*devices``; multiplied by tCK in ns these are pJ. Background
  power is the precharge-standby ``VDD*IDD2N*devices`` (mW).
* **Energy per bit** (AttAcc, ASPLOS 2024, HBM3): ACT 0.11 pJ per bit of the activated row; a read or
  write moves its bits through cell array (0.44), column-to-bank-group mux (1.01), bank-group mux to
  global I/O (1.23), TSV (0.5) and interposer (0.3) = 3.48 pJ/bit.

:func:`energy_report` turns command counts into joules; every figure it returns is *modeled*.
"""
from __future__ import annotations

from typing import Mapping

ATTACC_ACT_PJ_PER_BIT = 0.11
ATTACC_RW_PJ_PER_BIT = 0.44 + 1.01 + 1.23 + 0.5 + 0.3


def idd_energies(*, vdd: float, idd0: float, idd2n: float, idd3n: float, idd4r: float, idd4w: float,
                 idd5ab: float, devices: float, tck_ps: int, RC: int, RAS: int, RP: int, burst: int,
                 RFC: int, RFCpb: int = 0, idd5pb: float | None = None) -> dict[str, float]:
    """DRAMsim3's IDD formulas (see module docstring); returns pJ per command and mW background."""
    tck_ns = tck_ps / 1000.0
    e = {
        "ACT": vdd * (idd0 * RC - (idd3n * RAS + idd2n * RP)) * devices * tck_ns,
        "RD": vdd * (idd4r - idd3n) * burst * devices * tck_ns,
        "WR": vdd * (idd4w - idd3n) * burst * devices * tck_ns,
        "REF": vdd * (idd5ab - idd3n) * RFC * devices * tck_ns,
        "background_mW": vdd * idd2n * devices,
    }
    # per-bank refresh: one bank's share of an all-bank refresh current over tRFCpb (IDD5PB is
    # rarely published; DRAMsim3 defaults it to 5 mA above nothing, we scale IDD5AB by 1/banks)
    e["REFpb"] = (vdd * ((idd5pb if idd5pb is not None else idd5ab / 16.0)) * RFCpb * devices * tck_ns
                  if RFCpb else 0.0)
    return e


def attacc_energies(*, row_bits: int, burst_bits: int, rows_per_ref: int) -> dict[str, float]:
    """AttAcc HBM3 energy-per-bit figures applied to this organisation (pJ per command)."""
    act = ATTACC_ACT_PJ_PER_BIT * row_bits
    rw = ATTACC_RW_PJ_PER_BIT * burst_bits
    return {"ACT": act, "RD": rw, "WR": rw, "REF": act * rows_per_ref, "background_mW": 0.0}


def energy_report(spec, counts: Mapping[str, int], cycles: int) -> dict[str, float]:
    """Modeled energy in joules from command counts and the simulated span (cycles)."""
    e = spec.energy
    pj = {
        "ACT": e["ACT"] * counts.get("ACT", 0),
        "RD": e["RD"] * (counts.get("RD", 0) + counts.get("RDA", 0)),
        "WR": e["WR"] * (counts.get("WR", 0) + counts.get("WRA", 0)),
        "REF": e["REF"] * counts.get("REF", 0) + e["REFpb"] * counts.get("REFpb", 0),
    }
    ranks = spec.units * spec.org["ranks"]
    pj["background"] = e["background_mW"] * ranks * cycles * spec.tck_ns  # mW * ns = pJ
    out = {f"{k}_J": v * 1e-12 for k, v in pj.items()}
    out["total_J"] = sum(pj.values()) * 1e-12
    return out

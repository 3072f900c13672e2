"""Resource totals of the FPGAs the scan unit is sized for, from the vendor data sheets.

Counts are of the whole device (all SLRs); the Vitis platform shell (PCIe/DMA, memory
controllers, network stack) takes a share of them that is not subtracted here, so a
"units that fit" figure computed from these totals is an upper bound (AMD UG1393,
"Determining Where to Place the Kernels", also advises leaving about 10 % to system
infrastructure and routing). The figures and their sources: docs/REFERENCE.md § FPGA devices.

``lutram`` is the number of LUTs that can serve as distributed RAM or shift registers
(SLICEM LUTs): the data sheet's "max. distributed RAM" divided by 64 bits per LUT.
``bram36`` counts 36 Kb block RAMs (a RAMB18 is half of one).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ivfpq.errors import HwragError

#: the resource names every synthesis summary and device use, in report order
RESOURCES = ("lut", "ff", "lutram", "bram36", "uram", "dsp")


@dataclass(frozen=True)
class FpgaDevice:
    name: str
    board: str
    lut: int
    ff: int
    lutram: int
    bram36: int
    uram: int
    dsp: int
    sources: dict = field(default_factory=dict, compare=False, hash=False)

    def totals(self) -> dict[str, int]:
        return {r: getattr(self, r) for r in RESOURCES}


_DS890 = ("AMD DS890 UltraScale Architecture and Product Data Sheet: Overview, Virtex UltraScale+ "
          "device table")
XCU250 = FpgaDevice(
    "xcu250", "Alveo U250", lut=1_728_000, ff=3_456_000, lutram=791_040, bram36=2_688, uram=1_280, dsp=12_288,
    sources={
        "device": "AMD DS962 Alveo U200 and U250 Data Center Accelerator Cards Data Sheet: the U250 carries the "
                  "XCU250 (the XCVU13P die): 1,728K LUTs, 3,456K registers, 12,288 DSP slices",
        "bram36/uram/lutram": f"{_DS890}, XCVU13P: 2,688 block RAMs (36 Kb), 1,280 UltraRAMs (288 Kb), "
                              "48.3 Mb max. distributed RAM (= 791,040 LUTs x 64 b)",
    })
XCU55C = FpgaDevice(
    "xcu55c", "Alveo U55C", lut=1_303_680, ff=2_607_360, lutram=600_960, bram36=2_016, uram=960, dsp=9_024,
    sources={
        "device": "AMD DS978 Alveo U55C Data Center Accelerator Cards Data Sheet: the U55C carries the XCU55C "
                  "(16 GB HBM2; the fabric of the XCVU37P/XCVU47P): 1,304K LUTs, 2,607K registers, 9,024 DSP slices",
        "bram36/uram/lutram": f"{_DS890}, XCVU37P/XCVU47P: 2,016 block RAMs (36 Kb), 960 UltraRAMs (288 Kb), "
                              "36.7 Mb max. distributed RAM (= 600,960 LUTs x 64 b)",
    })

DEVICES = {d.name: d for d in (XCU250, XCU55C)}


def get_device(name: str) -> FpgaDevice:
    if name not in DEVICES:
        raise HwragError(f"unknown FPGA device {name!r}; accepted: {', '.join(DEVICES)}")
    return DEVICES[name]


def units_that_fit(used: dict, device: FpgaDevice) -> dict:
    """How many copies of a block using ``used`` (resource -> count) fit in ``device``'s totals.

    Returns ``{"units": n, "limited_by": resource, "utilization": {resource: fraction per copy}}``;
    ``units`` is the floor over every resource the block uses.
    """
    util = {r: used.get(r, 0) / t for r, t in device.totals().items() if t}
    binding = max(util, key=util.get)
    n = min(int(t // used[r]) for r, t in device.totals().items() if used.get(r, 0) > 0)
    return {"units": n, "limited_by": binding, "utilization": {r: round(u, 6) for r, u in util.items()}}

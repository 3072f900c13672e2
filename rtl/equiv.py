"""Post-synthesis equivalence: the Yosys-synthesized netlist of the scan unit against its RTL.

Both runs use the Yosys of the timing cards (Debian's, :func:`rtl.synth.yosys_bin`):

1. synthesis: the RTL through the cards' ``synth_xilinx -family xcup -flatten -noiopad -noclkbuf`` with
   two differences: the LUT memories (``$mem_v2`` after ``memory -nomap``) become instances of a black
   box ``hwrag_lut_mem`` (so they are not mapped to LUT RAM), and the control register ``state`` keeps
   its encoding (``fsm_encoding = "none"``: no FSM re-encoding, which would leave the two designs without
   a register-to-register correspondence);
2. equivalence: the RTL (gold, memories black-boxed the same way, don't-care write data folded by
   ``opt_expr -mux_undef``) against the netlist read with the Xilinx cell models (gate):
   ``equiv_make`` pairs signals by name (registers and the black-box instances, whose inputs must
   match), ``equiv_simple`` proves each pair from the pairs before it, ``equiv_induct`` closes the rest
   by induction over all unproven pairs; ``equiv_status -assert`` fails unless every pair is proven.

A proof means: every register, output and memory port of the netlist equals the RTL's in every cycle
from any state where the paired registers agree (so from reset on). Not covered: the LUT RAM mapping
of the memories (RAM64M8) and the FSM re-encoding that the cards' own synthesis does.
"""
from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

from ivfpq.errors import HwragError

from .config import CODE_BITS, ScanConfig
from .export import FAULTS, verilog_text
from .synth import SYNTH_COMMAND, yosys_bin

_PARAMS = ("MEMID", "SIZE", "OFFSET", "ABITS", "WIDTH", "RD_PORTS", "RD_CLK_ENABLE", "RD_CLK_POLARITY",
           "RD_TRANSPARENCY_MASK", "RD_COLLISION_X_MASK", "RD_WIDE_CONTINUATION", "RD_CE_OVER_SRST",
           "RD_ARST_VALUE", "RD_SRST_VALUE", "RD_INIT_VALUE", "WR_PORTS", "WR_CLK_ENABLE", "WR_CLK_POLARITY",
           "WR_PRIORITY_MASK", "WR_WIDE_CONTINUATION", "INIT")


def stub_text(cfg: ScanConfig) -> str:
    """The black box standing for one LUT memory (the ports of Yosys's ``$mem_v2``, one read and one write)."""
    a, w = CODE_BITS, cfg.lut_bits
    params = "".join(f"  parameter {p} = 0;\n" for p in _PARAMS)
    return ("(* blackbox *)\nmodule hwrag_lut_mem(RD_CLK, RD_EN, RD_ARST, RD_SRST, RD_ADDR, RD_DATA, WR_CLK, WR_EN, "
            f"WR_ADDR, WR_DATA);\n{params}  input RD_CLK, RD_EN, RD_ARST, RD_SRST;\n  input [{a - 1}:0] RD_ADDR;\n"
            f"  output [{w - 1}:0] RD_DATA;\n  input WR_CLK;\n  input [{w - 1}:0] WR_EN;\n  input [{a - 1}:0] WR_ADDR;\n"
            f"  input [{w - 1}:0] WR_DATA;\nendmodule\n")


_BLACKBOX = "memory -nomap\nchtype -map $mem_v2 hwrag_lut_mem\n"


def synth_script(top: str) -> str:
    return (f"read_verilog src.v\nread_verilog -lib stub.v\nprep -flatten -top {top}\n{_BLACKBOX}"
            f"setattr -set fsm_encoding \"none\" w:state\n{SYNTH_COMMAND} -top {top}\ntee -o netlist_stat.txt stat\n"
            f"write_verilog -noattr netlist.v\n")


def equiv_script(top: str) -> str:
    return (f"read_verilog rtl.v\nread_verilog -lib stub.v\nprep -flatten -top {top}\n{_BLACKBOX}"
            f"opt_expr -mux_undef\nopt_clean\nrename {top} gold\ndesign -stash gold\n"
            f"read_verilog -lib stub.v\nread_verilog netlist.v\nread_verilog -noblackbox +/xilinx/cells_sim.v\n"
            f"hierarchy -top {top}\nproc\nflatten\nopt_clean\nrename {top} gate\ndesign -stash gate\n"
            f"design -copy-from gold -as gold gold\ndesign -copy-from gate -as gate gate\nread_verilog -lib stub.v\n"
            f"equiv_make -inames gold gate equiv\nhierarchy -top equiv\nequiv_simple\nequiv_induct\n"
            f"tee -o equiv_status.txt equiv_status\nequiv_status -assert\n")


def _yosys(script: str, d: Path, log: str, timeout: float) -> tuple[int, float]:
    (d / f"{log}.ys").write_text(script)
    t0 = time.perf_counter()
    try:
        p = subprocess.run([yosys_bin(), "-q", "-l", f"{log}.log", f"{log}.ys"], cwd=d, capture_output=True,
                           text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise HwragError(f"yosys {log} ran past {timeout:.0f} s (log: {d / (log + '.log')})") from e
    return p.returncode, round(time.perf_counter() - t0, 2)


def prove_equivalence(cfg: ScanConfig, work: str | Path = "build/rtl_equiv", netlist_fault: str | None = None,
                      timeout: float = 900.0) -> dict:
    """Synthesizes ``cfg`` (from the RTL with ``netlist_fault`` injected, to check the check) and proves
    the netlist equivalent to the fault-free RTL; returns the counts of paired signals proven."""
    if netlist_fault is not None and netlist_fault not in FAULTS:
        raise HwragError(f"unknown fault {netlist_fault!r}; accepted: {', '.join(FAULTS)}")
    d = Path(work) / (cfg.name + (f"_{netlist_fault}" if netlist_fault else ""))
    d.mkdir(parents=True, exist_ok=True)
    rtl = verilog_text(cfg)
    (d / "rtl.v").write_text(rtl)
    (d / "src.v").write_text(verilog_text(cfg, netlist_fault) if netlist_fault else rtl)
    (d / "stub.v").write_text(stub_text(cfg))
    rc, synth_s = _yosys(synth_script(cfg.module_name), d, "synth", timeout)
    if rc != 0:
        raise HwragError(f"synthesis for the equivalence check failed; log: {d / 'synth.log'}")
    rc, equiv_s = _yosys(equiv_script(cfg.module_name), d, "equiv", timeout)
    status = (d / "equiv_status.txt").read_text() if (d / "equiv_status.txt").exists() else ""
    m = re.search(r"Found (\d+) \$equiv cells", status)
    n = re.search(r"Of those cells (\d+) are proven and (\d+) are unproven", status)
    total = int(m.group(1)) if m else 0
    if n:
        proven, unproven = int(n.group(1)), int(n.group(2))
    else:
        proven, unproven = (total if "successfully proven" in status else 0), 0
    if not m:
        raise HwragError(f"the equivalence run gave no status; log: {d / 'equiv.log'}")
    cells = re.findall(r"^\s+(\w+)\s+(\d+)$", (d / "netlist_stat.txt").read_text(), re.M)
    return {"config": cfg.name, "netlist_fault": netlist_fault, "equivalent": rc == 0 and unproven == 0 and total > 0,
            "equiv_pairs": total, "proven": proven, "unproven": unproven, "synth_s": synth_s, "equiv_s": equiv_s,
            "netlist_cells": {k: int(v) for k, v in cells}, "workdir": str(d)}

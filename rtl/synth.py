"""FPGA synthesis of the exported scan unit with Yosys (``synth_xilinx`` for UltraScale+).

``synthesize(cfg)`` writes the configuration's Verilog, runs Yosys out of context (flattened, no
I/O buffers, no clock buffer: the unit is a block inside a larger kernel) and maps the cell counts
onto the resources of the data sheets (:mod:`rtl.fpga_devices`): LUTs (logic + distributed RAM),
flip-flops, block RAM (36 Kb), UltraRAM and DSP slices. The counts are *measured* by the tool
after technology mapping, before place and route (Vivado's placer may still pack or replicate).

``synthesis_section`` is what a timing card carries under ``fpga_synthesis``: the tool and its
script, the sha256 of the Verilog it read (a card whose RTL changed is stale), the resources and
how many scan units fit on each device of :data:`rtl.fpga_devices.DEVICES`.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from ivfpq.errors import HwragError

from .config import ScanConfig
from .export import verilog_text
from .fpga_devices import DEVICES, RESOURCES, units_that_fit

log = logging.getLogger(__name__)

SYNTH_COMMAND = "synth_xilinx -family xcup -flatten -noiopad -noclkbuf"
SECTION = "fpga_synthesis"

# LUTs taken by each distributed-RAM / shift-register primitive (UltraScale+ CLB, UG574)
_LUTRAM_LUTS = {
    "RAM32X1S": 1, "RAM32X1D": 2, "RAM64X1S": 1, "RAM64X1D": 2, "RAM128X1S": 2, "RAM128X1D": 4,
    "RAM256X1S": 4, "RAM256X1D": 8, "RAM512X1S": 8, "RAM32M": 4, "RAM64M": 4, "RAM32M16": 8,
    "RAM64M8": 8, "RAM64X8SW": 8, "RAM32X16DR8": 8, "SRL16E": 1, "SRLC16E": 1, "SRLC32E": 1,
}
_LOGIC_LUTS = {"LUT1", "LUT2", "LUT3", "LUT4", "LUT5", "LUT6", "LUT6_2"}
_FFS = {"FDRE", "FDSE", "FDCE", "FDPE", "FDRE_1", "FDSE_1", "FDCE_1", "FDPE_1", "LDCE", "LDPE"}
_BRAM36 = {"RAMB36E2": 1.0, "FIFO36E2": 1.0, "RAMB18E2": 0.5, "FIFO18E2": 0.5}
_URAM = {"URAM288", "URAM288_BASE"}
_DSP = {"DSP48E2"}
_CARRY = {"CARRY4", "CARRY8"}


@dataclass
class SynthResult:
    cfg: ScanConfig
    tool: str
    cells: dict[str, int]
    resources: dict
    verilog_sha256: str
    wall_s: float  # measured wall clock of the Yosys run (not stored in cards)
    log_path: str

    def section(self) -> dict:
        return synthesis_section(self.tool, self.verilog_sha256, self.cells, self.resources)


def yosys_bin() -> str:
    exe = shutil.which("yosys")
    if exe is None:
        raise HwragError("yosys not found; install it (apt-get install yosys; `make install` does)")
    return exe


def yosys_version() -> str:
    out = subprocess.run([yosys_bin(), "-V"], capture_output=True, text=True, check=True).stdout.strip()
    return out.splitlines()[0] if out else "Yosys (unknown version)"


def verilog_sha256(cfg: ScanConfig) -> str:
    return hashlib.sha256(verilog_text(cfg).encode()).hexdigest()


def map_cells(cells: dict[str, int]) -> dict:
    """Data-sheet resources from Yosys cell counts; cells it cannot place are an error."""
    unmapped = sorted(c for c in cells if c.startswith("$"))
    if unmapped:
        raise HwragError(f"yosys left generic cells unmapped: {', '.join(unmapped)}")
    lut_logic = sum(n for c, n in cells.items() if c in _LOGIC_LUTS)
    lutram = sum(n * _LUTRAM_LUTS[c] for c, n in cells.items() if c in _LUTRAM_LUTS)
    res = {
        "lut": lut_logic + lutram, "lut_logic": lut_logic, "lutram": lutram,
        "ff": sum(n for c, n in cells.items() if c in _FFS),
        "bram36": sum(n * _BRAM36[c] for c, n in cells.items() if c in _BRAM36),
        "uram": sum(n for c, n in cells.items() if c in _URAM),
        "dsp": sum(n for c, n in cells.items() if c in _DSP),
        "carry": sum(n for c, n in cells.items() if c in _CARRY),
    }
    res["bram36"] = float(res["bram36"]) if res["bram36"] % 1 else int(res["bram36"])
    return res


def fit_on_devices(resources: dict) -> dict:
    """Scan units of this configuration that fit each device's data-sheet totals (upper bound)."""
    used = {r: resources[r] for r in RESOURCES}
    out = {}
    for name, dev in DEVICES.items():
        f = units_that_fit(used, dev)
        out[name] = {"board": dev.board, "units": f["units"], "limited_by": f["limited_by"]}
    return out


def synthesis_section(tool: str, sha: str, cells: dict, resources: dict) -> dict:
    return {
        "kind": "measured: Yosys technology mapping for UltraScale+, out of context, before place and route",
        "tool": tool,
        "script": SYNTH_COMMAND,
        "verilog_sha256": sha,
        "resources": resources,
        "fit": fit_on_devices(resources),
        "fit_note": "scan units (each U distance units + queues + merge) per device, from data-sheet totals "
                    "(rtl/fpga_devices.py); the platform shell and routing are not subtracted",
        "cells": dict(sorted(cells.items())),
    }


@contextlib.contextmanager
def _bounded(deadline: float | None, what: str, timeout_s: float | None):
    """Interrupt the Python work inside (a SIGALRM at ``deadline``) with a clear error; in the main thread
    only (elsewhere the work runs unbounded and Yosys alone gets the rest of the time)."""
    if deadline is None or threading.current_thread() is not threading.main_thread():
        yield
        return

    def fire(signum, frame):
        raise HwragError(f"--timeout {timeout_s:g} s spent while {what}; raise --timeout or synthesize a smaller "
                         "configuration")

    old = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, max(0.01, deadline - time.monotonic()))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def synthesize(cfg: ScanConfig, work_dir: str | os.PathLike | None = None, timeout_s: float | None = None,
               say=None, budget_s: float | None = None) -> SynthResult:
    """Runs Yosys ``synth_xilinx`` (UltraScale+) on ``cfg``'s Verilog; returns the mapped resources.
    ``timeout_s`` bounds the whole call (the Verilog generation and Yosys); ``say`` reports each step;
    ``budget_s`` is the user's whole --timeout, named in the errors (default: ``timeout_s``)."""
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    budget_s = timeout_s if budget_s is None else budget_s
    exe = yosys_bin()
    tool = yosys_version()
    if say:
        say(f"{cfg.name}: generating the Verilog with PyRTL")
    with _bounded(deadline, f"generating {cfg.name}'s Verilog", budget_s):
        text = verilog_text(cfg)
    if say:
        say(f"{cfg.name}: yosys {SYNTH_COMMAND}")
    with tempfile.TemporaryDirectory(prefix="hwrag_synth_") as tmp:
        d = Path(work_dir) if work_dir else Path(tmp)
        d.mkdir(parents=True, exist_ok=True)
        src = d / f"{cfg.module_name}.v"
        src.write_text(text)
        stat = d / f"{cfg.module_name}_stat.json"
        stat.unlink(missing_ok=True)
        log_path = d / f"{cfg.module_name}_yosys.log"
        script = (f"read_verilog {src}; {SYNTH_COMMAND} -top {cfg.module_name}; "
                  f"tee -q -o {stat} stat -json")
        t0 = time.perf_counter()
        left = None if deadline is None else max(0.01, deadline - time.monotonic())
        try:
            p = subprocess.run([exe, "-q", "-l", str(log_path), "-p", script], capture_output=True, text=True,
                               timeout=left)
        except subprocess.TimeoutExpired:
            raise HwragError(f"yosys did not finish {cfg.name} within --timeout {budget_s:g} s; "
                             "raise --timeout or synthesize a smaller configuration") from None
        wall = time.perf_counter() - t0
        if p.returncode != 0 or not stat.exists():
            tail = (p.stderr or p.stdout).strip().splitlines()[-3:]
            raise HwragError(f"yosys failed on {cfg.name} (exit {p.returncode}): {' | '.join(tail)}")
        cells = json.loads(stat.read_text())["modules"][f"\\{cfg.module_name}"]["num_cells_by_type"]
        keep_log = str(log_path) if work_dir else ""
    cells = {k: int(v) for k, v in cells.items()}
    log.info("yosys %s: %.1f s", cfg.name, wall)
    return SynthResult(cfg, tool, cells, map_cells(cells), hashlib.sha256(text.encode()).hexdigest(), wall,
                       keep_log)

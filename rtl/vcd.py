"""Minimal VCD reader for the counterexamples yosys-smtbmc writes: one value per signal per solver step.

smtbmc writes the integer ``smt_step`` and toggles the clock; a step's values are those in force when
``smt_step`` takes its number. Signals are keyed by their dotted scope path below the top module
(``"rst"``, ``"dut.state"``); x/z bits read as 0 (smtbmc writes none for the signals used here).
"""
from __future__ import annotations

from pathlib import Path


def read_steps(path: str | Path) -> dict[str, list[int]]:
    """``{signal: [value at step 0, 1, ...]}`` for every signal of the trace."""
    ids: dict[str, list[str]] = {}
    scope: list[str] = []
    cur: dict[str, int] = {}
    steps: list[dict[str, int]] = []
    step_id = None
    lines = iter(Path(path).read_text().splitlines())
    for line in lines:
        tok = line.split()
        if not tok:
            continue
        if tok[0] == "$scope":
            scope.append(tok[2])
        elif tok[0] == "$upscope":
            scope.pop()
        elif tok[0] == "$var":
            name = ".".join(scope[1:] + [tok[4]])
            if tok[4] == "smt_step":
                step_id = tok[3]
            ids.setdefault(tok[3], []).append(name)
        elif tok[0] == "$enddefinitions":
            break
    for line in lines:
        if not line or line[0] in "#$":
            continue
        if line[0] in "bB":
            bits, ident = line[1:].split()
            val = int(bits.replace("x", "0").replace("z", "0"), 2)
        elif line[0] in "01xz":
            val, ident = (1 if line[0] == "1" else 0), line[1:].strip()
        else:
            continue
        if ident == step_id:
            if steps or val > 0:
                steps.append(dict(cur))
        for name in ids.get(ident, ()):
            cur[name] = val
    steps.append(dict(cur))
    names = [n for v in ids.values() for n in v if n != "smt_step"]
    return {n: [s.get(n, 0) for s in steps] for n in names}

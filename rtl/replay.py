"""Replays a SymbiYosys counterexample (VCD) in cocotb and explains it with the golden model.

:func:`replay_counterexample` reads the trace's input values step by step (:mod:`rtl.vcd`), drives them
into the same unit (same fault, same checkers) on Verilator or Icarus (``tests/rtl/tb_replay.py``), and
checks that the property fails in simulation at the same step as in the proof. It then rebuilds the
query the trace ran in plain numbers, with the port protocol's own semantics (LUT rows, bias, accepted
beats, start, reset; LUT memories start at zero as in the proof), and computes what the golden model
says the unit should keep and return (``ivfpq`` fixed point: ``min(bias + sum of LUT entries, max)``,
keys ordered by (distance, id)), next to what the unit returned.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

from ivfpq.errors import HwragError

from .config import CODE_BITS, LUT_ENTRIES, ScanConfig
from .cosim import REPO, TB_DIR, SIMULATORS
from .export import apply_sim_env, write_verilog
from .formal import PropResult, formal_verilog, ports
from .props import property_names
from .vcd import read_steps

SCAN, IDLE, DONE = 1, 0, 4


def trace_steps(cfg: ScanConfig, vcd: str | Path, fault: str | None = None) -> tuple[list[dict], int, dict]:
    """``(inputs per step, watched key, whole trace)`` of a counterexample VCD."""
    t = read_steps(vcd)
    names = [n for d, n, _ in ports(formal_verilog(cfg, fault)) if d == "input" and n not in ("clk", "chk_x")]
    missing = [n for n in names if n not in t]
    if missing:
        raise HwragError(f"{vcd}: not a trace of this unit (no {', '.join(missing[:3])})")
    steps = [{n: t[n][k] for n in names} for k in range(len(t["rst"]))]
    return steps, t["chk_x"][0], t


def _field(v: int, i: int, w: int) -> int:
    return (v >> (i * w)) & ((1 << w) - 1)


def golden_queries(cfg: ScanConfig, steps: list[dict], states: list[int], seen: list[dict]) -> list[dict]:
    """The queries of a trace in plain numbers: per unit the (dist, id) pairs inserted, the golden top-L
    of each unit and top-K of all, and the results the unit sent."""
    U, M, db, ib = cfg.units, cfg.m, cfg.dist_bits, cfg.id_bits
    lut = [[0] * LUT_ENTRIES for _ in range(M)]
    bias, pending, queries, q = 0, None, [], None
    for k, (s, st) in enumerate(zip(steps, states)):
        if pending is not None:  # a LUT row written through the (registered) port lands one cycle later
            a, row = pending
            for m in range(M):
                lut[m][a] = _field(row, m, cfg.lut_bits)
            pending = None
        if s["rst"]:
            bias, q = 0, None
            continue
        if s["start"] and st in (IDLE, DONE):
            q = {"start_step": k, "keys": [[] for _ in range(U)], "beats": [], "sent": []}
            queries.append(q)
        if q is not None and s["in_valid"] and st == SCAN:
            for u in range(U):
                if (s["in_mask"] >> u) & 1:
                    code = _field(s["in_codes"], u, M * CODE_BITS)
                    bytes_ = [_field(code, m, CODE_BITS) for m in range(M)]
                    d = min(bias + sum(lut[m][b] for m, b in enumerate(bytes_)), (1 << db) - 1)
                    vid = _field(s["in_ids"], u, ib)
                    q["keys"][u].append((d, vid))
                    q["beats"].append({"step": k, "unit": u, "code": bytes_, "id": vid, "dist": d})
        if q is not None and k < len(seen) and seen[k]["out_valid"] and s["out_ready"]:
            o = seen[k]
            q["sent"].append((o["out_dist"], o["out_id"]) if o["out_hit"] else None)
        if s["bias_we"]:
            bias = s["bias"]
        if s["lut_we"]:
            pending = (s["lut_addr"], s["lut_row"])
    for q in queries:
        q["golden_unit_topl"] = [sorted(ks)[:cfg.queue_len] for ks in q["keys"]]
        q["golden_topk"] = sorted(k for ks in q["keys"] for k in ks)[:cfg.k]
    return queries


def _run_replay(cfg: ScanConfig, sim: str, fault: str | None, spec: dict, bdir: Path) -> list[dict]:
    import cocotb_tools.runner as cocotb_runner
    from cocotb_tools.runner import get_runner

    cocotb_runner.MAX_PARALLEL_BUILD_JOBS = int(os.environ.get("HWRAG_RTL_BUILD_JOBS", "1"))
    apply_sim_env()
    bdir.mkdir(parents=True, exist_ok=True)
    src = write_verilog(cfg, bdir, fault, checks=True)
    runner = get_runner(sim)
    build_args = (["--output-split", "0", "--output-split-cfuncs", "0", "-CFLAGS", "-O0"]
                  if sim == "verilator" else [])
    runner.build(sources=[src], hdl_toplevel=cfg.module_name, build_dir=bdir, timescale=("1ns", "1ps"),
                 always=True, log_file=bdir / "build.log", build_args=build_args)
    (bdir / "replay.json").write_text(json.dumps(spec))
    out = bdir / "replay_seen.json"
    out.unlink(missing_ok=True)
    env = {"HWRAG_RTL_REPLAY": str(bdir / "replay.json"), "HWRAG_RTL_REPLAY_OUT": str(out),
           "PYTHONPATH": os.pathsep.join([str(REPO), str(TB_DIR), os.environ.get("PYTHONPATH", "")])}
    try:
        runner.test(test_module="tb_replay", hdl_toplevel=cfg.module_name, build_dir=bdir, test_dir=TB_DIR,
                    extra_env=env, results_xml=str(bdir / "results.xml"), log_file=bdir / "sim.log",
                    timescale=("1ns", "1ps"))
    except SystemExit:
        pass
    if not out.exists():
        raise HwragError(f"the {sim} replay did not finish; log: {bdir / 'sim.log'}")
    return json.loads(out.read_text())


def replay_counterexample(cfg: ScanConfig, res: PropResult, fault: str | None = None, sim: str = "verilator",
                          build_root: str | Path | None = None) -> dict:
    """Replays ``res``'s counterexample in cocotb; returns what both saw and the golden model's view."""
    if res.status != "failed" or not res.trace_vcd:
        raise HwragError(f"{res.property}: no counterexample to replay (status {res.status})")
    if sim not in SIMULATORS:
        raise HwragError(f"unknown simulator {sim!r}; accepted: {', '.join(SIMULATORS)}")
    steps, x, trace = trace_steps(cfg, res.trace_vcd, fault)
    names = property_names(cfg)
    prop = res.failed_assertion or res.property
    bdir = Path(build_root or REPO / "build" / "rtl_replay") / sim / f"{cfg.name}_{fault or 'ok'}_{prop}"
    t0 = time.perf_counter()
    seen = _run_replay(cfg, sim, fault, {"config": cfg.to_dict(), "chk_x": x, "steps": steps}, bdir)
    sim_fail = [k for k, r in enumerate(seen) if not (r["chk_bits"] >> names.index(prop)) & 1 and k > 0]
    formal = trace.get(f"dut.chk_{prop}", [])
    formal_fail = [k for k, v in enumerate(formal) if not v and k > 0]
    queries = golden_queries(cfg, steps, trace["dut.state"], seen)
    at = formal_fail[0] if formal_fail else len(steps) - 1
    kept = [[_key(cfg, trace.get(f"dut.queue{u}_s{i}", [0] * len(steps))[at]) for i in range(cfg.queue_len)]
            for u in range(cfg.units)]
    return {"property": prop, "fault": fault, "sim": sim, "steps": len(steps), "watched_key": x,
            "formal_fail_step": formal_fail[0] if formal_fail else None,
            "sim_fail_step": sim_fail[0] if sim_fail else None,
            "reproduced": bool(sim_fail) and bool(formal_fail) and sim_fail[0] == formal_fail[0],
            "queries": queries, "kept_at_failure": kept, "replay_s": round(time.perf_counter() - t0, 2),
            "build_dir": str(bdir)}


def _key(cfg: ScanConfig, k: int):
    """A queue key as (dist, id), or None for the empty key."""
    if k >> (cfg.key_bits - 1):
        return None
    return (k >> cfg.id_bits) & ((1 << cfg.dist_bits) - 1), k & ((1 << cfg.id_bits) - 1)


def describe(cfg: ScanConfig, rep: dict) -> str:
    """The counterexample in plain numbers."""
    xs = _key(cfg, rep["watched_key"]) or "the empty key"
    how = "reproduced" if rep["reproduced"] else "NOT reproduced"
    lines = [f"{rep['property']} fails at step {rep['formal_fail_step']} of {rep['steps']} in SymbiYosys and at "
             f"step {rep['sim_fail_step']} in the {rep['sim']} replay ({how}); watched key X = {xs}"]
    for j, q in enumerate(rep["queries"]):
        lines.append(f"  query {j} (start at step {q['start_step']}):")
        for b in q["beats"]:
            lines.append(f"    step {b['step']:>2} unit {b['unit']}: code {b['code']} id {b['id']} "
                         f"-> distance {b['dist']}")
        for u, top in enumerate(q["golden_unit_topl"]):
            lines.append(f"    unit {u} must keep (golden, (dist, id) ascending): {top}")
        lines.append(f"    golden top-{cfg.k}: {q['golden_topk']}")
        lines.append(f"    results sent by the unit: {q['sent'] or 'none yet'}")
    for u, kept in enumerate(rep["kept_at_failure"]):
        lines.append(f"  unit {u} queue at the failing step (trace; None = empty): {kept}")
    return "\n".join(lines)

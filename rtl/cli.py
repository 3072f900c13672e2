"""``hwrag rtl export``, ``verify``, ``synth`` and ``prove`` (registered by :func:`add_rtl_parser`)."""
from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path

import numpy as np

from ivfpq.errors import HwragError

from .config import DEFAULT_CONFIGS, ScanConfig

SIM_CHOICES = ("verilator", "icarus", "pyrtl", "pyrtl-compiled", "all")
FAULT_NAMES = ("adder_off_by_one", "queue_evict_off_by_one", "queue_swap_id",
               "out_drop_under_backpressure")  # rtl.export.FAULTS (not imported: pyrtl)
_NAME = re.compile(r"^m(\d+)_u(\d+)_k(\d+)(?:_l(\d+))?(?:_f(\d+)x(\d+)x(\d+))?$")


def _add_config_flags(p: argparse.ArgumentParser) -> None:
    d = ScanConfig()
    g = p.add_argument_group("configuration")
    g.add_argument("--m", type=int, default=d.m, help=f"bytes per PQ code (default {d.m})")
    g.add_argument("--units", type=int, default=d.units, help=f"PQ distance units U (default {d.units})")
    g.add_argument("--k", type=int, default=d.k, help=f"results per query K (default {d.k})")
    g.add_argument("--l1", type=int, default=None, help="level-1 queue length per unit (default K: exact top-K)")
    g.add_argument("--lut-bits", type=int, default=d.lut_bits)
    g.add_argument("--dist-bits", type=int, default=d.dist_bits)
    g.add_argument("--id-bits", type=int, default=d.id_bits)


def _config(a) -> ScanConfig:
    return ScanConfig(m=a.m, units=a.units, k=a.k, l1=a.l1, lut_bits=a.lut_bits, dist_bits=a.dist_bits,
                      id_bits=a.id_bits)


def _export(a) -> int:
    from .card import card_path, carry_synthesis, measure_card, write_card
    from .export import lint, write_verilog

    cfgs = list(DEFAULT_CONFIGS) if a.defaults else [_config(a)]
    out = Path(a.output)
    rows = []
    for cfg in cfgs:
        v = write_verilog(cfg, out)
        row = {"module": cfg.module_name, "verilog": str(v)}
        if a.lint:
            clean, msg = lint(v, cfg.module_name)
            row["lint"] = "clean" if clean else msg
        if not a.no_card:
            dest = a.cards_dir or out
            card = carry_synthesis(cfg, measure_card(cfg), card_path(cfg, dest))
            row["card"] = str(write_card(cfg, dest, card))
            row["flush_to_done_cycles"] = card["pipeline"]["flush_to_done_cycles"]
            row["register_bits"] = card["resources"]["register_bits"]
            row["memory_bits"] = card["resources"]["memory_bits"]
        rows.append(row)
    if a.json:
        print(json.dumps(rows, indent=1))
    else:
        for r in rows:
            print("  ".join(f"{k}={v}" for k, v in r.items()))
    return 0 if all(r.get("lint", "clean") == "clean" for r in rows) else 1


def _verify_pyrtl(cfg: ScanConfig, kind: str, seed: int, queries: int, max_codes: int,
                  fault: str | None = None) -> dict:
    from .export import FAULTS
    from .host import ScanHost
    from .sim import PyrtlScanSim
    from .stimulus import random_query

    t0 = time.perf_counter()
    sim = PyrtlScanSim(cfg, kind, **(FAULTS[fault] if fault else {}))
    build_s = time.perf_counter() - t0
    rng = np.random.default_rng(seed)
    qs = [random_query(cfg, rng, n_lists=2, max_codes=max_codes, ties=bool(j % 2)) for j in range(queries)]
    host = ScanHost(cfg, qs, rng, idle_prob=0.25, stall_prob=0.4)
    t0 = time.perf_counter()
    sim.run(host)
    run_s = time.perf_counter() - t0
    errors = host.check()
    return {"sim": f"pyrtl-{kind}", "config": cfg.to_dict(), "passed": not errors, "tests": 1,
            "failed": int(bool(errors)), "cycles": sim.cycles, "run_s": run_s, "build_s": build_s,
            "cycles_per_s": round(sim.cycles / run_s, 1) if run_s else 0.0, "errors": errors[:5]}


def _verify_coverage(a) -> int:
    from .coverage_run import format_report, run_pairs
    from .matrix import MATRICES

    if a.matrix:
        pairs = MATRICES[a.matrix]
    else:
        sims = ["verilator", "icarus"] if a.sim == "all" else [a.sim]
        if any(s.startswith("pyrtl") for s in sims):
            raise HwragError("--coverage needs a cocotb simulator; accepted: --sim verilator, icarus or all")
        cfg = _config(a)
        pairs = [(s, cfg) for s in sims]
    try:
        code = (lambda sim, cfg: False) if a.no_code_coverage else (lambda sim, cfg: sim == "verilator")
        report = run_pairs(pairs, a.coverage_out, seed=a.seed, progress=not a.json, code_coverage=code,
                           queries=a.queries,
                           max_codes=a.max_codes, n_lists=a.lists, cov_queries=a.cov_queries, fault=a.inject_fault,
                           waves=a.waves or None)
    except RuntimeError as e:  # a simulator's build or run failed
        raise HwragError(f"simulator build/run failed: {e}") from e
    print(json.dumps(report, indent=1, default=str) if a.json else
          format_report(report) + f"\nwritten: {a.coverage_out}/coverage_report.txt, coverage_report.json, "
                                  "functional_coverage.yml")
    return 0 if all(r["passed"] for r in report["runs"]) else 1


def _verify(a) -> int:
    from .cosim import run_cocotb

    for name, lo in (("queries", 1), ("max_codes", 0), ("lists", 1), ("cov_queries", 1)):
        if getattr(a, name) < lo:
            raise HwragError(f"--{name.replace('_', '-')} {getattr(a, name)} not accepted; give an integer >= {lo}")
    if a.coverage or a.matrix:
        return _verify_coverage(a)
    cfg = _config(a)
    sims = ["verilator", "icarus", "pyrtl"] if a.sim == "all" else [a.sim]
    results = []
    for sim in sims:
        if sim.startswith("pyrtl"):
            results.append(_verify_pyrtl(cfg, "compiled" if sim == "pyrtl-compiled" else "fast", a.seed,
                                         a.queries, a.max_codes, a.inject_fault))
        else:
            try:
                r = run_cocotb(cfg, sim, seed=a.seed, queries=a.queries, max_codes=a.max_codes,
                               n_lists=a.lists, cov_queries=a.cov_queries, fault=a.inject_fault,
                               waves=a.waves or None)
            except RuntimeError as e:  # the simulator's build or run failed
                raise HwragError(f"{sim} build/run failed for {cfg.name}: {e}") from e
            results.append(r.to_dict())
    ok = all(r["passed"] for r in results)
    if a.json:
        print(json.dumps({"config": cfg.to_dict(), "passed": ok, "results": results}, indent=1))
    else:
        for r in results:
            print(f"{cfg.name:<24} {r['sim']:<16} {'PASS' if r['passed'] else 'FAIL'}  "
                  f"tests {r['tests'] - r['failed']}/{r['tests']}  {r['cycles']} cycles  "
                  f"{r['cycles_per_s']:.0f} cycles/s simulated (measured)  build {r['build_s']:.1f} s"
                  + (f"  log {r['build_dir']}/sim.log" if "build_dir" in r else ""))
            d = r.get("directed") or {}
            if d.get("failed_queries"):
                print(f"  directed test: queries {d['failed_queries']} failed; bins hit by every failing query, "
                      f"most telling first: {[b['bin'] for b in d['exposing_bins'][:4]]}")
    return 0 if ok else 1


def _synth(a) -> int:
    from .synth_report import format_table, rows_from_cards, synthesize_rows, to_json

    from .card import CARDS_DIR

    cfgs = list(DEFAULT_CONFIGS) if a.defaults else [_config(a)]
    cards_dir = a.cards_dir or CARDS_DIR
    if a.from_cards:
        rows = rows_from_cards(cfgs, cards_dir, require=not a.defaults)
    else:
        if a.timeout is not None and a.timeout <= 0:
            raise HwragError(f"--timeout {a.timeout} not accepted; give seconds > 0")
        rows = synthesize_rows(cfgs, a.timeout, a.write_cards, cards_dir, progress=not a.json)
    print(to_json(rows) if a.json else format_table(rows))
    return 0


def config_from_name(name: str) -> ScanConfig:
    """``m<M>_u<U>_k<K>[_l<L1>][_f<lut>x<dist>x<id>]`` (a ScanConfig's name) -> the configuration."""
    m = _NAME.match(name)
    if not m:
        raise HwragError(f"--config {name!r} not understood; accepted: formal, slow, or a configuration name "
                         "like m2_u2_k2_f2x3x2 (m<M>_u<U>_k<K>[_l<L1>][_f<lut bits>x<dist bits>x<id bits>])")
    M, U, K, L1, lb, db, ib = (int(g) if g else None for g in m.groups())
    fmt = {} if lb is None else {"lut_bits": lb, "dist_bits": db, "id_bits": ib}
    return ScanConfig(m=M, units=U, k=K, l1=L1, **fmt)


def _prove_one(cfg: ScanConfig, a) -> dict:
    from .formal import prove_property
    from .props import property_names
    from .replay import describe, replay_counterexample

    names = a.property or property_names(cfg)
    rows, replays = [], []
    for p in names:
        r = prove_property(cfg, p, a.depth, a.work, a.inject_fault, a.timeout)
        rows.append(r.to_dict())
        if not a.json:
            print(f"{cfg.name:<20} {p:<16} {r.status:<8} depth {r.depth:<3} {r.seconds:7.1f} s"
                  + (f"  (with {', '.join(r.helpers)})" if r.helpers and r.status == "proved" else "")
                  + (f"  counterexample: {r.trace_steps} steps, {r.trace_vcd}" if r.status == "failed" else "")
                  + (f"  {r.message}" if r.message else ""), flush=True)
        if r.status == "failed" and a.replay != "none":
            rep = replay_counterexample(cfg, r, a.inject_fault, a.replay)
            replays.append(rep)
            if not a.json:
                print(describe(cfg, rep), flush=True)
    return {"config": cfg.to_dict(), "name": cfg.name, "fault": a.inject_fault, "results": rows, "replays": replays}


def _prove(a) -> int:
    from .formal import FORMAL_CONFIG, SLOW_CONFIGS
    from .props import PROPERTIES

    if a.timeout <= 0:
        raise HwragError(f"--timeout {a.timeout} not accepted; give seconds > 0")
    if not 1 <= a.depth <= 200:
        raise HwragError(f"--depth {a.depth} not accepted; give an integer in 1..200")
    if a.config == "formal":
        cfgs = [FORMAL_CONFIG]
    elif a.config == "slow":
        cfgs = list(SLOW_CONFIGS)
    else:
        cfgs = [config_from_name(a.config)]
    for p in a.property or ():
        if p not in PROPERTIES:
            raise HwragError(f"--property {p!r} unknown; accepted: {', '.join(PROPERTIES)}")
    out = [_prove_one(cfg, a) for cfg in cfgs]
    if a.equivalence:
        from .equiv import prove_equivalence

        for o, cfg in zip(out, cfgs):
            o["equivalence"] = e = prove_equivalence(cfg, timeout=a.timeout)
            if not a.json:
                print(f"{cfg.name:<20} {'netlist == RTL':<16} {'proved' if e['equivalent'] else 'FAILED':<8} "
                      f"{e['proven']}/{e['equiv_pairs']} signal pairs  synthesis {e['synth_s']:.1f} s, "
                      f"equivalence {e['equiv_s']:.1f} s  ({e['workdir']})", flush=True)
    if a.json:
        print(json.dumps(out if len(out) > 1 else out[0], indent=1, default=str))
    bad = [r for o in out for r in o["results"] if r["status"] in ("failed", "timeout", "error")]
    bad += [o for o in out if "equivalence" in o and not o["equivalence"]["equivalent"]]
    return 1 if bad else 0


def add_rtl_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("rtl", help="IVF-PQ scan unit RTL: Verilog export, timing cards, verification")
    sub = p.add_subparsers(dest="rtl_command", metavar="ACTION", required=True)

    e = sub.add_parser("export", help="write the Verilog module and timing card of a configuration")
    _add_config_flags(e)
    e.add_argument("-o", "--output", default="build/rtl", help="directory for .v (and cards) (default build/rtl)")
    e.add_argument("--cards-dir", default=None, help="write cards here instead (rtl/cards regenerates the "
                   "checked-in cards)")
    e.add_argument("--defaults", action="store_true", help="every default configuration (those in rtl/cards)")
    e.add_argument("--no-card", action="store_true", help="Verilog only")
    e.add_argument("--lint", action="store_true", help="run verilator --lint-only -Wall on each module")
    e.add_argument("--json", action="store_true")
    e.set_defaults(func=_export)

    v = sub.add_parser("verify", help="run the testbench suite for a configuration; pass/fail and cycles/s")
    _add_config_flags(v)
    v.add_argument("--sim", choices=SIM_CHOICES, default="verilator")
    v.add_argument("--seed", type=int, default=1)
    v.add_argument("--queries", type=int, default=3, help="random queries per test (default 3)")
    v.add_argument("--max-codes", type=int, default=40, help="most codes per probed list (default 40)")
    v.add_argument("--lists", type=int, default=2, help="most probed lists per random query (default 2)")
    v.add_argument("--cov-queries", type=int, default=24,
                   help="queries of the coverage-directed random test (default 24)")
    v.add_argument("--waves", action="store_true", help="dump waveforms (also HWRAG_WAVES=1)")
    v.add_argument("--coverage", action="store_true", help="functional coverage (cocotb-coverage) and, on "
                   "Verilator, line/toggle code coverage; prints the table and writes the report")
    v.add_argument("--no-code-coverage", action="store_true", help="with --coverage: functional coverage only "
                   "(Verilator coverage builds take about twice as long)")
    v.add_argument("--coverage-out", default="build/rtl_coverage", help="report directory (default "
                   "build/rtl_coverage)")
    v.add_argument("--matrix", choices=("default", "full"), default=None,
                   help="run a whole verification matrix (rtl/matrix.py) with coverage, merged")
    v.add_argument("--inject-fault", choices=tuple(FAULT_NAMES), default=None,
                   help="test only: build the unit with a known bug to see the harness catch it")
    v.add_argument("--json", action="store_true")
    v.set_defaults(func=_verify)

    s = sub.add_parser("synth", help="FPGA resources (Yosys synth_xilinx, UltraScale+) and units that fit "
                       "an Alveo U250 / U55C")
    _add_config_flags(s)
    s.add_argument("--defaults", action="store_true", help="every checked-in configuration (rtl/cards)")
    s.add_argument("--from-cards", action="store_true", help="report the cards' synthesis sections; run no tool")
    s.add_argument("--write-cards", action="store_true", help="write the results into the timing cards")
    s.add_argument("--cards-dir", default=None, help="timing-card directory (default rtl/cards)")
    s.add_argument("--timeout", type=float, default=None,
                   help="seconds the whole command may take, Verilog generation and every Yosys run (default: none)")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=_synth)

    f = sub.add_parser("prove", help="prove the scan unit's properties (rtl/props.py) with SymbiYosys: "
                       "BMC + k-induction; proved / failed / bounded per property, with time")
    f.add_argument("--config", default="formal", help="formal (m2_u2_k2_f2x3x2, the default tier's), slow "
                   "(the bigger ones of rtl.formal.SLOW_CONFIGS) or a configuration name such as "
                   "m4_u2_k3_f2x4x2 (default formal)")
    f.add_argument("--depth", type=int, default=16, help="BMC depth of the base case and length of the "
                   "k-induction, in cycles (default 16)")
    f.add_argument("--property", action="append", default=None, help="prove only this property (repeatable; "
                   "default: all of rtl.props.PROPERTIES that apply)")
    f.add_argument("--inject-fault", choices=tuple(FAULT_NAMES), default=None,
                   help="test only: prove on a unit built with a known bug (default none)")
    f.add_argument("--replay", choices=("verilator", "icarus", "none"), default="verilator",
                   help="replay each counterexample in cocotb on this simulator (default verilator)")
    f.add_argument("--timeout", type=float, default=600.0, help="seconds allowed per property (default 600)")
    f.add_argument("--work", default="build/rtl_formal", help="SymbiYosys work directories, traces "
                   "(default build/rtl_formal)")
    f.add_argument("--equivalence", action="store_true", help="also synthesize (Yosys synth_xilinx) and prove "
                   "the netlist equivalent to the RTL (rtl/equiv.py) (default off)")
    f.add_argument("--json", action="store_true", help="one JSON document instead of the table (default off)")
    f.set_defaults(func=_prove)
    return p

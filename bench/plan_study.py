"""The worked study of the README (``hwrag plan --study``; modeled): for each of Chameleon's four ChamLM models,
which configuration the planner picks at two time-per-output-token targets, and how the pick moves as the
datastore grows from 10^8 to 10^10 vectors and the retrieval interval from 1 to 512 tokens.

Targets are relative to the model's own decoder step at batch 64 (:func:`hwsim.ralm.step_s`): TPOT at most
1.25 x the step (retrieval may add a quarter of a step to each token) and at most 2 x the step. The hardware
of each (model, datastore) is modeled once (:func:`hwsim.plan.model_space`); every interval and target is
derived from it (:func:`hwsim.plan.derive`). Also printed: on Chameleon's own two configurations (8-core CPU
with faiss, one FPGA node with GPU list selection, steps and retrievals in series), the modeled winner against
the measured one (:data:`hwsim.measured.CHAMLM`). Writes ``study.json``.
"""
from __future__ import annotations

import json
import os
import resource
import sys
import time
from dataclasses import replace
from pathlib import Path

NTOTALS = (10 ** 8, 10 ** 9, 10 ** 10)
INTERVALS = (1, 8, 64, 512)
TPOT_FACTORS = (1.25, 2.0)
MODELS = ("dec-s", "dec-l", "encdec-s", "encdec-l")


def _cell(p) -> dict:
    return {"system": p.system, "nodes": p.nodes, "cpu_cores": p.cpu_cores, "overlap": p.overlap,
            "chips": p.chips, "tpot_ms": p.tpot_s * 1e3, "tokens_per_s": p.tokens_per_s,
            "price_usd": p.price_usd, "bottleneck": p.bottleneck}


def study_one(model: str, ntotal: int, intervals=INTERVALS, factors=TPOT_FACTORS, samples: int = 11) -> list[dict]:
    """The planner's pick for one model and datastore size at every interval and TPOT target."""
    from hwsim import ralm
    from hwsim.plan import LMS, PLAN_POOL_QUERIES, PRESETS, Targets, cheapest, derive, model_space, space
    from hwsim.workload import make_pool

    base = PRESETS[model]
    w = replace(base, datastore=replace(base.datastore, ntotal=ntotal), interval=1)
    pool = make_pool(w.spec(), n=PLAN_POOL_QUERIES)
    configs = space(w, pool=pool)
    retrievals = model_space(w, configs, samples, pool, workers=min(2, os.cpu_count() or 1))
    step = ralm.step_s(LMS[model], w.batch)["step_s"]
    rows = []
    for interval in intervals:
        for f in factors:
            wi = replace(w, interval=interval, targets=Targets(tpot_s=f * step))
            pts = derive(wi, configs, retrievals)
            c = cheapest(pts)
            fit = [p for p in pts if p.fits]
            best = min(fit, key=lambda p: p.tpot_s) if fit else None
            rows.append({"model": model, "ntotal": ntotal, "interval": interval, "tpot_factor": f,
                         "tpot_target_ms": f * step * 1e3, "decoder_step_ms": step * 1e3,
                         "choice": _cell(c) if c else None,
                         "fastest": _cell(best) if best else None, "fitting_configurations": len(fit)})
    return rows


def chameleon_check(samples: int = 11) -> list[dict]:
    """Chameleon's own ChamLM configurations: the modeled winner of its CPU (8 cores, faiss) and FPGA-GPU (one
    node) systems, steps and retrievals in series, against the measured one."""
    from hwsim.plan import PRESETS, Config, derive, model_space

    from hwsim.measured import CHAMLM

    out = []
    for (m, interval, batch), measured in CHAMLM.items():
        w = replace(PRESETS[m], interval=interval, batch=batch)
        configs = [Config("cpu", "cpu", 1, 8, "serial"), Config("fpga", "gpu", 1, 8, "serial")]
        pts = derive(w, configs, model_space(w, configs, samples))
        modeled = {"cpu-gpu (as run: CPU faiss)": pts[0].tokens_per_s, "fpga-gpu": pts[1].tokens_per_s}
        meas = dict(zip(modeled, measured))
        out.append({"model": m, "interval": interval, "batch": batch, "modeled_tokens_per_s": modeled,
                    "measured_tokens_per_s": meas, "modeled_winner": max(modeled, key=modeled.get),
                    "measured_winner": max(meas, key=meas.get)})
    return out


def run_study(models=MODELS, ntotals=NTOTALS, progress: bool = True) -> dict:
    rows, t0 = [], time.time()
    for m in models:
        for n in ntotals:
            if progress:
                print(f"  {m} at {n:.0e} vectors ({time.time() - t0:.0f} s)", file=sys.stderr, flush=True)
            rows += study_one(m, n)
    return {"figures": "modeled", "rows": rows, "chameleon": chameleon_check(),
            "targets": f"TPOT <= {' and '.join(f'{f:g}' for f in TPOT_FACTORS)} x the model's decoder step at batch 64",
            "wall_s": time.time() - t0}


def _label(c: dict | None, fastest: dict | None) -> str:
    if c is None:
        if not fastest:
            return "none fits"
        bound = "retrieval-bound" if fastest["bottleneck"].startswith("retrieval") else "LM-bound"
        return f"none (best {fastest['tpot_ms']:.0f} ms, {fastest['system']}, {bound})"
    return f"{c['system']}×{c['nodes']}{' tt' if c['overlap'] == 'tiktok' else ''}" + \
           (f" {c['cpu_cores']}c" if c["system"] in ("cpu", "cpu-gpu") else "")


def markdown(result: dict) -> str:
    """One table per TPOT target: rows model x datastore, columns intervals."""
    out = []
    for f in TPOT_FACTORS:
        out.append(f"\nTPOT ≤ {f:g} × decoder step (modeled; cell: cheapest system × memory nodes, 'tt' = tik-tok "
                   "sub-batches, 'c' = CPU cores)\n")
        out.append("| model (step ms) | vectors | " + " | ".join(f"interval {i}" for i in INTERVALS) + " |")
        out.append("|---|---|" + "---|" * len(INTERVALS))
        rows = [r for r in result["rows"] if r["tpot_factor"] == f]
        for m in dict.fromkeys(r["model"] for r in rows):
            for n in NTOTALS:
                cells = [r for r in rows if r["model"] == m and r["ntotal"] == n]
                if not cells:
                    continue
                step = cells[0]["decoder_step_ms"]
                out.append(f"| {m} ({step:.1f}) | 1e{len(str(n)) - 1} | " +
                           " | ".join(_label(r["choice"], r["fastest"]) for r in cells) + " |")
    out.append("\nChameleon's configurations (serial, batch 64): modeled vs measured tokens/s")
    for c in result["chameleon"]:
        mod, mea = c["modeled_tokens_per_s"], c["measured_tokens_per_s"]
        out.append(f"- {c['model']} interval {c['interval']}: " + ", ".join(
            f"{k} {mod[k]:.0f} modeled / {mea[k]:.0f} measured" for k in mod) +
            f"; winner modeled {c['modeled_winner']}, measured {c['measured_winner']}")
    return "\n".join(out)


def main_study(out: Path, as_json: bool = False) -> int:
    from ivfpq.jsonable import plain

    result = run_study()
    out.mkdir(parents=True, exist_ok=True)
    (out / "study.json").write_text(json.dumps(plain(result), indent=1))
    if as_json:
        json.dump(plain(result), sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        print(markdown(result))
        print(f"\nmodeled in {result['wall_s']:.0f} s (wall); {out / 'study.json'}")
    return 0


def time_default_space(preset: str = "dec-s", workers=(1, 2)) -> dict:
    """Wall and CPU seconds (this process and its forked workers) of one cold evaluation of a preset's default
    space with 1 and 2 worker processes (measured), with this machine's CPU and load average."""
    from hwsim.plan import PRESETS, evaluate

    from .machine import cpu_identity

    runs = []
    for k in workers:
        load0 = os.getloadavg()
        t, c = time.perf_counter(), time.process_time()
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        pts = evaluate(PRESETS[preset], workers=k)
        kids2 = resource.getrusage(resource.RUSAGE_CHILDREN)
        runs.append({"workers": k, "configurations": len(pts), "wall_s": time.perf_counter() - t,
                     "cpu_s": time.process_time() - c + (kids2.ru_utime + kids2.ru_stime)
                     - (kids.ru_utime + kids.ru_stime), "load_average_before": load0,
                     "load_average_after": os.getloadavg()})
    return {"figures": "measured", "preset": preset, "runs": runs, "cpu": cpu_identity()["cpu_model"],
            "cores": os.cpu_count()}


if __name__ == "__main__":
    if sys.argv[1:2] == ["--time"]:
        print(json.dumps(time_default_space(*sys.argv[2:3]), indent=1))
        sys.exit(0)
    sys.exit(main_study(Path(sys.argv[1] if len(sys.argv) > 1 else "plan")))

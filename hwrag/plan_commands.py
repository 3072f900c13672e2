"""``hwrag plan WORKLOAD``: the cheapest retrieval hardware for a RALM workload and its Pareto frontiers
(modeled, :mod:`hwsim.plan`), each point beside the fidelity report's error on the nearest validated
configuration (:mod:`bench.plan_fidelity`); writes ``plan.json`` and one PNG per objective. ``hwrag plan
--study`` runs the worked study of the README (:mod:`bench.plan_study`). This module lives in ``hwrag``, not
``hwsim``, because it joins the model to ``bench`` (docs/DESIGN.md § Floors)."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from ivfpq.errors import HwragError
from ivfpq.jsonable import plain

DEFAULT_WORKERS = min(2, os.cpu_count() or 1)
OBJECTIVE_LABEL = {"chip": "tokens/s per chip", "watt": "tokens/s per watt", "dollar": "tokens/s per list-price $"}


def _cmd_plan(args) -> int:
    from hwsim.plan import OVERLAPS, SYSTEMS, load_workload, plan, with_targets

    if args.study:
        from bench.plan_study import main_study

        return main_study(Path(args.out), args.json)
    if not args.workload:
        raise HwragError("plan: name a WORKLOAD (a preset or a TOML / JSON file), or pass --study")
    for flag, given, known in (("--systems", args.systems, SYSTEMS), ("--overlap", args.overlap, OVERLAPS)):
        bad = [s for s in given or () if s not in known]
        if bad:
            raise HwragError(f"unknown {flag} value {bad[0]!r}; accepted: {', '.join(known)}")
    w = with_targets(load_workload(args.workload), args.latency_ms, args.tokens_per_s, args.ttft_ms, args.tpot_ms,
                     args.percentile)
    annotate = None
    if not args.no_fidelity:
        from bench.plan_fidelity import annotate
    if args.samples < 1:
        raise HwragError(f"--samples must be >= 1, got {args.samples}")
    if args.workers < 1:
        raise HwragError(f"--workers must be >= 1, got {args.workers}")
    r = plan(w, tuple(args.systems or SYSTEMS), tuple(args.overlap or OVERLAPS), args.samples, annotate=annotate,
             workers=args.workers)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "plan.json").write_text(json.dumps(plain(r), indent=1))
    pngs = [_plot(r, o, out / f"plan_{o}.png") for o in r["frontiers"]]
    if args.json:
        json.dump(plain(r | {"files": [str(out / "plan.json")] + [str(p) for p in pngs]}), sys.stdout, indent=1)
        sys.stdout.write("\n")
        return 0
    _print_table(w, r)
    print(f"{len(r['points'])} configurations evaluated; files: {out / 'plan.json'}, {', '.join(map(str, pngs))}")
    return 0


def _fmt(v, spec: str, scale: float = 1.0) -> str:
    """``v`` formatted, or a dash of the same width where it is undefined."""
    return format("-", ">" + spec.split(".")[0]) if v is None else format(v * scale, spec)


def _print_table(w, r: dict) -> None:
    from bench.plan_fidelity import short

    t, ds = w.targets, w.datastore
    goals = [f"{n} <= {v * 1e3:g} ms" for n, v in (("retrieval", t.retrieval_latency_s), ("TTFT", t.ttft_s),
                                                    ("TPOT", t.tpot_s)) if v is not None]
    goals += [f"tokens/s >= {t.tokens_per_s:g}"] if t.tokens_per_s is not None else []
    print(f"modeled: {w.name} — LM {w.lm}, datastore {ds.ntotal:.0e} x D{ds.d} PQ{ds.M} IVF{ds.nlist} nprobe "
          f"{ds.nprobe} K {ds.k}, retrieval every {w.interval} token(s), batch {w.batch}; targets "
          f"({t.percentile}): {', '.join(goals) or 'none'}")
    on = {}
    for o, front in r["frontiers"].items():
        for p in front:
            on.setdefault((p["system"], p["nodes"], p["cpu_cores"], p["overlap"]), set()).add(o)
    pct = "p95" if t.percentile == "p95" else ""
    print(f"{'system':<12} {'nodes':>5} {'cores':>5} {'overlap':<7} {'chips':>5} {'ret ms':>7} {'TTFT ms':>8} "
          f"{'TPOT ms':>8} {'tok/s':>7} {'/chip':>6} {'/W':>5} {'/k$':>6} {'J/tok':>6} {'mJ/q':>6} meets  "
          f"frontiers  bottleneck; fidelity of the nearest validated configuration")
    for p in r["points"]:
        k = (p["system"], p["nodes"], p["cpu_cores"], p["overlap"])
        if k not in on:
            continue
        fid = short(p["fidelity"]) if "fidelity" in p else "-"
        print(f"{p['system']:<12} {p['nodes']:>5} {p['cpu_cores']:>5} {p['overlap']:<7} {p['chips']:>5} "
              f"{p['retrieval_latency' + ('_p95' if pct else '') + '_s'] * 1e3:>7.2f} "
              f"{p['ttft' + ('_p95' if pct else '') + '_s'] * 1e3:>8.2f} {p['tpot' + ('_p95' if pct else '') + '_s'] * 1e3:>8.2f} "
              f"{p['tokens_per_s']:>7.0f} {p['tokens_per_s_per_chip']:>6.0f} {_fmt(p['tokens_per_s_per_watt'], '5.2f')} "
              f"{_fmt(p['tokens_per_s_per_dollar'], '6.0f', 1e3)} {_fmt(p['energy_per_token_J'], '6.3f')} "
              f"{p['retrieval_energy_per_query_J'] * 1e3:>6.1f} {'yes' if p['meets'] else 'no':<5}  "
              f"{','.join(sorted(on[k])):<9}  {p['bottleneck']}; {fid}")
    c = r["choice"]
    if c:
        price = f", list price ${c['price_usd']:,.0f}" if c["price_usd"] is not None else ", no public list price"
        print(f"cheapest that meets every target: {c['system']} with {c['nodes']} node(s), {c['cpu_cores']} cores, "
              f"{c['overlap']}, {c['chips']} chips{price} ({c['config']})")
    else:
        print(f"no configuration meets every target: {r['unmet']}")
    print("undefined (-): per watt where a PIM node has no cited power; per dollar where a component has no public "
          "list price (hwsim/plan_costs.py)")


def _plot(r: dict, objective: str, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    key = {"chip": "tokens_per_s_per_chip", "watt": "tokens_per_s_per_watt", "dollar": "tokens_per_s_per_dollar"}[objective]
    lat = "retrieval_latency_p95_s" if r["workload"]["targets"]["percentile"] == "p95" else "retrieval_latency_s"
    fig, ax = plt.subplots(figsize=(7, 4.5))
    pts = [p for p in r["points"] if p["fits"] and p[key] is not None]
    ax.scatter([p[lat] * 1e3 for p in pts], [p[key] for p in pts], color="0.7", label="configurations")
    fr = r["frontiers"][objective]
    ax.plot([p[lat] * 1e3 for p in fr], [p[key] for p in fr], "o-", color="C3", label="Pareto frontier")
    for p in fr:
        ax.annotate(f"{p['system']} x{p['nodes']} {p['overlap']}", (p[lat] * 1e3, p[key]), fontsize=7,
                    xytext=(3, 3), textcoords="offset points")
    if not pts:
        ax.text(0.5, 0.5, "undefined for every configuration (no cited figure)", ha="center",
                transform=ax.transAxes)
    t = r["workload"]["targets"]
    if t["retrieval_latency_s"] is not None:
        ax.axvline(t["retrieval_latency_s"] * 1e3, ls="--", color="C0", label="latency target")
    ax.set_xscale("log")
    ax.set_xlabel(f"retrieval latency per batch, ms ({t['percentile']}, modeled)")
    ax.set_ylabel(f"{OBJECTIVE_LABEL[objective]} (modeled)")
    ax.set_title(f"hwrag plan: {r['workload']['name']} (modeled)", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def add_plan_parser(subparsers) -> None:
    from hwsim.plan import OVERLAPS, PERCENTILES, PRESETS, SYSTEMS

    p = subparsers.add_parser("plan", help="the cheapest retrieval hardware that meets a RALM workload's targets, "
                                           "and its Pareto frontiers (modeled)")
    p.add_argument("workload", nargs="?", help=f"a preset ({', '.join(PRESETS)}) or a TOML / JSON workload file "
                                               "(required unless --study)")
    p.add_argument("--latency-ms", type=float, default=None,
                   help="retrieval latency target per batch, ms (default: the workload's, or none)")
    p.add_argument("--tokens-per-s", type=float, default=None,
                   help="generated tokens/s target (default: the workload's, or none)")
    p.add_argument("--ttft-ms", type=float, default=None,
                   help="time-to-first-token target, ms (default: the workload's, or none)")
    p.add_argument("--tpot-ms", type=float, default=None,
                   help="time-per-output-token target, ms (default: the workload's, or none)")
    p.add_argument("--percentile", choices=PERCENTILES, default=None,
                   help="which figure the targets check (default: the workload's, else median)")
    p.add_argument("--systems", nargs="+", metavar="SYSTEM", help=f"subset of: {', '.join(SYSTEMS)} (default: all)")
    p.add_argument("--overlap", nargs="+", metavar="MODE",
                   help=f"retrieval/inference overlap modes, subset of: {', '.join(OVERLAPS)} (default: both)")
    p.add_argument("--samples", type=int, default=11,
                   help="modeled retrieval batches per configuration (median and p95 over them; default: %(default)s)")
    p.add_argument("--workers", type=int, default=DEFAULT_WORKERS,
                   help="processes that model the space (same figures with any number; default: %(default)s, "
                        "this machine's cores up to 2)")
    p.add_argument("--no-fidelity", action="store_true",
                   help="skip the fidelity error of the nearest validated configuration (default: computed)")
    p.add_argument("--study", action="store_true",
                   help="run the README's worked study instead of one workload (default: off; minutes)")
    p.add_argument("--out", default="plan", help="folder for the JSON and PNG files (default: %(default)s)")
    p.add_argument("--json", action="store_true", help="print JSON (default: a table)")
    p.set_defaults(func=_cmd_plan)

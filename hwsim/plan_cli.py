"""``hwrag plan WORKLOAD``: the Pareto frontier of retrieval hardware for a RALM workload (modeled); prints it,
names the configuration with the fewest chips that meets every target, writes ``plan.json`` and ``plan.png``."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from ivfpq.jsonable import plain


def _cmd_plan(args) -> int:
    from .plan import load_workload, plan, with_targets
    from .system import SYSTEM_TABLE

    bad = [s for s in args.systems or () if s not in SYSTEM_TABLE]
    if bad:
        from ivfpq.errors import HwragError

        raise HwragError(f"unknown system {bad[0]!r}; accepted: {', '.join(SYSTEM_TABLE)}")
    w = with_targets(load_workload(args.workload), args.latency_ms, args.tokens_per_s)
    r = plan(w, tuple(args.systems or SYSTEM_TABLE))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "plan.json").write_text(json.dumps(plain(r), indent=1))
    png = _plot(r, out / "plan.png")
    if args.json:
        json.dump(plain(r | {"files": [str(out / "plan.json"), str(png)]}), sys.stdout, indent=1)
        sys.stdout.write("\n")
        return 0
    t = w.targets
    print(f"modeled: {w.name} — LM {w.lm}, datastore {w.datastore.ntotal:.0e} x D{w.datastore.d} PQ{w.datastore.M} "
          f"IVF{w.datastore.nlist} nprobe {w.datastore.nprobe} K {w.datastore.k}, retrieval every {w.interval} "
          f"token(s), batch {w.batch}; targets: retrieval "
          f"{'-' if t.retrieval_latency_s is None else f'<= {t.retrieval_latency_s * 1e3:g} ms'}, tokens/s "
          f"{'-' if t.tokens_per_s is None else f'>= {t.tokens_per_s:g}'}")
    print(f"{'system':<9} {'nodes':>5} {'cores':>5} {'chips':>5} {'retrieval ms':>12} {'tokens/s':>9} "
          f"{'tok/s/chip':>10} {'mJ/query':>9}  meets  bound")
    for p in r["frontier"]:
        print(f"{p['system']:<9} {p['nodes']:>5} {p['cpu_cores']:>5} {p['chips']:>5} "
              f"{p['retrieval_latency_s'] * 1e3:>12.3f} {p['tokens_per_s']:>9.1f} {p['tokens_per_s_per_chip']:>10.1f} "
              f"{p['energy_per_query_J'] * 1e3:>9.2f}  {'yes' if p['meets'] else 'no':<5}  {p['bound']}")
    c = r["choice"]
    if c:
        print(f"cheapest that meets every target: {c['system']} with {c['nodes']} node(s), {c['cpu_cores']} cores, "
              f"{c['chips']} chips ({c['config']})")
    else:
        print(f"no configuration meets every target: {r['unmet']}")
    print(f"{len(r['points'])} configurations evaluated, {len(r['frontier'])} on the frontier; files: "
          f"{out / 'plan.json'}, {png}")
    return 0


def _plot(r: dict, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    pts = [p for p in r["points"] if p["fits"]]
    ax.scatter([p["retrieval_latency_s"] * 1e3 for p in pts], [p["tokens_per_s_per_chip"] for p in pts], color="0.7",
               label="configurations")
    fr = r["frontier"]
    ax.plot([p["retrieval_latency_s"] * 1e3 for p in fr], [p["tokens_per_s_per_chip"] for p in fr], "o-", color="C3",
            label="Pareto frontier")
    for p in fr:
        ax.annotate(f"{p['system']} x{p['nodes']}", (p["retrieval_latency_s"] * 1e3, p["tokens_per_s_per_chip"]),
                    fontsize=7, xytext=(3, 3), textcoords="offset points")
    t = r["workload"]["targets"]
    if t["retrieval_latency_s"] is not None:
        ax.axvline(t["retrieval_latency_s"] * 1e3, ls="--", color="C0", label="latency target")
    ax.set_xscale("log")
    ax.set_xlabel("retrieval latency per batch, ms (modeled)")
    ax.set_ylabel("generated tokens/s per chip (modeled)")
    ax.set_title(f"hwrag plan: {r['workload']['name']} (modeled)", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def add_plan_parser(subparsers) -> None:
    from .plan import PRESETS
    from .system import SYSTEM_TABLE

    p = subparsers.add_parser("plan", help="the retrieval hardware that meets a RALM workload's targets, as a "
                                           "Pareto frontier (modeled)")
    p.add_argument("workload", help=f"a preset ({', '.join(PRESETS)}) or a TOML / JSON workload file (required)")
    p.add_argument("--latency-ms", type=float, default=None,
                   help="retrieval latency target per batch, ms (default: the workload's, or none)")
    p.add_argument("--tokens-per-s", type=float, default=None,
                   help="generated tokens/s target (default: the workload's, or none)")
    p.add_argument("--systems", nargs="+", metavar="SYSTEM",
                   help=f"subset of: {', '.join(SYSTEM_TABLE)} (default: all)")
    p.add_argument("--out", default="plan", help="folder for plan.json and plan.png (default: %(default)s)")
    p.add_argument("--json", action="store_true", help="print JSON (default: a table)")
    p.set_defaults(func=_cmd_plan)

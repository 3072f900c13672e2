"""``hwrag bench fidelity``: the system model against Chameleon's measured system, every calibration figure.

Measured figures: ``docs/REFERENCE.md`` § Chameleon measured results (Chameleon's result archives; SIFT is the calibration
set, Deep the validation set: no parameter comes from Deep). Modeled: :mod:`hwsim.system` and
:mod:`hwsim.ralm` with their cited and measured-here parameters. Prints modeled vs measured with the error
of each and writes ``fidelity.json`` and ``fidelity.png``.
"""
from __future__ import annotations

import json
from pathlib import Path

from tqdm import tqdm

SYSTEMS = ("cpu", "cpu-gpu", "fpga-cpu", "fpga-gpu")
#: docs/REFERENCE.md § Chameleon measured results (medians of 100 batches; QPS at large batches; energy; ChamLM)
LATENCY_MS = {
    "sift": {1: (9.12, 7.83, 2.49, 1.59), 4: (10.67, 9.73, 4.22, 3.39), 16: (22.15, 20.99, 11.24, 10.35),
             64: (77.70, 75.77, 43.29, 37.78)},
    "deep": {1: (8.36, 8.68, 2.17, 1.53), 4: (12.66, 11.71, 3.58, 3.44), 16: (25.51, 22.75, 11.25, 10.85),
             64: (83.59, 80.34, 44.99, 39.45)},
}
THROUGHPUT_QPS = {"sift": (1018, 1027, 1912, 1932), "deep": (940, 962, 1913, 1931)}
ENERGY_MJ = {"sift": {"cpu": (950.3, 434.0, 143.3), "fpga-gpu": (53.6, 28.2, 21.5)},
             "deep": {"cpu": (929.5, 412.9, 141.9), "fpga-gpu": (52.3, 26.9, 20.5)}}
CHAMLM = {("dec-s", 1, 64): (191.8, 609.1), ("encdec-s", 8, 64): (941.0, 1719.0)}
ROLE = {"sift": "calibration", "deep": "validation"}


def _row(kind, dataset, system, batch, modeled, measured, unit):
    modeled = float(modeled)
    err = (modeled - measured) / measured * 100
    return {"figure": kind, "dataset": dataset, "system": system, "batch": batch, "unit": unit,
            "measured": measured, "modeled": modeled, "error_pct": err, "role": ROLE.get(dataset, "calibration")}


def run_fidelity(progress: bool = True, datasets=("sift", "deep"), chamlm: bool = True) -> dict:
    from hwsim.ralm import tokens_per_s
    from hwsim.system import SystemModel, system_spec

    rows = []
    steps = [(ds, b) for ds in datasets for b in (1, 4, 16, 64)]
    models = {ds: SystemModel(system_spec(ds)) for ds in datasets}
    for ds, b in tqdm(steps, desc="fidelity", disable=not progress):
        r = models[ds].model(SYSTEMS, b)
        for i, s in enumerate(SYSTEMS):
            rows.append(_row("latency", ds, s, b, r["latency_s"][s] * 1e3, LATENCY_MS[ds][b][i], "ms"))
        if b <= 16:
            j = (1, 4, 16).index(b)
            for s in ("cpu", "fpga-gpu"):
                rows.append(_row("energy", ds, s, b, r["energy_per_query_J"][s] * 1e3, ENERGY_MJ[ds][s][j], "mJ"))
        if b == 1:
            for i, s in enumerate(SYSTEMS):
                rows.append(_row("throughput", ds, s, None, r["throughput_qps"][s], THROUGHPUT_QPS[ds][i], "QPS"))
    if chamlm:
        for (m, interval, batch), meas in CHAMLM.items():
            t = tokens_per_s(m, interval, batch, ("cpu", "fpga"))["tokens_per_s"]
            for s, v in zip(("cpu-gpu", "fpga-gpu"), meas):
                rows.append(_row("chamlm", f"{m} interval {interval}", s, batch, float(t[s]), v, "tokens/s"))
    tol = {"latency": 10, "throughput": 10, "energy": 20, "chamlm": 15}
    for r in rows:
        r["within_tolerance"] = bool(abs(r["error_pct"]) <= tol[r["figure"]])
    return {"rows": rows, "tolerance_pct": tol,
            "note": "measured = Chameleon's published measurements (docs/REFERENCE.md § Chameleon measured results); modeled = "
                    "hwsim.system / hwsim.ralm; SIFT calibrates, Deep validates"}


def write_fidelity_report(result: dict, out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    (out / "fidelity.json").write_text(json.dumps(result, indent=1, default=float))
    kinds = ("latency", "throughput", "energy", "chamlm")
    fig, axes = plt.subplots(1, 4, figsize=(17, 4.6))
    for ax, kind in zip(axes, kinds):
        rows = [r for r in result["rows"] if r["figure"] == kind]
        for r in rows:
            ax.scatter(r["measured"], r["modeled"], marker="o" if r["role"] == "calibration" else "^",
                       color={"cpu": "C0", "cpu-gpu": "C1", "fpga-cpu": "C2", "fpga-gpu": "C3"}.get(r["system"], "k"))
        lo = min(min(r["measured"], r["modeled"]) for r in rows) * 0.8
        hi = max(max(r["measured"], r["modeled"]) for r in rows) * 1.2
        tol = result["tolerance_pct"][kind] / 100
        ax.plot([lo, hi], [lo, hi], "k-", lw=0.8)
        ax.fill_between([lo, hi], [lo * (1 - tol), hi * (1 - tol)], [lo * (1 + tol), hi * (1 + tol)], alpha=0.15)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(f"measured ({rows[0]['unit']})")
        ax.set_ylabel(f"modeled ({rows[0]['unit']})")
        ax.set_title(f"{kind} (band: ±{result['tolerance_pct'][kind]} %)", fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
    handles = [plt.Line2D([], [], ls="", marker="o", color=c, label=s)
               for s, c in (("cpu", "C0"), ("cpu-gpu", "C1"), ("fpga-cpu", "C2"), ("fpga-gpu", "C3"))]
    handles += [plt.Line2D([], [], ls="", marker=m, color="gray", label=l)
                for m, l in (("o", "SIFT (calibration)"), ("^", "Deep (validation)"))]
    fig.legend(handles=handles, loc="lower center", ncol=6, fontsize=8)
    fig.suptitle("hwsim system model (modeled) vs Chameleon's measured system", fontsize=11)
    fig.tight_layout(rect=(0, 0.07, 1, 0.95))
    fig.savefig(out / "fidelity.png", dpi=100)
    plt.close(fig)
    return [out / "fidelity.json", out / "fidelity.png"]

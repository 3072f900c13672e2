"""``hwrag bench fidelity``: the system model against Chameleon's measured system, every calibration figure.

Measured figures: ``docs/REFERENCE.md`` § Chameleon measured results (Chameleon's result archives). SIFT is
the calibration set and Deep the validation set. Every parameter is measured here or cited
(``docs/REFERENCE.md`` § System model parameters) except three constants fitted once on the calibration set
and listed with their residuals (:func:`fit_probe_correlation`, :func:`fit_busy_clock`, :func:`fit_op_cost`);
some are component measurements Chameleon made on SIFT runs: the socket power (turbostat, SIFT batch 1 and 64), the
RTX 3090's list-selection time and power (SIFT batch 1), the list-size spread and the real queries' probe
bias (SIFT100M lists). The SIFT energy rows therefore partly echo their inputs (e.g. 183.31 W x 0.19 ms =
34.8 of the 53.6 mJ FPGA-GPU figure at batch 1); Deep, which supplies nothing, is the independent check.
SIFT is where the model was examined while it was built, Deep was only run. Modeled: :mod:`hwsim.system` and :mod:`hwsim.ralm`. Each
measured figure is compared with the model of the run that produced it:

* ``CPU-GPU`` latency and throughput: Chameleon's baseline script ran CPU-only faiss for this row (its
  ``parse_arch`` returns ``'CPU-GPU'``, its retriever tests ``device == 'cpu-gpu'``), so the modeled figure
  is the ``cpu`` system's (the row says so); the intended system is reported beside it.
* CPU energy: the published figure is the socket's power times the time per query of a separate run on 16
  threads (``taskset --cpu-list 0-15``), so it is compared with the model of that run (16 cores).
* ChamLM: the throughput runs set ``use_tiktok: 0`` (steps, then retrieval, in series).

Also printed, outside the tolerance count: P95 latency (SIFT, a check on the modeled spread of query cost),
the FPGA rows' P95 of another run of the same experiment (:data:`P95_OTHER_RUN_MS`: the testbed's run-to-run
spread), the measured medians' own speed-ups beside the paper's ranges,
the CPU figures with today's faiss per-code costs over cold lists (``cpu_regime="cold"``, a diagnostic: not
the loop Chameleon's faiss 1.7.2 ran, see :mod:`hwsim.cpu`), every speed-up range of the paper's text over
the study's shapes, the fitted constants with their residuals and UPMEM configured like PIM-ANNS against its published QPS
(:mod:`bench.pim_anns`).
Writes ``fidelity.json`` and ``fidelity.png``.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from tqdm import tqdm

from hwsim.measured import (AS_RUN, AS_RUN_NOTE, CHAMLM, ENERGY_MJ, LATENCY_MS, P95_MS,
                            P95_OTHER_RUN_MS, PUBLISHED_CHAMLM_MAX, PUBLISHED_RATIOS, STUDY_SHAPES, SYSTEMS,
                            THROUGHPUT_QPS)

ROLE = {"sift": "calibration", "deep": "validation"}
#: the bands issue 21's acceptance sets, per role: the calibration set within 10 % (latency, QPS), 20 % (energy),
#: 15 % (ChamLM); the validation set (Deep) within 15 / 15 / 25 %
TOLERANCE_PCT = {"calibration": {"latency": 10, "throughput": 10, "energy": 20, "chamlm": 15},
                 "validation": {"latency": 15, "throughput": 15, "energy": 25}}
ENERGY_RUN_NOTE = "CPU: the 16-thread energy run (taskset --cpu-list 0-15)"
#: Chameleon's FPGA-GPU energy is itself computed (board power x scan time + GPU power x selection time,
#: docs/REFERENCE.md § How the figures were produced), not a meter reading
FPGA_ENERGY_NOTE = "published, computed by Chameleon (power x time), not metered"


def _row(kind, dataset, system, batch, modeled, measured, unit, note=""):
    modeled = float(modeled)
    err = (modeled - measured) / measured * 100
    return {"figure": kind, "dataset": dataset, "system": system, "batch": batch, "unit": unit,
            "measured": measured, "modeled": modeled, "error_pct": err, "role": ROLE.get(dataset, "calibration"),
            "note": note}


def _vector_search_rows(ds: str, b: int, r: dict, r16: dict) -> list[dict]:
    rows = []
    for i, s in enumerate(SYSTEMS):
        rows.append(_row("latency", ds, s, b, r[AS_RUN[s]].latency_s * 1e3, LATENCY_MS[ds][b][i], "ms",
                         AS_RUN_NOTE.get(s, "")))
    if b <= 16:
        j = (1, 4, 16).index(b)
        rows.append(_row("energy", ds, "cpu", b, r16["cpu"].energy_per_query_J * 1e3, ENERGY_MJ[ds]["cpu"][j],
                         "mJ", ENERGY_RUN_NOTE))
        rows.append(_row("energy", ds, "fpga-gpu", b, r["fpga-gpu"].energy_per_query_J * 1e3,
                         ENERGY_MJ[ds]["fpga-gpu"][j], "mJ", FPGA_ENERGY_NOTE))
    if b == 1:
        for i, s in enumerate(SYSTEMS):
            rows.append(_row("throughput", ds, s, None, r[AS_RUN[s]].throughput_qps, THROUGHPUT_QPS[ds][i], "QPS",
                             AS_RUN_NOTE.get(s, "")))
    return rows


def _p95_rows(ds: str, b: int, r: dict) -> list[dict]:
    if ds not in P95_MS:
        return []
    return [_row("latency_p95", ds, s, b, r[AS_RUN[s]].latency_p95_s * 1e3, P95_MS[ds][b][i], "ms",
                 AS_RUN_NOTE.get(s, "")) for i, s in enumerate(SYSTEMS)]


def _other_run_rows(ds: str, b: int, r: dict) -> list[dict]:
    if ds not in P95_OTHER_RUN_MS:
        return []
    return [_row("latency_p95_other_run", ds, s, b, r[s].latency_p95_s * 1e3, P95_OTHER_RUN_MS[ds][b][i], "ms",
                 "another run of the same experiment (plot script's comment)")
            for i, s in enumerate(("fpga-cpu", "fpga-gpu"))]


def _cold_rows(ds: str, b: int, rc: dict) -> list[dict]:
    rows = [_row("latency_cpu_cold", ds, s, b, rc["cpu"].latency_s * 1e3, LATENCY_MS[ds][b][i], "ms",
                 AS_RUN_NOTE.get(s, "")) for i, s in enumerate(SYSTEMS[:2])]
    if b == 1:
        rows += [_row("throughput_cpu_cold", ds, s, None, rc["cpu"].throughput_qps, THROUGHPUT_QPS[ds][i], "QPS",
                      AS_RUN_NOTE.get(s, "")) for i, s in enumerate(SYSTEMS[:2])]
    return rows


def run_fidelity(progress: bool = True, datasets=("sift", "deep"), chamlm: bool = True, pim: bool = True) -> dict:
    from hwsim.ralm import tokens_per_s
    from hwsim.system import SystemModel, system_spec

    rows, diagnostics, intended = [], [], {}
    steps = [(ds, b) for ds in datasets for b in (1, 4, 16, 64)]
    models = {ds: SystemModel(system_spec(ds)) for ds in datasets}
    energy_runs = {ds: SystemModel(system_spec(ds), cpu_cores=16, pool=models[ds].pool) for ds in datasets}
    cold = {ds: SystemModel(system_spec(ds), pool=models[ds].pool, cpu_regime="cold") for ds in datasets}
    for ds, b in tqdm(steps, desc="fidelity", disable=not progress):
        r = models[ds].model(SYSTEMS, b)
        r16 = energy_runs[ds].model(("cpu",), b) if b <= 16 else r
        rows += _vector_search_rows(ds, b, r, r16)
        diagnostics += (_p95_rows(ds, b, r) + _other_run_rows(ds, b, r)
                        + _cold_rows(ds, b, cold[ds].model(("cpu",), b)))
        intended[f"{ds} b={b}"] = {"cpu-gpu_latency_ms": r["cpu-gpu"].latency_s * 1e3,
                                   "cpu-gpu_throughput_qps": r["cpu-gpu"].throughput_qps}
    if chamlm:
        for (m, interval, batch), meas in CHAMLM.items():
            t = tokens_per_s(m, interval, batch, ("cpu", "fpga"))["tokens_per_s"]
            for s, v in zip(("cpu-gpu", "fpga-gpu"), meas):
                rows.append(_row("chamlm", f"{m} interval {interval}", s, batch, float(t[s]), v, "tokens/s",
                                 "use_tiktok: 0, as measured"))
    for r in rows:
        r["tolerance_pct"] = TOLERANCE_PCT[r["role"]][r["figure"]]
        r["within_tolerance"] = bool(abs(r["error_pct"]) <= r["tolerance_pct"])
    out = {"rows": rows, "tolerance_pct": TOLERANCE_PCT, "diagnostics": diagnostics,
           "intended_cpu_gpu": intended,
           "summary": summarize(rows),
           "note": "measured = Chameleon's published measurements (docs/REFERENCE.md § Chameleon measured results; "
                   "its FPGA-GPU energy is computed, not metered); "
                   "modeled = hwsim.system / hwsim.ralm, every parameter measured here or cited "
                   "(docs/REFERENCE.md § System model parameters); SIFT calibrates, Deep validates"}
    out["published_ratios"] = published_ratio_checks()
    out["scan_transfer_check"] = scan_transfer_check()
    out["fitted_constants"] = [fit_probe_correlation(), fit_busy_clock()] + ([fit_op_cost()] if chamlm else [])
    if pim:
        from .pim_anns import run_pim_anns

        out["pim_anns"] = run_pim_anns()
    return out


def scan_transfer_check(target: str | None = None) -> dict:
    """The stored faiss 1.7.2 replica sweeps moved to the modeled EPYC's core, each against the one measured
    on that core (:func:`hwsim.scan_transfer.cross_host`): the transfer's own check, printed with the figures
    it feeds."""
    from hwsim import scan_transfer as st
    from hwsim.cpu import EPYC_7313
    from hwsim.rates import load_all

    target = target or EPYC_7313.microarchitecture
    rows = st.cross_host(load_all(), target)
    return {"target": target, "band": st.CROSS_HOST_BAND,
            "rows": [{"file": r["file"], "core": r["core"], "reference": r["reference"],
                      "deviation_pct": {str(m): 100 * d for m, d in r["deviation"].items()}} for r in rows]}


def _measured_ratios(ds: str, b: int) -> dict:
    """The same ratios from the measured medians (SIFT, Deep): whether the paper's text ranges hold for them."""
    if ds not in LATENCY_MS:
        return {}
    cpu, _, fc, fg = LATENCY_MS[ds][b]
    out = {"fpga-cpu latency speed-up over cpu": cpu / fc, "fpga-gpu latency speed-up over cpu": cpu / fg}
    if b <= 16:
        j = (1, 4, 16).index(b)
        out["energy saving of fpga-gpu over cpu"] = ENERGY_MJ[ds]["cpu"][j] / ENERGY_MJ[ds]["fpga-gpu"][j]
    return out


def published_ratio_checks(batches=(1, 4, 16, 64)) -> list[dict]:
    """Every modeled speed-up the paper's text bounds, over the study's four datasets (the withheld
    configurations' shapes come from the setup, not from their results) and batches, against its range."""
    from hwsim.ralm import tokens_per_s
    from hwsim.system import SystemModel, system_spec

    rows = []
    for ds, (d, M, nodes, cores) in STUDY_SHAPES.items():
        base = ds if ds in ("sift", "deep") else "sift"
        sm = SystemModel(system_spec(base, d=d, M=M), nodes=nodes, cpu_cores=cores, samples=51)
        e16 = SystemModel(system_spec(base, d=d, M=M), nodes=nodes, cpu_cores=16, pool=sm.pool, samples=51)
        for b in batches:
            r = sm.model(("cpu", "fpga-cpu", "fpga-gpu"), b)
            vals = {"fpga-cpu latency speed-up over cpu": r["cpu"].latency_s / r["fpga-cpu"].latency_s,
                    "fpga-gpu latency speed-up over cpu": r["cpu"].latency_s / r["fpga-gpu"].latency_s}
            if b <= 16:
                vals["energy saving of fpga-gpu over cpu"] = (e16.model(("cpu",), b)["cpu"].energy_per_query_J
                                                              / r["fpga-gpu"].energy_per_query_J)
            measured = _measured_ratios(ds, b)
            for what, v in vals.items():
                lo, hi = PUBLISHED_RATIOS[what]
                m = measured.get(what)
                rows.append({"ratio": what, "dataset": ds, "batch": b, "modeled": float(v), "published": [lo, hi],
                             "inside": bool(lo <= v <= hi), "measured": m,
                             "measured_inside": None if m is None else bool(lo <= m <= hi)})
    for m, best in PUBLISHED_CHAMLM_MAX.items():
        t = tokens_per_s(m, 1, 64, ("cpu", "fpga"))["tokens_per_s"]
        v = float(t["fpga-gpu"] / t["cpu-gpu"])
        rows.append({"ratio": f"ChamLM {m} throughput speed-up", "dataset": m, "batch": 64, "modeled": v,
                     "published": [1.0, best], "inside": bool(1.0 <= v <= best * 1.15),
                     "note": f"the paper reports up to {best}x; inside = between 1 and the published figure + 15 %"})
    return rows


def fit_busy_clock(datasets=("sift",)) -> dict:
    """The one fitted constant of the CPU model: the EPYC 7313's busy clock under faiss, fitted on the
    calibration set only (SIFT CPU latency at batches 1-64 and throughput) by least squares of the log
    errors, then held between AMD's base and boost clocks. Returns the fit, the held value and the residuals
    at the held clock (modeled again there, not extrapolated)."""
    from dataclasses import replace

    from hwsim.cpu import EPYC_7313, FITTED_BUSY_GHZ
    from hwsim.system import SystemModel, system_spec

    def errors(ghz):
        out = []
        for ds in datasets:
            sm = SystemModel(system_spec(ds), server=replace(EPYC_7313, clock_ghz=float(ghz)), samples=51)
            for b in (1, 4, 16, 64):
                r = sm.model(("cpu",), b)
                out.append(np.log(r["cpu"].latency_s * 1e3 / LATENCY_MS[ds][b][0]))
            out.append(np.log(THROUGHPUT_QPS[ds][0] / r["cpu"].throughput_qps))
        return np.array(out)

    # at SIFT every CPU cost is cycles / clock (the centroid matrix fits the L3, the memory ceiling does not
    # bind), so the log errors shift by log(g0 / g): one evaluation gives the least-squares fit
    g0 = 3.0
    best = float(g0 * np.exp(np.mean(errors(g0))))
    held = float(np.clip(best, EPYC_7313.base_ghz, EPYC_7313.boost_ghz))
    resid = errors(held)
    return {"name": "EPYC 7313 busy clock under faiss (hwsim.cpu.FITTED_BUSY_GHZ)", "fitted": best, "unit": "GHz",
            "held_ghz": held, "in_use": FITTED_BUSY_GHZ, "bounds_ghz": [EPYC_7313.base_ghz, EPYC_7313.boost_ghz],
            "residual_pct": [float((np.exp(x) - 1) * 100) for x in resid],
            "fitted_on": "SIFT CPU latency b=1/4/16/64 and throughput (calibration set only)",
            "plausibility": "AMD guarantees the 3.0 GHz base under load and boosts to at most 3.7 GHz; a fit below "
                            "the base means the model still misses CPU time, which the held value leaves visible"}


def fit_probe_correlation(grid=np.round(np.arange(0.0, 0.95, 0.1), 2)) -> dict:
    """The one fitted constant of the workload: the correlation of the sizes of the lists one real SIFT query
    probes (:data:`hwsim.workload.FITTED_PROBE_CORRELATION`), fitted on the calibration set only: SIFT's P95
    minus median latency at batch 1 on the two FPGA systems, where a batch is one query and the device time
    follows the codes it scans (a difference, so fixed costs cancel), by least squares over a grid of 0.1
    refined to 0.05 around its best point."""
    from dataclasses import replace

    from hwsim.system import SystemModel, system_spec
    from hwsim.workload import FITTED_PROBE_CORRELATION

    systems = ("fpga-cpu", "fpga-gpu")
    measured = [P95_MS["sift"][1][SYSTEMS.index(x)] - LATENCY_MS["sift"][1][SYSTEMS.index(x)] for x in systems]

    def excess(rho):
        r = SystemModel(replace(system_spec("sift"), probe_correlation=float(rho))).model(systems, 1)
        return np.array([(r[x].latency_p95_s - r[x].latency_s) * 1e3 for x in systems])

    def cost(g):
        return float(np.sum((fits[g] - measured) ** 2))

    fits = {float(g): excess(g) for g in grid}
    coarse = min(fits, key=cost)
    for g in (coarse - 0.05, coarse + 0.05):
        if 0.0 <= g < 1.0:
            fits[round(g, 2)] = excess(g)
    best = min(fits, key=cost)
    used = fits.get(FITTED_PROBE_CORRELATION)
    used = excess(FITTED_PROBE_CORRELATION) if used is None else used
    return {"name": "correlation of the sizes of one query's probed lists, SIFT1B's real queries "
                    "(hwsim.workload.FITTED_PROBE_CORRELATION)",
            "fitted": best, "in_use": FITTED_PROBE_CORRELATION, "unit": "",
            "modeled_excess_ms": [float(x) for x in used], "measured_excess_ms": measured,
            "residual_pct": [float((m / t - 1) * 100) for m, t in zip(used, measured)],
            "fitted_on": "SIFT P95 minus median latency at batch 1, FPGA-CPU and FPGA-GPU (calibration set only)",
            "plausibility": "0 = independent probes (the modeled per-query spread then stays near 1.1x, against "
                            "the measured 1.2x P95/median of a whole FPGA query); a query's probed lists are its "
                            "nearest centroids, so dense regions give large lists together; the same value "
                            "serves Deep and every other dataset (not measured for them)"}


def fit_op_cost(grid=np.arange(10e-6, 80.5e-6, 0.5e-6)) -> dict:
    """The one fitted constant of the inference model: host time per launched GPU op of eager fairseq
    (:data:`hwsim.ralm.FITTED_OP_S`), fitted on the calibration set's Chameleon (FPGA-GPU) ChamLM rows only
    (their retrieval is the FPGA system's, fitted nowhere) by least squares of the log errors over a grid."""
    from hwsim.ralm import FITTED_OP_S, tokens_per_s

    rows = [(k, meas[1]) for k, meas in CHAMLM.items()]
    cache: dict = {}

    def errs(op_s):
        out = []
        for (m, interval, batch), meas in rows:
            key = (m, interval, batch, round(op_s * 1e9))
            if key not in cache:
                cache[key] = tokens_per_s(m, interval, batch, ("fpga",), op_s=float(op_s))["tokens_per_s"]["fpga-gpu"]
            out.append(np.log(cache[key] / meas))
        return np.array(out)

    best = min(grid, key=lambda g: float(np.sum(errs(g) ** 2)))
    return {"name": "host time per launched GPU op, eager fairseq on ChamLM's GPU host (hwsim.ralm.FITTED_OP_S)",
            "fitted": float(best * 1e6), "in_use": FITTED_OP_S * 1e6, "unit": "us",
            "residual_pct": [float((np.exp(x) - 1) * 100) for x in errs(FITTED_OP_S)],
            "fitted_on": "ChamLM Dec-S@1 and EncDec-S@8, Chameleon (FPGA-GPU) tokens/s (calibration set only)",
            "plausibility": "bench.lm_profile measures the replica's CPU-only host time per op here; a GPU adds its "
                            "launch (NVIDIA: ~20 us end to end for an eager op on a V100 system); fairseq's attention "
                            "runs more Python per op than the replica"}


def summarize(rows: list[dict]) -> dict:
    """Within-tolerance counts by figure kind and role."""
    out: dict = {}
    for r in rows:
        key = f"{r['figure']} ({r['role']})"
        ok, n = out.get(key, (0, 0))
        out[key] = (ok + r["within_tolerance"], n + 1)
    return {k: f"{ok}/{n}" for k, (ok, n) in sorted(out.items())}


def write_fidelity_report(result: dict, out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    out.mkdir(parents=True, exist_ok=True)
    tmp = out / "fidelity.json.tmp"
    tmp.write_text(json.dumps(result, indent=1, default=float))
    tmp.replace(out / "fidelity.json")
    kinds = ("latency", "throughput", "energy", "chamlm", "latency_p95", "latency_p95_other_run", "latency_cpu_cold")
    fig, axes = plt.subplots(1, len(kinds), figsize=(24, 4.6))
    colors = {"cpu": "C0", "cpu-gpu": "C1", "fpga-cpu": "C2", "fpga-gpu": "C3"}
    for ax, kind in zip(axes, kinds):
        rows = [r for r in result["rows"] + result.get("diagnostics", []) if r["figure"] == kind]
        if not rows:
            ax.set_visible(False)
            continue
        for r in rows:
            ax.scatter(r["measured"], r["modeled"], marker="o" if r["role"] == "calibration" else "^",
                       color=colors.get(r["system"], "k"))
        lo = min(min(r["measured"], r["modeled"]) for r in rows) * 0.8
        hi = max(max(r["measured"], r["modeled"]) for r in rows) * 1.2
        band = result["tolerance_pct"]["calibration"]
        tol = band.get(kind, 10) / 100   # the calibration band drawn; Deep's rows are counted against their own
        ax.plot([lo, hi], [lo, hi], "k-", lw=0.8)
        ax.fill_between([lo, hi], [lo * (1 - tol), hi * (1 - tol)], [lo * (1 + tol), hi * (1 + tol)], alpha=0.15)
        ax.set_xscale("log")
        ax.set_yscale("log")
        for axis in (ax.xaxis, ax.yaxis):   # decade labels only: minor labels overlap on narrow ranges
            axis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xlabel(f"measured ({rows[0]['unit']})")
        ax.set_ylabel(f"modeled ({rows[0]['unit']})")
        valid = result["tolerance_pct"]["validation"].get(kind)
        label = ((f"band: ±{band[kind]} %" + (f", Deep ±{valid} %" if valid else "")) if kind in band
                 else "diagnostic")
        ax.set_title(f"{kind} ({label})", fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
    handles = [plt.Line2D([], [], ls="", marker="o", color=c, label=s) for s, c in colors.items()]
    handles += [plt.Line2D([], [], ls="", marker=m, color="gray", label=lab)
                for m, lab in (("o", "SIFT (calibration)"), ("^", "Deep (validation)"))]
    fig.legend(handles=handles, loc="lower center", ncol=6, fontsize=8)
    fig.suptitle("hwsim system model (modeled) vs Chameleon's measured system", fontsize=11)
    fig.tight_layout(rect=(0, 0.07, 1, 0.95))
    fig.savefig(out / "fidelity.png", dpi=100)
    plt.close(fig)
    return [out / "fidelity.json", out / "fidelity.png"]

"""``hwrag bench project``: the hardware models at paper scale, from list sizes and layout only.

1B vectors, nlist 32768, nprobe 32, M in {16, 32, 64}, several nodes — no data is built: the models
need list sizes, not vectors. Every figure is *modeled* and names its configuration; the published
Chameleon ratios are printed beside them. Writes ``project.json`` and ``project_latency.png``.
"""
from __future__ import annotations

import json
from pathlib import Path

from tqdm import tqdm

from .plots import bar_plot

DEFAULT_CONFIGS = ("chameleon_u250", "heterrag_accelhbm", "heterrag_acceldimm", "upmem")


def run_project(vectors: float = 1e9, nlist: int = 32768, nprobe: int = 32, Ms=(16, 32, 64), nodes=(1, 4, 8),
                configs=DEFAULT_CONFIGS, k: int = 100, d: int = 128, nq: int = 16, imbalance: float = 0.0,
                progress: bool = True) -> dict:
    from hwsim.configs import BACKEND_OF
    from hwsim.project import CHAMELEON_REPORTED, project

    combos = [(c, M, n) for c in configs for M in Ms for n in nodes]
    rows = []
    for c, M, n in tqdm(combos, desc="bench project", disable=not progress):
        r = project(c, nprobe=nprobe, M=M, nodes=n, nq=nq, d=d, k=k, ntotal=int(vectors), nlist=nlist,
                    imbalance=imbalance)
        cpu = r["cpu_reference"]
        rows.append({"figures": "modeled", "name": c, "backend": BACKEND_OF[c], "config": r["config"], "M": M,
                     "nodes": n, "fits": r["fits"], "latency_batch1_us": r["latency_batch1_s"] * 1e6,
                     f"qps_batch{nq}": r[f"qps_batch{nq}"], "energy_per_query_mJ": r["energy_per_query_J"] * 1e3,
                     "bound": r["bound"], "cpu8_latency_us": cpu["latency_s"] * 1e6,
                     "latency_speedup_vs_cpu8": r["speedup_vs_cpu_scan_only"]})
    return {"vectors": int(vectors), "nlist": nlist, "nprobe": nprobe, "k": k, "d": d, "batch": nq, "rows": rows,
            "published_chameleon": CHAMELEON_REPORTED,
            "note": "all figures modeled (hwsim at paper scale, equal list sizes unless --imbalance); "
                    "cpu8 = faiss on 8 EPYC 7313 cores (hwsim.cpu, per-core costs measured here by bench.cpu_rates); "
                    "speedup excludes the coordinator's list selection"}


def write_project_report(result: dict, out: Path, nq: int = 16) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    (out / "project.json").write_text(json.dumps(result, indent=1, default=float))
    rows = [r for r in result["rows"] if r["fits"]]
    groups = sorted({(r["M"], r["nodes"]) for r in rows})
    labels = [f"M={M} nodes={n}" for M, n in groups]
    series = {}
    for name in dict.fromkeys(r["name"] for r in rows):
        by = {(r["M"], r["nodes"]): r["latency_batch1_us"] for r in rows if r["name"] == name}
        series[name] = [by.get(g, 0.0) for g in groups]
    cpu = {(r["M"], r["nodes"]): r["cpu8_latency_us"] for r in rows}
    series["cpu 8-core (hwsim.cpu)"] = [cpu[g] for g in groups]
    png = bar_plot(labels, series, out / "project_latency.png",
                   f"modeled latency per query at {result['vectors']:.0e} vectors, IVF{result['nlist']}, "
                   f"nprobe {result['nprobe']}, K={result['k']}", "latency per query, batch 1 (us, log)",
                   log=True, note="all modeled (hwsim); configurations that do not fit their memory omitted")
    return [out / "project.json", png]

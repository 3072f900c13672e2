"""``hwrag bench project``: the hardware models at paper scale, from list sizes and layout only.

1B vectors, nlist 32768, nprobe 32, M in {16, 32, 64}, several nodes — no data is built: the models
need list sizes, not vectors. Every figure is *modeled* and names its configuration; the published
Chameleon ratios are printed beside them. Each row carries the end-to-end system figures of the system
model (:class:`hwsim.system.SystemModel`: GPU list selection, the host, coordinator and network, the nodes,
against faiss on 8 EPYC cores, batch 1) and, labelled as such, the device-only view (the nodes' scan
against the CPU's scan, no list selection or network). Writes ``project.json`` and ``project_latency.png``.
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
    rows, systems = [], {}
    for c, M, n in tqdm(combos, desc="bench project", disable=not progress):
        r = project(c, nprobe=nprobe, M=M, nodes=n, nq=nq, d=d, k=k, ntotal=int(vectors), nlist=nlist,
                    imbalance=imbalance)
        cpu = r["cpu_reference"]
        system = _system_of(c)
        if system and (M, n) not in systems:
            systems[(M, n)] = _system_latencies(configs, M, n, d, k, int(vectors), nlist, nprobe, imbalance)
        sys_lat = systems.get((M, n), {})
        rows.append({"figures": "modeled", "name": c, "backend": BACKEND_OF[c], "config": r["config"], "M": M,
                     "nodes": n, "fits": r["fits"], "latency_batch1_us": r["latency_batch1_s"] * 1e6,
                     f"qps_batch{nq}": r[f"qps_batch{nq}"], "energy_per_query_mJ": r["energy_per_query_J"] * 1e3,
                     "bound": r["bound"], "cpu8_latency_us": cpu["latency_s"] * 1e6,
                     "system": system or "-",
                     "system_latency_b1_us": sys_lat.get(system, float("nan")) * 1e6,
                     "system_speedup_vs_cpu": (sys_lat["cpu"] / sys_lat[system]) if system in sys_lat else float("nan"),
                     "device_only_speedup_vs_cpu8": r["speedup_vs_cpu_scan_only"]})
    return {"vectors": int(vectors), "nlist": nlist, "nprobe": nprobe, "k": k, "d": d, "batch": nq, "rows": rows,
            "published_chameleon": CHAMELEON_REPORTED,
            "note": "all figures modeled (hwsim at paper scale, equal list sizes unless --imbalance); "
                    "cpu8 = faiss on 8 EPYC 7313 cores (hwsim.cpu, per-core costs measured here by bench.cpu_rates); "
                    "system_* = the end-to-end system model at batch 1 (GPU list selection, host, coordinator, network, "
                    "nodes; SIFT's list-size spread unless --imbalance) against faiss on 8 cores with its own list selection; device_only_speedup_vs_cpu8 = the "
                    "nodes' scan against the CPU's scan alone (no list selection, no network): not a system figure"}


def _system_of(config: str) -> str | None:
    """The system-model system whose memory nodes are ``config`` (its default node kind), if any."""
    from hwsim.nodes import NODE_KINDS

    kind = {v: k for k, v in NODE_KINDS.items()}.get(config)
    return {"fpga": "fpga-gpu"}.get(kind, kind)


def _system_latencies(configs, M, nodes, d, k, vectors, nlist, nprobe, imbalance) -> dict:
    from hwsim.system import SystemModel
    from hwsim.workload import SIFT_LIST_CV, SearchSpec

    spec = SearchSpec(name="sift-like", d=d, M=M, k=k, ntotal=vectors, nlist=nlist, nprobe=nprobe,
                      list_cv=imbalance or SIFT_LIST_CV, list_shape="gamma" if imbalance else "sift-measured")
    systems = ("cpu",) + tuple(s for s in (_system_of(c) for c in configs) if s)
    r = SystemModel(spec, nodes=nodes, samples=21).model(systems, 1)
    return {x: f.latency_s for x, f in r.systems.items()}


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

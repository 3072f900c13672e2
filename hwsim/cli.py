"""``hwrag hw ...``: compare the hardware models on an index (``compare``), at paper scale (``project``), and
the end-to-end system and ChamLM (``system``, ``ralm``: :mod:`hwsim.system_cli`).

``add_hw_parser(subparsers)`` registers ``hw`` with handlers set via ``set_defaults(func=...)``.
Every figure printed is *modeled* and names its configuration.
"""
from __future__ import annotations

import json
import sys
from typing import Any

import numpy as np


from .configs import BACKEND_OF, CONFIGS, get_config, make_accelerator

DEFAULT_COMPARE = ("chameleon_u250", "heterrag_accelhbm", "heterrag_acceldimm")


def _configs(text: str | None) -> list[str]:
    names = [s.strip() for s in (text or ",".join(DEFAULT_COMPARE)).split(",") if s.strip()]
    for n in names:
        get_config(n)
    return names


def compare(index, nprobe: int, k: int = 10, configs=DEFAULT_COMPARE, nq: int = 16, seed: int = 0,
            stream_mode: str = "exact") -> list[dict[str, Any]]:
    """Per configuration: batch 1 and batch ``nq`` on the whole index as one device's shard."""
    from dataclasses import replace

    from ivfpq.lut import select_lists
    from ivfpq.scan import scan_lists

    rng = np.random.default_rng(seed)
    pick = rng.integers(0, index.nlist, nq)
    queries = (index.centroids[pick] + rng.normal(scale=0.1, size=(nq, index.d))).astype(np.float32)
    probe = select_lists(index, queries, nprobe)
    golden = scan_lists(index, queries, probe, k)
    rows = []
    for name in configs:
        cfg = replace(get_config(name), stream_mode=stream_mode)
        acc = make_accelerator(cfg)
        acc.load(index)
        one = acc.run(queries[:1], probe[:1], k)
        batch = acc.run(queries, probe, k)
        same = bool((batch.ids == golden.ids).all() and (batch.int_distances == golden.int_distances).all())
        t = batch.timing
        rows.append({
            "figures": "modeled", "name": name, "backend": BACKEND_OF[name], "config": t.config,
            "functional_equals_golden": same,
            "latency_batch1_s": float(one.timing.latency_s[0]), "qps_batch1": one.timing.qps,
            "latency_mean_s": float(np.mean(t.latency_s)), f"qps_batch{nq}": t.qps,
            "stage_mean_s": t.stage_means(), "energy_per_query_J": t.energy_per_query_J,
            "utilisation": t.utilisation, "bound": t.bound, "codes_per_query": t.codes_scanned / nq,
        })
    return rows


def _fmt_table(rows: list[dict], nq: int) -> str:
    hdr = (f"{'config':<20} {'backend':<9} {'lat b1 us':>10} {'QPS b1':>10} {'QPS b' + str(nq):>10} "
           f"{'lut us':>8} {'scan us':>8} {'ksel us':>8} {'io us':>7} {'uJ/q':>8} {'mem util':>8} "
           f"{'cu util':>8} {'bound':>8} golden")
    out = ["modeled figures (hwsim); latency/QPS per device", hdr]
    for r in rows:
        s = r["stage_mean_s"]
        out.append(f"{r['name']:<20} {r['backend']:<9} {r['latency_batch1_s'] * 1e6:>10.2f} "
                   f"{r['qps_batch1']:>10.0f} {r[f'qps_batch{nq}']:>10.0f} {s['lut_build'] * 1e6:>8.2f} "
                   f"{s['scan'] * 1e6:>8.2f} {s['kselect_drain'] * 1e6:>8.2f} "
                   f"{(s['transfer_in'] + s['transfer_out']) * 1e6:>7.2f} {r['energy_per_query_J'] * 1e6:>8.2f} "
                   f"{r['utilisation']['memory_bandwidth']:>8.2f} {r['utilisation']['compute_units']:>8.2f} "
                   f"{r['bound']:>8} {'==' if r['functional_equals_golden'] else 'DIFFERS'}")
    out.append("configs: " + "; ".join(r["config"] for r in rows))
    return "\n".join(out)


def _cmd_compare(args) -> int:
    from ivfpq.storage import load_index

    index = load_index(args.index)
    rows = compare(index, args.nprobe, args.k, _configs(args.configs), args.queries, args.seed, args.stream)
    if args.json:
        json.dump(rows, sys.stdout, indent=1, default=str)
        sys.stdout.write("\n")
    else:
        print(_fmt_table(rows, args.queries))
    return 0 if all(r["functional_equals_golden"] for r in rows) else 1


def _cmd_project(args) -> int:
    from .project import CHAMELEON_REPORTED, chameleon_table, project

    if args.chameleon:
        rows = chameleon_table(tuple(args.nodes), tuple(args.M), args.queries, args.imbalance)
        if args.json:
            json.dump({"rows": rows, "reported": CHAMELEON_REPORTED}, sys.stdout, indent=1, default=str)
            sys.stdout.write("\n")
            return 0
        print("modeled (the end-to-end system model, hwsim.system): chameleon_u250 nodes, 1B SIFT-like vectors "
              "(d=128), IVF32768, nprobe 32, K=100; CPU = faiss on 8 EPYC 7313 cores; FPGA latency with list "
              "selection on the GPU (x GPU-coord) or the CPU coordinator (x CPU-coord)")
        print(f"{'M':>3} {'nodes':>5} {'fits':>5} {'FPGA lat us':>11} {'lut us':>7} {'scan us':>8} "
              f"{'QPS b1':>8} {'QPS b' + str(args.queries):>8} {'QPS pipe':>8} {'CPU lat us':>10} "
              f"{'x CPU-coord':>11} {'x GPU-coord':>11} {'mJ/q':>6} bound")
        for r in rows:
            s = r["stage_mean_s"]
            print(f"{r['M']:>3} {r['nodes']:>5} {str(r['fits']):>5} {r['fpga_latency_s'] * 1e6:>11.1f} "
                  f"{s['lut_build'] * 1e6:>7.1f} {s['scan'] * 1e6:>8.1f} {r['fpga_qps_batch1']:>8.0f} "
                  f"{r[f'fpga_qps_batch{args.queries}']:>8.0f} {r['fpga_throughput_qps']:>8.0f} "
                  f"{r['cpu_latency_s'] * 1e6:>10.1f} {r['speedup_cpu_coordinator']:>11.2f} "
                  f"{r['speedup_gpu_coordinator']:>11.2f} {r['energy_per_query_J'] * 1e3:>6.3f} {r['bound']}")
        print(f"paper reported: {CHAMELEON_REPORTED['source']}")
        return 0
    out = []
    for name in _configs(args.configs):
        for M in args.M:
            for n in args.nodes:
                out.append(project(name, nprobe=args.nprobe, M=M, nodes=n, nq=args.queries, d=args.d,
                                   k=args.k, ntotal=args.ntotal, nlist=args.nlist, imbalance=args.imbalance))
    if args.json:
        json.dump(out, sys.stdout, indent=1, default=str)
        sys.stdout.write("\n")
    else:
        b = args.queries
        notes: dict[str, None] = {}
        print("modeled, DEVICE ONLY: the devices' work per query (LUT build, scan, top-K, the merge of the nodes' "
              "candidates), without list selection, the network or the host stack; end-to-end figures: "
              "hwrag hw project --chameleon, hwrag hw system")
        for r in out:
            print(f"{r['config']} | M={r['M']} nodes={r['nodes']} fits={r['fits']} "
                  f"device lat={r['latency_batch1_s'] * 1e6:.1f} us ({r['dominant_stage_batch1']} dominates) "
                  f"device QPS(b1)={r['qps_batch1']:.0f} QPS(b{b})={r[f'qps_batch{b}']:.0f} "
                  f"({r[f'qps_batch{b}_vs_cpu']:.2f}x the CPU-8 system's QPS) "
                  f"E={r['energy_per_query_J'] * 1e3:.3f} mJ/q bound={r['bound']}")
            notes.update(dict.fromkeys(r["notes"]))
        print("CPU-8 = faiss on 8 EPYC 7313 cores, end to end (hwsim.cpu: per-core costs measured here). Published, "
              "end to end: PIM IVF-PQ on UPMEM 2.5-4.3x CPU-FAISS QPS (large batches); Chameleon 1.36-6.13x lower "
              "latency (CPU coordinator): compare them with hwrag hw project --chameleon, not with the device view")
        for n in notes:
            print(f"note: {n}")
    return 0


def add_hw_parser(subparsers) -> None:
    hw = subparsers.add_parser("hw", help="hardware models: compare backends, project to paper scale")
    sub = hw.add_subparsers(dest="hw_command", metavar="HW_COMMAND", required=True)
    c = sub.add_parser("compare", help="modeled QPS/latency/energy per backend on an index (functional == golden)")
    c.add_argument("--index", required=True, help="path of a saved ivfpq index (required)")
    c.add_argument("--nprobe", type=int, required=True, help="lists probed per query (required)")
    c.add_argument("--k", type=int, default=10, help="neighbours per query (default: %(default)s)")
    c.add_argument("--queries", type=int, default=16, help="batch size for the batched figures (default: %(default)s)")
    c.add_argument("--configs", default=None, help=f"comma list; known: {', '.join(CONFIGS)} (default: {','.join(DEFAULT_COMPARE)})")
    c.add_argument("--stream", choices=("exact", "calibrated"), default="exact",
                   help="DRAM stream model: exact (cycle-level) or calibrated (default: %(default)s)")
    c.add_argument("--seed", type=int, default=0, help="seed of the sampled queries (default: %(default)s)")
    c.add_argument("--json", action="store_true", help="print JSON (default: a table)")
    c.set_defaults(func=_cmd_compare)
    p = sub.add_parser("project", help="paper-scale projection from list sizes only")
    p.add_argument("--chameleon", action="store_true",
                   help="Chameleon's configuration (the end-to-end system model) vs the paper's ratios (default: off)")
    p.add_argument("--configs", default=None, help=f"comma list; known: {', '.join(CONFIGS)} (default: {','.join(DEFAULT_COMPARE)})")
    p.add_argument("--M", type=int, nargs="+", default=[16, 32, 64], help="PQ code bytes (default: %(default)s)")
    p.add_argument("--nodes", type=int, nargs="+", default=[1, 2, 4, 8], help="memory nodes (default: %(default)s)")
    p.add_argument("--nprobe", type=int, default=32, help="lists probed per query (default: %(default)s)")
    p.add_argument("--nlist", type=int, default=32768, help="IVF lists (default: %(default)s)")
    p.add_argument("--ntotal", type=int, default=10 ** 9, help="vectors in the index (default: %(default)s)")
    p.add_argument("--d", type=int, default=128, help="vector dimension (default: %(default)s)")
    p.add_argument("--k", type=int, default=100, help="neighbours per query (default: %(default)s)")
    p.add_argument("--queries", type=int, default=16, help="batch size (QPS at this batch; e.g. 256) (default: %(default)s)")
    p.add_argument("--imbalance", type=float, default=0.0,
                   help="list-size coefficient of variation (default: %(default)s, equal lists)")
    p.add_argument("--json", action="store_true", help="print JSON (default: a table)")
    p.set_defaults(func=_cmd_project)
    from .system_cli import add_system_parsers

    add_system_parsers(sub)

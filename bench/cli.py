"""``hwrag bench ann|service|ralm|ralm-cache|dram|project|fidelity``: each prints a table, writes JSON and a PNG plot, and
labels every figure measured or modeled."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _print(result: dict, rows_key: str, cols: list[str], title: str, as_json: bool) -> None:
    if as_json:
        json.dump(result, sys.stdout, indent=1, default=float)
        sys.stdout.write("\n")
        return
    from .table import format_table

    print(title)
    print(format_table(result[rows_key], cols))
    if "note" in result:
        print(f"({result['note']})")


def _load_index_and_data(args):
    from ivfpq.index_cache import cached_index

    index, ds, _ = cached_index(args.dataset, args.nlist, args.m, args.index)
    return index, ds


def cmd_ann(args) -> int:
    from .adapters import default_adapters
    from .ann import run_ann, write_ann_report

    index, ds = _load_index_and_data(args)
    res = run_ann(index, ds, default_adapters(tuple(args.hardware), args.hw_queries), tuple(args.nprobe), args.k,
                  args.nq, args.threads, progress=not args.json)
    files = write_ann_report(res, Path(args.out))
    res["files"] = [str(f) for f in files]
    _print(res, "rows", ["engine", "figures", "nprobe", "queries", f"recall@{args.k}", "qps"],
           f"bench ann — {ds.name}, k={args.k}", args.json)
    return 0


def cmd_service(args) -> int:
    from . import service_bench

    return service_bench.run_from_args(args)


def cmd_project(args) -> int:
    from .project_bench import run_project, write_project_report

    res = run_project(args.vectors, args.nlist, args.nprobe, tuple(args.M), tuple(args.nodes), tuple(args.configs),
                      args.k, nq=args.batch, progress=not args.json)
    res["files"] = [str(f) for f in write_project_report(res, Path(args.out))]
    _print(res, "rows", ["name", "M", "nodes", "fits", "latency_batch1_us", f"qps_batch{args.batch}",
                         "energy_per_query_mJ", "bound", "system", "system_latency_b1_us", "system_speedup_vs_cpu",
                         "device_only_speedup_vs_cpu8"],
           f"bench project — {res['vectors']:.0e} vectors (modeled)", args.json)
    if not args.json:
        print("published (Chameleon):", res["published_chameleon"]["source"])
    return 0


def cmd_fidelity(args) -> int:
    from .fidelity import run_fidelity, write_fidelity_report

    res = run_fidelity(progress=not args.json, chamlm=not args.no_chamlm, pim=not args.no_pim)
    res["files"] = [str(f) for f in write_fidelity_report(res, Path(args.out))]
    cols = ["figure", "dataset", "system", "batch", "unit", "measured", "modeled", "error_pct", "tolerance_pct",
            "within_tolerance", "role", "note"]
    _print(res, "rows", cols, "bench fidelity — modeled (hwsim) vs measured (Chameleon)", args.json)
    if args.json:
        return 0
    from .table import format_table

    ok = sum(r["within_tolerance"] for r in res["rows"])
    t = res["tolerance_pct"]
    print(f"{ok} of {len(res['rows'])} figures within tolerance (issue 21's bands, %: calibration {t['calibration']}, "
          f"validation {t['validation']}); by kind: {res['summary']}")
    print("\ndiagnostic (not counted): P95 latency (SIFT); the FPGA rows' P95 of another run of the same "
          "experiment (Chameleon's plot script); the CPU with today's faiss (SIMD gathers) per-code costs "
          "over cold lists as measured by bench.cpu_rates (not the loop Chameleon's faiss 1.7.2 ran)")
    print(format_table(res["diagnostics"], cols[:8]))
    ratios = res["published_ratios"]
    meas = [r for r in ratios if r.get("measured") is not None]
    print(f"\npublished ratio ranges (the paper's text) vs the modeled ratio over the study's shapes: "
          f"{sum(r['inside'] for r in ratios)} of {len(ratios)} inside; the measured medians' own ratios (SIFT, "
          f"Deep): {sum(r['measured_inside'] for r in meas)} of {len(meas)} inside")
    print(format_table(ratios, ["ratio", "dataset", "batch", "modeled", "published", "inside", "measured",
                                "measured_inside"]))
    for c in res["fitted_constants"]:
        unit = f" {c['unit']}" if c["unit"] else ""
        held = f"; held at {c['held_ghz']:g} GHz within {c['bounds_ghz']}" if "held_ghz" in c else ""
        print(f"\nfitted constant: {c['name']}: fit {c['fitted']:.3f}{unit} on "
              f"{c['fitted_on']}{held}; in use {c['in_use']:.3g}{unit}; residuals "
              f"{', '.join(f'{x:+.1f} %' for x in c['residual_pct'])}. {c['plausibility']}")
    chk = res["scan_transfer_check"]
    ref = next((x["file"] for x in chk["rows"] if x["reference"]), None)
    for r in (x for x in chk["rows"] if not x["reference"]):
        print(f"\nscan transfer, cross-host check: the faiss 1.7.2 replica sweep of {r['file']} ({r['core']}) moved "
              f"to {chk['target']} lands " + " / ".join(f"{d:+.0f}" for d in r["deviation_pct"].values())
              + f" % from {ref} measured on {chk['target']} at M = {' / '.join(r['deviation_pct'])} "
              f"(band ±{chk['band']:.0%}; python -m bench.scan_replica --compare)")
    if "pim_anns" in res:
        print("\nUPMEM configured like PIM-ANNS (modeled) vs its published QPS (SIFT1B IVF4096,PQ32, K=10)")
        print(format_table(res["pim_anns"], ["nprobe", "upmem_qps", "faiss_cpu_qps", "ratio", "published_cpu_qps",
                                             "published_batch_dpu_qps", "published_pimann_qps",
                                             "published_batch_dpu_ratio", "published_pimann_ratio"]))
    print(f"files: {', '.join(res['files'])}")
    return 0


def cmd_dram(args) -> int:
    if args.against:
        from . import dram_dramsim3

        return dram_dramsim3.run_from_args(args)
    from . import dram_speed

    return dram_speed.run_from_args(args)


def cmd_ralm(args) -> int:
    from . import ralm_bench

    return ralm_bench.run_from_args(args)


def cmd_ralm_cache(args) -> int:
    from . import ralm_cache

    return ralm_cache.run_from_args(args)


def output_dir(value: str) -> str:
    """``--out``: a directory that exists or can be made and written, checked before the run (made now)."""
    import tempfile

    path = Path(value)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{value!r} is a file; --out takes a directory (made if missing)")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as e:
        raise argparse.ArgumentTypeError(f"cannot write to {value!r} ({e.strerror}); --out takes a writable "
                                         "directory") from None
    return value


def add_bench_parser(sub) -> None:
    b = sub.add_parser("bench", help="benchmarks: ann, service, ralm, ralm-cache, dram, project, fidelity").add_subparsers(
        dest="bench", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="print JSON instead of a table")
    common.add_argument("--out", default="report/bench", type=output_dir, help="directory for JSON and PNG")
    data = argparse.ArgumentParser(add_help=False)
    data.add_argument("--dataset", default="synthetic:n=100000,d=128,nq=1000,seed=0",
                      help="dataset spec: synthetic[:n=,d=,nq=,seed=], pydocs[:chunk_words=], an ann-benchmarks .hdf5 file or a TEXMEX fvecs/bvecs directory")
    data.add_argument("--index", help="saved index (default: cached IVF<nlist>,PQ<m> of the dataset)")
    data.add_argument("--nlist", type=int, default=1024, help="IVF lists of the cached index")
    data.add_argument("--m", type=int, default=16, help="PQ code bytes per vector")
    data.add_argument("--k", type=int, default=10, help="neighbours returned per query")

    p = b.add_parser("ann", parents=[common, data], help="recall@k vs QPS over nprobe, every backend")
    p.add_argument("--nprobe", type=int, nargs="+", default=[1, 2, 4, 8, 16, 32])
    p.add_argument("--nq", type=int, help="queries for measured engines (default: all)")
    p.add_argument("--hw-queries", type=int, default=64, help="queries the hardware timing models simulate (default 64)")
    p.add_argument("--hardware", nargs="*", default=["chameleon_u250", "heterrag_accelhbm", "heterrag_acceldimm"])
    p.add_argument("--threads", type=int)
    p.set_defaults(func=cmd_ann)

    from .service_bench import add_arguments as service_arguments

    p = b.add_parser("service", help="gRPC service latency and QPS against the same search in process")
    service_arguments(p)
    p.set_defaults(func=cmd_service)

    p = b.add_parser("project", parents=[common], help="hardware models at paper scale (modeled)")
    p.add_argument("--vectors", type=float, default=1e9)
    p.add_argument("--nlist", type=int, default=32768)
    p.add_argument("--nprobe", type=int, default=32)
    p.add_argument("--M", type=int, nargs="+", default=[16, 32, 64])
    p.add_argument("--nodes", type=int, nargs="+", default=[1, 4, 8])
    p.add_argument("--configs", nargs="+", default=["chameleon_u250", "heterrag_accelhbm", "heterrag_acceldimm",
                                                     "upmem"])
    p.add_argument("--k", type=int, default=100)
    p.add_argument("--batch", type=int, default=16, help="queries per batch for the QPS figure (UPMEM needs large ones)")
    p.set_defaults(func=cmd_project)

    p = b.add_parser("fidelity", parents=[common], help="system model vs Chameleon's measured figures (table + PNG)")
    p.add_argument("--no-pim", action="store_true", help="skip the UPMEM / PIM-ANNS comparison")
    p.add_argument("--no-chamlm", action="store_true", help="vector search figures only")
    p.set_defaults(func=cmd_fidelity)

    from .dram_speed import add_arguments as dram_arguments

    from .dram_dramsim3 import add_arguments as against_arguments

    p = b.add_parser("dram", help="DRAM model speed (measured) per preset; with --against, the model side by side "
                     "with a DRAMsim3 build")
    dram_arguments(p)
    against_arguments(p)
    p.set_defaults(func=cmd_dram)

    from .ralm_bench import add_arguments as ralm_arguments

    p = b.add_parser("ralm", help="RALM tokens/s: retrieval off, chunk and token mode, with and without overlap")
    ralm_arguments(p)
    p.set_defaults(func=cmd_ralm)

    from .ralm_cache import add_arguments as ralm_cache_arguments

    p = b.add_parser("ralm-cache", help="chunk RALM with the KV knowledge cache: TTFT, tokens/s and hit rates, "
                     "off / LRU / PGDSF at two budgets, on a skewed request stream")
    ralm_cache_arguments(p, out_type=output_dir)
    p.set_defaults(func=cmd_ralm_cache)

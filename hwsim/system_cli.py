"""``hwrag hw system`` and ``hwrag hw ralm``: the end-to-end system model and ChamLM, modeled.

Registered on ``hw`` by :func:`hwsim.cli.add_hw_parser`; every figure printed is *modeled* and names its
configuration.
"""
from __future__ import annotations

import json
import sys

from ivfpq.jsonable import plain as _plain


_FIGURE = {"latency_ms": ("latency", "ms"), "throughput_qps": ("QPS", ""), "energy_mj": ("energy", "mJ/query"),
           "tokens_per_s": ("tokens/s", "")}


def _measured_rows(measured, modeled: dict) -> list[dict]:
    """Each measured figure beside the modeled figure of the system it is compared with (``as_run``)."""
    rows = []
    for m in measured:
        mod = modeled[(m.as_run, m.figure)]
        rows.append({"system": m.system, "figure": m.figure, "measured": m.value, "compared_with": m.as_run,
                     "modeled": mod, "error_pct": m.error_pct(mod), "note": m.note})
    return rows


def _print_measured(rows: list[dict]) -> None:
    from .measured import SOURCE, measured_where

    if not rows:
        print(f"measured: none at this configuration ({measured_where()})")
        return
    print(f"{SOURCE}; this configuration; error = modeled / measured - 1")
    for r in rows:
        name, unit = _FIGURE[r["figure"]]
        vs = "" if r["compared_with"] == r["system"] else f" against the {r['compared_with']} model"
        note = f"; {r['note']}" if r["note"] else ""
        print(f"  {r['system']:<10} {name} {r['measured']:g} {unit}".rstrip()
              + f"  (model {r['error_pct']:+.1f} %{vs}{note})")


def _cmd_system(args) -> int:
    from .measured import search_figures
    from .system import SYSTEMS, SystemModel, system_spec

    spec = system_spec(args.dataset, d=args.d, M=args.M, ntotal=args.ntotal, nlist=args.nlist,
                       nprobe=args.nprobe, k=args.k)
    systems = tuple(args.systems or SYSTEMS)
    figures = [m for m in search_figures(spec.d, spec.M, spec.ntotal, spec.nlist, spec.nprobe, spec.k,
                                         args.nodes, args.cpu_cores, args.batch) if m.system in systems]
    # a measured column run as another system (CPU-GPU ran CPU-only faiss) is compared with that system's model
    extra = tuple(dict.fromkeys(m.as_run for m in figures if m.as_run not in systems))
    r = SystemModel(spec, nodes=args.nodes, cpu_cores=args.cpu_cores).model(systems + extra, args.batch)
    modeled = {}
    for x in systems + extra:
        f = r[x]
        modeled.update({(x, "latency_ms"): f.latency_s * 1e3, (x, "throughput_qps"): f.throughput_qps,
                        (x, "energy_mj"): f.energy_per_query_J * 1e3})
    measured = _measured_rows(figures, modeled)
    if args.json:
        json.dump(_plain({**r.to_dict(), "measured": measured}), sys.stdout, indent=1)
        sys.stdout.write("\n")
        return 0
    print(f"modeled: {spec.name} d={spec.d} M={spec.M} {spec.ntotal:.0e} vectors IVF{spec.nlist} nprobe "
          f"{spec.nprobe} K={spec.k}, batch {args.batch}, {args.nodes} node(s), {args.cpu_cores} CPU cores")
    print(f"{'system':<10} {'latency ms':>11} {'QPS':>9} {'mJ/query':>10}  bound")
    for x in systems:
        f = r[x]
        fits = "" if f.fits else f"  (does not fit: {f.capacity_note})"
        print(f"{x:<10} {f.latency_s * 1e3:>11.3f} {f.throughput_qps:>9.0f} {f.energy_per_query_J * 1e3:>10.2f}  "
              f"{f.bound}{fits}")
    _print_measured(measured)
    for x in systems:
        print(f"config {x}: {r[x].config}")
    return 0


def _cmd_ralm(args) -> int:
    from .measured import chamlm_figures
    from .ralm import tokens_per_s

    backends = ("cpu", args.backend)
    r = tokens_per_s(args.model, args.interval, args.batch, backends, tiktok=args.tiktok)
    measured = _measured_rows([m for m in chamlm_figures(args.model, args.interval, args.batch, args.tiktok)
                               if m.system in r["tokens_per_s"]],
                              {(k, "tokens_per_s"): v for k, v in r["tokens_per_s"].items()})
    if args.json:
        json.dump(_plain({**r, "measured": measured}), sys.stdout, indent=1)
        sys.stdout.write("\n")
        return 0
    print(f"modeled: {r['config']}; retrieval every {args.interval} token(s), batch {args.batch}")
    for k, v in r["tokens_per_s"].items():
        st = r["stages"][k]
        print(f"{k:<10} {v:>9.1f} tokens/s  (decoder step {st['decoder_step_s'] * 1e3:.2f} ms, retrieval "
              f"{st['retrieval_s'] * 1e3:.2f} ms, encode {st['encode_s'] * 1e3:.2f} ms per "
              f"{'half-' if r['tiktok'] else ''}batch)")
    _print_measured(measured)
    return 0


def add_system_parsers(sub) -> None:
    from .ralm import BACKENDS, MODELS
    from .system import DATASETS, SYSTEMS

    p = sub.add_parser("system", help="end-to-end vector search: CPU, CPU-GPU, FPGA-CPU, FPGA-GPU, PIM (modeled)")
    p.add_argument("--dataset", default="sift",
                   help=f"named shape ({', '.join(DATASETS)}); the flags below override it (default: %(default)s)")
    p.add_argument("--d", type=int, help="vector dimension (default: the dataset's; sift 128, deep 96)")
    p.add_argument("--M", type=int, help="PQ code bytes per vector (default: the dataset's, 16)")
    p.add_argument("--ntotal", type=int, help="vectors in the index (default: the dataset's, 1e9)")
    p.add_argument("--nlist", type=int, help="IVF lists (default: the dataset's, 32768)")
    p.add_argument("--nprobe", type=int, help="lists probed per query (default: the dataset's, 32)")
    p.add_argument("--k", type=int, help="neighbours returned per query (default: the dataset's, 100)")
    p.add_argument("--nodes", type=int, default=1, help="memory nodes, every list split across them (default: %(default)s)")
    p.add_argument("--cpu-cores", type=int, default=8,
                   help="faiss threads of the CPU baseline and coordinator (default: %(default)s)")
    p.add_argument("--batch", type=int, default=1, help="queries per batch (default: %(default)s)")
    p.add_argument("--systems", nargs="+", metavar="SYSTEM", help=f"subset of: {', '.join(SYSTEMS)} (default: all)")
    p.add_argument("--json", action="store_true", help="print JSON (default: a table)")
    p.set_defaults(func=_cmd_system)
    r = sub.add_parser("ralm", help="ChamLM tokens/s with retrieval through the system model (modeled)")
    r.add_argument("--model", required=True, help=f"one of {', '.join(MODELS)} (required)")
    r.add_argument("--interval", type=int, default=1, help="tokens between retrievals (default: %(default)s)")
    r.add_argument("--batch", type=int, default=64, help="sequences generated together (default: %(default)s)")
    r.add_argument("--backend", default="fpga", help=f"memory nodes: {', '.join(BACKENDS)} (default: %(default)s)")
    r.add_argument("--tiktok", action="store_true",
                   help="ChamLM's two-half-batch overlap (the measured runs used use_tiktok: 0; default: off)")
    r.add_argument("--json", action="store_true", help="print JSON (default: a table)")
    r.set_defaults(func=_cmd_ralm)

"""``hwrag hw system`` and ``hwrag hw ralm``: the end-to-end system model and ChamLM, modeled.

Registered on ``hw`` by :func:`hwsim.cli.add_hw_parser`; every figure printed is *modeled* and names its
configuration.
"""
from __future__ import annotations

import json
import sys

from ivfpq.jsonable import plain as _plain


def _cmd_system(args) -> int:
    from .system import SYSTEMS, SystemModel, system_spec

    spec = system_spec(args.dataset, d=args.d, M=args.M, ntotal=args.ntotal, nlist=args.nlist,
                       nprobe=args.nprobe, k=args.k)
    systems = tuple(args.systems or SYSTEMS)
    r = SystemModel(spec, nodes=args.nodes, cpu_cores=args.cpu_cores).model(systems, args.batch)
    if args.json:
        json.dump(_plain(r), sys.stdout, indent=1)
        sys.stdout.write("\n")
        return 0
    print(f"modeled: {spec.name} d={spec.d} M={spec.M} {spec.ntotal:.0e} vectors IVF{spec.nlist} nprobe "
          f"{spec.nprobe} K={spec.k}, batch {args.batch}, {args.nodes} node(s), {args.cpu_cores} CPU cores")
    print(f"{'system':<10} {'latency ms':>11} {'QPS':>9} {'mJ/query':>10}  bound")
    for x in systems:
        fits = "" if r["fits"][x] else "  (does not fit: " + r["capacity_note"].get(x, "") + ")"
        print(f"{x:<10} {r['latency_s'][x] * 1e3:>11.3f} {r['throughput_qps'][x]:>9.0f} "
              f"{r['energy_per_query_J'][x] * 1e3:>10.2f}  {r['bound'][x]}{fits}")
    for x in systems:
        print(f"config {x}: {r['config'][x]}")
    return 0


def _cmd_ralm(args) -> int:
    from .ralm import tokens_per_s

    backends = ("cpu", args.backend)
    r = tokens_per_s(args.model, args.interval, args.batch, backends, tiktok=args.tiktok)
    if args.json:
        json.dump(_plain(r), sys.stdout, indent=1)
        sys.stdout.write("\n")
        return 0
    print(f"modeled: {r['config']}; retrieval every {args.interval} token(s), batch {args.batch}")
    for k, v in r["tokens_per_s"].items():
        st = r["stages"][k]
        print(f"{k:<10} {v:>9.1f} tokens/s  (decoder step {st['decoder_step_s'] * 1e3:.2f} ms, retrieval "
              f"{st['retrieval_s'] * 1e3:.2f} ms, encode {st['encode_s'] * 1e3:.2f} ms per "
              f"{'half-' if r['tiktok'] else ''}batch)")
    return 0


def add_system_parsers(sub) -> None:
    from .ralm import BACKENDS, MODELS
    from .system import DATASETS, SYSTEMS

    p = sub.add_parser("system", help="end-to-end vector search: CPU, CPU-GPU, FPGA-CPU, FPGA-GPU, PIM (modeled)")
    p.add_argument("--dataset", default="sift", help=f"named shape ({', '.join(DATASETS)}); flags override it")
    p.add_argument("--d", type=int)
    p.add_argument("--M", type=int)
    p.add_argument("--ntotal", type=int)
    p.add_argument("--nlist", type=int)
    p.add_argument("--nprobe", type=int)
    p.add_argument("--k", type=int)
    p.add_argument("--nodes", type=int, default=1)
    p.add_argument("--cpu-cores", type=int, default=8)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--systems", nargs="+", metavar="SYSTEM", help=f"subset of: {', '.join(SYSTEMS)}")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_system)
    r = sub.add_parser("ralm", help="ChamLM tokens/s with retrieval through the system model (modeled)")
    r.add_argument("--model", required=True, help=f"one of {', '.join(MODELS)}")
    r.add_argument("--interval", type=int, default=1)
    r.add_argument("--batch", type=int, default=64)
    r.add_argument("--backend", default="fpga", help=f"memory nodes: {', '.join(BACKENDS)}")
    r.add_argument("--tiktok", action="store_true",
                   help="ChamLM's two-half-batch overlap (the measured runs used use_tiktok: 0)")
    r.add_argument("--json", action="store_true")
    r.set_defaults(func=_cmd_ralm)

"""Golden scan vs faiss on the same index and queries, single-threaded, in one run.

    python -m bench.golden_speed [--dataset SPEC] [--nlist 1024] [--m 16] [--nprobe 1 4 16 64] [--threads 1]
                                 [--repeat 5] [--profile]

Reports, per nprobe: QPS of faiss ``IndexIVFPQ`` and of the golden scan with float and with
fixed-point LUTs (measured, best of ``--repeat``, faiss and golden interleaved), the golden/faiss
throughput ratios (goal >= 1.0, issue 15) by wall clock and by process CPU time (CPU time is what
a shared machine's load disturbs least; both sides run in this process on the same pinned threads),
the fraction of queries whose golden float top-k equals faiss's (ties aside), and recall@k of float
and fixed point (tie-tolerant). Records the load average before and after. ``--profile`` adds the
golden scan's stage breakdown (:mod:`bench.golden_profile`). Prints tables and writes
``golden_speed.json``.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np


def timed(fn, repeat: int):
    """``(result, best wall seconds, best CPU seconds)`` over ``repeat`` calls."""
    wall, cpu, out = float("inf"), float("inf"), None
    for _ in range(repeat):
        w0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        cpu = min(cpu, time.process_time() - c0)
        wall = min(wall, time.perf_counter() - w0)
    return out, wall, cpu


def run(index, ds, nprobes=(1, 4, 16, 64), k: int = 10, threads: int = 1, nq: int | None = None,
        repeat: int = 3, fmt=None) -> dict:
    from ivfpq.faiss_io import to_faiss
    from ivfpq.fixedpoint import DEFAULT_FORMAT
    from ivfpq.metrics import recall_at_k, same_topk_ties_aside
    from ivfpq.scan import search
    from ivfpq.threads import set_threads

    threads = set_threads(threads)
    fmt = fmt or DEFAULT_FORMAT
    q = np.ascontiguousarray(ds.queries[:nq] if nq else ds.queries)
    gt_i, gt_d = ds.gt_ids[: len(q)], ds.gt_distances[: len(q)]
    fi = to_faiss(index)
    load_before = os.getloadavg()
    rows = []
    for nprobe in nprobes:
        fi.nprobe = nprobe
        search(index, q[:2], k, nprobe, fmt=None)  # compile and build the tables outside the timing
        search(index, q[:2], k, nprobe, fmt=fmt)
        best = {"faiss": [np.inf, np.inf], "float": [np.inf, np.inf], "fixed": [np.inf, np.inf]}
        calls = {"faiss": lambda: fi.search(q, k), "float": lambda: search(index, q, k, nprobe, fmt=None),
                 "fixed": lambda: search(index, q, k, nprobe, fmt=fmt)}
        out = {}
        for _ in range(repeat):  # interleaved, so a burst of load hits all three alike
            for name, fn in calls.items():
                out[name], wall, cpu = timed(fn, 1)
                best[name] = [min(best[name][0], wall), min(best[name][1], cpu)]
        (fD, fI), rf, rx = out["faiss"], out["float"], out["fixed"]
        fD = fD if index.metric == "l2" else -fD
        rec = lambda ids: recall_at_k(ids, gt_i, k, gt_distances=gt_d, base=ds.base, queries=q,
                                      metric=index.metric)
        (tf, cf), (tg, cg), (tx, cx) = best["faiss"], best["float"], best["fixed"]
        rows.append({"nprobe": nprobe, "qps_faiss_measured": len(q) / tf, "qps_golden_float_measured": len(q) / tg,
                     "qps_golden_fixed_measured": len(q) / tx, "ratio_float_to_faiss": tf / tg,
                     "ratio_fixed_to_faiss": tf / tx, "ratio_float_to_faiss_cpu": cf / cg,
                     "ratio_fixed_to_faiss_cpu": cf / cx,
                     "queries_same_topk_as_faiss": float(np.mean(same_topk_ties_aside(fD, fI, rf.distances, rf.ids))),
                     f"recall@{k}_faiss": rec(fI), f"recall@{k}_float": rec(rf.ids), f"recall@{k}_fixed": rec(rx.ids),
                     "fixed_minus_float_pp": 100 * (rec(rx.ids) - rec(rf.ids))})
    return {"dataset": ds.name, "index": index.describe(), "k": k, "threads": threads, "queries": len(q),
            "lut_format": fmt.to_dict(), "rows": rows, "load_average_before": list(load_before),
            "load_average_after": list(os.getloadavg()),
            "note": f"QPS measured: wall clock on this machine, best of {repeat}, same index and queries; "
                    "*_cpu ratios: process CPU time, best of the same runs"}


def main(argv=None) -> int:
    from ivfpq.errors import CommandParser, run_command

    ap = CommandParser(prog="python -m bench.golden_speed", description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", default="synthetic:n=100000,d=128,nq=1000,seed=0")
    ap.add_argument("--nlist", type=int, default=1024)
    ap.add_argument("--m", type=int, default=16)
    ap.add_argument("--nprobe", type=int, nargs="+", default=[1, 4, 16, 64])
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--profile", action="store_true", help="also the golden scan's stage breakdown")
    ap.add_argument("--out", default="report/bench")
    args = ap.parse_args(argv)
    return run_command(lambda: _run_from_args(args))


def _run_from_args(args) -> int:
    from ivfpq.index_cache import cached_index

    from .table import format_table

    index, ds, _ = cached_index(args.dataset, args.nlist, args.m)
    res = run(index, ds, args.nprobe, args.k, args.threads, repeat=args.repeat)
    if args.profile:
        from .golden_profile import profile

        res["profile"] = profile(index, ds.queries, args.nprobe, args.k, args.threads, args.repeat)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "golden_speed.json").write_text(json.dumps(res, indent=1))
    print(f"golden scan vs faiss — {ds.name}, IVF{args.nlist},PQ{args.m}, {res['threads']} thread(s), measured; "
          f"load average {res['load_average_before'][0]:.2f} before, {res['load_average_after'][0]:.2f} after")
    print(format_table(res["rows"]))
    if args.profile:
        print("\nstage breakdown, us/query of process CPU time (measured, best of "
              f"{args.repeat}; each stage = a run up to it minus the run before)")
        print(format_table(res["profile"]["rows"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

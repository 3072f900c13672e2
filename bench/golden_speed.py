"""Golden scan vs faiss on the same index and queries, single-threaded, in one run.

    python -m bench.golden_speed [--dataset SPEC] [--nlist 1024] [--m 16] [--nprobe 1 4 16 64] [--threads 1]

Reports, per nprobe: QPS of faiss ``IndexIVFPQ`` and of the golden scan with float and with
fixed-point LUTs (measured, best of 3), the golden/faiss throughput ratio (goal >= 0.5 for float),
the fraction of queries whose golden float top-k equals faiss's (ties aside), and recall@k of float
and fixed point (tie-tolerant). Prints a table and writes ``golden_speed.json``.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .timing import best_of


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
    rows = []
    for nprobe in nprobes:
        fi.nprobe = nprobe
        search(index, q[:2], k, nprobe, fmt=None)
        search(index, q[:2], k, nprobe, fmt=fmt)
        (fD, fI), tf = best_of(lambda: fi.search(q, k), repeat)
        fD = fD if index.metric == "l2" else -fD
        rf, tg = best_of(lambda: search(index, q, k, nprobe, fmt=None), repeat)
        rx, tx = best_of(lambda: search(index, q, k, nprobe, fmt=fmt), repeat)
        rec = lambda ids: recall_at_k(ids, gt_i, k, gt_distances=gt_d, base=ds.base, queries=q,
                                      metric=index.metric)
        rows.append({"nprobe": nprobe, "qps_faiss_measured": len(q) / tf, "qps_golden_float_measured": len(q) / tg,
                     "qps_golden_fixed_measured": len(q) / tx, "ratio_float_to_faiss": tf / tg,
                     "ratio_fixed_to_faiss": tf / tx,
                     "queries_same_topk_as_faiss": float(np.mean(same_topk_ties_aside(fD, fI, rf.distances, rf.ids))),
                     f"recall@{k}_faiss": rec(fI), f"recall@{k}_float": rec(rf.ids), f"recall@{k}_fixed": rec(rx.ids),
                     "fixed_minus_float_pp": 100 * (rec(rx.ids) - rec(rf.ids))})
    return {"dataset": ds.name, "index": index.describe(), "k": k, "threads": threads, "queries": len(q),
            "lut_format": fmt.to_dict(), "rows": rows,
            "note": f"QPS measured: wall clock on this machine, best of {repeat}, same index and queries"}


def main(argv=None) -> int:
    from ivfpq.errors import CommandParser, run_command

    ap = CommandParser(prog="python -m bench.golden_speed", description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", default="synthetic:n=100000,d=128,nq=1000,seed=0")
    ap.add_argument("--nlist", type=int, default=1024)
    ap.add_argument("--m", type=int, default=16)
    ap.add_argument("--nprobe", type=int, nargs="+", default=[1, 4, 16, 64])
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default="report/bench")
    args = ap.parse_args(argv)
    return run_command(lambda: _run_from_args(args))


def _run_from_args(args) -> int:
    from ivfpq.index_cache import cached_index

    from .table import format_table

    index, ds, _ = cached_index(args.dataset, args.nlist, args.m)
    res = run(index, ds, args.nprobe, args.k, args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "golden_speed.json").write_text(json.dumps(res, indent=1))
    print(f"golden scan vs faiss — {ds.name}, IVF{args.nlist},PQ{args.m}, {args.threads} thread(s), measured")
    print(format_table(res["rows"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

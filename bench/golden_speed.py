"""Golden scan vs faiss on the same index and queries, single-threaded, in one run.

    python -m bench.golden_speed [--dataset SPEC] [--nlist 1024] [--m 16] [--nprobe 1 4 16 64] [--threads 1]

Reports, per nprobe: QPS of faiss ``IndexIVFPQ`` and of the golden scan with float and with
fixed-point LUTs (measured, best of 3), the golden/faiss throughput ratio (goal >= 0.5 for float),
the fraction of queries whose golden float top-k equals faiss's (ties aside), and recall@k of float
and fixed point (tie-tolerant). Prints a table and writes ``golden_speed.json``.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def _best(fn, repeat=3):
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return out, best


def run(index, ds, nprobes=(1, 4, 16, 64), k: int = 10, threads: int = 1) -> dict:
    from ivfpq.faiss_io import to_faiss
    from ivfpq.fixedpoint import DEFAULT_FORMAT
    from ivfpq.metrics import recall_at_k, same_topk_ties_aside
    from ivfpq.scan import search
    from ivfpq.threads import set_threads

    set_threads(threads)
    q = np.ascontiguousarray(ds.queries)
    fi = to_faiss(index)
    rows = []
    for nprobe in nprobes:
        fi.nprobe = nprobe
        search(index, q[:2], k, nprobe, fmt=None)
        search(index, q[:2], k, nprobe)
        (fD, fI), tf = _best(lambda: fi.search(q, k))
        fD = fD if index.metric == "l2" else -fD
        rf, tg = _best(lambda: search(index, q, k, nprobe, fmt=None))
        rx, tx = _best(lambda: search(index, q, k, nprobe))
        rec = lambda ids: recall_at_k(ids, ds.gt_ids, k, gt_distances=ds.gt_distances, base=ds.base, queries=q,
                                      metric=index.metric)
        rows.append({"nprobe": nprobe, "qps_faiss_measured": len(q) / tf, "qps_golden_float_measured": len(q) / tg,
                     "qps_golden_fixed_measured": len(q) / tx, "ratio_float_to_faiss": tf / tg,
                     "ratio_fixed_to_faiss": tf / tx,
                     "queries_same_topk_as_faiss": float(np.mean(same_topk_ties_aside(fD, fI, rf.distances, rf.ids))),
                     f"recall@{k}_faiss": rec(fI), f"recall@{k}_float": rec(rf.ids), f"recall@{k}_fixed": rec(rx.ids),
                     "fixed_minus_float_pp": 100 * (rec(rx.ids) - rec(rf.ids))})
    return {"dataset": ds.name, "index": index.describe(), "k": k, "threads": threads, "queries": len(q),
            "lut_format": DEFAULT_FORMAT.to_dict(), "rows": rows,
            "note": "QPS measured: wall clock on this machine, best of 3, same index and queries"}


def main(argv=None) -> int:
    from hwrag.output import format_table
    from ivfpq.datasets import load_dataset
    from ivfpq.faiss_io import train_index

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", default="synthetic:n=100000,d=128,nq=1000,seed=0")
    ap.add_argument("--nlist", type=int, default=1024)
    ap.add_argument("--m", type=int, default=16)
    ap.add_argument("--nprobe", type=int, nargs="+", default=[1, 4, 16, 64])
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default="report/bench")
    args = ap.parse_args(argv)
    from hwrag.data_commands import default_index_path
    from ivfpq.storage import load_index, save_index

    ds = load_dataset(args.dataset)
    path = default_index_path(args.dataset, args.nlist, args.m)
    if (path / "manifest.json").exists():
        index = load_index(path)
    else:
        index = train_index(ds.base, args.nlist, args.m, metric=ds.metric)
        save_index(index, path, extra={"dataset": ds.name})
    res = run(index, ds, args.nprobe, args.k, args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "golden_speed.json").write_text(json.dumps(res, indent=1))
    print(f"golden scan vs faiss — {ds.name}, IVF{args.nlist},PQ{args.m}, {args.threads} thread(s), measured")
    print(format_table(res["rows"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

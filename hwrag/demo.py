"""``hwrag demo``: the main job, end to end on the default data (cached after the first run)."""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path

from tqdm import tqdm

from .output import emit, format_table

log = logging.getLogger(__name__)

DEFAULT_DATASET = "synthetic:n=100000,d=128,nq=1000,seed=0"


def run_demo(args) -> int:
    from ivfpq.datasets import load_dataset
    from ivfpq.faiss_io import train_index
    from ivfpq.fixedpoint import DEFAULT_FORMAT
    from ivfpq.storage import load_index, save_index

    from .data_commands import default_index_path, side_by_side

    t0 = time.perf_counter()
    steps = tqdm(total=3, desc="demo", unit="step", disable=args.json)
    steps.set_postfix_str("dataset")
    ds = load_dataset(args.dataset)
    steps.update()
    steps.set_postfix_str("index")
    path = default_index_path(args.dataset, args.nlist, args.m)
    if (path / "manifest.json").exists():
        index = load_index(path)
    else:
        index = train_index(ds.base, args.nlist, args.m, metric=ds.metric)
        save_index(index, path, extra={"dataset": ds.name})
    steps.update()
    steps.set_postfix_str("search")
    sweeps = [side_by_side(index, ds, args.k, nprobe, DEFAULT_FORMAT, args.threads)
              for nprobe in tqdm(args.nprobe, desc="nprobe sweep", leave=False, disable=args.json)]
    steps.update()
    steps.close()
    rows = [{"nprobe": s["nprobe"], **r} for s in sweeps for r in s["rows"]]
    out = Path(args.report)
    out.mkdir(parents=True, exist_ok=True)
    result = {"dataset": ds.describe(), "index": index.describe(), "k": args.k, "ann": rows,
              "seconds_measured": round(time.perf_counter() - t0, 2),
              "note": "qps_measured is wall clock on this machine; recall@k is tie-tolerant"}
    (out / "demo.json").write_text(json.dumps(result, indent=1, default=float))
    (out / "README.md").write_text(f"# hwrag demo report\n\nDataset `{ds.name}`, IVF{args.nlist},PQ{args.m}, "
                                   f"k={args.k}. QPS are measured (wall clock, this machine).\n\n```\n"
                                   f"{format_table(rows)}\n```\n")
    emit(result, args.json, rows, title=f"hwrag demo — {ds.name}, IVF{args.nlist},PQ{args.m}, k={args.k} "
         f"(QPS measured) — report in {out}")
    return 0


def add_parsers(sub) -> None:
    p = sub.add_parser("demo", help="the main job: data, index, search side by side, report")
    p.add_argument("--dataset", default=DEFAULT_DATASET)
    p.add_argument("--nlist", type=int, default=1024)
    p.add_argument("--m", type=int, default=16)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--nprobe", type=int, nargs="+", default=[1, 4, 16, 64])
    p.add_argument("--threads", type=int)
    p.add_argument("--report", default="report", help="report directory")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run_demo)

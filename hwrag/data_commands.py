"""``hwrag dataset``, ``hwrag index`` and ``hwrag search``: data in, index built, side-by-side search."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ivfpq.errors import HwragError

from .output import emit


# ---- dataset -----------------------------------------------------------------------------------
def cmd_dataset_make(args) -> int:
    from ivfpq.datasets import load_dataset

    t0 = time.perf_counter()
    ds = load_dataset(args.spec, refresh=args.refresh)
    info = ds.describe() | {"seconds_measured": round(time.perf_counter() - t0, 3)}
    if args.export_hdf5:
        from ivfpq.datasets.hdf5 import write_ann_hdf5

        write_ann_hdf5(args.export_hdf5, ds.base, ds.queries, ds.gt_ids,
                       ds.gt_distances if ds.metric == "l2" else -ds.gt_distances,
                       "euclidean" if ds.metric == "l2" else "dot")
        info["exported"] = args.export_hdf5
    emit(info, args.json, title=f"dataset {ds.name}")
    return 0


def cmd_dataset_info(args) -> int:
    from ivfpq.datasets import load_dataset

    emit(load_dataset(args.spec).describe(), args.json, title=f"dataset {args.spec}")
    return 0


# ---- index -------------------------------------------------------------------------------------
def cmd_index_build(args) -> int:
    from ivfpq.datasets import load_dataset
    from ivfpq.faiss_io import train_index
    from ivfpq.index_cache import default_index_path
    from ivfpq.storage import save_index

    ds = load_dataset(args.dataset)
    t0 = time.perf_counter()
    if not args.json:  # training is one silent faiss call of seconds to minutes: say what runs
        print(f"training IVF{args.nlist},PQ{args.m} on {ds.base.shape[0]} vectors of {ds.name} with faiss "
              "(k-means, then the product quantizer; minutes for a large dataset)", file=sys.stderr, flush=True)
    index = train_index(ds.base, args.nlist, args.m, metric=ds.metric, by_residual=not args.no_residual,
                        seed=args.seed)
    secs = time.perf_counter() - t0
    out = Path(args.output) if args.output else default_index_path(args.dataset, args.nlist, args.m)
    save_index(index, out, extra={"dataset": ds.name})
    emit(index.describe() | {"path": str(out), "build_seconds_measured": round(secs, 3)}, args.json,
         title=f"built IVF{args.nlist},PQ{args.m} on {ds.name}")
    return 0


def cmd_index_info(args) -> int:
    from ivfpq.storage import load_index, load_manifest

    index = load_index(args.path, verify=not args.no_verify)
    emit(index.describe() | {"path": args.path, "extra": load_manifest(args.path).get("extra", {})}, args.json,
         title=f"index {args.path}")
    return 0


def cmd_index_import(args) -> int:
    from ivfpq.faiss_io import from_faiss
    from ivfpq.storage import save_index

    index = from_faiss(args.faiss_file)
    save_index(index, args.output, extra={"imported_from": str(args.faiss_file)})
    emit(index.describe() | {"path": args.output}, args.json, title=f"imported {args.faiss_file}")
    return 0


# ---- search ------------------------------------------------------------------------------------
def cmd_search(args) -> int:
    from bench.golden_speed import run
    from ivfpq.fixedpoint import LutFormat
    from ivfpq.index_cache import cached_index

    if args.index is None:
        from ivfpq.index_cache import default_index_path

        path = default_index_path(args.dataset, args.nlist, args.m)
        if not (path / "manifest.json").exists():
            raise HwragError(f"no index at {path}; build it with `hwrag index build --dataset {args.dataset} "
                             f"--nlist {args.nlist} --m {args.m}` or pass --index PATH")
    index, ds, _ = cached_index(args.dataset, args.nlist, args.m, args.index)
    fmt = LutFormat(lut_bits=args.lut_bits, dist_bits=args.dist_bits)
    fmt.check(index.M)
    res = run(index, ds, [args.nprobe], args.k, args.threads, args.nq, repeat=2, fmt=fmt)
    emit(res, args.json, res["rows"], title=f"search k={args.k} nprobe={args.nprobe} on {ds.name} "
         f"({res['queries']} queries, {res['threads']} threads; QPS measured)")
    return 0


def add_parsers(sub) -> None:
    js = argparse.ArgumentParser(add_help=False)
    js.add_argument("--json", action="store_true", help="machine-readable output")

    d = sub.add_parser("dataset", help="make or inspect datasets").add_subparsers(dest="sub", required=True)
    p = d.add_parser("make", parents=[js], help="make (and cache) a dataset")
    p.add_argument("spec", nargs="?", default="synthetic",
                   help="synthetic[:n=..,d=..,nq=..,seed=..] | pydocs | FILE.hdf5 | TEXMEX_DIR")
    p.add_argument("--refresh", action="store_true", help="rebuild even if cached")
    p.add_argument("--export-hdf5", metavar="FILE", help="also write it as ann-benchmarks HDF5")
    p.set_defaults(func=cmd_dataset_make)
    p = d.add_parser("info", parents=[js], help="describe a dataset")
    p.add_argument("spec")
    p.set_defaults(func=cmd_dataset_info)

    i = sub.add_parser("index", help="build, inspect or import IVF-PQ indexes").add_subparsers(dest="sub", required=True)
    p = i.add_parser("build", parents=[js], help="train IVF-PQ with faiss and save it")
    p.add_argument("--dataset", default="synthetic")
    p.add_argument("--nlist", type=int, default=256)
    p.add_argument("--m", type=int, default=16, help="PQ sub-quantizers (bytes per code)")
    p.add_argument("--no-residual", action="store_true", help="encode vectors, not residuals")
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("-o", "--output", help="index directory (default: in the cache)")
    p.set_defaults(func=cmd_index_build)
    p = i.add_parser("info", parents=[js], help="describe a saved index")
    p.add_argument("path")
    p.add_argument("--no-verify", action="store_true", help="skip checksums")
    p.set_defaults(func=cmd_index_info)
    p = i.add_parser("import-faiss", parents=[js], help="import a faiss IndexIVFPQ file")
    p.add_argument("faiss_file")
    p.add_argument("-o", "--output", required=True, help="index directory to write")
    p.set_defaults(func=cmd_index_import)

    p = sub.add_parser("search", parents=[js], help="golden scan and faiss side by side")
    p.add_argument("--dataset", default="synthetic")
    p.add_argument("--index", help="saved index (default: the cached one for --dataset/--nlist/--m)")
    p.add_argument("--nlist", type=int, default=256)
    p.add_argument("--m", type=int, default=16)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--nprobe", type=int, default=16)
    p.add_argument("--nq", type=int, help="use only the first NQ queries")
    p.add_argument("--lut-bits", type=int, default=8)
    p.add_argument("--dist-bits", type=int, default=16)
    p.add_argument("--threads", type=int, default=1, help="threads for faiss and numba (default 1)")
    p.set_defaults(func=cmd_search)

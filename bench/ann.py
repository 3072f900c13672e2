"""``hwrag bench ann``: recall@k vs QPS over nprobe for every adapter, side by side in one run.

The harness recomputes recall itself (tie-tolerant, against exact ground truth) and rejects an
answer with duplicate ids. Software engines are measured (wall clock, threads pinned); hardware
models are modeled (hwsim, configuration named). Writes ``ann.json`` and ``ann_recall_qps.png``.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ivfpq.errors import HwragError
from ivfpq.metrics import check_no_duplicates, recall_at_k

from .adapters import Adapter, default_adapters
from .plots import recall_qps_plot

log = logging.getLogger(__name__)


def run_ann(index, ds, adapters: list[Adapter] | None = None, nprobes=(1, 2, 4, 8, 16, 32), k: int = 10,
            nq: int | None = None, threads: int | None = None, progress: bool = True) -> dict:
    from ivfpq.threads import set_threads

    n_threads = set_threads(threads)
    adapters = adapters if adapters is not None else default_adapters()
    q = np.ascontiguousarray(ds.queries[:nq] if nq else ds.queries)
    gt_i, gt_d = ds.gt_ids[: len(q)], ds.gt_distances[: len(q)]
    if gt_i.shape[1] < k:
        raise HwragError(f"ground truth has {gt_i.shape[1]} neighbours, fewer than k={k}")
    nprobes = [p for p in nprobes if p <= index.nlist]
    rows = []
    bar = tqdm(total=len(adapters) * len(nprobes), desc="bench ann", disable=not progress)
    for a in adapters:
        a.fit(index)
        qa = q
        for nprobe in nprobes:
            ans = a.query(qa, k, nprobe)
            if ans.ids.shape != (len(qa), k):
                raise HwragError(f"{a.name} answered shape {ans.ids.shape}, expected {(len(qa), k)}")
            check_no_duplicates(ans.ids)
            rec = recall_at_k(ans.ids, gt_i[: len(qa)], k, gt_distances=gt_d[: len(qa)], base=ds.base,
                              queries=qa, metric=index.metric)
            rows.append({"engine": a.name, "figures": a.provenance, "config": a.config or "this machine",
                         "nprobe": nprobe, "queries": len(qa), f"recall@{k}": rec,
                         "qps": len(qa) / ans.seconds if ans.seconds > 0 else float("inf"),
                         "batch_seconds": ans.seconds, **{kk: v for kk, v in ans.extra.items()
                                                          if not isinstance(v, dict)}})
            bar.update()
    bar.close()
    return {"dataset": ds.name, "index": index.describe(), "k": k, "threads_measured": n_threads, "rows": rows,
            "note": "measured: wall clock on this machine; modeled: hwsim device makespan (host-side list "
                    "selection excluded) of a representative batch of 'timing_queries', configuration named in "
                    "'config'; recall of every engine over all queries"}


def write_ann_report(result: dict, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    k = result["k"]
    (out / "ann.json").write_text(json.dumps(result, indent=1, default=float))
    curves, prov = {}, {}
    for r in result["rows"]:
        curves.setdefault(r["engine"], []).append((r[f"recall@{k}"], r["qps"], r["nprobe"]))
        prov[r["engine"]] = r["figures"]
    png = recall_qps_plot(curves, prov, out / "ann_recall_qps.png",
                          f"recall@{k} vs QPS over nprobe — {result['dataset']}, IVF{result['index']['nlist']},"
                          f"PQ{result['index']['M']}", k)
    return [out / "ann.json", png]

"""Run by :mod:`bench.faiss172_check` inside its side environment (faiss 1.7.2, numpy < 2): the real faiss
1.7.2 ``IndexIVFPQ`` scan, cycles per code on this core. Imports only numpy and faiss; prints one JSON object.

Per M: an IVF-PQ index (D = 128, 8-bit codes, precomputed tables as faiss 1.7.2 builds them, 256 random
centroids or more) whose every list holds ``L`` random codes, the lists together far beyond the last-level
cache; 8 queries each scan ``nprobe`` distinct random lists through ``search_preassigned`` on one OpenMP
thread (on-CPU time of this thread, best of 5). Two list lengths give the cost per code as the slope, without
the per-list table set-up: the figure the replica (``bench/scan_replica.c``) measures.
"""
import argparse
import json
import time

import faiss
import numpy as np
from faiss import swig_ptr

D, K, NPROBE, QUERIES = 128, 100, 32, 8
LENGTHS = (10_000, 30_000)
BUFFER_BYTES = 256 << 20


def cycles_per_list(M: int, L: int, ghz: float, rng) -> float:
    nlist = max(256, BUFFER_BYTES // (L * M))
    quantizer = faiss.IndexFlatL2(D)
    quantizer.add(rng.standard_normal((nlist, D)).astype(np.float32))
    index = faiss.IndexIVFPQ(quantizer, D, nlist, M, 8)
    index.pq.train(rng.standard_normal((20_000, D)).astype(np.float32))
    index.is_trained = True
    index.use_precomputed_table = 0
    index.precompute_table()
    if index.use_precomputed_table != 1:
        raise SystemExit(f"faiss did not build precomputed tables at M={M}")
    for l in range(nlist):
        codes = rng.integers(0, 256, (L, M), dtype=np.uint8)
        ids = np.arange(l * L, (l + 1) * L, dtype=np.int64)
        index.invlists.add_entries(l, L, swig_ptr(ids), swig_ptr(codes))
    index.ntotal = nlist * L
    index.nprobe = NPROBE  # search_preassigned reads nprobe keys per query from here
    xq = rng.standard_normal((QUERIES, D)).astype(np.float32)
    coarse = np.zeros((QUERIES, NPROBE), np.float32)
    dist = np.zeros((QUERIES, K), np.float32)
    labels = np.zeros((QUERIES, K), np.int64)
    best = float("inf")
    for _ in range(5):
        assign = np.stack([rng.choice(nlist, NPROBE, replace=False) for _ in range(QUERIES)]).astype(np.int64)
        t0 = time.thread_time()
        index.search_preassigned(QUERIES, swig_ptr(xq), K, swig_ptr(assign), swig_ptr(coarse), swig_ptr(dist),
                                 swig_ptr(labels), False)
        best = min(best, time.thread_time() - t0)
    return best * ghz * 1e9 / (QUERIES * NPROBE)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ghz", type=float, required=True)
    ap.add_argument("--M", type=int, nargs="+", required=True)
    args = ap.parse_args()
    faiss.omp_set_num_threads(1)
    rng = np.random.default_rng(0)
    rows = []
    for M in args.M:
        short, long = (cycles_per_list(M, L, args.ghz, rng) for L in LENGTHS)
        per_code = (long - short) / (LENGTHS[1] - LENGTHS[0])
        rows.append({"M": M, "cycles_per_code": per_code, "cycles_per_list": short - per_code * LENGTHS[0]})
    print(json.dumps({"faiss": faiss.__version__, "rows": rows}))


if __name__ == "__main__":
    main()

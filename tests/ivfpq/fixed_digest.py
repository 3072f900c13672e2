"""Digest of the fixed-point scan's answers (ids + integer distances) over many indexes, for checking
that a change to the scan keeps every bit.

    python -m tests.ivfpq.fixed_digest record DIR   # train (once) and save the indexes under DIR, write DIR/digest.json
    python -m tests.ivfpq.fixed_digest check DIR    # recompute on the saved indexes, compare with DIR/digest.json

The indexes are saved on ``record`` so ``check`` never retrains (faiss training need not be
bit-reproducible across thread counts). Cases: L2 and inner product, by residual or not, the
100k SIFT-like IVF1024,PQ16 of ``bench.golden_speed``, a normalised (corpus-like) inner-product set,
and the MiniLM ``pydocs`` corpus when it is cached; several nprobe, k and LUT formats; plus the
quantised LUTs themselves (``quantized_luts_for``: lut, bias, scale, offset), which the hardware
models load. Not a pytest module: the digests are specific to the machine that trained the indexes.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np


def _small_data():
    rng = np.random.default_rng(7)  # tests/ivfpq/conftest.py's data
    centres = rng.normal(size=(20, 32)) * 4
    xb = (centres[rng.integers(0, 20, 6000)] + rng.normal(size=(6000, 32))).astype(np.float32)
    xq = (centres[rng.integers(0, 20, 40)] + rng.normal(size=(40, 32))).astype(np.float32)
    return xb, xq


def _unit(x):
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _build(workdir: Path) -> None:
    from ivfpq.datasets import load_dataset
    from ivfpq.faiss_io import train_index
    from ivfpq.storage import save_index
    from ivfpq.threads import set_threads

    set_threads(1)
    xb, xq = _small_data()
    np.save(workdir / "small_queries.npy", xq)
    for metric in ("l2", "ip"):
        for res in (True, False):
            base = xb if metric == "l2" else _unit(xb)
            save_index(train_index(base, 32, 8, metric=metric, by_residual=res, niter=10),
                       workdir / f"small_{metric}_{int(res)}")
    syn = load_dataset("synthetic:n=100000,d=128,nq=1000,seed=0")
    np.save(workdir / "synthetic_queries.npy", syn.queries)
    save_index(train_index(syn.base, 1024, 16), workdir / "synthetic_l2")
    ub, uq = _unit(syn.base[:30000]), _unit(syn.queries[:300])
    np.save(workdir / "unit_queries.npy", uq)
    for res in (True, False):
        save_index(train_index(ub, 256, 16, metric="ip", by_residual=res), workdir / f"unit_ip_{int(res)}")
    try:
        docs = load_dataset("pydocs")
    except Exception as e:  # the corpus needs MiniLM embeddings; skip when it cannot be made here
        print(f"pydocs skipped: {e}", file=sys.stderr)
        return
    np.save(workdir / "pydocs_queries.npy", docs.queries)
    save_index(train_index(docs.base, 64, 16, metric="ip"), workdir / "pydocs_ip")


def _cases(workdir: Path):
    from ivfpq.fixedpoint import LutFormat

    d8, d4, d12 = LutFormat(8, 16), LutFormat(4, 8), LutFormat(12, 24)
    for metric in ("l2", "ip"):
        for res in (True, False):
            for fmt in (d8, d4, d12):
                yield f"small_{metric}_{int(res)}", "small_queries", (1, 5, 32), (1, 10, 100), fmt
    yield "synthetic_l2", "synthetic_queries", (1, 4, 16, 64), (10, 100), d8
    yield "synthetic_l2", "synthetic_queries", (16,), (10,), LutFormat(16, 32)
    for res in (True, False):
        yield f"unit_ip_{res:d}", "unit_queries", (1, 8, 32), (10,), d8
    yield "pydocs_ip", "pydocs_queries", (4, 16, 64), (10,), d8


def _sha(*arrays) -> str:
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str((a.dtype.str, a.shape)).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def compute(workdir: Path) -> dict:
    from ivfpq.lut import select_lists
    from ivfpq.scan import quantized_luts_for, scan_lists
    from ivfpq.storage import load_index
    from ivfpq.threads import set_threads

    set_threads(1)
    out = {}
    for name, qname, nprobes, ks, fmt in _cases(workdir):
        if not (workdir / name).exists():
            continue
        index = load_index(workdir / name)
        q = np.load(workdir / f"{qname}.npy")
        for nprobe in nprobes:
            probe = select_lists(index, q, nprobe)
            for k in ks:
                r = scan_lists(index, q, probe, k, fmt)
                out[f"{name}/nprobe={nprobe}/k={k}/lut{fmt.lut_bits}_dist{fmt.dist_bits}"] = _sha(r.ids, r.int_distances)
            ql = quantized_luts_for(index, q[:50], probe[:50], fmt)
            out[f"{name}/nprobe={nprobe}/luts/lut{fmt.lut_bits}_dist{fmt.dist_bits}"] = _sha(
                ql.lut, ql.bias, ql.scale, ql.offset)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("action", choices=["record", "check"])
    ap.add_argument("dir")
    args = ap.parse_args(argv)
    workdir = Path(args.dir)
    if args.action == "record":
        workdir.mkdir(parents=True, exist_ok=True)
        if not (workdir / "small_queries.npy").exists():
            _build(workdir)
        digest = compute(workdir)
        (workdir / "digest.json").write_text(json.dumps(digest, indent=1, sort_keys=True))
        print(f"recorded {len(digest)} digests in {workdir / 'digest.json'}")
        return 0
    want = json.loads((workdir / "digest.json").read_text())
    got = compute(workdir)
    bad = sorted(k for k in want if got.get(k) != want[k])
    missing = sorted(set(want) - set(got))
    print(f"{len(want) - len(bad)}/{len(want)} digests equal" + (f"; missing {missing}" if missing else ""))
    for k in bad:
        print(f"DIFFERENT: {k}")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Measure, on this machine, the CPU costs the system model's faiss baseline is built from.

    python -m bench.cpu_rates [--out-dir hwsim/data/rates] [--quick]

Every figure is *measured* (on-CPU time of this thread (``time.thread_time``), faiss pinned to 1 OpenMP thread) and stored in
cycles of this core, so :mod:`hwsim.cpu` can scale it to a named server by its clock. faiss runs at its AVX2
SIMD level (``faiss.SIMDConfig``): the modeled server's AMD EPYC 7313 (Zen 3) has AVX2 and no AVX-512, so
faiss there runs the AVX2 kernels, whatever this machine has (the SIMD level used is recorded):

* ``clock_ghz``: this core's clock, from a dependent chain of 3 one-cycle integer operations
  (shift, xor, add) per iteration in numba: ``3 x iterations / seconds``.
* ``scan``: faiss ``IndexIVFPQ.search_preassigned`` (L2, by residual, precomputed tables, the IVF-PQ
  search loop Chameleon's CPU baseline runs) on lists of controlled length ``L`` with random codes, for
  each (D, M), one query at a time: cycles per probed list fitted to ``a + b * L`` (``a``: the list's
  LUT from the precomputed table, set-up, heap; ``b`` per code) and ``c0`` per query (its LUT terms).
* ``scan_cold``: the same scan over lists that are not in any cache: an index of about ``COLD_BYTES`` of
  codes, each query probing 32 lists drawn afresh (as at a billion vectors: codes and each list's row of
  the precomputed table come from memory), lists of 2,000-30,000 codes; per list ``a + b * L``. On this
  machine a code costs far more cold than warm; how much of that a server's prefetchers hide is not
  measurable here, so the model uses the warm costs and reports the cold ones as the other bound.
* ``select``: faiss ``IndexFlatL2`` search for the nprobe nearest of ``nlist`` centroids, one query at a
  time (faiss's sequential path) and batches of ``BLAS_BATCHES`` queries on its GEMM path, as cycles per
  centroid x dimension. The faiss 1.7 that Chameleon ran takes the GEMM path from 20 queries
  (``distance_compute_blas_threshold`` = 20); this faiss decides by another rule, so the GEMM path is forced
  (threshold 0) while the batches are measured, and restored after.
* ``tcp``: one message of S bytes and a reply of R bytes between two processes over loopback TCP
  (TCP_NODELAY, blocking sockets, as Chameleon's coordinator uses them): the round trip, fitted to
  ``2 x per_message + per_byte x (S + R)`` (host stack cost per message and per byte, no wire).

* ``host``: the host-side costs of Chameleon's request path (:mod:`bench.host_costs`: a thread wake-up,
  one more 64-byte TCP segment, the GPU host's Python client per batch).

Load matters on a shared machine: ``uptime``'s load average is recorded beside the figures.
"""
from __future__ import annotations

import json
import os
import platform
import socket
import time
from multiprocessing import Process
from pathlib import Path

import numpy as np

from hwsim.rates import RATES_DIR, RatesFile

from .host_costs import measure_host_costs
from .timing import best_of as _best_of
from .timing import measure_clock_ghz


def best_of(fn, repeat: int = 3):
    """``(result, seconds)``: the least on-CPU time (``time.thread_time``) of ``repeat`` calls. On-CPU time,
    not wall clock: on a shared machine the wall clock of a single-threaded call counts other processes'
    time slices; the work itself runs in this thread (faiss pinned to one thread)."""
    return _best_of(fn, repeat, clock=time.thread_time)


SCAN_SHAPES = ((96, 16), (128, 16), (128, 8), (512, 32), (1024, 64))
SELECT_DIMS = (96, 128, 512, 1024)
COLD_BYTES = 4e8                    # codes per cold-scan index: far beyond this core's 2 MB L2
COLD_SHAPES = ((96, 16), (128, 16), (512, 32))
BLAS_BATCHES = (20, 64, 256, 1024)  # GEMM-path batches: a small GEMM costs more per query than a large one
SIMD_LEVEL = "AVX2"  # the widest SIMD level of the modeled AMD EPYC 7313 (Zen 3: AVX2, no AVX-512)


def _ivfpq(d: int, M: int, nlist: int):
    import faiss

    rng = np.random.default_rng(0)
    q = faiss.IndexFlatL2(d)
    index = faiss.IndexIVFPQ(q, d, nlist, M, 8)
    xt = rng.standard_normal((max(256 * 4, nlist * 4), d)).astype(np.float32)
    index.train(xt)
    index.use_precomputed_table = 1
    index.precompute_table()
    return index


def _ivfpq_random_coarse(d: int, M: int, nlist: int):
    """An IVF-PQ index whose coarse centroids are random (only the scan of preassigned lists is timed, so
    training thousands of centroids would cost minutes for nothing); its PQ is trained, its precomputed
    table built (nlist rows, as large as at scale)."""
    import faiss

    rng = np.random.default_rng(0)
    q = faiss.IndexFlatL2(d)
    q.add(rng.standard_normal((nlist, d)).astype(np.float32))
    index = faiss.IndexIVFPQ(q, d, nlist, M, 8)
    index.pq.train(rng.standard_normal((256 * 16, d)).astype(np.float32))
    index.is_trained = True
    index.use_precomputed_table = 1
    index.precompute_table()
    return index


def _fill(index, lengths: list[int], M: int):
    rng = np.random.default_rng(1)
    inv = index.invlists
    for l, n in enumerate(lengths):
        codes = rng.integers(0, 256, (n, M), dtype=np.uint8)
        ids = np.arange(n, dtype=np.int64) + l * 10 ** 7
        import faiss

        inv.add_entries(l, n, faiss.swig_ptr(ids), faiss.swig_ptr(codes))
    index.ntotal = int(sum(lengths))


def measure_scan(d: int, M: int, lengths=(500, 1000, 2000, 4000, 8000, 16000), nprobe: int = 8,
                 nq: int = 8, ghz: float = 1.0) -> dict:
    """Cycles of faiss's IVF-PQ scan, one query at a time: ``nprobe`` lists of each length (a probe's
    codes stay within this core's 2 MB L2 at M=16: on a shared machine, data in the shared L3 is evicted by
    other tenants, which is their load, not the scan's cost); per list ``a + b * L`` by least squares,
    and the per-query cost ``c0`` from one probe against ``nprobe`` probes of the shortest length."""
    from faiss.contrib.ivf_tools import search_preassigned

    index = _ivfpq(d, M, nprobe)
    rng = np.random.default_rng(2)
    xq = rng.standard_normal((nq, d)).astype(np.float32)
    rows = []

    def per_query(p):
        index.nprobe = p
        lists = np.arange(p, dtype=np.int64)[None, :]
        search_preassigned(index, xq[:1], 100, lists)
        _, t = best_of(lambda: [search_preassigned(index, xq[i:i + 1], 100, lists) for i in range(nq)], 3)
        return t / nq * ghz * 1e9

    for L in lengths:
        index.reset()
        _fill(index, [L] * nprobe, M)
        rows.append((L, per_query(nprobe) / nprobe))
    A = np.array([[1.0, L] for L, _ in rows])
    y = np.array([c for _, c in rows])
    (a, b), *_ = np.linalg.lstsq(A, y, rcond=None)
    c1 = per_query(1)  # the shortest lists are loaded: c0 + a + b L0 = one probe
    c0 = max(0.0, c1 - (a + b * lengths[-1]))
    resid = float(np.max(np.abs(A @ np.array([a, b]) - y) / y))
    return {"d": d, "M": M, "nprobe": nprobe, "query_cycles": float(c0), "list_cycles": float(a),
            "code_cycles": float(b), "fit_max_rel_error": resid,
            "samples": [{"codes_per_list": L, "cycles_per_list": c} for L, c in rows]}


def measure_scan_cold(d: int, M: int, lengths=(2000, 8000, 30000), nprobe: int = 32, nq: int = 16,
                      ghz: float = 1.0) -> dict:
    """Cycles of faiss's IVF-PQ scan per list over cold lists (module doc), ``a + b * L`` by least squares."""
    from faiss.contrib.ivf_tools import search_preassigned

    rng = np.random.default_rng(4)
    xq = rng.standard_normal((nq, d)).astype(np.float32)
    rows = []
    for L in lengths:
        nlist = max(4 * nprobe, int(COLD_BYTES / (L * M)))
        index = _ivfpq_random_coarse(d, M, nlist)
        _fill(index, [L] * nlist, M)
        index.nprobe = nprobe

        def one_pass():
            lists = np.stack([rng.choice(nlist, nprobe, replace=False) for _ in range(nq)]).astype(np.int64)
            for i in range(nq):
                search_preassigned(index, xq[i:i + 1], 100, lists[i:i + 1])

        _, t = best_of(one_pass, 3)
        rows.append((L, t / nq / nprobe * ghz * 1e9))
        del index
    A = np.array([[1.0, L] for L, _ in rows])
    (a, b), *_ = np.linalg.lstsq(A, np.array([c for _, c in rows]), rcond=None)
    return {"d": d, "M": M, "nprobe": nprobe, "list_cycles": float(a), "code_cycles": float(b),
            "samples": [{"codes_per_list": L, "cycles_per_list": c} for L, c in rows]}


def measure_select(d: int, nlist: int = 32768, nprobe: int = 32, ghz: float = 1.0) -> dict:
    """Cycles per centroid x dimension of faiss's flat search: one query at a time (sequential path), and
    per query in batches of ``BLAS_BATCHES`` on the GEMM path."""
    import faiss

    rng = np.random.default_rng(3)
    if d > 128:
        nlist = nlist // 4  # keep the matrix small on a shared machine; cost is per centroid x dim
    index = faiss.IndexFlatL2(d)
    index.add(rng.standard_normal((nlist, d)).astype(np.float32))
    xq = rng.standard_normal((max(BLAS_BATCHES), d)).astype(np.float32)
    index.search(xq[:1], nprobe)
    _, t1 = best_of(lambda: [index.search(xq[i:i + 1], nprobe) for i in range(8)], 3)
    per = nlist * d
    threshold = faiss.cvar.distance_compute_blas_threshold
    blas = {}
    try:
        faiss.cvar.distance_compute_blas_threshold = 0
        for b in BLAS_BATCHES:
            index.search(xq[:b], nprobe)
            _, tb = best_of(lambda: index.search(xq[:b], nprobe), 3)
            blas[str(b)] = tb / b * ghz * 1e9 / per
    finally:
        faiss.cvar.distance_compute_blas_threshold = threshold
    return {"d": d, "nlist": nlist, "seq_cycles_per_centroid_dim": t1 / 8 * ghz * 1e9 / per,
            "blas_cycles_per_centroid_dim": blas}


def _echo_server(port_file: str, reply_sizes: list[int]) -> None:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    Path(port_file).write_text(str(srv.getsockname()[1]))
    conn, _ = srv.accept()
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for size_msg in iter(lambda: conn.recv(8), b""):
        n, r = int.from_bytes(size_msg[:4], "little"), int.from_bytes(size_msg[4:8], "little")
        got = 0
        while got < n:
            got += len(conn.recv(min(1 << 16, n - got)))
        conn.sendall(b"\0" * r)
    conn.close()


def measure_tcp(pairs=((64, 64), (1024, 64), (16_960, 64), (64, 1344), (65_536, 64)), rounds: int = 2000,
                ghz: float = 1.0) -> dict:
    """Round trip of an S-byte message and an R-byte reply between two processes over loopback TCP."""
    import tempfile

    with tempfile.TemporaryDirectory() as td:
        pf = os.path.join(td, "port")
        proc = Process(target=_echo_server, args=(pf, []), daemon=True)
        proc.start()
        for _ in range(500):
            if os.path.exists(pf) and Path(pf).read_text():
                break
            time.sleep(0.01)
        s = socket.create_connection(("127.0.0.1", int(Path(pf).read_text())))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        rows = []
        for S, R in pairs:
            payload = b"\1" * S
            hdr = S.to_bytes(4, "little") + R.to_bytes(4, "little")
            ts = []
            for i in range(rounds):
                t0 = time.perf_counter()
                s.sendall(hdr + payload)
                got = 0
                while got < R:
                    got += len(s.recv(R - got))
                ts.append(time.perf_counter() - t0)
            rows.append((S, R, float(np.median(ts[rounds // 10:]))))
        s.close()
        proc.join(5)
    A = np.array([[2.0, S + R + 8] for S, R, _ in rows])
    y = np.array([t for *_, t in rows])
    (per_msg, per_byte), *_ = np.linalg.lstsq(A, y, rcond=None)
    return {"per_message_cycles": float(per_msg * ghz * 1e9), "per_byte_cycles": float(per_byte * ghz * 1e9),
            "samples": [{"bytes_out": S, "bytes_back": R, "round_trip_s": t} for S, R, t in rows]}


def median_of_runs(runs: list):
    """Runs of one measurement merged: every number the median over the runs (lists and dicts element by
    element, other values the first run's); beside each number of a shape (a dict of numbers) its range over
    the runs as ``<name>_range`` = [min, max], so the spread is kept with the figure."""
    v0 = runs[0]
    if all(r == v0 for r in runs[1:]):
        return v0                          # the same in every run (a shape's D and M, a version)
    if isinstance(v0, dict):
        out = {k: median_of_runs([r[k] for r in runs]) for k in v0}
        if len(runs) > 1:
            for k, v in v0.items():
                if isinstance(v, (int, float)) and not isinstance(v, bool) and "cycles" in k:
                    out[f"{k}_range"] = [float(min(r[k] for r in runs)), float(max(r[k] for r in runs))]
        return out
    if isinstance(v0, (list, tuple)) and all(len(r) == len(v0) for r in runs):
        return [median_of_runs([r[i] for r in runs]) for i in range(len(v0))]
    if isinstance(v0, (int, float)) and not isinstance(v0, bool):
        return float(np.median([float(r) for r in runs]))
    return v0


def run(quick: bool = False, repeats: int = 1) -> dict:
    """The whole measurement ``repeats`` times, merged by :func:`median_of_runs` (on a virtual machine one
    run's per-query and per-list costs move up to 4x between runs minutes apart; the per-code costs by a few %)."""
    if repeats < 1:
        from ivfpq.errors import HwragError

        raise HwragError(f"--repeats {repeats}: must be at least 1")
    runs = [run_once(quick) for _ in range(repeats)]
    out = median_of_runs(runs)
    out["repeats"] = repeats
    out["command"] = "python -m bench.cpu_rates" + (" --quick" if quick else "") + (f" --repeats {repeats}" if repeats > 1 else "")
    out["load_average_before"], out["load_average_after"] = runs[0]["load_average_before"], runs[-1]["load_average_after"]
    return out


def run_once(quick: bool = False) -> dict:
    from ivfpq.threads import set_threads
    import faiss

    set_threads(1)
    faiss.omp_set_num_threads(1)
    simd = _set_simd_level(faiss)
    ghz = measure_clock_ghz(50_000_000 if quick else 200_000_000)
    lengths = (500, 2000, 8000) if quick else (500, 1000, 2000, 4000, 8000, 16000)
    shapes = SCAN_SHAPES[:2] if quick else SCAN_SHAPES
    out = {"figures": "measured (on-CPU thread time on this machine, 1 thread; tcp: wall clock)",
           "machine": platform.processor() or platform.machine(), "cpu_model": _cpu_model(),
           "faiss": faiss.__version__, "faiss_simd_level": simd,
           "load_average_before": os.getloadavg(), "clock_ghz": ghz,
           "command": "python -m bench.cpu_rates" + (" --quick" if quick else ""),
           "scan": [measure_scan(d, M, lengths, ghz=ghz) for d, M in shapes],
           "scan_cold": [measure_scan_cold(d, M, (2000, 30000) if quick else (2000, 8000, 30000), ghz=ghz)
                         for d, M in (COLD_SHAPES[1:2] if quick else COLD_SHAPES)],
           "select": [measure_select(d, ghz=ghz) for d in (SELECT_DIMS[:2] if quick else SELECT_DIMS)],
           "tcp": measure_tcp(rounds=300 if quick else 2000, ghz=ghz),
           "host": measure_host_costs(ghz, quick)}
    out["load_average_after"] = os.getloadavg()
    return out


def _set_simd_level(faiss) -> str:
    """Run faiss at ``SIMD_LEVEL`` where this faiss dispatches at run time; returns the level in force."""
    cfg = getattr(faiss, "SIMDConfig", None)
    if cfg is None:
        return "unknown (faiss without SIMDConfig)"
    try:
        cfg.set_level(faiss.to_simd_level(SIMD_LEVEL))
    except Exception:  # noqa: BLE001 - a faiss built for one level only keeps it
        pass
    names = {0: "NONE", 1: "AVX2", 2: "AVX512", 3: "AVX512_SPR"}
    lvl = cfg.get_level()
    return names.get(int(lvl), str(lvl))


def _cpu_model() -> str:
    from .machine import cpu_identity

    return cpu_identity()["cpu_model"]


def write_rates(res: dict, directory: Path) -> Path:
    """This run's sections into this machine's measured-rates file of today (:mod:`hwsim.rates`)."""
    from .machine import cpu_identity

    f = RatesFile.for_this_machine(cpu_identity(), directory)
    la, ghz = res["load_average_before"], res["clock_ghz"]
    n = {"repeats": res.get("repeats", 1)}   # each figure the median of this many whole runs
    f.put("faiss_scan", {"faiss": res["faiss"], "faiss_simd_level": res["faiss_simd_level"], "figures": res["figures"],
                         "shapes": res["scan"], **n}, res["command"], la, ghz)
    f.put("faiss_scan_cold", {"shapes": res["scan_cold"], **n}, res["command"], la, ghz)
    f.put("flat_select", {"shapes": res["select"], **n}, res["command"], la, ghz)
    f.put("tcp", {**res["tcp"], **n}, res["command"], la, ghz)
    f.put("host", {**res["host"], **n}, res["command"], la, ghz)
    return f.save(directory)


def main(argv=None) -> int:
    from ivfpq.errors import CommandParser, run_command

    ap = CommandParser(prog="python -m bench.cpu_rates", description=__doc__.splitlines()[0])
    ap.add_argument("--out-dir", default=str(RATES_DIR),
                    help="folder of measured-rates files; this machine's file of today gets the sections "
                         "(default: %(default)s)")
    ap.add_argument("--quick", action="store_true", help="fewer lengths and shapes (a smoke run; default: off)")
    ap.add_argument("--repeats", type=int, default=1,
                    help="whole measurements, each figure stored as their median with its range (default: %(default)s)")
    args = ap.parse_args(argv)
    return run_command(lambda: _measure_and_write(args))


def _range(shape: dict, key: str) -> str:
    lo, hi = shape[f"{key}_range"]
    return f"{lo:.4g}-{hi:.4g}"


def _measure_and_write(args) -> int:
    res = run(args.quick, args.repeats)
    out = write_rates(res, Path(args.out_dir))
    print(f"wrote {out}")
    print(json.dumps({k: res[k] for k in ("clock_ghz", "load_average_before", "load_average_after")}))
    for s in res["scan"]:
        print(f"scan D={s['d']} M={s['M']}: {s['query_cycles']:.0f} cyc/query + {s['list_cycles']:.0f} cyc/list "
              f"+ {s['code_cycles']:.2f} cyc/code (fit error {s['fit_max_rel_error']:.1%})"
              + (f"; over {res['repeats']} runs query {_range(s, 'query_cycles')}, list {_range(s, 'list_cycles')}, "
                 f"code {_range(s, 'code_cycles')}" if res.get("repeats", 1) > 1 else ""))
    for s in res["scan_cold"]:
        print(f"scan cold D={s['d']} M={s['M']}: {s['list_cycles']:.0f} cyc/list + {s['code_cycles']:.2f} cyc/code")
    for s in res["select"]:
        blas = ", ".join(f"{b}: {c:.3f}" for b, c in s["blas_cycles_per_centroid_dim"].items())
        print(f"select D={s['d']}: seq {s['seq_cycles_per_centroid_dim']:.3f}, GEMM by batch {{{blas}}} "
              f"cycles per centroid x dim")
    t = res["tcp"]
    print(f"tcp loopback: {t['per_message_cycles']:.0f} cycles per message + {t['per_byte_cycles']:.3f} per byte")
    h = res["host"]
    print(f"host: wake-up {h['wakeup_s'] * 1e6:.2f} us, extra 64-byte segment {h['segment_s'] * 1e6:.2f} us, "
          f"Python client {h['python_client']['fixed_s'] * 1e6:.1f} us + {h['python_client']['per_query_s'] * 1e6:.2f} "
          f"us/query; faiss SIMD level {res['faiss_simd_level']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

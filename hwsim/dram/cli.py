"""``hwrag dram run`` and ``hwrag dram sweep``. Wire in with ``add_dram_parser(subparsers)``.

Every figure printed is *modeled* (the DRAM model), labelled so.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path

import numpy as np

from ivfpq.errors import HwragError

from .presets import get_preset, load_preset_file, preset_names
from .simulator import (CONTROLLER_STRUCTURES, PAGE_POLICIES, REFRESH_MODES, SCHEDULERS, ControllerConfig,
                     DramSystem)

log = logging.getLogger(__name__)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--preset", default="HBM2", help="preset name, case-insensitive (see --list-presets)")
    p.add_argument("--preset-file", help="TOML/JSON file with user presets (looked up by --preset)")
    p.add_argument("--timing-rules", choices=("ramulator", "dramsim3"), default="ramulator",
                   help="whose rules derive the timing values a preset leaves out: ramulator (Ramulator 2.1 / "
                        "JEDEC) or dramsim3 (DRAMsim3 src/timing.cc: no rank-switch gap between writes, CS_WW=0)")
    p.add_argument("--mapping", help="address mapping, MSB first: RoBaRaCoCh, RoBgBaRaCoCh, rochrababgco, ...")
    p.add_argument("--channels", type=int, help="override the preset's channel count")
    p.add_argument("--page-policy", choices=PAGE_POLICIES, default="open")
    p.add_argument("--scheduler", choices=SCHEDULERS, default="frfcfs")
    p.add_argument("--refresh", choices=REFRESH_MODES, default="allbank")
    p.add_argument("--queue", type=int, default=32, help="read and write queue entries per channel")
    p.add_argument("--structure", choices=CONTROLLER_STRUCTURES, default="queues",
                   help="controller structure: queues (one read and one write queue per channel, FR-FCFS) "
                        "or dramsim3 (DRAMsim3's transaction queues feeding per-bank command queues)")
    p.add_argument("--command-queue", type=int, default=8,
                   help="dramsim3 structure: entries per bank command queue (DRAMsim3's cmd_queue_size)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")


def add_dram_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``dram run`` and ``dram sweep`` on an argparse subparsers object."""
    dram = subparsers.add_parser("dram", help="cycle-level DRAM model (HBM2/HBM3/DDR4/DDR5)",
                                 description="Cycle-level DRAM model; every figure is modeled.")
    sub = dram.add_subparsers(dest="dram_command", metavar="{run,sweep,presets}", required=True)
    run = sub.add_parser("run", help="simulate a trace file and print stats")
    _common(run)
    run.add_argument("--trace", required=True,
                     help="DRAMsim3 ('0x2000D5C0 READ 30') or Ramulator 2 ('LD 0x...'/'ST 0x...') trace")
    run.add_argument("--trace-format", choices=("auto", "dramsim3", "ramulator"), default="auto")
    run.set_defaults(func=cmd_run)
    sw = sub.add_parser("sweep", help="latency-bandwidth curve over injection rate (prints, writes PNG)")
    _common(sw)
    sw.add_argument("--pattern", choices=("random", "stream"), default="random")
    sw.add_argument("--requests", type=int, default=20000, help="requests per point")
    sw.add_argument("--points", type=int, default=12)
    sw.add_argument("--write-fraction", type=float, default=0.0)
    sw.add_argument("--seed", type=int, default=0)
    sw.add_argument("--out", default="out/dram", help="directory for the PNG and JSON")
    sw.set_defaults(func=cmd_sweep)
    ls = sub.add_parser("presets", help="list presets")
    ls.add_argument("--preset-file")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=cmd_presets)
    return dram


def _system(args) -> DramSystem:
    if getattr(args, "preset_file", None):
        load_preset_file(args.preset_file)
    spec = get_preset(args.preset)
    if args.channels:
        spec = spec.with_org(channels=args.channels)
    if args.timing_rules != spec.timing_rules:
        spec = spec.with_timing_rules(args.timing_rules)
    if args.queue < 1:
        raise HwragError("--queue must be at least 1")
    ctl = ControllerConfig(read_queue=args.queue, write_queue=args.queue, page_policy=args.page_policy,
                           scheduler=args.scheduler, refresh=args.refresh, structure=args.structure,
                           command_queue=args.command_queue)
    return DramSystem(spec, args.mapping, ctl)


def _latency_row(st: dict, how: str) -> str:
    lat = st.get(f"read_latency_{how}_cycles") or st.get(f"all_latency_{how}_cycles", {})
    return f"{lat.get('mean', 0):.1f} / {lat.get('p50', 0):.0f} / {lat.get('p99', 0):.0f}"


def _print_stats(st: dict) -> None:
    rows = [
        ("preset", st["preset"]), ("timing rules", st["timing_rules"]), ("mapping", st["mapping"]),
        ("controller structure", st["controller"]["structure"]),
        ("requests (reads/writes)", f"{st['requests']} ({st['reads']}/{st['writes']})"),
        ("cycles (modeled)", st["cycles"]), ("time ns (modeled)", f"{st['time_ns']:.1f}"),
        ("bandwidth GB/s (modeled)", f"{st['bandwidth_GBps']:.2f} of {st['peak_bandwidth_GBps']:.2f} peak"),
        ("read latency from arrival, cycles mean/p50/p99 (modeled)", _latency_row(st, "from_arrival")),
        ("read latency from queue entry, cycles mean/p50/p99 (modeled)", _latency_row(st, "from_queue_entry")),
        ("row hits/misses/conflicts", f"{st['row_hits']}/{st['row_misses']}/{st['row_conflicts']}"),
        ("commands", " ".join(f"{k}={v}" for k, v in st["commands"].items())),
        ("energy J (modeled)", f"{st['energy']['total_J']:.4g}"),
    ]
    w = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{w}}  {v}")


def cmd_run(args) -> int:
    s = _system(args)
    from .trace import read_trace
    a, w, arr = read_trace(args.trace, args.trace_format)
    if a.size == 0:
        raise HwragError(f"trace {args.trace!r} has no requests")
    st = s.run(a, w, arr).stats()
    st["trace"] = args.trace
    from .kernels import kernels

    st["kernels"] = kernels().origin  # which compiled code ran (ahead of time or numba's JIT)
    if args.json:
        print(json.dumps(st, indent=2))
    else:
        _print_stats(st)
    return 0


def sweep(system: DramSystem, pattern: str = "random", requests: int = 20000, points: int = 12,
          write_fraction: float = 0.0, seed: int = 0) -> list[dict]:
    """Latency vs bandwidth as the injection rate rises from 5 % of peak to saturation (modeled)."""
    spec = system.spec
    rng = np.random.default_rng(seed)
    if pattern == "random":
        addr = rng.integers(0, spec.capacity_bytes, requests).astype(np.uint64)
    else:
        addr = np.arange(requests, dtype=np.uint64) * np.uint64(spec.tx_bytes)
    w = rng.random(requests) < write_fraction
    peak_rate = spec.units / spec.timing["BL"]  # requests per cycle at peak
    out = []
    for frac in np.linspace(0.05, 1.2, points):
        gap = 1.0 / (peak_rate * frac)
        arr = np.floor(np.arange(requests) * gap).astype(np.int64)
        r = system.run(addr, w, arr)
        lat = r.latency
        out.append({"offered_fraction_of_peak": float(frac), "bandwidth_GBps": r.bandwidth_gbs,
                     "mean_latency_cycles": float(lat.mean()),
                     "p99_latency_cycles": float(np.percentile(lat, 99)),
                     "mean_latency_ns": float(lat.mean()) * spec.tck_ns, "figures": "modeled"})
    return out


def cmd_sweep(args) -> int:
    s = _system(args)
    if args.requests < 1 or args.points < 1:
        raise HwragError("--requests and --points must be at least 1")
    if not 0.0 <= args.write_fraction <= 1.0:
        raise HwragError("--write-fraction must be within [0, 1]")
    pts = sweep(s, args.pattern, args.requests, args.points, args.write_fraction, args.seed)
    outdir = Path(args.out)
    outdir.mkdir(parents=True, exist_ok=True)
    stem = f"dram_sweep_{s.spec.name}_{args.pattern}"
    png = outdir / f"{stem}.png"
    _plot(pts, s, args.pattern, png)
    doc = {"preset": s.spec.name, "mapping": s.mapping.text, "pattern": args.pattern,
           "peak_bandwidth_GBps": s.spec.peak_bandwidth_gbs, "figures": "modeled", "points": pts,
           "png": str(png)}
    js = outdir / f"{stem}.json"
    tmp = js.with_name(js.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=2))
    os.replace(tmp, js)
    if args.json:
        print(json.dumps(doc, indent=2))
    else:
        print(f"{s.spec.name} {args.pattern} (modeled; peak {s.spec.peak_bandwidth_gbs:.1f} GB/s)")
        print(f"{'offered':>8} {'GB/s':>9} {'mean lat ns':>12} {'p99 cycles':>11}")
        for p in pts:
            print(f"{p['offered_fraction_of_peak']:>8.2f} {p['bandwidth_GBps']:>9.2f} "
                  f"{p['mean_latency_ns']:>12.1f} {p['p99_latency_cycles']:>11.0f}")
        print(f"wrote {png} and {js}")
    return 0


def _plot(pts, system, pattern, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot([p["bandwidth_GBps"] for p in pts], [p["mean_latency_ns"] for p in pts], "o-", label="mean")
    ax.axvline(system.spec.peak_bandwidth_gbs, ls="--", color="grey", label="peak")
    ax.set_xlabel("bandwidth GB/s (modeled)")
    ax.set_ylabel("mean read latency ns (modeled)")
    ax.set_title(f"{system.spec.name} {pattern}, mapping {system.mapping.text}")
    ax.legend()
    fig.tight_layout()
    tmp = path.with_name(path.stem + ".tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, path)


def cmd_presets(args) -> int:
    if args.preset_file:
        load_preset_file(args.preset_file)
    names = preset_names()
    if args.json:
        print(json.dumps({n: get_preset(n).summary() for n in names}, indent=2))
    else:
        for n in names:
            s = get_preset(n)
            print(f"{n:<18} {s.standard:<5} {s.units:>3} units x {s.org['bus_width']:>3} bit  "
                  f"peak {s.peak_bandwidth_gbs:7.1f} GB/s (modeled)  {s.description}")
    return 0


def start_fast() -> None:
    """Start-up and exit of a ``hwrag dram`` process (about a third of the CPU of a ``hwrag dram run``
    on a 200k-request trace went to these). Called by ``hwrag.cli.main`` for the dram command,
    never on import: a test process or a library user is left as it is.

    * the kernels: the ahead-of-time ones when built (:mod:`.kernels`; no numba import at all),
      else numba's JIT, for which the next point applies.
    * numba's first compile or cache load imports ``numba.np.arraymath``, which probes for BLAS by
      importing ``scipy.linalg`` (about 0.1 s of CPU). The DRAM model does no linear algebra, so that
      module is imported here with scipy hidden: numba treats BLAS as absent *in this process*.
    * no cyclic garbage collection: numba's cache loading makes many container objects, and a short
      command gains nothing from the collector's passes over them or from the final one at exit
      (frozen at exit; about 0.15 s of CPU). Arrays are not tracked by it anyway.
    """
    import atexit
    import gc
    import sys

    gc.disable()
    atexit.register(gc.freeze)

    from .kernels import kernels

    if kernels().origin == "aot":  # the ahead-of-time kernels: this process never imports numba
        return
    if "numba.np.arraymath" in sys.modules or "scipy.linalg" in sys.modules:
        return
    import importlib.abc

    class _HideScipy(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "scipy" or name.startswith("scipy."):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    finder = _HideScipy()
    sys.meta_path.insert(0, finder)
    try:
        import numba.np.arraymath  # noqa: F401  (probes for BLAS once, now without scipy)
    finally:
        sys.meta_path.remove(finder)

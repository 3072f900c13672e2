"""DRAM model speed: requests simulated per second (measured, wall clock) on 1M-request random and
streaming traces for every preset, with the modeled cycles and bandwidth of each run.

Both wall clock and this process's CPU time (``time.process_time``, user + system) are measured: the
machine is shared, and CPU time is far less sensitive to other processes' load than wall time.

    python -m bench.dram_speed [--requests 1000000] [--presets HBM2_2Gbps DDR4_3200AA ...]
                               [--structures queues dramsim3] [--out report/bench]
    hwrag bench dram ...       (the same flags and defaults: :class:`DramSpeedConfig`)

Prints a table and writes JSON (``dram_speed.json``) and a PNG (``dram_speed.png``). The goal is >= 2 M requests/s on this machine
(2 cores, shared); numba compile time is excluded (one small warm-up run per preset first).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

DEFAULT_PRESETS = ["HBM2_2Gbps", "HBM2_8Gb_x128", "HBM3_6400", "DDR4_3200AA", "DDR4_8Gb_x8_3200",
                   "DDR5_4800AN"]
NOTE = ("requests_per_s and wall_s are measured (wall clock, numba compile excluded); cpu_s and "
        "requests_per_cpu_s are measured (this process's CPU time, time.process_time); cycles, bandwidth and hit "
        "rate are modeled")


def _kernels_origin() -> str:
    """Which compiled kernels ran: ahead of time (make install) or numba's JIT (hwsim.dram.kernels)."""
    from hwsim.dram.kernels import kernels

    return {"aot": "compiled ahead of time", "jit": "numba JIT"}[kernels().origin]


@dataclass
class DramSpeedConfig:
    """The DRAM-speed benchmark's one configuration, whichever front-end runs it (``hwrag bench dram`` or
    ``python -m bench.dram_speed``)."""
    presets: list[str] = field(default_factory=lambda: list(DEFAULT_PRESETS))
    requests: int = 1_000_000
    repeats: int = 1  # the best of this many runs per trace
    out: str = "report/bench"
    structures: list[str] = field(default_factory=lambda: ["queues"])  # controller structures timed


def traces(spec, n, seed=0):
    rng = np.random.default_rng(seed)
    rand = rng.integers(0, spec.capacity_bytes, n).astype(np.uint64)
    stream = np.arange(n, dtype=np.uint64) * np.uint64(spec.tx_bytes)
    return {"random": rand, "stream": stream}


def run(presets, n, repeats=1, structures=("queues",)):
    from hwsim.dram import ControllerConfig, DramSystem

    rows = []
    for name, structure in ((p, s) for p in presets for s in structures):
        sysm = DramSystem(name, controller=ControllerConfig(structure=structure))
        spec = sysm.spec
        for pattern, addr in traces(spec, n).items():
            w = np.zeros(n, dtype=bool)
            arr = np.zeros(n, dtype=np.int64)  # all at cycle 0: the controller takes them as fast as it can
            sysm.run(addr[:2000], w[:2000], arr[:2000])  # warm-up (compile / load cache)
            best = best_cpu = None
            for _ in range(repeats):
                c0 = time.process_time()
                t0 = time.perf_counter()
                res = sysm.run(addr, w, arr)
                dt = time.perf_counter() - t0
                dc = time.process_time() - c0
                best = dt if best is None else min(best, dt)
                best_cpu = dc if best_cpu is None else min(best_cpu, dc)
            rows.append({
                "preset": spec.name, "structure": structure, "pattern": pattern, "requests": n,
                "mapping": sysm.mapping.text,
                "wall_s_measured": best, "requests_per_s_measured": n / best,
                "cpu_s_measured": best_cpu, "requests_per_cpu_s_measured": n / max(best_cpu, 1e-9),
                "cycles_modeled": res.cycles, "bandwidth_GBps_modeled": res.bandwidth_gbs,
                "peak_GBps_modeled": spec.peak_bandwidth_gbs,
                "row_hit_rate_modeled": float((res.kind == 0).mean()),
            })
            logging.info("%s %s: %.2f M req/s (wall), %.2f M req/CPU-s", spec.name, pattern,
                         n / best / 1e6, n / max(best_cpu, 1e-9) / 1e6)
    return rows


def add_arguments(ap: argparse.ArgumentParser) -> None:
    d = DramSpeedConfig()
    ap.add_argument("--requests", type=int, default=d.requests, help="requests per trace")
    ap.add_argument("--presets", nargs="+", default=d.presets)
    ap.add_argument("--repeats", type=int, default=d.repeats, help="best of this many runs per trace")
    ap.add_argument("--out", default=d.out, help="directory for dram_speed.json and dram_speed.png")
    ap.add_argument("--structures", nargs="+", default=d.structures, choices=["queues", "dramsim3"],
                    help="controller structures to time (dramsim3: its front end takes one request per cycle)")
    ap.add_argument("--json", action="store_true", help="print the JSON instead of the table")


def table(rows: list[dict]) -> str:
    out = [f"{'preset':<18} {'struct':<8} {'pattern':<7} {'M req/s':>8} {'wall s':>7} {'M/CPU-s':>8} {'CPU s':>7} | "
           f"{'cycles':>10} {'GB/s':>8} {'peak':>7} {'hit%':>5}",
           f"{'':<18} {'':<8} {'':<7} {'measured':>33} | {'modeled':>34}"]
    for r in rows:
        out.append(f"{r['preset']:<18} {r['structure']:<8} {r['pattern']:<7} {r['requests_per_s_measured'] / 1e6:>8.2f} "
                   f"{r['wall_s_measured']:>7.2f} {r['requests_per_cpu_s_measured'] / 1e6:>8.2f} "
                   f"{r['cpu_s_measured']:>7.2f} | {r['cycles_modeled']:>10} {r['bandwidth_GBps_modeled']:>8.1f} "
                   f"{r['peak_GBps_modeled']:>7.1f} {100 * r['row_hit_rate_modeled']:>5.1f}")
    return "\n".join(out)


def write_report(doc: dict, out: Path) -> list[Path]:
    from .plots import bar_plot

    out.mkdir(parents=True, exist_ok=True)
    path = out / "dram_speed.json"
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=2))
    os.replace(tmp, path)
    rows = doc["rows"]
    name = (lambda r: f"{r['preset']} ({r['structure']})") if len({r["structure"] for r in rows}) > 1 else (
        lambda r: r["preset"])
    labels = list(dict.fromkeys(name(r) for r in rows))
    series = {p: [next(r["requests_per_s_measured"] / 1e6 for r in rows if name(r) == l and r["pattern"] == p)
                  for l in labels] for p in ("random", "stream")}
    png = bar_plot(labels, series, out / "dram_speed.png",
                   f"DRAM model speed, {doc['config']['requests']} requests per trace",
                   "M requests simulated per second (measured)", note="measured: wall clock on this machine")
    return [path, png]


def run_from_args(a) -> int:
    """Both front-ends: the config from the flags, the runs, the report, the table (or JSON)."""
    from hwsim.dram import get_preset

    cfg = DramSpeedConfig(list(a.presets), a.requests, a.repeats, a.out, list(a.structures))
    for p in cfg.presets:
        get_preset(p)  # an unknown preset fails before any work
    rows = run(cfg.presets, cfg.requests, cfg.repeats, tuple(cfg.structures))
    doc = {"benchmark": "dram_speed", "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                                                  "loadavg": list(os.getloadavg())},
           "note": NOTE, "kernels": _kernels_origin(), "goal_requests_per_s": 2e6, "config": asdict(cfg), "rows": rows}
    files = write_report(doc, Path(cfg.out))
    if a.json:
        json.dump({**doc, "files": [str(f) for f in files]}, sys.stdout, indent=1, default=float)
        print()
    else:
        print(table(rows))
        print(f"({NOTE}; DRAM kernels: {_kernels_origin()})")
        print("wrote", ", ".join(map(str, files)))
    return 0


def main(argv=None) -> int:
    from ivfpq.errors import CommandParser, run_command

    ap = CommandParser(prog="python -m bench.dram_speed", description=__doc__.split("\n")[0])
    add_arguments(ap)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    return run_command(lambda: run_from_args(args))


if __name__ == "__main__":
    raise SystemExit(main())

"""The DRAM model against DRAMsim3, side by side: ``hwrag bench dram --against DRAMSIM3_BINARY``.

For every (configuration, trace) pair both simulators run the same seeded trace file: hwsim through
the ``hwrag dram run`` command in a fresh process (``--structure dramsim3``, so start-up is
included), DRAMsim3 as the user's own build (``dramsim3main CONFIG.ini -t TRACE -c CYCLES``) with its
own configuration file. hwsim derives its timing values with DRAMsim3's own rules there
(``--timing-rules dramsim3``, :data:`hwsim.dram.timing.TIMING_RULES`: DRAMsim3 ``src/timing.cc`` puts no
rank-switch gap between writes to different ranks, ``write_to_write_o = burst_cycle``, where Ramulator
2.1, hwsim's default, does), so both run the same configuration; ``--hwsim-rules ramulator`` compares
hwsim's default instead. Printed side by side: completion cycles, ACT and REF counts, read latency
from queue entry (DRAMsim3's definition) and from arrival (hwsim only: DRAMsim3 does not report it),
and wall clock (also child CPU time: the machine may be shared).

DRAMsim3 runs for a cycle count given up front and reports totals only, so its completion cycle is
found from its epoch statistics: a first run, with a copy of the configuration whose only change is
``epoch_period``, finds the epoch in which the last request completed (the completion cycle is
reported as that epoch's last cycle, an upper bound at most ``epoch`` cycles late); the timed run
then uses the unchanged configuration and exactly that many cycles. DRAMsim3's trace reader may
take the last line twice (its end-of-file check comes after a failed read, which leaves the last
request in place): the copy is merged with the original and completes with it, so DRAMsim3 may
count one request more than the trace holds.

Traces (``requests`` each, one request offered per cycle, seeded): ``stream`` sequential reads,
``random`` uniform random reads, ``mixed`` 70/30 reads/writes where each address is, with
probability 0.5, the burst after the previous one, else uniform random, and ``ivfpq`` an IVF-PQ list
scan (PQ codes of 16 bytes laid out list after list, 1024 lists of lognormal sizes; each query reads
32 random lists front to back). All hwsim figures are *modeled*; wall and CPU times are *measured*.
"""
from __future__ import annotations

import configparser
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from ivfpq.errors import HwragError

#: hwsim presets configured from DRAMsim3's files, and those files
CONFIGS = {"HBM2_8Gb_x128": "HBM2_8Gb_x128.ini", "DDR4_8Gb_x8_3200": "DDR4_8Gb_x8_3200.ini"}
TRACES = ("stream", "random", "mixed", "ivfpq")
#: DRAMsim3 takes one extra read after the trace's last line (see the module docstring)


def make_trace(spec, kind: str, n: int, seed: int = 0):
    """A seeded trace of ``kind`` for ``spec``: (byte addresses uint64, is_write bool, arrival int64)."""
    rng = np.random.default_rng(seed)
    tx = spec.tx_bytes
    bursts = spec.capacity_bytes // tx
    w = np.zeros(n, dtype=bool)
    if kind == "stream":
        b = np.arange(n, dtype=np.int64)
    elif kind == "random":
        b = rng.integers(0, bursts, n)
    elif kind == "mixed":
        jump = rng.integers(0, bursts, n)
        nextline = rng.random(n) < 0.5
        b = np.empty(n, dtype=np.int64)
        prev = jump[0]
        for i in range(n):  # each address depends on the previous one
            prev = (prev + 1) % bursts if (i and nextline[i]) else jump[i]
            b[i] = prev
        w = rng.random(n) < 0.3
    elif kind == "ivfpq":
        b = _ivfpq_scan(rng, n, tx)
    else:
        raise HwragError(f"trace kind {kind!r} unknown; accepted: {', '.join(TRACES)}")
    return (b % bursts).astype(np.uint64) * np.uint64(tx), w, np.arange(n, dtype=np.int64)


def _ivfpq_scan(rng, n: int, tx: int, nlist: int = 1024, nprobe: int = 32, vectors: int = 1_000_000,
                code_bytes: int = 16) -> np.ndarray:
    """Burst indices of IVF-PQ list scans: queries of ``nprobe`` random lists read front to back."""
    sizes = rng.lognormal(0.0, 0.8, nlist)
    sizes = np.maximum(1, np.round(sizes / sizes.sum() * vectors)).astype(np.int64)
    start = np.concatenate([[0], np.cumsum(sizes * code_bytes)])
    out: list[np.ndarray] = []
    total = 0
    while total < n:
        for lst in rng.choice(nlist, nprobe, replace=False):
            first, last = start[lst] // tx, (start[lst + 1] - 1) // tx
            out.append(np.arange(first, last + 1, dtype=np.int64))
            total += out[-1].size
    return np.concatenate(out)[:n]


# ---- DRAMsim3's outputs ------------------------------------------------------------------------
def parse_final_stats(doc: dict) -> dict:
    """Totals over channels of DRAMsim3's final ``dramsim3.json`` (a dict of per-channel dicts)."""
    chans = list(doc.values())
    if not chans or not all(isinstance(c, dict) and "num_act_cmds" in c for c in chans):
        raise HwragError("DRAMsim3 stats: expected one dict per channel with num_act_cmds, num_reads_done, ...")
    tot = {k: sum(int(c[k]) for c in chans) for k in
           ("num_reads_done", "num_writes_done", "num_act_cmds", "num_pre_cmds", "num_ref_cmds",
            "num_refb_cmds", "num_read_cmds", "num_write_cmds")}
    reads = tot["num_reads_done"]
    tot["read_latency_from_queue_entry_mean"] = (
        sum(float(c["average_read_latency"]) * int(c["num_reads_done"]) for c in chans) / reads if reads else 0.0)
    tot["cycles_run"] = int(chans[0]["num_cycles"])
    return tot


def completion_epoch(epochs: list, requests: int) -> tuple[int, int]:
    """From DRAMsim3's ``dramsim3epoch.json`` (per-channel, per-epoch counts): (the first epoch
    number, 1-based, by whose end every request that completes in the run has completed, that
    count); epoch 0 if fewer than ``requests`` complete."""
    by_epoch: dict[int, int] = {}
    for e in epochs:
        by_epoch[int(e["epoch_num"])] = (by_epoch.get(int(e["epoch_num"]), 0) + int(e["num_reads_done"])
                                         + int(e["num_writes_done"]))
    total = sum(by_epoch.values())
    if total < requests:
        return 0, total
    done = 0
    for num in sorted(by_epoch):
        done += by_epoch[num]
        if done >= total:
            return num, total
    return 0, total


def _config_with_epoch(ini: Path, epoch: int, out: Path) -> None:
    cp = configparser.ConfigParser()
    cp.optionxform = str  # keep DRAMsim3's key case
    cp.read(ini)
    if not cp.has_section("other"):
        cp.add_section("other")
    cp.set("other", "epoch_period", str(epoch))
    cp.set("other", "output_level", "1")
    with out.open("w") as f:
        cp.write(f)


def _timed(cmd: list[str]) -> tuple[float, float, subprocess.CompletedProcess]:
    """Run ``cmd``; (wall s, child CPU s user + system, result), both measured."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime), res


def _dramsim3(binary: str, ini: Path, trace: Path, cycles: int, outdir: Path):
    outdir.mkdir(parents=True, exist_ok=True)
    wall, cpu, res = _timed([binary, str(ini), "-t", str(trace), "-c", str(cycles), "-o", str(outdir)])
    if res.returncode != 0:
        raise HwragError(f"DRAMsim3 ({binary}) failed with exit code {res.returncode}: "
                         f"{(res.stderr or res.stdout).strip().splitlines()[-1:]}")
    return wall, cpu


def dramsim3_completion(binary: str, ini: Path, trace: Path, requests: int, estimate: int, work: Path):
    """(completion cycle upper bound, epoch length) of DRAMsim3 on ``trace`` (see module docstring)."""
    epoch = max(50, math.ceil(estimate / 2000))
    cfg = work / f"epoch_{ini.name}"
    _config_with_epoch(ini, epoch, cfg)
    cycles = int(estimate * 1.25) + 20 * epoch
    for _ in range(4):
        _dramsim3(binary, cfg, trace, cycles, work / "epochs")
        epochs = json.loads((work / "epochs" / "dramsim3epoch.json").read_text())
        num, _ = completion_epoch(epochs, requests)
        if num:
            return num * epoch - 1, epoch
        cycles *= 2
    raise HwragError(f"DRAMsim3 did not complete {requests} requests of {trace} in {cycles} cycles")


def _hwrag_run(preset: str, trace: Path, structure: str, preset_file: "Path | None" = None,
               rules: str = "dramsim3"):
    """``hwrag dram run`` in a fresh process: (wall s, CPU s, its JSON stats)."""
    cmd = [sys.executable, "-m", "hwrag.cli", "dram", "run", "--preset", preset, "--trace", str(trace),
           "--structure", structure, "--timing-rules", rules, "--json"] + (
        ["--preset-file", str(preset_file)] if preset_file else [])
    wall, cpu, res = _timed(cmd)
    if res.returncode != 0:
        raise HwragError(f"hwrag dram run failed: {res.stderr.strip().splitlines()[-1:]}")
    return wall, cpu, json.loads(res.stdout)


def _pct(a: float, b: float) -> float:
    return 100.0 * (a - b) / b if b else float("nan")


def _timing_preset(preset: str, timing: dict, work: Path) -> tuple[str, Path]:
    """A user preset file: ``preset`` with the hwsim timing values in ``timing`` replaced."""
    name = preset + "".join(f"+{k}={v}" for k, v in sorted(timing.items()))
    path = work / "timing_preset.json"
    path.write_text(json.dumps({"name": name, "base": preset, "timing": timing}))
    return name, path


def compare_pair(binary: str, configs: Path, preset: str, kind: str, requests: int, seed: int, work: Path,
                 repeats: int = 1, timing: "dict | None" = None, rules: str = "dramsim3") -> dict:
    """One (configuration, trace) row of the table (see the module docstring); hwsim's derived
    timing values follow ``rules`` (DRAMsim3's by default) and ``timing`` replaces any of them."""
    from hwsim.dram import get_preset, write_trace

    spec = get_preset(preset)
    work.mkdir(parents=True, exist_ok=True)
    trace = work / f"{preset}_{kind}.trc"
    write_trace(trace, *make_trace(spec, kind, requests, seed))
    ini = configs / CONFIGS[preset]
    name, pfile = _timing_preset(preset, timing, work) if timing else (preset, None)
    walls_h, cpus_h, walls_d, cpus_d = [], [], [], []
    st = None
    for _ in range(repeats):
        wall, cpu, st = _hwrag_run(name, trace, "dramsim3", pfile, rules)
        walls_h.append(wall)
        cpus_h.append(cpu)
        if not walls_d:  # once: DRAMsim3's completion cycle, then its timed runs
            done, epoch = dramsim3_completion(binary, ini, trace, requests, st["cycles"], work)
        wall, cpu = _dramsim3(binary, ini, trace, done + 1, work / "final")
        walls_d.append(wall)
        cpus_d.append(cpu)
    d3 = parse_final_stats(json.loads((work / "final" / "dramsim3.json").read_text()))
    h_lat = st.get("read_latency_from_queue_entry_cycles", {}).get("mean", 0.0)
    h_arr = st.get("read_latency_from_arrival_cycles", {}).get("mean", 0.0)
    return {
        "config": preset, "hwsim_preset": name, "hwsim_timing_rules": st["timing_rules"],
        "hwsim_kernels": st.get("kernels", "?"), "trace": kind, "requests": requests,
        "cycles_hwsim": st["cycles"], "cycles_dramsim3": done, "dramsim3_epoch": epoch,
        "cycles_diff_pct": _pct(st["cycles"], done),
        "act_hwsim": st["commands"]["ACT"], "act_dramsim3": d3["num_act_cmds"],
        "act_diff_pct": _pct(st["commands"]["ACT"], d3["num_act_cmds"]),
        "ref_hwsim": st["commands"]["REF"] + st["commands"]["REFpb"],
        "ref_dramsim3": d3["num_ref_cmds"] + d3["num_refb_cmds"],
        "read_lat_entry_hwsim": h_lat, "read_lat_entry_dramsim3": d3["read_latency_from_queue_entry_mean"],
        "read_lat_arrival_hwsim": h_arr,
        "requests_done_dramsim3": d3["num_reads_done"] + d3["num_writes_done"],
        "wall_s_hwsim": min(walls_h), "wall_s_dramsim3": min(walls_d),
        "cpu_s_hwsim": min(cpus_h), "cpu_s_dramsim3": min(cpus_d),
        "speedup_wall": min(walls_d) / min(walls_h), "speedup_cpu": min(cpus_d) / min(cpus_h),
    }


def run_against(binary: str, configs: "str | None" = None, presets=tuple(CONFIGS), traces=TRACES,
                requests: int = 200_000, seed: int = 0, repeats: int = 1, progress: bool = True,
                timing: "dict | None" = None, rules: str = "dramsim3") -> dict:
    """Every (preset, trace) pair side by side; returns ``{"rows": [...], ...}`` with the load."""
    from hwsim.dram.timing import TIMING_RULES

    if rules not in TIMING_RULES:
        raise HwragError(f"hwsim timing rules {rules!r} unknown; accepted: {', '.join(TIMING_RULES)}")
    exe = Path(binary)
    if not (exe.is_file() and os.access(exe, os.X_OK)):
        raise HwragError(f"DRAMsim3 binary {binary!r} not found or not executable "
                         "(build DRAMsim3 with cmake and pass its dramsim3main)")
    cfg_dir = Path(configs) if configs else exe.resolve().parent.parent / "configs"
    bad = [p for p in presets if p not in CONFIGS]
    if bad:
        raise HwragError(f"no DRAMsim3 configuration for preset(s) {bad}; accepted: {', '.join(CONFIGS)}")
    for p in presets:
        if not (cfg_dir / CONFIGS[p]).is_file():
            raise HwragError(f"DRAMsim3 configuration {cfg_dir / CONFIGS[p]} not found; pass --dramsim3-configs DIR")
    for k in traces:
        if k not in TRACES:
            raise HwragError(f"trace kind {k!r} unknown; accepted: {', '.join(TRACES)}")
    from tqdm import tqdm

    load_before = os.getloadavg()
    rows = []
    with tempfile.TemporaryDirectory(prefix="hwrag_dramsim3_") as tmp:
        pairs = [(p, k) for p in presets for k in traces]
        for p, k in tqdm(pairs, desc="hwsim vs DRAMsim3", disable=not progress):
            rows.append(compare_pair(str(exe), cfg_dir, p, k, requests, seed, Path(tmp) / f"{p}_{k}", repeats,
                                     timing, rules))
    return {"rows": rows, "dramsim3": str(exe), "configs": str(cfg_dir), "load_avg_before": load_before,
            "load_avg_after": os.getloadavg(), "cpus": os.cpu_count(),
            "hwsim_timing_rules": rules,
            "note": f"hwsim configured like DRAMsim3: structure dramsim3, timing rules {rules} "
                    f"({TIMING_RULES[rules]})" + (f", timing {timing}" if timing else "") + "; hwsim kernels "
                    f"{'/'.join(sorted({r['hwsim_kernels'] for r in rows}))} (aot: compiled by make install; jit: "
                    "numba); "
                    "cycles, ACT/REF counts and latencies modeled (hwsim) or simulated "
                    "(DRAMsim3); wall_s and cpu_s measured (best of repeats, start-up included); DRAMsim3's "
                    "completion cycle is an upper bound at its epoch granularity (dramsim3_epoch)"}


#: columns of the printed table
COLUMNS = ["config", "trace", "cycles_hwsim", "cycles_dramsim3", "cycles_diff_pct", "act_hwsim", "act_dramsim3",
           "act_diff_pct", "ref_hwsim", "ref_dramsim3", "read_lat_entry_hwsim", "read_lat_entry_dramsim3",
           "read_lat_arrival_hwsim", "wall_s_hwsim", "wall_s_dramsim3", "speedup_wall", "speedup_cpu"]


def add_arguments(ap) -> None:
    """The cross-check's flags, beside ``bench.dram_speed``'s on ``hwrag bench dram`` (its --presets,
    --repeats, --out and --json serve both)."""
    ap.add_argument("--against", metavar="DRAMSIM3_BINARY",
                    help="your DRAMsim3 build (dramsim3main): run it and hwrag dram run on the same traces "
                         f"(presets default to DRAMsim3's own configurations: {' '.join(CONFIGS)})")
    ap.add_argument("--dramsim3-configs", metavar="DIR",
                    help="with --against: DRAMsim3's configs directory (default: ../configs next to the binary's)")
    ap.add_argument("--traces", nargs="+", default=list(TRACES), help="with --against: trace kinds")
    ap.add_argument("--against-requests", type=int, default=200_000, help="with --against: requests per trace")
    ap.add_argument("--seed", type=int, default=0, help="with --against: trace seed")
    ap.add_argument("--hwsim-rules", choices=("dramsim3", "ramulator"), default="dramsim3",
                    help="with --against: whose rules derive hwsim's timing values (default dramsim3: DRAMsim3's "
                         "own, src/timing.cc, so both run the same configuration; ramulator: hwsim's default)")
    ap.add_argument("--hwsim-timing", nargs="+", metavar="KEY=VALUE",
                    help="with --against: replace hwsim timing values of the presets (e.g. CS_WW=2)")


def run_from_args(a) -> int:
    """``hwrag bench dram --against BINARY``: the table (or JSON) and ``dram_vs_dramsim3.json``."""
    from .dram_speed import DramSpeedConfig
    from .table import format_table

    presets = tuple(a.presets) if list(a.presets) != DramSpeedConfig().presets else tuple(CONFIGS)
    timing = {}
    for item in a.hwsim_timing or []:
        key, _, val = item.partition("=")
        if not val.strip().lstrip("-").isdigit():
            raise HwragError(f"--hwsim-timing {item!r}: expected KEY=INTEGER, e.g. CS_WW=0")
        timing[key.strip()] = int(val)
    res = run_against(a.against, a.dramsim3_configs, presets, tuple(a.traces), a.against_requests, a.seed,
                      a.repeats, progress=not a.json, timing=timing or None, rules=a.hwsim_rules)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "dram_vs_dramsim3.json"
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(res, indent=1, default=float))
    tmp.replace(path)
    res["files"] = [str(path)]
    if a.json:
        json.dump(res, sys.stdout, indent=1, default=float)
        print()
        return 0
    la = res["load_avg_before"]
    print(f"bench dram --against {a.against} (load average {la[0]:.2f} {la[1]:.2f} {la[2]:.2f} on {res['cpus']} "
          "CPUs before the run)")
    print(format_table(res["rows"], COLUMNS))
    print(f"({res['note']})")
    print("wrote", path)
    return 0

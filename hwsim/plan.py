"""``hwrag plan``: which retrieval hardware meets a RALM workload's targets, as a Pareto frontier (modeled).

A :class:`RalmWorkload` names the LM (a shape of :data:`hwsim.ralm.MODELS`), the datastore (vectors, D, M,
nlist, nprobe, K), the retrieval interval and the batch of sequences, and its targets (retrieval latency per
batch, generated tokens/s). :func:`plan` evaluates a search space — every system of
:data:`hwsim.system.SYSTEM_TABLE` (where lists are selected and scanned) with 1, 2 or 4 memory nodes, and the CPU
systems with 8 or 16 cores — on the system model and the ChamLM step model (:mod:`hwsim.ralm`, steps then the
retrieval in series), counts chips as RAGO does (CPU sockets, GPUs, memory nodes), keeps the points no other beats
on both retrieval latency and tokens/s per chip (:func:`pareto`), and names the configuration with the fewest chips
that meets every target — or the target nothing meets and the best figure any point reached. Every figure is
*modeled*.
"""
from __future__ import annotations

import json
import math
import tomllib
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

from ivfpq.errors import HwragError

from . import ralm
from .system import SYSTEM_TABLE, SystemModel
from .workload import SearchSpec, make_pool

NODE_COUNTS = (1, 2, 4)
CPU_CORES = (8, 16)
CORES_PER_SOCKET = 16      # AMD EPYC 7313 (docs/REFERENCE.md § CPU)


@dataclass(frozen=True)
class Datastore:
    ntotal: int = 10 ** 9
    d: int = 512
    M: int = 32
    nlist: int = 32768
    nprobe: int = 32
    k: int = 100


@dataclass(frozen=True)
class Targets:
    retrieval_latency_s: float | None = None   # median latency of one batch's retrieval
    tokens_per_s: float | None = None           # generated tokens/s of the batch, at least


@dataclass(frozen=True)
class RalmWorkload:
    name: str
    lm: str = "dec-s"                  # a shape of hwsim.ralm.MODELS
    datastore: Datastore = field(default_factory=Datastore)
    interval: int = 1                  # tokens between retrievals
    batch: int = 64                    # sequences generated together (queries per retrieval)
    targets: Targets = field(default_factory=Targets)

    def __post_init__(self):
        if self.lm not in ralm.MODELS:
            raise HwragError(f"workload {self.name!r}: unknown lm {self.lm!r}; accepted: {', '.join(ralm.MODELS)}")
        if self.interval < 1 or self.batch < 2:
            raise HwragError(f"workload {self.name!r}: need interval >= 1 and batch >= 2")
        SearchSpec(d=self.datastore.d, M=self.datastore.M, ntotal=self.datastore.ntotal, nlist=self.datastore.nlist,
                   nprobe=self.datastore.nprobe, k=self.datastore.k)   # checks the shape


def _chamlm(name: str) -> RalmWorkload:
    m = ralm.MODELS[name]
    return RalmWorkload(name, name, Datastore(d=m.d_model, M=m.pq_m, k=m.k), 1 if m.k == 100 else 8)


#: Chameleon's four ChamLM models with their datastores (docs/REFERENCE.md § RALM configurations)
PRESETS = {n: _chamlm(n) for n in ralm.MODELS}


def load_workload(spec: str) -> RalmWorkload:
    """A preset name, or a TOML / JSON file: ``name``, ``lm``, ``interval``, ``batch``, ``[datastore]``,
    ``[targets]`` (unknown keys are errors naming the accepted ones)."""
    if spec in PRESETS:
        return PRESETS[spec]
    p = Path(spec)
    if not p.is_file():
        raise HwragError(f"workload {spec!r} is neither a preset ({', '.join(PRESETS)}) nor a file")
    try:
        raw = tomllib.loads(p.read_text()) if p.suffix.lower() == ".toml" else json.loads(p.read_text())
    except (tomllib.TOMLDecodeError, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise HwragError(f"workload file {p}: {e}") from e

    def build(cls, data, where):
        names = {f.name for f in fields(cls)}
        bad = sorted(set(data) - names)
        if bad:
            raise HwragError(f"workload file {p}: unknown key {bad[0]!r} in {where}; accepted: {', '.join(sorted(names))}")
        return cls(**data)

    top = dict(raw)
    top["datastore"] = build(Datastore, raw.get("datastore", {}), "[datastore]")
    top["targets"] = build(Targets, raw.get("targets", {}), "[targets]")
    top.setdefault("name", p.stem)
    try:
        return build(RalmWorkload, top, "the top level")
    except TypeError as e:
        raise HwragError(f"workload file {p}: {e}") from e


@dataclass(frozen=True)
class PlanPoint:
    """One configuration of the search space, modeled."""

    system: str
    nodes: int
    cpu_cores: int
    chips: int
    retrieval_latency_s: float
    tokens_per_s: float
    energy_per_query_J: float
    bound: str
    fits: bool
    meets: bool
    config: str

    @property
    def tokens_per_s_per_chip(self) -> float:
        return self.tokens_per_s / self.chips


def chips(system: str, nodes: int, cpu_cores: int) -> int:
    """Chips as RAGO counts them: the CPU sockets, the GPU that runs the LM (and selects lists in the *-GPU
    systems), and every memory node."""
    kind = SYSTEM_TABLE[system]
    sockets = math.ceil(cpu_cores / CORES_PER_SOCKET)
    return sockets + 1 + (nodes if kind.on_nodes else 0)


def space(systems=tuple(SYSTEM_TABLE)) -> list[tuple[str, int, int]]:
    """(system, nodes, cpu cores) of the search space: node systems over :data:`NODE_COUNTS` with 8 coordinator
    cores, CPU systems over :data:`CPU_CORES`."""
    out = []
    for s in systems:
        if SYSTEM_TABLE[s].on_nodes:
            out += [(s, n, CPU_CORES[0]) for n in NODE_COUNTS]
        else:
            out += [(s, 1, c) for c in CPU_CORES]
    return out


def evaluate(w: RalmWorkload, points, samples: int = 11) -> list[PlanPoint]:
    """Model every (system, nodes, cores) point for the workload (one system model per node / core count,
    sharing one query pool)."""
    ds, m = w.datastore, ralm.MODELS[w.lm]
    spec = SearchSpec(name=w.name, d=ds.d, M=ds.M, ntotal=ds.ntotal, nlist=ds.nlist, nprobe=ds.nprobe, k=ds.k)
    pool = make_pool(spec)
    step, enc = ralm.step_s(m, w.batch)["step_s"], ralm.encode_s(m, w.batch)
    by_hw: dict[tuple[int, int], list[str]] = {}
    for s, n, c in points:
        by_hw.setdefault((n, c), []).append(s)
    out = []
    for (n, c), systems in by_hw.items():
        sm = SystemModel(spec, nodes=n, cpu_cores=c, samples=samples, pool=pool)
        res = sm.model(tuple(systems), w.batch)
        relay = ralm.relay_s(sm, w.batch)
        for s in systems:
            f = res[s]
            tps = w.batch * w.interval / ralm.interval_period_s(w.interval, step, f.latency_s + relay, enc)
            t = w.targets
            meets = f.fits and (t.retrieval_latency_s is None or f.latency_s <= t.retrieval_latency_s) and \
                (t.tokens_per_s is None or tps >= t.tokens_per_s)
            out.append(PlanPoint(s, n, c, chips(s, n, c), f.latency_s, tps, f.energy_per_query_J, f.bound, f.fits,
                                 meets, f.config))
    return out


def pareto(points: list[PlanPoint]) -> list[PlanPoint]:
    """The points no other point beats on both retrieval latency (lower) and tokens/s per chip (higher), among
    those whose shard fits; sorted by latency."""
    pts = sorted((p for p in points if p.fits), key=lambda p: (p.retrieval_latency_s, -p.tokens_per_s_per_chip))
    front, best = [], -math.inf
    for p in pts:   # a sweep by latency: kept if it beats every faster point (ties with the last kept stay)
        tie = front and p.tokens_per_s_per_chip == best and p.retrieval_latency_s == front[-1].retrieval_latency_s
        if p.tokens_per_s_per_chip > best or tie:
            front.append(p)
            best = p.tokens_per_s_per_chip
    return front


def plan(w: RalmWorkload, systems=tuple(SYSTEM_TABLE), samples: int = 11) -> dict:
    """The frontier, every point, and the cheapest (fewest chips, then fastest) configuration that meets every
    target, or what no configuration meets."""
    pts = evaluate(w, space(systems), samples)
    ok = [p for p in pts if p.meets]
    choice = min(ok, key=lambda p: (p.chips, p.retrieval_latency_s)) if ok else None
    why = ""
    if choice is None:
        fit = [p for p in pts if p.fits]
        t = w.targets
        if not fit:
            why = "no configuration holds the datastore in its memory nodes"
        elif t.retrieval_latency_s is not None and min(p.retrieval_latency_s for p in fit) > t.retrieval_latency_s:
            why = (f"retrieval latency target {t.retrieval_latency_s * 1e3:g} ms: the best point reaches "
                   f"{min(p.retrieval_latency_s for p in fit) * 1e3:.3g} ms")
        else:
            why = (f"tokens/s target {t.tokens_per_s:g}: the best point reaches "
                   f"{max(p.tokens_per_s for p in fit):.4g} tokens/s")
    return {"figures": "modeled", "workload": asdict(w), "points": [_row(p) for p in pts],
            "frontier": [_row(p) for p in pareto(pts)], "choice": _row(choice) if choice else None,
            "unmet": why}


def _row(p: PlanPoint) -> dict:
    return {**asdict(p), "tokens_per_s_per_chip": p.tokens_per_s_per_chip}


def with_targets(w: RalmWorkload, latency_ms: float | None, tokens_per_s: float | None) -> RalmWorkload:
    t = replace(w.targets, **{k: v for k, v in (("retrieval_latency_s", None if latency_ms is None else latency_ms / 1e3),
                                                 ("tokens_per_s", tokens_per_s)) if v is not None})
    return replace(w, targets=t)

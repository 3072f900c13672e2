"""``hwrag plan``: the cheapest hardware that meets a RALM workload's targets, as Pareto frontiers (modeled).

A :class:`RalmWorkload` names the LM (a shape of :data:`LMS`: Chameleon's four ChamLM models and a SmolLM2-class
small model), the datastore (vectors, D, M, nlist, nprobe, K), the retrieval interval and the batch of
sequences, and its :class:`Targets` (time to first token, time per output token, retrieval latency per batch,
generated tokens/s; median or p95). The search space (:func:`space`) crosses

* where the scan runs (:data:`SCANS`: the CPU server, FPGA, HBM-PIM, DIMM-PIM or UPMEM memory nodes),
* where lists are selected (:data:`SELECTIONS`: the CPU or the GPU; the system model's node systems take either),
* how many: 8 or 16 CPU cores for a CPU scan; for memory nodes 1, 2 and 4 times the fewest nodes whose shard
  fits node memory (a CPU server holds at most 4 TB per socket),
* overlap of retrieval with inference (:data:`OVERLAPS`): ``serial`` (the batch steps, then retrieves, as
  Chameleon measured) or ``tiktok`` (two half-batch sub-batches: one retrieves while the GPU steps the other,
  :func:`hwsim.ralm.interval_period_s`).

Each configuration is modeled once on the system model (:class:`hwsim.system.SystemModel`, one per node / core
count, one shared query pool; the retrieval at the batch and at the half batch) and the ChamLM step model
(:mod:`hwsim.ralm`); :func:`derive` turns those figures into a workload's tokens/s, TTFT and TPOT, so a sweep
of intervals or targets models the hardware once. Chips are counted as RAGO does (CPU sockets, the LM's GPU,
memory nodes); power and list price come from :mod:`hwsim.plan_costs` (undefined where no figure is cited).
:func:`pareto` keeps, per objective (tokens/s per chip, per watt, per dollar), the points no other beats on
both retrieval latency and the objective. Every figure is *modeled*.
"""
from __future__ import annotations

import json
import math
import tomllib
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Callable, NamedTuple

from ivfpq.errors import HwragError

from . import plan_costs, ralm
from .nodes import MemoryNode, node_slice
from .system import SYSTEM_TABLE, SystemKind, SystemModel
from .workload import SearchSpec, make_pool

#: queries in the planner's pool: its figures are medians and P95s over ``samples`` (11) batches, which a pool
#: of 128 serves as well as the system model's 512 (kept for its 101-batch P95s) at a quarter of the cost
PLAN_POOL_QUERIES = 128

#: the LMs a workload may name: Chameleon's ChamLM shapes, and SmolLM2-135M (HuggingFaceTB/SmolLM2-135M
#: config.json: hidden 576, 30 layers, 135M parameters) modeled as a decoder of that shape on the same step
#: model (fp32 eager, full multi-head key/value cache: its grouped-query attention's 3x smaller cache and
#: SwiGLU feed-forward are not modeled)
LMS = {**ralm.MODELS, "smollm2-135m": ralm.LmModel("smollm2-135m", 576, 30, 135e6, k=100, pq_m=32)}
SCANS = ("cpu", "fpga", "pim-hbm", "pim-dimm", "upmem")
SELECTIONS = ("cpu", "gpu")
OVERLAPS = ("serial", "tiktok")
CPU_CORES = (8, 16)
NODE_STEPS = (1, 2, 4)        # multiples of the fewest memory nodes that hold the datastore
MAX_NODES = 512               # the most memory nodes tried for the fewest that fit (else one node, marked unfit)
COORDINATOR_CORES = 8         # the CPU coordinator of the node systems (Chameleon's setup)
PERCENTILES = ("median", "p95")


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
    """What a configuration must reach; ``None`` is no target. ``percentile`` says which figure is checked:
    the median or the p95 over the modeled retrieval batches (the LM step model is deterministic, so its
    p95 is its median; only the retrieval spreads)."""

    retrieval_latency_s: float | None = None   # one batch's retrieval
    tokens_per_s: float | None = None           # generated tokens/s of the batch, at least
    ttft_s: float | None = None                 # time to first token (prompt prefill not modeled)
    tpot_s: float | None = None                 # time per output token of one sequence
    percentile: str = "median"

    def __post_init__(self):
        if self.percentile not in PERCENTILES:
            raise HwragError(f"targets: unknown percentile {self.percentile!r}; accepted: {', '.join(PERCENTILES)}")
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name != "percentile" and v is not None and not (isinstance(v, (int, float)) and v > 0):
                raise HwragError(f"targets: {f.name} must be a positive number, got {v!r}")


@dataclass(frozen=True)
class RalmWorkload:
    name: str
    lm: str = "dec-s"                  # a shape of LMS
    datastore: Datastore = field(default_factory=Datastore)
    interval: int = 1                  # tokens between retrievals
    batch: int = 64                    # sequences generated together (queries per retrieval)
    targets: Targets = field(default_factory=Targets)

    def __post_init__(self):
        if self.lm not in LMS:
            raise HwragError(f"workload {self.name!r}: unknown lm {self.lm!r}; accepted: {', '.join(LMS)}")
        if self.interval < 1 or self.batch < 2:
            raise HwragError(f"workload {self.name!r}: need interval >= 1 and batch >= 2")
        self.spec()   # checks the shape

    def spec(self) -> SearchSpec:
        ds = self.datastore
        return SearchSpec(name=self.name, d=ds.d, M=ds.M, ntotal=ds.ntotal, nlist=ds.nlist, nprobe=ds.nprobe,
                          k=ds.k)


def _preset(name: str, interval: int | None = None) -> RalmWorkload:
    m = LMS[name]
    if interval is None:
        interval = 1 if (m.k == 100) else 8
    return RalmWorkload(name, name, Datastore(d=m.d_model, M=m.pq_m, k=m.k), interval)


#: Chameleon's four ChamLM models with their datastores (docs/REFERENCE.md § RALM configurations), and a
#: SmolLM2-135M kNN-LM-style workload (its hidden state, D 576, PQ32, retrieval every token, K 100)
PRESETS = {n: _preset(n) for n in LMS}


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
    if not isinstance(raw, dict):
        raise HwragError(f"workload file {p}: expected a table of keys at the top level")

    def build(cls, data, where):
        names = {f.name for f in fields(cls)}
        if not isinstance(data, dict):
            raise HwragError(f"workload file {p}: {where} must be a table; accepted keys: {', '.join(sorted(names))}")
        bad = sorted(set(data) - names)
        if bad:
            raise HwragError(f"workload file {p}: unknown key {bad[0]!r} in {where}; accepted: {', '.join(sorted(names))}")
        try:
            return cls(**data)
        except TypeError as e:
            raise HwragError(f"workload file {p}: {where}: {e}") from e

    top = dict(raw)
    top["datastore"] = build(Datastore, raw.get("datastore", {}), "[datastore]")
    top["targets"] = build(Targets, raw.get("targets", {}), "[targets]")
    top.setdefault("name", p.stem)
    return build(RalmWorkload, top, "the top level")


class Config(NamedTuple):
    """One point of the search space."""

    scan: str
    selection: str
    nodes: int
    cpu_cores: int
    overlap: str

    @property
    def system(self) -> str:
        return system_name(self.scan, self.selection)


def system_name(scan: str, selection: str) -> str:
    """The system model's name for a (scan, selection) pair; the PIM systems with CPU list selection, which
    the system table does not name, are ``<scan>-cpu``."""
    for k in SYSTEM_TABLE.values():
        if (k.scan, k.selection) == (scan, selection):
            return k.name
    return f"{scan}-{selection}"


#: every system of the space by name -> (scan, selection)
SYSTEMS = {system_name(s, sel): (s, sel) for s in SCANS for sel in SELECTIONS}


def chips(system: str, nodes: int, cpu_cores: int) -> int:
    """Chips as RAGO counts them: the CPU sockets, the GPU that runs the LM (and selects lists in the *-GPU
    systems), and every memory node."""
    scan, sel = SYSTEMS[system]
    return sum(plan_costs.components_of(scan, sel, nodes, cpu_cores).values())


def min_nodes(scan: str, w: RalmWorkload, pool=None, limit: int = 1024) -> int | None:
    """The fewest memory nodes (a power of two) whose shard fits one node's memory, or None up to ``limit``."""
    spec = w.spec()
    sizes = (pool or make_pool(spec, n=1)).list_sizes
    acc = MemoryNode(scan).accelerator(spec.d, spec.M)
    n = 1
    while n <= limit:
        try:
            acc.check_shard(spec.M, int(node_slice(sizes, n).sum()))
            return n
        except HwragError:
            n *= 2
    return None


def cpu_fits(w: RalmWorkload, cpu_cores: int) -> bool:
    """The codes and ids fit the CPU server's memory (:data:`hwsim.plan_costs.CPU_SOCKET_MEMORY_BYTES`)."""
    ds = w.datastore
    return ds.ntotal * (ds.M + plan_costs.ID_BYTES) <= plan_costs.sockets(cpu_cores) * plan_costs.CPU_SOCKET_MEMORY_BYTES


def space(w: RalmWorkload, systems=tuple(SYSTEMS), overlaps=OVERLAPS, pool=None) -> list[Config]:
    """The configurations of the search space (module doc) for the systems and overlap modes asked."""
    out = []
    for name in systems:
        scan, sel = SYSTEMS[name]
        if scan == "cpu":
            hw = [(1, c) for c in CPU_CORES]
        else:
            n0 = min_nodes(scan, w, pool, MAX_NODES)
            hw = [(n0 * k, COORDINATOR_CORES) for k in NODE_STEPS] if n0 else [(1, COORDINATOR_CORES)]
        out += [Config(scan, sel, n, c, o) for n, c in hw for o in overlaps]
    return out


@dataclass(frozen=True)
class Retrieval:
    """One configuration's retrieval of one batch, modeled on the system model."""

    latency_s: float
    latency_p95_s: float
    relay_s: float                 # ChamLM's local Python coordinator, both ways
    energy_per_query_J: float
    stage: str                     # the largest stage of the median batch
    fits: bool
    config: str


class _CachedFlows(SystemModel):
    """The system model with its per-batch node flows cached by (node kind, queries): a node's flow does not
    depend on where lists are selected or on the batch's other figures, so the planner's CPU- and GPU-selection
    variants, and every call's throughput batch, share one flow per batch of queries."""

    def __post_init__(self):
        super().__post_init__()
        self._flows: dict = {}

    def _flow(self, node, nt, idx, kind: str):
        key = (kind, idx.tobytes())
        if key not in self._flows:
            self._flows[key] = super()._flow(node, nt, idx, kind)
        return self._flows[key]


def model_space(w: RalmWorkload, configs: list[Config], samples: int = 11, pool=None, workers: int = 1) -> dict:
    """The retrieval of every configuration, keyed ``(scan, selection, nodes, cpu_cores, batch)``: one system
    model per (scan, nodes, cores), sharing one query pool; the batch for ``serial``, the half batch for
    ``tiktok``. With ``workers`` > 1 the system models run in that many forked processes (each is
    deterministic and independent of the others, so the figures are the same as with one)."""
    pool = pool or make_pool(w.spec(), n=PLAN_POOL_QUERIES)
    tasks: dict[tuple[str, int, int], set] = {}
    for c in configs:
        tasks.setdefault((c.scan, c.nodes, c.cpu_cores), set()).add((c.selection, _sub_batch(w, c.overlap)))
    args = [(w, key, sorted(todo), samples, pool) for key, todo in
            sorted(tasks.items(), key=lambda kv: (_COST_ORDER.get(kv[0][0], 9), -kv[0][1]))]
    if workers > 1 and len(args) > 1:
        import multiprocessing

        with multiprocessing.get_context("fork").Pool(min(workers, len(args))) as mp:
            parts = mp.starmap(_model_task, args, chunksize=1)
    else:
        parts = [_model_task(*a) for a in args]
    return {k: v for part in parts for k, v in part.items()}


#: the most expensive node kinds first, so that forked workers share the work evenly
_COST_ORDER = {"fpga": 0, "upmem": 1, "pim-dimm": 2, "pim-hbm": 3, "cpu": 4}


def _model_task(w: RalmWorkload, key: tuple[str, int, int], todo: list, samples: int, pool) -> dict:
    """One (scan, nodes, cores) on one system model: every (selection, batch) asked."""
    scan, n, cores = key
    out: dict = {}
    if not _holds(w, scan, n, cores, pool):   # not modeled: a shard that fits nowhere can be huge
        where = f"{n} node(s)" if scan != "cpu" else f"{plan_costs.sockets(cores)} socket(s)"
        for sel, b in todo:
            out[(scan, sel, n, cores, b)] = Retrieval(math.inf, math.inf, 0.0, 0.0, "-", False,
                                                      f"{system_name(scan, sel)}: the datastore does not fit {where}")
        return out
    sm = _CachedFlows(w.spec(), nodes=n, cpu_cores=cores, samples=samples, pool=pool)
    for sel, b in todo:
        kind = SystemKind(system_name(scan, sel), sel, scan)
        f = sm.node_system(kind, b) if kind.on_nodes else sm.cpu_system(kind, b)
        stage = max(f.stages_s, key=lambda s: f.stages_s[s] if s != "node_device_per_query" else -1)
        out[(scan, sel, n, cores, b)] = Retrieval(f.latency_s, f.latency_p95_s, ralm.relay_s(sm, b),
                                                  f.energy_per_query_J, stage, f.fits, f.config)
    return out


def _holds(w: RalmWorkload, scan: str, nodes: int, cpu_cores: int, pool) -> bool:
    """The datastore fits the CPU server (a CPU scan) or ``nodes`` memory nodes."""
    if scan == "cpu":
        return cpu_fits(w, cpu_cores)
    spec = w.spec()
    try:
        MemoryNode(scan).accelerator(spec.d, spec.M).check_shard(spec.M, int(node_slice(pool.list_sizes, nodes).sum()))
        return True
    except HwragError:
        return False


def _sub_batch(w: RalmWorkload, overlap: str) -> int:
    return w.batch // 2 if overlap == "tiktok" else w.batch


@dataclass(frozen=True)
class PlanPoint:
    """One configuration of the search space for one workload, modeled. Latency figures come as median and
    p95 (over the modeled retrieval batches); ``power_w`` and ``price_usd`` are None where a component has no
    cited figure (:mod:`hwsim.plan_costs`)."""

    system: str
    nodes: int
    cpu_cores: int
    overlap: str
    chips: int
    retrieval_latency_s: float
    retrieval_latency_p95_s: float
    ttft_s: float
    ttft_p95_s: float
    tpot_s: float
    tpot_p95_s: float
    tokens_per_s: float
    retrieval_energy_per_query_J: float
    power_w: float | None
    price_usd: float | None
    bottleneck: str
    fits: bool
    meets: bool
    config: str

    @property
    def tokens_per_s_per_chip(self) -> float:
        return self.tokens_per_s / self.chips

    @property
    def tokens_per_s_per_watt(self) -> float | None:
        return None if self.power_w is None else self.tokens_per_s / self.power_w

    @property
    def tokens_per_s_per_dollar(self) -> float | None:
        return None if self.price_usd is None else self.tokens_per_s / self.price_usd

    @property
    def energy_per_token_J(self) -> float | None:
        """The configuration's power over the tokens it generates per second."""
        return None if self.power_w is None or self.tokens_per_s <= 0 else self.power_w / self.tokens_per_s

    def at(self, what: str, percentile: str) -> float:
        """``retrieval_latency_s``, ``ttft_s`` or ``tpot_s`` at the median or p95."""
        return getattr(self, what if percentile == "median" else what.replace("_s", "_p95_s", 1))


def derive(w: RalmWorkload, configs: list[Config], retrievals: dict) -> list[PlanPoint]:
    """The workload's figures for every configuration from its modeled retrieval (:func:`model_space`): per
    retrieval interval the decoder steps and the retrieval (with the relay and, for encoder-decoders, the
    encoding), in series or as tik-tok sub-batches (:func:`hwsim.ralm.interval_period_s`)."""
    m, ds, t = LMS[w.lm], w.datastore, w.targets
    lm: dict[int, tuple[float, float]] = {}
    out = []
    for c in configs:
        b = _sub_batch(w, c.overlap)
        if b not in lm:
            lm[b] = (ralm.step_s(m, b)["step_s"], ralm.encode_s(m, b))
        step, enc = lm[b]
        r = retrievals[(c.scan, c.selection, c.nodes, c.cpu_cores, b)]
        counts = plan_costs.components_of(c.scan, c.selection, c.nodes, c.cpu_cores)
        if not r.fits and math.isinf(r.latency_s):
            out.append(PlanPoint(c.system, c.nodes, c.cpu_cores, c.overlap, sum(counts.values()), *[math.inf] * 6,
                                 0.0, 0.0, None, None, "does not fit", False, False, r.config))
            continue
        tik = c.overlap == "tiktok"
        periods = [ralm.interval_period_s(w.interval, step, lat + r.relay_s, enc, tik)
                   for lat in (r.latency_s, r.latency_p95_s)]
        first = [step + lat + r.relay_s + enc for lat in (r.latency_s, r.latency_p95_s)]
        ret_share = (r.latency_s + r.relay_s + enc) / periods[0]
        hidden = tik and w.interval * step >= r.latency_s + r.relay_s + enc
        bottleneck = ("LM steps (retrieval hidden behind the other sub-batch)" if hidden else
                      f"{'retrieval' if ret_share >= 0.5 else 'LM steps'} (retrieval {ret_share:.0%} of the "
                      f"period; its largest stage: {r.stage})")
        p = PlanPoint(c.system, c.nodes, c.cpu_cores, c.overlap, sum(counts.values()), r.latency_s,
                      r.latency_p95_s, first[0], first[1], periods[0] / w.interval, periods[1] / w.interval,
                      w.batch * w.interval / periods[0], r.energy_per_query_J,
                      plan_costs.power_w(c.scan, c.selection, c.nodes, c.cpu_cores, ds.d, ds.M),
                      plan_costs.price_usd(counts), bottleneck, r.fits, False,
                      f"{r.config}; LM {m.name} on {ralm.RTX_3090.name}, {c.overlap}"
                      f"{' (two sub-batches of ' + str(b) + ')' if tik else ''}")
        out.append(replace(p, meets=p.fits and not unmet_targets(p, t)))
    return out


def unmet_targets(p: PlanPoint, t: Targets) -> list[str]:
    """The names of the targets a point misses."""
    pct, out = t.percentile, []
    for name in ("retrieval_latency_s", "ttft_s", "tpot_s"):
        goal = getattr(t, name)
        if goal is not None and p.at(name, pct) > goal:
            out.append(name)
    if t.tokens_per_s is not None and _tokens(p, pct) < t.tokens_per_s:
        out.append("tokens_per_s")
    return out


def _tokens(p: PlanPoint, percentile: str) -> float:
    """tokens/s at the percentile: at p95, the batch's tokens over the p95 period."""
    return p.tokens_per_s * p.tpot_s / p.at("tpot_s", percentile)


def evaluate(w: RalmWorkload, systems=tuple(SYSTEMS), overlaps=OVERLAPS, samples: int = 11,
             workers: int = 1) -> list[PlanPoint]:
    """Model every configuration of the space for the workload (``workers``: :func:`model_space`)."""
    pool = make_pool(w.spec(), n=PLAN_POOL_QUERIES)
    configs = space(w, systems, overlaps, pool)
    return derive(w, configs, model_space(w, configs, samples, pool, workers))


#: the frontier objectives: higher is better, None (undefined) points are left out
OBJECTIVES = {"chip": "tokens_per_s_per_chip", "watt": "tokens_per_s_per_watt",
              "dollar": "tokens_per_s_per_dollar"}


def pareto(points: list[PlanPoint], objective: str = "chip", percentile: str = "median") -> list[PlanPoint]:
    """The points no other point beats on both retrieval latency (lower, at ``percentile``) and the objective
    (higher), among those whose shard fits and whose objective is defined; sorted by latency."""
    attr = OBJECTIVES[objective]

    def lat(p):
        return p.at("retrieval_latency_s", percentile)

    pts = sorted((p for p in points if p.fits and getattr(p, attr) is not None),
                 key=lambda p: (lat(p), -getattr(p, attr)))
    front, best = [], -math.inf
    for p in pts:   # a sweep by latency: kept if it beats every faster point (ties with the last kept stay)
        v = getattr(p, attr)
        tie = front and v == best and lat(p) == lat(front[-1])
        if v > best or tie:
            front.append(p)
            best = v
    return front


def cheapest(points: list[PlanPoint], percentile: str = "median") -> PlanPoint | None:
    """Of the points that meet every target: the fewest chips, then the lowest list price (unpriced last),
    then the most tokens/s (at ``percentile``), then the lowest retrieval latency."""
    ok = [p for p in points if p.meets]
    return min(ok, key=lambda p: (p.chips, math.inf if p.price_usd is None else p.price_usd, -_tokens(p, percentile),
                                  p.at("retrieval_latency_s", percentile))) if ok else None


def why_unmet(w: RalmWorkload, points: list[PlanPoint]) -> str:
    """Which target no configuration meets, and the best figure reached (or that none fits)."""
    fit, t = [p for p in points if p.fits], w.targets
    if not fit:
        return "no configuration holds the datastore in its memory (CPU server or memory nodes)"
    pct, parts = t.percentile, []
    for name, label, unit, scale in (("retrieval_latency_s", "retrieval latency", "ms", 1e3),
                                     ("ttft_s", "TTFT", "ms", 1e3), ("tpot_s", "TPOT", "ms", 1e3)):
        goal = getattr(t, name)
        best = min(p.at(name, pct) for p in fit)
        if goal is not None and best > goal:
            parts.append(f"{label} target {goal * scale:g} {unit} ({pct}): the best point reaches "
                         f"{best * scale:.4g} {unit}")
    if t.tokens_per_s is not None and max(_tokens(p, pct) for p in fit) < t.tokens_per_s:
        parts.append(f"tokens/s target {t.tokens_per_s:g} ({pct}): the best point reaches "
                     f"{max(_tokens(p, pct) for p in fit):.4g} tokens/s")
    return "; ".join(parts) or "each target is met by some configuration, but none meets them all together"


def plan(w: RalmWorkload, systems=tuple(SYSTEMS), overlaps=OVERLAPS, samples: int = 11,
         annotate: Callable[[dict, RalmWorkload], dict] | None = None, workers: int = 1) -> dict:
    """The frontiers per objective, every point, and the cheapest configuration that meets every target, or
    what no configuration meets. ``annotate`` adds to each row (``bench.plan_fidelity`` adds the fidelity
    report's error on the nearest validated configuration)."""
    pts = evaluate(w, systems, overlaps, samples, workers)
    pct = w.targets.percentile
    rows = {id(p): _row(p) for p in pts}
    if annotate is not None:
        for p in pts:
            rows[id(p)]["fidelity"] = annotate(rows[id(p)], w)
    choice = cheapest(pts, pct)
    fronts = {o: [rows[id(p)] for p in pareto(pts, o, pct)] for o in OBJECTIVES}
    return {"figures": "modeled", "workload": asdict(w), "points": [rows[id(p)] for p in pts],
            "frontiers": fronts, "frontier": fronts["chip"], "choice": rows[id(choice)] if choice else None,
            "unmet": "" if choice else why_unmet(w, pts), "cost_data": cost_data()}


def _row(p: PlanPoint) -> dict:
    """A point as plain data; an infinite figure (a configuration that does not hold the datastore) is None."""
    d = {k: (None if isinstance(v, float) and math.isinf(v) else v) for k, v in asdict(p).items()}
    return {**d, "tokens_per_s_per_chip": p.tokens_per_s_per_chip,
            "tokens_per_s_per_watt": p.tokens_per_s_per_watt, "tokens_per_s_per_dollar": p.tokens_per_s_per_dollar,
            "energy_per_token_J": p.energy_per_token_J}


def cost_data() -> dict:
    """The components' cost data with their sources (:mod:`hwsim.plan_costs`)."""
    return {k: asdict(c) for k, c in plan_costs.COMPONENTS.items()}


def with_targets(w: RalmWorkload, latency_ms: float | None = None, tokens_per_s: float | None = None,
                 ttft_ms: float | None = None, tpot_ms: float | None = None,
                 percentile: str | None = None) -> RalmWorkload:
    """The workload with the targets given (None keeps the workload's own)."""
    over = {"retrieval_latency_s": None if latency_ms is None else latency_ms / 1e3, "tokens_per_s": tokens_per_s,
            "ttft_s": None if ttft_ms is None else ttft_ms / 1e3, "tpot_s": None if tpot_ms is None else tpot_ms / 1e3,
            "percentile": percentile}
    return replace(w, targets=replace(w.targets, **{k: v for k, v in over.items() if v is not None}))

"""Coverage-directed constrained-random stimulus for the scan unit (cocotb-coverage ``Randomized``).

A :class:`QueryPlan` is one query's knobs: how many lists and codes (aimed at a queue-fill bin),
how the codes split over the lists, ties, the bias of one list, the gap mode of each port, the idle
cycles before ``start``, flush with or after the last beat, and the phase in which to reset. Its
constraints keep every plan legal for the configuration. :class:`DirectedStimulus` picks, before each
plan, one coverage bin still unhit in this process (:meth:`rtl.coverage.ScanCoverage.unhit`) that the
configuration can reach and randomizes the plan *with* the constraint that aims at it; a quarter of
the plans are unconstrained, so runs keep exploring. :func:`planned_query` turns a plan into data.

Reproducibility: the plan solver draws from Python's ``random`` and numpy's global generator (both
seeded here from the stimulus seed, and restored after) and the data from a numpy generator; all
derive from the run's ``--seed`` (and a per-test salt), which every report records.
"""
from __future__ import annotations

import random

import numpy as np
from cocotb_coverage.crv import Randomized

from .config import LUT_ENTRIES, ScanConfig
from .coverage import ROOT
from .stimulus import Query

FILLS = ("empty", "partial", "exactly_k", "evict", "unit_exact", "unit_evict")
SHAPES = ("random", "multiple_of_u", "with_one", "with_empty")
BIASES = ("random", "zero", "small", "large", "near_max", "max")
RESETS = (None, "lut_load", "scan", "drain", "readout")


class QueryPlan(Randomized):
    def __init__(self, cfg: ScanConfig):
        super().__init__()
        self.k, self.units, self.l1 = cfg.k, cfg.units, cfg.queue_len
        self.n_lists, self.fill, self.list_shape, self.ties, self.bias = 1, "partial", "random", False, "random"
        self.lut_gap = self.codes_gap = self.results_gap = "none"
        self.start_gap, self.flush_with_last, self.reset_at = 0, True, None
        for name, dom in (("n_lists", [0, 1, 2, 3]), ("fill", list(FILLS)), ("list_shape", list(SHAPES)),
                          ("ties", [False, True]), ("bias", list(BIASES)), ("lut_gap", ["none", "sporadic", "long"]),
                          ("codes_gap", ["none", "sporadic", "long"]), ("results_gap", ["none", "sporadic", "long"]),
                          ("start_gap", [0, 1, 5]), ("flush_with_last", [True, False]), ("reset_at", list(RESETS))):
            self.add_rand(name, dom)
        # legality (arguments in alphabetical order, as cocotb-coverage requires)
        self.add_constraint(lambda fill, n_lists, reset_at: _legal(fill, self.k, n_lists, reset_at))
        # distributions: most queries have lists, no reset, no idle before start
        self.add_constraint(lambda n_lists: 1 if n_lists == 0 else 4)
        self.add_constraint(lambda reset_at: 10 if reset_at is None else 1)
        self.add_constraint(lambda start_gap: 6 if start_gap == 0 else 1)

    def describe(self) -> dict:
        return {k: getattr(self, k) for k in ("n_lists", "fill", "list_shape", "ties", "bias", "lut_gap",
                                               "codes_gap", "results_gap", "start_gap", "flush_with_last",
                                               "reset_at")}


def _legal(fill, k, n_lists, reset_at) -> bool:
    if n_lists == 0 and fill != "empty":
        return False
    if fill == "partial" and k == 1:
        return False
    if reset_at == "lut_load" and n_lists == 0:
        return False
    return not (reset_at == "scan" and fill == "empty")


def _targets(point: str, b, cfg: ScanConfig) -> list | None:
    """Constraints that aim a plan at bin ``b`` of ``point``; None when this configuration cannot hit it."""
    p = point[len(ROOT) + 1:]
    kc = "k1" if cfg.k == 1 else "k_ge_100" if cfg.k >= 100 else "mid"
    if p in ("port.lut", "port.codes", "port.results"):
        return [{"port.lut": lambda lut_gap: lut_gap == b, "port.codes": lambda codes_gap: codes_gap == b,
                 "port.results": lambda results_gap: results_gap == b}[p]]
    if p == "port.codes_x_results":
        c, r = _tuple(b)
        return [lambda codes_gap: codes_gap == c, lambda results_gap: results_gap == r]
    if p in ("queue.fill", "queue.fill_x_k"):
        f = _tuple(b)[0] if p == "queue.fill_x_k" else b
        if p == "queue.fill_x_k" and _tuple(b)[1] != kc or (f == "partial" and cfg.k == 1):
            return None
        return [lambda fill: fill == f]
    if p == "queue.unit_fill":
        if b == "partial" and cfg.queue_len == 1:
            return None
        f = {"empty": "empty", "partial": "partial", "exactly_l": "unit_exact", "evict": "unit_evict"}[b]
        return [lambda fill: fill == f]
    if p == "ties":
        if b in ("same_unit", "across_units") and cfg.k == 1 or b == "across_units" and cfg.units == 1:
            return None  # a pair among the results needs K >= 2 (and two units to differ)
        want = {"none": ("evict",), "same_unit": ("exactly_k", "evict"), "across_units": ("exactly_k", "evict"),
                "at_k_boundary": ("evict", "unit_evict")}[b]
        return [lambda ties: ties == (b != "none"), lambda fill: fill in want]
    if p == "dist.saturation":
        if b == "none":
            return [lambda bias: bias in ("zero", "small"), lambda fill: fill != "empty"]
        if b == "some" and cfg.k == 1:
            return None  # one result is saturated or not
        if b == "some":  # one list, about half its sums saturate, all of them returned
            return [lambda bias: bias == "near_max", lambda n_lists: n_lists == 1,
                    lambda fill: fill == "exactly_k"]
        return [lambda bias: bias == "max", lambda n_lists: n_lists == 1, lambda fill: fill != "empty"]
    if p == "bias":
        return [lambda bias: bias == b, lambda n_lists: n_lists > 0]
    if p == "list.size":
        if b == "not_multiple" and cfg.units == 1:
            return None
        shape = {"empty": "with_empty", "one": "with_one", "multiple_of_u": "multiple_of_u",
                 "not_multiple": "random"}[b]
        return [lambda list_shape: list_shape == shape, lambda fill: fill not in ("empty",)]
    if p == "list.count":
        return [{"none": lambda n_lists: n_lists == 0, "one": lambda n_lists: n_lists == 1,
                 "several": lambda n_lists: n_lists >= 2}[b]]
    if p == "sequence.start":
        return {"after_reset": [lambda reset_at: reset_at is not None],
                "back_to_back": [lambda start_gap: start_gap == 0],
                "after_idle": [lambda start_gap: start_gap > 0]}[b]
    if p == "sequence.flush":
        return [lambda flush_with_last: flush_with_last == (b == "with_last_beat"), lambda fill: fill != "empty"]
    if p == "reset.phase":
        return [lambda reset_at: reset_at == b]
    return None  # config.* bins: set by the configuration, not by stimulus


def _tuple(b):
    if isinstance(b, tuple):
        return b
    return tuple(x.strip().strip("'\"") for x in str(b).strip("()").split(","))


class DirectedStimulus:
    """Plans aimed at the bins the coverage database has not seen yet (see module docstring)."""

    def __init__(self, cfg: ScanConfig, seed: int, explore: float = 0.25):
        self.cfg, self.explore = cfg, explore
        self.random = random.Random(seed)

    def next_plans(self, n: int, unhit: list[tuple[str, object]]) -> list[QueryPlan]:
        aims = [(p, b, c) for p, b in unhit if (c := _targets(p, b, self.cfg)) is not None]
        self.random.shuffle(aims)
        plans = []
        # crv draws from Python's and numpy's global generators: seed both from ours, restore after
        state, np_state = random.getstate(), np.random.get_state()
        random.seed(self.random.random())
        np.random.seed(self.random.randrange(2 ** 32))
        try:
            for j in range(n):
                plan = QueryPlan(self.cfg)
                if aims and self.random.random() >= self.explore:
                    point, b, cons = aims.pop()
                    plan.randomize_with(*cons)
                    plan.aim = f"{point}:{b}"
                else:
                    plan.randomize()
                    plan.aim = "explore"
                plans.append(plan)
        finally:
            random.setstate(state)
            np.random.set_state(np_state)
        return plans


def _split(total: int, n_lists: int, shape: str, units: int, rng: np.random.Generator) -> list[int]:
    """``total`` codes over ``n_lists`` lists in the plan's shape (best effort)."""
    if n_lists == 0:
        return []
    sizes = [0] * n_lists
    first = 0
    if shape == "with_one" and total >= 1:
        sizes[0], total, first = 1, total - 1, 1
    elif shape == "with_empty" and n_lists >= 2:
        first = 1
    rest = list(range(first, n_lists))
    if not rest:  # one list: it takes everything
        sizes[0] += total
        return sizes
    if shape == "multiple_of_u":
        beats, extra = divmod(total, units)
        cuts = np.sort(rng.integers(0, beats + 1, len(rest) - 1))
        parts = np.diff(np.concatenate([[0], cuts, [beats]])) * units
        parts[-1] += extra
    else:
        cuts = np.sort(rng.integers(0, total + 1, len(rest) - 1))
        parts = np.diff(np.concatenate([[0], cuts, [total]]))
    for i, v in zip(rest, parts):
        sizes[i] += int(v)
    return sizes


def _bias(mode: str, dist_max: int, rng: np.random.Generator, sum_max: int = 0) -> int:
    """A list bias of the plan's kind; ``near_max`` saturates about half of sums in [0, sum_max]."""
    if mode == "near_max":
        return dist_max - int(rng.integers(0, sum_max // 2 + 1))
    if mode == "zero":
        return 0
    if mode == "small":
        return int(rng.integers(1, 256))
    if mode == "large":
        return int(rng.integers((dist_max + 1) // 2, dist_max))
    if mode == "max":
        return dist_max
    return int(rng.integers(0, 16))


def planned_query(cfg: ScanConfig, plan: QueryPlan, rng: np.random.Generator) -> Query:
    """The data of one query as its plan asks (codes, ids, LUTs, biases)."""
    K, U, L = cfg.k, cfg.units, cfg.queue_len
    total = {"empty": 0, "partial": int(rng.integers(1, max(2, K))), "exactly_k": K,
             "evict": K + int(rng.integers(1, 2 * K + U + 1)), "unit_exact": U * L,
             "unit_evict": U * L + int(rng.integers(1, U * L + U + 1))}[plan.fill]
    sizes = _split(total, plan.n_lists, plan.list_shape, U, rng)
    N = sum(sizes)
    ends = np.cumsum(np.asarray(sizes, np.int64)) if sizes else np.zeros(0, np.int64)
    starts = ends - np.asarray(sizes, np.int64) if sizes else np.zeros(0, np.int64)
    codes = rng.integers(0, 256, (N, cfg.m), dtype=np.uint8)
    id_space = 2 ** min(cfg.id_bits, 63) - 1  # ivfpq ids are non-negative int64: bit 63 never set
    ids = np.asarray(rng.choice(id_space, size=N, replace=False) if N else np.zeros(0), np.int64)
    hi = 3 if plan.ties else cfg.fmt.lut_max + 1
    luts = rng.integers(0, hi, (len(sizes), cfg.m, LUT_ENTRIES)).astype(np.int32)
    biases = np.asarray([_bias("random", cfg.fmt.dist_max, rng) for _ in sizes], np.int64)
    if sizes:
        biases[int(rng.integers(0, len(sizes)))] = _bias(plan.bias, cfg.fmt.dist_max, rng, (hi - 1) * cfg.m)
    return Query(luts, biases, codes, ids, starts, ends)

"""Functional coverage of the scan unit (cocotb-coverage): coverpoints, crosses, merge and report.

Every completed query is sampled once (:meth:`ScanCoverage.sample_query`) from what the host drove
and observed (:class:`rtl.host.QueryRecord`) and from the golden model's view of the query; every
reset is sampled with the phase it hit (:meth:`ScanCoverage.sample_reset`). The bins are the same
for every configuration, so runs of different configurations and simulators merge into one
database (:func:`merge_files`); a bin a configuration cannot reach (K = 1 has no "partial" fill)
is reached by another one of the matrix. Bins that no configuration can reach are not in the model;
docs/VERIFICATION.md lists them with the reason.

Coverpoints (``scan.<group>.<point>``):

- ``config.k`` (``k1`` / ``mid`` / ``k_ge_100``), ``config.units`` (``u1`` / ``multi``),
  ``config.queue`` (``exact`` l1 = K / ``approx`` l1 < K): sampled with every query.
- ``port.lut`` / ``port.codes`` / ``port.results``: the longest idle run at that port in the query
  (``none`` 0, ``sporadic`` 1..7, ``long`` >= 8 cycles); cross ``port.codes_x_results``.
- ``queue.fill``: candidates n vs K (``empty``, ``partial``, ``exactly_k``, ``evict`` n > K);
  ``queue.unit_fill``: per distance unit, its candidates vs its level-1 length L; cross
  ``queue.fill_x_k`` with ``config.k`` (``partial`` x ``k1`` ignored: no integer 0 < n < 1).
- ``ties``: equal distances (golden): ``none`` in the results, ``same_unit`` pair, ``across_units``
  pair in the results, ``at_k_boundary`` (the K-th and (K+1)-th candidates tie).
- ``dist.saturation``: returned hits at the distance maximum: ``none`` / ``some`` / ``all``.
- ``bias``: each list's bias: ``zero``, ``small`` (< max/2), ``large`` (>= max/2), ``max``.
- ``list.size`` (``empty``, ``one``, ``multiple_of_u``, ``not_multiple``) and ``list.count``
  (``none``, ``one``, ``several``).
- ``reset.phase``: ``lut_load``, ``scan``, ``drain`` (flushed, no result yet), ``readout``.
- ``sequence.start``: ``after_reset``, ``back_to_back`` (start the cycle after done),
  ``after_idle``; ``sequence.flush``: ``with_last_beat`` / ``after_last_beat``.
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np

from .config import ScanConfig

log = logging.getLogger(__name__)

GAP_BINS = ("none", "sporadic", "long")
LONG_GAP = 8
FILL_BINS = ("empty", "partial", "exactly_k", "evict")
UNIT_FILL_BINS = ("empty", "partial", "exactly_l", "evict")
K_BINS = ("k1", "mid", "k_ge_100")
TIE_BINS = ("none", "same_unit", "across_units", "at_k_boundary")
SAT_BINS = ("none", "some", "all")
BIAS_BINS = ("zero", "small", "large", "max")
LIST_SIZE_BINS = ("empty", "one", "multiple_of_u", "not_multiple")
LIST_COUNT_BINS = ("none", "one", "several")
RESET_BINS = ("lut_load", "scan", "drain", "readout")
START_BINS = ("after_reset", "back_to_back", "after_idle")
FLUSH_BINS = ("with_last_beat", "after_last_beat")
ROOT = "scan"


def gap_class(run: int) -> str:
    return "none" if run == 0 else "long" if run >= LONG_GAP else "sporadic"


def fill_class(n: int, cap: int, exact: str) -> str:
    return "empty" if n == 0 else "partial" if n < cap else exact if n == cap else "evict"


def k_class(k: int) -> str:
    return "k1" if k == 1 else "k_ge_100" if k >= 100 else "mid"


def bias_class(b: int, dist_max: int) -> str:
    return "zero" if b == 0 else "max" if b >= dist_max else "large" if 2 * b >= dist_max else "small"


def list_size_class(n: int, units: int) -> str:
    return "empty" if n == 0 else "one" if n == 1 else "multiple_of_u" if n % units == 0 else "not_multiple"


def tie_labels(cfg: ScanConfig, query) -> set[str]:
    """Equal distances among the golden top-K (and across the K boundary), by unit (lane)."""
    from ivfpq.kselect import fixed_distances, segment_lanes

    d = fixed_distances(query.codes, query.starts, query.ends, query.luts, query.biases, cfg.fmt.dist_max)
    if d.size == 0:
        return {"none"}
    ids = np.concatenate([query.ids[a:b] for a, b in zip(query.starts, query.ends)])
    lanes = segment_lanes(query.starts, query.ends, cfg.units)
    order = np.lexsort((ids, d))
    top = order[:cfg.k]
    labels = set()
    td, tl = d[top], lanes[top]
    for v in np.unique(td):
        sel = tl[td == v]
        if sel.size > 1:
            labels.add("across_units" if np.unique(sel).size > 1 else "same_unit")
    if d.size > cfg.k and d[order[cfg.k - 1]] == d[order[cfg.k]]:
        labels.add("at_k_boundary")
    return labels or {"none"}


def query_features(cfg: ScanConfig, query, rec) -> dict:
    """Everything the query coverpoints sample, from the query and its record."""
    sizes = (np.asarray(query.ends) - np.asarray(query.starts)).astype(int).tolist()
    per_unit = [0] * cfg.units
    for n in sizes:
        for u in range(cfg.units):
            per_unit[u] += len(range(u, n, cfg.units))
    hits = [d for d in rec.dists if d >= 0]
    sat = sum(d == cfg.fmt.dist_max for d in hits)
    return {
        "k": k_class(cfg.k), "units": "u1" if cfg.units == 1 else "multi",
        "queue": "exact" if cfg.queue_len == cfg.k else "approx",
        "lut": gap_class(rec.max_gap["lut"]), "codes": gap_class(rec.max_gap["codes"]),
        "results": gap_class(rec.max_gap["results"]),
        "fill": fill_class(sum(sizes), cfg.k, "exactly_k"),
        "unit_fill": {fill_class(n, cfg.queue_len, "exactly_l") for n in per_unit},
        "ties": tie_labels(cfg, query),
        "saturation": "none" if sat == 0 else "all" if sat == len(hits) else "some",
        "bias": {bias_class(int(b), cfg.fmt.dist_max) for b in query.biases},
        "list_size": {list_size_class(n, cfg.units) for n in sizes},
        "list_count": "none" if not sizes else "one" if len(sizes) == 1 else "several",
        "start": "after_reset" if rec.after_reset else "after_idle" if rec.start_gap else "back_to_back",
        "flush": "with_last_beat" if rec.flush_with_last else "after_last_beat",
    }


def _member(labels, b) -> bool:
    return b in labels


_SAMPLERS: dict = {}


def _define():
    """Creates the coverpoints once per process (cocotb-coverage keeps them in a global database)."""
    if _SAMPLERS:
        return _SAMPLERS
    from cocotb_coverage.coverage import CoverCross, CoverPoint

    def one(name, key, bins):
        return CoverPoint(f"{ROOT}.{name}", xf=lambda f, key=key: f[key], bins=list(bins))

    def many(name, key, bins):
        return CoverPoint(f"{ROOT}.{name}", xf=lambda f, key=key: f[key], rel=_member, bins=list(bins), inj=False)

    @one("config.k", "k", K_BINS)
    @one("config.units", "units", ("u1", "multi"))
    @one("config.queue", "queue", ("exact", "approx"))
    @one("port.lut", "lut", GAP_BINS)
    @one("port.codes", "codes", GAP_BINS)
    @one("port.results", "results", GAP_BINS)
    @one("queue.fill", "fill", FILL_BINS)
    @many("queue.unit_fill", "unit_fill", UNIT_FILL_BINS)
    @many("ties", "ties", TIE_BINS)
    @one("dist.saturation", "saturation", SAT_BINS)
    @many("bias", "bias", BIAS_BINS)
    @many("list.size", "list_size", LIST_SIZE_BINS)
    @one("list.count", "list_count", LIST_COUNT_BINS)
    @one("sequence.start", "start", START_BINS)
    @one("sequence.flush", "flush", FLUSH_BINS)
    @CoverCross(f"{ROOT}.port.codes_x_results", items=[f"{ROOT}.port.codes", f"{ROOT}.port.results"])
    @CoverCross(f"{ROOT}.queue.fill_x_k", items=[f"{ROOT}.queue.fill", f"{ROOT}.config.k"],
                ign_bins=[("partial", "k1")])
    def sample_query(f):
        pass

    @CoverPoint(f"{ROOT}.reset.phase", xf=lambda phase: phase, bins=list(RESET_BINS))
    def sample_reset(phase):
        pass

    _SAMPLERS.update(query=sample_query, reset=sample_reset)
    return _SAMPLERS


def _bin_names(f: dict) -> list[str]:
    """``point=bin`` labels of a feature dict (what one query hit), for failure attribution."""
    out = []
    for key, val in f.items():
        for v in sorted(val) if isinstance(val, set) else [val]:
            out.append(f"{key}={v}")
    return out


class ScanCoverage:
    """Samples the scan unit's coverpoints; ``export(path)`` writes the database as YAML."""

    def __init__(self, cfg: ScanConfig):
        self.cfg = cfg
        self.samplers = _define()

    def sample_query(self, query, rec) -> list[str]:
        f = query_features(self.cfg, query, rec)
        self.samplers["query"](f)
        return _bin_names(f)

    def sample_reset(self, phase: str) -> None:
        if phase in RESET_BINS:
            self.samplers["reset"](phase)

    @staticmethod
    def export(path: str | os.PathLike) -> None:
        from cocotb_coverage.coverage import coverage_db

        coverage_db.export_to_yaml(str(path))

    @staticmethod
    def unhit() -> list[tuple[str, str]]:
        """(coverpoint, bin) pairs not hit yet in this process (drives the directed stimulus)."""
        from cocotb_coverage.coverage import CoverCross, CoverPoint, coverage_db

        out = []
        for name, item in coverage_db.items():
            if isinstance(item, (CoverPoint, CoverCross)):
                out += [(name, b) for b, n in item.detailed_coverage.items() if n < 1]
        return out


def merge_files(files: list[str | os.PathLike], out: str | os.PathLike) -> dict:
    """Merges coverage YAML files (cocotb-coverage's merge) into ``out``; returns the merged dict."""
    import yaml
    from cocotb_coverage.coverage import merge_coverage

    files = [str(f) for f in files if Path(f).exists()]
    if not files:
        raise FileNotFoundError("no coverage files to merge")
    merge_coverage(lambda *a: None, str(out), *files)
    return yaml.safe_load(Path(out).read_text())


def summarize(db: dict) -> dict:
    """Per coverpoint and cross: bins hit, bins, percent, unhit bins; and the total over all bins."""
    points = {}
    for name, e in sorted(db.items()):
        if "bins:_hits" not in e:
            continue
        hits = e["bins:_hits"]
        hit = sum(1 for v in hits.values() if v >= e.get("at_least", 1))
        points[name] = {"hit": hit, "bins": len(hits), "percent": round(100.0 * hit / len(hits), 1),
                        "unhit": [str(b) for b, v in hits.items() if v < e.get("at_least", 1)]}
    total_hit = sum(p["hit"] for p in points.values())
    total = sum(p["bins"] for p in points.values())
    return {"points": points, "hit": total_hit, "bins": total,
            "percent": round(100.0 * total_hit / total, 1) if total else 0.0}


def format_summary(summary: dict) -> str:
    rows = [("coverpoint", "bins hit", "%", "unhit bins")]
    for name, p in summary["points"].items():
        rows.append((name, f"{p['hit']}/{p['bins']}", f"{p['percent']:.1f}", ", ".join(p["unhit"]) or "-"))
    rows.append(("TOTAL", f"{summary['hit']}/{summary['bins']}", f"{summary['percent']:.1f}", ""))
    w = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = [f"{r[0]:<{w[0]}}  {r[1]:>{w[1]}}  {r[2]:>{w[2]}}  {r[3]}".rstrip() for r in rows]
    lines.insert(1, "-" * (sum(w) + 4 + 12))
    return "\n".join(lines)


def exposing_bins(bins_per_query: list[list[str]], failed: set[int]) -> list[dict]:
    """Bins hit by every failing query, ranked by the share of their queries that failed: the bin at the
    top is the stimulus condition the bug needs (a bin every query hits, like the configuration, ranks low)."""
    if not failed:
        return []
    fail_sets = [set(bins_per_query[i]) for i in sorted(failed) if i < len(bins_per_query)]
    common = set.intersection(*fail_sets) if fail_sets else set()
    passing = [set(b) for i, b in enumerate(bins_per_query) if i not in failed]
    rows = []
    for b in common:
        p = sum(b in s for s in passing)
        rows.append({"bin": b, "failing_queries": len(fail_sets), "passing_queries": p,
                     "failed_share": round(len(fail_sets) / (len(fail_sets) + p), 3)})
    return sorted(rows, key=lambda r: (-r["failed_share"], r["bin"]))


def write_json(path: str | os.PathLike, obj) -> None:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_suffix(p.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=1, default=str))
    os.replace(tmp, p)

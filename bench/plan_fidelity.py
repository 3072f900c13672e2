"""Beside each ``hwrag plan`` point: the fidelity report's error on the nearest validated configuration.

The planner's figures are modeled; how far the model is from a measurement is known only where Chameleon
measured (``bench.fidelity``: vector search on SIFT and Deep at batches 1-64, ChamLM Dec-S and EncDec-S). For
each point this module names the nearest configuration the fidelity report compares — the same system as run
(:data:`hwsim.measured.AS_RUN`; CPU-GPU's measured column was a CPU-only run, FPGA-CPU's ChamLM rows do not
exist so FPGA-GPU's stand in), the dataset nearest in D, the batch nearest in log scale, the ChamLM model of
the same kind (decoder-only or encoder-decoder) — and computes its error exactly as the report does: the model
run again on that configuration (:class:`hwsim.system.SystemModel` with the report's defaults,
:func:`hwsim.ralm.tokens_per_s`) against the measured figure of :mod:`hwsim.measured`, as :mod:`bench.fidelity`
compares it. Nothing is copied from a previous report. The PIM systems have no measured configuration: their
rows say so.
"""
from __future__ import annotations

import math
from functools import lru_cache

from . import fidelity as F

#: the planner's system -> the fidelity report's measured column for retrieval latency, and for ChamLM
LATENCY_COLUMN = {"cpu": "cpu", "cpu-gpu": "cpu-gpu", "fpga-cpu": "fpga-cpu", "fpga-gpu": "fpga-gpu"}
CHAMLM_COLUMN = {"cpu": "cpu-gpu", "cpu-gpu": "cpu-gpu", "fpga-cpu": "fpga-gpu", "fpga-gpu": "fpga-gpu"}
DATASET_D = {"sift": 128, "deep": 96}
BATCHES = (1, 4, 16, 64)


@lru_cache(maxsize=8)
def _latency_rows(ds: str, b: int) -> dict:
    """The report's latency rows for one dataset and batch, modeled again (all four systems, as the report
    models them: one SystemModel per dataset at its defaults)."""
    from hwsim.system import SystemModel, system_spec

    r = SystemModel(system_spec(ds)).model(tuple(set(F.AS_RUN.values())), b)
    return {s: F._row("latency", ds, s, b, r[F.AS_RUN[s]].latency_s * 1e3, F.LATENCY_MS[ds][b][i], "ms",
                      F.AS_RUN_NOTE.get(s, "")) for i, s in enumerate(F.SYSTEMS)}


@lru_cache(maxsize=4)
def _chamlm_rows(key: tuple) -> dict:
    from hwsim.ralm import tokens_per_s

    m, interval, batch = key
    t = tokens_per_s(m, interval, batch, ("cpu", "fpga"))["tokens_per_s"]
    return {s: F._row("chamlm", f"{m} interval {interval}", s, batch, float(t[s]), v, "tokens/s",
                      "use_tiktok: 0, as measured") for s, v in zip(("cpu-gpu", "fpga-gpu"), F.CHAMLM[key])}


def nearest_batch(b: int) -> int:
    return min(BATCHES, key=lambda x: (abs(math.log2(x) - math.log2(b)), -x))


def nearest_dataset(d: int) -> str:
    return min(DATASET_D, key=lambda k: abs(math.log(d / DATASET_D[k])))


def _brief(row: dict, what: str) -> dict:
    return {"validated_configuration": what, "measured": row["measured"], "modeled": row["modeled"],
            "unit": row["unit"], "error_pct": row["error_pct"], "role": row["role"], "note": row["note"]}


def annotate(point: dict, workload) -> dict:
    """The errors on the nearest validated configurations of one planner row (``hwsim.plan`` rows)."""
    from hwsim.plan import LMS

    s = point["system"]
    if s not in LATENCY_COLUMN:
        return {"none": f"{s}: no measured configuration of a PIM system in the fidelity report; its figures "
                        "are unvalidated"}
    b = workload.batch // 2 if point["overlap"] == "tiktok" else workload.batch
    ds, vb = nearest_dataset(workload.datastore.d), nearest_batch(b)
    lat = _latency_rows(ds, vb)[LATENCY_COLUMN[s]]
    m = "encdec-s" if LMS[workload.lm].encoder_layers else "dec-s"
    key = next(k for k in F.CHAMLM if k[0] == m)
    tok = _chamlm_rows(key)[CHAMLM_COLUMN[s]]
    return {"retrieval_latency": _brief(lat, f"{ds} {LATENCY_COLUMN[s]} batch {vb}"),
            "tokens_per_s": _brief(tok, f"ChamLM {m} interval {key[1]} batch {key[2]} {CHAMLM_COLUMN[s]} "
                                        "(serial)")}


def short(f: dict) -> str:
    """One line for a table: the two errors, or why there are none."""
    if "none" in f:
        return "unvalidated (PIM)"
    lat, tok = f["retrieval_latency"], f["tokens_per_s"]
    as_run = " as run: CPU faiss" if lat["note"] else ""
    return (f"lat {lat['error_pct']:+.0f}% ({lat['validated_configuration']}{as_run}), tok/s {tok['error_pct']:+.0f}% "
            f"({tok['validated_configuration'].split(' (')[0]})")

"""The planner's fidelity column: the error on the nearest validated configuration is the fidelity report's
error for that configuration, computed from the model (here through the report's own row builder), never
copied; PIM points say they are unvalidated."""
import pytest

from bench import fidelity as F
from bench.plan_fidelity import annotate, nearest_batch, nearest_dataset
from hwsim.plan import PRESETS
from hwsim.ralm import tokens_per_s
from hwsim.system import SystemModel, system_spec


def test_nearest_configuration():
    assert [nearest_batch(b) for b in (1, 2, 3, 8, 32, 48, 128)] == [1, 4, 4, 16, 64, 64, 64]
    assert nearest_dataset(512) == "sift" and nearest_dataset(96) == "deep" and nearest_dataset(100) == "deep"


def test_errors_are_the_reports():
    w = PRESETS["dec-s"]
    r = SystemModel(system_spec("sift")).model(F.SYSTEMS, 64)
    rows = {row["system"]: row for row in F._vector_search_rows("sift", 64, r, r) if row["figure"] == "latency"}
    t = tokens_per_s("dec-s", 1, 64, ("cpu", "fpga"))["tokens_per_s"]
    for system in ("cpu", "fpga-gpu"):
        got = annotate({"system": system, "overlap": "serial"}, w)
        assert got["retrieval_latency"]["error_pct"] == pytest.approx(rows[system]["error_pct"])
        col = "cpu-gpu" if system == "cpu" else "fpga-gpu"
        measured = F.CHAMLM[("dec-s", 1, 64)][("cpu-gpu", "fpga-gpu").index(col)]
        assert got["tokens_per_s"]["error_pct"] == pytest.approx((t[col] - measured) / measured * 100)
    assert "none" in annotate({"system": "pim-hbm", "overlap": "serial"}, w)

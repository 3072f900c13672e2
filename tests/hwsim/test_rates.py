"""The measured-rates files (hwsim.rates): one versioned file per machine and day, each section taken from the
newest file that has it, other schemas refused with the command that re-measures them."""
import json

import pytest

from hwsim import rates as R
from ivfpq.errors import HwragError

ZEN4 = {"cpu_model": "AMD EPYC", "vendor": "AuthenticAMD", "family": 25, "model": 17, "microarchitecture": "zen4"}


def test_round_trip_and_newest_section(tmp_path):
    old = R.RatesFile(dict(ZEN4), "2026-01-01")
    old.put("tcp", {"per_message_cycles": 1.0, "per_byte_cycles": 0.5}, "python -m bench.cpu_rates", (0.5, 0, 0), 3.5)
    old.put("host", {"wakeup_cycles": 7.0}, "python -m bench.cpu_rates", (0.5, 0, 0), 3.5)
    old.save(tmp_path)
    new = R.RatesFile(dict(ZEN4, microarchitecture=None, cpu_model="Xeon"), "2026-02-01")
    new.put("tcp", {"per_message_cycles": 2.0, "per_byte_cycles": 0.25}, "python -m bench.cpu_rates", (1.0, 0, 0))
    path = new.save(tmp_path)
    assert path.name == "cpu-2026-02-01.json"
    assert R.RatesFile.load(path).sections == new.sections
    tcp, f = R.section("tcp", tmp_path)
    assert tcp["per_message_cycles"] == 2.0 and f.machine["cpu_model"] == "Xeon"
    host, f = R.section("host", tmp_path)          # only the older file has it
    assert host["wakeup_cycles"] == 7.0 and f.date == "2026-01-01"
    assert "AMD EPYC (zen4) at 3.50 GHz (measured), 2026-01-01, load 0.5" in R.provenance(f, "host")
    with pytest.raises(HwragError, match="python -m bench.scan_replica"):
        R.section("scan_replica", tmp_path)
    with pytest.raises(HwragError, match="unknown rates section 'nope'"):
        old.put("nope", {}, "", (0, 0, 0))


def test_the_modeled_cores_own_measurement_comes_first(tmp_path):
    """prefer=zen3: an older file measured on a Zen 3 core beats a newer Zen 4 one; without a Zen 3 file, or
    without prefer, the newest; files of one day are ordered by name (deterministic)."""
    z3 = R.RatesFile(dict(ZEN4, model=1, microarchitecture="zen3"), "2026-01-01")
    z3.put("tcp", {"per_message_cycles": 3.0}, "python -m bench.cpu_rates", (0, 0, 0))
    z3.save(tmp_path)
    z4 = R.RatesFile(dict(ZEN4), "2026-03-01")
    z4.put("tcp", {"per_message_cycles": 4.0}, "python -m bench.cpu_rates", (0, 0, 0))
    z4.put("host", {"wakeup_cycles": 4.0}, "python -m bench.cpu_rates", (0, 0, 0))
    z4.save(tmp_path)
    assert R.section("tcp", tmp_path, prefer="zen3")[0]["per_message_cycles"] == 3.0
    assert R.section("tcp", tmp_path)[0]["per_message_cycles"] == 4.0
    assert R.section("host", tmp_path, prefer="zen3")[0]["wakeup_cycles"] == 4.0   # no Zen 3 file has it
    same_day = R.RatesFile(dict(ZEN4, microarchitecture="zen3"), "2026-03-01")
    same_day.put("tcp", {"per_message_cycles": 5.0}, "python -m bench.cpu_rates", (0, 0, 0))
    same_day.save(tmp_path)                                   # zen3-2026-03-01 sorts before zen4-2026-03-01
    assert R.section("tcp", tmp_path)[0]["per_message_cycles"] == 4.0


def test_median_of_runs_keeps_each_figures_range():
    from bench.cpu_rates import median_of_runs

    runs = [{"d": 128, "faiss": "1.15", "shapes": [{"d": 128, "query_cycles": q, "blas": {"20": b}}]}
            for q, b in ((10.0, 1.0), (40.0, 3.0), (20.0, 2.0))]
    out = median_of_runs(runs)
    assert out["d"] == 128 and isinstance(out["d"], int) and out["faiss"] == "1.15"
    shape = out["shapes"][0]
    assert shape["query_cycles"] == 20.0 and shape["query_cycles_range"] == [10.0, 40.0]
    assert shape["blas"] == {"20": 2.0}                        # nested figures: medians, no range keys
    assert median_of_runs(runs[:1]) == runs[0]


def test_other_schema_refused(tmp_path):
    (tmp_path / "old.json").write_text(json.dumps({"schema": 1, "machine": {}, "date": "2025-01-01"}))
    with pytest.raises(HwragError, match="schema 1, this hwrag reads 2; re-measure"):
        R.RatesFile.load(tmp_path / "old.json")


def test_shipped_rates_name_their_machines():
    for name in R.SECTIONS:
        _, f = R.section(name)
        assert f.machine.get("cpu_model") and f.date and f.commands[name]["command"].startswith("python -m bench.")

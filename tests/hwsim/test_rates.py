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


def test_other_schema_refused(tmp_path):
    (tmp_path / "old.json").write_text(json.dumps({"schema": 1, "machine": {}, "date": "2025-01-01"}))
    with pytest.raises(HwragError, match="schema 1, this hwrag reads 2; re-measure"):
        R.RatesFile.load(tmp_path / "old.json")


def test_shipped_rates_name_their_machines():
    for name in R.SECTIONS:
        _, f = R.section(name)
        assert f.machine.get("cpu_model") and f.date and f.commands[name]["command"].startswith("python -m bench.")

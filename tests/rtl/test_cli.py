"""`hwrag rtl export|verify` through rtl.cli.add_rtl_parser."""
import argparse
import json

import pytest

from ivfpq.errors import HwragError
from rtl.cli import add_rtl_parser


def _parse(argv):
    p = argparse.ArgumentParser()
    add_rtl_parser(p.add_subparsers(dest="command", required=True))
    return p.parse_args(argv)


def test_export_writes_verilog_and_card(tmp_path, capsys):
    a = _parse(["rtl", "export", "--m", "8", "--units", "1", "--k", "2", "-o", str(tmp_path), "--json"])
    assert a.func(a) == 0
    rows = json.loads(capsys.readouterr().out)
    assert (tmp_path / "ivfpq_scan_m8_u1_k2.v").exists()
    card = json.loads((tmp_path / "m8_u1_k2.json").read_text())
    assert card["pipeline"]["result_cycles"] == 2 and rows[0]["module"] == "ivfpq_scan_m8_u1_k2"


def test_verify_pyrtl_json(capsys):
    a = _parse(["rtl", "verify", "--sim", "pyrtl", "--m", "8", "--units", "2", "--k", "3", "--queries", "2",
                "--json"])
    assert a.func(a) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["passed"] and out["results"][0]["cycles_per_s"] > 0


def test_bad_flags_are_user_errors():
    a = _parse(["rtl", "verify", "--m", "8", "--k", "5", "--l1", "9"])
    with pytest.raises(HwragError, match="l1"):
        a.func(a)


def test_verify_coverage_and_counts_are_checked():
    a = _parse(["rtl", "verify", "--sim", "pyrtl", "--coverage"])
    with pytest.raises(HwragError, match="cocotb simulator"):
        a.func(a)
    a = _parse(["rtl", "verify", "--queries", "0"])
    with pytest.raises(HwragError, match="--queries"):
        a.func(a)


def test_fault_names_match_the_generators():
    from rtl.cli import FAULT_NAMES
    from rtl.export import FAULTS

    assert tuple(FAULTS) == FAULT_NAMES


def test_verify_pyrtl_with_injected_queue_fault_fails(capsys):
    a = _parse(["rtl", "verify", "--sim", "pyrtl", "--m", "8", "--units", "1", "--k", "4", "--queries", "3",
                "--max-codes", "40", "--inject-fault", "queue_evict_off_by_one", "--json"])
    assert a.func(a) == 1
    assert json.loads(capsys.readouterr().out)["passed"] is False

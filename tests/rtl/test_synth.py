"""FPGA synthesis (Yosys synth_xilinx, UltraScale+): resources, units that fit, cards, the CLI.

Default tier: one small configuration is synthesized (m8_u1_k1, seconds) and checked against what the
netlist must give (flip-flops no more than PyRTL's register bits, LUT RAM holding every LUT-table
bit); the checked-in cards' synthesis sections are checked without running the tool (not stale: same
Verilog hash; fit recomputed from the data-sheet totals). `slow`: every checked-in configuration is
synthesized again and must equal its card.
"""
import json
import shutil

import pytest

from ivfpq.errors import HwragError
from rtl.card import card_path, load_card, resource_counts
from rtl.config import DEFAULT_CONFIGS, ScanConfig
from rtl.fpga_devices import DEVICES, RESOURCES, XCU250, units_that_fit
from rtl.scan_unit import build_scan_unit
from rtl.synth import SECTION, fit_on_devices, map_cells, synthesize, verilog_sha256


@pytest.fixture(autouse=True)
def _yosys_installed():
    """`make test` installs yosys with apt-get; missing, these tests fail rather than skip."""
    if shutil.which("yosys") is None:
        pytest.fail("yosys is not installed (make test installs it with apt-get)")


def test_map_cells_by_hand():
    cells = {"LUT2": 10, "LUT6": 5, "RAM64M8": 3, "SRLC32E": 2, "FDRE": 7, "FDSE": 1, "RAMB36E2": 2,
             "RAMB18E2": 1, "URAM288": 4, "DSP48E2": 6, "CARRY4": 9, "MUXF7": 3, "INV": 1}
    r = map_cells(cells)
    assert r == {"lut": 15 + 24 + 2, "lut_logic": 15, "lutram": 26, "ff": 8, "bram36": 2.5, "uram": 4, "dsp": 6,
                 "carry": 9}
    with pytest.raises(HwragError, match=r"\$add"):
        map_cells({"$add": 1, "LUT2": 1})


def test_units_that_fit_by_hand():
    used = {"lut": 100_000, "ff": 10, "lutram": 0, "bram36": 100, "uram": 0, "dsp": 0}
    f = units_that_fit(used, XCU250)
    assert f["units"] == min(1_728_000 // 100_000, 3_456_000 // 10, 2_688 // 100) == 17
    assert f["limited_by"] == "lut"


def test_small_configuration_synthesizes_consistently_with_its_netlist():
    cfg = ScanConfig(m=8, units=1, k=1)
    r = synthesize(cfg)
    res = r.resources
    block, _ = build_scan_unit(cfg)
    counts = resource_counts(block)
    # Yosys removes constant and duplicate registers (no retiming asked); mapping a memory with its
    # registered read port onto LUT RAM may re-create at most a register per memory
    assert 0.5 * counts["register_bits"] <= res["ff"] <= counts["register_bits"] + counts["memories"]
    assert res["lutram"] * 64 >= counts["memory_bits"]  # the LUT tables live in LUT RAM (64 b per LUT)
    assert res["bram36"] == 0 and res["dsp"] == 0 and res["uram"] == 0  # 2 Kb tables, adds in carry chains
    assert res["lut"] == res["lut_logic"] + res["lutram"] > 0
    sec = r.section()
    assert sec["verilog_sha256"] == verilog_sha256(cfg) and sec["tool"].startswith("Yosys")
    for name, dev in DEVICES.items():
        want = min(t // res[k] for k, t in dev.totals().items() if res.get(k))
        assert sec["fit"][name]["units"] == want


#: cards that must carry a synthesis: those the FPGA model's default node uses (chameleon_u250, M = 16)
MUST_SYNTHESIZE = ("m16_u4_k10", "m16_u4_k100")


@pytest.mark.parametrize("cfg", DEFAULT_CONFIGS, ids=lambda c: c.name)
def test_checked_in_cards_carry_current_synthesis(cfg):
    """A card's synthesis is of the RTL as it is now, with the fit recomputable. (The M = 32 and 64 cards
    may still lack one: their Yosys runs take tens of CPU minutes; `hwrag rtl synth --defaults
    --from-cards` lists them.)"""
    card = load_card(card_path(cfg))
    sec = card.get(SECTION)
    if sec is None:
        assert cfg.name not in MUST_SYNTHESIZE, f"{card_path(cfg)} lacks {SECTION}; run `hwrag rtl synth --m " \
                                                f"{cfg.m} --units {cfg.units} --k {cfg.k} --write-cards`"
        return
    assert sec["verilog_sha256"] == verilog_sha256(cfg), "stale: the RTL changed since the card's synthesis"
    assert set(RESOURCES) <= set(sec["resources"])
    assert sec["fit"] == fit_on_devices(sec["resources"])
    assert map_cells(sec["cells"]) == sec["resources"]


def test_synth_cli_from_cards_and_errors(capsys):
    from hwrag.cli import main

    assert main(["rtl", "synth", "--defaults", "--from-cards", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {r["config"] for r in out["rows"]} == {c.name for c in DEFAULT_CONFIGS}
    assert set(out["devices"]) == set(DEVICES)
    assert all(r["lut"] > 0 for r in out["rows"] if r["config"] in MUST_SYNTHESIZE)
    assert main(["rtl", "synth", "--m", "8", "--units", "1", "--k", "1", "--timeout", "0"]) == 2
    assert "--timeout" in capsys.readouterr().err
    assert main(["rtl", "synth", "--m", "8", "--units", "1", "--k", "3", "--from-cards"]) == 2
    assert "no timing card" in capsys.readouterr().err


def test_synth_timeout_bounds_the_whole_command(capsys):
    """--timeout covers the Verilog generation too: a budget too short for it ends the command with a clear
    error naming --timeout, and each step is named on stderr as it starts."""
    from hwrag.cli import main

    assert main(["rtl", "synth", "--m", "16", "--units", "4", "--k", "10", "--timeout", "0.05"]) == 2
    err = capsys.readouterr().err
    assert "generating the Verilog with PyRTL" in err and "--timeout 0.05 s spent" in err


def test_missing_yosys_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(HwragError, match="yosys not found"):
        synthesize(ScanConfig(m=8, units=1, k=1))


@pytest.mark.slow
@pytest.mark.parametrize("cfg", DEFAULT_CONFIGS, ids=lambda c: c.name)
def test_every_card_resynthesizes_to_its_numbers(cfg):
    """Every checked-in card carries a synthesis, and Yosys gives the same cells again."""
    sec = load_card(card_path(cfg)).get(SECTION)
    assert sec is not None, f"run `hwrag rtl synth --m {cfg.m} --units {cfg.units} --k {cfg.k} --write-cards`"
    r = synthesize(cfg)
    assert r.tool == sec["tool"], "another Yosys version: regenerate the cards with it"
    assert r.cells == sec["cells"] and r.resources == sec["resources"]

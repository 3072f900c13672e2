"""The FPGA model checks that its scan units fit the device (the cards' Yosys synthesis) and warns if not."""
import json
import logging
from dataclasses import replace

import numpy as np

from hwsim.accelerator import Workload
from hwsim.cards import CARD_DIR, load_card
from hwsim.configs import CHAMELEON_U250
from hwsim.fpga import FpgaNode


def _card_with_fit(tmp_path, units: int):
    card = json.loads((CARD_DIR / "m16_u4_k10.json").read_text())
    card["fpga_synthesis"] = {"fit": {"xcu250": {"units": units, "limited_by": "lut"}}}
    (tmp_path / "m16_u4_k10.json").write_text(json.dumps(card))
    return tmp_path


def test_card_fit_is_read_and_missing_synthesis_is_unknown(tmp_path):
    d = _card_with_fit(tmp_path, 3)
    assert load_card(16, 4, 10, card_dir=d).units_that_fit("xcu250") == 3
    assert load_card(16, 4, 10, card_dir=d).units_that_fit("xcu55c") is None
    assert load_card(16, 4, 100, card_dir=d).fpga_fit == {}  # a rescaled card's queue differs: no figure


def test_node_that_does_not_fit_warns(tmp_path, caplog):
    d = _card_with_fit(tmp_path, 3)
    w = Workload(np.full((1, 4), 64), 128, 16, 10)
    with caplog.at_level(logging.WARNING, logger="hwsim.fpga"):
        too_many = FpgaNode(replace(CHAMELEON_U250, stream_mode="calibrated"), card_dir=d).model(w)
        fits = FpgaNode(replace(CHAMELEON_U250, channels=3, stream_mode="calibrated"), card_dir=d).model(w)
    assert too_many.extra["fpga_fit"] == {"device": "xcu250", "needed": 4, "fit": 3, "fits": False}
    assert fits.extra["fpga_fit"]["fits"] is True
    assert [r.message for r in caplog.records if "only 3 fit on xcu250" in r.message]
    no_device = FpgaNode(replace(CHAMELEON_U250, device=None, stream_mode="calibrated"), card_dir=d).model(w)
    assert "fpga_fit" not in no_device.extra


def test_chameleon_u250_fits_by_the_checked_in_cards():
    """Chameleon's node (4 channels x one M=16 scan unit) fits the U250 by the synthesized cards."""
    w = Workload(np.full((1, 4), 64), 128, 16, 10)
    fit = FpgaNode(replace(CHAMELEON_U250, stream_mode="calibrated")).model(w).extra["fpga_fit"]
    assert fit["fits"] is True and fit["fit"] >= 4


def test_a_mistyped_device_names_the_known_ones():
    import numpy as np
    import pytest

    from hwsim.accelerator import Workload
    from hwsim.configs import get_config, make_accelerator
    from ivfpq.errors import HwragError

    acc = make_accelerator(get_config("chameleon_u250").with_(device="xcu999"))
    with pytest.raises(HwragError, match="unknown FPGA device 'xcu999'; accepted: xcu250, xcu55c"):
        acc.model(Workload(np.full((1, 4), 1000), 128, 16, 10))

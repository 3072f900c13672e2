"""Timing cards: checked-in cards equal what the RTL measures now (regenerated in memory)."""
import json

import numpy as np
import pytest

from rtl.card import CARDS_DIR, SCHEMA, _formula, card_json, card_path, carry_synthesis, load_card, measure_card
from rtl.config import DEFAULT_CONFIGS, ScanConfig
from rtl.host import ScanHost
from rtl.sim import PyrtlScanSim
from rtl.stimulus import random_query

REGEN = "hwrag rtl export --defaults -o build/rtl --cards-dir rtl/cards"


def _check_in_sync(cfg):
    """The card equals what the RTL measures now; its FPGA synthesis section (tests/rtl/test_synth.py)
    is kept only while it was made from the Verilog the RTL exports now."""
    path = card_path(cfg)
    assert path.exists(), f"missing card {path}; regenerate with `{REGEN}`"
    want = card_json(carry_synthesis(cfg, measure_card(cfg), path))
    assert path.read_text() == want, f"{path} is stale; regenerate with `{REGEN}`"


def test_default_cards_exist_and_parse():
    names = {card_path(c).name for c in DEFAULT_CONFIGS}
    assert names <= {p.name for p in CARDS_DIR.glob("*.json")}
    for c in DEFAULT_CONFIGS:
        card = load_card(card_path(c))
        assert card["schema"] == SCHEMA and card["config"] == c.to_dict()
        p = card["pipeline"]
        assert p["initiation_interval"] == 1 and p["codes_per_cycle"] == c.units and p["stall_cycles"] == 0
        assert p["result_cycles"] == c.k


def test_smallest_default_card_in_sync():
    _check_in_sync(min(DEFAULT_CONFIGS, key=lambda c: c.m * c.units * c.k))


@pytest.mark.slow
@pytest.mark.parametrize("cfg", DEFAULT_CONFIGS, ids=lambda c: c.name)
def test_every_default_card_in_sync(cfg):
    _check_in_sync(cfg)


def test_card_formula_predicts_other_queries():
    """The card's cycles-per-query formula holds for queries it was not measured on."""
    cfg = ScanConfig(m=8, units=4, k=10)
    card = json.loads(card_path(cfg).read_text())
    rng = np.random.default_rng(11)
    qs = []
    for _ in range(4):  # every list non-empty (an empty last list needs a flush cycle of its own)
        lens = rng.integers(1, 50, int(rng.integers(1, 4)))
        q = random_query(cfg, rng, n_lists=len(lens), max_codes=1)
        q.ends = np.cumsum(lens).astype(np.int64)
        q.starts = q.ends - lens
        q.codes = rng.integers(0, 256, (int(lens.sum()), cfg.m), dtype=np.uint8)
        q.ids = np.arange(int(lens.sum()), dtype=np.int64)
        qs.append(q)
    host = PyrtlScanSim(cfg).run(ScanHost(cfg, qs, rng, flush_with_last=1.0))
    assert host.check() == []
    for q, r in zip(qs, host.records):
        lens = (q.ends - q.starts).tolist()
        assert r.done_cycle - r.start_cycle + 1 == _formula(card["pipeline"], lens)

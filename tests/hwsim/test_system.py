"""The system frame against hand-computed cases and analytic bounds (no modeled-equals-measured asserts)."""
import numpy as np
import pytest

from hwsim.chameleon_coordinator import batch_flow
from hwsim.cpu import EPYC_7313, CpuRates, FaissCpu
from hwsim.network import Network, c2f_query_bytes, f2c_query_bytes, g2c_bytes
from hwsim.power import SocketPower, team_cores
from hwsim.system import SystemModel, system_spec
from ivfpq.errors import HwragError

RATES = CpuRates(scan={(128, 16): (3000.0, 300.0, 30.0)}, select={128: (0.5, 0.25)}, tcp=(3000.0, 0.5),
                 measured_on="hand-made")


def test_chameleon_message_sizes():
    """constants.hpp: AXI words of 64 B; D=128, nprobe 32: ids 2 words, query 8, 32 centroids x 8 = 16,960 B."""
    assert c2f_query_bytes(128, 32) == 64 * (2 + 8 + 32 * 8) == 17024
    assert f2c_query_bytes(100) == 64 * (1 + 13 + 7)
    assert g2c_bytes(4, 128, 32) == 16 + 4 * 4 * 128 + 8 * 4 * 32


def test_faiss_slicing_hand_computed():
    """b=3 queries on 2 threads: slices [0,1) and [1,3); thread 2 scans two queries; select seq (b < 20)."""
    cpu = FaissCpu(EPYC_7313.with_cores(2), RATES)
    codes = np.array([[100, 100], [200, 0], [50, 50]])
    run = cpu.batch(codes, nlist=1000, d=128, M=16)
    ghz = EPYC_7313.clock_ghz * 1e9
    q = lambda c: (3000 + 300 * sum(x > 0 for x in c) + 30 * sum(c)) / ghz  # noqa: E731
    sel = 1000 * 128 * 0.5 / ghz
    assert run.threads == 2
    assert run.batch_s == pytest.approx(max(sel + q(codes[0]), 2 * sel + q(codes[1]) + q(codes[2])))
    # a lone query runs on one thread whatever the core count
    one = FaissCpu(EPYC_7313, RATES).batch(codes[:1], 1000, 128, 16)
    assert one.threads == 1 and one.batch_s == pytest.approx(sel + q(codes[0]))


def test_memory_ceiling_binds():
    cpu = FaissCpu(EPYC_7313.with_cores(8), CpuRates({(128, 16): (0.0, 0.0, 0.0)}, {128: (0.0, 0.0)}, (0, 0), ""))
    run = cpu.batch(np.full((8, 4), 10 ** 6), 1000, 128, 16)
    assert run.memory_bound and run.batch_s == pytest.approx(32e6 * 16 / 204.8e9)


def test_coordinator_flow_pipelines_queries():
    """Zero-cost network: the node runs queries back to back, so nodes_s = sum of device times."""
    net = Network(gbps=1e12, hop_s=0.0, host_msg_cycles=0, host_byte_cycles=0, fpga_msg_s=0.0)
    f = batch_flow(np.array([1e-3, 2e-3, 3e-3]), net, 128, 32, 100)
    assert f.nodes_s == pytest.approx(6e-3) and f.total_s == pytest.approx(6e-3)
    slow = Network(gbps=1e12, hop_s=1e-4, host_msg_cycles=0, host_byte_cycles=0, fpga_msg_s=0.0)
    g = batch_flow(np.array([1e-3]), slow, 128, 32, 100)  # four hops: G2C, header.., C2F, F2C, C2G
    assert g.total_s == pytest.approx(1e-3 + 4e-4)


def test_socket_power_line_and_team():
    """Chameleon's two turbostat points (1 busy core; all 16 of the energy run) and the line between them."""
    p = SocketPower()
    one, full = 142.31 - 85.23 / 2, 206.41 - 85.23 / 2
    assert p.watts(1) == pytest.approx(one)
    assert p.watts(16) == pytest.approx(full)
    assert p.watts(8) == pytest.approx(one + 7 * (full - one) / 15)
    assert team_cores(1, 8) == 1 and team_cores(4, 8) == 8


def test_system_model_consistent_and_deterministic():
    sm = SystemModel(system_spec("sift"), samples=5)
    r = sm.model(("cpu", "fpga-gpu"), 4)
    r2 = SystemModel(system_spec("sift"), samples=5).model(("cpu", "fpga-gpu"), 4)
    assert r["cpu"].latency_s == r2["cpu"].latency_s and r["fpga-gpu"].latency_s == r2["fpga-gpu"].latency_s
    assert r.figures == "modeled"
    st = r["fpga-gpu"].stages_s
    total = st["list_selection"] + st["host_client"] + st["network_in"] + st["nodes"] + st["merge_and_reply"]
    assert total == pytest.approx(r["fpga-gpu"].latency_s)
    # a node serves queries one at a time: a batch takes at least b device times
    assert st["nodes"] >= 4 * st["node_device_per_query"] * 0.999
    assert set(r.systems) == {"cpu", "fpga-gpu"}
    for key in ("latency_s", "throughput_qps", "energy_per_query_J"):
        assert all(getattr(f, key) > 0 for f in r.systems.values())


def test_bad_input_errors():
    with pytest.raises(HwragError, match="accepted: sift, deep"):
        system_spec("nope")
    with pytest.raises(HwragError, match="multiple"):
        system_spec("sift", d=100, M=16)
    with pytest.raises(HwragError, match="unknown system"):
        SystemModel(system_spec("sift"), samples=1).model(("gpu-only",), 1)
    from hwsim.ralm import tokens_per_s
    with pytest.raises(HwragError, match="accepted: dec-s"):
        tokens_per_s("gpt", 1, 64)


def test_hw_system_cli_json(capsys):
    import json

    from hwrag.cli import main

    assert main(["hw", "system", "--batch", "2", "--systems", "cpu", "cpu-gpu", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out["systems"]) == {"cpu", "cpu-gpu"} and out["figures"] == "modeled"
    assert out["systems"]["cpu"]["latency_s"] > 0
    assert main(["hw", "system", "--dataset", "glove"]) == 2


def test_presets_are_injectable_and_sourced():
    """Every named preset cites its sources; a user's own GPU replaces the default in the system model."""
    from dataclasses import replace

    from hwsim import presets

    for table in (presets.SERVERS, presets.GPUS, presets.SOCKETS):
        for p in table.values():
            assert p.sources, p
    slow_gpu = replace(presets.named(presets.GPUS, "rtx3090"), select_fixed_s=1e-3)
    base = SystemModel(system_spec("sift"), samples=3).model(("fpga-gpu",), 1)["fpga-gpu"]
    mine = SystemModel(system_spec("sift"), samples=3, gpu=slow_gpu).model(("fpga-gpu",), 1)["fpga-gpu"]
    assert mine.stages_s["list_selection"] - base.stages_s["list_selection"] == pytest.approx(
        1e-3 - presets.GPUS["rtx3090"].select_fixed_s)
    with pytest.raises(HwragError, match="accepted: rtx3090"):
        presets.named(presets.GPUS, "h100")


def test_message_sizes_and_one_query_by_hand():
    """Chameleon's message sizes for SIFT (D 128, nprobe 32, K 100) and one query's latency through a real
    network (every cost non-zero), computed by hand: an error in any message size or stage moves it."""
    from hwsim.chameleon_coordinator import merge_s
    from hwsim.network import c2g_bytes

    assert g2c_bytes(1, 128, 32) == 16 + 512 + 256                   # header + query + 32 int64 list ids
    assert c2f_query_bytes(128, 32) == 64 * (2 + 8 + 32 * 8)         # ids, query, 32 centroids in AXI words
    assert f2c_query_bytes(100) == 64 * (1 + 13 + 7)                 # header, 100 int64 ids, 100 float32
    assert c2g_bytes(1, 100) == 100 * (8 + 4)                        # ids and distances back to the host
    assert merge_s(1, 100, 1.0) == 0.0
    net = Network(gbps=100.0, hop_s=1e-6, host_msg_cycles=1000, host_byte_cycles=1.0, host_ghz=1.0,
                  fpga_msg_s=1e-6, segment_cycles=100, wakeup_cycles=500)
    ns = 1e-9
    request = 2 * (1000 + 784) * ns + 784 * 8 / 100e9 + 1e-6 + 500 * ns          # G2C message + hand-off
    to_node = 1e-6 + 17024 * 8 / 100e9 + 1e-6                                     # wire, hop, FPGA stack
    sent = (1000 + 64) * ns + (1000 + 17024) * ns                                 # header, then the query
    back = 1e-6 + (1000 + 1344) * ns + 20 * 100 / 2 * ns + 1344 * 8 / 100e9 + 1e-6  # 21 packets of 64 B
    reply = 2 * (1000 + 1200) * ns + 1200 * 8 / 100e9 + 1e-6
    f = batch_flow(np.array([1e-3]), net, 128, 32, 100, nodes=1, node_end="fpga")
    assert f.request_s == pytest.approx(request, rel=1e-12)
    assert f.forward_s == pytest.approx(sent + to_node, rel=1e-12)
    assert f.nodes_s == pytest.approx(1e-3 + back, rel=1e-12)
    assert f.reply_s == pytest.approx(reply, rel=1e-12)
    assert f.total_s == pytest.approx(request + sent + to_node + 1e-3 + back + reply, rel=1e-12)


def test_every_hw_flag_states_its_default():
    """Every flag of `hwrag hw ...` has a help text that says its default (or that it is required)."""
    import argparse

    from hwsim.cli import add_hw_parser

    p = argparse.ArgumentParser()
    add_hw_parser(p.add_subparsers(dest="command"))
    hw = next(a for a in p._actions if isinstance(a, argparse._SubParsersAction)).choices["hw"]
    subs = next(a for a in hw._actions if isinstance(a, argparse._SubParsersAction)).choices
    seen = 0
    for name, sp in subs.items():
        for a in sp._actions:
            if isinstance(a, argparse._HelpAction):
                continue
            assert a.help and ("default" in a.help or "required" in a.help), (name, a.dest, a.help)
            seen += 1
    assert {"compare", "project", "system", "ralm"} <= set(subs) and seen >= 30

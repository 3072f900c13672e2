"""The DRAMsim3-like controller structure (``structure="dramsim3"``): its rules on hand-built cases
whose outcome follows from the rule alone, and the parsing half of the DRAMsim3 cross-check bench
(against DRAMsim3 output written here by hand: DRAMsim3 itself is not available in CI)."""
import numpy as np
import pytest

from bench.dram_dramsim3 import TRACES, completion_epoch, make_trace, parse_final_stats, run_against
from hwsim.dram import ControllerConfig, DramSystem, get_preset
from hwsim.dram import core
from hwsim.dram.timing import ACT, PRE, RD, REF, REFPB, WR
from ivfpq.errors import HwragError

D3 = ControllerConfig(structure="dramsim3", refresh="none")


def _log(r, cmd):
    lg = r.command_log
    return lg[lg[:, core.L_CMD] == cmd]


def test_front_end_takes_one_request_per_cycle_in_order():
    """Ten reads offered at cycle 0 enter the controller one per cycle, from cycle 1."""
    s = DramSystem("DDR4_8Gb_x8_3200", controller=D3)
    r = s.run(np.arange(10, dtype=np.uint64) * 64, None, np.zeros(10, np.int64))
    assert r.entry.tolist() == list(range(1, 11))


def test_full_queue_holds_back_every_later_request():
    """In-order front end: a request to an idle channel waits behind one whose channel is full."""
    s = DramSystem("HBM2_8Gb_x128", controller=ControllerConfig(structure="dramsim3", refresh="none",
                                                               read_queue=1, command_queue=1))
    m = s.mapping
    busy = [m.encode(ch=0, ba=0, ro=k) for k in range(4)]  # row conflicts in one bank of channel 0
    addr = np.array(busy + [m.encode(ch=1)], dtype=np.uint64)
    r = s.run(addr, None, np.zeros(5, np.int64))
    assert r.entry[4] > r.entry[3] > 5  # channel 1's request entered after channel 0's last one
    alone = s.run(addr[4:], None, [0])
    assert r.queue_latency[4] == alone.queue_latency[0]  # once in, it is served as if alone


def test_posted_writes_forwarding_and_merging():
    s = DramSystem("DDR4_8Gb_x8_3200", controller=D3)
    t = s.spec.timing
    x, y = 0x40000, 0x80000
    # write x, read x (from the write buffer), write x again (merged), read y twice (one RD)
    addr = np.array([x, x, x, y, y], dtype=np.uint64)
    w = np.array([True, False, True, False, False])
    r = s.run(addr, w, np.zeros(5, np.int64), command_log=1000)
    assert (r.completion[:3] == r.entry[:3] + 1).all()  # posted / forwarded / merged: entry + 1
    assert r.kind[1] == 3 and r.kind[2] == 3
    assert r.completion[3] == r.completion[4]  # one RD serves both reads of y
    assert r.counts["RD"] == 1 and r.counts["WR"] == 1
    # the lone read of y: its bank is closed, so ACT then RD; from queue entry 1 + RCD + CL + BL
    assert r.queue_latency[3] == 1 + t["RCDRD"] + t["CL"] + t["BL"]


@pytest.mark.parametrize("cap", [2, 4])
def test_row_hit_cap_lets_a_waiting_miss_precharge(cap):
    """Bank queue [A, B, A, A, A, A, A, A] (same bank; B another row). With tRTP = 1 and a short tRAS
    the PRE for B is legal one cycle after each RD, but DRAMsim3 lets it go only once the bank has
    served ``row_hit_cap`` RDs since its ACT: exactly ``cap`` RDs precede it. The queues structure
    (FR-FCFS, no cap) serves every hit first."""
    spec = get_preset("HBM2_8Gb_x128").with_timing(RTP=1, RAS=15)
    m = DramSystem(spec).mapping
    rows = [1, 2] + [1] * 6
    addr = np.array([m.encode(ro=ro, co=i) for i, ro in enumerate(rows)], dtype=np.uint64)
    for ctl, want in ((ControllerConfig(structure="dramsim3", refresh="none", row_hit_cap=cap), cap),
                      (ControllerConfig(refresh="none"), 7)):
        r = DramSystem(spec, controller=ctl).run(addr, None, np.zeros(8, np.int64), command_log=100)
        first_pre = _log(r, PRE)[0, core.L_T]
        assert (_log(r, RD)[:, core.L_T] < first_pre).sum() == want, ctl


def test_write_buffer_drains_only_past_eight_writes():
    """DRAMsim3 drains the write buffer when it holds more than 8 writes and the command queues are
    empty: 9 writes go to DRAM before a read that comes much later, 8 writes wait for it (and go at
    the end of the stream)."""
    s = DramSystem("DDR4_8Gb_x8_3200", controller=D3)
    for nw, before in ((9, True), (8, False)):
        addr = np.array([0x100000 * (i + 1) for i in range(nw)] + [0x40], dtype=np.uint64)
        w = np.array([True] * nw + [False])
        arr = np.array([0] * nw + [5000], dtype=np.int64)
        r = s.run(addr, w, arr, command_log=1000)
        wr, rd = _log(r, WR)[:, core.L_T], _log(r, RD)[0, core.L_T]
        assert len(wr) == nw
        assert ((wr < rd).all() if before else (wr > rd).all()), nw


def test_refresh_is_staggered_over_ranks_and_banks():
    """All-bank: every tREFI / ranks cycles the next rank, round robin; per-bank: every tREFIpb the
    next bank, bank groups first."""
    spec = get_preset("DDR4_8Gb_x8_3200")
    step = spec.timing["REFI"] // 2
    s = DramSystem(spec, controller=ControllerConfig(structure="dramsim3"))
    n = 600
    r = s.run(np.arange(n, dtype=np.uint64) * 64, None, np.arange(n) * (6 * step // n), command_log=10_000)
    ref = _log(r, REF)
    assert ref[:, core.L_RANK].tolist() == [k % 2 for k in range(len(ref))] and len(ref) >= 5
    due = step * np.arange(1, len(ref) + 1)
    assert ((ref[:, core.L_T] >= due) & (ref[:, core.L_T] < due + spec.timing["RFC"])).all()
    h = get_preset("HBM2_8Gb_x128")
    s = DramSystem(h, controller=ControllerConfig(structure="dramsim3", refresh="perbank"))
    r = s.run(np.arange(n, dtype=np.uint64) * 64, None, np.arange(n) * 8, command_log=10_000)
    pb = _log(r, REFPB)
    pb = pb[pb[:, core.L_UNIT] == 0][:6, core.L_BANK]
    B = h.org["banks"]
    assert [(b // B, b % B) for b in pb] == [(0, 0), (1, 0), (2, 0), (3, 0), (0, 1), (1, 1)]


def test_bad_structure_options():
    with pytest.raises(HwragError, match="structure 'bankq' unknown; accepted: queues, dramsim3"):
        DramSystem("DDR4", controller=ControllerConfig(structure="bankq"))
    with pytest.raises(HwragError, match="own scheduler"):
        DramSystem("DDR4", controller=ControllerConfig(structure="dramsim3", scheduler="fcfs"))
    with pytest.raises(HwragError, match="command_queue"):
        DramSystem("DDR4", controller=ControllerConfig(structure="dramsim3", command_queue=0))


# ---- the cross-check bench's parsing (hand-written DRAMsim3 output) -----------------------------
def _channel(ch, epoch=0, **kw):
    d = {"channel": ch, "epoch_num": epoch, "num_cycles": 1000, "num_reads_done": 0, "num_writes_done": 0,
         "num_act_cmds": 0, "num_pre_cmds": 0, "num_ref_cmds": 0, "num_refb_cmds": 0, "num_read_cmds": 0,
         "num_write_cmds": 0, "average_read_latency": 0.0}
    d.update(kw)
    return d


def test_parse_final_stats_sums_channels_and_weights_latency():
    doc = {"0": _channel(0, num_reads_done=30, num_act_cmds=7, num_ref_cmds=2, average_read_latency=40.0),
           "1": _channel(1, num_reads_done=10, num_writes_done=5, num_act_cmds=3, num_ref_cmds=2,
                         average_read_latency=80.0)}
    st = parse_final_stats(doc)
    assert st["num_act_cmds"] == 10 and st["num_ref_cmds"] == 4 and st["num_writes_done"] == 5
    assert st["read_latency_from_queue_entry_mean"] == pytest.approx((30 * 40 + 10 * 80) / 40)
    assert st["cycles_run"] == 1000
    with pytest.raises(HwragError, match="one dict per channel"):
        parse_final_stats({"0": {"channel": 0}})


def test_completion_epoch_is_when_the_last_request_completes():
    # two channels, epochs 1..4: 6 requests complete by the end of epoch 3 (one more than the trace
    # held: DRAMsim3's duplicated last line), none afterwards
    epochs = [_channel(0, 1, num_reads_done=2), _channel(1, 1, num_reads_done=1),
              _channel(0, 2, num_writes_done=1), _channel(1, 2),
              _channel(0, 3), _channel(1, 3, num_reads_done=2),
              _channel(0, 4), _channel(1, 4)]
    assert completion_epoch(epochs, requests=5) == (3, 6)
    assert completion_epoch(epochs, requests=7) == (0, 6)


def test_traces_are_seeded_and_of_their_kind():
    spec = get_preset("DDR4_8Gb_x8_3200")
    for kind in TRACES:
        a, w, arr = make_trace(spec, kind, 5000, seed=1)
        a2, _, _ = make_trace(spec, kind, 5000, seed=1)
        assert np.array_equal(a, a2) and (a % spec.tx_bytes == 0).all() and (a < spec.capacity_bytes).all()
        assert arr.tolist() == list(range(5000))
        step = np.diff(a.astype(np.int64)) == spec.tx_bytes
        if kind == "stream":
            assert step.all() and not w.any()
        elif kind == "random":
            assert step.mean() < 0.01 and not w.any()
        elif kind == "mixed":
            assert 0.45 < step.mean() < 0.55 and 0.27 < w.mean() < 0.33
        else:  # ivfpq: long sequential runs (lists), a jump per list
            assert 0.9 < step.mean() < 1.0 and not w.any()


def test_against_needs_a_binary(tmp_path):
    with pytest.raises(HwragError, match="not found or not executable"):
        run_against(str(tmp_path / "dramsim3main"))
    exe = tmp_path / "bin" / "dramsim3main"
    exe.parent.mkdir()
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    with pytest.raises(HwragError, match="configuration .*HBM2_8Gb_x128.ini not found"):
        run_against(str(exe))


def test_cross_check_runs_hwsim_with_dramsim3s_timing_rules(tmp_path):
    """The --against bench runs ``hwrag dram run`` (a fresh process) with DRAMsim3's timing rules by
    default, so both simulators run one configuration, and reports which kernels ran."""
    from bench.dram_dramsim3 import _hwrag_run
    from hwsim.dram import write_trace

    spec = get_preset("DDR4_8Gb_x8_3200")
    t = tmp_path / "mixed.trc"
    write_trace(t, *make_trace(spec, "mixed", 3000, seed=2))
    _, _, st = _hwrag_run("DDR4_8Gb_x8_3200", t, "dramsim3")
    assert st["timing_rules"] == "dramsim3" and st["controller"]["structure"] == "dramsim3"
    assert st["kernels"] in ("aot", "jit")
    want = DramSystem(spec.with_timing_rules("dramsim3"), controller=ControllerConfig(structure="dramsim3")).run(
        *make_trace(spec, "mixed", 3000, seed=2)).stats()
    assert (st["cycles"], st["commands"]) == (want["cycles"], want["commands"])
    _, _, st = _hwrag_run("DDR4_8Gb_x8_3200", t, "dramsim3", rules="ramulator")
    assert st["timing_rules"] == "ramulator"

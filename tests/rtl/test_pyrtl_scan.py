"""Fast PyRTL-native simulation tests: generators and the scan unit against the ivfpq golden model."""
import numpy as np
import pyrtl
import pytest

from rtl.config import ScanConfig
from rtl.host import ScanHost
from rtl.pq_distance import pq_distance, pq_distance_latency
from rtl.pqueue import pqueue_settle_cycles, systolic_pqueue
from rtl.scan_unit import build_scan_unit
from rtl.sim import PyrtlScanSim
from rtl.stimulus import Query, random_query


def _sim(block, outs):
    return pyrtl.FastSimulation(block=block, tracer=pyrtl.SimulationTrace(wires_to_track=outs, block=block),
                                register_value_map={r: r.reset_value or 0
                                                    for r in block.wirevector_subset(pyrtl.Register)})


@pytest.mark.parametrize("length", [1, 5, 16])
def test_systolic_queue_keeps_smallest_one_insert_per_cycle(length):
    kb = 12
    empty = (1 << kb) - 1
    block = pyrtl.Block()
    with pyrtl.set_working_block(block):
        ins, pop, clear = pyrtl.Input(kb, "ins"), pyrtl.Input(1, "pop"), pyrtl.Input(1, "clear")
        head, keys = systolic_pqueue(ins, pop, clear, length)
        o = pyrtl.Output(kb, "head")
        o <<= head
        outs = []
        for i, k in enumerate(keys):
            w = pyrtl.Output(kb, f"s{i}")
            w <<= k
            outs.append(w)
    sim = _sim(block, [o] + outs)
    rng = np.random.default_rng(length)
    for trial in range(3):
        vals = rng.integers(0, 64, 40)  # duplicates on purpose
        sim.step(dict(ins=empty, pop=0, clear=1))
        for v in vals:  # one insert every cycle
            sim.step(dict(ins=int(v), pop=0, clear=0))
        for _ in range(pqueue_settle_cycles(length)):
            sim.step(dict(ins=empty, pop=0, clear=0))
        want = sorted(vals.tolist())[:length]
        want += [empty] * (length - len(want))
        sim.step(dict(ins=empty, pop=0, clear=0))
        assert [sim.inspect(f"s{i}") for i in range(length)] == want
        got = []
        for _ in range(length):
            sim.step(dict(ins=empty, pop=1, clear=0))
            got.append(sim.inspect("head"))
        assert got == want


@pytest.mark.parametrize("M", [1, 3, 8, 16])
def test_pq_distance_unit_ii1_and_latency(M):
    W, db, ib = 8, 16, 10
    block = pyrtl.Block()
    with pyrtl.set_working_block(block):
        I = {n: pyrtl.Input(w, n) for n, w in (("valid", 1), ("code", 8 * M), ("vid", ib), ("bias", db),
                                                ("we", 1), ("waddr", 8), ("wrow", W * M))}
        v, d, i = pq_distance(I["valid"], I["code"], I["vid"], I["bias"], I["we"], I["waddr"], I["wrow"])
        outs = []
        for n, w in (("ov", v), ("od", d), ("oi", i)):
            o = pyrtl.Output(len(w), n)
            o <<= w
            outs.append(o)
    sim = _sim(block, outs)
    rng = np.random.default_rng(M)
    lut = rng.integers(0, 256, (M, 256))
    zero = dict(valid=0, code=0, vid=0, bias=0, we=0, waddr=0, wrow=0)
    for c in range(256):
        sim.step(dict(zero, we=1, waddr=c, wrow=sum(int(lut[m, c]) << (m * W) for m in range(M))))
    n = 30
    codes = rng.integers(0, 256, (n, M))
    biases = rng.integers(0, 65536, n)
    lat = pq_distance_latency(M)
    got = []
    for t in range(n + lat):
        if t < n:
            sim.step(dict(zero, valid=1, code=int.from_bytes(bytes(codes[t].astype(np.uint8)), "little"),
                          vid=t, bias=int(biases[t])))
        else:
            sim.step(zero)
        if sim.inspect("ov"):
            got.append((t, sim.inspect("oi"), sim.inspect("od")))
    want = [(t + lat, t, min(int(biases[t]) + int(lut[np.arange(M), codes[t]].sum()), 65535)) for t in range(n)]
    assert got == want  # one distance per cycle, `lat` cycles after its code


CONFIGS = [ScanConfig(m=8, units=1, k=1), ScanConfig(m=8, units=4, k=10), ScanConfig(m=16, units=1, k=10),
           ScanConfig(m=16, units=4, k=10, l1=3), ScanConfig(m=32, units=4, k=100),
           ScanConfig(m=8, units=3, k=7, l1=2, id_bits=20)]


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: c.name)
def test_scan_unit_matches_golden(cfg):
    rng = np.random.default_rng(cfg.m * 100 + cfg.units * 10 + cfg.k)
    qs = [random_query(cfg, rng, n_lists=int(rng.integers(1, 4)), max_codes=40, ties=bool(j % 2))
          for j in range(4)]
    sim = PyrtlScanSim(cfg)
    host = sim.run(ScanHost(cfg, qs, rng, idle_prob=0.2, stall_prob=0.3))
    assert host.check() == []
    assert len(host.records) == len(qs)


def test_empty_query_and_empty_lists():
    cfg = ScanConfig(m=8, units=4, k=5)
    rng = np.random.default_rng(0)
    empty = Query(np.zeros((0, 8, 256), np.int32), np.zeros(0, np.int64), np.zeros((0, 8), np.uint8),
                  np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64))
    q = random_query(cfg, rng, n_lists=3, max_codes=6)
    q.ends[0] = q.starts[0]  # first list empty
    q.starts[1:] = q.starts[1:]  # (lists stay contiguous)
    host = PyrtlScanSim(cfg).run(ScanHost(cfg, [empty, q], rng))
    assert host.check() == []
    assert host.records[0].dists == [-1] * 5


@pytest.mark.parametrize("phase", ["beats", "results"])
def test_reset_in_the_middle_of_a_query(phase):
    cfg = ScanConfig(m=8, units=4, k=10)
    rng = np.random.default_rng(7)
    qs = [random_query(cfg, rng, 2, 40) for _ in range(3)]
    sim = PyrtlScanSim(cfg)
    host = ScanHost(cfg, qs, rng, idle_prob=0.1, stall_prob=0.2)
    # reset while the second query has codes in flight / results half read
    sim.run(host, reset_when=lambda h: h.q == 1 and h.phase == phase and (h.beat >= 3 or len(h.rec.dists) >= 3))
    assert sim.reset_phase == phase
    assert host.check() == [] and len(host.records) == 3


def test_broken_adder_tree_is_caught():
    """An off-by-one in one adder-tree case (a test-only sub-generator) makes the harness fail."""
    cfg = ScanConfig(m=8, units=2, k=10)

    def off_by_one(a, b):  # wrong only when both low bits are 1
        return a + b + (a[0] & b[0])

    rng = np.random.default_rng(1)
    qs = [random_query(cfg, rng, 2, 30) for _ in range(2)]
    good = PyrtlScanSim(cfg).run(ScanHost(cfg, qs, np.random.default_rng(2)))
    bad = PyrtlScanSim(cfg, adder=off_by_one).run(ScanHost(cfg, qs, np.random.default_rng(2)))
    assert good.check() == []
    assert bad.check() != []


@pytest.mark.parametrize("cfg", [ScanConfig(m=8, units=4, k=100), ScanConfig(m=16, units=1, k=100)],
                         ids=lambda c: c.name)
def test_steady_state_throughput_is_u_codes_per_cycle(cfg):
    """No idle cycles offered: every beat is accepted the cycle it is offered (K-selection never stalls),
    so a list of n codes takes exactly ceil(n/U) cycles; flush-to-done is a constant of the config."""
    rng = np.random.default_rng(3)
    qs = [random_query(cfg, rng, 2, 400) for _ in range(2)]
    host = PyrtlScanSim(cfg).run(ScanHost(cfg, qs, rng))
    assert host.check() == []
    for q, r in zip(qs, host.records):
        beats = sum(-(-int(e - s) // cfg.units) for s, e in zip(q.starts, q.ends))
        assert r.stalls == 0 and r.beat_cycles == beats
    tails = {r.done_cycle - r.flush_cycle for r in host.records}
    assert len(tails) == 1

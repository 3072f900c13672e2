"""hwrag plan: the frontiers equal brute force, the workload figures follow from the modeled retrieval by the
stated formulas (tik-tok, TTFT, TPOT, p95), cost data and chips are as cited, node counts are the fewest that
fit, workloads load from presets and files with clear errors, targets nothing meets are named."""
import json
import math
import random

import pytest

from hwsim import plan_costs, ralm
from hwsim.nodes import MemoryNode, node_slice
from hwsim.plan import (LMS, OBJECTIVES, PRESETS, Config, Datastore, PlanPoint, RalmWorkload, Retrieval, Targets, chips, cpu_fits, derive,
                        evaluate, load_workload, min_nodes, pareto, plan, space, unmet_targets, with_targets)
from hwsim.power import SocketPower
from hwsim.workload import make_pool
from ivfpq.errors import HwragError


def _brute_force(points, objective="chip"):
    attr = OBJECTIVES[objective]
    fit = [p for p in points if p.fits and getattr(p, attr) is not None]

    def beats(q, p):
        a, b = (q.retrieval_latency_s, getattr(q, attr)), (p.retrieval_latency_s, getattr(p, attr))
        return a[0] <= b[0] and a[1] >= b[1] and a != b

    return [p for p in fit if not any(beats(q, p) for q in fit)]


def _pt(lat, tps, chips_=2, fits=True, power=None, price=None):
    return PlanPoint("cpu", 1, 8, "serial", chips_, lat, lat, lat, lat, lat, lat, tps, 0.0, power, price, "", fits,
                     True, "")


def _key(p):
    return (p.retrieval_latency_s, p.tokens_per_s, p.chips, p.power_w or -1.0, p.price_usd or -1.0)


def test_frontier_equals_brute_force_on_random_sets():
    rng = random.Random(0)
    for _ in range(300):
        pts = [_pt(rng.choice([1.0, 2.0, 3.0, rng.random()]), rng.choice([10.0, 20.0, rng.random() * 30]),
                   rng.choice([1, 2, 3]), rng.random() > 0.1, rng.choice([None, 100.0, 250.0]),
                   rng.choice([None, 1000.0, 2582.0])) for _ in range(rng.randint(1, 12))]
        for o in OBJECTIVES:
            assert sorted(map(_key, pareto(pts, o))) == sorted(map(_key, _brute_force(pts, o)))


@pytest.fixture(scope="module")
def small():
    """A small modeled space: the CPU and FPGA-GPU systems, serial and tik-tok (3 batches per figure)."""
    w = with_targets(PRESETS["dec-s"], 60.0, None)
    return w, evaluate(w, ("cpu", "fpga-gpu"), samples=3)


def test_frontiers_of_a_modeled_space_equal_brute_force(small):
    w, pts = small
    assert len(pts) == (2 + 3) * 2          # cpu at 8 / 16 cores, fpga-gpu at 1 / 2 / 4 nodes; x 2 overlap modes
    for o in OBJECTIVES:
        assert sorted(map(_key, pareto(pts, o))) == sorted(map(_key, _brute_force(pts, o)))
    assert pareto(pts, "dollar") and all(p.system == "cpu" for p in pareto(pts, "dollar"))  # only CPUs are priced
    for p in pts:                                            # the target decides "meets"
        assert p.meets == (p.fits and p.retrieval_latency_s <= 0.060)


def test_forked_workers_give_the_same_figures():
    w = PRESETS["dec-s"]
    one = evaluate(w, ("cpu", "pim-dimm"), ("serial",), samples=2)
    assert evaluate(w, ("cpu", "pim-dimm"), ("serial",), samples=2, workers=2) == one


def test_workload_figures_follow_from_the_retrieval():
    """derive() on hand-made retrieval figures against the formulas written out here."""
    w = with_targets(PRESETS["encdec-s"], None, None, tpot_ms=1e9)       # interval 8, batch 64
    configs = [Config("cpu", "gpu", 1, 8, "serial"), Config("fpga", "gpu", 2, 8, "tiktok")]
    r = {("cpu", "gpu", 1, 8, 64): Retrieval(0.050, 0.080, 0.002, 1.0, "scan", True, "c"),
         ("fpga", "gpu", 2, 8, 32): Retrieval(0.010, 0.020, 0.001, 0.5, "nodes", True, "f")}
    serial, tik = derive(w, configs, r)
    m = LMS["encdec-s"]
    step, enc = ralm.step_s(m, 64)["step_s"], ralm.encode_s(m, 64)
    assert serial.tokens_per_s == pytest.approx(64 * 8 / (8 * step + 0.052 + enc))
    assert serial.tpot_p95_s == pytest.approx((8 * step + 0.082 + enc) / 8)
    assert serial.ttft_s == pytest.approx(step + 0.052 + enc)
    s2, e2 = ralm.step_s(m, 32)["step_s"], ralm.encode_s(m, 32)
    assert tik.tpot_s == pytest.approx(max(2 * 8 * s2, 8 * s2 + 0.011 + e2) / 8)
    assert tik.tokens_per_s == pytest.approx(64 / tik.tpot_s)
    assert tik.chips == 1 + 1 + 2 and tik.power_w == pytest.approx(
        SocketPower().watts(1) + 183.31 + 2 * 36.5) and tik.price_usd is None
    assert serial.price_usd == 1083 + 1499 and serial.power_w == pytest.approx(SocketPower().watts(8) + 183.31)
    assert serial.energy_per_token_J == pytest.approx(serial.power_w / serial.tokens_per_s)


def test_p95_targets_check_the_p95_figures():
    p = _pt(0.010, 100.0)
    p = PlanPoint(**{**p.__dict__, "retrieval_latency_p95_s": 0.030, "tpot_p95_s": 0.040, "tpot_s": 0.020})
    assert unmet_targets(p, Targets(retrieval_latency_s=0.020)) == []
    assert unmet_targets(p, Targets(retrieval_latency_s=0.020, percentile="p95")) == ["retrieval_latency_s"]
    assert unmet_targets(p, Targets(tokens_per_s=60.0, percentile="p95")) == ["tokens_per_s"]   # 100 x 20 / 40
    assert unmet_targets(p, Targets(tokens_per_s=60.0)) == []


def test_cost_data_and_chips():
    assert chips("cpu", 1, 8) == 1 + 1                        # one socket, the LM's GPU
    assert chips("cpu-gpu", 1, 32) == 2 + 1
    assert chips("fpga-gpu", 4, 8) == 1 + 1 + 4               # coordinator socket, GPU, four FPGAs
    assert chips("upmem-cpu", 2, 8) == 1 + 1 + 2
    assert plan_costs.power_w("pim-dimm", "gpu", 1, 8, 512, 32) is None
    assert plan_costs.price_usd({"epyc-7313": 2, "rtx-3090": 1}) == 2 * 1083 + 1499
    assert plan_costs.price_usd({"epyc-7313": 1, "alveo-u250": 1}) is None
    for c in plan_costs.COMPONENTS.values():                  # every price is dated and sourced, or says why not
        assert c.price_source and c.power_source and (c.price_usd is None or c.price_date)


def test_node_counts_are_the_fewest_that_fit():
    w = PRESETS["dec-s"]
    pool = make_pool(w.spec())
    for scan in ("fpga", "pim-hbm"):
        n0 = min_nodes(scan, w, pool)
        acc = MemoryNode(scan).accelerator(512, 32)
        acc.check_shard(32, int(node_slice(pool.list_sizes, n0).sum()))
        if n0 > 1:
            with pytest.raises(HwragError):
                acc.check_shard(32, int(node_slice(pool.list_sizes, n0 // 2).sum()))
        assert sorted({c.nodes for c in space(w, (f"{scan}-gpu" if scan == "fpga" else scan,), pool=pool)}) == \
            [n0, 2 * n0, 4 * n0]
    assert cpu_fits(w, 8)
    huge = RalmWorkload("x", datastore=Datastore(ntotal=2 * 10 ** 11))
    assert not cpu_fits(huge, 8) and cpu_fits(huge, 32)       # 8e12 bytes of codes and ids: over one 4 TiB socket


def test_workload_files_and_errors(tmp_path):
    f = tmp_path / "mine.toml"
    f.write_text('lm = "encdec-s"\ninterval = 64\nbatch = 32\n[datastore]\nntotal = 100000000\nd = 512\nM = 32\n'
                 '[targets]\ntpot_s = 0.05\nttft_s = 0.2\npercentile = "p95"\n')
    w = load_workload(str(f))
    assert (w.name, w.lm, w.interval, w.batch, w.datastore.ntotal, w.targets.tpot_s, w.targets.percentile) == \
        ("mine", "encdec-s", 64, 32, 10 ** 8, 0.05, "p95")
    (tmp_path / "j.json").write_text(json.dumps({"lm": "dec-l", "datastore": {"d": 1024, "M": 64}}))
    assert load_workload(str(tmp_path / "j.json")).datastore.M == 64
    assert load_workload("smollm2-135m").datastore.d == 576 and LMS["smollm2-135m"].layers == 30
    for text, msg in (('lm = "dec-s"\n[datastore]\nvectors = 5\n', "unknown key 'vectors' in \\[datastore\\]; accepted: M, d, k"),
                      ('lm = "gpt-9"\n', "unknown lm 'gpt-9'; accepted: dec-s"),
                      ('[datastore]\nd = 100\nM = 32\n', "multiple of M"),
                      ('[targets]\npercentile = "p99"\n', "unknown percentile 'p99'; accepted: median, p95"),
                      ('[targets]\ntpot_s = -1\n', "tpot_s must be a positive number"),
                      ('datastore = 5\n', "\\[datastore\\] must be a table")):
        (tmp_path / "bad.toml").write_text(text)
        with pytest.raises(HwragError, match=msg):
            load_workload(str(tmp_path / "bad.toml"))
    with pytest.raises(HwragError, match="neither a preset"):
        load_workload("no-such-workload")


def test_a_datastore_nothing_holds_is_named():
    w = RalmWorkload("huge", datastore=Datastore(ntotal=10 ** 14))
    r = plan(w, ("cpu", "fpga-gpu"), ("serial",), samples=1)
    assert {(p["system"], p["nodes"], p["fits"]) for p in r["points"]} == \
        {("cpu", 1, False), ("fpga-gpu", 1, False)}        # no node count up to MAX_NODES holds it: one, unfit
    assert r["choice"] is None and r["unmet"].startswith("no configuration holds the datastore")


def test_unmeetable_targets_are_named():
    r = plan(with_targets(PRESETS["dec-s"], 0.001, None, tpot_ms=0.5), ("cpu",), ("serial",), samples=3)
    assert r["choice"] is None and r["figures"] == "modeled"
    assert r["unmet"].startswith("retrieval latency target 0.001 ms (median): the best point reaches")
    assert "TPOT target 0.5 ms (median)" in r["unmet"]
    assert math.isclose(r["frontiers"]["chip"][0]["tokens_per_s_per_chip"], r["frontier"][0]["tokens_per_s_per_chip"])
    assert r["cost_data"]["epyc-7313"]["price_usd"] == 1083

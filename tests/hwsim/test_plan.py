"""hwrag plan: the frontier equals brute force, workloads load from presets and files with clear errors, chips are
counted as stated, targets nothing meets are named."""
import json
import random

import pytest

from hwsim.plan import (PRESETS, PlanPoint, chips, evaluate, load_workload, pareto, plan, space, with_targets)
from ivfpq.errors import HwragError


def _brute_force(points):
    fit = [p for p in points if p.fits]
    return sorted((p for p in fit if not any(
        (q.retrieval_latency_s <= p.retrieval_latency_s and q.tokens_per_s_per_chip >= p.tokens_per_s_per_chip)
        and (q.retrieval_latency_s < p.retrieval_latency_s or q.tokens_per_s_per_chip > p.tokens_per_s_per_chip)
        for q in fit)), key=lambda p: p.retrieval_latency_s)


def _pt(lat, tps, chips_=2, fits=True):
    return PlanPoint("cpu", 1, 8, chips_, lat, tps, 0.0, "", fits, True, "")


def test_frontier_equals_brute_force_on_random_sets():
    rng = random.Random(0)
    for _ in range(200):
        pts = [_pt(rng.choice([1.0, 2.0, 3.0, rng.random()]), rng.choice([10.0, 20.0, rng.random() * 30]),
                   rng.choice([1, 2, 3]), rng.random() > 0.1) for _ in range(rng.randint(1, 12))]
        got = pareto(pts)
        want = _brute_force(pts)
        key = lambda p: (p.retrieval_latency_s, p.tokens_per_s_per_chip)  # noqa: E731
        assert sorted(map(key, got)) == sorted(map(key, want))


def test_frontier_of_a_modeled_space_equals_brute_force():
    w = with_targets(PRESETS["dec-s"], 40.0, None)
    pts = evaluate(w, space(("cpu", "fpga-gpu")), samples=3)
    assert len(pts) == 2 + 3                                 # cpu at 8 / 16 cores, fpga-gpu at 1 / 2 / 4 nodes
    assert [(p.system, p.nodes) for p in pareto(pts)] == [(p.system, p.nodes) for p in _brute_force(pts)]
    for p in pts:                                            # the target decides "meets"
        assert p.meets == (p.fits and p.retrieval_latency_s <= 0.040)


def test_chips_as_counted():
    assert chips("cpu", 1, 8) == 1 + 1                        # one socket, the LM's GPU
    assert chips("cpu-gpu", 1, 16) == 1 + 1
    assert chips("fpga-gpu", 4, 8) == 1 + 1 + 4               # coordinator socket, GPU, four FPGAs
    assert chips("upmem", 2, 32) == 2 + 1 + 2


def test_workload_files_and_errors(tmp_path):
    f = tmp_path / "mine.toml"
    f.write_text('lm = "encdec-s"\ninterval = 64\nbatch = 32\n[datastore]\nntotal = 100000000\nd = 512\nM = 32\n'
                 '[targets]\nretrieval_latency_s = 0.02\n')
    w = load_workload(str(f))
    assert (w.name, w.lm, w.interval, w.batch, w.datastore.ntotal, w.targets.retrieval_latency_s) == \
        ("mine", "encdec-s", 64, 32, 10 ** 8, 0.02)
    (tmp_path / "j.json").write_text(json.dumps({"lm": "dec-l", "datastore": {"d": 1024, "M": 64}}))
    assert load_workload(str(tmp_path / "j.json")).datastore.M == 64
    (tmp_path / "bad.toml").write_text('lm = "dec-s"\n[datastore]\nvectors = 5\n')
    with pytest.raises(HwragError, match="unknown key 'vectors' in \\[datastore\\]; accepted: M, d, k"):
        load_workload(str(tmp_path / "bad.toml"))
    (tmp_path / "lm.toml").write_text('lm = "gpt-9"\n')
    with pytest.raises(HwragError, match="unknown lm 'gpt-9'; accepted: dec-s"):
        load_workload(str(tmp_path / "lm.toml"))
    with pytest.raises(HwragError, match="neither a preset"):
        load_workload("no-such-workload")
    (tmp_path / "shape.toml").write_text('[datastore]\nd = 100\nM = 32\n')
    with pytest.raises(HwragError, match="multiple of M"):
        load_workload(str(tmp_path / "shape.toml"))


def test_unmeetable_target_is_named_and_cli_writes_files(tmp_path, capsys):
    from hwrag.cli import main

    r = plan(with_targets(PRESETS["dec-s"], 0.001, None), ("cpu", "fpga-gpu"), samples=3)
    assert r["choice"] is None and r["unmet"].startswith("retrieval latency target 0.001 ms")
    assert main(["plan", "dec-s", "--systems", "cpu", "fpga-gpu", "--latency-ms", "1000", "--out", str(tmp_path),
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["choice"]["meets"] and out["figures"] == "modeled"
    assert (tmp_path / "plan.json").is_file() and (tmp_path / "plan.png").is_file()
    assert main(["plan", "dec-s", "--systems", "gpu"]) == 2
    assert "accepted: cpu" in capsys.readouterr().err

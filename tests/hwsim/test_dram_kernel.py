"""One DRAM kernel under test: the production loops against the timing helpers.

The named timing tests (test_dram_timing.py) drive :func:`hwsim.dram.steps.earliest` and
:func:`hwsim.dram.steps.issue` through :class:`TimingHarness`. Both controllers issue through those
steps; to pick a command they also keep the same timing split into a cached bank-group + bank part
and a per-rank channel + rank part. Here both
controller structures run random command streams with their command log on, and every command they
issued is replayed through the helpers: the earliest legal cycle the controller computed for it must
equal the helpers' answer, and it must not issue before that cycle."""
import numpy as np
import pytest

from hwsim.dram import ControllerConfig, DramSystem, get_preset
from hwsim.dram import core
from hwsim.dram.harness import TimingHarness
from hwsim.dram.timing import CMD_NAMES

PRESETS = ["HBM2_2Gbps", "HBM2_8Gb_x128", "HBM3_6400", "DDR4_3200AA", "DDR4_8Gb_x8_3200", "DDR5_4800AN"]


def _stream(spec, n, seed):
    """Random traffic with row locality (a few hot rows per bank), 40 % writes, bursty arrivals, a
    stretch long enough to see refreshes."""
    rng = np.random.default_rng(seed)
    cap, tx = spec.capacity_bytes, spec.tx_bytes
    hot = rng.integers(0, cap // tx, 16) * tx
    a = np.where(rng.random(n) < 0.5, hot[rng.integers(0, 16, n)] + rng.integers(0, 8, n) * tx,
                 rng.integers(0, cap // tx, n) * tx).astype(np.uint64) % np.uint64(cap)
    w = rng.random(n) < 0.4
    gap = max(1, spec.timing["REFI"] // 50)
    arr = np.cumsum(rng.integers(0, gap, n) * (rng.random(n) < 0.3)).astype(np.int64)
    return a, w, arr


def _controllers(spec):
    refs = ["allbank", "none"] + (["perbank"] if spec.per_bank_refresh else [])
    out = []
    for structure in ("queues", "dramsim3"):
        out.append(ControllerConfig(structure=structure, refresh=refs[-1]))
        out.append(ControllerConfig(structure=structure, page_policy="close", refresh="allbank"))
    out.append(ControllerConfig(scheduler="fcfs"))
    return out


@pytest.mark.parametrize("preset", PRESETS)
def test_issued_commands_agree_with_timing_helpers(preset):
    spec = get_preset(preset)
    for i, ctl in enumerate(_controllers(spec)):
        s = DramSystem(spec, controller=ctl)
        a, w, arr = _stream(spec, 700, seed=i)
        r = s.run(a, w, arr, command_log=50_000)
        log = r.command_log
        assert 0 < len(log) < 50_000
        assert r.counts["RD"] + r.counts["RDA"] + r.counts["WR"] + r.counts["WRA"] > 0
        for u in np.unique(log[:, core.L_UNIT]):
            rows = log[log[:, core.L_UNIT] == u]
            assert (np.diff(rows[:, core.L_T]) >= 0).all()
            helper = TimingHarness(spec).replay(rows)
            bad = np.nonzero(helper != rows[:, core.L_EARLIEST])[0]
            assert bad.size == 0, (ctl, u, [(int(rows[k, core.L_T]), CMD_NAMES[rows[k, core.L_CMD]],
                                              int(rows[k, core.L_EARLIEST]), int(helper[k])) for k in bad[:5]])
            assert (rows[:, core.L_T] >= helper).all(), ctl


def test_log_covers_every_command_kind():
    """The replay above sees column, row and refresh commands of both structures."""
    spec = get_preset("HBM2_2Gbps")
    for structure in ("queues", "dramsim3"):
        for refresh in ("allbank", "perbank"):
            a, w, arr = _stream(spec, 700, seed=3)
            r = DramSystem(spec, controller=ControllerConfig(structure=structure, refresh=refresh)).run(
                a, w, arr, command_log=50_000)
            kinds = {CMD_NAMES[c] for c in np.unique(r.command_log[:, core.L_CMD])}
            assert {"ACT", "PRE", "RD", "WR", "REF" if refresh == "allbank" else "REFpb"} <= kinds, (structure, kinds)


@pytest.mark.parametrize("structure", ["queues", "dramsim3"])
def test_a_stale_compiled_loop_stops(monkeypatch, structure):
    """numba's cache is keyed by a function's own file: a loop compiled before a constant of another
    file changed (the command numbering, the parameter layout) refuses to run instead of using it."""
    from hwsim.dram import bank_queues_layout, layout

    mod = layout if structure == "queues" else bank_queues_layout
    stale = mod.LAYOUT.copy()
    stale[0] += 1  # as if the command numbering had changed since the loop was compiled
    monkeypatch.setattr(mod, "LAYOUT", stale)
    with pytest.raises(AssertionError, match="delete hwsim/dram/__pycache__"):
        DramSystem("DDR4_3200AA", controller=ControllerConfig(structure=structure)).run(
            np.arange(10, dtype=np.uint64) * 64)

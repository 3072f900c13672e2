"""The CPU scan cost's transfer across cores (hwsim.scan_transfer), the replica it is measured with
(bench.scan_replica, checked against numpy), and the per-configuration coordinator windows."""
import ctypes

import numpy as np
import pytest

from hwsim import scan_transfer as st
from hwsim.chameleon_coordinator import CHAMELEON_WINDOWS, windows
from hwsim.cpu import CpuRates
from ivfpq.errors import HwragError


def test_identify_by_cpuid():
    assert st.identify("AuthenticAMD", 25, 0x01) == "zen3"      # EPYC 7003 (Milan)
    assert st.identify("AuthenticAMD", 25, 0x11) == "zen4"      # EPYC 9004 (Genoa)
    assert st.identify("GenuineIntel", 6, 85) == "skylake-sp"
    assert st.identify("GenuineIntel", 6, 143) is None
    with pytest.raises(HwragError, match="unknown microarchitecture 'nope'"):
        st.get("nope")


def test_transfer_to_the_same_core_is_identity():
    z4 = st.get("zen4")
    for full, chain, nochain, M in ((20.5, 19.2, 13.3, 16), (140.0, 131.6, 92.4, 64)):
        out = st.transfer(full, chain, nochain, M, z4, z4.fadd_latency, z4)
        assert out["cycles_per_code"] == pytest.approx(full)


def test_a_sweep_measured_on_the_target_core_is_used_as_measured():
    """Zen 3 to Zen 3 with a measured FP add of 2.9 cycles (not the documented 3): the figure as measured."""
    z3 = st.get("zen3")
    assert st.transfer(131.7, 119.8, 75.9, 64, z3, 2.9, z3)["cycles_per_code"] == 131.7


def test_transfer_hand_computed():
    """M = 64 from Zen 4 to Zen 3: exposed chain (full - nochain = 40) x 3/3 x 320/256 = 50; footprint
    (full - chain = 10, table 64 KB beyond both 32 KB L1s) x 12/14; rest 140 - 40 - 10 = 90."""
    out = st.transfer(140.0, 130.0, 100.0, 64, st.get("zen4"), 3.0, st.get("zen3"))
    assert out["exposed_chain"] == pytest.approx(50.0)
    assert out["table_footprint"] == pytest.approx(10.0 * 12 / 14)
    assert out["rest"] == pytest.approx(90.0)
    # a core with a slower FP add (Skylake-SP: 4 cycles) pays the chain by that ratio and its window
    sk = st.transfer(140.0, 130.0, 100.0, 64, st.get("zen4"), 3.0, st.get("skylake-sp"))
    assert sk["exposed_chain"] == pytest.approx(40.0 * 4 / 3 * 320 / 224)


def test_footprint_share_by_l1():
    assert st.footprint_share(8, 32) == 0.0
    assert st.footprint_share(24, 32) == pytest.approx(0.5)
    assert st.footprint_share(64, 32) == 1.0
    assert st.footprint_share(32, 48) == pytest.approx(1 / 3)


def test_code_cycles_interpolates_in_log_m():
    z4 = st.get("zen4")
    rates = CpuRates({}, {}, (0, 0), "", replica={16: (20.0, 20.0, 20.0), 64: (160.0, 160.0, 160.0)},
                     replica_core="zen4", replica_fadd=z4.fadd_latency)
    assert rates.code_cycles(16, "zen4") == pytest.approx(20.0)
    assert rates.code_cycles(32, "zen4") == pytest.approx(32 * (20 / 16 + 160 / 64) / 2)  # halfway in log2 M
    with pytest.raises(HwragError, match="scan_replica"):
        CpuRates({}, {}, (0, 0), "").code_cycles(16, "zen3")


def test_windows_from_released_configs():
    assert windows(128, 16, 1) == (5, 2)
    assert windows(1024, 64, 2) == (2, 2)
    assert windows(512, 32, 1) == (2, 3)
    assert windows(256, 32, 3) == (5, 2)   # a shape Chameleon did not run: the SIFT configuration's
    assert all(q >= 1 and b >= 1 for q, b in CHAMELEON_WINDOWS.values())


def test_replica_computes_the_table_scan():
    """The C replica's three loops against numpy: the least distance over the codes and how many times the
    running minimum fell (the compare against the heap's worst)."""
    from bench.scan_replica import library

    lib = library()
    rng = np.random.default_rng(3)
    M, n = 16, 500
    codes = rng.integers(0, 256, n * M, dtype=np.uint8)
    table = rng.standard_normal(M * 256).astype(np.float32)
    dis = table.reshape(M, 256)[np.arange(M), codes.reshape(n, M)].astype(np.float64).sum(axis=1) + 0.5
    hits = ctypes.c_int64()
    got = lib.scan_full(codes.ctypes.data, n, M, table.ctypes.data, 0.5, 1e30, ctypes.byref(hits))
    assert got == pytest.approx(dis.min(), rel=1e-5)
    assert hits.value == int((np.minimum.accumulate(dis) < np.r_[np.inf, np.minimum.accumulate(dis)[:-1]]).sum())
    got = lib.scan_nochain(codes.ctypes.data, n, M, table.ctypes.data, 0.5, 1e30, ctypes.byref(hits))
    assert got == pytest.approx(dis.min(), rel=1e-5)
    row = table[:256].astype(np.float64)[codes.reshape(n, M)].sum(axis=1) + 0.5
    got = lib.scan_chain(codes.ctypes.data, n, M, table.ctypes.data, 0.5, 1e30, ctypes.byref(hits))
    assert got == pytest.approx(row.min(), rel=1e-5)
    assert lib.fadd_chain(10, 0.0, 0.5) == pytest.approx(5.0)


def _sweep(core_fadd, rows):
    return {"fadd_latency_cycles": core_fadd, "sweep": [
        {"M": M, "full_cycles_per_code": f, "chain_cycles_per_code": c, "nochain_cycles_per_code": n}
        for M, f, c, n in rows]}


def test_cross_host_reference_is_the_target_cores_own_measurement():
    """Hand-computed: a Zen 3 file is the reference for target zen3 (moved by identity at its own FP add
    latency); a Zen 4 file's M = 64 row moves as in test_transfer_hand_computed."""
    from hwsim.rates import RatesFile

    z4 = RatesFile({"microarchitecture": "zen4"}, "2026-12-01", {"scan_replica": _sweep(3.0, [(64, 140.0, 130.0, 100.0)])})
    z3 = RatesFile({"microarchitecture": "zen3"}, "2026-12-02", {"scan_replica": _sweep(3.0, [(64, 130.0, 120.0, 90.0)])})
    other = RatesFile({"microarchitecture": None}, "2026-12-03", {"scan_replica": _sweep(3.0, [(64, 1.0, 1.0, 1.0)])})
    rows = st.cross_host([z4, z3, other], "zen3")
    assert [r["core"] for r in rows] == ["zen4", "zen3"]          # an unknown core cannot be moved: left out
    ref, moved = rows[1], rows[0]
    assert ref["reference"] and ref["moved"][64] == pytest.approx(130.0)
    want = 90.0 + 50.0 + 10.0 * 12 / 14
    assert moved["moved"][64] == pytest.approx(want)
    assert moved["deviation"][64] == pytest.approx(want / 130.0 - 1)


def test_stored_replica_sweeps_agree_across_hosts_within_the_band():
    """The transfer's own check on the stored measurements: every machine's sweep, moved to the EPYC's Zen 3,
    within CROSS_HOST_BAND of the sweep measured on a Zen 3 core (independent measurements on other CPUs)."""
    from hwsim.cpu import EPYC_7313
    from hwsim.rates import load_all

    target = EPYC_7313.microarchitecture
    rows = st.cross_host(load_all(), target)
    if len({r["core"] for r in rows}) < 2 or not any(r["core"] == target for r in rows):
        pytest.skip("the stored sweeps come from one kind of core, or none from Zen 3: nothing to cross-check")
    for r in rows:
        for M, dev in r["deviation"].items():
            assert abs(dev) <= st.CROSS_HOST_BAND, (r["file"], M, dev)

"""Named timing tests (Ramulator 2.1 tests/device_timings style): for every constraint and preset,
the following command is illegal at t-1 and legal at t, exact on both sides.

The oracle below restates each constraint from its source (Ramulator 2.1 python/ramulator/dram/*.py
tables, JEDEC; rank switch from DRAMsim3 src/timing.cc) independently of hwsim.dram.timing, and the
expected cycle of a (preceding, relation, following) triple is the maximum over every rule that
applies to that relation, plus the command bus (one command per bus per cycle)."""
import pytest

from hwsim.dram import get_preset
from hwsim.dram.harness import TimingHarness
from hwsim.dram.timing import ACT, PRE, PREA, RD, RDA, REF, REFPB, WR, WRA

PRESETS = ["HBM2_2Gbps", "HBM2_8Gb_x128", "HBM3_6400", "DDR4_3200AA", "DDR4_8Gb_x8_3200", "DDR5_4800AN"]
RDs, WRs = (RD, RDA), (WR, WRA)
ROW = (ACT, PRE, PREA, REF, REFPB)

# scope: where the rule applies relative to the preceding command's target
#   bank: same bank only; bg: same bank group; rank: same rank; other: other ranks; chan: everything
RULES = [
    ("data bus RD->RD", "chan", RDs, RDs, lambda p: p["BL"]),
    ("data bus WR->WR", "chan", WRs, WRs, lambda p: p["BL"]),
    ("tCCD_S RD->RD", "rank", RDs, RDs, lambda p: p["CCD_S"]),
    ("tCCD_S WR->WR", "rank", WRs, WRs, lambda p: p["CCD_S_WR"]),
    ("tRTW RD->WR", "rank", RDs, WRs, lambda p: p["RTW"]),
    ("tWTR_S WR->RD", "rank", WRs, RDs, lambda p: p["CWL"] + p["BL"] + p["WTR_S"]),
    ("tRTP RD->PREA", "rank", (RD,), (PREA,), lambda p: p["RTP"]),
    ("tWR WR->PREA", "rank", (WR,), (PREA,), lambda p: p["CWL"] + p["BL"] + p["WR"]),
    ("tRRD_S ACT->ACT", "rank", (ACT,), (ACT,), lambda p: p["RRD_S"]),
    ("tRAS ACT->PREA", "rank", (ACT,), (PREA,), lambda p: p["RAS"]),
    ("tRP PREA->ACT", "rank", (PREA,), (ACT,), lambda p: p["RP"]),
    ("tPPD PRE->PRE", "rank", (PRE, PREA), (PRE, PREA), lambda p: p["PPD"]),
    ("tRC ACT->REF", "rank", (ACT,), (REF,), lambda p: p["RC"]),
    ("tRP PRE->REF", "rank", (PRE, PREA), (REF,), lambda p: p["RP"]),
    ("tRTP+tRP RDA->REF", "rank", (RDA,), (REF,), lambda p: p["RTP"] + p["RP"]),
    ("tWR+tRP WRA->REF", "rank", (WRA,), (REF,), lambda p: p["CWL"] + p["BL"] + p["WR"] + p["RP"]),
    ("tRFC REF->ACT", "rank", (REF,), (ACT, PREA, REF, REFPB), lambda p: p["RFC"]),
    ("tRREFD REFpb->ACT", "rank", (REFPB,), (ACT, REFPB), lambda p: p["RREFD"]),
    ("tRRD_S ACT->REFpb", "rank", (ACT,), (REFPB,), lambda p: p["RRD_S"]),
    ("rank switch RD->RD", "other", RDs, RDs, lambda p: p["BL"] + p["CS"]),
    ("rank switch RD->WR", "other", RDs, WRs, lambda p: max(p["CL"] + p["BL"] + p["CS"] - p["CWL"], p["BL"] + p["CS"])),
    ("rank switch WR->RD", "other", WRs, RDs, lambda p: max(p["CWL"] + p["BL"] + p["CS"] - p["CL"], 1)),
    ("rank switch WR->WR", "other", WRs, WRs, lambda p: p["BL"] + p["CS_WW"]),
    ("tCCD_L RD->RD", "bg", RDs, RDs, lambda p: p["CCD_L"]),
    ("tCCD_L WR->WR", "bg", WRs, WRs, lambda p: p["CCD_L_WR"]),
    ("tWTR_L WR->RD", "bg", WRs, RDs, lambda p: p["CWL"] + p["BL"] + p["WTR_L"]),
    ("tRRD_L ACT->ACT", "bg", (ACT,), (ACT,), lambda p: p["RRD_L"]),
    ("tRC ACT->ACT", "bank", (ACT,), (ACT,), lambda p: p["RC"]),
    ("tRCDRD ACT->RD", "bank", (ACT,), RDs, lambda p: p["RCDRD"]),
    ("tRCDWR ACT->WR", "bank", (ACT,), WRs, lambda p: p["RCDWR"]),
    ("tRAS ACT->PRE", "bank", (ACT,), (PRE,), lambda p: p["RAS"]),
    ("tRP PRE->ACT", "bank", (PRE,), (ACT,), lambda p: p["RP"]),
    ("tRTP RD->PRE", "bank", (RD,), (PRE,), lambda p: p["RTP"]),
    ("tWR WR->PRE", "bank", (WR,), (PRE,), lambda p: p["CWL"] + p["BL"] + p["WR"]),
    ("tRTP+tRP RDA->ACT", "bank", (RDA,), (ACT, REFPB), lambda p: p["RTP"] + p["RP"]),
    ("tWR+tRP WRA->ACT", "bank", (WRA,), (ACT, REFPB), lambda p: p["CWL"] + p["BL"] + p["WR"] + p["RP"]),
    ("tRFCpb REFpb->ACT", "bank", (REFPB,), (ACT,), lambda p: p["RFCpb"]),
    ("tRC ACT->REFpb", "bank", (ACT,), (REFPB,), lambda p: p["RC"]),
    ("tRP PRE->REFpb", "bank", (PRE,), (REFPB,), lambda p: p["RP"]),
]
# which relations each scope covers (relations: bank, bg = same bank group other bank,
# rank = same rank other bank group, other = other rank)
COVERS = {"bank": {"bank"}, "bg": {"bank", "bg"}, "rank": {"bank", "bg", "rank"},
          "other": {"other"}, "chan": {"bank", "bg", "rank", "other"}}
# the relation a scope's rule is tested on (the least specific one it covers)
TEST_REL = {"bank": "bank", "bg": "bg", "rank": "rank", "other": "other", "chan": "other"}


def _applies(spec, p, n):
    if REFPB in (p, n) and not spec.per_bank_refresh:
        return False
    return True


def expected_gap(spec, p, rel, n):
    t = spec.timing
    gap = 0
    for _, scope, pre, fol, lat in RULES:
        if p in pre and n in fol and rel in COVERS[scope] and _applies(spec, p, n):
            gap = max(gap, lat(t))
    # rank-level commands (PREA, REF) act on the whole rank: bank/bg rules do not reach them, but
    # every bank's rules do
    same_bus = (p in ROW) == (n in ROW)
    if same_bus or not spec.dual_command_bus:
        gap = max(gap, 1)
    return gap


def _target(spec, rel):
    if rel == "bank":
        return (0, 0, 0)
    if rel == "bg":
        return (0, 0, 1)
    if rel == "rank":
        return (0, 1, 0)
    return (1, 0, 0)


def _cases():
    """Only the (preset, constraint) pairs the standard has: no rank switching on one-rank presets,
    no REFpb where the standard lacks per-bank refresh, no tPPD where it is zero."""
    for name in PRESETS:
        spec = get_preset(name)
        for rule in RULES:
            if rule[1] == "other" and spec.org["ranks"] == 1:
                continue
            if any(c == REFPB for c in rule[2] + rule[3]) and not spec.per_bank_refresh:
                continue
            if rule[4](spec.timing) == 0:
                continue
            yield pytest.param(name, rule[0], id=f"{name}-{rule[0]}")


@pytest.mark.parametrize("preset,rule_name", list(_cases()))
def test_named_constraint(preset, rule_name):
    spec = get_preset(preset)
    rule = next(r for r in RULES if r[0] == rule_name)
    _, scope, pre, fol, lat = rule     # _cases() leaves out rules a preset cannot exercise
    rel = TEST_REL[scope]
    if rel == "other" and spec.org["ranks"] == 1:
        rel = "rank"
    checked = 0
    for p in pre:
        for n in fol:
            if not _applies(spec, p, n):
                continue
            if lat(spec.timing) == 0:
                continue  # the standard has no such constraint (e.g. tPPD outside DDR5/HBM3)
            t0 = 1000
            h = TimingHarness(spec)
            h.issue(p, t0, 0, 0, 0)
            r, g, b = _target(spec, rel)
            gap = expected_gap(spec, p, rel, n)
            assert gap >= lat(spec.timing)
            assert not h.legal(n, t0 + gap - 1, r, g, b), (rule_name, p, n, gap)
            assert h.legal(n, t0 + gap, r, g, b), (rule_name, p, n, gap)
            checked += 1
    assert checked > 0, f"{rule_name} checks no command pair in {preset}: leave it out in _cases()"


@pytest.mark.parametrize("preset", PRESETS)
def test_tfaw_window(preset):
    """Four ACTs in four bank groups, then a fifth: legal exactly at max(tFAW after the first,
    tRRD_S after the fourth, tRRD_L after the first (same bank group))."""
    spec = get_preset(preset)
    p = spec.timing
    h = TimingHarness(spec)
    ts = [1000 + i * p["RRD_S"] for i in range(4)]
    for i, t in enumerate(ts):
        h.issue(ACT, t, 0, i % spec.org["bankgroups"], i // spec.org["bankgroups"])
    # fifth ACT in bank group 0 (same group as the first), another bank
    exp = max(ts[0] + p["FAW"], ts[3] + p["RRD_S"], ts[0] + p["RRD_L"], ts[3] + 1)
    assert not h.legal(ACT, exp - 1, 0, 0, 1)
    assert h.legal(ACT, exp, 0, 0, 1)
    if ts[0] + p["FAW"] == exp:
        # the window is what binds here: with only three ACTs before, it would be legal earlier
        h3 = TimingHarness(spec)
        for i, t in enumerate(ts[1:]):
            h3.issue(ACT, t, 0, (i + 1) % spec.org["bankgroups"], 0)
        assert h3.legal(ACT, exp - 1, 0, 0, 1)


def test_faw_binds_somewhere():
    """tFAW is binding (greater than 3 x tRRD_S + tRRD_S) in at least the DDR4/DDR5/HBM3 presets."""
    binding = [n for n in PRESETS if get_preset(n).timing["FAW"] > 4 * get_preset(n).timing["RRD_S"]]
    assert {"DDR4_3200AA", "DDR5_4800AN", "HBM3_6400", "HBM2_8Gb_x128"} <= set(binding)


@pytest.mark.parametrize("preset", PRESETS)
def test_reference_table_values(preset):
    """Preset values against docs/REFERENCE.md § Memory standards (the table the project calibrates to)."""
    ref = {  # CL RCD RP RAS RFC REFI CCD_S CCD_L RRD_S RRD_L FAW
        "HBM2_2Gbps": (14, 14, 14, 34, 350, 3900, 2, 4, 4, 4, 15),
        "HBM2_8Gb_x128": (14, 14, 14, 34, 260, 3900, 1, 2, 4, 6, 30),
        "HBM3_6400": (20, 31, 26, 45, 560, 6240, 2, 4, 4, 5, 24),
        "DDR4_3200AA": (22, 22, 22, 52, 576, 12480, 4, 8, 4, 8, 34),
        "DDR4_8Gb_x8_3200": (22, 22, 22, 52, 560, 12480, 4, 8, 4, 8, 34),
        "DDR5_4800AN": (34, 34, 34, 77, 710, 9375, 8, 12, 8, 12, 48),
    }[preset]
    t = get_preset(preset).timing
    keys = ("CL", "RCDRD", "RP", "RAS", "RFC", "REFI", "CCD_S", "CCD_L", "RRD_S", "RRD_L", "FAW")
    assert tuple(t[k] for k in keys) == ref


def test_every_value_cites_a_source():
    for name in PRESETS:
        s = get_preset(name)
        for k in s.timing:
            assert s.source(k), (name, k)
        for k in s.org:
            assert s.source(f"org.{k}"), (name, k)
        for k in s.energy:
            assert s.source(f"energy.{k}"), (name, k)


def test_derived_timings():
    s = get_preset("DDR4_8Gb_x8_3200")
    assert s.timing["RC"] == 52 + 22 and s.source("RC").startswith("derived")
    d = get_preset("DDR4_3200AA")
    assert d.timing["RTW"] == 22 + 4 + 2 - 16
    assert get_preset("DDR5_4800AN").timing["RTW"] == 34 + 8 + 2 - 32 + 2
    h3 = get_preset("HBM3_6400")
    assert h3.timing["REFIpb"] == 6240 // 16
    # a timing override recomputes what derives from it
    assert s.with_timing(RAS=60).timing["RC"] == 82


@pytest.mark.parametrize("preset", [p for p in PRESETS if get_preset(p).org["ranks"] > 1])
def test_dramsim3_timing_rules_drop_only_the_write_to_write_rank_switch(preset):
    """DRAMsim3 src/timing.cc: write_to_write_o = burst_cycle (no tRTRS), while its read_to_read_o,
    read_to_write_o and write_to_read_o add tRTRS. With ``timing_rules="dramsim3"`` a write to another
    rank is legal BL after a write, exactly; every other derived value and rank switch is unchanged."""
    ram = get_preset(preset)
    d3 = ram.with_timing_rules("dramsim3")
    assert d3.timing["CS_WW"] == 0 and "src/timing.cc" in d3.source("CS_WW") and ram.timing["CS_WW"] == ram.timing["CS"]
    assert {k: v for k, v in d3.timing.items() if k != "CS_WW"} == {k: v for k, v in ram.timing.items() if k != "CS_WW"}
    assert d3.with_timing_rules("ramulator").timing == ram.timing
    for spec, gap in ((d3, d3.timing["BL"]), (ram, ram.timing["BL"] + ram.timing["CS"])):
        assert expected_gap(spec, WR, "other", WR) == gap  # the oracle restates the rule
        for n in WRs:
            h = TimingHarness(spec)
            h.issue(WR, 1000, 0, 0, 0)
            assert not h.legal(n, 1000 + gap - 1, 1, 0, 0) and h.legal(n, 1000 + gap, 1, 0, 0)
        h = TimingHarness(spec)
        h.issue(RD, 1000, 0, 0, 0)  # the read-to-read rank switch keeps tRTRS under both rules
        assert h.earliest(RD, 1, 0, 0) == 1000 + spec.timing["BL"] + spec.timing["CS"]

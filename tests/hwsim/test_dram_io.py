"""Trace parsers, mapping strings, user preset files, CLI."""
import argparse
import json

import numpy as np
import pytest

from hwsim.dram import (AddressMapping, DramSystem, get_preset, load_preset_file, parse_mapping,
                        parse_trace_lines, read_trace, write_trace)
from hwsim.dram.cli import add_dram_parser
from ivfpq.errors import HwragError


def test_dramsim3_trace():
    a, w, t = parse_trace_lines(["0x2000D5C0 READ 30", "# c", "", "0x40 WRITE 31", "64 read 40"])
    assert a.tolist() == [0x2000D5C0, 0x40, 64] and w.tolist() == [False, True, False]
    assert t.tolist() == [30, 31, 40]


def test_ramulator_trace():
    a, w, t = parse_trace_lines(["LD 0x1000", "ST 0x2000", "ld 4096"], arrival_gap=3)
    assert a.tolist() == [0x1000, 0x2000, 4096] and w.tolist() == [False, True, False]
    assert t.tolist() == [0, 3, 6]


@pytest.mark.parametrize("line", ["0x10 FETCH 3", "LD", "0xZZ READ 1", "LD 0x10 7", "0x10 READ"])
def test_bad_trace_lines(line):
    with pytest.raises(HwragError, match="accepted"):
        parse_trace_lines(["LD 0x0", line], origin="t.trc")


def test_trace_roundtrip(tmp_path):
    a = np.array([0, 64, 0x2000D5C0], dtype=np.uint64)
    w = np.array([False, True, False])
    t = np.array([0, 5, 9])
    for fmt in ("dramsim3", "ramulator"):
        p = tmp_path / f"x.{fmt}"
        write_trace(p, a, w, t, fmt)
        a2, w2, t2 = read_trace(p)
        assert a2.tolist() == a.tolist() and w2.tolist() == w.tolist()
        if fmt == "dramsim3":
            assert t2.tolist() == t.tolist()
    with pytest.raises(HwragError, match="not found"):
        read_trace(tmp_path / "missing.trc")
    with pytest.raises(HwragError, match="non-decreasing"):
        parse_trace_lines(["0x0 READ 5", "0x40 READ 4"])


@pytest.mark.parametrize("text,fmt,gap", [
    ("0x2000D5C0 READ 30\n# c\n\n0x40 WRITE 31\n64 read 40\n", "auto", 0),
    ("0x10 READ 0\r\n0xfF write 3\r\n\t0x20   READ   9", "dramsim3", 0),   # CRLF, tabs, no final newline
    ("LD 0x1000\nST 0x2000\nld 4096\n", "ramulator", 3),
    ("LD 0x1000\n0x40 WRITE 31\n", "auto", 0),                              # both formats in one file
])
def test_read_trace_fast_path_agrees_with_line_parser(tmp_path, text, fmt, gap):
    p = tmp_path / "t.trc"
    p.write_bytes(text.encode())
    fast = read_trace(p, fmt, arrival_gap=gap)
    slow = parse_trace_lines(text.splitlines(), fmt, arrival_gap=gap)
    for x, y in zip(fast, slow):
        assert x.dtype == y.dtype and x.tolist() == y.tolist()


@pytest.mark.parametrize("line", ["0x10 FETCH 3", "0xZZ READ 1", "LD 0x10 7", "0x10 READ 0x5", "-5 READ 1",
                                  "0x10 READ 1 2"])
def test_read_trace_bad_line_names_file_and_line(tmp_path, line):
    p = tmp_path / "bad.trc"
    p.write_text(f"0x0 READ 0\n{line}\n")
    with pytest.raises(HwragError, match=rf"bad.trc:2: .*{line.split()[0]}"):
        read_trace(p)


def test_mapping_ramulator_fold_and_roundtrip():
    spec = get_preset("DDR4_3200AA")
    m = AddressMapping.build(spec, "RoBaRaCoCh")  # no Bg: bank group bits sit low inside Ba
    layout = {f: (lo, w) for f, lo, w in m.layout}
    assert m.offset_bits == 6 and layout["co"] == (0, 7) and layout["bg"] == (7, 2)
    assert layout["ba"] == (9, 2) and layout["ro"] == (11, 16)
    assert 2 ** m.address_bits == spec.capacity_bytes
    rng = np.random.default_rng(0)
    for _ in range(50):
        c = dict(ro=int(rng.integers(1 << 16)), bg=int(rng.integers(4)), ba=int(rng.integers(4)),
                 co=int(rng.integers(128)))
        f = m.decode(np.array([m.encode(**c)], dtype=np.uint64))
        assert {k: int(f[k][0]) for k in c} == c


def test_mapping_dramsim3_strings():
    spec = get_preset("DDR4_8Gb_x8_3200")
    m = AddressMapping.build(spec, "rochrababgco")  # DRAMsim3: last field lowest
    layout = {f: (lo, w) for f, lo, w in m.layout}
    assert layout["co"] == (0, 7) and layout["bg"] == (7, 2) and layout["ba"] == (9, 2)
    assert layout["ra"] == (11, 1) and layout["ro"] == (11 + 1, 16)
    h = AddressMapping.build(get_preset("HBM2_8Gb_x128"), "rorabgbachco")
    lay = {f: (lo, w) for f, lo, w in h.layout}
    assert lay["co"] == (0, 5) and lay["ch"] == (5, 3) and h.offset_bits == 6
    # channel bits select the unit
    s = DramSystem("HBM2_8Gb_x128")
    unit, bank, row = s.decode(np.array([h.encode(ch=5, bg=2, ba=1, ro=7)], dtype=np.uint64))
    assert unit[0] == 5 and bank[0] == 2 * 4 + 1 and row[0] == 7


def test_mapping_pseudo_channel_field():
    spec = get_preset("HBM2_2Gbps")
    m = AddressMapping.build(spec, "RoBgBaRaCoPcCh")
    lay = {f: (lo, w) for f, lo, w in m.layout}
    assert lay["ch"] == (0, 3) and lay["pc"] == (3, 1) and lay["co"] == (4, 5)
    s = DramSystem(spec, "RoBgBaRaCoPcCh")
    unit, _, _ = s.decode(np.array([m.encode(ch=3, pc=1)], dtype=np.uint64))
    assert unit[0] == 3 * 2 + 1


@pytest.mark.parametrize("bad,msg", [("RoBaXxCoCh", "unknown field"), ("RoBaRaCoC", "two-letter"),
                                     ("RoRoBaCoCh", "twice"), ("BaRaCoCh", "Ro is required"),
                                     ("RoCoBa", "needs field")])
def test_bad_mappings(bad, msg):
    with pytest.raises(HwragError, match=msg):
        AddressMapping.build(get_preset("HBM2_2Gbps"), bad)
    assert parse_mapping("RoBgBaRaCoCh") == ["ro", "bg", "ba", "ra", "co", "ch"]


def test_preset_lookup():
    assert get_preset("hbm2").name == "HBM2_2Gbps"
    assert get_preset("ddr4_8gb_X8_3200").name == "DDR4_8Gb_x8_3200"
    with pytest.raises(HwragError, match="known: .*DDR4_3200AA"):
        get_preset("LPDDR9")
    assert get_preset("DDR4").with_org(channels=4).peak_bandwidth_gbs == pytest.approx(102.4)
    with pytest.raises(HwragError, match="accepted"):
        get_preset("DDR4").with_org(chanels=4)


def test_user_preset_toml_and_json(tmp_path):
    p = tmp_path / "mine.toml"
    p.write_text('name = "MyDDR4"\nbase = "DDR4_3200AA"\n[org]\nchannels = 2\n[timing]\nCL = 24\n')
    (spec,) = load_preset_file(p)
    assert spec.org["channels"] == 2 and spec.timing["CL"] == 24 and spec.timing["RCDRD"] == 22
    assert spec.source("CL").startswith("user preset") and get_preset("myddr4") is spec
    full = get_preset("HBM3_6400")
    d = {"name": "MyHBM3", "standard": "HBM3", "org": dict(full.org), "per_bank_refresh": True,
         "timing": {k: v for k, v in full.timing.items() if not full.source(k).startswith("derived")},
         "energy": dict(full.energy)}
    j = tmp_path / "mine.json"
    j.write_text(json.dumps({"preset": [d]}))
    (s2,) = load_preset_file(j)
    assert s2.timing == full.timing
    r = DramSystem("MyHBM3").run(np.arange(100, dtype=np.uint64) * 32)
    assert r.completion.size == 100


@pytest.mark.parametrize("text,msg", [
    ('name = "x"\nbase = "DDR4"\nspeed = 3\n', "unknown key.*speed.*accepted: name, standard"),
    ('name = "x"\nbase = "DDR4"\n[timing]\ntCL = 3\n', r"unknown timing key.*tCL.*accepted: tCK_ps"),
    ('name = "x"\nbase = "DDR4"\n[org]\nbanks_per_group = 4\n', "unknown org key.*accepted: channels"),
    ('name = "x"\nstandard = "DDR9"\n', "standard 'DDR9' unknown"),
    ('name = "x"\nstandard = "DDR4"\n[org]\nchannels = 1\n', "missing organisation"),
    ('name = "x"\nbase = "DDR4"\n[org]\nchannels = 3\n', "power of two"),
    ('name = "x" base', "cannot parse"),
])
def test_user_preset_bad(tmp_path, text, msg):
    p = tmp_path / "bad.toml"
    p.write_text(text)
    with pytest.raises(HwragError, match=msg):
        load_preset_file(p)


def _cli(argv):
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="command", required=True)
    add_dram_parser(sub)
    args = ap.parse_args(argv)
    return args.func(args)


def test_cli_run_and_sweep(tmp_path, capsys):
    t = tmp_path / "t.trc"
    write_trace(t, np.arange(200, dtype=np.uint64) * 64, np.arange(200) % 4 == 0, np.arange(200) * 3)
    assert _cli(["dram", "run", "--preset", "DDR4", "--trace", str(t), "--json"]) == 0
    st = json.loads(capsys.readouterr().out)
    assert st["requests"] == 200 and st["figures"] == "modeled" and st["commands"]["WR"] == 50
    assert _cli(["dram", "run", "--preset", "hbm2", "--trace", str(t), "--mapping", "RoBgBaRaCoCh"]) == 0
    out = capsys.readouterr().out
    assert "bandwidth GB/s (modeled)" in out and "read latency from queue entry" in out
    assert _cli(["dram", "run", "--preset", "DDR4_8Gb_x8_3200", "--trace", str(t), "--structure", "dramsim3",
                 "--json"]) == 0
    st = json.loads(capsys.readouterr().out)
    assert st["controller"]["structure"] == "dramsim3" and st["commands"]["WR"] == 50
    # posted writes complete one cycle after queue entry; reads wait at least CL + BL after it
    assert st["write_latency_from_queue_entry_cycles"]["max"] == 1
    assert st["read_latency_from_queue_entry_cycles"]["min"] >= 22 + 4
    assert st["read_latency_from_arrival_cycles"]["mean"] >= st["read_latency_from_queue_entry_cycles"]["mean"]
    assert st["timing_rules"] == "ramulator"
    # DRAMsim3's timing rules (no rank-switch gap between writes): writes to alternating ranks go faster
    a, w = np.arange(400, dtype=np.uint64) * 64, np.ones(400, dtype=bool)
    write_trace(t, a, w, np.zeros(400, dtype=np.int64))
    cyc = {}
    for rules in ("ramulator", "dramsim3"):
        assert _cli(["dram", "run", "--preset", "DDR4_8Gb_x8_3200", "--trace", str(t), "--timing-rules", rules,
                     "--mapping", "RoBgBaCoRaCh", "--json"]) == 0
        st = json.loads(capsys.readouterr().out)
        assert st["timing_rules"] == rules
        cyc[rules] = st["cycles"]
    assert cyc["dramsim3"] < cyc["ramulator"]
    assert _cli(["dram", "sweep", "--preset", "DDR4", "--requests", "500", "--points", "3",
                 "--out", str(tmp_path / "o")]) == 0
    assert (tmp_path / "o" / "dram_sweep_DDR4_3200AA_random.png").stat().st_size > 1000
    doc = json.loads((tmp_path / "o" / "dram_sweep_DDR4_3200AA_random.json").read_text())
    assert len(doc["points"]) == 3
    assert _cli(["dram", "presets"]) == 0
    with pytest.raises(HwragError, match="unknown DRAM preset"):
        _cli(["dram", "run", "--preset", "nope", "--trace", str(t)])
    with pytest.raises(HwragError, match="not found"):
        _cli(["dram", "run", "--trace", str(tmp_path / "none")])


def test_hwrag_dram_process_loads_only_what_it_needs(tmp_path):
    """``hwrag dram`` imports only the dram command's module (no server, RTL or language-model
    code) and, started the fast way (numba without its BLAS probe, no cyclic GC), gives the same
    figures as the library."""
    import subprocess
    import sys

    code = ("import sys; from hwrag.cli import build_parser; build_parser(['dram', 'presets']); "
            "heavy = [m for m in ('grpc', 'torch', 'pyrtl', 'faiss', 'retrieval_service', 'llm_client') "
            "if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    t = tmp_path / "t.trc"
    a = np.arange(300, dtype=np.uint64) * 4160
    w = np.arange(300) % 3 == 0
    write_trace(t, a, w, np.arange(300) * 2)
    res = subprocess.run([sys.executable, "-m", "hwrag.cli", "dram", "run", "--preset", "DDR4_8Gb_x8_3200",
                          "--structure", "dramsim3", "--trace", str(t), "--json"], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    st = json.loads(res.stdout)
    from hwsim.dram import ControllerConfig

    want = DramSystem("DDR4_8Gb_x8_3200", controller=ControllerConfig(structure="dramsim3")).run(
        a, w, np.arange(300) * 2).stats()
    assert (st["cycles"], st["commands"]) == (want["cycles"], want["commands"])


def test_read_trace_agrees_with_line_parser_on_varied_lines(tmp_path):
    """The parser's one-pass path for plain DRAMsim3 lines and its general path give what the line
    parser gives, line for line, over lines of every spelling (case, spacing, CRLF, comments, long
    numbers)."""
    rng = np.random.default_rng(5)
    lines, cyc = [], 0
    for _ in range(3000):
        cyc += int(rng.integers(0, 3))
        a = int(rng.integers(0, 1 << int(rng.integers(1, 60))))
        word = str(rng.choice(["READ", "WRITE", "read", "Write"]))
        form = int(rng.integers(0, 6))
        if form == 0:
            lines.append(f"0x{a:X} {word} {cyc}")
        elif form == 1:
            lines.append(f"0X{a:x}\t{word}  {cyc}\r")
        elif form == 2:
            lines.append(f"{a} {word} {cyc}")
        elif form == 3:
            lines.append(f"  0x{a:x} {word} {cyc} ")
        elif form == 4:
            lines.append("# comment 0x10 READ 1" if rng.random() < 0.5 else "")
        else:
            lines.append(f"0x{a:016X} {word} {cyc}" if a < 1 << 56 else f"0x{a:x} {word} {cyc}")
    text = "\n".join(lines)
    p = tmp_path / "t.trc"
    p.write_bytes(text.encode())
    fast = read_trace(p)
    slow = parse_trace_lines(text.split("\n"))
    for x, y in zip(fast, slow):
        assert x.dtype == y.dtype and x.tolist() == y.tolist()

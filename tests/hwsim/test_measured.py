"""Chameleon's measured figures as data (hwsim.measured): the tables against docs/REFERENCE.md's, where they
apply, and the CLI printing each beside the modeled figure it is compared with."""
import json
import re
from pathlib import Path

import pytest

from hwsim import measured as MS

REFERENCE = (Path(__file__).resolve().parents[2] / "docs/REFERENCE.md").read_text(encoding="utf-8")
SIFT = dict(d=128, M=16, ntotal=10 ** 9, nlist=32768, nprobe=32, k=100, nodes=1, cpu_cores=8)


def _table_rows(heading: str) -> list[list[str]]:
    """The body rows of the first Markdown table under ``heading`` in docs/REFERENCE.md."""
    lines = REFERENCE.split(heading, 1)[1].splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith("|"))
    end = next((i for i in range(start, len(lines)) if not lines[i].startswith("|")), len(lines))
    return [[c.strip() for c in ln.strip("|").split("|")] for ln in lines[start + 2:end]]


def test_tables_are_the_reference_docs():
    """Every number in hwsim.measured equals docs/REFERENCE.md § Chameleon measured results (the doc, written
    from the result archives, is the oracle)."""
    lat = {(r[0].lower(), int(r[1])): tuple(float(x) for x in r[2:6])
           for r in _table_rows("### Vector search latency") if r[0] in ("SIFT", "Deep")}
    assert lat == {(ds, b): v for ds, by in MS.LATENCY_MS.items() for b, v in by.items()}
    qps = {r[0].lower(): tuple(int(x) for x in r[1:5]) for r in _table_rows("### Vector search throughput")
           if r[0] in ("SIFT", "Deep")}
    assert qps == MS.THROUGHPUT_QPS
    energy = {r[0].lower(): {"cpu": tuple(float(x) for x in r[1].split(" / ")),
                             "fpga-gpu": tuple(float(x) for x in r[2].split(" / "))}
              for r in _table_rows("### Energy per query") if r[0] in ("SIFT", "Deep")}
    assert energy == MS.ENERGY_MJ
    cham = {(r[0].lower(), int(r[1]), int(r[2])): (float(r[3]), float(r[4]))
            for r in _table_rows("### ChamLM throughput") if r[0] in ("Dec-S", "EncDec-S")}
    assert cham == MS.CHAMLM
    p95 = re.search(r"SIFT P95 \(ms\) at b = 1/4/16/64: CPU ([\d./]+); CPU-GPU ([\d./]+);\s*FPGA-CPU ([\d./]+); "
                    r"FPGA-GPU ([\d./]+)\.", REFERENCE)
    cols = [tuple(float(x) for x in g.split("/")) for g in p95.groups()]
    assert {b: tuple(c[i] for c in cols) for i, b in enumerate(MS.BATCHES)} == MS.P95_MS["sift"]


def test_figures_apply_only_where_measured():
    got = MS.search_figures(**SIFT, batch=1)
    assert sorted((m.system, m.figure) for m in got) == sorted(
        [(s, "latency_ms") for s in MS.SYSTEMS] + [(s, "throughput_qps") for s in MS.SYSTEMS]
        + [("fpga-gpu", "energy_mj")])
    assert {m.system: m.as_run for m in got if m.figure == "latency_ms"}["cpu-gpu"] == "cpu"
    # a batch Chameleon did not run: its large-batch QPS still applies, no latency or energy
    assert {m.figure for m in MS.search_figures(**SIFT, batch=3)} == {"throughput_qps"}
    # the CPU's energy comes from the 16-thread run only; the 8-core latencies do not apply there
    e16 = MS.search_figures(**{**SIFT, "cpu_cores": 16}, batch=4)
    assert sorted((m.system, m.figure, m.value) for m in e16) == [("cpu", "energy_mj", 434.0),
                                                                  ("fpga-gpu", "energy_mj", 28.2)]
    for other in ({"d": 512, "M": 32}, {"nodes": 2}, {"nprobe": 16}, {"ntotal": 10 ** 8}, {"k": 10}):
        assert MS.search_figures(**{**SIFT, **other}, batch=1) == []
    assert [m.value for m in MS.chamlm_figures("dec-s", 1, 64)] == [191.8, 609.1]
    assert MS.chamlm_figures("dec-s", 1, 64, tiktok=True) == [] and MS.chamlm_figures("dec-s", 2, 64) == []


def test_error_by_hand():
    assert MS.Measured("cpu", "latency_ms", 10.0, "cpu").error_pct(12.0) == pytest.approx(20.0)
    assert MS.Measured("cpu", "latency_ms", 8.0, "cpu").error_pct(6.0) == pytest.approx(-25.0)


def test_hw_system_prints_measured_beside_modeled(capsys):
    from hwrag.cli import main

    assert main(["hw", "system", "--batch", "16", "--systems", "cpu-gpu", "fpga-cpu", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    rows = {(r["system"], r["figure"]): r for r in out["measured"]}
    assert set(rows) == {("cpu-gpu", "latency_ms"), ("fpga-cpu", "latency_ms"),
                         ("cpu-gpu", "throughput_qps"), ("fpga-cpu", "throughput_qps")}
    # CPU-GPU's measured column ran CPU-only faiss: compared with the cpu model, which the call adds
    lat = rows[("cpu-gpu", "latency_ms")]
    cpu_ms = out["systems"]["cpu"]["latency_s"] * 1e3
    assert lat["measured"] == 20.99 and lat["compared_with"] == "cpu" and lat["modeled"] == pytest.approx(cpu_ms)
    assert lat["error_pct"] == pytest.approx((cpu_ms - 20.99) / 20.99 * 100)
    f = rows[("fpga-cpu", "latency_ms")]
    assert f["error_pct"] == pytest.approx((out["systems"]["fpga-cpu"]["latency_s"] * 1e3 - 11.24) / 11.24 * 100)
    assert main(["hw", "system", "--d", "512", "--M", "32"]) == 0
    assert "measured: none at this configuration" in capsys.readouterr().out


def test_hw_ralm_prints_measured_beside_modeled(capsys):
    from hwrag.cli import main

    assert main(["hw", "ralm", "--model", "encdec-s", "--interval", "8", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    rows = {r["system"]: r for r in out["measured"]}
    for s, v in (("cpu-gpu", 941.0), ("fpga-gpu", 1719.0)):
        t = out["tokens_per_s"][s]
        assert rows[s]["measured"] == v and rows[s]["error_pct"] == pytest.approx((t - v) / v * 100)
    # another backend: only the CPU-GPU baseline's figure applies
    assert main(["hw", "ralm", "--model", "encdec-s", "--interval", "8", "--backend", "pim-hbm"]) == 0
    text = capsys.readouterr().out
    assert "cpu-gpu    tokens/s 941" in text and "fpga-gpu   tokens/s" not in text

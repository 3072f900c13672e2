"""hwrag plan on the command line: files written, JSON and table output, one-line errors for bad input."""
import json

from hwrag.cli import main


def test_plan_writes_files_and_json(tmp_path, capsys):
    assert main(["plan", "dec-s", "--systems", "cpu", "--overlap", "serial", "--latency-ms", "1000",
                 "--samples", "3", "--out", str(tmp_path), "--json", "--no-fidelity"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["choice"]["meets"] and out["figures"] == "modeled"
    assert {p["overlap"] for p in out["points"]} == {"serial"} and set(out["frontiers"]) == {"chip", "watt", "dollar"}
    for f in ("plan.json", "plan_chip.png", "plan_watt.png", "plan_dollar.png"):
        assert (tmp_path / f).is_file()


def test_plan_table_names_the_fidelity_of_the_nearest_validated_configuration(tmp_path, capsys):
    assert main(["plan", "dec-s", "--systems", "cpu-gpu", "pim-dimm", "--overlap", "serial", "--tpot-ms", "0.1",
                 "--percentile", "p95", "--samples", "3", "--out", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "targets (p95): TPOT <= 0.1 ms" in text and "no configuration meets every target: TPOT target" in text
    assert "(sift cpu-gpu batch 64 as run: CPU faiss)" in text and "unvalidated (PIM)" in text


def test_plan_bad_input_is_one_line(capsys):
    for argv, msg in ((["plan", "dec-s", "--systems", "gpu"], "unknown --systems value 'gpu'; accepted: cpu"),
                      (["plan", "dec-s", "--overlap", "half"], "unknown --overlap value 'half'; accepted: serial"),
                      (["plan"], "name a WORKLOAD"),
                      (["plan", "dec-s", "--samples", "0"], "--samples must be >= 1"),
                      (["plan", "dec-s", "--workers", "0"], "--workers must be >= 1"),
                      (["plan", "nope"], "neither a preset")):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert msg in err and "Traceback" not in err

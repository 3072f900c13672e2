import json
import subprocess
import sys

import faiss
import numpy as np
import pytest

from hwrag.cli import main
from ivfpq.datasets import load_dataset


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HWRAG_CACHE", str(tmp_path / "cache"))
    return tmp_path


SPEC = "synthetic:n=3000,d=32,nq=20"


def run_json(capsys, *argv):
    assert main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_dataset_index_search_pipeline(cache, capsys):
    info = run_json(capsys, "dataset", "make", SPEC)
    assert info["n"] == 3000 and info["d"] == 32
    built = run_json(capsys, "index", "build", "--dataset", SPEC, "--nlist", "16", "--m", "8", "-o", str(cache / "ix"))
    assert built["ntotal"] == 3000 and built["nlist"] == 16
    assert run_json(capsys, "index", "info", str(cache / "ix"))["extra"]["dataset"] == info["name"]
    assert main(["index", "build", "--dataset", SPEC, "--nlist", "16", "--m", "8", "-o", str(cache / "ix2")]) == 0
    assert "training IVF16,PQ8 on 3000 vectors" in capsys.readouterr().err   # the silent step says what runs
    res = run_json(capsys, "search", "--dataset", SPEC, "--index", str(cache / "ix"), "--nprobe", "4",
                   "--k", "5", "--threads", "1")
    (row,) = res["rows"]
    assert row["queries_same_topk_as_faiss"] > 0.99  # golden float scan reproduces faiss
    assert 0 < row["recall@5_fixed"] <= 1 and row["qps_golden_fixed_measured"] > 0


def test_import_faiss_file(cache, capsys):
    ds = load_dataset(SPEC)
    ix = faiss.index_factory(32, "IVF8,PQ4")
    ix.train(ds.base)
    ix.add(ds.base)
    faiss.write_index(ix, str(cache / "x.faiss"))
    out = run_json(capsys, "index", "import-faiss", str(cache / "x.faiss"), "-o", str(cache / "imp"))
    assert out["ntotal"] == 3000 and out["M"] == 4


def test_user_mistakes_give_one_line_and_exit_2(cache, capsys):
    assert main(["dataset", "make", "synthetic:n=10,bogus=1"]) == 2
    err = capsys.readouterr().err
    assert "unknown keys" in err and "accepted" in err and "Traceback" not in err
    assert main(["index", "info", str(cache)]) == 2
    assert "manifest" in capsys.readouterr().err


def test_console_script_bad_input_has_no_traceback(cache):
    p = subprocess.run([sys.executable, "-m", "hwrag.cli", "index", "import-faiss", str(cache / "nope.faiss"),
                        "-o", str(cache / "o")], capture_output=True, text=True)
    assert p.returncode == 2
    assert "does not exist" in p.stderr and "Traceback" not in p.stderr

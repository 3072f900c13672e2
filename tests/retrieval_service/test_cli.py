"""``serve --config cluster.toml`` starts a coordinator and its memory nodes and stops them cleanly."""
import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from ivfpq.errors import HwragError
from ivfpq.scan import search
from retrieval_service.cli import add_service_parsers
from retrieval_service.client import RetrievalClient
from retrieval_service.config import ClusterConfig

ROOT = Path(__file__).resolve().parents[2]


def test_parsers_registered():
    ap = argparse.ArgumentParser()
    add_service_parsers(ap.add_subparsers(dest="cmd"))
    a = ap.parse_args(["node", "--index", "x", "--shard", "1/4", "--backend", "cpu-faiss", "--listen", "127.0.0.1:0"])
    assert callable(a.func) and a.shard == "1/4"
    a = ap.parse_args(["serve", "--config", "cluster.toml"])
    assert callable(a.func)


def test_config_is_strict(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text('[coordinator]\nlisten = "127.0.0.1:0"\nbogus = 1\n[[index]]\nname = "a"\npath = "x"\n')
    with pytest.raises(HwragError, match="bogus"):
        ClusterConfig.load(p)
    p.write_text('[coordinator]\ndefault_policy = "maybe"\n[[index]]\npath = "x"\n')
    with pytest.raises(HwragError, match="default_policy"):
        ClusterConfig.load(p)
    p.write_text("[coordinator]\n")
    with pytest.raises(HwragError, match="no index"):
        ClusterConfig.load(p)


def test_serve_starts_and_stops_cleanly(saved_index, index, data, tmp_path):
    (tmp_path / "token.txt").write_text("tok\n")
    cfg = tmp_path / "cluster.toml"
    cfg.write_text(f'[coordinator]\nlisten = "127.0.0.1:0"\n[security]\ntoken_file = "token.txt"\n'
                   f'[[index]]\nname = "default"\npath = "{saved_index}"\nshards = 2\n')
    run = tmp_path / "run"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    p = subprocess.Popen([sys.executable, "-m", "retrieval_service", "serve", "--config", str(cfg),
                          "--run-dir", str(run)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                         text=True, cwd=tmp_path)
    try:
        line = ""
        t_end = time.monotonic() + 120
        while not line.startswith("serving on "):
            line = p.stdout.readline()
            assert line or p.poll() is None, "serve exited early"
            assert time.monotonic() < t_end
        address = line.split("serving on")[1].strip()
        with RetrievalClient(address, token="tok") as cl:
            r = cl.search(data[1][:4], 5, 4, with_payloads=True)
        np.testing.assert_array_equal(r.ids, search(index, data[1][:4], 5, 4).ids)
        pids = [int(__import__("json").loads(f.read_text())["pid"]) for f in run.glob("*.ready.json")]
        assert len(pids) == 3
        p.send_signal(signal.SIGTERM)
        assert p.wait(30) == 0
        for pid in pids:  # every child is gone
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()

"""The cause first: when ``hwrag serve`` or ``hwrag node`` fails, the first line on stderr is
``hwrag: error: <cause>`` -- a child's own error, not the faiss loader's chatter or a traceback -- and
``hwrag node`` checks its listen address before it loads and verifies the shard."""
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _hwrag(*argv, cwd=None, timeout=120) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT), HWRAG_LOG="INFO")
    return subprocess.run([sys.executable, "-m", "hwrag.cli", *map(str, argv)], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=timeout)


def _first_line(r: subprocess.CompletedProcess) -> str:
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr and "faiss.loader" not in r.stderr and "ModuleNotFoundError" not in r.stderr
    return r.stderr.splitlines()[0]


@pytest.fixture
def corrupted_index(saved_index, tmp_path):
    """A copy of the saved index with one byte of its codes flipped (its sha256 no longer matches)."""
    path = tmp_path / "corrupted"
    shutil.copytree(saved_index, path)
    codes = path / "codes.npy"
    b = bytearray(codes.read_bytes())
    b[-3] ^= 0xFF
    codes.write_bytes(bytes(b))
    return path


@pytest.fixture
def held_port():
    """A loopback port another server listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


def _cluster_toml(tmp_path, index_path, listen="127.0.0.1:0") -> Path:
    cfg = tmp_path / "cluster.toml"
    cfg.write_text(f'[coordinator]\nlisten = "{listen}"\n[[index]]\nname = "default"\npath = "{index_path}"\n'
                   "shards = 2\n")
    return cfg


def test_serve_with_a_corrupted_index_reports_the_nodes_error_first(corrupted_index, tmp_path):
    run_dir = tmp_path / "run"
    r = _hwrag("serve", "--config", _cluster_toml(tmp_path, corrupted_index), "--run-dir", run_dir, cwd=tmp_path)
    line = _first_line(r)
    assert line.startswith("hwrag: error: node-default-") and "exited with code 2 before serving" in line
    assert "codes.npy: sha256 mismatch" in line
    logs = [p.read_text() for p in run_dir.glob("node-*.log")]
    assert any("hwrag: error: " in t for t in logs) and not any("ModuleNotFoundError" in t for t in logs)


def test_serve_with_a_refused_listen_address_says_so_before_starting_anything(saved_index, held_port, tmp_path):
    run_dir = tmp_path / "run"
    r = _hwrag("serve", "--config", _cluster_toml(tmp_path, saved_index, f"127.0.0.1:{held_port}"),
               "--run-dir", run_dir, cwd=tmp_path)
    line = _first_line(r)
    assert line.startswith(f"hwrag: error: [coordinator] listen: cannot listen on 127.0.0.1:{held_port}")
    assert "in use" in line
    assert not list(run_dir.glob("*.log"))  # no process was started


def test_node_with_a_corrupted_index_reports_in_the_cli_form(corrupted_index):
    line = _first_line(_hwrag("node", "--index", corrupted_index, "--listen", "127.0.0.1:0"))
    assert line.startswith("hwrag: error: ") and "codes.npy: sha256 mismatch" in line


def test_node_checks_its_listen_address_before_loading_the_shard(corrupted_index, held_port):
    """The index is corrupted too: the address error comes first, so it was checked before the load."""
    line = _first_line(_hwrag("node", "--index", corrupted_index, "--listen", f"127.0.0.1:{held_port}"))
    assert line.startswith(f"hwrag: error: cannot listen on 127.0.0.1:{held_port}") and "in use" in line


def test_node_flags_in_the_cli_form(saved_index, tmp_path):
    line = _first_line(_hwrag("node", "--index", tmp_path / "none", "--listen", "127.0.0.1:0"))
    assert line.startswith("hwrag: error: ") and "no manifest.json" in line
    line = _first_line(_hwrag("node", "--index", saved_index, "--listen", "127.0.0.1:0",
                              "--backend-options", "{bad"))
    assert line.startswith("hwrag: error: --backend-options") and "JSON" in line
    line = _first_line(_hwrag("node", "--listen", "127.0.0.1:0"))
    assert line == "hwrag: error: node: the following arguments are required: --index"

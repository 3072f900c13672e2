"""The DRAM kernels compiled ahead of time (``make install``, :mod:`hwsim.dram.aot_build`) against
numba's JIT of the same functions: the whole regression fixture on both, bit for bit; a ``hwrag
dram run`` that never imports numba; stale or missing extensions fall back to the JIT."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from hwsim.dram import kernels as kn
from hwsim.dram import write_trace
from ivfpq.errors import HwragError

from .test_dram_regression import _golden, all_cases, case_id, run_case

AOT = kn.load_aot()
needs_aot = pytest.mark.skipif(AOT is None, reason=f"{kn.MODULE} not built from the current sources: run make install")


@pytest.fixture
def restore_kernels():
    before = kn._chosen
    yield
    kn._chosen = before


@needs_aot
def test_regression_fixture_bit_identical_on_both_kernels(restore_kernels):
    golden = _golden()
    for mode in ("aot", "jit"):
        assert kn.select(mode).origin == mode
        got = {case_id(c, k): run_case(c, k) for c, k in all_cases()}
        bad = [cid for cid, v in got.items() if v != golden[cid]]
        assert not bad, (mode, bad[:5])


@needs_aot
def test_trace_parser_and_decoder_agree(tmp_path, restore_kernels):
    from hwsim.dram import DramSystem, read_trace

    rng = np.random.default_rng(3)
    a = rng.integers(0, 1 << 33, 5000).astype(np.uint64)
    w = rng.random(5000) < 0.3
    t = tmp_path / "t.trc"
    write_trace(t, a, w, np.arange(5000) * 2)
    outs = []
    for mode in ("aot", "jit"):
        kn.select(mode)
        pa, pw, parr = read_trace(t)
        outs.append((pa, pw, parr, *DramSystem("DDR4_8Gb_x8_3200").decode(pa)))
    for x, y in zip(*outs):
        assert x.dtype == y.dtype and np.array_equal(x, y)
    assert np.array_equal(outs[0][0], a) and np.array_equal(outs[0][1], w)


@needs_aot
def test_hwrag_dram_run_never_imports_numba(tmp_path):
    t = tmp_path / "t.trc"
    a = np.arange(2000, dtype=np.uint64) * 4160
    write_trace(t, a, np.arange(2000) % 3 == 0, np.arange(2000))
    argv = ["dram", "run", "--preset", "DDR4_8Gb_x8_3200", "--structure", "dramsim3", "--trace", str(t), "--json"]
    code = ("import sys; from hwrag.cli import main; rc = main(sys.argv[1:]); "
            "print('numba' in sys.modules, 'llvmlite' in sys.modules, file=sys.stderr); sys.exit(rc)")
    stats = {}
    for mode in ("auto", "jit"):
        res = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True,
                             env={**os.environ, kn.ENV: mode})
        assert res.returncode == 0, res.stderr
        loaded = res.stderr.strip().splitlines()[-1]
        assert loaded == ("False False" if mode == "auto" else "True True"), (mode, res.stderr)
        stats[mode] = json.loads(res.stdout)
    assert (stats["auto"].pop("kernels"), stats["jit"].pop("kernels")) == ("aot", "jit")
    assert stats["auto"] == stats["jit"]


def test_stale_or_missing_extension_falls_back_to_the_jit(monkeypatch, restore_kernels):
    monkeypatch.setattr(kn, "source_digest", lambda: -1)  # as if a kernel source changed since the build
    assert kn.load_aot() is None
    with pytest.raises(HwragError, match="not built or were built from older sources"):
        kn.select("aot")
    assert kn.select("auto").origin == "jit"
    monkeypatch.setattr(kn, "MODULE", "_hwsim_dram_kernels_not_there")
    assert kn.load_aot() is None
    with pytest.raises(HwragError, match="HWRAG_DRAM_KERNELS='fast' unknown; accepted: auto, aot, jit"):
        kn.select("fast")


def test_digest_covers_every_kernel_source():
    """Every file the JIT entry points live in, every file of constants they import, and the step
    library they call, is digested."""
    mods = {m for m, _ in kn.JIT_FUNCTIONS.values()}
    assert {f"{m}.py" for m in mods} | {"layout.py", "bank_queues_layout.py", "timing.py", "steps.py"} == set(kn.SOURCES)
    assert 0 <= kn.source_digest() < 1 << 56


def test_bad_kernel_choice_is_a_one_line_error(tmp_path):
    t = tmp_path / "t.trc"
    write_trace(t, np.arange(10, dtype=np.uint64) * 64, np.zeros(10, dtype=bool), np.arange(10))
    res = subprocess.run([sys.executable, "-m", "hwrag.cli", "dram", "run", "--trace", str(t)], capture_output=True,
                         text=True, env={**os.environ, kn.ENV: "fast"})
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert res.stderr.startswith("hwrag: error: HWRAG_DRAM_KERNELS='fast' unknown; accepted: auto, aot, jit")

"""The mutation check (``make test-slow``): every named mutant in ``mutants.py``, applied alone in a copy of the
repository, must fail at least one of the default-tier tests it names. Prints caught / survived."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .mutants import MUTANTS

ROOT = Path(__file__).resolve().parents[2]


def _tracked_copy(dest: Path) -> None:
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    for f in files:
        src = ROOT / f
        if src.is_file():
            (dest / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / f)


def test_mutants_apply_once():
    """Every mutant's text occurs exactly once where it says (fast: default tier)."""
    for m in MUTANTS:
        text = (ROOT / m.path).read_text()
        assert text.count(m.old) == 1, f"mutant {m.name!r}: its text occurs {text.count(m.old)} times in {m.path}"
        assert all((ROOT / t.split("::")[0]).exists() for t in m.tests), m.name


@pytest.mark.slow
@pytest.mark.timeout(3600)
@pytest.mark.parametrize("mutant", MUTANTS, ids=[m.name for m in MUTANTS])
def test_mutant_is_caught(mutant, tmp_path):
    _tracked_copy(tmp_path)
    target = tmp_path / mutant.path
    target.write_text(target.read_text().replace(mutant.old, mutant.new))
    env = dict(os.environ, PYTHONPATH=str(tmp_path), NUMBA_CACHE_DIR=str(tmp_path / ".numba"))
    r = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-m", "not slow", "-p", "no:cacheprovider",
                        *mutant.tests], cwd=tmp_path, env=env, capture_output=True, text=True)
    verdict = "caught" if r.returncode == 1 else "survived" if r.returncode == 0 else f"error (exit {r.returncode})"
    print(f"mutant {mutant.name!r}: {verdict}")
    assert r.returncode == 1, f"mutant {mutant.name!r} {verdict}:\n{r.stdout[-2000:]}"

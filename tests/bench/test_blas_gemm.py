import numpy as np
import pytest

from bench.blas_gemm import _dist_file, load_mkl, main, measure, mkl_block


def test_missing_mkl_is_a_clear_error(tmp_path, capsys):
    """MKL is not a dependency: without it the command says how to get it, exit 2, no traceback."""
    assert main(["--mkl", str(tmp_path / "libmkl_rt.so.1")]) == 2
    err = capsys.readouterr().err
    assert "Intel MKL not found" in err and "pip install mkl==" in err and "Traceback" not in err


@pytest.mark.parametrize("flags", [["--dims", "0"], ["--repeats", "0"]])
def test_bad_counts_are_a_clear_error(flags, capsys):
    assert main(flags) == 2
    assert "must be >= 1" in capsys.readouterr().err


@pytest.mark.skipif(_dist_file("mkl", "libmkl_rt.so") is None, reason="Intel MKL not installed (pip install mkl==2021.4.0)")
def test_mkl_block_is_faiss_s_product_and_is_timed():
    """Where MKL is installed: its block is x . y^T (checked against float64 numpy) and both libraries are timed."""
    lib = load_mkl()
    rng = np.random.default_rng(1)
    y, x = rng.random((1024, 32), dtype=np.float32), rng.random((3, 32), dtype=np.float32)
    out = np.empty((3, 1024), np.float32)
    mkl_block(lib, y, x, out)
    np.testing.assert_allclose(out, x.astype(np.float64) @ y.T.astype(np.float64), rtol=1e-5)
    (row,) = measure(lib, dims=(32,), batches=(20,), repeats=1)
    assert row["mkl_us"] > 0 and row["openblas_us"] > 0

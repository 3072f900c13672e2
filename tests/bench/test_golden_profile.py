import math

from bench.golden_profile import profile
from ivfpq.datasets.synthetic import make_clustered
from ivfpq.faiss_io import train_index


def test_profile_decomposes_the_fixed_path_against_the_float_path():
    base, q = make_clustered(3000, 32, 20, seed=5)
    index = train_index(base, 16, 8, niter=8)
    res = profile(index, q, nprobes=(4,), k=10, repeat=1)
    (row,) = res["rows"]
    for key in ("select", "term2", "approx_luts", "exact_scale_offset_bias", "scan", "golden_fixed", "golden_float",
                "float_luts", "float_scan", "extra_luts", "extra_scan", "fixed_minus_float", "faiss"):
        assert math.isfinite(row[key]), key
    for key in ("golden_fixed", "golden_float", "float_luts", "faiss"):
        assert row[key] > 0, key
    # the gap's parts are defined from the timed stages (no timing is asserted: figures live in bench/)
    assert math.isclose(row["extra_luts"], row["term2"] + row["approx_luts"] - row["float_luts"], abs_tol=1e-9)
    assert math.isclose(row["extra_scan"], row["scan"] - row["float_scan"], abs_tol=1e-9)
    parts = row["extra_luts"] + row["exact_scale_offset_bias"] + row["extra_scan"]
    assert math.isclose(row["fixed_minus_float"], parts, abs_tol=1e-9)


def test_profile_says_which_indexes_it_covers():
    base, q = make_clustered(2000, 16, 10, seed=6)
    index = train_index(base, 8, 4, niter=4, metric="ip")
    assert profile(index, q, nprobes=(2,), repeat=1)["rows"] == []

"""The workload's list sizes and probes against the notebook's published statistics and analytic expectations."""
from dataclasses import replace

import numpy as np
import pytest

from hwsim.workload import SearchSpec, make_pool, measured_list_sizes, probe_alpha, sample_probes
from ivfpq.errors import HwragError


def _size_ratio(s):
    s = np.asarray(s, float)
    return float((s ** 2).mean() / s.mean() ** 2)


def test_measured_sizes_carry_the_notebooks_statistics():
    """Chameleon's notebook prints E[s^2]/E[s]^2 = 1.1359 for the 8192 SIFT100M lists (cell 9) and 1.144 at
    IVF32768: the stored file reproduces the first, the resampling to 32768 lists stays near both."""
    s = measured_list_sizes(10 ** 8, 8192, seed=0)
    assert s.sum() == 10 ** 8 and s.size == 8192 and s.min() >= 0
    s32 = measured_list_sizes(10 ** 9, 32768, seed=0)
    assert s32.sum() == 10 ** 9
    assert _size_ratio(s32) == pytest.approx(1.14, abs=0.015)
    from hwsim.workload import _sift_relative_sizes
    assert _size_ratio(_sift_relative_sizes()) == pytest.approx(1.1359, abs=1e-4)


def test_uncorrelated_probes_follow_the_analytic_probe_bias():
    """Independent draws with probability ~ size^a: the mean probed list is E[s^(a+1)] / E[s^a]."""
    sizes = measured_list_sizes(10 ** 8, 4096, seed=1)
    a = probe_alpha(sizes, 1.094)
    p = sample_probes(sizes, 2000, 16, seed=2, alpha=a, correlation=0.0)
    assert all(len(set(row)) == 16 for row in p)
    w = sizes.astype(float) ** a
    expected = float((w * sizes).sum() / w.sum())
    assert sizes[p].mean() == pytest.approx(expected, rel=0.02)


def test_correlation_widens_the_spread_per_query_and_keeps_each_probe():
    """The copula keeps every probe's distribution (mean work unchanged) and makes one query's lists alike:
    the spread of work per query grows towards that of a single list as the correlation grows."""
    sizes = measured_list_sizes(10 ** 8, 4096, seed=1)
    a = probe_alpha(sizes, 1.094)
    per_query = {}
    for rho in (0.0, 0.5, 0.9):
        p = sample_probes(sizes, 2000, 32, seed=3, alpha=a, correlation=rho)
        assert all(len(set(row)) == 32 for row in p)
        work = sizes[p].sum(1)
        per_query[rho] = work.std() / work.mean()
        assert work.mean() == pytest.approx(sizes[sample_probes(sizes, 2000, 32, 3, a)].sum(1).mean(), rel=0.03)
    assert per_query[0.0] < per_query[0.5] < per_query[0.9]
    # independent: the CV of a sum of 32 draws is the single draw's over sqrt(32), within sampling error
    w = sizes.astype(float) ** a
    q = w / w.sum()
    single_cv = np.sqrt((q * sizes ** 2).sum() - (q * sizes).sum() ** 2) / (q * sizes).sum()
    assert per_query[0.0] == pytest.approx(single_cv / np.sqrt(32), rel=0.15)
    assert per_query[0.9] > 3 * per_query[0.0]


def test_bad_workload_shapes_name_what_is_accepted():
    with pytest.raises(HwragError, match="list shape"):
        SearchSpec(list_shape="zipf")
    with pytest.raises(HwragError, match=r"\[0, 1\)"):
        SearchSpec(probe_correlation=1.0)
    with pytest.raises(HwragError, match=r"\[0, 1\)"):
        sample_probes(np.ones(8, np.int64), 2, 2, correlation=-0.1)


def test_gamma_shape_still_takes_the_coefficient_of_variation():
    spec = replace(SearchSpec(ntotal=10 ** 7, nlist=1024, nprobe=8), list_shape="gamma", list_cv=0.0)
    pool = make_pool(spec, n=4)
    assert np.ptp(pool.list_sizes) <= 1        # CV 0: equal lists

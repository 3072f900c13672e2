"""The fast golden scans against the scan they replaced (tests/ivfpq/reference_scan.py): the fixed-point
path bit for bit (ids, integer distances, scale, offset, quantised LUTs), the float path to float rounding.

The by-residual L2 fixed path rebuilds the reference's integers from faiss's precomputed-table
decomposition within a proven error bound; the cases here aim at where that could break: ties in a
column's minimum (duplicate codewords), columns whose entries are all equal, residuals near zero,
large and tiny magnitudes (cancellation), empty lists, saturating distances, many LUT formats.
"""
import zlib

import numpy as np
import pytest

from ivfpq import fixed_l2, precomputed
from ivfpq.fixedpoint import LutFormat
from ivfpq.index import IVFPQIndex
from ivfpq.lut import lut_one_query, select_lists
from ivfpq.precomputed import l2_tables, query_term2, query_term2_bounds
from ivfpq.scan import quantized_luts_for, scan_lists
from ivfpq.shard import shard_index

from .reference_scan import reference_luts, reference_scan

FORMATS = [LutFormat(8, 16), LutFormat(4, 8), LutFormat(12, 24), LutFormat(16, 32), LutFormat(2, 5)]


def _index(rng, metric="l2", residual=True, nlist=12, M=4, dsub=4, n=1500, scale=1.0, twins=False, flat_m=None):
    """A random IVF-PQ index; ``twins``: every codeword has a duplicate (ties in every column minimum);
    ``flat_m``: sub-space whose 256 codewords are all equal (a constant LUT column)."""
    d = M * dsub
    centroids = (rng.normal(size=(nlist, d)) * 3 * scale).astype(np.float32)
    codebooks = (rng.normal(size=(M, 256, dsub)) * scale).astype(np.float32)
    if twins:
        codebooks[:, 128:] = codebooks[:, :128]
    if flat_m is not None:
        codebooks[flat_m] = codebooks[flat_m, :1]
    sizes = rng.multinomial(n, rng.dirichlet(np.ones(nlist) * 0.7))
    sizes[rng.integers(nlist)] = 0  # at least one empty list
    ids = rng.permutation(n * 3)[: sizes.sum()].astype(np.int64)
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    codes = rng.integers(0, 256, (sizes.sum(), M), dtype=np.uint8)
    codes[1::7] = codes[::7][: len(codes[1::7])]  # duplicate codes: equal distances, ties broken by id
    return IVFPQIndex.from_lists(centroids, codebooks, [codes[a:b] for a, b in zip(bounds, bounds[1:])],
                                 [ids[a:b] for a, b in zip(bounds, bounds[1:])], metric, residual)


def _queries(rng, index, scale=1.0, nq=12):
    q = rng.normal(size=(nq, index.d)) * 3 * scale
    q[0] = index.centroids[0]  # residual exactly zero for list 0
    q[1] = index.centroids[1] + 1e-3 * scale  # residual near zero
    q[2] = index.centroids[2] + index.codebooks[:, 5].ravel()  # a residual on a codeword: entries near 0
    q[3] = index.centroids[3] + index.codebooks[:, 7].ravel() * (1 + 1e-6)
    return q.astype(np.float32)


def _assert_fixed_equal(index, q, probe, k, fmt):
    r = scan_lists(index, q, probe, k, fmt)
    ids, dist, scale, offset = reference_scan(index, q, probe, k, fmt)
    np.testing.assert_array_equal(r.ids, ids)
    np.testing.assert_array_equal(r.int_distances, dist)
    dec = np.where(ids >= 0, (dist * scale[:, None] + offset[:, None]).astype(np.float32), np.inf)
    np.testing.assert_array_equal(r.distances, dec)  # so scale and offset are the reference's too
    ql = quantized_luts_for(index, q, probe, fmt)
    lut, bias, scale, offset = reference_luts(index, q, probe, fmt)
    np.testing.assert_array_equal(ql.lut, lut)
    np.testing.assert_array_equal(ql.bias, bias)
    np.testing.assert_array_equal(ql.scale, scale)
    np.testing.assert_array_equal(ql.offset, offset)


CASES = {
    "plain": {},
    "twin codewords": {"twins": True},
    "constant column": {"flat_m": 1},
    "large magnitude": {"scale": 1e3},
    "tiny magnitude": {"scale": 1e-3},
    "sift-like offset": {"scale": 30.0},
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("metric,residual", [("l2", True), ("l2", False), ("ip", True), ("ip", False)])
def test_fixed_point_equals_reference_bit_for_bit(case, metric, residual):
    rng = np.random.default_rng(zlib.crc32(f"{case}/{metric}/{residual}".encode()))
    kw = CASES[case]
    index = _index(rng, metric, residual, **kw)
    q = _queries(rng, index, scale=kw.get("scale", 1.0))
    if case == "sift-like offset":  # SIFT: every coordinate positive, far from the origin
        q += np.float32(100.0)
    for nprobe, k, fmt in [(1, 5, FORMATS[0]), (4, 1, FORMATS[1]), (7, 20, FORMATS[2]), (12, 50, FORMATS[3]),
                           (5, 9, FORMATS[4])]:
        _assert_fixed_equal(index, q, select_lists(index, q, nprobe), k, fmt)


def test_fixed_point_equals_reference_on_an_unsorted_probe_with_repeats():
    rng = np.random.default_rng(3)
    index = _index(rng)
    q = _queries(rng, index)[:6]
    probe = rng.integers(0, index.nlist, (6, 5))
    probe[:, 1] = probe[:, 0]  # a list probed twice: its codes twice, ties by id
    _assert_fixed_equal(index, q, probe, 15, FORMATS[0])


def test_lut_kept_from_pass_one_and_rebuilt_per_list_give_the_same_bits():
    """The scan keeps every probed list's approximate LUT from pass 1 while they fit in KEEP_BYTES and
    rebuilds them per list beyond: M = 64 LUTs of 64 KiB, so 4 lists are kept and 12 are rebuilt."""
    rng = np.random.default_rng(9)
    index = _index(rng, M=64, dsub=1, n=2000)
    q = _queries(rng, index)[:6]
    assert 4 * 64 * 256 * 4 <= fixed_l2.KEEP_BYTES < 12 * 64 * 256 * 4
    for nprobe in (4, 12):
        _assert_fixed_equal(index, q, select_lists(index, q, nprobe), 10, FORMATS[0])


def test_without_precomputed_tables_the_reference_path_runs(monkeypatch):
    rng = np.random.default_rng(4)
    index = _index(rng)
    monkeypatch.setattr(precomputed, "MAX_TABLE_BYTES", 0)
    assert l2_tables(index) is None
    q = _queries(rng, index)
    _assert_fixed_equal(index, q, select_lists(index, q, 5), 10, FORMATS[0])


def test_float_scan_equals_reference_to_float_rounding():
    rng = np.random.default_rng(5)
    for metric, residual in [("l2", True), ("l2", False), ("ip", True), ("ip", False)]:
        index = _index(rng, metric, residual, scale=10.0)
        q = _queries(rng, index, scale=10.0)
        probe = select_lists(index, q, 6)
        r = scan_lists(index, q, probe, 20, fmt=None)
        ids, dist = reference_scan(index, q, probe, 20)
        assert (r.ids == ids).mean() > 0.97  # near-ties may swap
        np.testing.assert_allclose(r.distances, dist, rtol=1e-4, atol=1e-2)


def test_decomposition_stays_within_its_error_bound():
    """Every approximate entry (term1 + term2 + R in float32) is within E of the reference entry."""
    rng = np.random.default_rng(6)
    for scale in (1e-3, 1.0, 30.0, 1e3):
        index = _index(rng, scale=scale, twins=True)
        tables = l2_tables(index)
        q = _queries(rng, index, scale=scale) + np.float32(3 * scale)
        M, dsub = index.M, index.dsub
        t2, t2_absmax, q_norm = np.empty((M, 256), np.float32), np.empty(M), np.empty(M)
        for qi in q:
            query_term2(qi, index.codebooks_t, t2)
            query_term2_bounds(qi, t2, t2_absmax, q_norm)
            probe = np.arange(index.nlist)
            T = np.empty((index.nlist, M, 256), np.float32)
            lut_one_query(qi, index.centroids, index.codebooks_t, probe, False, True, T, np.empty(index.nlist, np.float32))
            for l in probe:
                R = ((qi.astype(np.float64) - index.centroids[l]) ** 2).reshape(M, dsub).sum(1)
                approx = (tables.term1[l] + t2) + R.astype(np.float32)[:, None]
                E = np.array([precomputed.column_error_bound.py_func(
                    R[m], tables.term1_absmax[l, m], t2_absmax[m], q_norm[m], tables.centroid_norm[l, m],
                    tables.codeword_norm[m], dsub) for m in range(M)])
                err = np.abs(approx.astype(np.float64) - T[l])
                assert (err <= E[:, None]).all(), (scale, l, (err / E[:, None]).max())


def test_shards_share_the_precomputed_tables():
    rng = np.random.default_rng(7)
    index = _index(rng)
    a, b = shard_index(index, 2)
    assert l2_tables(a) is l2_tables(b)


def test_probing_no_list_returns_nothing():
    rng = np.random.default_rng(8)
    index = _index(rng)
    q = _queries(rng, index)[:2]
    for fmt in (None, FORMATS[0]):
        r = scan_lists(index, q, np.zeros((2, 0), np.int64), 3, fmt)
        assert (r.ids == -1).all() and np.isinf(r.distances).all()

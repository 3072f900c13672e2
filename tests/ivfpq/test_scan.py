"""The golden scan against an independent numpy brute force over the same lists."""
import numpy as np
import pytest

from ivfpq.fixedpoint import LutFormat
from ivfpq.lut import select_lists
from ivfpq.scan import quantized_luts_for, scan_lists, search


def _decoded(index):
    """Reconstruct every stored vector's PQ approximation (residual + centroid)."""
    M, dsub = index.M, index.dsub
    rec = index.codebooks[np.arange(M)[None, :], index.codes.astype(np.int64)].reshape(index.ntotal, -1)
    lists = np.repeat(np.arange(index.nlist), index.list_sizes)
    return rec.astype(np.float64), lists


@pytest.mark.parametrize("metric,residual", [("l2", True), ("l2", False), ("ip", True), ("ip", False)])
def test_float_scan_equals_brute_force_adc(indexes, data, metric, residual):
    index = indexes[(metric, residual)]
    q = data[1][:10]
    probe = select_lists(index, q, 5)
    res = scan_lists(index, q, probe, 20, fmt=None)
    rec, lists = _decoded(index)
    for i in range(len(q)):
        rows = np.flatnonzero(np.isin(lists, probe[i]))
        c = index.centroids[lists[rows]].astype(np.float64)
        x = rec[rows] + (c if residual else 0.0)
        if metric == "l2":
            d = ((x - q[i]) ** 2).sum(1)
        else:
            d = -(x @ q[i])
        order = np.lexsort((index.ids[rows], d))[:20]
        np.testing.assert_allclose(res.distances[i], d[order], rtol=1e-4, atol=1e-3)
        # every returned id is a stored vector whose own exact distance is the one at its rank: exact up to
        # float32 rounding (near-ties may trade places, never a far vector for a near one)
        pos = {v: j for j, v in enumerate(index.ids[rows])}
        assert len(set(res.ids[i])) == 20 and all(v in pos for v in res.ids[i])
        np.testing.assert_allclose(d[[pos[v] for v in res.ids[i]]], d[order], rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("fmt", [LutFormat(8, 16), LutFormat(4, 8), LutFormat(12, 24)])
def test_fixed_scan_equals_numpy_integer_reference(indexes, data, fmt):
    index = indexes[("l2", True)]
    q = data[1][:8]
    probe = select_lists(index, q, 6)
    res = scan_lists(index, q, probe, 15, fmt=fmt)
    ql = quantized_luts_for(index, q, probe, fmt)
    for i in range(len(q)):
        dist, idl = [], []
        for p, l in enumerate(probe[i]):
            codes = index.list_codes(l).astype(np.int64)
            s = ql.lut[i, p][np.arange(index.M)[None, :], codes].sum(1) + ql.bias[i, p]
            dist.append(np.minimum(s, fmt.dist_max))
            idl.append(index.list_ids(l))
        d, ids = np.concatenate(dist), np.concatenate(idl)
        order = np.lexsort((ids, d))[:15]
        np.testing.assert_array_equal(res.int_distances[i], d[order])
        np.testing.assert_array_equal(res.ids[i], ids[order])


def test_fewer_candidates_than_k_are_padded(indexes, data):
    index = indexes[("l2", True)]
    small = int(np.argmin(np.where(index.list_sizes > 0, index.list_sizes, 1 << 30)))
    n = int(index.list_sizes[small])
    probe = np.array([[small]])
    for fmt, fill in ((None, np.inf), (LutFormat(), np.inf)):
        r = scan_lists(index, data[1][:1], probe, n + 5, fmt=fmt)
        assert (r.ids[0, n:] == -1).all() and (r.distances[0, n:] == fill).all()
        assert (r.ids[0, :n] >= 0).all()


def test_search_is_deterministic(indexes, data):
    index = indexes[("ip", True)]
    a = search(index, data[1], 10, 8)
    b = search(index, data[1], 10, 8)
    np.testing.assert_array_equal(a.ids, b.ids)
    np.testing.assert_array_equal(a.int_distances, b.int_distances)

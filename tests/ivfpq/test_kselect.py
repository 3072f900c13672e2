"""Golden hierarchical K-selection against the golden exact scan (ivfpq.scan) and brute force."""
import numpy as np
import pytest

from ivfpq.kselect import hierarchical_topk, scan_segments_hier, segment_lanes
from ivfpq.scan import scan_segments_fixed


def _random_query(rng, M=8, n_seg=3, max_len=60, lut_max=255, dist_max=65535, dup_dist=False):
    lens = rng.integers(0, max_len, n_seg)
    ends = np.cumsum(lens)
    starts = ends - lens
    N = int(ends[-1]) if n_seg else 0
    codes = rng.integers(0, 256, (N, M), dtype=np.uint8)
    ids = rng.permutation(10 * N + 10)[:N].astype(np.int64)
    hi = 4 if dup_dist else lut_max + 1
    luts = rng.integers(0, hi, (n_seg, M, 256)).astype(np.int32)
    biases = rng.integers(0, dist_max if not dup_dist else 3, n_seg).astype(np.int64)
    return codes, ids, starts, ends, luts, biases


def test_segment_lanes_restart_per_segment():
    assert segment_lanes([0, 5], [5, 7], 4).tolist() == [0, 1, 2, 3, 0, 0, 1]


@pytest.mark.parametrize("units", [1, 3, 4])
@pytest.mark.parametrize("k", [1, 10, 100])
@pytest.mark.parametrize("dup", [False, True])
def test_full_length_queues_equal_exact_topk(units, k, dup):
    rng = np.random.default_rng(units * 1000 + k + dup)
    for _ in range(5):
        codes, ids, starts, ends, luts, biases = _random_query(rng, dup_dist=dup)
        td = np.empty(k, np.int64)
        ti = np.empty(k, np.int64)
        n = scan_segments_fixed(codes, ids, starts, ends, luts, biases, 65535, td, ti)
        td[n:] = -1
        ti[n:] = -1
        hd, hi = scan_segments_hier(codes, ids, starts, ends, luts, biases, 65535, units, k, k)
        np.testing.assert_array_equal(hd, td)
        np.testing.assert_array_equal(hi, ti)


def test_saturation_and_bias():
    codes = np.array([[1, 2], [3, 4]], np.uint8)
    luts = np.zeros((1, 2, 256), np.int32)
    luts[0, 0, 1] = 200
    luts[0, 1, 2] = 100
    hd, hi = scan_segments_hier(codes, np.array([7, 9]), [0], [2], luts, np.array([50]), 255, 1, 2, 2)
    assert hd.tolist() == [50, 255] and hi.tolist() == [9, 7]  # 50+300 saturates at 255


def test_short_level1_queues_brute_force():
    """l1 < k: the result is the top-k of the union of per-lane top-l1, checked by brute force."""
    rng = np.random.default_rng(3)
    for _ in range(20):
        n = int(rng.integers(0, 80))
        d = rng.integers(0, 20, n)
        ids = rng.permutation(1000)[:n]
        lanes = rng.integers(0, 4, n)
        l1, k = 3, 8
        kept = []
        for u in range(4):
            kept += sorted((int(d[j]), int(ids[j])) for j in range(n) if lanes[j] == u)[:l1]
        want = sorted(kept)[:k]
        want += [(-1, -1)] * (k - len(want))
        hd, hi = hierarchical_topk(d, ids, lanes, 4, l1, k)
        assert list(zip(hd.tolist(), hi.tolist())) == want


def test_order_independent():
    rng = np.random.default_rng(5)
    d = rng.integers(0, 5, 50)
    ids = rng.permutation(50)
    lanes = np.zeros(50, np.int64)
    p = rng.permutation(50)
    a = hierarchical_topk(d, ids, lanes, 1, 10, 10)
    b = hierarchical_topk(d[p], ids[p], lanes[p], 1, 10, 10)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])

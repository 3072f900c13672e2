import numpy as np
import pytest

from ivfpq.datasets.groundtruth import exact_knn
from ivfpq.errors import HwragError
from ivfpq.fixedpoint import LutFormat, quantize_luts
from ivfpq.metrics import recall_at_k
from ivfpq.scan import search


def test_hand_computed_quantisation():
    # one query, two lists, M=2; entries chosen so every step is exact
    T = np.zeros((1, 2, 2, 256), np.float32)
    T[0, 0, 0, :] = 10.0
    T[0, 0, 0, 1] = 2.0   # list 0, m=0: min 2, max 10 -> T' max 8
    T[0, 0, 1, :] = 5.0   # list 0, m=1: constant 5 -> T' all 0
    T[0, 1, 0, :] = 4.0
    T[0, 1, 0, 3] = 24.0  # list 1, m=0: min 4, T' max 20 = global max
    T[0, 1, 1, :] = 1.0
    b = np.array([[0.0, 3.0]], np.float32)
    q = quantize_luts(T, b, LutFormat(lut_bits=4, dist_bits=8))
    # B = b + sum of mins: list0 = 0+2+5 = 7, list1 = 3+4+1 = 8; offset 7; scale = 20/15
    assert q.offset[0] == pytest.approx(7.0)
    assert q.scale[0] == pytest.approx(20 / 15)
    np.testing.assert_array_equal(q.bias[0], [0, 1])  # rint(1 / (4/3)) = rint(0.75) = 1
    assert q.lut[0, 0, 0, 0] == 6  # rint(8 / (4/3)) = 6
    assert q.lut[0, 0, 0, 1] == 0
    assert q.lut[0, 1, 0, 3] == 15  # the global maximum maps to 2**lut_bits - 1, no saturation
    assert (q.lut[0, 0, 1] == 0).all()


def test_bias_saturates_at_dist_max():
    T = np.zeros((1, 2, 1, 256), np.float32)
    T[0, :, 0, 1] = 1.0  # scale = 1/255
    b = np.array([[0.0, 1000.0]], np.float32)
    q = quantize_luts(T, b, LutFormat(8, 12))
    assert q.bias[0, 1] == (1 << 12) - 1


@pytest.mark.parametrize("bits,dist_bits,M", [(8, 11, 16), (1, 16, 8), (17, 32, 8), (8, 33, 8)])
def test_bad_formats_are_rejected(bits, dist_bits, M):
    with pytest.raises(HwragError):
        LutFormat(bits, dist_bits).check(M)


def test_ties_go_to_the_smaller_id(indexes, data):
    """Duplicate every vector's code under a larger id: the smaller id must come first."""
    from ivfpq.index import IVFPQIndex

    index = indexes[("l2", True)]
    lc, li = [], []
    for l in range(index.nlist):
        c, i = index.list_codes(l), index.list_ids(l)
        lc.append(np.concatenate([c, c])[::-1])  # twin placed first in scan order
        li.append(np.concatenate([i, i + 100000])[::-1])
    twin = IVFPQIndex.from_lists(index.centroids, index.codebooks, lc, li)
    r = search(twin, data[1][:5], 10, 4)
    for row, d in zip(r.ids, r.int_distances):
        assert (np.lexsort((row, d)) == np.arange(10)).all()  # ranked by (dist, id)
        for j, x in enumerate(row):
            if x >= 100000:  # a twin made the cut, so its smaller-id original is ahead of it
                assert x - 100000 in row[:j]
        assert (row < 100000).sum() >= 5


def test_recall_loss_of_8bit_format_is_bounded(indexes, data):
    """Contract 1: the hardware format's recall loss against float search is measured and bounded."""
    xb, xq = data
    index = indexes[("l2", True)]
    D, I = exact_knn(xb, xq, 10)
    rf = recall_at_k(search(index, xq, 10, 8, fmt=None).ids, I, 10, gt_distances=D, base=xb, queries=xq)
    rx = recall_at_k(search(index, xq, 10, 8).ids, I, 10, gt_distances=D, base=xb, queries=xq)
    assert rf - rx <= 0.03, (rf, rx)

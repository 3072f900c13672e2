import numpy as np
import pytest

from ivfpq.errors import HwragError
from ivfpq.lut import select_lists
from ivfpq.scan import scan_lists, search
from ivfpq.shard import merge_topk, shard_index


@pytest.mark.parametrize("n", [1, 2, 3, 7])
@pytest.mark.parametrize("fixed", [True, False])
def test_sharded_search_equals_unsharded(indexes, data, n, fixed):
    index = indexes[("l2", True)]
    q = data[1]
    fmt = {} if fixed else {"fmt": None}
    whole = search(index, q, 10, 6, **fmt)
    probe = select_lists(index, q, 6)
    shards = shard_index(index, n)
    assert sum(s.ntotal for s in shards) == index.ntotal
    for l in range(index.nlist):  # every list split evenly: sizes differ by at most one
        sizes = [s.list_sizes[l] for s in shards]
        assert max(sizes) - min(sizes) <= 1
    for i in range(n):  # a node builds just its own shard: the same arrays
        np.testing.assert_array_equal(shard_index(index, n, only=i)[0].ids, shards[i].ids)
    parts = [scan_lists(s, q, probe, 10, **fmt) for s in shards]
    key = [p.int_distances if fixed else p.distances for p in parts]
    d, i = merge_topk(key, [p.ids for p in parts], 10)
    np.testing.assert_array_equal(i, whole.ids)
    np.testing.assert_array_equal(d, whole.int_distances if fixed else whole.distances)


def test_merge_hand_case():
    d = [np.array([[1.0, 3.0, np.inf]]), np.array([[1.0, 2.0, 9.0]])]
    i = [np.array([[7, 4, -1]]), np.array([[5, 6, 8]])]
    D, I = merge_topk(d, i, 4)
    np.testing.assert_array_equal(I, [[5, 7, 6, 4]])  # tie at 1.0 goes to the smaller id
    np.testing.assert_array_equal(D, [[1.0, 1.0, 2.0, 3.0]])
    D, I = merge_topk([np.array([[1.0, np.inf]])], [np.array([[3, -1]])], 3)
    np.testing.assert_array_equal(I, [[3, -1, -1]])


def test_merge_rejects_overlapping_shards():
    with pytest.raises(HwragError, match="disjoint"):
        merge_topk([np.array([[1.0]]), np.array([[2.0]])], [np.array([[4]]), np.array([[4]])], 2)


def test_merge_carries_values_along_the_ranking():
    """Integer keys rank; the carried floats follow their entries (not their own order); padding is +inf."""
    keys = [np.array([[10, np.iinfo(np.int64).max]]), np.array([[10, 12]])]
    ids = [np.array([[3, -1]]), np.array([[5, 9]])]
    carry = [np.array([[1.0, np.inf]]), np.array([[0.5, 1.2]])]
    D, I, C = merge_topk(keys, ids, 5, carry=carry)
    np.testing.assert_array_equal(I, [[3, 5, 9, -1, -1]])
    np.testing.assert_array_equal(D[:, :3], [[10, 10, 12]])
    np.testing.assert_array_equal(C, [[1.0, 0.5, 1.2, np.inf, np.inf]])

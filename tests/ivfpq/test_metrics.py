import numpy as np
import pytest

from ivfpq.errors import HwragError
from ivfpq.metrics import one_recall_at, recall_at_k


def test_recall_tolerates_ties():
    base = np.array([[0.0], [1.0], [-1.0], [5.0]], np.float32)  # ids 1 and 2 tie for 2nd place
    q = np.array([[0.0]], np.float32)
    gt_i = np.array([[0, 1, 2, 3]])
    gt_d = np.array([[0.0, 1.0, 1.0, 25.0]], np.float32)
    ids = np.array([[0, 2]])  # picked the other tied neighbour
    assert recall_at_k(ids, gt_i, 2) == 0.5
    assert recall_at_k(ids, gt_i, 2, gt_distances=gt_d, base=base, queries=q) == 1.0
    assert recall_at_k(np.array([[0, 3]]), gt_i, 2, gt_distances=gt_d, base=base, queries=q) == 0.5


def test_duplicates_are_rejected_and_r1():
    with pytest.raises(HwragError, match="duplicate"):
        recall_at_k(np.array([[1, 1]]), np.array([[1, 2]]), 2)
    assert one_recall_at(np.array([[5, 1], [2, 3]]), np.array([[1, 0], [9, 0]]), 2) == 0.5


def test_same_topk_ties_aside():
    from ivfpq.metrics import same_topk_ties_aside

    d = np.array([[1.0, 2.0, 2.0, 3.0]])
    assert same_topk_ties_aside(d, np.array([[5, 6, 7, 8]]), d, np.array([[5, 7, 6, 8]]))[0]  # tie reordered
    assert same_topk_ties_aside(d, np.array([[5, 6, 7, 8]]), d, np.array([[5, 6, 7, 9]]))[0]  # cut at a tie
    assert not same_topk_ties_aside(d, np.array([[5, 6, 7, 8]]), d, np.array([[4, 6, 7, 8]]))[0]
    assert not same_topk_ties_aside(d, np.array([[5, 6, 7, 8]]), d + [[0, 0, 0.5, 0]], np.array([[5, 6, 7, 8]]))[0]
    # fewer hits than k: padding differs between engines (inf here, FLT_MAX in faiss), hits must match
    pad_a, pad_b = np.array([[1.0, 2.0, np.inf]]), np.array([[1.0, 2.0, 3.4028235e38]])
    assert same_topk_ties_aside(pad_a, np.array([[5, 6, -1]]), pad_b, np.array([[5, 6, -1]]))[0]
    assert not same_topk_ties_aside(pad_a, np.array([[5, 6, -1]]), d[:, :3], np.array([[5, 6, 7]]))[0]

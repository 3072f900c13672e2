import numpy as np
import pytest

from bench.adapters import Adapter, BatchAnswer, GoldenAdapter, HardwareAdapter
from bench.ann import run_ann, write_ann_report
from ivfpq.datasets.dataset import Dataset
from ivfpq.datasets.groundtruth import exact_knn
from ivfpq.datasets.synthetic import make_clustered
from ivfpq.errors import HwragError
from ivfpq.faiss_io import train_index


@pytest.fixture(scope="module")
def small():
    base, q = make_clustered(4000, 32, 30, seed=3)
    D, I = exact_knn(base, q, 100)
    ds = Dataset("toy", base, q, I, D, "l2")
    return train_index(base, 16, 8, niter=8), ds


class Oracle(Adapter):
    """Answers the exact neighbours: the harness must score it 1.0 by itself."""
    name = "oracle"

    def __init__(self, ds, dup=False):
        self.ds, self.dup = ds, dup

    def fit(self, index):
        pass

    def query(self, queries, k, nprobe):
        ids = self.ds.gt_ids[: len(queries), :k].copy()
        if self.dup:
            ids[0, 1] = ids[0, 0]
        return BatchAnswer(ids, 0.5)


def test_harness_recomputes_recall_and_rejects_duplicates(small, tmp_path):
    index, ds = small
    res = run_ann(index, ds, [Oracle(ds), GoldenAdapter(fixed=True)], nprobes=(2, 16), k=10, progress=False)
    oracle = [r for r in res["rows"] if r["engine"] == "oracle"]
    assert all(r["recall@10"] == 1.0 and r["qps"] == pytest.approx(60) for r in oracle)
    golden = [r for r in res["rows"] if r["engine"] != "oracle"]
    assert golden[0]["recall@10"] <= golden[1]["recall@10"]  # more lists probed, no worse
    files = write_ann_report(res, tmp_path)
    assert files[1].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(HwragError, match="duplicate"):
        run_ann(index, ds, [Oracle(ds, dup=True)], nprobes=(2,), k=10, progress=False)


def test_hardware_adapter_is_modeled_and_matches_golden_ids(small):
    index, ds = small
    hw = HardwareAdapter("chameleon_u250", timing_queries=4)
    gold = GoldenAdapter(fixed=True)
    res = run_ann(index, ds, [gold, hw], nprobes=(4,), k=10, progress=False)
    g, h = res["rows"]
    assert h["figures"] == "modeled" and "chameleon_u250" in h["config"]
    assert h["recall@10"] == g["recall@10"]  # same functional model: same answers

import faiss
import numpy as np
import pytest

from ivfpq.errors import HwragError
from ivfpq.faiss_io import from_faiss, to_faiss
from ivfpq.scan import search


@pytest.mark.parametrize("metric", ["l2", "ip"])
@pytest.mark.parametrize("residual", [True, False])
def test_float_golden_scan_returns_faiss_ids(indexes, data, metric, residual):
    index = indexes[(metric, residual)]
    fi = to_faiss(index)
    fi.nprobe = 6
    D, I = fi.search(data[1], 10)
    r = search(index, data[1], 10, 6, fmt=None)
    assert (r.ids == I).mean() > 0.99  # float rounding may swap exact near-ties
    expect = D if metric == "l2" else -D  # hwrag distances are smaller-is-better
    np.testing.assert_allclose(r.distances, expect, rtol=1e-4, atol=1e-3)


def test_import_from_faiss_file_roundtrip(indexes, tmp_path, data):
    index = indexes[("l2", True)]
    path = tmp_path / "x.faiss"
    faiss.write_index(to_faiss(index), str(path))
    back = from_faiss(path)
    for name in ("centroids", "codebooks", "codes", "ids", "offsets"):
        np.testing.assert_array_equal(getattr(back, name), getattr(index, name))
    assert back.metric == "l2" and back.by_residual


def test_import_index_built_by_faiss_directly(data):
    xb, xq = data
    ix = faiss.index_factory(32, "IVF16,PQ4")
    ix.train(xb)
    ix.add_with_ids(xb, np.arange(len(xb), dtype=np.int64) * 3 + 11)
    ix.nprobe = 4
    D, I = ix.search(xq, 5)
    r = search(from_faiss(ix), xq, 5, 4, fmt=None)
    assert (r.ids == I).mean() > 0.99
    assert set(np.unique(r.ids)) <= set(np.arange(len(xb)) * 3 + 11)


@pytest.mark.parametrize("factory", ["Flat", "IVF8,Flat", "IVF8,PQ4x4"])
def test_unsupported_faiss_indexes_are_rejected_by_name(data, factory):
    ix = faiss.index_factory(32, factory)
    ix.train(data[0][:2000])
    with pytest.raises(HwragError, match="not supported|accepted"):
        from_faiss(ix)


def test_unreadable_faiss_file(tmp_path):
    p = tmp_path / "bad.faiss"
    p.write_bytes(b"not an index")
    with pytest.raises(HwragError, match="bad.faiss"):
        from_faiss(p)
    with pytest.raises(HwragError, match="does not exist"):
        from_faiss(tmp_path / "missing.faiss")


def test_faiss_import_save_load_search_gives_faiss_results(data, tmp_path):
    from ivfpq.storage import load_index, save_index

    xb, xq = data
    ix = faiss.index_factory(32, "IVF32,PQ8")
    ix.train(xb)
    ix.add(xb)
    ix.nprobe = 8
    D, I = ix.search(xq, 10)
    save_index(from_faiss(ix), tmp_path / "ix")
    r = search(load_index(tmp_path / "ix"), xq, 10, 8, fmt=None)
    same_rows = (r.ids == I).all(axis=1)
    assert same_rows.mean() >= 0.975  # a row may differ only by swapping float32 near-ties
    np.testing.assert_allclose(r.distances, D, rtol=1e-4, atol=1e-3)


def test_queries_of_the_wrong_dimension_are_rejected(indexes, data):
    index = indexes[("l2", True)]
    with pytest.raises(HwragError, match=r"shape \(n, 32\)"):
        search(index, data[1][:, :16], 10, 4)
    with pytest.raises(HwragError, match="NaN"):
        search(index, np.full((1, 32), np.nan, np.float32), 10, 4)
    with pytest.raises(HwragError, match="nprobe"):
        search(index, data[1], 10, 0)

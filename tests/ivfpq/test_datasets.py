import numpy as np
import pytest

from ivfpq.datasets import load_dataset
from ivfpq.datasets.groundtruth import exact_knn
from ivfpq.datasets.hdf5 import read_ann_hdf5, write_ann_hdf5
from ivfpq.datasets.synthetic import make_clustered
from ivfpq.datasets.texmex import read_vecs, write_vecs
from ivfpq.errors import HwragError


@pytest.mark.parametrize("ext,dtype", [(".fvecs", np.float32), (".ivecs", np.int32), (".bvecs", np.uint8)])
def test_texmex_roundtrip_and_truncation(tmp_path, ext, dtype):
    x = (np.random.default_rng(0).random((50, 12)) * 200).astype(dtype)
    p = tmp_path / f"a{ext}"
    write_vecs(p, x)
    np.testing.assert_array_equal(read_vecs(p), x)
    # byte layout of the first record: int32 dimension then the components, little endian
    raw = p.read_bytes()
    assert int.from_bytes(raw[:4], "little") == 12
    p.write_bytes(raw[:-3])
    with pytest.raises(HwragError, match="truncated"):
        read_vecs(p)


def test_hdf5_roundtrip(tmp_path):
    base, q = make_clustered(500, 16, 10, seed=1)
    D, I = exact_knn(base, q, 5)
    write_ann_hdf5(tmp_path / "x.hdf5", base, q, I, D)
    h = read_ann_hdf5(tmp_path / "x.hdf5")
    np.testing.assert_array_equal(h["train"], base)
    np.testing.assert_array_equal(h["neighbors"], I)
    assert h["metric"] == "l2"
    ds = load_dataset(str(tmp_path / "x.hdf5"))
    np.testing.assert_array_equal(ds.gt_ids[:, :5], I)


def test_texmex_directory(tmp_path):
    base, q = make_clustered(300, 8, 7, seed=2)
    write_vecs(tmp_path / "toy_base.fvecs", base)
    write_vecs(tmp_path / "toy_query.fvecs", q)
    ds = load_dataset(str(tmp_path))
    assert ds.base.shape == (300, 8) and ds.queries.shape == (7, 8)


def test_synthetic_is_seeded_and_sift_like():
    a, qa = make_clustered(2000, 32, 10, seed=3)
    b, qb = make_clustered(2000, 32, 10, seed=3)
    c, _ = make_clustered(2000, 32, 10, seed=4)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert a.min() >= 0 and (a == np.rint(a)).all()


def test_ground_truth_against_numpy_brute_force():
    base, q = make_clustered(1000, 16, 20, seed=5)
    D, I = exact_knn(base, q, 10)
    full = ((q[:, None, :].astype(np.float64) - base[None]) ** 2).sum(-1)
    np.testing.assert_allclose(D, np.sort(full, axis=1)[:, :10], rtol=1e-4)
    Dip, Iip = exact_knn(base, q, 10, "ip")
    np.testing.assert_allclose(Dip, np.sort(-(q @ base.T), axis=1)[:, :10], rtol=1e-4)


def test_cached_dataset_spec(tmp_path, monkeypatch):
    monkeypatch.setenv("HWRAG_CACHE", str(tmp_path))
    a = load_dataset("synthetic:n=800,d=16,nq=5")
    b = load_dataset("synthetic:n=800,d=16,nq=5")
    np.testing.assert_array_equal(a.base, b.base)
    assert a.gt_ids.shape == (5, 100)
    with pytest.raises(HwragError, match="unknown keys"):
        load_dataset("synthetic:n=10,colour=red")
    with pytest.raises(HwragError, match="accepted"):
        load_dataset("nosuchset")


def test_text_corpus_is_offline_and_chunked(tmp_path, monkeypatch):
    monkeypatch.setenv("HWRAG_CACHE", str(tmp_path))
    ds = load_dataset("pydocs:max_docs=30,nq=4,chunk_words=32")
    assert ds.metric == "ip" and ds.d == 384 and len(ds.texts) == ds.base.shape[0]
    np.testing.assert_allclose(np.linalg.norm(ds.base, axis=1), 1.0, atol=1e-4)
    # the embedding means something: a chunk is its own nearest neighbour
    D, I = exact_knn(ds.base, ds.base[:5], 1, "ip")
    np.testing.assert_array_equal(I[:, 0], np.arange(5))

import math

import pytest
import torch
from ivfpq.errors import HwragError
from llm_client.knnlm import KnnLMConfig, interpolate, knn_log_probs


def test_hand_computed_interpolation():
    # 3 neighbours: distances 1, 2, 3 with next tokens 2, 2, 0; temperature 1; vocabulary of 4
    d = torch.tensor([[1.0, 2.0, 3.0]])
    nxt = torch.tensor([[2, 2, 0]])
    lp_knn, valid = knn_log_probs(d, nxt, 4, temperature=1.0)
    Z = math.exp(-1) + math.exp(-2) + math.exp(-3)
    p_knn = [math.exp(-3) / Z, 0.0, (math.exp(-1) + math.exp(-2)) / Z, 0.0]
    assert valid.tolist() == [True]
    assert torch.allclose(lp_knn.exp(), torch.tensor([p_knn], dtype=torch.float64), atol=1e-12)
    # LM: logits 0, ln 2, 0, 0 -> p_LM = 1/5, 2/5, 1/5, 1/5
    logits = torch.tensor([[0.0, math.log(2.0), 0.0, 0.0]], dtype=torch.float64)
    p_lm = [0.2, 0.4, 0.2, 0.2]
    lam = 0.25
    out = interpolate(logits, lp_knn, lam, valid).exp()[0].tolist()
    want = [lam * a + (1 - lam) * b for a, b in zip(p_knn, p_lm)]
    # by hand: p(0) = 0.25*0.0900 + 0.75*0.2, p(2) = 0.25*0.9100 + 0.75*0.2
    assert out == pytest.approx(want, abs=1e-12)
    assert out[0] == pytest.approx(0.25 * 0.09003057317038046 + 0.15, abs=1e-12)
    assert sum(out) == pytest.approx(1.0, abs=1e-12)


def test_temperature_sharpens():
    d = torch.tensor([[1.0, 2.0]])
    nxt = torch.tensor([[0, 1]])
    soft = knn_log_probs(d, nxt, 2, 10.0)[0].exp()[0]
    sharp = knn_log_probs(d, nxt, 2, 0.1)[0].exp()[0]
    assert sharp[0] > soft[0] > 0.5
    assert float(soft[0]) == pytest.approx(1 / (1 + math.exp(-0.1)), abs=1e-12)


def test_lambda_zero_is_the_plain_lm_exactly():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(5, 256, generator=g)
    lp_knn, valid = knn_log_probs(torch.rand(5, 8, generator=g), torch.randint(0, 256, (5, 8), generator=g), 256, 0.5)
    assert torch.equal(interpolate(logits, lp_knn, 0.0, valid), torch.log_softmax(logits, -1))


def test_lambda_one_is_knn_and_missing_neighbours():
    d = torch.tensor([[0.5, float("inf")], [float("inf"), float("inf")]])
    nxt = torch.tensor([[3, -1], [-1, -1]])
    lp_knn, valid = knn_log_probs(d, nxt, 4, 1.0)
    assert valid.tolist() == [True, False]
    logits = torch.zeros(2, 4)
    out = interpolate(logits, lp_knn, 1.0, valid).exp()
    assert out[0].tolist() == pytest.approx([0, 0, 0, 1])
    assert out[1].tolist() == pytest.approx([0.25] * 4)  # no neighbour: p_LM kept


def test_config_checks():
    with pytest.raises(HwragError, match="lambda"):
        KnnLMConfig(lam=1.5).check()
    with pytest.raises(HwragError):
        KnnLMConfig(temperature=0).check()


def test_target_log_probs_equal_the_full_distribution():
    from llm_client.knnlm import interpolate_target, knn_target_log_probs

    g = torch.Generator().manual_seed(3)
    d = torch.rand(6, 5, generator=g, dtype=torch.float64) * 4
    nxt = torch.randint(0, 7, (6, 5), generator=g)
    nxt[1, 2] = -1
    nxt[4] = -1  # no neighbour at all
    d[2, 0] = float("inf")
    tgt = torch.randint(0, 7, (6,), generator=g)
    tgt[0] = nxt[0, 0]
    logits = torch.randn(6, 7, generator=g, dtype=torch.float64)
    full_knn, valid = knn_log_probs(d, nxt, 7, 0.7)
    knn_t, valid_t = knn_target_log_probs(d, nxt, tgt, 0.7)
    assert torch.equal(valid, valid_t)
    ok = valid
    assert torch.allclose(knn_t[ok], full_knn.gather(1, tgt[:, None])[:, 0][ok], atol=1e-12)
    for lam in (0.0, 0.3, 1.0):
        full = interpolate(logits, full_knn, lam, valid).gather(1, tgt[:, None])[:, 0]
        lp_lm = torch.log_softmax(logits, -1).gather(1, tgt[:, None])[:, 0]
        assert torch.allclose(interpolate_target(lp_lm, knn_t, lam, valid_t), full, atol=1e-12)


@pytest.mark.parametrize("lam", [0.0, 0.05, 0.3, 1.0])
def test_neighbour_interpolation_equals_the_dense_one(lam):
    """The sparse mixture generation uses against the vocabulary-wide one, on random cases with repeated
    next tokens, missing neighbours (-1, infinite distance) and a query without any neighbour."""
    from llm_client.knnlm import interpolate_neighbours

    g = torch.Generator().manual_seed(3)
    B, V, K = 5, 300, 16
    logits = torch.randn(B, V, generator=g) * 3
    d = torch.rand(B, K, generator=g, dtype=torch.float64) * 50
    nxt = torch.randint(0, 12, (B, K), generator=g)  # few distinct tokens: many repeats
    nxt[1, 3:7] = -1
    d[2, 5] = math.inf
    nxt[4] = -1  # no neighbour at all: keeps the LM
    want = interpolate(logits, *knn_log_probs(d, nxt, V, 7.0)[:1], lam, knn_log_probs(d, nxt, V, 7.0)[1])
    got = interpolate_neighbours(logits, d, nxt, lam, 7.0)
    assert got.dtype == want.dtype and got.shape == (B, V)
    assert torch.equal(torch.isinf(got), torch.isinf(want))
    fin = torch.isfinite(want)
    assert torch.allclose(got[fin], want[fin], atol=1e-5, rtol=0)
    assert torch.equal(got[4], torch.log_softmax(logits[4], -1))

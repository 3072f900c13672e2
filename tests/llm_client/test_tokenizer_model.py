import pytest
import torch
from ivfpq.errors import HwragError
from llm_client.model import GPT, GPTConfig
from llm_client.tokenizer import ByteTokenizer
from llm_client.train import load_checkpoint, save_checkpoint, train

from .conftest import tiny_config


@pytest.mark.parametrize("text", ["", "hello", "def f(x):\n\treturn x ** 2\n", "naïve café — 数据 🚀"])
def test_tokenizer_round_trip(text):
    t = ByteTokenizer()
    ids = t.encode(text)
    assert all(0 <= i < t.vocab_size for i in ids)
    assert t.decode(ids) == text
    assert t.decode_bytes(ids) == text.encode()
    assert t.encode_array(text).tolist() == ids


def test_checkpoint_keeps_config_and_weights(tmp_path):
    cfg = GPTConfig(n_layer=1, n_head=2, n_embd=32, block_size=16)
    torch.manual_seed(0)
    m = GPT(cfg).eval()
    p = save_checkpoint(m, tmp_path / "m.pt", tiny_config(), {"note": "x"})
    m2, ck = load_checkpoint(p, "cpu")
    assert m2.config == cfg
    assert ck["config"] == cfg.to_dict() and ck["meta"] == {"note": "x"}
    x = torch.randint(0, 256, (2, 16))
    assert torch.equal(m(x)[0], m2(x)[0])


def test_corrupt_checkpoint_is_refused(tmp_path):
    m = GPT(GPTConfig(n_layer=1, n_head=1, n_embd=8, block_size=8))
    p = save_checkpoint(m, tmp_path / "m.pt")
    with open(p, "r+b") as f:
        f.seek(100)
        f.write(b"\x00\x01\x02")
    with pytest.raises(HwragError, match="sha256"):
        load_checkpoint(p)
    with pytest.raises(HwragError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.pt")


def test_left_padding_does_not_change_the_answer():
    torch.manual_seed(1)
    m = GPT(GPTConfig(n_layer=2, n_head=2, n_embd=32, block_size=32)).eval()
    a = torch.randint(0, 256, (1, 10))
    padded = torch.cat([torch.zeros(1, 5, dtype=torch.long), a], 1)
    mask = torch.cat([torch.zeros(1, 5, dtype=torch.bool), torch.ones(1, 10, dtype=torch.bool)], 1)
    with torch.no_grad():
        l1, h1 = m(a)
        l2, h2 = m(padded, mask)
    assert torch.allclose(l1[0], l2[0, 5:], atol=1e-5) and torch.allclose(h1[0], h2[0, 5:], atol=1e-5)


def test_training_is_deterministic_with_a_seed():
    import numpy as np

    from llm_client.corpus import corpus_bytes

    data = corpus_bytes("train")[:50_000]
    a, _ = train(tiny_config(steps=5, seed=3), data=data, device="cpu", progress=False)
    b, _ = train(tiny_config(steps=5, seed=3), data=data, device="cpu", progress=False)
    c, _ = train(tiny_config(steps=5, seed=4), data=data, device="cpu", progress=False)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)
    assert np.isfinite(float(next(iter(sa.values())).sum()))


def test_missing_hf_model_is_a_clear_error(tmp_path):
    from llm_client.loading import load_lm

    with pytest.raises(HwragError, match="never downloads"):
        load_lm(f"hf:{tmp_path / 'no-such-model'}")
    with pytest.raises(HwragError, match="accepted"):
        load_lm("gpt-17")

"""bench.lm_profile counts the kernels of the fairseq-style step it profiles: checked against a hand count of
the replica's operators (independent of torch.profiler's bookkeeping)."""
import pytest


@pytest.mark.timeout(300)
def test_kernel_counts_by_hand():
    from bench.lm_profile import profile_shapes

    got = profile_shapes(d=32, heads=4, batch=2, ctx=3, memory=16)
    # self-attention layer: q, k, v, out and fc1, fc2 projections (6 addmm), q scaling (mul), cache extension
    # (2 cat), q.k and w.v (2 bmm), softmax, 2 residual adds, 2 layer norms, relu = 17
    assert got["self_attention_layer"]["kernels"] == 17
    # cross-attention over cached keys/values: q and out projections, scaling, 2 bmm, softmax, add, norm = 8
    assert got["cross_attention_block"]["kernels"] == 8
    # outside the layers: 2 embedding gathers, the position ids, scale, add, the output projection = 6
    assert got["step_outside_layers"]["kernels"] == 6
    # an encoder layer over a sequence: as the self-attention layer less the 2 cats, plus the contiguous
    # copy of the attention output (a sequence's transpose is not contiguous) = 16
    assert got["encoder_layer"]["kernels"] == 16
    assert all(m["syncs"] == 0 for m in got.values())

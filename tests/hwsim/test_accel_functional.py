"""Every model's functional results equal the fixed-point reference scan of tests/ivfpq/reference_scan.py (the
golden scan as it was before its fast paths, kept verbatim and single-threaded: code the accelerators do not
call), ids and integer distances, and equal the golden scan itself."""
import numpy as np
import pytest

from hwsim.configs import CONFIGS, make_accelerator
from hwsim.fpga import FpgaConfig, FpgaNode
from ivfpq.errors import HwragError
from ivfpq.kselect import scan_segments_hier
from ivfpq.scan import quantized_luts_for, scan_lists
from ivfpq.shard import shard_index

from .accel_helpers import queries_and_probe, random_index


@pytest.fixture(scope="module")
def case():
    idx = random_index(M=16)
    q, probe = queries_and_probe(idx)
    return idx, q, probe, scan_lists(idx, q, probe, 10)


@pytest.fixture(scope="module")
def oracle(case):
    """(ids, int distances) of the independent reference scan, in the default fixed-point format."""
    from ivfpq.fixedpoint import DEFAULT_FORMAT

    from ..ivfpq.reference_scan import reference_scan

    idx, q, probe, _ = case
    ids, dist, _, _ = reference_scan(idx, q, probe, 10, DEFAULT_FORMAT)
    return ids, dist


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_default_configs_equal_golden(case, oracle, name):
    idx, q, probe, g = case
    acc = make_accelerator(name)
    if name == "fanns_u55c":  # interleaved 20-byte entries: 3 per 512-bit word
        assert acc.config.units(16) == 3
    acc.load(idx)
    r = acc.run(q, probe, 10)
    np.testing.assert_array_equal(r.ids, oracle[0])
    np.testing.assert_array_equal(r.int_distances, oracle[1])
    np.testing.assert_array_equal(r.ids, g.ids)
    np.testing.assert_array_equal(r.int_distances, g.int_distances)
    np.testing.assert_array_equal(r.distances, g.distances)
    assert r.timing.config.startswith(name)
    assert all(np.all(v >= 0) for v in r.timing.stages.values())


@pytest.mark.parametrize("name", ["heterrag_accelhbm", "upmem"])
def test_whole_list_layout_equals_golden(case, oracle, name):
    from dataclasses import replace
    idx, q, probe, g = case
    acc = make_accelerator(replace(CONFIGS[name], layout="whole"))
    acc.load(idx)
    r = acc.run(q, probe, 10)
    np.testing.assert_array_equal(r.ids, oracle[0])
    np.testing.assert_array_equal(r.int_distances, oracle[1])


def test_shards_merge_to_golden(case, oracle):
    """Chameleon layout: each node's partial top-K (fpga model) merges into the unsharded answer."""
    from ivfpq.shard import merge_topk
    idx, q, probe, g = case
    parts = []
    for s in shard_index(idx, 3):
        acc = FpgaNode(FpgaConfig())
        acc.load(s)
        parts.append(acc.run(q, probe, 10))
    d, i = merge_topk([p.int_distances for p in parts], [p.ids for p in parts], 10)
    np.testing.assert_array_equal(i, oracle[0])
    np.testing.assert_array_equal(d, oracle[1])


def test_fpga_approximate_queues_follow_kselect(case):
    """l1 < K: per-lane level-1 queues; a single-channel, single-unit node is one lane = exact,
    and the result equals ivfpq.kselect's golden hierarchical model for the RTL's lane rule."""
    idx, q, probe, g = case
    cfg = FpgaConfig(channels=1, units_per_channel=4, l1=3)
    acc = FpgaNode(cfg)
    acc.load(idx)
    r = acc.run(q, probe, 10)
    ql = quantized_luts_for(idx, q, probe)
    for j in range(q.shape[0]):
        st, en = idx.offsets[probe[j]], idx.offsets[probe[j] + 1]
        d, i = scan_segments_hier(idx.codes, idx.ids, st, en, ql.lut[j], ql.bias[j], 65535, 4, 3, 10)
        np.testing.assert_array_equal(r.ids[j], i)
        np.testing.assert_array_equal(r.int_distances[j], d)
    exact = FpgaNode(FpgaConfig(channels=1, units_per_channel=1, l1=10))
    exact.load(idx)
    np.testing.assert_array_equal(exact.run(q, probe, 10).ids, g.ids)


def test_bad_inputs_raise(case):
    idx, q, probe, _ = case
    acc = make_accelerator("chameleon_u250")
    with pytest.raises(HwragError):
        acc.run(q, probe, 10)  # nothing loaded
    acc.load(idx)
    with pytest.raises(HwragError):
        acc.run(q, probe + 100, 10)
    with pytest.raises(HwragError):
        FpgaConfig(id_layout="nowhere")
    with pytest.raises(HwragError):
        make_accelerator("no_such_board")
    with pytest.raises(HwragError):  # 64-byte codes + 8-byte ids do not fit a 64-byte AXI word
        FpgaNode(FpgaConfig(id_layout="interleaved", axi_bits=512)).load(random_index(M=64, d=64, n=100))

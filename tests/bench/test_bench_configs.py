"""One configuration per benchmark: ``hwrag bench <name>`` with no flags runs exactly the benchmark's config
dataclass defaults (the ``python -m bench.<module>`` front-ends register the same flags), and clusters are
built from the cluster-config dataclasses and checked like a file."""
from types import SimpleNamespace

import pytest
from hwrag.cli import build_parser
from ivfpq.errors import HwragError


def _hwrag(*argv):
    return build_parser().parse_args(list(argv))


def test_service_bench_defaults_are_its_config():
    from bench.service_bench import ServiceBenchConfig, config_from_args

    assert config_from_args(_hwrag("bench", "service")) == ServiceBenchConfig()
    a = _hwrag("bench", "service", "--batch", "4", "--nodes", "2", "3", "--modes", "local")
    assert config_from_args(a) == ServiceBenchConfig(batches=(4,), nodes=(2, 3), modes=("local",))


def test_service_bench_config_rejects_bad_values():
    from bench.service_bench import ServiceBenchConfig

    with pytest.raises(HwragError, match="accepted: process, local"):
        ServiceBenchConfig(modes=("remote",)).check()
    with pytest.raises(HwragError, match=">= 1"):
        ServiceBenchConfig(batches=(0,)).check()


def test_ralm_and_dram_bench_defaults_are_their_configs():
    from bench.dram_speed import DramSpeedConfig
    from bench.ralm_bench import RalmBenchConfig, config_from_args

    assert config_from_args(_hwrag("bench", "ralm")) == RalmBenchConfig()
    a = _hwrag("bench", "dram")
    assert DramSpeedConfig(a.presets, a.requests, a.repeats, a.out) == DramSpeedConfig()


def test_demo_cluster_is_built_from_dataclasses():
    from hwrag.demo import DemoConfig, cluster_config
    from retrieval_service.config import ClusterConfig

    store = SimpleNamespace(index_name="chunks", path="/data/chunks", payload_path="/data/chunks.payloads")
    cfg = cluster_config(DemoConfig(), {"index_path": "/data/ann", "stores": {"chunk": store}})
    assert isinstance(cfg, ClusterConfig)
    cfg.check()
    assert [(i.name, i.backend, i.shards) for i in cfg.index] == [
        ("ann-cpu", "cpu", 2), ("ann-fpga", "fpga", 1), ("ann-pim-hbm", "pim-hbm", 1), ("ann-pim-dimm", "pim-dimm", 1),
        ("chunks", "cpu", 2)]
    assert cfg.coordinator.listen == "127.0.0.1:0"


def test_a_cluster_checks_a_config_built_in_code():
    from retrieval_service.cluster import Cluster
    from retrieval_service.config import ClusterConfig, IndexSection

    with pytest.raises(HwragError, match="serves no index"):
        Cluster(ClusterConfig())
    with pytest.raises(HwragError, match="shards=0"):
        Cluster(ClusterConfig(index=[IndexSection(path="/data/ann", shards=0)]))


def test_service_bench_runs_both_transports_side_by_side(tmp_path):
    """A tiny real run (servers in this process, loopback gRPC): a row per transport and client count, every
    call answered, the floors measured (the streamed floor between calls with one client only)."""
    from bench.service_bench import ServiceBenchConfig, run_service
    from ivfpq.datasets.synthetic import make_clustered
    from ivfpq.faiss_io import train_index

    xb, xq = make_clustered(2000, 16, 20, seed=1)
    index = train_index(xb, 16, 4, niter=4, seed=1)
    cfg = ServiceBenchConfig(modes=("local",), batches=(2,), concurrency=(1, 3), requests=4, repeats=1,
                             batch_windows=("adaptive",), transports=("unary", "stream", "stream-threads",
                                                                      "stream-shared"), out=str(tmp_path))
    res = run_service(index, xq, cfg, progress=False)
    rows = {(r["transport"], r["concurrency"]): r for r in res["rows"]}
    assert sorted(rows) == sorted((t, c) for t in cfg.transports for c in (1, 3))
    for (t, c), r in rows.items():
        assert r["errors"] == 0 and r["calls"] == 4 * c, (t, c)
        assert 0 < r["floor_stream_two_hops_p50_ms_measured"] < 1e3
        assert 0 < r["floor_two_hops_p50_ms_measured"] < 1e3
        assert r["floor_stream_cpu_us_per_msg_measured"]["server"] > 0
        between = r["floor_stream_interleaved_two_hops_p50_ms_measured"]
        assert (0 < between < 1e3) if c == 1 else between != between  # measured among one client's calls only

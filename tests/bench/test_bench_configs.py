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

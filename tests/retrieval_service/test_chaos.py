"""The service under faults, end to end on a supervised process cluster (issue 24): rejected oversize
requests leave the coordinator's memory where it was; and the chaos run (load, SIGKILLed memory nodes
restarted by the supervisor, bad actors) gives no wrong id, no hang, exact partial answers, every kill
recovered, bounded memory. A short run in the default tier, a longer one marked slow;
``python -m bench.service_bench --chaos`` reports the same run's figures."""
import time

import grpc
import numpy as np
import pytest
from retrieval_service.chaos import ChaosConfig, rss_mb, run_chaos
from retrieval_service.client import RetrievalClient, RetrievalError
from retrieval_service.cluster import Cluster
from retrieval_service.config import ClusterConfig
from retrieval_service.server import TRIM_CHECK_S

RSS_BOUND_MB = 50  # issue 24: RSS after 8 rejected 64 MB requests within 50 MB of before
#: recovery (SIGKILL -> complete answers) bound in the tests: the issue's 5 s on a quiet machine, with room
#: for the 2 cores shared by the whole suite (the bench reports the measured figure)
RECOVERY_BOUND_S = 20.0


def _cluster(saved_index, run_dir, shards: int) -> Cluster:
    cfg = ClusterConfig.from_dict({
        "coordinator": {"listen": "127.0.0.1:0", "probe_interval_s": 0.2},
        "index": [{"name": "default", "path": str(saved_index), "shards": shards, "backend": "cpu"}],
        "supervisor": {"restart_backoff_s": 0.1}})
    c = Cluster(cfg, run_dir=run_dir)
    c.start()
    c.supervise()
    return c


@pytest.fixture(scope="module")
def cluster(saved_index, tmp_path_factory):
    c = _cluster(saved_index, tmp_path_factory.mktemp("run"), 2)
    yield c
    c.stop()


def _settled_rss(pid: int, before: float, within_s: float = 3 * TRIM_CHECK_S) -> float:
    """The coordinator's RSS once it is back within the bound, or after ``within_s`` (its heap trim runs
    every TRIM_CHECK_S seconds when the RSS grew)."""
    t_end = time.monotonic() + within_s
    while (rss := rss_mb(pid)) - before >= RSS_BOUND_MB and time.monotonic() < t_end:
        time.sleep(0.05)
    print(f"coordinator RSS {before:.1f} -> {rss:.1f} MB")
    return rss


def test_rejected_oversize_requests_leave_no_memory_behind(cluster, data):
    pid = cluster.coordinator.proc.pid
    big = np.zeros(((64 << 20) // (4 * 32) + 1, 32), np.float32)  # 64 MB + one row: above the limit
    with RetrievalClient(cluster.address, timeout=30) as c:
        c.search(data[1][:4], 10, 6)
        before = rss_mb(pid)
        for _ in range(8):  # refused by the transport before it is read into memory
            with pytest.raises(RetrievalError) as e:
                c.search(big, 10, 6)
            assert e.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED and "larger than max" in e.value.details
        assert c.search(data[1][:4], 10, 6).complete  # still serving (and done with the requests before)
    after = _settled_rss(pid, before)
    assert after - before < RSS_BOUND_MB, f"coordinator RSS {before:.0f} -> {after:.0f} MB"


def test_requests_refused_after_reading_do_not_accumulate(cluster, data):
    """16 MB requests the transport takes (under its 64 MB limit) and the coordinator refuses before parsing
    them (larger than any valid Search: max_batch queries of the index's dimension): what stays is the
    allocator's plateau, not the requests. Measured 35-60 MB after 4 to 16 of them when they were still
    parsed; 90-140 MB and growing before the handlers dropped a refused request before aborting and
    trimmed the heap after a large one; 37-53 MB with the trim alone (53 failed this bound on a CI run),
    0-15 MB once the servers hold glibc's mmap threshold (server.hold_mmap_threshold; 6 runs, load ~2)."""
    pid = cluster.coordinator.proc.pid
    many = np.zeros((1 << 17, 32), np.float32)
    with RetrievalClient(cluster.address, timeout=30) as c:
        before = rss_mb(pid)
        for _ in range(8):
            with pytest.raises(RetrievalError) as e:
                c.search(many, 10, 6)
            assert e.value.code == grpc.StatusCode.INVALID_ARGUMENT and "at most 4096 queries" in e.value.details
        assert c.search(data[1][:4], 10, 6).complete
    after = _settled_rss(pid, before)
    assert after - before < RSS_BOUND_MB, f"coordinator RSS {before:.0f} -> {after:.0f} MB"


def test_chaos_short(cluster, index, data):
    cfg = ChaosConfig(duration_s=10.0, clients=3, batch=4, k=10, nprobe=6, kill_first_s=1.5, quiet_tail_s=8.0)
    rep = run_chaos(cluster, index, data[1], cfg)
    print(rep.to_dict())
    assert rep.kills == 1 and rep.calls > 0 and rep.partial > 0 and rep.complete > 0 and rep.bad_calls > 0
    assert not rep.violations(RSS_BOUND_MB, RECOVERY_BOUND_S), rep.violations(RSS_BOUND_MB, RECOVERY_BOUND_S)


@pytest.mark.slow
def test_chaos_long(saved_index, index, data, tmp_path):
    c = _cluster(saved_index, tmp_path / "run", 3)
    try:
        cfg = ChaosConfig(duration_s=60.0, clients=4, batch=4, k=10, nprobe=6, kill_first_s=3.0, kill_every_s=10.0)
        rep = run_chaos(c, index, data[1], cfg)
    finally:
        c.stop()
    print(rep.to_dict())
    assert rep.kills >= 5 and rep.partial > 0 and rep.fail_unavailable > 0
    assert not rep.violations(RSS_BOUND_MB, RECOVERY_BOUND_S), rep.violations(RSS_BOUND_MB, RECOVERY_BOUND_S)

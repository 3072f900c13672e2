"""bench project's rows: the end-to-end system figure is never better than the nodes' device time alone (the
system adds list selection, host, coordinator and network: an analytic bound), and the device-only view is
labelled as such."""
import math


def test_system_figures_bound_the_device_only_view():
    from bench.project_bench import run_project

    res = run_project(vectors=2e7, nlist=1024, nprobe=16, Ms=(16,), nodes=(1, 2), configs=("chameleon_u250", "upmem"),
                      progress=False)
    for r in res["rows"]:
        assert r["system"] in ("fpga-gpu", "upmem")
        assert r["system_latency_b1_us"] >= r["latency_batch1_us"]
        assert math.isfinite(r["system_speedup_vs_cpu"]) and r["system_speedup_vs_cpu"] > 0
    assert "not a system figure" in res["note"]

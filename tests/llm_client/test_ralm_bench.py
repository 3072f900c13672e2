"""The RALM benchmark with the retrieval service as separate processes (``--deploy process``), end to end on
the tiny model and stores: every configuration runs, and every figure says whether it is measured or modeled.
Timings are not asserted (they are measured in ``bench/``)."""
import argparse

import pytest

from ivfpq.errors import HwragError


def test_flags_default_to_the_process_deployment():
    from bench.ralm_bench import add_arguments

    p = argparse.ArgumentParser()
    add_arguments(p)
    assert p.parse_args([]).deploy == "process"
    assert p.parse_args(["--deploy", "local"]).deploy == "local"
    with pytest.raises(SystemExit):
        p.parse_args(["--deploy", "remote"])


def test_unknown_deployment_is_a_clear_error(tiny_lm, knn_store):
    from bench.ralm_bench import RalmBenchConfig, run

    with pytest.raises(HwragError, match="accepted: process, local"):
        run(RalmBenchConfig(backends=("cpu",), deploy="elsewhere"), lm=tiny_lm, stores={"token": knn_store},
            prompts=["a"])


def _check_rows(res, backends, modes):
    got = [(r["backend"], r["mode"], r["overlap"]) for r in res["rows"]]
    assert got == [x for b in backends for x in [(b, "none", None)] + [(b, m, o) for m in modes for o in (False, True)]]
    assert all(r["vs_retrieval_off"] == r["vs_retrieval_off_paired"] == 0.0 for r in res["rows"] if r["mode"] == "none")
    for r in res["rows"]:
        assert r["provenance"] == "measured" and r["cpu_s_lm_process"] > 0
        assert r["cpu_s_service"] > 0 or r["mode"] == "none"  # the service's processes did the retrievals
        assert r["new_tokens"] == 2 * 4 and r["tokens_per_s"] > 0 and r["lm_compute_s"] > 0
        assert 0.0 <= r["retrieval_share_of_step_time"] <= 1.0
        if r["mode"] == "none":
            assert r["retrievals"] == 0 and r["overlap_achieved"] is None
        else:
            assert r["retrievals"] > 0 and r["retrieval_latency_s"] > 0
            assert (r["overlap_achieved"] is None) == (not r["overlap"])
        # modeled figures only for the emulated backend, labelled with the modeled configuration
        if r["backend"] == "fpga" and r["mode"] != "none" and not r["overlap"]:
            m = r["modeled"]
            assert m["provenance"] == "modeled" and m["config"] and m["device_time_s"] > 0
            assert m["tokens_per_s_no_overlap"] > 0
        else:
            assert "modeled" not in r


def _bench(tiny_lm, stores, backends, modes):
    from bench.ralm_bench import RalmBenchConfig, run

    cfg = RalmBenchConfig(backends=backends, modes=modes, batch=2, new_tokens=4, sub_batches=2, shards=1, threads=1,
                          chunk_interval=2, knn_interval=1, repeats=1, deploy="process", chunk_min_context=64)
    res = run(cfg, lm=tiny_lm, stores=stores, prompts=["The function ", "import numpy"])
    assert res["setup"]["deployment"] == "process"
    assert "separate processes" in res["setup"]["deployment_note"]
    assert len(res["machine"]["loadavg_before"]) == 3 and len(res["machine"]["loadavg_after"]) == 3
    _check_rows(res, backends, modes)
    return res


def test_token_mode_through_service_processes(tiny_lm, knn_store, tmp_path):
    """The acceptance measurement's configuration (token mode, cpu backend, service as processes), small."""
    from bench.ralm_bench import table, write_report

    res = _bench(tiny_lm, {"token": knn_store}, ("cpu",), ("token",))
    text = table(res)
    assert "measured" in text and "service: process" in text and "load average" in text and "vs off" in text
    assert all(p.is_file() for p in write_report(res, tmp_path))


@pytest.mark.slow
def test_every_mode_on_cpu_and_fpga_through_service_processes(tiny_lm, knn_store, chunk_store):
    from bench.ralm_bench import cluster_config, table

    stores = {"chunk": chunk_store, "token": knn_store}
    cc = cluster_config(stores, "fpga", 1)
    assert [(ix.name, ix.backend, ix.shards, ix.compute_threads) for ix in cc.index] == [
        (chunk_store.index_name, "fpga", 1, 1), (knn_store.index_name, "fpga", 1, 1)]
    text = table(_bench(tiny_lm, stores, ("cpu", "fpga"), ("chunk", "token")))
    assert "modeled" in text and "FPGA" in text


def test_unknown_mode_is_a_clear_error():
    from bench.ralm_bench import add_arguments, config_from_args

    p = argparse.ArgumentParser()
    add_arguments(p)
    with pytest.raises(HwragError, match="accepted: chunk, token"):
        config_from_args(p.parse_args(["--modes", "token,words"]))


def test_children_cpu_is_counted_per_thread():
    """Hand-computed: a thread that ends loses only its last stretch, a new one counts from zero, a process
    that was not there before is not the service's."""
    from bench.ralm_bench import _children_cpu_delta

    before = {1: {10: 1.0, 11: 2.0}}
    after = {1: {10: 1.5, 12: 0.25}, 2: {20: 5.0}}
    assert _children_cpu_delta(before, after) == 0.75


def test_thread_cpu_clock_sees_a_short_burst():
    """Nanosecond per-thread clocks: a few ms of work is not read as 0 (as 10 ms ticks would)."""
    import time

    import psutil

    from bench.ralm_bench import _thread_cpu_seconds

    me = psutil.Process()
    t0 = sum(_thread_cpu_seconds(me).values())
    end = time.process_time() + 0.003
    while time.process_time() < end:
        pass
    assert sum(_thread_cpu_seconds(me).values()) - t0 >= 0.002

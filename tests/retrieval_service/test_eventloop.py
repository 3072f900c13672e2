"""The servers' event loop (retrieval_service.eventloop): the choice, its errors, and a SearchStream answered
exactly on uvloop as on asyncio's own loop."""
import asyncio

import numpy as np
import pytest
from ivfpq.errors import HwragError
from retrieval_service import eventloop
from retrieval_service.chaos import ExactOracle
from retrieval_service.eventloop import EVENT_LOOP_ENV, loop_kind

pytest.importorskip("uvloop")
K, NPROBE, SHARDS = 10, 6, 2


def test_the_default_is_uvloop_when_installed_and_the_environment_chooses(monkeypatch):
    monkeypatch.delenv(EVENT_LOOP_ENV, raising=False)
    assert loop_kind() == "uvloop"
    monkeypatch.setenv(EVENT_LOOP_ENV, "asyncio")
    assert loop_kind() == "asyncio"
    assert loop_kind("auto") == "asyncio"      # "auto" (a command line's default) is no choice: the environment's
    assert loop_kind("uvloop") == "uvloop"  # an explicit kind wins over the environment


def test_a_bad_kind_is_a_clear_error(monkeypatch):
    monkeypatch.setenv(EVENT_LOOP_ENV, "trio")
    with pytest.raises(HwragError, match="accepted: uvloop, asyncio"):
        loop_kind()


@pytest.mark.parametrize("kind", ["asyncio", "uvloop"])
def test_run_uses_the_kind(kind):
    async def which():
        return type(asyncio.get_running_loop()).__module__

    assert eventloop.run(which(), kind).split(".")[0] == kind


@pytest.mark.parametrize("servers", ["asyncio", "uvloop"])
def test_a_search_stream_answers_exactly_on_either_loop(servers, monkeypatch, index, data):
    """Servers (LocalCluster's loop thread) and the client's session each on ``servers``' kind of loop: every
    answer is the independent oracle's (the golden scan of each shard, merged)."""
    from retrieval_service.client import AsyncRetrievalClient
    from retrieval_service.local import LocalCluster

    monkeypatch.setenv(EVENT_LOOP_ENV, servers)
    batches = [data[1][i:i + 1 + i % 3] for i in range(12)]
    oracle = ExactOracle(index, SHARDS, batches, K, NPROBE)

    async def go(address):
        assert type(asyncio.get_running_loop()).__module__.split(".")[0] == servers
        async with AsyncRetrievalClient(address) as c, c.stream(window=4) as s:
            return await asyncio.gather(*[await s.submit(b, K, NPROBE) for b in batches])

    with LocalCluster(index, SHARDS) as cluster:
        assert type(cluster.loop.loop).__module__.split(".")[0] == servers  # the servers' loop thread
        got = eventloop.run(go(cluster.address))
    for j, r in enumerate(got):
        np.testing.assert_array_equal(r.ids, oracle.expected(j))

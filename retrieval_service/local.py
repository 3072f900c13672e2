"""A coordinator and N memory nodes in this process, on loopback ports, served by one background
event-loop thread: for tests, examples and in-process benchmarks (``cluster.py`` runs separate processes)."""
from __future__ import annotations

import asyncio
import threading

from ivfpq.index import IVFPQIndex
from ivfpq.shard import shard_index

from . import coordinator as coord_mod, memory_node
from .backends.base import ShardInfo
from .coordinator import Coordinator, CoordinatorConfig
from .payloads import PayloadStore
from .security import Security
from .wire import index_fingerprint


class LoopThread:
    """An asyncio event loop running in a daemon thread; ``run(coro)`` calls into it."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="hwrag-loop", daemon=True)
        self.thread.start()

    def run(self, coro, timeout: float | None = 120.0):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        if self.loop.is_running():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
        self.loop.close()


class LocalCluster:
    """``with LocalCluster(index, nshards=4) as c: RetrievalClient(c.address).search(...)``."""

    def __init__(self, index: IVFPQIndex, nshards: int = 1, backend: str = "cpu", *, name: str = "default",
                 config: CoordinatorConfig | None = None, payloads: PayloadStore | None = None,
                 security: Security | None = None, node_security: Security | None = None,
                 backend_options: dict | None = None, host: str = "127.0.0.1", compute_threads: int | None = 1):
        self.index, self.nshards, self.backend, self.name = index, nshards, backend, name
        self.config = config or CoordinatorConfig()
        self.payloads, self.security, self.node_security = payloads, security, node_security
        self.backend_options = backend_options
        self.host = host
        self.compute_threads = compute_threads  # per node; nodes share this process
        self.loop: LoopThread | None = None
        self.nodes: list[memory_node.MemoryNode] = []
        self.node_handles = []
        self.node_addresses: list[str] = []
        self.coordinator: Coordinator | None = None
        self.handle = None
        self.port = 0

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self) -> "LocalCluster":
        self.loop = LoopThread()
        try:
            self.loop.run(self._start())
        except BaseException:
            self.stop()
            raise
        return self

    async def _start(self) -> None:
        fp = index_fingerprint(self.index)
        shards = shard_index(self.index, self.nshards) if self.nshards > 1 else [self.index]
        for i, sh in enumerate(shards):
            node = memory_node.MemoryNode(self.backend, self.backend_options, compute_threads=self.compute_threads)
            node.load(sh, ShardInfo(self.name, i, self.nshards, fp))
            h, port = await memory_node.create_server(f"{self.host}:0", node, self.node_security)
            self.nodes.append(node)
            self.node_handles.append(h)
            self.node_addresses.append(f"{self.host}:{port}")
        self.coordinator = Coordinator(self.config)
        self.coordinator.add_index(self.name, self.index, self.node_addresses, self.payloads)
        self.handle, self.port = await coord_mod.create_server(f"{self.host}:0", self.coordinator, self.security)

    def stop_node(self, i: int, grace: float | None = 0.0) -> None:
        self.loop.run(self.node_handles[i].stop(grace))

    def stop(self, grace: float | None = 1.0) -> None:
        if self.loop is None:
            return

        async def _stop():
            if self.handle is not None:
                await self.handle.stop(grace)
            for h in self.node_handles:
                await h.stop(grace)

        try:
            self.loop.run(_stop(), timeout=30)
        finally:
            self.loop.close()
            self.loop = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

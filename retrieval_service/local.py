"""A coordinator and N memory nodes per index in this process, on loopback ports, served by one
background event-loop thread: for tests, examples and in-process benchmarks (``cluster.py`` runs
separate processes)."""
from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping
from dataclasses import dataclass

from ivfpq.index import IVFPQIndex
from ivfpq.payloads import PayloadStore
from ivfpq.shard import shard_index

from . import coordinator as coord_mod, memory_node
from .eventloop import new_event_loop
from .backends.base import ShardInfo
from .coordinator import Coordinator, CoordinatorConfig
from .security import Security
from .wire import index_fingerprint


class LoopThread:
    """An asyncio event loop running in a daemon thread; ``run(coro)`` calls into it."""

    def __init__(self):
        self.loop = new_event_loop()  # the servers' kind (uvloop when installed; retrieval_service.eventloop)
        self.thread = threading.Thread(target=self.loop.run_forever, name="hwrag-loop", daemon=True)
        self.thread.start()

    def run(self, coro, timeout: float | None = 120.0):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        if self.loop.is_running():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
        self.loop.close()


@dataclass
class Served:
    """One index a local cluster serves, with its payload store (or none)."""
    index: IVFPQIndex
    payloads: PayloadStore | None = None


class LocalCluster:
    """``with LocalCluster(index, nshards=4) as c: RetrievalClient(c.address).search(...)``.

    ``index`` is one index (served as ``name``) or a mapping name -> :class:`Served` (or an
    ``(index, payloads)`` pair): one coordinator
    serves every name, each index on its own ``nshards`` memory nodes (a node holds one shard of one index).
    """

    def __init__(self, index: IVFPQIndex | Mapping[str, Served | tuple], nshards: int = 1, backend: str = "cpu", *,
                 name: str = "default", config: CoordinatorConfig | None = None,
                 payloads: PayloadStore | None = None, security: Security | None = None,
                 node_security: Security | None = None, backend_options: dict | None = None,
                 host: str = "127.0.0.1", compute_threads: int | None = 1, scan_threads: int = 1):
        self.served = ({n: s if isinstance(s, Served) else Served(*s) for n, s in index.items()}
                       if isinstance(index, Mapping) else {name: Served(index, payloads)})
        self.nshards, self.backend = nshards, backend
        self.config = config or CoordinatorConfig()
        self.security, self.node_security = security, node_security
        self.backend_options = backend_options
        self.host = host
        self.compute_threads = compute_threads  # per node; nodes share this process
        self.scan_threads = scan_threads  # scans each node serves at once
        self.loop: LoopThread | None = None
        self.nodes: list[memory_node.MemoryNode] = []
        self.node_handles = []
        self.node_addresses: list[str] = []  # every index's nodes, in the order of ``served``
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
        self.coordinator = Coordinator(self.config)
        for name, s in self.served.items():
            addresses = await self._start_nodes(name, s.index)
            self.coordinator.add_index(name, s.index, addresses, s.payloads)
        self.handle, self.port = await coord_mod.create_server(f"{self.host}:0", self.coordinator, self.security)

    async def _start_nodes(self, name: str, index: IVFPQIndex) -> list[str]:
        fp = index_fingerprint(index)
        shards = shard_index(index, self.nshards) if self.nshards > 1 else [index]
        addresses = []
        for i, sh in enumerate(shards):
            node = memory_node.MemoryNode(self.backend, self.backend_options, scan_threads=self.scan_threads,
                                          compute_threads=self.compute_threads)
            node.load(sh, ShardInfo(name, i, self.nshards, fp))
            h, port = await memory_node.create_server(f"{self.host}:0", node, self.node_security)
            self.nodes.append(node)
            self.node_handles.append(h)
            addresses.append(f"{self.host}:{port}")
        self.node_addresses += addresses
        return addresses

    def stop_node(self, i: int, grace: float | None = 0.0) -> None:
        self.loop.run(self.node_handles[i].stop(grace))

    def restart_node(self, i: int) -> None:
        """Serve node ``i``'s shard again on its address, from a new MemoryNode (after :meth:`stop_node`)."""
        old = self.nodes[i]
        info = old._loaded.info

        async def _restart():
            node = memory_node.MemoryNode(self.backend, self.backend_options, scan_threads=self.scan_threads,
                                          compute_threads=self.compute_threads)
            node.load(old._loaded.shard, info)
            h, _ = await memory_node.create_server(self.node_addresses[i], node, self.node_security)
            self.nodes[i], self.node_handles[i] = node, h

        self.loop.run(_restart())

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

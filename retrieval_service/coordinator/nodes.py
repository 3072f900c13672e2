"""The coordinator's links to its memory nodes: one channel and stub per node, the node token, and the
three calls it makes (Scan, Info, LoadShard).

A place to add per-node flow control (Chameleon keeps 2-5 queries in flight per node) without
touching fan-out or merge.
"""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import grpc
from hwrag_rpc.v1 import memory_node_pb2 as npb, memory_node_pb2_grpc

from ..wire import MEMORY_NODE_SERVICE, bearer, channel_credentials, channel_options
from .config import CoordinatorConfig


@dataclass
class NodeHandle:
    shard: int
    address: str
    channel: grpc.aio.Channel
    stub: memory_node_pb2_grpc.MemoryNodeStub


class NodeLinks:
    """Opens channels to memory nodes and calls them with the coordinator's credentials."""

    def __init__(self, config: CoordinatorConfig):
        self.config = config

    def _channel(self, address: str) -> grpc.aio.Channel:
        c = self.config
        opts = channel_options(MEMORY_NODE_SERVICE, ["Scan", "Info"], c.node_attempts)
        if c.node_tls_root:
            if c.node_tls_server_name:
                opts.append(("grpc.ssl_target_name_override", c.node_tls_server_name))
            return grpc.aio.secure_channel(address, channel_credentials(c.node_tls_root), options=opts)
        return grpc.aio.insecure_channel(address, options=opts)

    def connect(self, addresses: list[str]) -> list[NodeHandle]:
        """One handle per address; shard i is on ``addresses[i]``."""
        handles = []
        for i, addr in enumerate(addresses):
            ch = self._channel(addr)
            handles.append(NodeHandle(i, addr, ch, memory_node_pb2_grpc.MemoryNodeStub(ch)))
        return handles

    def metadata(self, admin: bool = False):
        c = self.config
        tok = (c.node_admin_token or c.node_token) if admin else c.node_token
        return bearer(tok) if tok else None

    async def scan(self, node: NodeHandle, req: npb.ScanRequest, timeout: float) -> tuple[npb.ScanResponse, float]:
        """The node's answer and the measured round trip (s)."""
        t0 = time.perf_counter()
        resp = await node.stub.Scan(req, timeout=timeout, metadata=self.metadata())
        return resp, time.perf_counter() - t0

    async def info(self, node: NodeHandle, timeout: float = 1.0) -> npb.NodeInfo:
        return await node.stub.Info(npb.NodeInfoRequest(), timeout=timeout, metadata=self.metadata())

    async def load_shard(self, node: NodeHandle, index: str, path: str, nshards: int, timeout: float = 300):
        return await node.stub.LoadShard(npb.LoadShardRequest(index=index, path=path, shard=node.shard,
                                                              nshards=nshards),
                                         metadata=self.metadata(admin=True), timeout=timeout)

    @staticmethod
    async def close(nodes: list[NodeHandle], delay: float = 0.0) -> None:
        if delay:
            await asyncio.sleep(delay)
        for n in nodes:
            await n.channel.close()

"""What Info answers: the coordinator's limits and, per served index, its shape and each memory node's
state (its breaker's state, since when and why; reachable, backend, serving what this coordinator expects)."""
from __future__ import annotations

import asyncio

import grpc
from hwrag_rpc.v1 import retrieval_pb2 as pb

from ..wire import POLICIES
from .config import ADAPTIVE, CoordinatorConfig
from .nodes import NodeHandle, NodeLinks
from .registry import IndexEntry, IndexRegistry


def _with_state(s: pb.NodeStatus, n: NodeHandle) -> pb.NodeStatus:
    h = n.health
    s.state, s.state_since_unix_s, s.transitions, s.state_reason = h.state, h.since, h.transitions, h.reason
    return s


async def node_status(links: NodeLinks, entry: IndexEntry, n: NodeHandle) -> pb.NodeStatus:
    """A node's breaker state; and, when it is up, what it answers to Info (a down node is not dialled)."""
    if not n.health.up:
        return _with_state(pb.NodeStatus(shard=n.shard, address=n.address, reachable=False,
                                         error=f"down: {n.health.reason}"), n)
    try:
        r = await links.info(n)
    except grpc.aio.AioRpcError as x:
        return _with_state(pb.NodeStatus(shard=n.shard, address=n.address, reachable=False,
                                         error=f"{x.code().name}: {x.details()}"), n)
    ok = r.fingerprint == entry.fingerprint and (r.shard, r.nshards) == (n.shard, entry.nshards)
    err = "" if ok else (f"serves {r.index!r} shard {r.shard}/{r.nshards} fingerprint {r.fingerprint}, "
                         "not what this coordinator expects")
    return _with_state(pb.NodeStatus(shard=n.shard, address=n.address, reachable=True, backend=r.backend,
                                     error=err), n)


async def index_info(links: NodeLinks, e: IndexEntry) -> pb.IndexInfo:
    ix = e.index
    info = pb.IndexInfo(name=e.name, d=ix.d, nlist=ix.nlist, M=ix.M, ntotal=ix.ntotal, metric=ix.metric,
                        nshards=e.nshards, fingerprint=e.fingerprint, has_payloads=e.payloads is not None)
    info.nodes.extend(await asyncio.gather(*[node_status(links, e, n) for n in e.nodes]))
    return info


def window_for_info(window_s: float | str) -> float:
    """Info's ``batch_window_s``: the fixed window in seconds, 0 when off, -1 when adaptive."""
    return -1.0 if window_s == ADAPTIVE else float(window_s)


async def service_info(config: CoordinatorConfig, registry: IndexRegistry, list_selection: str) -> pb.InfoResponse:
    out = pb.InfoResponse(max_k=config.max_k, max_batch=config.max_batch, max_request_bytes=config.max_request_bytes,
                          batch_window_s=window_for_info(config.batch_window_s), default_policy=POLICIES[config.default_policy],
                          list_selection=list_selection)
    for e in registry.entries.values():
        out.indexes.append(await index_info(registry.links, e))
    return out

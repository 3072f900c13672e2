"""Fan-out: one Scan to every memory node of an index that is up, concurrently, under the caller's
deadline, and the dead-node policy (``fail``: UNAVAILABLE; ``partial``: go on without the shards that did
not answer). A node its breaker holds down (:mod:`.health`) is not dialled: its shard is missing at once.
The UNAVAILABLE answers are final (server pushback: clients do not retry them)."""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import grpc
import numpy as np
from hwrag_rpc.v1 import memory_node_pb2 as npb, retrieval_pb2 as pb

from ..wire import ServiceError, pack_i64, pack_matrix
from .nodes import NodeHandle, NodeLinks
from .registry import IndexEntry

# node errors that mean "this shard did not answer" (a dead, hung or broken node)
MISSING_CODES = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED,
                 grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN, grpc.StatusCode.RESOURCE_EXHAUSTED,
                 grpc.StatusCode.ABORTED}


@dataclass
class NodeAnswer:
    node: NodeHandle
    response: npb.ScanResponse
    rtt_s: float  # measured round trip


@dataclass
class FanOut:
    answers: list[NodeAnswer]
    missing: list[int] = field(default_factory=list)  # shards that did not answer (policy partial)


def node_timeout(deadline: float) -> float:
    """What the nodes get of the time left: room to merge and answer before the caller's deadline."""
    rem = deadline - time.monotonic()
    return max(0.001, rem - min(0.05, 0.2 * rem))


def down_error(entry: IndexEntry, down: list[NodeHandle], policy: int) -> ServiceError:
    """The final UNAVAILABLE of a search that cannot be answered because nodes are held down."""
    live = entry.nshards - len(down)
    return ServiceError(grpc.StatusCode.UNAVAILABLE,
                        f"{len(down)} of {entry.nshards} shards are down: "
                        + "; ".join(n.health.describe() for n in down)
                        + ("; ask with policy PARTIAL for an answer from the others"
                           if live and policy == pb.FAIL else ""), final=True)


async def fan_out(links: NodeLinks, entry: IndexEntry, q: np.ndarray, probe: np.ndarray, k: int, nprobe: int,
                  policy: int, deadline: float) -> FanOut:
    """Scan ``q`` over ``probe`` on every shard of ``entry`` that is up; raises per ``policy`` when shards
    are missing."""
    live = [n for n in entry.nodes if n.health.up]
    down = [n for n in entry.nodes if not n.health.up]
    if down and (policy == pb.FAIL or not live):
        raise down_error(entry, down, policy)
    timeout = node_timeout(deadline)
    qm, pb_probe = pack_matrix(q), pack_i64(probe)
    reqs = [npb.ScanRequest(index=entry.name, fingerprint=entry.fingerprint, shard=n.shard, nshards=entry.nshards,
                            queries=qm, probe=pb_probe, nprobe=nprobe, k=k) for n in live]
    if len(reqs) == 1:  # no gather (no extra task) for a single memory node
        try:
            results = [await links.scan(live[0], reqs[0], timeout)]
        except Exception as e:  # noqa: BLE001 -- sorted below like gather's exceptions
            results = [e]
    else:
        results = await asyncio.gather(*[links.scan(n, r, timeout) for n, r in zip(live, reqs)],
                                       return_exceptions=True)
    return _sort_results(links, entry, live, results, policy, down)


def _sort_results(links: NodeLinks, entry: IndexEntry, live: list[NodeHandle], results: list, policy: int,
                  down: list[NodeHandle]) -> FanOut:
    ok = []
    missing = [n.shard for n in down]
    reasons = [n.health.describe() for n in down]
    for n, r in zip(live, results):
        if isinstance(r, grpc.aio.AioRpcError):
            if r.code() in MISSING_CODES:
                links.failed(n, r)
                missing.append(n.shard)
                reasons.append(f"shard {n.shard} at {n.address}: {r.code().name} ({r.details()})")
                continue
            raise ServiceError(grpc.StatusCode.FAILED_PRECONDITION,
                               f"memory node {n.address} (shard {n.shard}) refused the scan: "
                               f"{r.code().name}: {r.details()}")
        if isinstance(r, BaseException):
            raise r
        ok.append(NodeAnswer(n, *r))
    if missing and (policy == pb.FAIL or not ok):
        raise ServiceError(grpc.StatusCode.UNAVAILABLE,
                           f"{len(missing)} of {entry.nshards} shards did not answer: {'; '.join(reasons)}"
                           + ("; ask with policy PARTIAL for an answer from the others" if ok else ""), final=True)
    return FanOut(ok, sorted(missing))

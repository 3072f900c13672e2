"""The coordinator's plain functions: search (check, list selection, batching window, fan-out, merge,
payloads, a figure per stage), index management and info, composed from the rooms beside this file.
All of it runs on one asyncio event loop; :mod:`.servicer` puts gRPC in front of it."""
from __future__ import annotations

import logging
import time

import grpc
import numpy as np
from hwrag_rpc.v1 import retrieval_pb2 as pb
from ivfpq.errors import HwragError
from ivfpq.index import IVFPQIndex
from ivfpq.lut import check_queries
from ivfpq.payloads import PayloadStore

from ..wire import MEASURED, POLICIES, POLICY_NAMES, Figure, ServiceError
from .batching import Batcher, batch_window
from .config import CoordinatorConfig
from .fanout import down_error, fan_out
from .health import HealthProber
from .info import index_info, service_info
from .merge import merge_answers
from .nodes import NodeLinks
from .outcome import SearchOutcome
from .registry import IndexEntry, IndexRegistry
from .selection import make_selector, torch_selection

log = logging.getLogger(__name__)


class Coordinator:
    def __init__(self, config: CoordinatorConfig | None = None):
        self.config = config or CoordinatorConfig()
        self.config.check()
        self.use_torch = torch_selection(self.config.list_selection)
        self.links = NodeLinks(self.config)
        self.registry = IndexRegistry(self.links, lambda ix: make_selector(ix, self.use_torch,
                                                                           self.config.select_threads))
        window = batch_window(self.config)
        self.batcher = Batcher(self.execute, window) if window is not None else None
        self.prober = HealthProber(self.all_nodes, self.config.probe_interval_s)
        self.links.on_suspect = self.prober.wake
        self.searches = 0  # Search calls answered or refused by search() (each is one call, never retried here)

    def all_nodes(self):
        """The memory-node handles of every served index."""
        return [n for e in self.registry.entries.values() for n in e.nodes]

    def entry(self, name: str) -> IndexEntry:
        """The served index ``name`` (NOT_FOUND when there is none)."""
        return self.registry.get(name)

    @property
    def list_selection(self) -> str:
        return "torch-cuda" if self.use_torch else "cpu"

    # ---- indexes -----------------------------------------------------------------------------------
    def add_index(self, name: str, index: IVFPQIndex, nodes: list[str], payloads: PayloadStore | None = None,
                  path: str | None = None, replace: bool = False) -> IndexEntry:
        """Serve ``index`` under ``name``, its shard i already on memory node ``nodes[i]`` (call on the loop)."""
        self.prober.start()
        return self.registry.add(name, index, nodes, payloads, path, replace)

    async def load_index(self, name: str, path: str, nodes: list[str] | None = None, payloads: str | None = None,
                         replace: bool = False) -> pb.IndexInfo:
        """Load ``path`` here and shard i of it on each memory node (admin: LoadIndex / ReplaceIndex)."""
        if not name or not path:
            raise HwragError("LoadIndex/ReplaceIndex need a name and the path of a saved index")
        self.prober.start()
        e = await self.registry.load(name, path, nodes, payloads, replace)
        return await index_info(self.links, e)

    async def info(self) -> pb.InfoResponse:
        return await service_info(self.config, self.registry, self.list_selection)

    async def close(self) -> None:
        await self.prober.close()
        await self.registry.close()

    # ---- search ------------------------------------------------------------------------------------
    def check(self, entry: IndexEntry, queries, k: int, nprobe: int) -> np.ndarray:
        q = check_queries(entry.index, queries)
        if q.shape[0] > self.config.max_batch:
            raise HwragError(f"{q.shape[0]} queries in one request; accepted: at most {self.config.max_batch}")
        if not 1 <= k <= self.config.max_k:
            raise HwragError(f"k={k}; accepted: 1..{self.config.max_k}")
        if not 1 <= nprobe <= entry.index.nlist:
            raise HwragError(f"nprobe={nprobe}; accepted: 1..nlist={entry.index.nlist}")
        return q

    def policy(self, policy: str | int | None) -> int:
        """The dead-node policy of a request (a name, a wire value, or unset: the configured default)."""
        if policy is None or policy == pb.DEAD_NODE_POLICY_UNSPECIFIED or policy == "":
            return POLICIES[self.config.default_policy]
        if isinstance(policy, str):
            if policy not in POLICIES:
                raise HwragError(f"policy={policy!r}; accepted: {', '.join(POLICIES)}")
            return POLICIES[policy]
        if policy not in POLICY_NAMES:
            raise HwragError(f"policy={policy}; accepted: FAIL (1), PARTIAL (2)")
        return int(policy)

    async def search(self, queries, k: int, nprobe: int, index: str = "default", policy: str | int | None = None,
                     with_payloads: bool = False, timeout: float | None = None) -> SearchOutcome:
        """Search ``queries`` (n, d): the merged top-``k`` over every shard of ``index``."""
        t0 = time.perf_counter()
        self.searches += 1
        entry = self.registry.get(index)
        pol = self.policy(policy)
        q = self.check(entry, queries, int(k), int(nprobe))
        if with_payloads and entry.payloads is None:
            raise ServiceError(grpc.StatusCode.FAILED_PRECONDITION, f"index {entry.name!r} has no payload store")
        down = [n for n in entry.nodes if not n.health.up]
        if down and (pol == pb.FAIL or len(down) == entry.nshards):  # no list selection, no batching window
            raise down_error(entry, down, pol)
        deadline = time.monotonic() + (timeout if timeout is not None else self.config.default_deadline_s)
        if self.batcher is not None:
            out = await self.batcher.submit(entry, q, int(k), int(nprobe), pol, deadline)
        else:
            out = await self.execute(entry, q, int(k), int(nprobe), pol, deadline)
        if with_payloads:
            t1 = time.perf_counter()
            out.payloads = entry.payloads.get(out.ids)
            out.figures.append(Figure("payload", time.perf_counter() - t1, MEASURED, where="coordinator"))
        out.figures.append(Figure("coordinator_total", time.perf_counter() - t0, MEASURED, where="coordinator"))
        return out

    async def execute(self, entry: IndexEntry, q: np.ndarray, k: int, nprobe: int, policy: int,
                      deadline: float) -> SearchOutcome:
        """One fan-out of checked queries: select lists, scan on every node, merge."""
        t0 = time.perf_counter()
        probe = entry.selector.select(q, nprobe)
        t1 = time.perf_counter()
        figs = [Figure("select", t1 - t0, MEASURED, where="coordinator", config=entry.selector.name)]
        scanned = await fan_out(self.links, entry, q, probe, k, nprobe, policy, deadline)
        figs.append(Figure("fanout", time.perf_counter() - t1, MEASURED, where="coordinator"))
        merged = merge_answers(scanned.answers, q.shape[0], k, entry.nshards)
        if scanned.missing:
            log.warning("index %r: partial answer without shards %s", entry.name, scanned.missing)
        return SearchOutcome(merged.ids, merged.distances, merged.fixed_point, scanned.missing, figs + merged.figures)

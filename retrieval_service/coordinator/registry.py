"""The index registry: which indexes the coordinator serves, each with its memory nodes, list selector
and payload store; adding, loading (admin LoadIndex) and replacing (ReplaceIndex) them."""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import grpc
from ivfpq.errors import HwragError
from ivfpq.index import IVFPQIndex
from ivfpq.payloads import PayloadStore, default_path

from ..wire import ServiceError, index_fingerprint
from .nodes import NodeHandle, NodeLinks
from .selection import ListSelector

log = logging.getLogger(__name__)

#: seconds a replaced index's node channels stay open for the calls still in flight on them
RETIRE_AFTER_S = 30.0


@dataclass
class IndexEntry:
    name: str
    index: IVFPQIndex  # the full index (memory-mapped): centroids for list selection, shapes for checks
    fingerprint: str
    nodes: list[NodeHandle]
    selector: ListSelector
    payloads: PayloadStore | None = None
    path: str | None = None

    @property
    def nshards(self) -> int:
        return len(self.nodes)


def load_payloads(index_path, payloads: str | None = None) -> PayloadStore | None:
    """The payload store ``payloads``, else ``<index_path>.payloads`` when it exists, else None."""
    if payloads:
        return PayloadStore.load(payloads)
    p = default_path(index_path)
    return PayloadStore.load(p) if Path(p).exists() else None


class IndexRegistry:
    """Indexes by name. ``make_selector(index)`` builds each index's list selector once."""

    def __init__(self, links: NodeLinks, make_selector: Callable[[IVFPQIndex], ListSelector]):
        self.links, self.make_selector = links, make_selector
        self.entries: dict[str, IndexEntry] = {}
        self._retired: list[tuple[asyncio.Task, IndexEntry]] = []

    def get(self, name: str) -> IndexEntry:
        e = self.entries.get(name or "default")
        if e is None:
            raise ServiceError(grpc.StatusCode.NOT_FOUND, f"unknown index {name or 'default'!r}; served: "
                               f"{', '.join(sorted(self.entries)) or 'none'}")
        return e

    def _entry(self, name: str, index: IVFPQIndex, nodes: list[str], payloads: PayloadStore | None,
               path: str | None) -> IndexEntry:
        if not name:
            raise HwragError("an index needs a non-empty name")
        if not nodes:
            raise HwragError(f"index {name!r} needs at least one memory node address")
        return IndexEntry(name, index, index_fingerprint(index), self.links.connect(nodes, name), self.make_selector(index),
                          payloads, path)

    def _register(self, entry: IndexEntry) -> IndexEntry:
        old = self.entries.get(entry.name)
        self.entries[entry.name] = entry
        if old is not None:  # calls in flight on the old entry finish first
            task = asyncio.get_running_loop().create_task(self.links.close(old.nodes, delay=RETIRE_AFTER_S))
            self._retired.append((task, old))
        ix = entry.index
        log.info("index %r: %d vectors, nlist=%d, d=%d, %d shards", entry.name, ix.ntotal, ix.nlist, ix.d,
                 entry.nshards)
        return entry

    def _check_name(self, name: str, replace: bool) -> None:
        if replace and name not in self.entries:
            raise ServiceError(grpc.StatusCode.NOT_FOUND, f"index {name!r} is not served; use LoadIndex")
        if not replace and name in self.entries:
            raise ServiceError(grpc.StatusCode.ALREADY_EXISTS, f"index {name!r} is already served; use ReplaceIndex")

    def add(self, name: str, index: IVFPQIndex, nodes: list[str], payloads: PayloadStore | None = None,
            path: str | None = None, replace: bool = False) -> IndexEntry:
        """Serve ``index`` under ``name``, its shard i already on memory node ``nodes[i]`` (call on the loop)."""
        if not replace:
            self._check_name(name, replace=False)
        return self._register(self._entry(name, index, nodes, payloads, path))

    async def load(self, name: str, path: str, nodes: list[str] | None = None, payloads: str | None = None,
                   replace: bool = False) -> IndexEntry:
        """Load ``path`` here and shard i of it on each memory node (admin: LoadIndex / ReplaceIndex)."""
        from ivfpq.storage import load_index

        self._check_name(name, replace)
        if not nodes and replace:
            nodes = [n.address for n in self.entries[name].nodes]
        if not nodes:
            raise HwragError("LoadIndex needs the memory node addresses (shard i on nodes[i])")
        index = await asyncio.to_thread(load_index, path)
        store = await asyncio.to_thread(load_payloads, path, payloads)
        entry = self._entry(name, index, list(nodes), store, str(path))
        try:
            await asyncio.gather(*[self.links.load_shard(n, name, str(path), entry.nshards) for n in entry.nodes])
        except grpc.aio.AioRpcError as e:
            await self.links.close(entry.nodes)
            raise ServiceError(grpc.StatusCode.UNAVAILABLE if e.code() == grpc.StatusCode.UNAVAILABLE
                               else grpc.StatusCode.FAILED_PRECONDITION,
                               f"a memory node failed to load {path}: {e.code().name}: {e.details()}") from None
        return self._register(entry)

    async def close(self) -> None:
        for task, old in self._retired:
            task.cancel()
            await self.links.close(old.nodes)
        self._retired.clear()
        for e in self.entries.values():
            await self.links.close(e.nodes)

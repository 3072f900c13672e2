"""The client side of retrieval: which service address and index name serve each datastore, and sync
and asynchronous (future-returning) searches with measured latency. Only the client side of
``retrieval_service`` is used: whoever runs a service (the ``hwrag`` command, a benchmark, a test,
another host) hands its address here.

    with connect("127.0.0.1:50051", {"chunk": chunk_store, "token": knn_store}) as r:
        t = r.search("token", hidden, k=16, nprobe=16)     # t.result.ids, t.latency_s
"""
from __future__ import annotations

import logging
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from ivfpq.errors import HwragError

log = logging.getLogger(__name__)

KINDS = ("chunk", "token")


@dataclass
class StoreRef:
    address: str  # host:port of a Retrieval service (its coordinator)
    index: str  # the name the index is served under
    nlist: int = 0  # its IVF lists when known: a larger nprobe is capped there (small stores of user files)


@dataclass
class Timed:
    """A search result with the client-side measured latency (submit to answer) and thread times."""
    result: object  # retrieval_service.client.SearchResult
    latency_s: float
    t_submit: float
    t_done: float


class Retriever:
    """Searches the datastores by kind through the Retrieval service (one channel per address)."""

    def __init__(self, refs: dict[str, StoreRef], token: str | None = None, timeout: float = 30.0,
                 workers: int = 4):
        from retrieval_service.client import RetrievalClient

        unknown = set(refs) - set(KINDS)
        if unknown:
            raise HwragError(f"unknown datastore kinds {sorted(unknown)}; accepted: {', '.join(KINDS)}")
        self.refs = dict(refs)
        self._clients = {}
        for ref in self.refs.values():
            if ref.address not in self._clients:
                self._clients[ref.address] = RetrievalClient(ref.address, token=token, timeout=timeout)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="retrieve")

    def has(self, kind: str) -> bool:
        return kind in self.refs

    def _ref(self, kind: str) -> StoreRef:
        if kind not in self.refs:
            raise HwragError(f"no {kind} datastore is connected; connected: {', '.join(self.refs) or 'none'}")
        return self.refs[kind]

    def search(self, kind: str, queries: np.ndarray, k: int, nprobe: int, with_payloads: bool = True) -> Timed:
        ref = self._ref(kind)
        nprobe = min(nprobe, ref.nlist) if ref.nlist else nprobe
        t0 = time.perf_counter()
        r = self._clients[ref.address].search(np.ascontiguousarray(queries, dtype=np.float32), k, nprobe,
                                              index=ref.index, with_payloads=with_payloads)
        t1 = time.perf_counter()
        return Timed(r, t1 - t0, t0, t1)

    def submit(self, kind: str, queries: np.ndarray, k: int, nprobe: int, with_payloads: bool = True) -> Future:
        """The same search, answered on a worker thread (a Future of :class:`Timed`)."""
        q = np.array(queries, dtype=np.float32, copy=True)
        self._ref(kind)
        return self._pool.submit(self.search, kind, q, k, nprobe, with_payloads)

    def wait_ready(self, timeout: float = 30.0) -> None:
        for c in self._clients.values():
            c.wait_ready(timeout)

    def info(self) -> dict:
        out = {}
        for addr, c in self._clients.items():
            out[addr] = [(ix.name, ix.ntotal, ix.d) for ix in c.info().indexes]
        return out

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        for c in self._clients.values():
            c.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def connect(server: str, stores: dict, token: str | None = None, nodes: list[str] | None = None) -> Retriever:
    """A running service at ``server``: the datastores must be served there under their index names
    (``Datastore.index_name``); with ``nodes`` (memory node addresses) missing ones are loaded."""
    from retrieval_service.client import RetrievalClient

    with RetrievalClient(server, token=token) as c:
        c.wait_ready(10.0)
        served = {ix.name for ix in c.info().indexes}
        for kind, ds in stores.items():
            if ds.index_name in served:
                continue
            if not nodes:
                raise HwragError(f"{server} does not serve {ds.index_name!r} (served: {', '.join(sorted(served)) or 'none'}); "
                                 f"load it there (path {ds.path}) or pass --nodes so the client loads it")
            c.load_index(ds.index_name, str(ds.path), nodes, str(ds.payload_path))
    return Retriever({kind: StoreRef(server, ds.index_name, ds.nlist) for kind, ds in stores.items()}, token=token)

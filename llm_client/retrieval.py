"""The client side of retrieval: which service address and index name serve each datastore, and sync
and asynchronous (future-returning) searches with measured latency. Only the client side of
``retrieval_service`` is used: whoever runs a service (the ``hwrag`` command, a benchmark, a test,
another host) hands its address here.

    with connect("127.0.0.1:50051", {"chunk": chunk_store, "token": knn_store}) as r:
        t = r.search("token", hidden, k=16, nprobe=16)     # t.result.ids, t.latency_s
        f = r.submit("token", hidden, k=16, nprobe=16)     # a Future of the same, answered while you compute

Token mode (a search every token) and chunk mode send their searches on one ``SearchStream`` session per
service address (``transport="stream"``, the default): many searches in flight on it, no call set-up per
search on either end, the answers matched by request id; a stream that ended (the service restarted) is
opened again on the next search. ``transport="unary"`` makes a ``Search`` call per search instead (on a
pool of ``workers`` threads for :meth:`Retriever.submit`).
"""
from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor, TimeoutError as FutureTimeout
from dataclasses import dataclass

import numpy as np
from ivfpq.errors import HwragError

log = logging.getLogger(__name__)

KINDS = ("chunk", "token")
TRANSPORTS = ("stream", "unary")


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
    """Searches the datastores by kind through the Retrieval service (one channel per address, and on it
    one streaming session unless ``transport="unary"``)."""

    def __init__(self, refs: dict[str, StoreRef], token: str | None = None, timeout: float = 30.0,
                 workers: int = 4, transport: str = "stream", window: int = 64):
        from retrieval_service.client import RetrievalClient

        unknown = set(refs) - set(KINDS)
        if unknown:
            raise HwragError(f"unknown datastore kinds {sorted(unknown)}; accepted: {', '.join(KINDS)}")
        if transport not in TRANSPORTS:
            raise HwragError(f"transport={transport!r}; accepted: {', '.join(TRANSPORTS)}")
        self.refs = dict(refs)
        self.transport, self.window, self.timeout = transport, window, timeout
        self._clients = {}
        for ref in self.refs.values():
            if ref.address not in self._clients:
                self._clients[ref.address] = RetrievalClient(ref.address, token=token, timeout=timeout)
        self._sessions: dict = {}  # address -> SearchSession (transport "stream")
        self._lock = threading.Lock()
        self._pool = (ThreadPoolExecutor(max_workers=workers, thread_name_prefix="retrieve")
                      if transport == "unary" else None)

    def has(self, kind: str) -> bool:
        return kind in self.refs

    def _ref(self, kind: str) -> StoreRef:
        if kind not in self.refs:
            raise HwragError(f"no {kind} datastore is connected; connected: {', '.join(self.refs) or 'none'}")
        return self.refs[kind]

    def _session(self, address: str):
        """The address's streaming session, opened again when the last one ended."""
        with self._lock:
            s = self._sessions.get(address)
            if s is None or s.ended is not None:
                if s is not None:
                    s.close(timeout=0.1)
                s = self._sessions[address] = self._clients[address].stream(window=self.window)
            return s

    def _unary(self, ref: StoreRef, q: np.ndarray, k: int, nprobe: int, with_payloads: bool) -> Timed:
        t0 = time.perf_counter()
        r = self._clients[ref.address].search(q, k, nprobe, index=ref.index, with_payloads=with_payloads)
        t1 = time.perf_counter()
        return Timed(r, t1 - t0, t0, t1)

    def search(self, kind: str, queries: np.ndarray, k: int, nprobe: int, with_payloads: bool = True) -> Timed:
        if self.transport == "unary":
            ref = self._ref(kind)
            return self._unary(ref, np.ascontiguousarray(queries, dtype=np.float32), k, self._nprobe(ref, nprobe),
                               with_payloads)
        fut = self.submit(kind, queries, k, nprobe, with_payloads)
        try:
            return fut.result(timeout=self.timeout)
        except FutureTimeout:
            raise HwragError(f"no answer from the retrieval service in {self.timeout} s ({kind} search)") from None

    @staticmethod
    def _nprobe(ref: StoreRef, nprobe: int) -> int:
        return min(nprobe, ref.nlist) if ref.nlist else nprobe

    def submit(self, kind: str, queries: np.ndarray, k: int, nprobe: int, with_payloads: bool = True) -> Future:
        """The same search, in flight while the caller computes: a Future of :class:`Timed` (its latency from
        submit to the answer's arrival)."""
        from retrieval_service.client import RetrievalError

        ref = self._ref(kind)
        q = np.array(queries, dtype=np.float32, copy=True)
        if self.transport == "unary":
            return self._pool.submit(self._unary, ref, q, k, self._nprobe(ref, nprobe), with_payloads)
        out: Future = Future()
        t0 = time.perf_counter()
        for attempt in (1, 2):  # a stream that ended meanwhile (the service restarted): once more on a new one
            session = self._session(ref.address)
            try:
                fut = session.submit(q, k, self._nprobe(ref, nprobe), index=ref.index, with_payloads=with_payloads)
                break
            except RetrievalError:
                if attempt == 2 or session.ended is None:
                    raise

        def done(f: Future) -> None:  # on the session's reader thread, as the answer arrives
            t1 = time.perf_counter()
            e = f.exception()
            if e is not None:
                out.set_exception(e)
            else:
                out.set_result(Timed(f.result(), t1 - t0, t0, t1))

        fut.add_done_callback(done)
        return out

    def wait_ready(self, timeout: float = 30.0) -> None:
        for c in self._clients.values():
            c.wait_ready(timeout)

    def info(self) -> dict:
        out = {}
        for addr, c in self._clients.items():
            out[addr] = [(ix.name, ix.ntotal, ix.d) for ix in c.info().indexes]
        return out

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        for s in self._sessions.values():
            s.close()
        for c in self._clients.values():
            c.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def connect(server: str, stores: dict, token: str | None = None, nodes: list[str] | None = None,
            transport: str = "stream") -> Retriever:
    """A running service at ``server``: the datastores must be served there under their index names
    (``Datastore.index_name``); with ``nodes`` (memory node addresses) missing ones are loaded. ``transport``:
    see :class:`Retriever`."""
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
    return Retriever({kind: StoreRef(server, ds.index_name, ds.nlist) for kind, ds in stores.items()}, token=token,
                     transport=transport)

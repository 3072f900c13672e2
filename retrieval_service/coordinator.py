"""The coordinator: IVF list selection, concurrent fan-out to every memory node, exact merge of the
partial top-K, payload lookup, a batching window for concurrent callers, deadlines, retries, and the
per-request dead-node policy (``fail``: UNAVAILABLE; ``partial``: answer listing the missing shards).

``Coordinator`` holds the plain functions; the servicer methods are thin wrappers; :func:`create_server`
binds and starts it. All methods run on one asyncio event loop.
"""
from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import numpy as np
from ivfpq.errors import HwragError
from ivfpq.index import IVFPQIndex
from ivfpq.lut import check_queries, select_lists

from hwrag_rpc.v1 import common_pb2, memory_node_pb2 as npb, memory_node_pb2_grpc, retrieval_pb2 as pb
from ivfpq.payloads import PayloadStore, default_path

from .security import Security
from .server import DEFAULT_MAX_REQUEST_BYTES, Method, Service, ServerHandle, start_server
from .wire import (MEASURED, MEMORY_NODE_SERVICE, POLICIES, POLICY_NAMES, RETRIEVAL_SERVICE, Figure, ServiceError,
                   bearer, channel_credentials, channel_options, figure_from_pb, figure_to_pb, index_fingerprint, pack_f32, pack_i64,
                   pack_matrix, unpack, unpack_matrix)

log = logging.getLogger(__name__)

SERVICE = RETRIEVAL_SERVICE
# node errors that mean "this shard did not answer" (a dead, hung or broken node)
_MISSING_CODES = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED,
                  grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN, grpc.StatusCode.RESOURCE_EXHAUSTED,
                  grpc.StatusCode.ABORTED}


@dataclass
class CoordinatorConfig:
    max_k: int = 1024
    max_batch: int = 4096  # queries per request
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    batch_window_s: float = 0.0  # > 0: gather concurrent callers' queries for this long into one fan-out
    max_window_queries: int = 1024  # a window flushes early once it holds this many queries
    default_deadline_s: float = 10.0  # for callers that set none
    default_policy: str = "fail"
    node_attempts: int = 3  # attempts per node Scan (retries on UNAVAILABLE), within the deadline
    list_selection: str = "cpu"  # "cpu" (faiss) | "torch" (CUDA) | "auto" (torch when CUDA is present)
    select_threads: int = 1  # faiss threads for CPU list selection (on the event loop's thread)
    node_token: str | None = None  # token the coordinator sends to memory nodes
    node_admin_token: str | None = None  # for LoadShard (defaults to node_token)
    node_tls_root: str | None = None  # PEM root certificate: talk TLS to memory nodes
    node_tls_server_name: str | None = None  # override the name checked in node certificates

    def check(self) -> None:
        if self.default_policy not in POLICIES:
            raise HwragError(f"default_policy={self.default_policy!r}; accepted: {', '.join(POLICIES)}")
        if self.list_selection not in ("cpu", "torch", "auto"):
            raise HwragError(f"list_selection={self.list_selection!r}; accepted: cpu, torch, auto")
        if self.batch_window_s < 0 or self.default_deadline_s <= 0 or self.max_k < 1 or self.max_batch < 1:
            raise HwragError("batch_window_s >= 0, default_deadline_s > 0, max_k >= 1 and max_batch >= 1 required")


@dataclass
class NodeHandle:
    shard: int
    address: str
    channel: grpc.aio.Channel
    stub: memory_node_pb2_grpc.MemoryNodeStub


@dataclass
class IndexEntry:
    name: str
    index: IVFPQIndex  # the full index (memory-mapped): centroids for list selection, shapes for checks
    fingerprint: str
    nodes: list[NodeHandle]
    payloads: PayloadStore | None = None
    path: str | None = None
    selector: object | None = None  # torch centroids on CUDA when list_selection uses torch
    quantizer: object | None = None  # faiss flat index over the centroids (CPU list selection)

    @property
    def nshards(self) -> int:
        return len(self.nodes)


@dataclass
class SearchOutcome:
    ids: np.ndarray  # (nq, k) int64
    distances: np.ndarray  # (nq, k) float32
    fixed_point: bool
    missing_shards: list[int] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    payloads: list[bytes] | None = None


def merge_partials(ids: list[np.ndarray], keys: list[np.ndarray], dists: list[np.ndarray], k: int):
    """Exact merge of partial top-K lists by (key, id), -1 ids last (ivfpq.shard.merge_topk's order).

    ``keys`` are what ranks (int hardware distances for fixed point, float distances otherwise);
    ``dists`` (float) follow along. Returns (ids (nq, k), dists (nq, k)).
    """
    I = np.concatenate(ids, axis=1)
    K = np.concatenate([np.asarray(x) for x in keys], axis=1)
    D = np.concatenate(dists, axis=1)
    missing = I < 0
    Kk = np.where(missing, np.inf, K.astype(np.float64)) if K.dtype.kind == "f" else \
        np.where(missing, np.iinfo(np.int64).max, K.astype(np.int64))
    Ik = np.where(missing, np.iinfo(np.int64).max, I)
    order = np.lexsort((Ik, Kk), axis=-1)[:, :k]
    I_out = np.take_along_axis(I, order, 1)
    D_out = np.take_along_axis(D, order, 1).astype(np.float32)
    if I_out.shape[1] < k:
        pad = k - I_out.shape[1]
        I_out = np.pad(I_out, ((0, 0), (0, pad)), constant_values=-1)
        D_out = np.pad(D_out, ((0, 0), (0, pad)), constant_values=np.inf)
    D_out[I_out < 0] = np.inf
    return I_out, D_out


def make_quantizer(index: IVFPQIndex):
    """A faiss flat index over the coarse centroids, built once per served index (not once per call)."""
    import faiss

    flat = faiss.IndexFlatL2(index.d) if index.metric == "l2" else faiss.IndexFlatIP(index.d)
    flat.add(np.ascontiguousarray(index.centroids, dtype=np.float32))
    return flat


def select_probe(index: IVFPQIndex, q: np.ndarray, nprobe: int, quantizer=None) -> np.ndarray:
    """CPU list selection: the ``nprobe`` nearest coarse centroids per query, nearest first (what
    ``ivfpq.lut.select_lists`` answers; ``quantizer`` from :func:`make_quantizer` saves rebuilding it)."""
    if quantizer is None:
        return select_lists(index, q, nprobe)
    _, probe = quantizer.search(q, int(nprobe))
    return probe.astype(np.int64, copy=False)


def _remaining(deadline: float) -> float:
    return deadline - time.monotonic()


class _Batcher:
    """Gathers concurrent callers with the same (index, k, nprobe, policy) into one fan-out.

    A caller that finds no fan-out of its key in flight goes at once (a lone caller never waits for the
    window); callers arriving while one is in flight gather, and go together when it finishes, when the
    window since the first of them expires, or when they hold ``max_queries`` queries, whichever is first.
    """

    def __init__(self, coord: "Coordinator", window_s: float, max_queries: int):
        self.coord, self.window_s, self.max_queries = coord, window_s, max_queries
        self.pending: dict[tuple, list] = {}
        self.timers: dict[tuple, asyncio.TimerHandle] = {}
        self.inflight: dict[tuple, int] = {}

    async def submit(self, entry: IndexEntry, q: np.ndarray, k: int, nprobe: int, policy: int,
                     deadline: float) -> SearchOutcome:
        loop = asyncio.get_running_loop()
        key = (entry.name, id(entry), k, nprobe, policy)
        if not self.inflight.get(key):  # nothing in flight (so nobody pending): go now, in this task
            assert not self.pending.get(key)
            self.inflight[key] = self.inflight.get(key, 0) + 1
            try:
                out = await self.coord._execute(entry, q, k, nprobe, policy, deadline)
            finally:
                self._done(key)
            out.figures.insert(0, Figure("batch_wait", 0.0, MEASURED, where="coordinator"))
            return out
        fut = loop.create_future()
        lst = self.pending.setdefault(key, [])
        lst.append((q, fut, deadline, time.perf_counter(), entry))
        if len(lst) == 1:
            self.timers[key] = loop.call_later(self.window_s, self._flush, key)
        elif sum(x[0].shape[0] for x in lst) >= self.max_queries:
            self._flush(key)
        return await fut

    def _flush(self, key) -> None:
        t = self.timers.pop(key, None)
        if t is not None:
            t.cancel()
        lst = self.pending.pop(key, None)
        if lst:
            self.inflight[key] = self.inflight.get(key, 0) + 1
            task = asyncio.get_running_loop().create_task(self._run(key, lst))
            task.add_done_callback(lambda _t, key=key: self._done(key))

    def _done(self, key) -> None:
        n = self.inflight.get(key, 1) - 1
        if n > 0:
            self.inflight[key] = n
        else:
            self.inflight.pop(key, None)
        if self.pending.get(key):  # callers gathered meanwhile go now
            self._flush(key)

    async def _run(self, key, lst) -> None:
        _, _, k, nprobe, policy = key
        entry = lst[0][4]
        t_flush = time.perf_counter()
        qs = np.concatenate([x[0] for x in lst])
        deadline = max(x[2] for x in lst)
        try:
            out = await self.coord._execute(entry, qs, k, nprobe, policy, deadline)
        except BaseException as e:  # noqa: BLE001 -- handed to every waiting caller
            for x in lst:
                if not x[1].done():
                    x[1].set_exception(e)
            if not isinstance(e, Exception):
                raise
            return
        a = 0
        for q, fut, _, t_submit, _ in lst:
            b = a + q.shape[0]
            if not fut.done():
                figs = [Figure("batch_wait", t_flush - t_submit, MEASURED, where="coordinator"), *out.figures]
                fut.set_result(SearchOutcome(out.ids[a:b], out.distances[a:b], out.fixed_point,
                                             out.missing_shards, figs))
            a = b


class Coordinator:
    def __init__(self, config: CoordinatorConfig | None = None):
        self.config = config or CoordinatorConfig()
        self.config.check()
        self.indexes: dict[str, IndexEntry] = {}
        self._batcher = (_Batcher(self, self.config.batch_window_s, self.config.max_window_queries)
                         if self.config.batch_window_s > 0 else None)
        self._use_torch = self._torch_wanted()
        self._retired: list[tuple[asyncio.Task, IndexEntry]] = []
        self._threads_set_on: int | None = None

    # ---- setup -------------------------------------------------------------------------------------
    def _torch_wanted(self) -> bool:
        sel = self.config.list_selection
        if sel == "cpu":
            return False
        try:
            import torch
            ok = torch.cuda.is_available()
        except ImportError:
            ok = False
        if sel == "torch" and not ok:
            raise HwragError("list_selection='torch' needs torch with a CUDA device; accepted here: cpu, auto")
        return ok

    def _node_channel(self, address: str) -> grpc.aio.Channel:
        opts = channel_options(MEMORY_NODE_SERVICE, ["Scan", "Info"], self.config.node_attempts)
        if self.config.node_tls_root:
            if self.config.node_tls_server_name:
                opts.append(("grpc.ssl_target_name_override", self.config.node_tls_server_name))
            return grpc.aio.secure_channel(address, channel_credentials(self.config.node_tls_root), options=opts)
        return grpc.aio.insecure_channel(address, options=opts)

    def _metadata(self, admin: bool = False):
        tok = (self.config.node_admin_token or self.config.node_token) if admin else self.config.node_token
        return bearer(tok) if tok else None

    def _make_entry(self, name: str, index: IVFPQIndex, nodes: list[str], payloads: PayloadStore | None,
                    path: str | None) -> IndexEntry:
        if not name:
            raise HwragError("an index needs a non-empty name")
        if not nodes:
            raise HwragError(f"index {name!r} needs at least one memory node address")
        handles = []
        for i, addr in enumerate(nodes):
            ch = self._node_channel(addr)
            handles.append(NodeHandle(i, addr, ch, memory_node_pb2_grpc.MemoryNodeStub(ch)))
        entry = IndexEntry(name, index, index_fingerprint(index), handles, payloads, path,
                           quantizer=None if self._use_torch else make_quantizer(index))
        if self._use_torch:
            import torch
            entry.selector = torch.as_tensor(np.array(index.centroids, dtype=np.float32), device="cuda")
        return entry

    def _register(self, entry: IndexEntry) -> IndexEntry:
        old = self.indexes.get(entry.name)
        self.indexes[entry.name] = entry
        if old is not None:  # calls in flight on the old entry finish first
            self._retired.append((asyncio.get_running_loop().create_task(self._close_nodes(old, delay=30.0)), old))
        ix = entry.index
        log.info("index %r: %d vectors, nlist=%d, d=%d, %d shards", entry.name, ix.ntotal, ix.nlist, ix.d,
                 entry.nshards)
        return entry

    def add_index(self, name: str, index: IVFPQIndex, nodes: list[str], payloads: PayloadStore | None = None,
                  path: str | None = None, replace: bool = False) -> IndexEntry:
        """Serve ``index`` under ``name``, its shard i already on memory node ``nodes[i]`` (call on the loop)."""
        if name in self.indexes and not replace:
            raise ServiceError(grpc.StatusCode.ALREADY_EXISTS, f"index {name!r} is already served; use ReplaceIndex")
        return self._register(self._make_entry(name, index, nodes, payloads, path))

    async def _close_nodes(self, entry: IndexEntry, delay: float = 0.0) -> None:
        if delay:
            await asyncio.sleep(delay)
        for n in entry.nodes:
            await n.channel.close()

    async def load_index(self, name: str, path: str, nodes: list[str] | None = None, payloads: str | None = None,
                         replace: bool = False) -> IndexEntry:
        """Load ``path`` here and shard i of it on each memory node (admin: LoadIndex / ReplaceIndex)."""
        from ivfpq.storage import load_index

        if replace and name not in self.indexes:
            raise ServiceError(grpc.StatusCode.NOT_FOUND, f"index {name!r} is not served; use LoadIndex")
        if not replace and name in self.indexes:
            raise ServiceError(grpc.StatusCode.ALREADY_EXISTS, f"index {name!r} is already served; use ReplaceIndex")
        if not nodes and replace:
            nodes = [n.address for n in self.indexes[name].nodes]
        if not nodes:
            raise HwragError("LoadIndex needs the memory node addresses (shard i on nodes[i])")
        index = await asyncio.to_thread(load_index, path)
        store = await asyncio.to_thread(self._load_payloads, path, payloads)
        entry = self._make_entry(name, index, list(nodes), store, str(path))
        try:
            await asyncio.gather(*[
                n.stub.LoadShard(npb.LoadShardRequest(index=name, path=str(path), shard=n.shard,
                                                      nshards=entry.nshards),
                                 metadata=self._metadata(admin=True), timeout=300)
                for n in entry.nodes])
        except grpc.aio.AioRpcError as e:
            await self._close_nodes(entry)
            raise ServiceError(grpc.StatusCode.UNAVAILABLE if e.code() == grpc.StatusCode.UNAVAILABLE
                               else grpc.StatusCode.FAILED_PRECONDITION,
                               f"a memory node failed to load {path}: {e.code().name}: {e.details()}") from None
        return self._register(entry)

    @staticmethod
    def _load_payloads(path, payloads: str | None) -> PayloadStore | None:
        if payloads:
            return PayloadStore.load(payloads)
        p = default_path(path)
        return PayloadStore.load(p) if Path(p).exists() else None

    async def close(self) -> None:
        for task, old in self._retired:
            task.cancel()
            await self._close_nodes(old)
        self._retired.clear()
        for e in self.indexes.values():
            await self._close_nodes(e)

    # ---- search ------------------------------------------------------------------------------------
    def entry(self, name: str) -> IndexEntry:
        e = self.indexes.get(name or "default")
        if e is None:
            raise ServiceError(grpc.StatusCode.NOT_FOUND, f"unknown index {name or 'default'!r}; served: "
                               f"{', '.join(sorted(self.indexes)) or 'none'}")
        return e

    def check(self, entry: IndexEntry, queries, k: int, nprobe: int) -> np.ndarray:
        q = check_queries(entry.index, queries)
        if q.shape[0] > self.config.max_batch:
            raise HwragError(f"{q.shape[0]} queries in one request; accepted: at most {self.config.max_batch}")
        if not 1 <= k <= self.config.max_k:
            raise HwragError(f"k={k}; accepted: 1..{self.config.max_k}")
        if not 1 <= nprobe <= entry.index.nlist:
            raise HwragError(f"nprobe={nprobe}; accepted: 1..nlist={entry.index.nlist}")
        return q

    async def search(self, queries, k: int, nprobe: int, index: str = "default", policy: str | int | None = None,
                     with_payloads: bool = False, timeout: float | None = None) -> SearchOutcome:
        """Search ``queries`` (n, d): the merged top-``k`` over every shard of ``index``."""
        t0 = time.perf_counter()
        entry = self.entry(index)
        pol = self._policy(policy)
        q = self.check(entry, queries, int(k), int(nprobe))
        if with_payloads and entry.payloads is None:
            raise ServiceError(grpc.StatusCode.FAILED_PRECONDITION, f"index {entry.name!r} has no payload store")
        deadline = time.monotonic() + (timeout if timeout is not None else self.config.default_deadline_s)
        if self._batcher is not None:
            out = await self._batcher.submit(entry, q, int(k), int(nprobe), pol, deadline)
        else:
            out = await self._execute(entry, q, int(k), int(nprobe), pol, deadline)
        if with_payloads:
            t1 = time.perf_counter()
            out.payloads = entry.payloads.get(out.ids)
            out.figures.append(Figure("payload", time.perf_counter() - t1, MEASURED, where="coordinator"))
        out.figures.append(Figure("coordinator_total", time.perf_counter() - t0, MEASURED, where="coordinator"))
        return out

    def _policy(self, policy) -> int:
        if policy is None or policy == pb.DEAD_NODE_POLICY_UNSPECIFIED or policy == "":
            return POLICIES[self.config.default_policy]
        if isinstance(policy, str):
            if policy not in POLICIES:
                raise HwragError(f"policy={policy!r}; accepted: {', '.join(POLICIES)}")
            return POLICIES[policy]
        if policy not in POLICY_NAMES:
            raise HwragError(f"policy={policy}; accepted: FAIL (1), PARTIAL (2)")
        return int(policy)

    def _select(self, entry: IndexEntry, q: np.ndarray, nprobe: int) -> np.ndarray:
        if entry.selector is None:
            if self._threads_set_on != threading.get_ident():  # OpenMP settings are per thread
                import faiss

                faiss.omp_set_num_threads(self.config.select_threads)
                self._threads_set_on = threading.get_ident()
            return select_probe(entry.index, q, nprobe, entry.quantizer)
        import torch
        c = entry.selector
        x = torch.as_tensor(q, device=c.device)
        if entry.index.metric == "l2":
            score = -((x * x).sum(1, keepdim=True) - 2 * x @ c.T + (c * c).sum(1)[None])
        else:
            score = x @ c.T
        return score.topk(nprobe, dim=1).indices.cpu().numpy().astype(np.int64)

    async def _scan_node(self, entry: IndexEntry, node: NodeHandle, req: npb.ScanRequest, timeout: float):
        t0 = time.perf_counter()
        resp = await node.stub.Scan(req, timeout=timeout, metadata=self._metadata())
        return resp, time.perf_counter() - t0

    async def _execute(self, entry: IndexEntry, q: np.ndarray, k: int, nprobe: int, policy: int,
                       deadline: float) -> SearchOutcome:
        figs: list[Figure] = []
        t0 = time.perf_counter()
        probe = self._select(entry, q, nprobe)
        t1 = time.perf_counter()
        figs.append(Figure("select", t1 - t0, MEASURED, where="coordinator",
                           config="torch-cuda" if entry.selector is not None else "cpu"))
        rem = _remaining(deadline)
        # leave room to merge and answer before the caller's deadline
        node_timeout = max(0.001, rem - min(0.05, 0.2 * rem))
        qm, pb_probe = pack_matrix(q), pack_i64(probe)
        reqs = [npb.ScanRequest(index=entry.name, fingerprint=entry.fingerprint, shard=n.shard, nshards=entry.nshards,
                                queries=qm, probe=pb_probe, nprobe=nprobe, k=k) for n in entry.nodes]
        if len(reqs) == 1:  # no gather (no extra task) for a single memory node
            try:
                results = [await self._scan_node(entry, entry.nodes[0], reqs[0], node_timeout)]
            except Exception as e:  # noqa: BLE001 -- sorted below like gather's exceptions
                results = [e]
        else:
            results = await asyncio.gather(*[self._scan_node(entry, n, r, node_timeout)
                                             for n, r in zip(entry.nodes, reqs)], return_exceptions=True)
        t2 = time.perf_counter()
        figs.append(Figure("fanout", t2 - t1, MEASURED, where="coordinator"))
        ok, missing, reasons = [], [], []
        for n, r in zip(entry.nodes, results):
            if isinstance(r, grpc.aio.AioRpcError):
                if r.code() in _MISSING_CODES:
                    missing.append(n.shard)
                    reasons.append(f"shard {n.shard} at {n.address}: {r.code().name} ({r.details()})")
                    continue
                raise ServiceError(grpc.StatusCode.FAILED_PRECONDITION,
                                   f"memory node {n.address} (shard {n.shard}) refused the scan: "
                                   f"{r.code().name}: {r.details()}")
            if isinstance(r, BaseException):
                raise r
            ok.append((n, *r))
        if missing and (policy == pb.FAIL or not ok):
            raise ServiceError(grpc.StatusCode.UNAVAILABLE,
                               f"{len(missing)} of {entry.nshards} shards did not answer: {'; '.join(reasons)}"
                               + ("; ask with policy PARTIAL for an answer from the others" if ok else ""))
        nq = q.shape[0]
        ids, keys, dists = [], [], []
        formats = {resp.number_format for _, resp, _ in ok}
        if len(formats) != 1:
            raise ServiceError(grpc.StatusCode.FAILED_PRECONDITION,
                               "memory nodes compute in different number formats; their distances do not merge")
        fixed = formats.pop() == common_pb2.FIXED_POINT
        for n, resp, rtt in ok:
            where = f"node {n.shard}/{entry.nshards}"
            shape = (nq, k)
            if (resp.nq, resp.k) != shape:
                raise ServiceError(grpc.StatusCode.INTERNAL, f"{where} answered shape ({resp.nq}, {resp.k})")
            ids.append(unpack(resp.ids, np.int64, shape, "ids"))
            d = unpack(resp.distances, np.float32, shape, "distances")
            dists.append(d)
            keys.append(unpack(resp.int_distances, np.int64, shape, "int_distances") if fixed else d)
            node_s = 0.0
            for f in resp.timing:
                fig = figure_from_pb(f)
                figs.append(fig)
                if f.stage == "node" and f.provenance == common_pb2.MEASURED:
                    node_s = f.value
            figs.append(Figure("node_rtt", rtt, MEASURED, where=where))
            figs.append(Figure("network", max(0.0, rtt - node_s), MEASURED, where=where))
        t3 = time.perf_counter()
        I, D = merge_partials(ids, keys, dists, k)
        figs.append(Figure("merge", time.perf_counter() - t3, MEASURED, where="coordinator"))
        if missing:
            log.warning("index %r: partial answer without shards %s", entry.name, missing)
        return SearchOutcome(I, D, fixed, sorted(missing), figs)

    # ---- info --------------------------------------------------------------------------------------
    async def info(self) -> pb.InfoResponse:
        out = pb.InfoResponse(max_k=self.config.max_k, max_batch=self.config.max_batch,
                              max_request_bytes=self.config.max_request_bytes,
                              batch_window_s=self.config.batch_window_s,
                              default_policy=POLICIES[self.config.default_policy],
                              list_selection="torch-cuda" if self._use_torch else "cpu")
        for e in self.indexes.values():
            out.indexes.append(await self._index_info(e))
        return out

    async def _index_info(self, e: IndexEntry) -> pb.IndexInfo:
        ix = e.index
        info = pb.IndexInfo(name=e.name, d=ix.d, nlist=ix.nlist, M=ix.M, ntotal=ix.ntotal, metric=ix.metric,
                            nshards=e.nshards, fingerprint=e.fingerprint, has_payloads=e.payloads is not None)

        async def one(n: NodeHandle):
            try:
                r = await n.stub.Info(npb.NodeInfoRequest(), timeout=1.0, metadata=self._metadata())
                ok = r.fingerprint == e.fingerprint and (r.shard, r.nshards) == (n.shard, e.nshards)
                err = "" if ok else (f"serves {r.index!r} shard {r.shard}/{r.nshards} fingerprint {r.fingerprint}, "
                                     "not what this coordinator expects")
                return pb.NodeStatus(shard=n.shard, address=n.address, reachable=True, backend=r.backend, error=err)
            except grpc.aio.AioRpcError as x:
                return pb.NodeStatus(shard=n.shard, address=n.address, reachable=False,
                                     error=f"{x.code().name}: {x.details()}")

        info.nodes.extend(await asyncio.gather(*[one(n) for n in e.nodes]))
        return info

    # ---- servicer ----------------------------------------------------------------------------------
    def _deadline(self, context) -> float | None:
        rem = context.time_remaining()
        return None if rem is None else max(0.0, rem)

    async def _handle(self, req: pb.SearchRequest, context) -> pb.SearchResponse:
        entry = self.entry(req.index)
        queries = unpack_matrix(req.queries)
        out = await self.search(queries, req.k, req.nprobe, entry.name, req.policy, req.with_payloads,
                                timeout=self._deadline(context))
        resp = pb.SearchResponse(nq=out.ids.shape[0], k=out.ids.shape[1], ids=pack_i64(out.ids),
                                 distances=pack_f32(out.distances), missing_shards=out.missing_shards,
                                 number_format=common_pb2.FIXED_POINT if out.fixed_point else common_pb2.FLOAT32,
                                 request_id=req.request_id)
        if out.payloads is not None:
            resp.payloads.extend(out.payloads)
        resp.timing.extend(figure_to_pb(f) for f in out.figures)
        return resp

    async def Search(self, req, context):
        return await self._handle(req, context)

    async def SearchStream(self, requests, context):
        async for req in requests:
            yield await self._handle(req, context)

    async def Info(self, req, context):
        return await self.info()

    async def _load(self, req: pb.LoadIndexRequest, replace: bool) -> pb.IndexInfo:
        if not req.name or not req.path:
            raise HwragError("LoadIndex/ReplaceIndex need a name and the path of a saved index")
        e = await self.load_index(req.name, req.path, list(req.nodes), req.payloads or None, replace=replace)
        return await self._index_info(e)

    async def LoadIndex(self, req, context):
        return await self._load(req, replace=False)

    async def ReplaceIndex(self, req, context):
        return await self._load(req, replace=True)

    def service(self) -> Service:
        return Service(SERVICE, [
            Method("Search", pb.SearchRequest, pb.SearchResponse, self.Search),
            Method("SearchStream", pb.SearchRequest, pb.SearchResponse, self.SearchStream, streaming=True),
            Method("Info", pb.InfoRequest, pb.InfoResponse, self.Info),
            Method("LoadIndex", pb.LoadIndexRequest, pb.IndexInfo, self.LoadIndex, admin=True),
            Method("ReplaceIndex", pb.LoadIndexRequest, pb.IndexInfo, self.ReplaceIndex, admin=True),
        ])


async def create_server(addr: str, coordinator: Coordinator, security: Security | None = None
                        ) -> tuple[ServerHandle, int]:
    """Start the coordinator's Retrieval server on ``addr``; returns (handle, bound port)."""
    h = await start_server(addr, [coordinator.service()], security, coordinator.config.max_request_bytes)
    h.on_stop.append(coordinator.close)
    return h, h.port

"""The memory node: one shard of one index behind one :class:`ScanBackend`.

``MemoryNode`` holds the plain functions (load, scan, info); the gRPC servicer methods are thin
wrappers; :func:`create_server` binds and starts it (port 0 picks a free port).
"""
from __future__ import annotations

import asyncio

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import grpc
import numpy as np
from ivfpq.errors import HwragError
from ivfpq.index import IVFPQIndex
from ivfpq.lut import check_queries
from ivfpq.shard import shard_index

from .backends.base import PartialTopK, ScanBackend, ShardInfo, create_backend
from hwrag_rpc.v1 import common_pb2, memory_node_pb2 as pb
from .security import Security
from .server import DEFAULT_MAX_REQUEST_BYTES, Method, Service, ServerHandle, start_server
from .wire import MEASURED, MEMORY_NODE_SERVICE, Figure, ServiceError, add_figures, index_fingerprint, pack_f32, pack_i64, unpack, unpack_matrix

log = logging.getLogger(__name__)

SERVICE = MEMORY_NODE_SERVICE
MAX_K = 4096
_FORMAT = {"fixed": common_pb2.FIXED_POINT, "float": common_pb2.FLOAT32}
_END = object()  # ScanStream: no more answers


def load_shard(path, shard: int, nshards: int) -> tuple[IVFPQIndex, str]:
    """Shard ``shard`` of ``nshards`` of the index saved at ``path``, and the full index's fingerprint."""
    from ivfpq.storage import load_index

    if not (nshards >= 1 and 0 <= shard < nshards):
        raise HwragError(f"shard {shard}/{nshards}: accepted 0 <= shard < nshards")
    full = load_index(path, mmap=True, verify=True)
    part = full if nshards == 1 else shard_index(full, nshards, only=shard)[0]
    return part, index_fingerprint(full)


def parse_shard_spec(spec: str) -> tuple[int, int]:
    """``"i/n"`` -> (i, n)."""
    try:
        i, n = (int(x) for x in spec.split("/"))
    except ValueError:
        raise HwragError(f"shard {spec!r} must be i/n, e.g. 0/4") from None
    if not (n >= 1 and 0 <= i < n):
        raise HwragError(f"shard {spec!r}: accepted i/n with 0 <= i < n")
    return i, n


def _set_threads(n: int | None) -> None:
    if n:
        from ivfpq.threads import set_threads

        set_threads(n)


@dataclass
class _Loaded:
    backend: ScanBackend
    shard: IVFPQIndex
    info: ShardInfo


class MemoryNode:
    """Plain functions of a memory node; safe to call from the event loop (large scans run on a worker,
    small ones on the loop: see ``ScanBackend.inline_max_codes``)."""

    def __init__(self, backend: str = "cpu", backend_options: dict | None = None, scan_threads: int = 1,
                 compute_threads: int | None = None, inline_max_codes: int | None = None):
        self.backend_name = backend
        self.backend_options = dict(backend_options or {})
        create_backend(backend, **self.backend_options)  # fail early on a bad name or options
        self._loaded: _Loaded | None = None
        self._lock = threading.Lock()
        # scan_threads: scans served at once. 1 (default): the node is one device, scans queue like they
        # would on it; more overlap scans on as many worker threads, for backends that release the GIL
        # while they scan (faiss; not the numba golden scan) on a host with cores to spare.
        if scan_threads < 1:
            raise HwragError(f"scan_threads={scan_threads}; accepted: >= 1")
        self.scan_threads = scan_threads
        # compute_threads: numba/faiss threads of one scan (thread-local settings, so set in the worker);
        # None keeps the libraries' defaults. Several nodes in one process want 1 each.
        self.compute_threads = compute_threads
        # scans up to this many codes run on the event loop (None: the backend's inline_max_codes)
        self.inline_max_codes = inline_max_codes
        self._loop_threads_set = False
        self._executor = ThreadPoolExecutor(max_workers=scan_threads, thread_name_prefix="scan",
                                            initializer=_set_threads, initargs=(compute_threads,))

    def prepare(self) -> None:
        """Set the scan threads' library settings now, on the event loop's thread (call it there) and on
        the workers, so that the first Scan does not pay for them (``set_threads`` imports torch)."""
        if not self._loop_threads_set:
            _set_threads(self.compute_threads)
            self._loop_threads_set = True
        for f in [self._executor.submit(int) for _ in range(self.scan_threads)]:
            f.result()

    # ---- plain functions -------------------------------------------------------------------------
    def load(self, shard: IVFPQIndex, info: ShardInfo, backend: str | None = None) -> None:
        """Serve ``shard`` (replacing the shard served before; scans in flight finish on the old one)."""
        name = backend or self.backend_name
        b = create_backend(name, **(self.backend_options if name == self.backend_name else {}))
        b.load(shard, info)
        b.warmup()
        with self._lock:
            old, self._loaded = self._loaded, _Loaded(b, shard, info)
            self.backend_name = name
        if old is not None:
            old.backend.close()
        log.info("serving index %r shard %d/%d (%d vectors) with backend %s", info.index, info.shard,
                 info.nshards, shard.ntotal, name)

    def load_path(self, path, shard: int, nshards: int, name: str = "default", backend: str | None = None) -> None:
        part, fp = load_shard(path, shard, nshards)
        self.load(part, ShardInfo(name, shard, nshards, fp), backend)

    def scan(self, queries: np.ndarray, probe: np.ndarray, k: int) -> tuple[PartialTopK, ScanBackend, float]:
        cur = self._loaded
        if cur is None:
            raise ServiceError(grpc.StatusCode.FAILED_PRECONDITION, "this memory node serves no shard yet")
        t0 = time.perf_counter()
        r = cur.backend.scan(queries, probe, k)
        return r, cur.backend, time.perf_counter() - t0

    def info(self) -> pb.NodeInfo:
        cur = self._loaded
        if cur is None:
            return pb.NodeInfo(backend=self.backend_name)
        s, i, b = cur.shard, cur.info, cur.backend
        return pb.NodeInfo(index=i.index, fingerprint=i.fingerprint, shard=i.shard, nshards=i.nshards,
                           backend=self.backend_name, number_format=_FORMAT[b.number_format], ntotal=s.ntotal,
                           d=s.d, nlist=s.nlist, M=s.M, metric=s.metric, backend_config=b.describe_json())

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        if self._loaded is not None:
            self._loaded.backend.close()

    # ---- request checking ------------------------------------------------------------------------
    def _check(self, req: pb.ScanRequest):
        cur = self._loaded
        if cur is None:
            raise ServiceError(grpc.StatusCode.FAILED_PRECONDITION, "this memory node serves no shard yet")
        i, s = cur.info, cur.shard
        if req.index != i.index:
            raise ServiceError(grpc.StatusCode.NOT_FOUND, f"this node serves index {i.index!r}, not {req.index!r}")
        if req.fingerprint and req.fingerprint != i.fingerprint:
            raise ServiceError(grpc.StatusCode.FAILED_PRECONDITION,
                               f"index {i.index!r} on this node has fingerprint {i.fingerprint}, the caller "
                               f"expects {req.fingerprint}: node and coordinator load different indexes")
        if (req.shard, req.nshards) != (i.shard, i.nshards):
            raise ServiceError(grpc.StatusCode.FAILED_PRECONDITION,
                               f"this node holds shard {i.shard}/{i.nshards}, the caller expects "
                               f"{req.shard}/{req.nshards}")
        q = check_queries(s, unpack_matrix(req.queries))
        if not 1 <= req.k <= MAX_K:
            raise HwragError(f"k={req.k}: accepted 1..{MAX_K}")
        if not 1 <= req.nprobe <= s.nlist:
            raise HwragError(f"nprobe={req.nprobe}: accepted 1..nlist={s.nlist}")
        probe = unpack(req.probe, np.int64, (q.shape[0], req.nprobe), "probe")
        if probe.min() < 0 or probe.max() >= s.nlist:
            raise HwragError(f"probe holds list ids outside 0..{s.nlist - 1}")
        return q, probe

    # ---- servicer --------------------------------------------------------------------------------
    def runs_inline(self, nq: int, nprobe: int) -> bool:
        """Whether a scan of ``nq`` queries x ``nprobe`` lists runs on the event loop (no thread hand-off)."""
        cur = self._loaded
        if cur is None:
            return False
        if self.scan_threads > 1:  # scans overlap on the workers: none holds the loop
            return False
        limit = cur.backend.inline_max_codes if self.inline_max_codes is None else self.inline_max_codes
        return limit > 0 and nq * nprobe * cur.shard.ntotal <= limit * max(1, cur.shard.nlist)

    def _scan_inline(self, q, probe, k):
        if not self._loop_threads_set:  # numba/faiss thread counts are per thread: set them on the loop's too
            _set_threads(self.compute_threads)
            self._loop_threads_set = True
        return self.scan(q, probe, k)

    async def Scan(self, req: pb.ScanRequest, context) -> pb.ScanResponse:
        t0 = time.perf_counter()
        q, probe = self._check(req)
        if self.runs_inline(q.shape[0], probe.shape[1]):
            r, backend, scan_s = self._scan_inline(q, probe, int(req.k))
        else:
            loop = asyncio.get_running_loop()
            r, backend, scan_s = await loop.run_in_executor(self._executor, self.scan, q, probe, int(req.k))
        info = self._loaded.info if self._loaded else None
        where = f"node {info.shard}/{info.nshards} ({backend.name})" if info else "node"
        fixed = r.int_distances is not None
        resp = pb.ScanResponse(nq=q.shape[0], k=req.k, ids=pack_i64(r.ids), distances=pack_f32(r.distances),
                               int_distances=pack_i64(r.int_distances) if fixed else b"",
                               number_format=common_pb2.FIXED_POINT if fixed else common_pb2.FLOAT32,
                               backend=backend.name)
        for f in r.figures:
            add_figures(resp.timing, (f,), f.where or where)
        add_figures(resp.timing, (Figure("node_scan", scan_s, MEASURED, where=where),
                                  Figure("node", time.perf_counter() - t0, MEASURED, where=where)))
        return resp

    async def ScanStream(self, requests, context):
        """Scans on one stream, each answer with its request's id. One scan thread: in order; several:
        the scans overlap and each answer goes when ready. A failed scan ends the stream with its status."""
        if self.scan_threads == 1:
            async for req in requests:
                resp = await self.Scan(req, context)
                resp.request_id = req.request_id
                yield resp
            return
        answers: asyncio.Queue = asyncio.Queue()
        feeder = asyncio.get_running_loop().create_task(self._feed(requests, context, answers))
        try:
            while (a := await answers.get()) is not _END:
                if isinstance(a, BaseException):
                    raise a
                yield a
        finally:
            feeder.cancel()

    async def _feed(self, requests, context, answers: asyncio.Queue) -> None:
        """Start a scan per request as it arrives; each answer (or error) goes to ``answers``, then _END."""
        async def one(req):
            try:
                resp = await self.Scan(req, context)
                resp.request_id = req.request_id
                answers.put_nowait(resp)
            except Exception as e:  # noqa: BLE001 -- ends the stream with its status
                answers.put_nowait(e)

        tasks: set[asyncio.Task] = set()
        try:
            async for req in requests:
                t = asyncio.get_running_loop().create_task(one(req))
                tasks.add(t)
                t.add_done_callback(tasks.discard)
            if tasks:
                await asyncio.gather(*tasks)
        except asyncio.CancelledError:
            for t in tasks:
                t.cancel()
            raise
        except Exception as e:  # noqa: BLE001 -- a malformed request ends the stream with its status
            answers.put_nowait(e)
        answers.put_nowait(_END)

    async def Info(self, req, context) -> pb.NodeInfo:
        return self.info()

    async def LoadShard(self, req: pb.LoadShardRequest, context) -> pb.NodeInfo:
        if not req.path:
            raise HwragError("LoadShard needs the path of a saved index")
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, lambda: self.load_path(req.path, req.shard, req.nshards,
                                                                req.index or "default", req.backend or None))
        return self.info()

    def service(self) -> Service:
        return Service(SERVICE, [
            Method("Scan", pb.ScanRequest, pb.ScanResponse, self.Scan),
            Method("ScanStream", pb.ScanRequest, pb.ScanResponse, self.ScanStream, streaming=True),
            Method("Info", pb.NodeInfoRequest, pb.NodeInfo, self.Info),
            Method("LoadShard", pb.LoadShardRequest, pb.NodeInfo, self.LoadShard, admin=True),
        ])


async def create_server(addr: str, node: MemoryNode, security: Security | None = None,
                        max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES) -> tuple[ServerHandle, int]:
    """Start a memory node server on ``addr``; returns (handle, bound port)."""
    node.prepare()
    h = await start_server(addr, [node.service()], security, max_request_bytes)
    h.on_stop.append(node.close)
    return h, h.port

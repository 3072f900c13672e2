"""The coordinator's links to its memory nodes: one channel and stub per node, the node token, and the
three calls it makes (Scan, Info, LoadShard).

Scans go over one long-lived ``ScanStream`` per node (:class:`NodeStream`) when the config allows
(``node_streams``): a unary call costs its set-up on both ends each time (on loopback here about 2.5x
the CPU time and latency of a message on an open stream: ``bench.service_bench`` measures the hops).
The stream is only a faster road to the same answer: whenever it cannot answer (it broke, the node does
not offer it, it refused a scan), the scan is asked again with the unary ``Scan``, whose retries and
status codes are the service's contract.

A place to add per-node flow control (Chameleon keeps 2-5 queries in flight per node) without
touching fan-out or merge.
"""
from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass, field

import grpc
from grpc_health.v1 import health_pb2_grpc
from hwrag_rpc.v1 import memory_node_pb2 as npb, memory_node_pb2_grpc

from ..wire import MEMORY_NODE_SERVICE, bearer, channel_credentials, channel_options
from .config import CoordinatorConfig
from .health import NodeHealth

#: after a stream broke, scans of that node go unary for this long before a new stream is tried
STREAM_RETRY_S = 1.0


class StreamBroken(Exception):
    """The node's stream could not answer this scan (ask with the unary Scan)."""


@dataclass
class _OpenStream:
    call: grpc.aio.StreamStreamCall
    pending: dict[int, asyncio.Future] = field(default_factory=dict)
    reader: asyncio.Task | None = None
    write_lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class NodeStream:
    """One ``ScanStream`` to one memory node, opened on first use: scans are written with a request id
    and their answers matched by it, so scans of concurrent fan-outs share the stream."""

    def __init__(self, open_call):
        self._open_call = open_call  # () -> grpc.aio.StreamStreamCall
        self._ids = itertools.count(1)
        self._open: _OpenStream | None = None
        self._retry_at = 0.0  # monotonic time before which the stream is not reopened
        self.offered = True  # False once the node answered UNIMPLEMENTED (an older node)

    def usable(self) -> bool:
        return self.offered and (self._open is not None or time.monotonic() >= self._retry_at)

    def allow_reopen(self) -> None:
        """The node is back: the next scan may open a new stream at once."""
        self._retry_at = 0.0

    def _stream(self) -> _OpenStream:
        if self._open is None:
            s = _OpenStream(self._open_call())
            s.reader = asyncio.get_running_loop().create_task(self._read(s))
            self._open = s
        return self._open

    async def scan(self, req: npb.ScanRequest, timeout: float) -> npb.ScanResponse:
        """The node's answer to ``req`` (its ``request_id`` is set here); StreamBroken when the stream
        cannot give it; an ``AioRpcError`` DEADLINE_EXCEEDED after ``timeout`` seconds."""
        s = self._stream()
        rid = next(self._ids)
        req.request_id = rid
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        s.pending[rid] = fut
        timer = loop.call_later(timeout, _expire, fut)
        try:
            async with s.write_lock:  # one write at a time on a call
                try:
                    await s.call.write(req)
                except (grpc.aio.AioRpcError, asyncio.InvalidStateError, grpc.aio.UsageError) as e:
                    # A write to a call the node already ended fails with the transport's own error
                    # (INTERNAL "execute_batch"); the node's answer is the call's status, e.g.
                    # UNIMPLEMENTED from a node of the release before ScanStream.
                    self._broken(s, await _final_status(s.call) or e)
                    raise StreamBroken(str(e)) from None
            return await fut
        finally:
            timer.cancel()
            s.pending.pop(rid, None)

    async def _read(self, s: _OpenStream) -> None:
        err: BaseException | None = None
        try:
            while True:
                resp = await s.call.read()
                if resp is grpc.aio.EOF:
                    break
                fut = s.pending.get(resp.request_id)
                if fut is not None and not fut.done():
                    fut.set_result(resp)
        except asyncio.CancelledError:
            err = StreamBroken("closed")
            raise
        except Exception as e:  # noqa: BLE001 -- the stream ended (a status, or an answer it could not read)
            err = e
        finally:
            self._broken(s, err)

    def _broken(self, s: _OpenStream, err: BaseException | None) -> None:
        if self._open is s:
            self._open = None
            self._retry_at = time.monotonic() + STREAM_RETRY_S
        # Either side (the writer or the reader) may be the first to see the call end; whichever
        # carries the node's UNIMPLEMENTED marks the stream as not offered.
        if isinstance(err, grpc.aio.AioRpcError) and err.code() == grpc.StatusCode.UNIMPLEMENTED:
            self.offered = False
        for fut in s.pending.values():
            if not fut.done():
                fut.set_exception(StreamBroken(str(err) if err else "the stream ended"))
        s.call.cancel()

    async def close(self) -> None:
        s, self._open = self._open, None
        if s is not None:
            s.call.cancel()
            if s.reader is not None:
                s.reader.cancel()
                try:
                    await s.reader
                except (asyncio.CancelledError, Exception):  # noqa: BLE001 -- closing anyway
                    pass


async def _final_status(call: grpc.aio.StreamStreamCall, wait_s: float = 0.5) -> grpc.aio.AioRpcError | None:
    """The status the node ended ``call`` with, as an error; None if it is OK or has not come within
    ``wait_s`` (a failed write means the call has ended, so its status is on its way)."""
    try:
        code = await asyncio.wait_for(asyncio.shield(call.code()), wait_s)
    except (asyncio.TimeoutError, grpc.aio.AioRpcError):
        return None
    if code == grpc.StatusCode.OK:
        return None
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), await call.details())


def _expire(fut: asyncio.Future) -> None:
    if not fut.done():
        fut.set_exception(grpc.aio.AioRpcError(grpc.StatusCode.DEADLINE_EXCEEDED, grpc.aio.Metadata(),
                                               grpc.aio.Metadata(), "Deadline Exceeded (scan stream)"))


@dataclass
class NodeHandle:
    shard: int
    address: str
    channel: grpc.aio.Channel
    stub: memory_node_pb2_grpc.MemoryNodeStub
    stream: NodeStream | None = None  # the scan stream (None: unary scans only)
    health: NodeHealth = field(default_factory=lambda: NodeHealth("a memory node"))
    health_stub: health_pb2_grpc.HealthStub | None = None
    scans: int = 0  # scans sent to this node (a node held down gets none)


#: scan errors that say the node is gone (marked down at once); the other errors of a shard that did not
#: answer (its deadline, a broken stream) make it suspect: the health probe decides
GONE_CODES = {grpc.StatusCode.UNAVAILABLE}


class NodeLinks:
    """Opens channels to memory nodes and calls them with the coordinator's credentials; keeps each
    node's health state (:mod:`.health`) from what its calls answer."""

    def __init__(self, config: CoordinatorConfig):
        self.config = config
        self.on_suspect = lambda: None  # wakes the health probe (set by the coordinator)

    def failed(self, node: NodeHandle, err: grpc.aio.AioRpcError) -> None:
        """A call to ``node`` failed: mark it down (gone) or suspect (the probe decides at once)."""
        if err.code() in GONE_CODES:
            node.health.mark_down(f"{err.code().name}: {err.details()}")
        elif node.health.up:
            node.health.suspect = True
            self.on_suspect()

    def _channel(self, address: str) -> grpc.aio.Channel:
        c = self.config
        # reconnect at least every probe interval, so that a node back on its address is seen at the next probe
        backoff_ms = max(100, int(1000 * min(1.0, c.probe_interval_s)))
        opts = channel_options(MEMORY_NODE_SERVICE, ["Scan", "Info"], c.node_attempts, backoff_ms)
        if c.node_tls_root:
            if c.node_tls_server_name:
                opts.append(("grpc.ssl_target_name_override", c.node_tls_server_name))
            return grpc.aio.secure_channel(address, channel_credentials(c.node_tls_root), options=opts)
        return grpc.aio.insecure_channel(address, options=opts)

    def connect(self, addresses: list[str], index: str = "default") -> list[NodeHandle]:
        """One handle per address; shard i is on ``addresses[i]``."""
        handles = []
        for i, addr in enumerate(addresses):
            ch = self._channel(addr)
            stub = memory_node_pb2_grpc.MemoryNodeStub(ch)
            stream = (NodeStream(lambda stub=stub: stub.ScanStream(metadata=self.metadata()))
                      if self.config.node_streams else None)
            health = NodeHealth(f"index {index!r} shard {i} at {addr}")
            handles.append(NodeHandle(i, addr, ch, stub, stream, health, health_pb2_grpc.HealthStub(ch)))
        return handles

    def metadata(self, admin: bool = False):
        c = self.config
        tok = (c.node_admin_token or c.node_token) if admin else c.node_token
        return bearer(tok) if tok else None

    async def scan(self, node: NodeHandle, req: npb.ScanRequest, timeout: float) -> tuple[npb.ScanResponse, float]:
        """The node's answer and the measured round trip (s): on the node's stream when it can answer,
        else (and for what remains of ``timeout``) with the unary Scan."""
        t0 = time.perf_counter()
        node.scans += 1
        if node.stream is not None and node.stream.usable():
            try:
                resp = await node.stream.scan(req, timeout)
                return resp, time.perf_counter() - t0
            except StreamBroken:
                timeout = max(0.001, timeout - (time.perf_counter() - t0))
                req.request_id = 0
        resp = await node.stub.Scan(req, timeout=timeout, metadata=self.metadata())
        return resp, time.perf_counter() - t0

    async def info(self, node: NodeHandle, timeout: float = 1.0) -> npb.NodeInfo:
        try:
            return await node.stub.Info(npb.NodeInfoRequest(), timeout=timeout, metadata=self.metadata())
        except grpc.aio.AioRpcError as e:
            self.failed(node, e)
            raise

    async def load_shard(self, node: NodeHandle, index: str, path: str, nshards: int, timeout: float = 300):
        return await node.stub.LoadShard(npb.LoadShardRequest(index=index, path=path, shard=node.shard,
                                                              nshards=nshards),
                                         metadata=self.metadata(admin=True), timeout=timeout)

    @staticmethod
    async def close(nodes: list[NodeHandle], delay: float = 0.0) -> None:
        if delay:
            await asyncio.sleep(delay)
        for n in nodes:
            if n.stream is not None:
                await n.stream.close()
            await n.channel.close()

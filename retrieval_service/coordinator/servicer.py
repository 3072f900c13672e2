"""The ``hwrag.v1.Retrieval`` servicer: thin handlers that turn requests into calls of the
coordinator's plain functions and their answers into responses; :func:`create_server` binds it."""
from __future__ import annotations

import asyncio

from hwrag_rpc.v1 import common_pb2, retrieval_pb2 as pb
from ivfpq.errors import HwragError

from ..security import Security
from ..server import BadRequest, Method, Service, ServerHandle, start_server, status_of
from ..wire import RETRIEVAL_SERVICE, add_figures, pack_f32, pack_i64, unpack_matrix
from .core import Coordinator
from .outcome import SearchOutcome


def _time_left(context) -> float | None:
    rem = context.time_remaining()
    return None if rem is None else max(0.0, rem)


def search_response(out: SearchOutcome, request_id: int) -> pb.SearchResponse:
    resp = pb.SearchResponse(nq=out.ids.shape[0], k=out.ids.shape[1], ids=pack_i64(out.ids),
                             distances=pack_f32(out.distances), missing_shards=out.missing_shards,
                             number_format=common_pb2.FIXED_POINT if out.fixed_point else common_pb2.FLOAT32,
                             request_id=request_id)
    if out.payloads is not None:
        resp.payloads.extend(out.payloads)
    if out.shared is None:
        add_figures(resp.timing, out.figures)
        return resp
    i, shared = out.shared  # a gathered fan-out's figures: their wire form is built once for all its callers
    add_figures(resp.timing, out.figures[:i])
    resp.MergeFromString(shared.wire())  # appends to timing (nothing else is set in it)
    add_figures(resp.timing, out.figures[i + len(shared.figures):])
    return resp


def error_response(exc: BaseException, request_id: int) -> pb.SearchResponse:
    """A stream's answer to one failed request: its status, nothing else but its id."""
    code, message = status_of(exc, "SearchStream")
    return pb.SearchResponse(request_id=request_id, error=pb.RequestError(code=code.value[0], message=message))


#: a request with more query bytes than this is unpacked on a worker thread, not the event loop
LARGE_QUERY_BYTES = 4 << 20
#: requests of one SearchStream searched at once (a client's window beyond this waits in the transport)
STREAM_WINDOW = 256


class RetrievalServicer:
    def __init__(self, coordinator: Coordinator):
        self.coordinator = coordinator

    async def _search(self, req: pb.SearchRequest, context) -> pb.SearchResponse:
        c = self.coordinator
        entry = c.entry(req.index)  # an unknown index is NOT_FOUND before the queries are read
        shape = list(req.queries.shape)
        if len(shape) == 2 and shape[0] > c.config.max_batch:  # before copying a large batch out of the message
            raise HwragError(f"{shape[0]} queries in one request; accepted: at most {c.config.max_batch}")
        if len(req.queries.data) > LARGE_QUERY_BYTES:  # the copy and checks of a large batch off the loop
            q = await asyncio.to_thread(unpack_matrix, req.queries)
        else:
            q = unpack_matrix(req.queries)
        out = await c.search(q, req.k, req.nprobe, entry.name, req.policy, req.with_payloads,
                             timeout=_time_left(context))
        return search_response(out, req.request_id)

    async def Search(self, req, context):
        return await self._search(req, context)

    async def _answer(self, req, context) -> pb.SearchResponse:
        """One streamed request's answer, or its status as an answer of its own."""
        if isinstance(req, BadRequest):
            return error_response(req.error, 0)
        try:
            return await self._search(req, context)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # noqa: BLE001 -- this request's status, on the stream
            return error_response(e, req.request_id)

    async def SearchStream(self, requests, context):
        """One answer per request, in request order, each carrying its request's id; a failed request gets
        its status in its own answer (``error``) and the stream goes on. Up to :data:`STREAM_WINDOW`
        requests of one stream are searched at once (so they join the batching window with every other
        caller's); the stream reads no more until the oldest is answered."""
        loop = asyncio.get_running_loop()
        order: asyncio.Queue = asyncio.Queue()  # the requests' tasks in arrival order; None: no more
        slots = asyncio.Semaphore(STREAM_WINDOW)

        async def pump() -> None:
            try:
                async for req in requests:
                    await slots.acquire()
                    order.put_nowait(loop.create_task(self._answer(req, context)))
            finally:
                order.put_nowait(None)

        reader = loop.create_task(pump())
        try:
            while (task := await order.get()) is not None:
                resp = await task
                slots.release()
                yield resp
            await reader  # the requests' end, or why reading them failed
        finally:
            reader.cancel()
            while not order.empty():
                t = order.get_nowait()
                if t is not None:
                    t.cancel()

    async def Info(self, req, context):
        return await self.coordinator.info()

    async def LoadIndex(self, req: pb.LoadIndexRequest, context):
        return await self.coordinator.load_index(req.name, req.path, list(req.nodes), req.payloads or None)

    async def ReplaceIndex(self, req: pb.LoadIndexRequest, context):
        return await self.coordinator.load_index(req.name, req.path, list(req.nodes), req.payloads or None,
                                                 replace=True)

    def search_size_limit(self) -> tuple[int, str]:
        """The largest Search request that can be valid now: max_batch queries of the largest dimension
        served (float32), plus 1 MB for the other fields."""
        c = self.coordinator
        d = max((e.index.d for e in c.registry.entries.values()), default=0)
        return (c.config.max_batch * d * 4 + (1 << 20),
                f"at most {c.config.max_batch} queries of dimension {d}, float32, per request")

    def service(self) -> Service:
        return Service(RETRIEVAL_SERVICE, [
            Method("Search", pb.SearchRequest, pb.SearchResponse, self.Search, size_limit=self.search_size_limit),
            Method("SearchStream", pb.SearchRequest, pb.SearchResponse, self.SearchStream, streaming=True,
                   isolate=True, size_limit=self.search_size_limit),
            Method("Info", pb.InfoRequest, pb.InfoResponse, self.Info),
            Method("LoadIndex", pb.LoadIndexRequest, pb.IndexInfo, self.LoadIndex, admin=True),
            Method("ReplaceIndex", pb.LoadIndexRequest, pb.IndexInfo, self.ReplaceIndex, admin=True),
        ])


async def create_server(addr: str, coordinator: Coordinator, security: Security | None = None
                        ) -> tuple[ServerHandle, int]:
    """Start the coordinator's Retrieval server on ``addr``; returns (handle, bound port)."""
    h = await start_server(addr, [RetrievalServicer(coordinator).service()], security,
                           coordinator.config.max_request_bytes)
    h.on_stop.append(coordinator.close)
    return h, h.port

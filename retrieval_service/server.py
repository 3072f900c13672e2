"""What every hwrag gRPC server shares: thin handlers over plain functions with one error mapping,
token auth, TLS, message limits, health checking, reflection and graceful shutdown."""
from __future__ import annotations

import asyncio
import ctypes
import errno
import logging
import os
import socket
import sys
from dataclasses import dataclass, field
from typing import Awaitable, Callable

import grpc
from google.protobuf.message import DecodeError
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from ivfpq.errors import HwragError

from .security import Security, TokenAuthInterceptor, check_bind, server_credentials, split_address
from .wire import PUSHBACK_KEY, ServiceError

log = logging.getLogger(__name__)

DEFAULT_MAX_REQUEST_BYTES = 64 << 20
#: after a request of at least this many bytes, the heap's free memory goes back to the system
LARGE_REQUEST_BYTES = 8 << 20


def _malloc_trim():
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None


_TRIM = _malloc_trim()
#: glibc mallopt's M_MMAP_THRESHOLD, and the threshold a server holds it at
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 1 << 20


def hold_mmap_threshold(nbytes: int = MMAP_THRESHOLD_BYTES) -> bool:
    """Allocations of at least ``nbytes`` get their own mapping, given back to the system when freed.
    glibc's default threshold is dynamic: freeing one large mapped block raises it to that block's size (up
    to 32 MB), so the next large requests (a 16 MB message gRPC read for a handler that refuses it) land in
    the threads' heaps, where what malloc_trim cannot return stays behind. Setting it fixes it (mallopt)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        return bool(ctypes.CDLL(None).mallopt(M_MMAP_THRESHOLD, int(nbytes)))
    except (OSError, AttributeError):
        return False


#: a server trims the heap when its process's RSS grew this much since the last trim (checked every TRIM_CHECK_S)
TRIM_GROWTH_BYTES = 32 << 20
TRIM_CHECK_S = 1.0


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def trim_when_grown(growth: int = TRIM_GROWTH_BYTES, every_s: float = TRIM_CHECK_S) -> None:
    """Every ``every_s``: when the RSS grew ``growth`` bytes above its lowest since the last trim, trim
    the heap (off the loop). This covers what no handler sees: what gRPC's buffers held of a request the
    transport refused (above ``max_request_bytes``) stays in the process as free pages until trimmed
    (a coordinator grew 12-28 MB over 8 refused 64 MB requests, measured)."""
    if _TRIM is None:
        return
    hold_mmap_threshold()
    low = _rss_bytes()
    while True:
        await asyncio.sleep(every_s)
        rss = _rss_bytes()
        if rss > low + growth:
            await asyncio.to_thread(trim_heap)
            rss = _rss_bytes()
        low = min(low, rss) if rss <= low + growth else rss


def trim_heap() -> None:
    """Give the heap's free pages back to the system (glibc ``malloc_trim``; a no-op elsewhere). After a
    large request they are many and scattered over gRPC's threads' arenas, which glibc does not trim on
    its own: 16 MB requests refused by a check grew a coordinator by 90-140 MB over 16 of them, 35-60 MB
    with this (a plateau, not growing with more requests)."""
    if _TRIM is not None:
        _TRIM(0)


@dataclass
class Method:
    name: str
    request_cls: type
    response_cls: type
    fn: Callable  # async (request, context) -> response; or async generator (request iterator, context)
    streaming: bool = False
    admin: bool = False
    # streaming only: a request that cannot be parsed reaches ``fn`` as a BadRequest (the method answers
    # it on the stream and goes on) instead of ending the stream
    isolate: bool = False
    # () -> (bytes, why): the largest request that can be valid now; a larger one is refused before it is
    # parsed (INVALID_ARGUMENT), so that it costs the event loop no parse (tens of ms for 60 MB)
    size_limit: Callable[[], tuple[int, str]] | None = None


@dataclass
class BadRequest:
    """A streamed request that could not be parsed, and why."""
    error: BaseException


@dataclass
class Service:
    full_name: str  # "hwrag.v1.Retrieval"
    methods: list[Method]


def _status_for(exc: BaseException) -> tuple[grpc.StatusCode, str] | None:
    if isinstance(exc, HwragError):
        return grpc.StatusCode.INVALID_ARGUMENT, str(exc)
    if isinstance(exc, ServiceError):
        return exc.code, exc.message
    return None


def status_of(exc: BaseException, method: str) -> tuple[grpc.StatusCode, str]:
    """The status a failed call answers: the error's own, or INTERNAL (the traceback goes to the log only)."""
    st = _status_for(exc)
    if st is None:
        log.error("internal error in %s", method, exc_info=exc)
        st = (grpc.StatusCode.INTERNAL, f"internal error in {method} (details in the server log)")
    return st


def _parse(cls, raw: bytes, m: Method | None = None):
    """A request message (its size was checked by the transport, ``grpc.max_receive_message_length``, and
    against the method's own ``size_limit``)."""
    if m is not None and m.size_limit is not None:
        limit, why = m.size_limit()
        if len(raw) > limit:
            raise HwragError(f"request is {len(raw)} bytes; accepted: at most {limit} bytes ({why})")
    try:
        return cls.FromString(raw)
    except DecodeError as e:
        raise HwragError(f"malformed {cls.DESCRIPTOR.full_name} message: {e}") from None


def _failure(context, exc: BaseException, method: str) -> tuple[grpc.StatusCode, str]:
    """The status of a failed call (and server pushback when the answer is final)."""
    if isinstance(exc, ServiceError) and exc.final:  # gRPC retry design A6: "do not retry this call"
        context.set_trailing_metadata(((PUSHBACK_KEY, "-1"),))
    return status_of(exc, method)


# The handlers abort *after* their except block, holding no request: raised inside it, the abort would chain
# the error (its traceback, the frames holding the request) into an exception gRPC keeps in a reference
# cycle, and each refused large request would stay in memory until the next full garbage collection.
def _unary(m: Method):
    async def handler(raw, context):
        large = len(raw) >= LARGE_REQUEST_BYTES
        try:
            resp, status = await m.fn(_parse(m.request_cls, raw, m), context), None
        except (asyncio.CancelledError, grpc.aio.AbortError):
            raise
        except Exception as e:  # noqa: BLE001 -- mapped to a status, never a traceback to the client
            resp, status = None, _failure(context, e, m.name)
        raw = None  # noqa: F841 -- the request goes before the abort (and before the trim)
        if large:  # off the event loop: the trim walks every arena (ctypes lets the GIL go meanwhile)
            await asyncio.to_thread(trim_heap)
        if status is not None:
            await context.abort(*status)
        return resp

    return grpc.unary_unary_rpc_method_handler(handler, response_serializer=m.response_cls.SerializeToString)


def _stream(m: Method):
    async def handler(request_iterator, context):
        async def parsed():
            async for raw in request_iterator:
                if not m.isolate:
                    yield _parse(m.request_cls, raw, m)
                    continue
                try:
                    req = _parse(m.request_cls, raw, m)
                except HwragError as e:
                    req = BadRequest(e.with_traceback(None))  # no frame (no request bytes) held
                yield req
        try:
            async for resp in m.fn(parsed(), context):
                yield resp
        except (asyncio.CancelledError, grpc.aio.AbortError):
            raise
        except Exception as e:  # noqa: BLE001
            status = _failure(context, e, m.name)
        else:
            return
        await context.abort(*status)

    return grpc.stream_stream_rpc_method_handler(handler, response_serializer=m.response_cls.SerializeToString)


def check_listen(addr: str, security: Security | None = None) -> None:
    """The cheap checks of a listen address, to run before any expensive work: ``host:port`` form, the
    TLS rule (:func:`check_bind`), a host name that resolves, and an address this host can bind now (a
    port another server holds, or an address of another machine, fails here, not after loading a shard)."""
    sec = security or Security()
    check_bind(addr, sec)
    host, port = split_address(addr)
    try:
        family, kind, proto, _, sockaddr = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM,
                                                              flags=socket.AI_PASSIVE)[0]
    except socket.gaierror as e:
        raise HwragError(f"cannot listen on {addr}: host {host!r} does not resolve ({e.strerror})") from None
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gRPC's listener: TIME_WAIT is no obstacle
        try:
            probe.bind(sockaddr)
        except OSError as e:
            held = " (another server holds it)" if e.errno == errno.EADDRINUSE else ""
            raise HwragError(f"cannot listen on {addr}: {e.strerror}{held}") from None


@dataclass
class ServerHandle:
    """A started server: ``await handle.stop(grace)`` drains calls in flight, then stops."""
    server: grpc.aio.Server
    port: int
    health: health.aio.HealthServicer
    services: list[str] = field(default_factory=list)
    on_stop: list[Callable[[], Awaitable[None] | None]] = field(default_factory=list)
    trimmer: asyncio.Task | None = None  # trim_when_grown

    async def stop(self, grace: float | None = 5.0) -> None:
        if self.trimmer is not None:
            self.trimmer.cancel()
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace)
        for cb in self.on_stop:
            r = cb()
            if asyncio.iscoroutine(r):
                await r

    async def wait(self) -> None:
        await self.server.wait_for_termination()


async def start_server(addr: str, services: list[Service], security: Security | None = None,
                       max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES) -> ServerHandle:
    """Bind ``addr`` (port 0 picks a free port), register services + health + reflection, start."""
    sec = security or Security()
    sec.check()
    check_bind(addr, sec)
    admin = {f"/{s.full_name}/{m.name}" for s in services for m in s.methods if m.admin}
    streaming = {f"/{s.full_name}/{m.name}" for s in services for m in s.methods if m.streaming}
    interceptors = []
    if sec.token or sec.admin_token or admin:
        interceptors.append(TokenAuthInterceptor(sec.token, sec.admin_token, admin, streaming))
    # the transport refuses a larger message (RESOURCE_EXHAUSTED, "Received message larger than max (N vs.
    # M)") from its length prefix, before it is read into memory: nothing of it reaches Python
    opts = [("grpc.max_receive_message_length", max_request_bytes),
            ("grpc.max_send_message_length", -1), ("grpc.so_reuseport", 0)]
    server = grpc.aio.server(interceptors=interceptors, options=opts)
    for s in services:
        handlers = {m.name: (_stream if m.streaming else _unary)(m) for m in s.methods}
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(s.full_name, handlers),))
    hs = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(hs, server)
    names = [s.full_name for s in services]
    reflection.enable_server_reflection([*names, health.SERVICE_NAME, reflection.SERVICE_NAME], server)
    port = server.add_secure_port(addr, server_credentials(sec)) if sec.tls else server.add_insecure_port(addr)
    if port == 0:
        raise HwragError(f"cannot listen on {addr} (address in use or not available)")
    await server.start()
    for n in ["", *names]:
        await hs.set(n, health_pb2.HealthCheckResponse.SERVING)
    log.info("serving %s on %s (port %d, %s)", ", ".join(names), addr, port, "TLS" if sec.tls else "plaintext")
    trimmer = asyncio.get_running_loop().create_task(trim_when_grown(), name="hwrag-heap-trim")
    return ServerHandle(server, port, hs, names, trimmer=trimmer)

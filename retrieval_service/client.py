"""Client library of the Retrieval service, synchronous and asyncio (used by llm_client and bench).

    with RetrievalClient("127.0.0.1:50051", token=...) as c:
        r = c.search(queries, k=10, nprobe=16, with_payloads=True)   # r.ids, r.distances, r.payloads
        with c.stream() as s:                                        # token-level RALM: one round trip per step
            r = s.search(hidden_states, k=8, nprobe=8)

    async with AsyncRetrievalClient(target) as c:
        r = await c.search(queries, k=10, nprobe=16)

Errors raise :class:`RetrievalError` (an :class:`ivfpq.HwragError`) carrying the gRPC ``code``.
Search and Info are retried on UNAVAILABLE within the call's timeout, by gRPC's own retry policy (the
service config of :func:`retrieval_service.wire.retry_service_config`: backoff and a retry budget); the
coordinator's deliberate UNAVAILABLE (policy FAIL) carries server pushback and is not retried. On a
stream, a failed request raises its own error and the stream goes on.
"""
from __future__ import annotations

import itertools
import queue
import threading
from dataclasses import dataclass, field

import grpc
import numpy as np
from hwrag_rpc.v1 import common_pb2, retrieval_pb2 as pb, retrieval_pb2_grpc
from ivfpq.errors import HwragError

from .wire import (RETRIEVAL_SERVICE, Figure, bearer, channel_credentials, channel_options, figure_from_pb,
                   pack_matrix, policy_value, status_code, unpack)

DEFAULT_TIMEOUT_S = 10.0


class RetrievalError(HwragError):
    """A failed call: ``code`` is the grpc.StatusCode, ``details`` the server's message."""

    def __init__(self, code: grpc.StatusCode, details: str):
        super().__init__(f"{code.name}: {details}")
        self.code, self.details = code, details


def _wrap(e: grpc.RpcError) -> RetrievalError:
    return RetrievalError(e.code(), e.details() or "")


@dataclass
class SearchResult:
    ids: np.ndarray  # (nq, k) int64, -1 = missing
    distances: np.ndarray  # (nq, k) float32, smaller is better (IP negated)
    payloads: list[list[bytes]] | None = None  # [query][rank] stored values, when asked for
    missing_shards: list[int] = field(default_factory=list)  # non-empty only for a PARTIAL answer
    timing: list[Figure] = field(default_factory=list)  # each labelled measured or modeled
    number_format: str = "fixed"
    request_id: int = 0

    @property
    def complete(self) -> bool:
        return not self.missing_shards

    def time(self, stage: str, provenance: str = "measured") -> float:
        """Sum of the time figures of ``stage`` (e.g. "select", "network", "node", "coordinator_total")."""
        return float(sum(f.value for f in self.timing
                         if f.stage == stage and f.quantity == "time" and f.provenance == provenance))


def make_request(queries, k: int, nprobe: int, index: str = "default", policy: str | None = None,
                 with_payloads: bool = False, request_id: int = 0) -> pb.SearchRequest:
    q = np.asarray(queries, dtype=np.float32)
    if q.ndim == 1:
        q = q[None, :]
    if q.ndim != 2:
        raise HwragError(f"queries must be (n, d), got shape {q.shape}")
    return pb.SearchRequest(index=index, queries=pack_matrix(q), k=int(k), nprobe=int(nprobe),
                            with_payloads=with_payloads, policy=policy_value(policy) if policy else 0,
                            request_id=request_id)


def parse_response(resp: pb.SearchResponse) -> SearchResult:
    if resp.HasField("error"):  # a stream's answer to a request that failed
        raise RetrievalError(status_code(resp.error.code), resp.error.message)
    shape = (resp.nq, resp.k)
    ids = unpack(resp.ids, np.int64, shape, "ids")
    payloads = None
    if resp.payloads:
        flat = list(resp.payloads)
        payloads = [flat[i * resp.k:(i + 1) * resp.k] for i in range(resp.nq)]
    return SearchResult(ids, unpack(resp.distances, np.float32, shape, "distances"), payloads,
                        list(resp.missing_shards), [figure_from_pb(f) for f in resp.timing],
                        "fixed" if resp.number_format == common_pb2.FIXED_POINT else "float", resp.request_id)


class _Base:
    def __init__(self, target: str, token: str | None, tls_root_cert, tls: bool, server_name: str | None,
                 timeout: float, attempts: int, admin_token: str | None):
        self.target, self.timeout = target, timeout
        self.tls = tls or tls_root_cert is not None
        self.metadata = bearer(token) if token else None  # call metadata (its streams use it too)
        self._admin_md = bearer(admin_token or token) if (admin_token or token) else None
        self._opts = channel_options(RETRIEVAL_SERVICE, ["Search", "Info"], attempts)
        if server_name:
            self._opts.append(("grpc.ssl_target_name_override", server_name))
        self._creds = channel_credentials(tls_root_cert) if self.tls else None
        self.request_ids = itertools.count(1)  # request ids of its streams


class RetrievalClient(_Base):
    """Synchronous client. ``tls_root_cert``: PEM path/bytes of the server's (or CA) certificate."""

    def __init__(self, target: str, *, token: str | None = None, tls_root_cert=None, tls: bool = False,
                 server_name: str | None = None, timeout: float = DEFAULT_TIMEOUT_S, attempts: int = 3,
                 admin_token: str | None = None):
        super().__init__(target, token, tls_root_cert, tls, server_name, timeout, attempts, admin_token)
        self.channel = (grpc.secure_channel(target, self._creds, options=self._opts) if self.tls
                        else grpc.insecure_channel(target, options=self._opts))
        self.stub = retrieval_pb2_grpc.RetrievalStub(self.channel)

    def search(self, queries, k: int, nprobe: int, *, index: str = "default", policy: str | None = None,
               with_payloads: bool = False, timeout: float | None = None) -> SearchResult:
        req = make_request(queries, k, nprobe, index, policy, with_payloads)
        try:
            return parse_response(self.stub.Search(req, timeout=timeout or self.timeout, metadata=self.metadata))
        except grpc.RpcError as e:
            raise _wrap(e) from None

    def info(self, timeout: float | None = None) -> pb.InfoResponse:
        try:
            return self.stub.Info(pb.InfoRequest(), timeout=timeout or self.timeout, metadata=self.metadata)
        except grpc.RpcError as e:
            raise _wrap(e) from None

    def load_index(self, name: str, path: str, nodes: list[str], payloads: str | None = None,
                   replace: bool = False, timeout: float = 600.0) -> pb.IndexInfo:
        req = pb.LoadIndexRequest(name=name, path=str(path), nodes=nodes, payloads=payloads or "")
        call = self.stub.ReplaceIndex if replace else self.stub.LoadIndex
        try:
            return call(req, timeout=timeout, metadata=self._admin_md)
        except grpc.RpcError as e:
            raise _wrap(e) from None

    def wait_ready(self, timeout: float = 30.0) -> None:
        try:
            grpc.channel_ready_future(self.channel).result(timeout=timeout)
        except grpc.FutureTimeoutError:
            raise RetrievalError(grpc.StatusCode.UNAVAILABLE, f"{self.target} not ready in {timeout} s") from None

    def stream(self, timeout: float | None = None) -> "SearchSession":
        """A bidirectional stream: one request, one answer, in order (``timeout`` bounds the whole stream)."""
        return SearchSession(self, timeout)

    def close(self) -> None:
        self.channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class SearchSession:
    _END = object()

    def __init__(self, client: RetrievalClient, timeout: float | None):
        self.client = client
        self._q: queue.Queue = queue.Queue()
        self._lock = threading.Lock()
        self._call = client.stub.SearchStream(self._requests(), metadata=client.metadata, timeout=timeout)

    def _requests(self):
        while (r := self._q.get()) is not self._END:
            yield r

    def search(self, queries, k: int, nprobe: int, *, index: str = "default", policy: str | None = None,
               with_payloads: bool = False) -> SearchResult:
        with self._lock:
            rid = next(self.client.request_ids)
            self._q.put(make_request(queries, k, nprobe, index, policy, with_payloads, rid))
            try:
                resp = next(self._call)
            except grpc.RpcError as e:
                raise _wrap(e) from None
            except StopIteration:
                raise RetrievalError(grpc.StatusCode.UNAVAILABLE, "the stream ended") from None
        assert resp.request_id == rid, (resp.request_id, rid)
        return parse_response(resp)  # a failed request raises its own error; the stream goes on

    def close(self) -> None:
        self._q.put(self._END)
        self._call.cancel()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class AsyncRetrievalClient(_Base):
    """asyncio client (create and use it on one event loop)."""

    def __init__(self, target: str, *, token: str | None = None, tls_root_cert=None, tls: bool = False,
                 server_name: str | None = None, timeout: float = DEFAULT_TIMEOUT_S, attempts: int = 3,
                 admin_token: str | None = None):
        super().__init__(target, token, tls_root_cert, tls, server_name, timeout, attempts, admin_token)
        self.channel = (grpc.aio.secure_channel(target, self._creds, options=self._opts) if self.tls
                        else grpc.aio.insecure_channel(target, options=self._opts))
        self.stub = retrieval_pb2_grpc.RetrievalStub(self.channel)

    async def search(self, queries, k: int, nprobe: int, *, index: str = "default", policy: str | None = None,
                     with_payloads: bool = False, timeout: float | None = None) -> SearchResult:
        req = make_request(queries, k, nprobe, index, policy, with_payloads)
        try:
            return parse_response(await self.stub.Search(req, timeout=timeout or self.timeout, metadata=self.metadata))
        except grpc.RpcError as e:
            raise _wrap(e) from None

    async def info(self, timeout: float | None = None) -> pb.InfoResponse:
        try:
            return await self.stub.Info(pb.InfoRequest(), timeout=timeout or self.timeout, metadata=self.metadata)
        except grpc.RpcError as e:
            raise _wrap(e) from None

    async def load_index(self, name: str, path: str, nodes: list[str], payloads: str | None = None,
                         replace: bool = False, timeout: float = 600.0) -> pb.IndexInfo:
        req = pb.LoadIndexRequest(name=name, path=str(path), nodes=nodes, payloads=payloads or "")
        call = self.stub.ReplaceIndex if replace else self.stub.LoadIndex
        try:
            return await call(req, timeout=timeout, metadata=self._admin_md)
        except grpc.RpcError as e:
            raise _wrap(e) from None

    def stream(self, timeout: float | None = None) -> "AsyncSearchSession":
        return AsyncSearchSession(self, timeout)

    async def close(self) -> None:
        await self.channel.close()

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        await self.close()


class AsyncSearchSession:
    def __init__(self, client: AsyncRetrievalClient, timeout: float | None):
        self.client = client
        self._call = client.stub.SearchStream(metadata=client.metadata, timeout=timeout)
        self._lock = None

    async def search(self, queries, k: int, nprobe: int, *, index: str = "default", policy: str | None = None,
                     with_payloads: bool = False) -> SearchResult:
        import asyncio

        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            rid = next(self.client.request_ids)
            try:
                await self._call.write(make_request(queries, k, nprobe, index, policy, with_payloads, rid))
                resp = await self._call.read()
            except grpc.RpcError as e:
                raise _wrap(e) from None
            if resp is grpc.aio.EOF:
                raise RetrievalError(grpc.StatusCode.UNAVAILABLE, "the stream ended")
        return parse_response(resp)

    async def close(self) -> None:
        try:
            await self._call.done_writing()
        except grpc.RpcError:
            pass
        self._call.cancel()

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        await self.close()

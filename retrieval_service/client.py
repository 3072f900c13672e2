"""Client library of the Retrieval service, synchronous and asyncio (used by llm_client and bench).

    with RetrievalClient("127.0.0.1:50051", token=...) as c:
        r = c.search(queries, k=10, nprobe=16, with_payloads=True)   # r.ids, r.distances, r.payloads
        with c.stream() as s:                        # one SearchStream: no call set-up per search
            r = s.search(hidden_states, k=8, nprobe=8)
            fut = s.submit(hidden_states, k=8, nprobe=8)  # many in flight (window 64), answers by request id

    async with AsyncRetrievalClient(target) as c:
        r = await c.search(queries, k=10, nprobe=16)

Errors raise :class:`RetrievalError` (an :class:`ivfpq.HwragError`) carrying the gRPC ``code``.
Search and Info are retried on UNAVAILABLE within the call's timeout, by gRPC's own retry policy (the
service config of :func:`retrieval_service.wire.retry_service_config`: backoff and a retry budget); the
coordinator's deliberate UNAVAILABLE (policy FAIL) carries server pushback and is not retried. On a
stream, a failed request raises its own error and the stream goes on; when the stream itself ends, every
request pending on it raises the stream's status.
"""
from __future__ import annotations

import asyncio
import itertools
import queue
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Sequence

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
    wire_timing: Sequence = field(default=(), repr=False)  # the answer's Figure messages, decoded on first use
    number_format: str = "fixed"
    request_id: int = 0
    _timing: list[Figure] | None = field(default=None, repr=False)

    @property
    def timing(self) -> list[Figure]:
        """Every stage's figure, each labelled measured or modeled (decoded from the answer when first asked:
        a caller that never looks at them pays no Python object per figure, ~6 us each here)."""
        if self._timing is None:
            self._timing = [figure_from_pb(f) for f in self.wire_timing]
        return self._timing

    @property
    def complete(self) -> bool:
        return not self.missing_shards

    def time(self, stage: str, provenance: str = "measured") -> float:
        """Sum of the time figures of ``stage`` (e.g. "select", "network", "node", "coordinator_total")."""
        return float(sum(f.value for f in self.timing
                         if f.stage == stage and f.quantity == "time" and f.provenance == provenance))


def query_rows(queries) -> np.ndarray:
    """``queries`` as an (n, d) float32 array (one vector: one row); HwragError for another shape."""
    q = np.asarray(queries, dtype=np.float32)
    if q.ndim == 1:
        q = q[None, :]
    if q.ndim != 2:
        raise HwragError(f"queries must be (n, d), got shape {q.shape}")
    return q


def make_request(queries, k: int, nprobe: int, index: str = "default", policy: str | None = None,
                 with_payloads: bool = False, request_id: int = 0) -> pb.SearchRequest:
    q = query_rows(queries)
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
                        list(resp.missing_shards), resp.timing,
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

    def stream(self, timeout: float | None = None, window: int = 64) -> "SearchSession":
        """A streaming session (``SearchStream``): up to ``window`` requests in flight, answers matched by
        request id (``timeout`` bounds the whole stream; None: no deadline)."""
        return SearchSession(self, timeout, window)

    def close(self) -> None:
        self.channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class _Window:
    """What a session shares between its sides: answers pending by request id, a window of requests in flight
    (``acquire`` blocks while it is full: back-pressure), and how the stream ended (``ended``: the error every
    request pending or submitted later gets)."""

    def __init__(self, window: int):
        if window < 1:
            raise HwragError(f"window={window}; accepted: >= 1 requests in flight")
        self.size = window
        self.pending: dict[int, Future] = {}
        self.ended: RetrievalError | None = None


class SearchSession:
    """One ``SearchStream``: many requests in flight, each answer matched to its request by request id.

    ``submit`` sends a request and returns a :class:`concurrent.futures.Future` of its
    :class:`SearchResult` (it blocks while ``window`` requests are in flight: back-pressure); ``search``
    sends one and waits for it. A request the service refuses fails alone (its future raises
    :class:`RetrievalError` with its code) and the stream goes on; when the stream itself ends (the server
    cut it, its deadline, cancellation), every pending request and every later one raises the stream's
    status. Thread-safe.

    Who reads the answers: once ``submit`` was used, a thread of the session's own (so a future completes
    when its answer arrives, whoever waits for it); before that, a thread waiting in ``search`` reads
    them itself, handing others theirs (a caller in lock-step with the stream pays no hand-off to a
    reader thread: ~60-150 us of CPU per request less, measured on 8 threads here)."""

    _END = object()

    def __init__(self, client: RetrievalClient, timeout: float | None, window: int = 64):
        self.client = client
        self._w = _Window(window)
        self._slots = threading.BoundedSemaphore(window)
        self._q: queue.SimpleQueue = queue.SimpleQueue()
        self._cv = threading.Condition()  # guards pending, ended and _reading
        self._reading = False  # a thread is reading the answers
        self._reader: threading.Thread | None = None
        self._call = client.stub.SearchStream(iter(self._q.get, self._END), metadata=client.metadata, timeout=timeout)

    @property
    def window(self) -> int:
        return self._w.size

    def in_flight(self) -> int:
        return len(self._w.pending)

    @property
    def ended(self) -> RetrievalError | None:
        """How the stream ended (the status every request gets now), or None while it is open."""
        return self._w.ended

    def _send(self, queries, k, nprobe, index, policy, with_payloads) -> Future:
        rid = next(self.client.request_ids)
        req = make_request(queries, k, nprobe, index, policy, with_payloads, rid)  # a bad shape raises here
        fut: Future = Future()
        self._slots.acquire()
        with self._cv:
            if self._w.ended is not None:
                self._slots.release()
                raise self._w.ended
            self._w.pending[rid] = fut
        self._q.put(req)
        return fut

    def submit(self, queries, k: int, nprobe: int, *, index: str = "default", policy: str | None = None,
               with_payloads: bool = False) -> Future:
        """Send one request; a Future of its answer (blocks while the window is full)."""
        if self._reader is None:
            with self._cv:
                if self._reader is None:
                    self._reader = threading.Thread(target=self._read_all, name="hwrag-search-stream", daemon=True)
                    self._reader.start()
        return self._send(queries, k, nprobe, index, policy, with_payloads)

    def search(self, queries, k: int, nprobe: int, *, index: str = "default", policy: str | None = None,
               with_payloads: bool = False) -> SearchResult:
        """One request, waiting for its answer (a failed request raises its own error; the stream goes on)."""
        fut = self._send(queries, k, nprobe, index, policy, with_payloads)
        self._read_until(fut)
        return fut.result()

    def _read_until(self, fut: Future) -> None:
        """Wait for ``fut``: read answers (handing each to its future) unless another thread reads them."""
        with self._cv:
            while not fut.done() and self._reading:
                self._cv.wait()
            if fut.done():
                return
            self._reading = True
        try:
            while not fut.done():
                if not self._read_one():
                    return
        finally:
            with self._cv:
                self._reading = False
                self._cv.notify_all()

    def _read_all(self) -> None:
        with self._cv:
            while self._reading:
                self._cv.wait()
            self._reading = True  # for good: waiting callers now wait for their futures only
        while self._read_one():
            pass

    def _read_one(self) -> bool:
        """Read one answer and complete its future; False when the stream has ended (every pending
        request then fails with its status)."""
        try:
            resp = next(self._call)
        except StopIteration:
            return self._end(RetrievalError(grpc.StatusCode.UNAVAILABLE, "the stream ended (the server closed it)"))
        except grpc.RpcError as e:
            return self._end(_wrap(e))
        with self._cv:
            fut = self._w.pending.pop(resp.request_id, None)
            if fut is None and self._w.pending:  # answers come in request order: an answer without a known
                fut = self._w.pending.pop(min(self._w.pending))  # id (an unparsable request's) is the oldest's
        if fut is None:
            return True
        self._slots.release()
        result, error = None, None
        try:
            result = parse_response(resp)
        except RetrievalError as e:
            error = e
        except Exception as e:  # noqa: BLE001 -- an answer this client cannot read fails its request
            error = RetrievalError(grpc.StatusCode.INTERNAL, f"unreadable answer on the stream: {e}")
        with self._cv:  # done before the waiting callers look again
            if error is None:
                fut.set_result(result)
            else:
                fut.set_exception(error)
            self._cv.notify_all()
        return True

    def _end(self, err: RetrievalError) -> bool:
        with self._cv:
            if self._w.ended is None:
                self._w.ended = err
            pending, self._w.pending = self._w.pending, {}
            self._cv.notify_all()
        for fut in pending.values():
            self._slots.release()
            fut.set_exception(err)
        return False

    def close(self, timeout: float = 5.0) -> None:
        """Half-close: the answers in flight still come (for at most ``timeout`` s when a reader thread
        runs), then the call ends and what is still pending fails CANCELLED."""
        self._q.put(self._END)
        if self._reader is not None:
            self._reader.join(timeout)
        self._call.cancel()
        if self._reader is not None:
            self._reader.join(timeout)
        self._end(RetrievalError(grpc.StatusCode.CANCELLED, "the session was closed"))

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

    def stream(self, timeout: float | None = None, window: int = 64, coalesce: bool = False,
               max_rows: int = 256) -> "AsyncSearchSession":
        """The asyncio streaming session (see :meth:`RetrievalClient.stream`); ``coalesce``: requests
        submitted while a write is under way go together as one message (see :class:`AsyncSearchSession`)."""
        return AsyncSearchSession(self, timeout, window, coalesce, max_rows)

    async def close(self) -> None:
        await self.channel.close()

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        await self.close()


class AsyncSearchSession:
    """The asyncio session: ``submit`` writes a request and returns an asyncio Future of its answer (it
    waits while ``window`` requests are in flight), ``search`` awaits it; answers are read by a task of the
    session's own and matched by request id. Errors as :class:`SearchSession`'s.

    ``coalesce`` (for a session shared by many callers, e.g. one per sequence of a batch): a request
    submitted while another is being written waits for that write, and then every request waiting with the
    same index, k, nprobe, policy, payloads and dimension goes as ONE message of their queries stacked
    (at most ``max_rows`` queries); its answer is split back by rows. Each query's answer is the same as
    alone (the coordinator searches the rows of a request independently, as it does for callers its
    batching window gathers); what they share is the answer's figures, and a refusal of the message
    (e.g. its deadline) fails each of them. A message costs the client, the coordinator and gRPC the same
    whether it carries one query or eight: coalescing divides that cost by the requests it joins."""

    def __init__(self, client: AsyncRetrievalClient, timeout: float | None, window: int = 64,
                 coalesce: bool = False, max_rows: int = 256):
        if max_rows < 1:
            raise HwragError(f"max_rows={max_rows}; accepted: >= 1 queries per message")
        self.client = client
        self._w = _Window(window)
        self._call = client.stub.SearchStream(metadata=client.metadata, timeout=timeout)
        self._slots: asyncio.Semaphore | None = None
        self._write_lock: asyncio.Lock | None = None
        self._reader: asyncio.Task | None = None
        self.coalesce, self.max_rows = coalesce, max_rows
        self._outbox: list[tuple[tuple, np.ndarray, asyncio.Future]] = []  # coalesce: waiting for the writer
        self._writing = False  # coalesce: a submit is writing (it writes what waits in the outbox too)
        self.messages = 0  # messages written (with coalesce: fewer than requests)

    def _start(self) -> None:
        if self._reader is None:  # on the loop that uses the session
            self._slots, self._write_lock = asyncio.Semaphore(self._w.size), asyncio.Lock()
            self._reader = asyncio.get_running_loop().create_task(self._read())

    async def submit(self, queries, k: int, nprobe: int, *, index: str = "default", policy: str | None = None,
                     with_payloads: bool = False) -> asyncio.Future:
        if self.coalesce:
            return await self._submit_coalesced(queries, k, nprobe, index, policy, with_payloads)
        self._start()
        rid = next(self.client.request_ids)
        req = make_request(queries, k, nprobe, index, policy, with_payloads, rid)
        await self._slots.acquire()
        if self._w.ended is not None:
            self._slots.release()
            raise self._w.ended
        fut = asyncio.get_running_loop().create_future()
        self._w.pending[rid] = fut
        try:
            async with self._write_lock:  # one write at a time on a call
                self.messages += 1
                await self._call.write(req)
        except (grpc.RpcError, grpc.aio.UsageError, asyncio.InvalidStateError):
            await self._write_failed([fut])
        return fut

    async def _write_failed(self, futs: list) -> None:
        await asyncio.sleep(0)  # the reader sees the stream's status and fails the pending requests
        if not all(f.done() for f in futs):
            self._end(self._w.ended or RetrievalError(grpc.StatusCode.UNAVAILABLE, "the stream ended"))

    async def _submit_coalesced(self, queries, k, nprobe, index, policy, with_payloads) -> asyncio.Future:
        self._start()
        q = query_rows(queries)  # a bad shape raises here, alone
        key = (index, int(k), int(nprobe), policy, bool(with_payloads), q.shape[1])
        await self._slots.acquire()
        if self._w.ended is not None:
            self._slots.release()
            raise self._w.ended
        fut = asyncio.get_running_loop().create_future()
        self._outbox.append((key, q, fut))
        await self._drain()
        return fut

    async def _drain(self) -> None:
        """Write what waits in the outbox unless a caller does already (this one writes until nothing
        waits; callers meanwhile only queue)."""
        if self._writing:
            return
        self._writing = True
        try:
            await asyncio.sleep(0)  # the callers woken with this one (by one coalesced answer) queue first
            while self._outbox:
                waiting, self._outbox = self._outbox, []
                for group in _runs(waiting, self.max_rows):
                    await self._write_group(group)
        finally:
            self._writing = False
            if self._outbox and self._w.ended is None:  # this writer was cancelled: a task writes the rest
                asyncio.get_running_loop().create_task(self._drain())

    async def _write_group(self, group: list[tuple[tuple, np.ndarray, asyncio.Future]]) -> None:
        """One message of ``group``'s queries (same key); its answer is split back by rows."""
        (index, k, nprobe, policy, with_payloads, _), futs = group[0][0], [f for _, _, f in group]
        rid = next(self.client.request_ids)
        if len(group) == 1:
            queries, entry = group[0][1], futs[0]
        else:
            queries = np.concatenate([q for _, q, _ in group])
            bounds = np.cumsum([0, *(q.shape[0] for _, q, _ in group)])
            entry = _Rows(futs, bounds)
        if self._w.ended is not None:
            for f in futs:
                self._slots.release()
                f.set_exception(self._w.ended)
            return
        self._w.pending[rid] = entry
        self.messages += 1
        try:
            await self._call.write(make_request(queries, k, nprobe, index, policy, with_payloads, rid))
        except (grpc.RpcError, grpc.aio.UsageError, asyncio.InvalidStateError):
            await self._write_failed(futs)

    async def search(self, queries, k: int, nprobe: int, *, index: str = "default", policy: str | None = None,
                     with_payloads: bool = False) -> SearchResult:
        return await (await self.submit(queries, k, nprobe, index=index, policy=policy, with_payloads=with_payloads))

    async def _read(self) -> None:
        err: RetrievalError | None = None
        try:
            while (resp := await self._call.read()) is not grpc.aio.EOF:
                fut = self._w.pending.pop(resp.request_id, None)
                if fut is None and self._w.pending:  # an unparsable request's answer (id 0): the oldest's
                    fut = self._w.pending.pop(min(self._w.pending))
                if fut is None:
                    continue
                if isinstance(fut, _Rows):
                    fut.answer(resp, self._slots)
                    continue
                self._slots.release()
                try:
                    fut.set_result(parse_response(resp))
                except RetrievalError as e:
                    fut.set_exception(e)
            err = RetrievalError(grpc.StatusCode.UNAVAILABLE, "the stream ended (the server closed it)")
        except grpc.RpcError as e:
            err = _wrap(e)
        except asyncio.CancelledError:
            err = RetrievalError(grpc.StatusCode.CANCELLED, "the stream was closed")
        except Exception as e:  # noqa: BLE001
            err = RetrievalError(grpc.StatusCode.INTERNAL, f"unreadable answer on the stream: {e}")
        finally:
            self._end(err or RetrievalError(grpc.StatusCode.CANCELLED, "the stream was closed"))

    def _end(self, err: RetrievalError) -> None:
        if self._w.ended is None:
            self._w.ended = err
        pending, self._w.pending = self._w.pending, {}
        waiting, self._outbox = self._outbox, []
        futs = [f for e in pending.values() for f in (e.futs if isinstance(e, _Rows) else (e,))]
        for fut in futs + [f for _, _, f in waiting]:
            self._slots.release()
            if not fut.done():
                fut.set_exception(err)

    async def close(self, timeout: float = 5.0) -> None:
        """Half-close: the answers in flight still come (for at most ``timeout`` s), then the call ends."""
        try:
            await self._call.done_writing()
        except (grpc.RpcError, grpc.aio.UsageError):
            pass
        if self._reader is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._reader), timeout)
            except (asyncio.TimeoutError, asyncio.CancelledError):
                pass
        self._call.cancel()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        await self.close()


def _runs(waiting: list, max_rows: int) -> list[list]:
    """``waiting`` (key, rows, future) cut into runs of one key, each at most ``max_rows`` rows (a larger
    request alone), in order: the answers keep the requests' order."""
    runs: list[list] = []
    rows = 0
    for item in waiting:
        n = item[1].shape[0]
        if runs and runs[-1][0][0] == item[0] and rows + n <= max_rows:
            runs[-1].append(item)
            rows += n
        else:
            runs.append([item])
            rows = n
    return runs


@dataclass
class _Rows:
    """The requests one coalesced message carries: request i's answer is rows bounds[i]:bounds[i+1]."""
    futs: list
    bounds: np.ndarray

    def answer(self, resp: pb.SearchResponse, slots: asyncio.Semaphore) -> None:
        for _ in self.futs:
            slots.release()
        try:
            r = parse_response(resp)
        except RetrievalError as e:
            for f in self.futs:
                if not f.done():
                    f.set_exception(e)
            return
        for f, a, b in zip(self.futs, self.bounds[:-1], self.bounds[1:]):
            if not f.done():
                f.set_result(SearchResult(r.ids[a:b], r.distances[a:b], None if r.payloads is None else r.payloads[a:b],
                                          list(r.missing_shards), r.wire_timing, r.number_format, r.request_id))

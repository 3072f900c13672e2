"""The wire types both sides share: figures, dead-node policies, channel options and credentials,
matrix and array packing, index fingerprints and the service's error type.

This module and the generated stubs (``hwrag_rpc``) are all that :mod:`retrieval_service.client`
imports, so a client loads no coordinator, memory node, backend or cluster code.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import grpc
import numpy as np
from hwrag_rpc.v1 import common_pb2, memory_node_pb2, retrieval_pb2
from ivfpq.errors import HwragError
from ivfpq.index import IVFPQIndex

RETRIEVAL_SERVICE = retrieval_pb2.DESCRIPTOR.services_by_name["Retrieval"].full_name  # "hwrag.v1.Retrieval"
MEMORY_NODE_SERVICE = memory_node_pb2.DESCRIPTOR.services_by_name["MemoryNode"].full_name

# ---- figures (contract 2: every figure says measured or modeled) --------------------------------------
MEASURED, MODELED = "measured", "modeled"


@dataclass(frozen=True)
class Figure:
    """One timing or energy figure of one stage, labelled measured or modeled."""
    stage: str
    value: float
    provenance: str = MEASURED  # "measured" | "modeled"
    quantity: str = "time"  # "time" | "energy"
    unit: str = "s"  # "s" | "J"
    where: str = ""
    config: str = ""  # for modeled figures: the modeled configuration

    def __post_init__(self):
        assert self.provenance in (MEASURED, MODELED), self.provenance
        assert self.quantity in ("time", "energy"), self.quantity

    def to_dict(self) -> dict:
        return asdict(self)


_PROV = {MEASURED: common_pb2.MEASURED, MODELED: common_pb2.MODELED}
_PROV_BACK = {v: k for k, v in _PROV.items()}


def figure_to_pb(f: Figure, where: str | None = None) -> common_pb2.Figure:
    return common_pb2.Figure(stage=f.stage, quantity=f.quantity, value=float(f.value), unit=f.unit,
                             provenance=_PROV[f.provenance], where=where if where is not None else f.where,
                             config=f.config)


def add_figures(timing, figures, where: str | None = None) -> None:
    """Append ``figures`` to a message's ``repeated Figure timing`` in place (half the CPU of building each
    message with :func:`figure_to_pb` and copying it in)."""
    add = timing.add
    for f in figures:
        add(stage=f.stage, quantity=f.quantity, value=float(f.value), unit=f.unit, provenance=_PROV[f.provenance],
            where=where if where is not None else f.where, config=f.config)


def figure_from_pb(p: common_pb2.Figure) -> Figure:
    return Figure(stage=p.stage, value=p.value, provenance=_PROV_BACK.get(p.provenance, MEASURED),
                  quantity=p.quantity or "time", unit=p.unit or "s", where=p.where, config=p.config)


# ---- dead-node policies --------------------------------------------------------------------------------
POLICIES = {"fail": retrieval_pb2.FAIL, "partial": retrieval_pb2.PARTIAL}
POLICY_NAMES = {v: k for k, v in POLICIES.items()}


def policy_value(policy: str) -> int:
    if policy not in POLICIES:
        raise HwragError(f"policy={policy!r}; accepted: {', '.join(POLICIES)}")
    return POLICIES[policy]


# ---- channels ------------------------------------------------------------------------------------------
AUTH_KEY = "authorization"


def retry_service_config(service: str, methods: list[str], attempts: int) -> str:
    """gRPC service config (retry design A6): retry idempotent ``methods`` on UNAVAILABLE with exponential
    backoff, within the call's deadline, under a retry budget (``retryThrottling``: retries stop while more
    than half of the recent calls failed). A server's pushback (``grpc-retry-pushback-ms`` = -1, sent with
    the coordinator's deliberate UNAVAILABLE) stops the retries of that call."""
    if attempts < 2:
        return json.dumps({"methodConfig": []})
    return json.dumps({"methodConfig": [{
        "name": [{"service": service, "method": m} for m in methods],
        "retryPolicy": {"maxAttempts": min(attempts, 5), "initialBackoff": "0.02s", "maxBackoff": "0.2s",
                        "backoffMultiplier": 2, "retryableStatusCodes": ["UNAVAILABLE"]}}],
        "retryThrottling": {"maxTokens": 10, "tokenRatio": 0.1}})


def channel_options(service: str, methods: list[str], attempts: int,
                    max_reconnect_backoff_ms: int = 1000) -> list[tuple[str, object]]:
    return [("grpc.enable_retries", 1 if attempts > 1 else 0),
            ("grpc.service_config", retry_service_config(service, methods, attempts)),
            ("grpc.initial_reconnect_backoff_ms", 100), ("grpc.min_reconnect_backoff_ms", 100),
            ("grpc.max_reconnect_backoff_ms", max_reconnect_backoff_ms),
            ("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1)]


def channel_credentials(root_cert) -> grpc.ChannelCredentials:
    """Client credentials trusting ``root_cert`` (a PEM path or bytes; None = the system roots)."""
    if root_cert is None:
        return grpc.ssl_channel_credentials()
    if isinstance(root_cert, (str, os.PathLike)):
        p = Path(root_cert)
        if not p.is_file():
            raise HwragError(f"TLS root certificate {p} does not exist")
        root_cert = p.read_bytes()
    return grpc.ssl_channel_credentials(root_certificates=root_cert)


def bearer(token: str) -> tuple[tuple[str, str]]:
    """Call metadata carrying ``token`` (``authorization: Bearer <token>``)."""
    return ((AUTH_KEY, f"Bearer {token}"),)


# ---- errors --------------------------------------------------------------------------------------------
#: gRPC's server pushback trailer (retry design A6): a negative value tells the client not to retry
PUSHBACK_KEY = "grpc-retry-pushback-ms"


class ServiceError(Exception):
    """A request that fails with a given gRPC status (user errors use HwragError: INVALID_ARGUMENT).
    ``final``: the answer will not change on a retry (a deliberate UNAVAILABLE under policy FAIL): the
    server sends :data:`PUSHBACK_KEY` = -1 with it, so clients following gRPC's retry design do not retry."""

    def __init__(self, code: grpc.StatusCode, message: str, final: bool = False):
        super().__init__(message)
        self.code = code
        self.message = message
        self.final = final


_CODES = {c.value[0]: c for c in grpc.StatusCode}


def status_code(value: int) -> grpc.StatusCode:
    """The grpc.StatusCode of a wire code number (UNKNOWN for a number gRPC does not define)."""
    return _CODES.get(int(value), grpc.StatusCode.UNKNOWN)


# ---- arrays --------------------------------------------------------------------------------------------
_F32 = np.dtype("<f4")
_I64 = np.dtype("<i8")


def pack_matrix(a: np.ndarray) -> common_pb2.Matrix:
    a = np.ascontiguousarray(a, dtype=_F32)
    if a.ndim == 1:
        a = a[None, :]
    assert a.ndim == 2, a.shape
    return common_pb2.Matrix(data=a.tobytes(), shape=list(a.shape))


def unpack_matrix(m: common_pb2.Matrix, what: str = "queries") -> np.ndarray:
    """(rows, cols) float32 from a Matrix; HwragError when the shape and the bytes disagree."""
    shape = tuple(int(s) for s in m.shape)
    if len(shape) != 2:
        raise HwragError(f"{what}: shape {list(shape)} must have 2 dimensions (n, d)")
    if len(m.data) != shape[0] * shape[1] * 4:
        raise HwragError(f"{what}: {len(m.data)} bytes of data do not hold shape {list(shape)} of float32 "
                         f"(expected {shape[0] * shape[1] * 4} bytes, little-endian float32, row-major)")
    # a writable native copy: read-only arrays would make numba compile another specialisation
    return np.frombuffer(m.data, dtype=_F32).reshape(shape).astype(np.float32, copy=True)


def pack_i64(a: np.ndarray) -> bytes:
    return np.ascontiguousarray(a, dtype=_I64).tobytes()


def pack_f32(a: np.ndarray) -> bytes:
    return np.ascontiguousarray(a, dtype=_F32).tobytes()


_LITTLE = sys.byteorder == "little"
_LE_DTYPES = {key: np.dtype(t).newbyteorder("<") for t in (np.int64, np.float32, np.int32, np.float64)
              for key in (t, np.dtype(t), np.dtype(t).name)}


def unpack(data: bytes, dtype, shape: tuple[int, ...], what: str) -> np.ndarray:
    """A writable native array of ``shape`` from little-endian bytes (on the hot path of every answer: ~2 us
    for a small one, where a generic dtype conversion and ``np.prod`` cost ~12)."""
    dt = _LE_DTYPES.get(dtype) or np.dtype(dtype).newbyteorder("<")
    if len(data) != math.prod(shape) * dt.itemsize:
        raise HwragError(f"{what}: {len(data)} bytes do not hold shape {list(shape)} of {dt.name}")
    a = np.frombuffer(data, dtype=dt).reshape(shape)
    return a.copy() if _LITTLE else a.astype(dt.newbyteorder("="))


# ---- index identity ------------------------------------------------------------------------------------
def index_fingerprint(index: IVFPQIndex) -> str:
    """What every shard of one index shares: centroids, codebooks, metric, residual flag.

    The coordinator sends it with every Scan; a node serving another index refuses (FAILED_PRECONDITION)
    rather than answer silently wrong ids.
    """
    h = hashlib.sha256()
    h.update(f"{index.metric}|{int(index.by_residual)}|{index.centroids.shape}|{index.codebooks.shape}|".encode())
    h.update(np.ascontiguousarray(index.centroids).tobytes())
    h.update(np.ascontiguousarray(index.codebooks).tobytes())
    return h.hexdigest()[:32]

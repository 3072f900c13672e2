# Generated from proto/hwrag_rpc/v1/retrieval.proto by `python -m retrieval_service.gen_proto`.
# DO NOT EDIT: edit the .proto and rerun the command.
from hwrag_rpc.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DeadNodePolicy(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DEAD_NODE_POLICY_UNSPECIFIED: _ClassVar[DeadNodePolicy]
    FAIL: _ClassVar[DeadNodePolicy]
    PARTIAL: _ClassVar[DeadNodePolicy]
DEAD_NODE_POLICY_UNSPECIFIED: DeadNodePolicy
FAIL: DeadNodePolicy
PARTIAL: DeadNodePolicy

class SearchRequest(_message.Message):
    __slots__ = ("index", "queries", "k", "nprobe", "with_payloads", "policy", "request_id")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    QUERIES_FIELD_NUMBER: _ClassVar[int]
    K_FIELD_NUMBER: _ClassVar[int]
    NPROBE_FIELD_NUMBER: _ClassVar[int]
    WITH_PAYLOADS_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    index: str
    queries: _common_pb2.Matrix
    k: int
    nprobe: int
    with_payloads: bool
    policy: DeadNodePolicy
    request_id: int
    def __init__(self, index: _Optional[str] = ..., queries: _Optional[_Union[_common_pb2.Matrix, _Mapping]] = ..., k: _Optional[int] = ..., nprobe: _Optional[int] = ..., with_payloads: _Optional[bool] = ..., policy: _Optional[_Union[DeadNodePolicy, str]] = ..., request_id: _Optional[int] = ...) -> None: ...

class SearchResponse(_message.Message):
    __slots__ = ("nq", "k", "ids", "distances", "payloads", "missing_shards", "timing", "number_format", "request_id", "error")
    NQ_FIELD_NUMBER: _ClassVar[int]
    K_FIELD_NUMBER: _ClassVar[int]
    IDS_FIELD_NUMBER: _ClassVar[int]
    DISTANCES_FIELD_NUMBER: _ClassVar[int]
    PAYLOADS_FIELD_NUMBER: _ClassVar[int]
    MISSING_SHARDS_FIELD_NUMBER: _ClassVar[int]
    TIMING_FIELD_NUMBER: _ClassVar[int]
    NUMBER_FORMAT_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    nq: int
    k: int
    ids: bytes
    distances: bytes
    payloads: _containers.RepeatedScalarFieldContainer[bytes]
    missing_shards: _containers.RepeatedScalarFieldContainer[int]
    timing: _containers.RepeatedCompositeFieldContainer[_common_pb2.Figure]
    number_format: _common_pb2.NumberFormat
    request_id: int
    error: RequestError
    def __init__(self, nq: _Optional[int] = ..., k: _Optional[int] = ..., ids: _Optional[bytes] = ..., distances: _Optional[bytes] = ..., payloads: _Optional[_Iterable[bytes]] = ..., missing_shards: _Optional[_Iterable[int]] = ..., timing: _Optional[_Iterable[_Union[_common_pb2.Figure, _Mapping]]] = ..., number_format: _Optional[_Union[_common_pb2.NumberFormat, str]] = ..., request_id: _Optional[int] = ..., error: _Optional[_Union[RequestError, _Mapping]] = ...) -> None: ...

class RequestError(_message.Message):
    __slots__ = ("code", "message")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    code: int
    message: str
    def __init__(self, code: _Optional[int] = ..., message: _Optional[str] = ...) -> None: ...

class InfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class NodeStatus(_message.Message):
    __slots__ = ("shard", "address", "reachable", "backend", "error", "state", "state_since_unix_s", "transitions", "state_reason")
    SHARD_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    REACHABLE_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    STATE_SINCE_UNIX_S_FIELD_NUMBER: _ClassVar[int]
    TRANSITIONS_FIELD_NUMBER: _ClassVar[int]
    STATE_REASON_FIELD_NUMBER: _ClassVar[int]
    shard: int
    address: str
    reachable: bool
    backend: str
    error: str
    state: str
    state_since_unix_s: float
    transitions: int
    state_reason: str
    def __init__(self, shard: _Optional[int] = ..., address: _Optional[str] = ..., reachable: _Optional[bool] = ..., backend: _Optional[str] = ..., error: _Optional[str] = ..., state: _Optional[str] = ..., state_since_unix_s: _Optional[float] = ..., transitions: _Optional[int] = ..., state_reason: _Optional[str] = ...) -> None: ...

class IndexInfo(_message.Message):
    __slots__ = ("name", "d", "nlist", "M", "ntotal", "metric", "nshards", "fingerprint", "has_payloads", "nodes")
    NAME_FIELD_NUMBER: _ClassVar[int]
    D_FIELD_NUMBER: _ClassVar[int]
    NLIST_FIELD_NUMBER: _ClassVar[int]
    M_FIELD_NUMBER: _ClassVar[int]
    NTOTAL_FIELD_NUMBER: _ClassVar[int]
    METRIC_FIELD_NUMBER: _ClassVar[int]
    NSHARDS_FIELD_NUMBER: _ClassVar[int]
    FINGERPRINT_FIELD_NUMBER: _ClassVar[int]
    HAS_PAYLOADS_FIELD_NUMBER: _ClassVar[int]
    NODES_FIELD_NUMBER: _ClassVar[int]
    name: str
    d: int
    nlist: int
    M: int
    ntotal: int
    metric: str
    nshards: int
    fingerprint: str
    has_payloads: bool
    nodes: _containers.RepeatedCompositeFieldContainer[NodeStatus]
    def __init__(self, name: _Optional[str] = ..., d: _Optional[int] = ..., nlist: _Optional[int] = ..., M: _Optional[int] = ..., ntotal: _Optional[int] = ..., metric: _Optional[str] = ..., nshards: _Optional[int] = ..., fingerprint: _Optional[str] = ..., has_payloads: _Optional[bool] = ..., nodes: _Optional[_Iterable[_Union[NodeStatus, _Mapping]]] = ...) -> None: ...

class InfoResponse(_message.Message):
    __slots__ = ("indexes", "max_k", "max_batch", "max_request_bytes", "batch_window_s", "default_policy", "list_selection")
    INDEXES_FIELD_NUMBER: _ClassVar[int]
    MAX_K_FIELD_NUMBER: _ClassVar[int]
    MAX_BATCH_FIELD_NUMBER: _ClassVar[int]
    MAX_REQUEST_BYTES_FIELD_NUMBER: _ClassVar[int]
    BATCH_WINDOW_S_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_POLICY_FIELD_NUMBER: _ClassVar[int]
    LIST_SELECTION_FIELD_NUMBER: _ClassVar[int]
    indexes: _containers.RepeatedCompositeFieldContainer[IndexInfo]
    max_k: int
    max_batch: int
    max_request_bytes: int
    batch_window_s: float
    default_policy: DeadNodePolicy
    list_selection: str
    def __init__(self, indexes: _Optional[_Iterable[_Union[IndexInfo, _Mapping]]] = ..., max_k: _Optional[int] = ..., max_batch: _Optional[int] = ..., max_request_bytes: _Optional[int] = ..., batch_window_s: _Optional[float] = ..., default_policy: _Optional[_Union[DeadNodePolicy, str]] = ..., list_selection: _Optional[str] = ...) -> None: ...

class LoadIndexRequest(_message.Message):
    __slots__ = ("name", "path", "nodes", "payloads")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    NODES_FIELD_NUMBER: _ClassVar[int]
    PAYLOADS_FIELD_NUMBER: _ClassVar[int]
    name: str
    path: str
    nodes: _containers.RepeatedScalarFieldContainer[str]
    payloads: str
    def __init__(self, name: _Optional[str] = ..., path: _Optional[str] = ..., nodes: _Optional[_Iterable[str]] = ..., payloads: _Optional[str] = ...) -> None: ...

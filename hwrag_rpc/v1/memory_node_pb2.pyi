# Generated from proto/hwrag_rpc/v1/memory_node.proto by `python -m retrieval_service.gen_proto`.
# DO NOT EDIT: edit the .proto and rerun the command.
from hwrag_rpc.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ScanRequest(_message.Message):
    __slots__ = ("index", "fingerprint", "shard", "nshards", "queries", "probe", "nprobe", "k", "request_id")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    FINGERPRINT_FIELD_NUMBER: _ClassVar[int]
    SHARD_FIELD_NUMBER: _ClassVar[int]
    NSHARDS_FIELD_NUMBER: _ClassVar[int]
    QUERIES_FIELD_NUMBER: _ClassVar[int]
    PROBE_FIELD_NUMBER: _ClassVar[int]
    NPROBE_FIELD_NUMBER: _ClassVar[int]
    K_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    index: str
    fingerprint: str
    shard: int
    nshards: int
    queries: _common_pb2.Matrix
    probe: bytes
    nprobe: int
    k: int
    request_id: int
    def __init__(self, index: _Optional[str] = ..., fingerprint: _Optional[str] = ..., shard: _Optional[int] = ..., nshards: _Optional[int] = ..., queries: _Optional[_Union[_common_pb2.Matrix, _Mapping]] = ..., probe: _Optional[bytes] = ..., nprobe: _Optional[int] = ..., k: _Optional[int] = ..., request_id: _Optional[int] = ...) -> None: ...

class ScanResponse(_message.Message):
    __slots__ = ("nq", "k", "ids", "distances", "int_distances", "number_format", "timing", "backend", "request_id")
    NQ_FIELD_NUMBER: _ClassVar[int]
    K_FIELD_NUMBER: _ClassVar[int]
    IDS_FIELD_NUMBER: _ClassVar[int]
    DISTANCES_FIELD_NUMBER: _ClassVar[int]
    INT_DISTANCES_FIELD_NUMBER: _ClassVar[int]
    NUMBER_FORMAT_FIELD_NUMBER: _ClassVar[int]
    TIMING_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    nq: int
    k: int
    ids: bytes
    distances: bytes
    int_distances: bytes
    number_format: _common_pb2.NumberFormat
    timing: _containers.RepeatedCompositeFieldContainer[_common_pb2.Figure]
    backend: str
    request_id: int
    def __init__(self, nq: _Optional[int] = ..., k: _Optional[int] = ..., ids: _Optional[bytes] = ..., distances: _Optional[bytes] = ..., int_distances: _Optional[bytes] = ..., number_format: _Optional[_Union[_common_pb2.NumberFormat, str]] = ..., timing: _Optional[_Iterable[_Union[_common_pb2.Figure, _Mapping]]] = ..., backend: _Optional[str] = ..., request_id: _Optional[int] = ...) -> None: ...

class NodeInfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class NodeInfo(_message.Message):
    __slots__ = ("index", "fingerprint", "shard", "nshards", "backend", "number_format", "ntotal", "d", "nlist", "M", "metric", "backend_config")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    FINGERPRINT_FIELD_NUMBER: _ClassVar[int]
    SHARD_FIELD_NUMBER: _ClassVar[int]
    NSHARDS_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    NUMBER_FORMAT_FIELD_NUMBER: _ClassVar[int]
    NTOTAL_FIELD_NUMBER: _ClassVar[int]
    D_FIELD_NUMBER: _ClassVar[int]
    NLIST_FIELD_NUMBER: _ClassVar[int]
    M_FIELD_NUMBER: _ClassVar[int]
    METRIC_FIELD_NUMBER: _ClassVar[int]
    BACKEND_CONFIG_FIELD_NUMBER: _ClassVar[int]
    index: str
    fingerprint: str
    shard: int
    nshards: int
    backend: str
    number_format: _common_pb2.NumberFormat
    ntotal: int
    d: int
    nlist: int
    M: int
    metric: str
    backend_config: str
    def __init__(self, index: _Optional[str] = ..., fingerprint: _Optional[str] = ..., shard: _Optional[int] = ..., nshards: _Optional[int] = ..., backend: _Optional[str] = ..., number_format: _Optional[_Union[_common_pb2.NumberFormat, str]] = ..., ntotal: _Optional[int] = ..., d: _Optional[int] = ..., nlist: _Optional[int] = ..., M: _Optional[int] = ..., metric: _Optional[str] = ..., backend_config: _Optional[str] = ...) -> None: ...

class LoadShardRequest(_message.Message):
    __slots__ = ("index", "path", "shard", "nshards", "backend")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    SHARD_FIELD_NUMBER: _ClassVar[int]
    NSHARDS_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    index: str
    path: str
    shard: int
    nshards: int
    backend: str
    def __init__(self, index: _Optional[str] = ..., path: _Optional[str] = ..., shard: _Optional[int] = ..., nshards: _Optional[int] = ..., backend: _Optional[str] = ...) -> None: ...

# Generated from proto/hwrag_rpc/v1/common.proto by `python -m retrieval_service.gen_proto`.
# DO NOT EDIT: edit the .proto and rerun the command.
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Provenance(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PROVENANCE_UNSPECIFIED: _ClassVar[Provenance]
    MEASURED: _ClassVar[Provenance]
    MODELED: _ClassVar[Provenance]

class NumberFormat(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    NUMBER_FORMAT_UNSPECIFIED: _ClassVar[NumberFormat]
    FIXED_POINT: _ClassVar[NumberFormat]
    FLOAT32: _ClassVar[NumberFormat]
PROVENANCE_UNSPECIFIED: Provenance
MEASURED: Provenance
MODELED: Provenance
NUMBER_FORMAT_UNSPECIFIED: NumberFormat
FIXED_POINT: NumberFormat
FLOAT32: NumberFormat

class Matrix(_message.Message):
    __slots__ = ("data", "shape")
    DATA_FIELD_NUMBER: _ClassVar[int]
    SHAPE_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    shape: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, data: _Optional[bytes] = ..., shape: _Optional[_Iterable[int]] = ...) -> None: ...

class Figure(_message.Message):
    __slots__ = ("stage", "quantity", "value", "unit", "provenance", "where", "config")
    STAGE_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    PROVENANCE_FIELD_NUMBER: _ClassVar[int]
    WHERE_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    stage: str
    quantity: str
    value: float
    unit: str
    provenance: Provenance
    where: str
    config: str
    def __init__(self, stage: _Optional[str] = ..., quantity: _Optional[str] = ..., value: _Optional[float] = ..., unit: _Optional[str] = ..., provenance: _Optional[_Union[Provenance, str]] = ..., where: _Optional[str] = ..., config: _Optional[str] = ...) -> None: ...

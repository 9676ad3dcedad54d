from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class PageCursor(_message.Message):
    __slots__ = ("after", "query_fingerprint", "version")
    AFTER_FIELD_NUMBER: _ClassVar[int]
    QUERY_FINGERPRINT_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    after: _containers.RepeatedScalarFieldContainer[str]
    query_fingerprint: str
    version: int
    def __init__(self, after: _Optional[_Iterable[str]] = ..., query_fingerprint: _Optional[str] = ..., version: _Optional[int] = ...) -> None: ...

import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PrincipalKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PRINCIPAL_KIND_UNSPECIFIED: _ClassVar[PrincipalKind]
    PRINCIPAL_KIND_USER: _ClassVar[PrincipalKind]
    PRINCIPAL_KIND_SERVICE_ACCOUNT: _ClassVar[PrincipalKind]
    PRINCIPAL_KIND_SERVICE: _ClassVar[PrincipalKind]

class Role(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ROLE_UNSPECIFIED: _ClassVar[Role]
    ROLE_VIEWER: _ClassVar[Role]
    ROLE_AUTHOR: _ClassVar[Role]
    ROLE_OPERATOR: _ClassVar[Role]
    ROLE_APPROVER: _ClassVar[Role]
    ROLE_ADMIN: _ClassVar[Role]
PRINCIPAL_KIND_UNSPECIFIED: PrincipalKind
PRINCIPAL_KIND_USER: PrincipalKind
PRINCIPAL_KIND_SERVICE_ACCOUNT: PrincipalKind
PRINCIPAL_KIND_SERVICE: PrincipalKind
ROLE_UNSPECIFIED: Role
ROLE_VIEWER: Role
ROLE_AUTHOR: Role
ROLE_OPERATOR: Role
ROLE_APPROVER: Role
ROLE_ADMIN: Role

class Principal(_message.Message):
    __slots__ = ("subject", "kind", "organization_slug", "roles", "groups", "policy")
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    ORGANIZATION_SLUG_FIELD_NUMBER: _ClassVar[int]
    ROLES_FIELD_NUMBER: _ClassVar[int]
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    subject: str
    kind: PrincipalKind
    organization_slug: str
    roles: _containers.RepeatedScalarFieldContainer[Role]
    groups: _containers.RepeatedScalarFieldContainer[str]
    policy: OrganizationPolicy
    def __init__(self, subject: _Optional[str] = ..., kind: _Optional[_Union[PrincipalKind, str]] = ..., organization_slug: _Optional[str] = ..., roles: _Optional[_Iterable[_Union[Role, str]]] = ..., groups: _Optional[_Iterable[str]] = ..., policy: _Optional[_Union[OrganizationPolicy, _Mapping]] = ...) -> None: ...

class OrganizationPolicy(_message.Message):
    __slots__ = ("forbid_self_approval",)
    FORBID_SELF_APPROVAL_FIELD_NUMBER: _ClassVar[int]
    forbid_self_approval: bool
    def __init__(self, forbid_self_approval: _Optional[bool] = ...) -> None: ...

class Actor(_message.Message):
    __slots__ = ("subject", "kind")
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    subject: str
    kind: PrincipalKind
    def __init__(self, subject: _Optional[str] = ..., kind: _Optional[_Union[PrincipalKind, str]] = ...) -> None: ...

class PrincipalToken(_message.Message):
    __slots__ = ("claims", "key_id", "signature")
    CLAIMS_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    claims: bytes
    key_id: str
    signature: bytes
    def __init__(self, claims: _Optional[bytes] = ..., key_id: _Optional[str] = ..., signature: _Optional[bytes] = ...) -> None: ...

class PrincipalClaims(_message.Message):
    __slots__ = ("principal", "expire_time", "issuer")
    PRINCIPAL_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    ISSUER_FIELD_NUMBER: _ClassVar[int]
    principal: Principal
    expire_time: _timestamp_pb2.Timestamp
    issuer: str
    def __init__(self, principal: _Optional[_Union[Principal, _Mapping]] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., issuer: _Optional[str] = ...) -> None: ...

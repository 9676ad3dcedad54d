"""The checks every request gets before its handler (services.common.request_checks) and their helpers: Timestamps
in range, enum values defined, free-form JSON at most MAX_JSON_DEPTH deep, bytes that do not parse."""

from __future__ import annotations

import datetime as dt

import grpc
import pytest
from google.protobuf import struct_pb2, timestamp_pb2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentorch.credentials.v1 import credential_pb2
from agentorch.credentials.v1 import credentials_service_pb2 as cpb
from agentorch.gateway.v1 import gateway_service_pb2 as gpb
from agentorch.registry.v1 import registry_service_pb2 as rpb
from agentorch.runs.v1 import run_pb2
from agentorch.runs.v1 import runs_service_pb2 as pb
from services.common.enums import check_enum, enum_violation
from services.common.errors import MalformedRequest, ValidationFailed
from services.common.grpc_errors import to_grpc_status
from services.common.jsondepth import MAX_JSON_DEPTH, depth_violation
from services.common.request_checks import Unparsed, check_request, request_violations, tolerant
from services.common.timestamps import MAX_SECONDS, MIN_SECONDS, timestamp_violation, to_datetime


def nested(levels: int) -> dict[str, object]:
    document: dict[str, object] = {"leaf": 1}
    for _ in range(levels - 1):
        document = {"k": document}
    return document


def struct(document: dict[str, object]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(document)
    return message


@pytest.mark.parametrize(
    ("seconds", "nanos", "valid"),
    [
        (MIN_SECONDS, 0, True),
        (MAX_SECONDS, 999_999_999, True),
        (0, 0, True),
        (MIN_SECONDS - 1, 0, False),
        (MAX_SECONDS + 1, 0, False),
        (0, -1, False),
        (0, 1_000_000_000, False),
    ],
)
def test_timestamps_must_lie_in_the_range_the_spec_allows(seconds: int, nanos: int, valid: bool) -> None:
    violation = timestamp_violation(timestamp_pb2.Timestamp(seconds=seconds, nanos=nanos), "start_time")
    assert (violation is None) == valid
    if violation is not None:
        assert violation.field == "start_time"


def test_to_datetime_is_none_when_unset_utc_when_set_and_names_the_field_when_out_of_range() -> None:
    assert to_datetime(pb.ListRunsRequest(), "start_time") is None
    request = pb.ListRunsRequest(start_time=timestamp_pb2.Timestamp(seconds=MAX_SECONDS, nanos=999_999_999))
    assert to_datetime(request, "start_time") == dt.datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=dt.UTC)
    key = gpb.ApiKey(expire_time=timestamp_pb2.Timestamp(seconds=10**15))
    with pytest.raises(ValidationFailed) as caught:
        to_datetime(key, "expire_time", field="api_key.expire_time")
    assert [v.field for v in caught.value.violations] == ["api_key.expire_time"]


def test_enum_values_must_be_defined_and_unspecified_only_where_allowed() -> None:
    kind = credential_pb2.CredentialType.DESCRIPTOR
    assert enum_violation(credential_pb2.CREDENTIAL_TYPE_API_KEY, kind, "credential.type") is None
    assert enum_violation(0, kind, "credential.type") is None
    unknown = enum_violation(99, kind, "credential.type")
    assert unknown is not None
    assert unknown.field == "credential.type"
    assert "99" in unknown.description
    assert "CREDENTIAL_TYPE_API_KEY" in unknown.description
    assert "UNSPECIFIED" not in unknown.description
    required = enum_violation(0, kind, "type", required=True)
    assert required is not None
    assert required.description.startswith("is required")
    assert check_enum(2, kind, "type") == 2
    with pytest.raises(ValidationFailed):
        check_enum(-1, kind, "type")


def test_json_may_nest_exactly_max_depth_levels() -> None:
    assert depth_violation(struct(nested(MAX_JSON_DEPTH)), "metadata") is None
    violation = depth_violation(struct(nested(MAX_JSON_DEPTH + 1)), "metadata")
    assert violation is not None
    assert violation.field == "metadata" + ".k" * MAX_JSON_DEPTH  # where the limit is passed


def test_json_depth_counts_arrays_and_names_odd_keys_and_indexes() -> None:
    value = struct_pb2.Value()
    value.list_value.extend([[{"odd key": [[1]]}]])
    assert depth_violation(value, "output", limit=5) is None
    violation = depth_violation(value, "output", limit=4)
    assert violation is not None
    assert violation.field == 'output[0][0]["odd key"][0]'
    assert depth_violation({"a": [{"b": 1}]}, "doc", limit=3) is None
    assert depth_violation(struct_pb2.Value(string_value="flat"), "x", limit=0) is None
    long_key = depth_violation({"k" * 5000: [1]}, "doc", limit=1)
    assert long_key is not None
    assert len(long_key.field) < 60


def levels(value: object) -> int:
    """How deep `value` nests, counted plainly (the definition the walk must agree with)."""
    if isinstance(value, dict):
        return 1 + max((levels(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((levels(v) for v in value), default=0)
    return 0


documents = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.text(max_size=3),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=2), inner, max_size=3),
    max_leaves=25,
)


@settings(max_examples=80, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document=st.dictionaries(st.text(max_size=2), documents, max_size=4), limit=st.integers(1, 8))
def test_the_walk_skipping_small_containers_finds_exactly_the_documents_too_deep(
    document: dict[str, object], limit: int
) -> None:
    """Skipping containers too small to hold the remaining levels (MIN_BYTES_PER_LEVEL) never misses one."""
    too_deep = levels(document) > limit
    violation = depth_violation(struct(document), "doc", limit=limit)
    assert (violation is not None) == too_deep
    assert (depth_violation(document, "doc", limit=limit) is not None) == too_deep  # decoded JSON, not skipped


def test_request_violations_name_every_bad_field_with_its_path() -> None:
    request = pb.WatchRunsRequest(statuses=[run_pb2.RUN_STATUS_RUNNING, 77])  # type: ignore[list-item]
    assert [v.field for v in request_violations(request)] == ["statuses[1]"]
    key = gpb.CreateApiKeyRequest(api_key=gpb.ApiKey(expire_time=timestamp_pb2.Timestamp(nanos=-5)))
    assert [v.field for v in request_violations(key)] == ["api_key.expire_time"]
    several = cpb.UpdateCredentialRequest(
        credential=credential_pb2.Credential(type=9, create_time=timestamp_pb2.Timestamp(seconds=-(10**12)))  # type: ignore[arg-type]
    )
    assert sorted(v.field for v in request_violations(several)) == ["credential.create_time", "credential.type"]
    deep = rpb.CreateOrchestrationRequest()
    deep.version.definition.update(nested(MAX_JSON_DEPTH + 1))
    deep.version.parameters.add().allowed_values.add().list_value.extend([[[1]]])
    (violation,) = request_violations(deep)
    assert violation.field.startswith("version.definition.k")
    fine = pb.ListRunsRequest(parent="organizations/acme", status=run_pb2.RUN_STATUS_FAILED)
    assert request_violations(fine) == []


def test_bytes_protobuf_cannot_parse_become_a_malformed_request() -> None:
    parse = tolerant(pb.CreateRunRequest.FromString)
    assert parse is not None
    assert parse(pb.CreateRunRequest(parent="organizations/acme").SerializeToString()).parent == "organizations/acme"
    corrupt = parse(b"\xff\xff\xff")
    assert corrupt == Unparsed("agentorch.runs.v1.CreateRunRequest", too_deep=False)
    deep = pb.CreateRunRequest()
    deep.prompt_inputs.update(nested(60))
    assert parse(deep.SerializeToString()) == Unparsed("agentorch.runs.v1.CreateRunRequest", too_deep=True)
    assert tolerant(None) is None  # raw-bytes handlers (the gateway's proxy) keep no deserializer
    with pytest.raises(MalformedRequest) as caught:
        check_request(corrupt)
    status = to_grpc_status(caught.value)
    assert status.code == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.reason == "MALFORMED_REQUEST"
    assert "agentorch.runs.v1.CreateRunRequest" in caught.value.message
    check_request(b"raw bytes are the backend's to check")

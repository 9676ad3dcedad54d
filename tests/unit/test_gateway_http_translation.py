"""Translation between HTTP and the contracts (no I/O): where path, query and body fields land, every bad field
named at its path, replies in the protobuf JSON mapping, gRPC statuses as HTTP statuses, SSE frames."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from google.protobuf import any_pb2, duration_pb2
from google.rpc import error_details_pb2

from agentorch.runs.v1 import run_pb2
from agentorch.runs.v1 import runs_service_pb2 as runs
from gateway.http import errors, sse, translate
from gateway.http.routes import Router

ROUTER = Router()


def build(method: str, path: str, query: list[tuple[str, str]] | None = None, body: Any = None) -> Any:
    found = ROUTER.match(method, path)
    assert found is not None, path
    return translate.build_request(found.route, found.bindings, query or [], body)


def fields_of(error: errors.HttpError) -> set[str]:
    (bad,) = [d for d in error.body["error"]["details"] if d["@type"].endswith("BadRequest")]
    return {v["field"] for v in bad["fieldViolations"]}


def refused(method: str, path: str, query: list[tuple[str, str]] | None = None, body: Any = None) -> set[str]:
    with pytest.raises(errors.HttpError) as caught:
        build(method, path, query, body)
    assert caught.value.status == 400
    assert caught.value.body["error"]["status"] == "INVALID_ARGUMENT"
    return fields_of(caught.value)


def test_path_query_and_body_fill_the_request() -> None:
    request = build(
        "PATCH",
        "/v1/organizations/acme/agents/helper",
        [("update_mask", "display_name,agentYaml"), ("etag", "e1")],
        {"displayName": "Helper"},
    )
    assert request.agent.name == "organizations/acme/agents/helper"
    assert list(request.update_mask.paths) == ["display_name", "agent_yaml"]
    assert (request.agent.display_name, request.etag) == ("Helper", "e1")
    created = build("POST", "/v1/organizations/acme/agents", body={"slug": "helper"})
    assert (created.agent.organization_slug, created.agent.slug) == ("acme", "helper")
    listed = build(
        "GET",
        "/v1/organizations/acme/runs",
        [("pageSize", "10"), ("status", "RUN_STATUS_RUNNING"), ("start_time", "2026-01-01T00:00:00Z")],
    )
    assert (listed.parent, listed.page_size, listed.status) == ("organizations/acme", 10, run_pb2.RUN_STATUS_RUNNING)
    assert listed.start_time.seconds > 0
    watch = build("GET", "/v1/organizations/acme/runs:watch", [("statuses", "RUN_STATUS_RUNNING"), ("statuses", "3")])
    assert list(watch.statuses) == [run_pb2.RUN_STATUS_RUNNING, run_pb2.RUN_STATUS_PAUSED]
    flags = build("GET", "/v1/organizations/acme/agents/-/orchestrations", [("show_deleted", "true")])
    assert flags.show_deleted is True
    cancel = build("POST", "/v1/organizations/acme/runs/r1:cancel")
    assert cancel.name == "organizations/acme/runs/r1"


def test_every_bad_field_is_named_at_its_path() -> None:
    assert refused("POST", "/v1/organizations/acme/agents", body={"slug": 1, "bogus": True, "config": "x"}) == {
        "agent.slug",
        "agent.bogus",
        "agent.config",
    }
    assert refused("POST", "/v1/organizations/acme/runs", body={"orchestration": "o", "plan": "p"}) == {"plan"}
    assert refused("POST", "/v1/organizations/acme/runs", body={"metadata": [], "request_id": 5}) == {
        "metadata",
        "request_id",
    }
    assert refused(
        "POST",
        "/v1/organizations/acme/runs",
        body={"adHoc": {"promptTemplates": [{"name": "a"}, {"nom": "b"}]}},
    ) == {"ad_hoc.prompt_templates[1].nom"}
    assert refused("GET", "/v1/organizations/acme/runs", [("page_size", "x"), ("pageToken", "a"), ("nope", "1")]) == {
        "page_size",
        "nope",
    }
    assert refused("GET", "/v1/organizations/acme/runs", [("page_size", "1"), ("page_size", "2")]) == {"page_size"}
    assert refused("GET", "/v1/organizations/acme/runs", [("status", "RUNNING")]) == {"status"}
    assert refused("GET", "/v1/organizations/acme/runs", [("start_time", "yesterday")]) == {"start_time"}
    assert refused("POST", "/v1/organizations/acme/runs", [("parent", "x")]) == {"parent"}  # body "*": no query
    assert refused("POST", "/v1/organizations/acme/runs", body={"parent": "organizations/other"}) == {"parent"}
    assert refused("PATCH", "/v1/organizations/acme/agents/a", [("agent.slug", "x")], {}) == {"agent.slug"}
    assert refused("POST", "/v1/organizations/acme/runs", body=[1]) == {"body"}


def test_a_body_may_repeat_a_path_value_but_not_contradict_it() -> None:
    same = build("POST", "/v1/organizations/acme/runs", body={"parent": "organizations/acme", "plan": "p"})
    assert same.parent == "organizations/acme"


def test_field_masks_accept_camel_and_snake_case() -> None:
    assert translate.field_mask_json("display_name, agentYaml,config.endpoint_url") == (
        "displayName,agentYaml,config.endpointUrl"
    )


def test_replies_use_the_protobuf_json_mapping() -> None:
    found = ROUTER.match("GET", "/v1/organizations/acme/runs/r1")
    assert found is not None
    reply = runs.GetRunResponse(run=run_pb2.Run(name="organizations/acme/runs/r1", last_event_sequence=12))
    document = translate.reply_json(found.route, reply.SerializeToString())
    run = document["run"]
    assert (run["name"], run["lastEventSequence"], run["status"]) == (
        "organizations/acme/runs/r1",
        "12",
        "RUN_STATUS_UNSPECIFIED",
    )
    assert run["openCheckpoints"] == []  # every field without presence is printed
    assert "createTime" not in run  # unset messages are not


@pytest.mark.parametrize(
    ("code", "http"),
    [
        (grpc.StatusCode.INVALID_ARGUMENT, 400),
        (grpc.StatusCode.FAILED_PRECONDITION, 400),
        (grpc.StatusCode.OUT_OF_RANGE, 400),
        (grpc.StatusCode.UNAUTHENTICATED, 401),
        (grpc.StatusCode.PERMISSION_DENIED, 403),
        (grpc.StatusCode.NOT_FOUND, 404),
        (grpc.StatusCode.ALREADY_EXISTS, 409),
        (grpc.StatusCode.ABORTED, 409),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, 429),
        (grpc.StatusCode.CANCELLED, 499),
        (grpc.StatusCode.UNKNOWN, 500),
        (grpc.StatusCode.INTERNAL, 500),
        (grpc.StatusCode.DATA_LOSS, 500),
        (grpc.StatusCode.UNIMPLEMENTED, 501),
        (grpc.StatusCode.UNAVAILABLE, 503),
        (grpc.StatusCode.DEADLINE_EXCEEDED, 504),
    ],
)
def test_grpc_statuses_map_to_http_statuses(code: grpc.StatusCode, http: int) -> None:
    assert errors.http_status(code) == http
    error = errors.from_status(code, "what happened", [])
    assert error.status == http
    assert error.body == {"error": {"code": http, "status": code.name, "message": "what happened", "details": []}}


def test_every_grpc_status_has_an_http_status() -> None:
    assert set(errors.HTTP_STATUS) == set(grpc.StatusCode)


def test_details_are_rendered_with_their_type_and_retry_info_becomes_retry_after() -> None:
    info, retry, unknown = any_pb2.Any(), any_pb2.Any(), any_pb2.Any(type_url="type.example.com/x.Unknown")
    info.Pack(error_details_pb2.ErrorInfo(reason="RESOURCE_EXHAUSTED", domain="agentorch.dev"))
    retry.Pack(error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(seconds=2, nanos=100)))
    error = errors.from_status(grpc.StatusCode.RESOURCE_EXHAUSTED, "slow down", [info, retry, unknown])
    assert error.headers == {"retry-after": "3"}
    assert error.body["error"]["details"] == [
        {
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "RESOURCE_EXHAUSTED",
            "domain": "agentorch.dev",
        },
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "2.000000100s"},
        {"@type": "type.example.com/x.Unknown"},
    ]
    assert errors.from_status(grpc.StatusCode.UNAUTHENTICATED, "who?", []).headers == {"www-authenticate": "Bearer"}


def test_stream_items_become_sse_frames() -> None:
    item = runs.WatchRunResponse(event=run_pb2.RunEvent(sequence=7, type=run_pb2.EVENT_TYPE_STEP_SUCCEEDED))
    frame = sse.frame_for(item)
    assert frame is not None
    assert (frame.id, frame.event) == ("7", "EVENT_TYPE_STEP_SUCCEEDED")
    encoded = frame.encode().decode()
    assert encoded.startswith("id: 7\nevent: EVENT_TYPE_STEP_SUCCEEDED\ndata: {")
    assert encoded.endswith("}\n\n")
    assert encoded.count("\n") == 4
    beat = sse.frame_for(runs.WatchRunsResponse(heartbeat=runs.Heartbeat(last_sequence=3)))
    assert beat is not None
    assert (beat.id, beat.event, beat.data) == ("", "heartbeat", '{"lastSequence":"3"}')
    assert sse.frame_for(runs.WatchRunsResponse()) is None
    assert sse.Frame("a\nb", event="x").encode() == b"event: x\ndata: a\ndata: b\n\n"

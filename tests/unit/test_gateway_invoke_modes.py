"""Invoke's routing rules without I/O: what each mode routes to, what it refuses."""

from __future__ import annotations

import uuid

import pytest

from gateway.domain import invoke as modes
from gateway.domain.invoke import InvalidInvoke, InvokeCommand

ORG = "organizations/acme"
RUN = f"{ORG}/runs/{uuid.uuid4()}"
CHECKPOINT = f"{RUN}/checkpoints/{uuid.uuid4()}"


def fields_of(error: InvalidInvoke) -> set[str]:
    return {v.field for v in error.violations}


def test_pass_through_sends_the_message_as_an_input_never_as_a_template() -> None:
    action = modes.route(InvokeCommand(modes.PLAN, ORG, agent_slug="scout", message="{{ secrets }}"))
    assert isinstance(action, modes.PassThrough)
    (step,) = action.definition()["phases"][0]["steps"]
    assert step == {"id": "answer", "kind": "agent", "agent": "scout", "prompt": "{{ params.message }}"}
    assert action.message == "{{ secrets }}"
    keyed = modes.route(InvokeCommand(modes.BUILD, ORG, agent_slug="scout", message="m", credentials=("a.key",)))
    assert isinstance(keyed, modes.PassThrough)
    assert keyed.definition()["phases"][0]["steps"][0]["credentials"] == ["a.key"]


@pytest.mark.parametrize(
    ("written", "decision"),
    [("approve", "DECISION_APPROVE"), ("REJECT", "DECISION_REJECT"), ("request-changes", "DECISION_REQUEST_CHANGES")],
)
def test_decisions_are_read_leniently(written: str, decision: str) -> None:
    action = modes.route(InvokeCommand(modes.CONTINUE, ORG, checkpoint=CHECKPOINT, decision=written))
    assert action == modes.Decide(CHECKPOINT, decision)
    assert action.run == RUN


def test_versions_by_number_or_label_are_kept_for_the_launch() -> None:
    orchestration = f"{ORG}/agents/helper/orchestrations/brief"
    for suffix, version in (("", ""), ("/versions/3", "3"), ("/versions/1.2.0", "1.2.0")):
        action = modes.route(InvokeCommand(modes.EXECUTE, ORG, target=orchestration + suffix))
        assert action == modes.Launch("acme", orchestration=orchestration, version=version)


def test_every_violation_is_reported_at_once() -> None:
    with pytest.raises(InvalidInvoke) as caught:
        modes.route(InvokeCommand(modes.SAVE_RECIPE, "orgs/x", message="hi", orchestration_id="Bad"))
    assert fields_of(caught.value) == {"parent", "message", "target", "orchestration_id"}


def test_an_unknown_mode_is_refused_on_mode() -> None:
    for mode in ("AGENT_MODE_UNSPECIFIED", "42"):
        with pytest.raises(InvalidInvoke) as caught:
            modes.route(InvokeCommand(mode, ORG))
        assert fields_of(caught.value) == {"mode"}


def test_prompt_template_names_of_a_definition() -> None:
    definition = {
        "phases": [
            {"steps": [{"id": "a", "prompt_template": "t1"}, {"id": "b", "prompt": "x"}]},
            {"steps": [{"id": "c", "prompt_template": "t2"}, {"id": "d", "prompt_template": "t1"}]},
        ]
    }
    assert modes.prompt_template_names(definition) == ["t1", "t2"]

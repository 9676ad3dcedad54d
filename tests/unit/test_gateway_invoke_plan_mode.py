"""Invoke plan mode with a conversation id (gateway.domain.invoke): what it accepts, and how the agent's answer is
read as a plan document. No I/O."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.domain import invoke as modes
from gateway.domain.invoke import InvalidInvoke, InvokeCommand

ORG = "organizations/acme"
PLAN = {"title": "Brief", "steps": [{"title": "Collect", "instructions": "List sources"}]}


def test_plan_mode_takes_a_conversation_id_and_keeps_it_for_the_plan() -> None:
    action = modes.route(InvokeCommand(modes.PLAN, ORG, agent_slug="scout", message="m", conversation_id="conv-1"))
    assert isinstance(action, modes.PassThrough)
    assert action.conversation_id == "conv-1"
    assert modes.route(InvokeCommand(modes.PLAN, ORG, agent_slug="scout", message="m")).conversation_id == ""


@pytest.mark.parametrize(
    ("mode", "conversation_id"),
    [(modes.BUILD, "conv-1"), (modes.PLAN, " "), (modes.PLAN, "x" * 201), (modes.PLAN, "line\nbreak")],
)
def test_a_conversation_id_plan_mode_could_not_store_is_refused_before_anything_runs(
    mode: str, conversation_id: str
) -> None:
    with pytest.raises(InvalidInvoke) as caught:
        modes.route(InvokeCommand(mode, ORG, agent_slug="scout", message="m", conversation_id=conversation_id))
    assert {v.field for v in caught.value.violations} == {"conversation_id"}


@pytest.mark.parametrize(
    "answer",
    [
        PLAN,
        '{"title": "Brief", "steps": [{"title": "Collect", "instructions": "List sources"}]}',
        '  \n{"title": "Brief", "steps": [{"title": "Collect", "instructions": "List sources"}]}\n',
        'Here is the plan:\n```json\n{"title": "Brief", "steps": [{"title": "Collect", "instructions": '
        '"List sources"}]}\n```\nApprove it and I will start.',
        'Notes:\n```\nnot json\n```\n```\n{"title": "Brief", "steps": [{"title": "Collect", "instructions": '
        '"List sources"}]}\n```',
    ],
)
def test_the_plan_is_the_answer_as_json_or_its_fenced_json_block(answer: Any) -> None:
    assert modes.plan_from_answer(answer) == PLAN


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ("", "empty"),
        (None, "empty"),
        ("scout received: outline a brief", "not a plan"),
        ('["a", "list"]', "not a plan"),
        ("```json\n[1, 2]\n```", "not a plan"),
        ("[" * 100_000, "not a plan"),
    ],
)
def test_an_answer_without_a_plan_says_why(answer: Any, reason: str) -> None:
    found = modes.plan_from_answer(answer)
    assert isinstance(found, str)
    assert reason in found

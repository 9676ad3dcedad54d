"""Issue 14 run controls through the CLI and a real gateway: a run whose `on_failure: continue` step failed completes
and `runs get` says how many steps failed; `runs retry RUN --from-step STEP` re-runs a completed run from a step, and
`runs get` lists the intervention (and `-o json` carries both fields)."""

from __future__ import annotations

import pytest

from tests.e2e import test_cli_gateway
from tests.e2e.test_cli_gateway import User

pytestmark = pytest.mark.asyncio(loop_scope="module")
gateway, user = test_cli_gateway.gateway, test_cli_gateway.user  # the fixtures: a platform, a signed-in user

DEFINITION = {
    "schema_version": 1,
    "phases": [
        {
            "id": "work",
            "steps": [
                {"id": "a", "kind": "echo", "message": "a done"},
                # reads a field a string output does not have: fails when rendered, and the run goes on
                {
                    "id": "shaky",
                    "kind": "echo",
                    "depends_on": ["a"],
                    "message": "{{ steps.a.output.nope }}",
                    "on_failure": "continue",
                },
            ],
        },
        {"id": "wrap", "steps": [{"id": "b", "kind": "echo", "message": "b after {{ steps.a.output }}"}]},
    ],
}


def fields(out: str) -> dict[str, str]:
    return {k.strip(): v.strip() for k, v in (line.split(":", 1) for line in out.splitlines() if ":" in line)}


async def test_failed_steps_retry_from_a_step_of_a_completed_run_and_interventions(user: User) -> None:
    launched = await user("runs", "launch", "--file", user.file("controls.json", DEFINITION))
    assert launched.code == 0, launched.err
    run_id = fields(launched.out)["id"]
    assert (await user("runs", "watch", run_id)).code == 0  # exit 0: it completed

    shown = await user("runs", "get", run_id)
    assert shown.code == 0, shown.err
    assert fields(shown.out)["status"] == "completed (completed with 1 failed step(s) (on_failure: continue): shaky)"
    assert fields(shown.out)["failed steps"] == "1"
    assert "interventions" not in fields(shown.out)

    retried = await user("runs", "retry", run_id, "--from-step", "b")
    assert retried.code == 0, retried.err
    assert (await user("runs", "watch", run_id)).code == 0
    after = await user("runs", "get", run_id, "-o", "json")
    run = after.json()["run"]
    assert run["status"] == "RUN_STATUS_COMPLETED"
    assert run["failedSteps"] == 1  # shaky is earlier than b: kept as it was
    (intervention,) = run["operatorInterventions"]
    assert (intervention["kind"], intervention["stepId"], intervention["by"]) == ("retry", "b", "dev@example.com")
    steps = {s["stepId"]: s for s in run["steps"]}
    assert (steps["a"]["attempt"], steps["shaky"]["attempt"], steps["b"]["attempt"]) == (1, 1, 2)  # earlier: kept
    text = await user("runs", "get", run_id)
    assert fields(text.out)["interventions"].startswith("retry from b by dev@example.com at ")

    # without --from-step a completed run retries from its first failed step (here it fails again, and goes on)
    again = await user("runs", "retry", run_id, "-o", "json")
    assert again.code == 0, again.err
    assert (await user("runs", "watch", run_id)).code == 0
    final = (await user("runs", "get", run_id, "-o", "json")).json()["run"]
    assert [(i["kind"], i["stepId"]) for i in final["operatorInterventions"]] == [("retry", "b"), ("retry", "shaky")]
    assert {s["stepId"]: s["attempt"] for s in final["steps"]} == {
        "a": 1,
        "shaky": 2,
        "b": 3,
    }  # shaky and what follows it

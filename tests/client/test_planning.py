"""plan_for: the declaration against what state.json records; a missing or damaged file plans from nothing."""

from __future__ import annotations

from aiplugs.client import lifecycle
from aiplugs.client.planning import plan_for
from aiplugs.plan import ActionKind, DesiredState
from aiplugs.store.state import state_path


def test_without_state_everything_is_added(desired: DesiredState) -> None:
    plan = plan_for(desired)
    assert plan.changes_present and {a.kind for a in plan.actions} == {ActionKind.CREATE}


def test_a_damaged_state_file_plans_as_a_missing_one(desired: DesiredState) -> None:
    nothing = plan_for(desired)
    path = state_path(desired.state_dir)
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    assert plan_for(desired).to_dict() == nothing.to_dict()


def test_lifecycle_still_offers_it() -> None:
    assert lifecycle.plan_for is plan_for

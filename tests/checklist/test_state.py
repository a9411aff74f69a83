"""The pure checklist state machine."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.checklist import (
    ChecklistCompleted,
    ChecklistError,
    ChecklistReopened,
    ChecklistState,
    IntegrationStepCompleted,
    ItemTicked,
    ItemUnticked,
    Progress,
    StepAssigned,
    StepCompleted,
    StepReopened,
    StepUnassigned,
)
from tests.checklist.conftest import make_template


def start(template, **kw) -> ChecklistState:
    return ChecklistState.start("c1", template, channel="C1", started_by="U0", at=1000.0, **kw)


def tick_all(state: ChecklistState, user: str = "U1", at: float = 2000.0) -> ChecklistState:
    for step in state.template.steps:
        for item in step.items:
            state = state.tick(step.id, item.id, user, at).state
    return state


def test_new_checklist_has_no_progress(template) -> None:
    state = start(template)
    assert str(state.progress) == "0/5 steps · 0/11 items"
    assert not state.done and state.last_activity == 1000.0


def test_a_checklist_without_items_counts_as_all_done() -> None:
    assert Progress(0, 0, 0, 0).fraction == 1.0 and Progress(0, 0, 0, 0).done


def test_tick_records_who_and_when_and_counts(template) -> None:
    state = start(template)
    result = state.tick("create-app", "create-app-1", "U1", 1100.0)
    assert result.events == (ItemTicked("create-app", "create-app-1", "U1", 1100.0),)
    assert result.state.ticked("create-app", "create-app-1").user == "U1"
    assert result.state.ticked("create-app", "create-app-1").at == 1100.0
    assert str(result.state.progress) == "0/5 steps · 1/11 items"
    assert result.state.last_activity == 1100.0
    assert state.ticks == {}  # the old state is untouched


def test_ticking_twice_keeps_the_first_record_and_emits_nothing(template) -> None:
    state = start(template).tick("create-app", "create-app-1", "U1", 1100.0).state
    again = state.tick("create-app", "create-app-1", "U2", 1200.0)
    assert again.events == ()
    assert again.state.ticked("create-app", "create-app-1").user == "U1"


def test_completing_a_step_emits_step_completed(template) -> None:
    state = start(template).tick("create-app", "create-app-1", "U1", 1100.0).state
    result = state.tick("create-app", "create-app-2", "U2", 1200.0)
    assert StepCompleted("create-app", 1200.0) in result.events
    assert str(result.state.progress) == "1/5 steps · 2/11 items"


def test_integration_step_completion_carries_client_and_project(template) -> None:
    state = start(template, client_id="abc", project="b.p1")
    state = state.tick("add-integration", "add-integration-1", "U1", 1100.0).state
    result = state.tick("add-integration", "add-integration-2", "U1", 1200.0)
    assert IntegrationStepCompleted("abc", "b.p1", 1200.0) in result.events
    assert result.state.can_recheck


def test_other_steps_do_not_emit_integration_event(template) -> None:
    state = start(template)
    for item in ("project-access-1", "project-access-2"):
        result = state.tick("project-access", item, "U1", 1100.0)
        state = result.state
        assert not any(isinstance(e, IntegrationStepCompleted) for e in result.events)


def test_ticking_everything_completes_with_total_time(template) -> None:
    state = tick_all(start(template), at=8200.0)
    assert state.done and state.total_seconds == 7200.0
    assert str(state.progress) == "5/5 steps · 11/11 items"


def test_completion_event_is_emitted_once_by_the_last_tick(template) -> None:
    state = start(template)
    completions = []
    at = 5000.0
    for step in template.steps:
        for item in step.items:
            at += 10
            result = state.tick(step.id, item.id, "U1", at)
            state = result.state
            completions += [e for e in result.events if isinstance(e, ChecklistCompleted)]
    assert completions == [ChecklistCompleted(at, at - 1000.0)]


def test_one_item_left_open_is_not_done(template) -> None:
    state = tick_all(start(template))
    result = state.untick("project-access", "project-access-2", "U1", 3000.0)
    assert not result.state.done and not result.state.progress.done
    assert str(result.state.progress) == "4/5 steps · 10/11 items"


@pytest.mark.parametrize(("client_id", "project"), [("abc", None), (None, "b.p1"), (None, None)])
def test_a_recheck_needs_both_the_client_id_and_the_project(template, client_id, project) -> None:
    assert not start(template, client_id=client_id, project=project).can_recheck


def test_untick_reopens_step_and_checklist(template) -> None:
    state = tick_all(start(template))
    result = state.untick("test-access", "test-access-1", "U2", 3000.0)
    assert result.events == (
        ItemUnticked("test-access", "test-access-1", "U2", 3000.0),
        StepReopened("test-access", 3000.0),
        ChecklistReopened(3000.0),
    )
    assert not result.state.done and result.state.ticked("test-access", "test-access-1") is None
    assert result.state.last_activity == 3000.0


def test_untick_in_an_open_step_reopens_nothing(template) -> None:
    state = start(template).tick("create-app", "create-app-1", "U1", 1100.0).state
    result = state.untick("create-app", "create-app-1", "U2", 1200.0)
    assert result.events == (ItemUnticked("create-app", "create-app-1", "U2", 1200.0),)


def test_done_again_after_a_reopening_is_not_a_first_completion(template) -> None:
    state = tick_all(start(template), at=2000.0)
    state = state.untick("test-access", "test-access-1", "U2", 3000.0).state
    result = state.tick("test-access", "test-access-1", "U2", 4000.0)
    assert result.events[-1] == ChecklistCompleted(4000.0, 3000.0, first=False)
    assert (result.state.completed_at, result.state.first_completed_at) == (4000.0, 2000.0)


def test_untick_of_unticked_item_is_a_no_op(template) -> None:
    state = start(template)
    assert state.untick("create-app", "create-app-1", "U1", 1100.0).events == ()


@pytest.mark.parametrize(
    ("step_id", "item_id"),
    [("no-such-step", "x"), ("create-app", "admin-rights-1"), ("create-app", "nope")],
)
def test_unknown_step_or_item_is_rejected(template, step_id: str, item_id: str) -> None:
    state = start(template)
    with pytest.raises(ChecklistError):
        state.tick(step_id, item_id, "U1", 1100.0)
    with pytest.raises(ChecklistError):
        state.untick(step_id, item_id, "U1", 1100.0)


def test_selection_applies_only_what_this_click_changed(template) -> None:
    # U1 ticked item 1; U2's view still shows nothing ticked when U2 ticks item 2.
    state = start(template).tick("create-app", "create-app-1", "U1", 1100.0).state
    result = state.apply_selection("create-app", set(), {"create-app-2"}, "U2", 1200.0)
    assert result.state.ticked_items("create-app") == {"create-app-1", "create-app-2"}
    assert result.state.ticked("create-app", "create-app-2").user == "U2"


def test_selection_unticks_what_the_user_cleared(template) -> None:
    state = start(template).tick("create-app", "create-app-1", "U1", 1100.0).state
    result = state.apply_selection("create-app", {"create-app-1"}, set(), "U2", 1200.0)
    assert result.state.ticked_items("create-app") == set()
    assert result.events[0] == ItemUnticked("create-app", "create-app-1", "U2", 1200.0)


def test_a_stale_view_never_unticks_what_the_user_did_not_see(template) -> None:
    # The message copy says item 1 is ticked (someone else's click), the user's stale view selected item 2.
    state = start(template).tick("create-app", "create-app-1", "U1", 1100.0).state
    result = state.apply_selection("create-app", {"create-app-1"}, {"create-app-2"}, "U2", 1200.0)
    assert result.state.ticked_items("create-app") == {"create-app-1", "create-app-2"}
    assert [type(e) for e in result.events] == [ItemTicked, StepCompleted]


def test_selection_with_an_item_of_another_step_is_rejected(template) -> None:
    state = start(template)
    with pytest.raises(ChecklistError):
        state.apply_selection("create-app", set(), {"create-app-1", "test-access-1"}, "U1", 1100.0)


@pytest.mark.parametrize(
    ("seen", "selected"),
    [({"create-app-1", "gone-1"}, {"create-app-2"}), ({"gone-1"}, {"gone-1"})],
)
def test_a_view_with_an_unknown_item_is_rejected_even_where_the_click_would_not_apply_it(
    template, seen: set[str], selected: set[str]
) -> None:
    """A stale view's untick is dropped and an unchanged item is not applied: the unknown id still rejects."""
    with pytest.raises(ChecklistError):
        start(template).apply_selection("create-app", seen, selected, "U1", 1100.0)


def test_assign_emits_event_and_is_idempotent(template) -> None:
    state = start(template)
    result = state.assign("add-integration", "U9", "U1", 1500.0)
    assert result.events == (StepAssigned("add-integration", "U9", "U1", 1500.0),)
    assert result.state.assignments["add-integration"].assignee == "U9"
    assert result.state.assign("add-integration", "U9", "U2", 1600.0).events == ()
    with pytest.raises(ChecklistError):
        state.assign("nope", "U9", "U1", 1500.0)


def test_reassigning_a_step_to_someone_else_moves_it(template) -> None:
    state = start(template).assign("add-integration", "U9", "U1", 1500.0).state
    result = state.assign("add-integration", "U8", "U2", 1600.0)
    assert result.events == (StepAssigned("add-integration", "U8", "U2", 1600.0),)
    assert result.state.assignments["add-integration"].assignee == "U8"
    assert result.state.last_activity == 1600.0  # an assignment is activity: no stale reminder yet


def test_unassign_emits_event_only_when_assigned(template) -> None:
    state = start(template).assign("add-integration", "U9", "U1", 1500.0).state
    result = state.unassign("add-integration", "U2", 1600.0)
    assert result.events == (StepUnassigned("add-integration", "U9", "U2", 1600.0),)
    assert "add-integration" not in result.state.assignments
    assert result.state.last_activity == 1600.0
    assert result.state.unassign("add-integration", "U2", 1700.0).events == ()
    with pytest.raises(ChecklistError):
        state.unassign("nope", "U2", 1600.0)


def test_staleness_counts_from_last_activity(template) -> None:
    state = start(template).tick("create-app", "create-app-1", "U1", 1000.0 + 86_400).state
    assert not state.is_stale(1000.0 + 86_400 * 7, 7)
    assert state.is_stale(1000.0 + 86_400 * 8, 7)
    assert not tick_all(state).is_stale(1e12, 7)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 10)), max_size=40))
def test_progress_always_matches_the_ticks(ops) -> None:
    template = make_template()
    keys = [(s.id, i.id) for s in template.steps for i in s.items]
    state = start(template)
    expected: set[tuple[str, str]] = set()
    for at, (on, index) in enumerate(ops, start=1001):
        step_id, item_id = keys[index]
        if on:
            state = state.tick(step_id, item_id, "U1", float(at)).state
            expected.add(keys[index])
        else:
            state = state.untick(step_id, item_id, "U1", float(at)).state
            expected.discard(keys[index])
    assert set(state.ticks) == expected
    assert state.progress.items_done == len(expected)
    assert state.progress.fraction == len(expected) / len(keys)  # the progress bar's fill
    assert state.done == (len(expected) == len(keys))


def test_a_closed_checklist_keeps_its_first_closing_time_and_is_never_stale(template) -> None:
    state = start(template).close(2000.0).state
    assert state.closed and state.close(3000.0).state.closed_at == 2000.0
    assert not state.is_stale(1000.0 + 30 * 86_400.0, stale_days=7)

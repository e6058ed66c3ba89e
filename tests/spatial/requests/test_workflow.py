"""The transition table: every illegal transition refused, four eyes, override, agencies."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from spatial.errors import InputError, PermissionDeniedError, ValidationError, WorkflowError
from spatial.requests import (
    ACTIONS,
    DOCUMENT_KINDS,
    FINAL_STATUSES,
    OPERATIONS,
    STATUS_STAGE,
    STATUSES,
    TRANSITIONS,
    Actor,
    AgencyDecision,
    CheckSummary,
    DocumentInfo,
    GuardContext,
    RequestParcel,
    StepInput,
    TransformationRequest,
    allowed_actions,
    apply_step,
    check_operation,
    checklist_kinds,
    plan_step,
    required_authorities,
    resolve_step,
)

NOW = datetime(2025, 5, 12, 9, 0, tzinfo=UTC)
EVERYTHING = frozenset({"read_requests", "create_requests", "review_requests",
                        "decide_requests", "moderate_comments", "register_requests",
                        "run_checks"})
PLANNER = Actor("aibek", frozenset({"read_requests", "create_requests", "run_checks"}))
SPECIALIST = Actor("gulnara", EVERYTHING)
OTHER = Actor("nurlan", EVERYTHING)
AUTHORITIES = ("local_council", "district_administration", "land_resources_agency",
               "cabinet_of_ministers")

#: Inputs that satisfy every row's ``needs``.
FULL = StepInput(reason="because", resolution_no="12/3", resolution_date=date(2025, 5, 20),
                 authority="district_administration", registration_no="R-1")


def request(status: str = "draft", **changes: object) -> TransformationRequest:
    base = TransformationRequest(
        id=1, number="TR-2025-0001", status=status, stage=STATUS_STAGE[status] or "need",
        target_category="settlement", target_use="individual_housing",
        justification="population growth", created_by="aibek", created_at=NOW,
        submitted_by=None if status == "draft" else "aibek",
        parcels=(RequestParcel("4-08-01-0001-0001", "agricultural", "agriculture"),),
    )
    return base.with_changes(**changes)


def inputs_for(row_needs: tuple[str, ...]) -> StepInput:
    return StepInput(**{name: getattr(FULL, name) for name in row_needs})


def legal_pairs() -> set[tuple[str, str]]:
    return {(t.action, t.source) for t in TRANSITIONS}


@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize("action", ACTIONS)
def test_every_illegal_transition_is_refused_with_a_clear_message(action, status):
    req = request(status)
    if (action, status) in legal_pairs():
        rows = plan_step(req, action, SPECIALIST if action != "withdraw" else PLANNER,
                         inputs_for(next(t.needs for t in TRANSITIONS
                                         if (t.action, t.source) == (action, status))))
        assert rows and all(r.source == status for r in rows)
        return
    with pytest.raises(WorkflowError) as caught:
        plan_step(req, action, SPECIALIST, FULL)
    message = str(caught.value)
    assert f"cannot {action} request TR-2025-0001: it is {status}" in message
    sources = {t.source for t in TRANSITIONS if t.action == action}
    assert all(s in message for s in sources)
    if status in FINAL_STATUSES:
        assert "is final" in message
    else:
        assert "the possible actions are" in message


def test_table_is_consistent():
    for t in TRANSITIONS:
        assert t.source in STATUSES and t.target in STATUSES
        assert t.source not in FINAL_STATUSES, "nothing leaves a final status"
    # Every open status can be left, and every status is reachable from draft.
    reachable, frontier = {"draft"}, ["draft"]
    while frontier:
        status = frontier.pop()
        for t in TRANSITIONS:
            if t.source == status and t.target not in reachable:
                reachable.add(t.target)
                frontier.append(t.target)
    assert reachable == set(STATUSES)
    # Rows of one action from one status are told apart by their conditions.
    for action, source in legal_pairs():
        rows = [t for t in TRANSITIONS if (t.action, t.source) == (action, source)]
        assert len(rows) == 1 or all(r.when for r in rows)


def test_permissions_in_the_table_exist_in_the_web_roles():
    from web.auth import PERMISSIONS

    used = {t.permission for t in TRANSITIONS}
    used |= {p for op in OPERATIONS.values() for p in op.permissions}
    used |= {p for kind in DOCUMENT_KINDS.values() for p in kind.permissions}
    assert used <= set(PERMISSIONS)


def test_unknown_action():
    with pytest.raises(InputError, match="unknown action 'approve'"):
        plan_step(request(), "approve", SPECIALIST, FULL)


def test_permission_is_needed():
    with pytest.raises(PermissionDeniedError, match="'review_requests' permission"):
        plan_step(request("submitted"), "accept", PLANNER, StepInput())


@pytest.mark.parametrize("row", [t for t in TRANSITIONS if t.who == "not_owner"],
                         ids=lambda t: f"{t.action}-{t.source}")
def test_four_eyes_the_submitter_never_decides(row):
    submitter = Actor("gulnara", EVERYTHING)  # holds every permission, and filed it
    req = request(row.source, created_by="aibek", submitted_by="gulnara")
    with pytest.raises(PermissionDeniedError, match="four-eyes rule: gulnara submitted"):
        plan_step(req, row.action, submitter, inputs_for(row.needs))
    creator = Actor("aibek", EVERYTHING)
    with pytest.raises(PermissionDeniedError, match="four-eyes rule: aibek created"):
        plan_step(req, row.action, creator, inputs_for(row.needs))
    assert plan_step(req, row.action, OTHER, inputs_for(row.needs))


def test_only_the_owner_or_an_admin_withdraws():
    req = request("under_review")
    with pytest.raises(PermissionDeniedError, match="only who filed request"):
        plan_step(req, "withdraw", Actor("stranger", frozenset({"create_requests"})), FULL)
    assert plan_step(req, "withdraw", PLANNER, StepInput(reason="no longer needed"))
    admin = Actor("root", frozenset({"create_requests", "admin"}))
    assert plan_step(req, "withdraw", admin, StepInput(reason="duplicate"))


def test_missing_and_unexpected_inputs_are_all_named():
    with pytest.raises(ValidationError) as caught:
        plan_step(request("under_review"), "council_refuse", OTHER,
                  StepInput(resolution_no=" ", registration_no="R-9"))
    columns = {(p.code, p.column) for p in caught.value.problems}
    assert columns == {("missing_input", "resolution_no"), ("missing_input", "resolution_date"),
                       ("missing_input", "reason"), ("unexpected_input", "registration_no")}


def test_submit_needs_parcels_justification_and_a_change():
    empty = request(parcels=(), justification=" ")
    rows = plan_step(empty, "submit", PLANNER, StepInput())
    with pytest.raises(WorkflowError) as caught:
        resolve_step(rows, empty, StepInput(), GuardContext())
    assert "has no parcels" in str(caught.value) and "not justified" in str(caught.value)
    same = request(parcels=(RequestParcel("X", "settlement", "individual_housing"),))
    with pytest.raises(WorkflowError, match="X already have the target"):
        resolve_step(plan_step(same, "submit", PLANNER, StepInput()), same, StepInput(),
                     GuardContext())


def _documents(kinds):
    return tuple(DocumentInfo(i, k, f"{k}.pdf", "application/pdf", 10, "0" * 64, "aibek", NOW)
                 for i, k in enumerate(kinds))


def test_accept_needs_the_whole_document_checklist():
    req = request("submitted", documents=_documents(checklist_kinds()[:2]))
    rows = plan_step(req, "accept", OTHER, StepInput())
    with pytest.raises(WorkflowError) as caught:
        resolve_step(rows, req, StepInput(), GuardContext())
    for kind in checklist_kinds()[2:]:
        assert kind in str(caught.value)
    done = req.with_changes(documents=_documents(checklist_kinds()))
    row = resolve_step(rows, done, StepInput(), GuardContext())
    after, event = apply_step(done, row, OTHER, StepInput(), at=NOW)
    assert after.status == "under_review" and after.stage == "council"
    assert after.published_at == NOW and event.user == "nurlan"


PROHIBITED = CheckSummary("prohibited", ("protected.core", "hazard.mudflow.high"))


def test_a_prohibited_verdict_cannot_pass_the_council_without_an_override():
    req = request("under_review")
    step = StepInput(resolution_no="7", resolution_date=date(2025, 5, 20))
    rows = plan_step(req, "council_approve", OTHER, step)
    ctx = GuardContext(check=PROHIBITED)
    with pytest.raises(WorkflowError, match=r"prohibits this change \(rules: protected.core, "
                                            r"hazard.mudflow.high\).*override"):
        resolve_step(rows, req, step, ctx)
    # Refusing needs no override.
    refuse = StepInput(resolution_no="7", resolution_date=date(2025, 5, 20), reason="no")
    assert resolve_step(plan_step(req, "council_refuse", OTHER, refuse), req, refuse, ctx)
    # With an override and its reason, the step goes and the override is recorded.
    over = StepInput(resolution_no="7", resolution_date=date(2025, 5, 20),
                     override_reason="relocation plan adopted")
    row = resolve_step(plan_step(req, "council_approve", OTHER, over), req, over, ctx)
    after, event = apply_step(req, row, OTHER, over, at=NOW, check=PROHIBITED)
    assert after.override is not None and after.override.by == "nurlan"
    assert after.override.rules == PROHIBITED.prohibiting_rules
    assert event.details["override_rules"] == list(PROHIBITED.prohibiting_rules)
    assert after.council_resolution_no == "7" and after.status == "council_approved"
    # Later stages accept the covered rules, but a new prohibiting rule needs its own.
    agency = StepInput(authority="district_administration")
    rows = plan_step(after, "agency_approve", OTHER, agency)
    assert resolve_step(rows, after, agency, GuardContext(check=PROHIBITED,
                                                          authorities=AUTHORITIES))
    worse = CheckSummary("prohibited", ("protected.core", "water.coastal_strip"))
    with pytest.raises(WorkflowError, match=r"rules: water.coastal_strip\)"):
        resolve_step(rows, after, agency, GuardContext(check=worse, authorities=AUTHORITIES))


def test_the_override_takes_a_decider_not_the_planner():
    req = request("under_review")
    over = StepInput(resolution_no="7", resolution_date=date(2025, 5, 20),
                     override_reason="x")
    with pytest.raises(PermissionDeniedError):
        plan_step(req, "council_approve", PLANNER, over)
    with pytest.raises(ValidationError, match="submit does not take override_reason"):
        plan_step(request(), "submit", PLANNER, StepInput(override_reason="x"))


def test_agencies_named_by_the_matrix_must_all_approve():
    matrix = {("agricultural", "settlement"): "district_administration",
              ("reserve", "settlement"): "land_resources_agency",
              ("settlement", "reserve"): "local_council"}
    parcels = (RequestParcel("A", "agricultural", None), RequestParcel("B", "reserve", None),
               RequestParcel("C", "settlement", None))
    required = required_authorities([(p.current_category, "settlement") for p in parcels],
                                    lambda a, b: matrix.get((a, b)))
    assert required == ("district_administration", "land_resources_agency")
    assert required_authorities([("settlement", "reserve")], lambda a, b: matrix[(a, b)]) == ()
    req = request("council_approved", parcels=parcels)
    ctx = GuardContext(authorities=AUTHORITIES, required_authorities=required)
    first = StepInput(authority="district_administration")
    row = resolve_step(plan_step(req, "agency_approve", OTHER, first), req, first, ctx)
    assert row.target == "council_approved"  # one of two: stays at stage 4
    req, _ = apply_step(req, row, OTHER, first, at=NOW)
    second = StepInput(authority="land_resources_agency", reference_no="LRA-5")
    row = resolve_step(plan_step(req, "agency_approve", OTHER, second), req, second, ctx)
    after, _ = apply_step(req, row, OTHER, second, at=NOW)
    assert after.status == "agencies_approved" and after.stage == "registration"
    assert [d.authority for d in after.agency_decisions] == list(required)


def test_no_required_agency_still_needs_one_approval_and_the_council_is_not_an_agency():
    req = request("council_approved")
    ctx = GuardContext(authorities=AUTHORITIES)
    step = StepInput(authority="local_council")
    with pytest.raises(WorkflowError, match="decides at stage 3"):
        resolve_step(plan_step(req, "agency_approve", OTHER, step), req, step, ctx)
    step = StepInput(authority="ministry_of_magic")
    with pytest.raises(WorkflowError, match="unknown authority 'ministry_of_magic'"):
        resolve_step(plan_step(req, "agency_approve", OTHER, step), req, step, ctx)
    step = StepInput(authority="cabinet_of_ministers")
    row = resolve_step(plan_step(req, "agency_approve", OTHER, step), req, step, ctx)
    assert row.target == "agencies_approved"


def test_more_information_pauses_and_a_later_answer_replaces_an_earlier():
    req = request("council_approved")
    ask = StepInput(authority="district_administration", reason="soil survey")
    row = resolve_step(plan_step(req, "agency_request_info", OTHER, ask), req, ask,
                       GuardContext(authorities=AUTHORITIES))
    paused, _ = apply_step(req, row, OTHER, ask, at=NOW)
    assert paused.status == "more_info_requested"
    with pytest.raises(WorkflowError, match="cannot agency_approve"):
        plan_step(paused, "agency_approve", OTHER, StepInput(authority="x"))
    supply = StepInput(reason="survey attached")
    row = resolve_step(plan_step(paused, "supply_info", PLANNER, supply), paused, supply,
                       GuardContext())
    back, _ = apply_step(paused, row, PLANNER, supply, at=NOW)
    assert back.status == "council_approved"
    later = datetime(2025, 6, 1, tzinfo=UTC)
    decisions = (*back.agency_decisions, AgencyDecision(
        "district_administration", "approved", None, None, None, "nurlan", later))
    latest = back.with_changes(agency_decisions=decisions).latest_agency_decisions()
    assert latest["district_administration"].decision == "approved"


def test_register_refuses_parcels_changed_since_the_request():
    req = request("agencies_approved")
    step = StepInput(registration_no="R-77")
    rows = plan_step(req, "register", OTHER, step)
    changed = GuardContext(inventory={"4-08-01-0001-0001": ("reserve", None)})
    with pytest.raises(WorkflowError, match="is now reserve/None"):
        resolve_step(rows, req, step, changed)
    with pytest.raises(WorkflowError, match="no longer in the inventory"):
        resolve_step(rows, req, step, GuardContext(inventory={}))
    same = GuardContext(inventory={"4-08-01-0001-0001": ("agricultural", "agriculture")})
    after, event = apply_step(req, resolve_step(rows, req, step, same), OTHER, step, at=NOW)
    assert after.status == "registered" and after.registration_date == NOW.date()
    assert (event.from_status, event.to_status, event.user) == (
        "agencies_approved", "registered", "nurlan")


def test_allowed_actions_follow_the_table():
    assert allowed_actions(request(), PLANNER) == ["submit", "withdraw"]
    assert allowed_actions(request("submitted"), PLANNER) == ["withdraw"]
    assert allowed_actions(request("submitted"), OTHER) == ["return", "accept"]
    assert allowed_actions(request("registered"), OTHER) == []


def test_operations_follow_the_table():
    anyone = Actor("anonymous", frozenset())
    with pytest.raises(WorkflowError, match="not published"):
        check_operation(request("under_review"), "comment", anyone)
    published = request("under_review", published_at=NOW)
    check_operation(published, "comment", anyone)
    with pytest.raises(WorkflowError, match="cannot comment request TR-2025-0001 while it is "
                                            "registered"):
        check_operation(published.with_changes(status="registered"), "comment", anyone)
    with pytest.raises(PermissionDeniedError):
        check_operation(published, "moderate", PLANNER)
    with pytest.raises(WorkflowError, match="while it is submitted"):
        check_operation(request("submitted"), "edit", PLANNER)
    with pytest.raises(PermissionDeniedError, match="only who filed"):
        check_operation(request(), "edit", Actor("x", frozenset({"create_requests"})))
    check_operation(request(), "attach", PLANNER, document_kind="cadastral_extract")
    with pytest.raises(PermissionDeniedError, match="decide_requests"):
        check_operation(request(), "attach", PLANNER, document_kind="council_resolution")
    with pytest.raises(InputError, match="unknown document kind"):
        check_operation(request(), "attach", PLANNER, document_kind="selfie")


def test_the_guide_lists_every_transition():
    from pathlib import Path

    guide = (Path(__file__).resolve().parents[3] / "docs" / "requests.md").read_text(
        encoding="utf-8")
    for action in ACTIONS:
        assert f"| `{action}` |" in guide, action
    for status in STATUSES:
        assert f"`{status}`" in guide, status

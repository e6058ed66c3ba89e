"""Transformation requests in the workspace, on GeoPackage and PostGIS: the whole path
from draft to registration, refusal, atomic registration, re-check marking, documents,
comments and draft intake."""

from __future__ import annotations

from datetime import date

import geopandas as gpd
import pandas as pd
import pytest
import shapely

from spatial.errors import (
    ConflictError,
    InputError,
    PermissionDeniedError,
    ValidationError,
    WorkflowError,
)
from spatial.requests import Actor, StepInput, checklist_kinds
from tests.spatial.conftest import CRS, X0, Y0, parcel_grid, store_url, ws  # noqa: F401
from web import requests_service as svc
from web.auth import ROLE_PERMISSIONS

PLANNER = Actor("aibek", ROLE_PERMISSIONS["planner"])
SPECIALIST = Actor("gulnara", ROLE_PERMISSIONS["land_specialist"])
SECOND = Actor("nurlan", ROLE_PERMISSIONS["land_specialist"])
GROUP = Actor("aizada", ROLE_PERMISSIONS["working_group"])
PUBLIC = Actor("anonymous", ROLE_PERMISSIONS["public"])
PDF = b"%PDF-1.4\n% test document\n"


@pytest.fixture
def world(ws):  # noqa: F811 - the fixture of tests.spatial.conftest, on each backend
    parcels = parcel_grid(5, 1, size=100.0)  # P-000000 and P-000003 are settlement land
    parcels["designated_use"] = ["individual_housing", "agriculture", "agriculture",
                                 "individual_housing", "agriculture"]
    parcels["ag_subtype"] = ["empty", "arable_irrigated", "arable_irrigated", "empty",
                             "pasture"]
    ws.import_layer("parcels", parcels, user="import")
    park = gpd.GeoDataFrame(
        {"area_id": ["PA-1"], "name": ["Test park"], "pa_type": ["national_park"],
         "subzone": ["core"]},
        geometry=[shapely.box(X0 + 200, Y0, X0 + 300, Y0 + 100)], crs=CRS,
    )
    ws.import_layer("protected_areas", park, user="import")
    return ws


def documents(workspace, request_id, actor=PLANNER):
    for kind in checklist_kinds():
        svc.attach_document(workspace, request_id, actor, kind=kind, filename=f"{kind}.pdf",
                            content_type="application/pdf", content=PDF)


def parcel(workspace, key):
    return workspace.find_parcel(key)


def to_council(workspace, keys, **options):
    request = svc.create_request(
        workspace, PLANNER, cadastral_nos=keys, target_category="settlement",
        target_use="individual_housing", justification="population growth: 88 dwellings",
        applicant_name="Асанов Бакыт", applicant_contact="+996 555 000 111", **options)
    documents(workspace, request.id)
    svc.perform(workspace, request.id, "submit", PLANNER, StepInput())
    svc.perform(workspace, request.id, "accept", SPECIALIST, StepInput())
    return svc.get_request(workspace, request.id)


def council(**extra):
    return StepInput(resolution_no="14/2", resolution_date=date(2025, 5, 22), **extra)


def test_draft_to_registered_changes_the_parcel_with_history(world):
    before = parcel(world, "P-000001")
    request = to_council(world, ["P-000001"])
    assert request.status == "under_review" and request.published_at is not None
    svc.perform(world, request.id, "council_approve", SECOND, council())
    request, _ = svc.perform(world, request.id, "agency_approve", SECOND,
                             StepInput(authority="district_administration",
                                       reference_no="RMA-77"))
    assert request.status == "agencies_approved", "the matrix names the district only"
    assert parcel(world, "P-000001")["land_category"] == "agricultural"
    request, event = svc.perform(world, request.id, "register", SECOND,
                                 StepInput(registration_no="GR-2025-15"))
    after = parcel(world, "P-000001")
    assert request.status == "registered" and request.stage == "registration"
    assert (after["land_category"], after["designated_use"], after["ag_subtype"]) == (
        "settlement", "individual_housing", "empty")
    assert after["row_version"] == before["row_version"] + 1
    assert after["updated_by"] == "nurlan"
    latest = world.history(int(after["fid"]), limit=1)[0]
    assert latest.changes["land_category"] == ("agricultural", "settlement")
    assert event.details["parcels_changed"] == ["P-000001"]
    trail = [(e.action, e.from_status, e.to_status, e.user) for e in
             svc.events_of(world, request.id) if e.from_status != e.to_status]
    assert trail == [
        ("submit", "draft", "submitted", "aibek"),
        ("accept", "submitted", "under_review", "gulnara"),
        ("council_approve", "under_review", "council_approved", "nurlan"),
        ("agency_approve", "council_approved", "agencies_approved", "nurlan"),
        ("register", "agencies_approved", "registered", "nurlan"),
    ]
    checks = svc.checks_of(world, request.id)
    assert [c.action for c in checks] == ["submit", "accept", "council_approve",
                                           "agency_approve", "register"]
    assert {c.result.verdict for c in checks} == {"conditional"}
    with pytest.raises(WorkflowError, match="registered is final"):
        svc.perform(world, request.id, "withdraw", PLANNER, StepInput(reason="late"))


def test_refusal_changes_nothing_in_the_inventory(world):
    before = parcel(world, "P-000001")
    request = to_council(world, ["P-000001"])
    request, _ = svc.perform(world, request.id, "council_refuse", SECOND,
                             council(reason="the plot is irrigated land"))
    assert request.status == "council_refused"
    assert parcel(world, "P-000001") == before
    other = to_council(world, ["P-000001"])
    svc.perform(world, other.id, "council_approve", SECOND, council())
    other, _ = svc.perform(world, other.id, "agency_refuse", SECOND,
                           StepInput(authority="district_administration", reason="soil"))
    assert other.status == "agencies_refused"
    assert parcel(world, "P-000001") == before


def test_prohibited_request_needs_an_override_at_the_council(world):
    request = to_council(world, ["P-000002"])
    assert request.verdict == "prohibited"
    with pytest.raises(WorkflowError, match="override"):
        svc.perform(world, request.id, "council_approve", SECOND, council())
    assert svc.get_request(world, request.id).status == "under_review", "nothing written"
    request, event = svc.perform(world, request.id, "council_approve", SECOND,
                                 council(override_reason="park boundary under revision"))
    assert request.override is not None and request.override.by == "nurlan"
    assert any(r.startswith("protected_areas.national_park.core") for r in request.override.rules)
    assert event.details["override_rules"] == list(request.override.rules)


def test_four_eyes_through_the_store(world):
    request = svc.create_request(world, SPECIALIST, cadastral_nos=["P-000001"],
                                 target_category="settlement", target_use=None,
                                 justification="school")
    documents(world, request.id, SPECIALIST)
    svc.perform(world, request.id, "submit", SPECIALIST, StepInput())
    with pytest.raises(PermissionDeniedError, match="four-eyes"):
        svc.perform(world, request.id, "accept", SPECIALIST, StepInput())
    assert svc.perform(world, request.id, "accept", SECOND, StepInput())[0].status == \
        "under_review"


def test_registration_is_one_transaction_with_the_parcels(world, monkeypatch):
    request = to_council(world, ["P-000001", "P-000004"])
    svc.perform(world, request.id, "council_approve", SECOND, council())
    svc.perform(world, request.id, "agency_approve", SECOND,
                StepInput(authority="district_administration"))
    before = {k: parcel(world, k) for k in ("P-000001", "P-000004")}
    real = type(world).update_parcel
    calls = []

    def failing(self, fid, changes, **kw):
        calls.append(fid)
        if len(calls) == 2:
            raise ConflictError("simulated concurrent edit")
        return real(self, fid, changes, **kw)

    monkeypatch.setattr(type(world), "update_parcel", failing)
    with pytest.raises(ConflictError, match="simulated"):
        svc.perform(world, request.id, "register", SECOND, StepInput(registration_no="GR-1"))
    assert len(calls) == 2
    assert {k: parcel(world, k) for k in before} == before, "the first parcel rolled back"
    stored = svc.get_request(world, request.id)
    assert stored.status == "agencies_approved" and stored.registration_no is None
    assert "register" not in [e.action for e in svc.events_of(world, request.id)]


def test_registration_refuses_a_parcel_changed_meanwhile(world):
    request = to_council(world, ["P-000001"])
    svc.perform(world, request.id, "council_approve", SECOND, council())
    svc.perform(world, request.id, "agency_approve", SECOND,
                StepInput(authority="district_administration"))
    current = parcel(world, "P-000001")
    world.update_parcel(int(current["fid"]), {"land_category": "reserve"},
                        expected_version=current["row_version"], user="editor")
    with pytest.raises(WorkflowError, match="P-000001 is now reserve/agriculture"):
        svc.perform(world, request.id, "register", SECOND, StepInput(registration_no="GR-2"))


def test_open_requests_are_marked_for_re_checking(world, tmp_path):
    request = to_council(world, ["P-000001"])
    assert svc.stale_requests(world, [request]) == {request.id: False}
    # A reference layer changes (a hazard zone is mapped): the stored check is stale.
    hazard = gpd.GeoDataFrame(
        {"hazard_id": ["H-1"], "hazard_type": ["mudflow"], "hazard_class": ["high"]},
        geometry=[shapely.box(X0 + 100, Y0, X0 + 200, Y0 + 100)], crs=CRS)
    world.import_layer("hazard_zones", hazard, user="import")
    assert svc.stale_requests(world, [request]) == {request.id: True}
    check = svc.recheck(world, request.id, PLANNER)
    assert any(r["layer"] == "hazard_zones" for r in check.reasons)
    assert svc.stale_requests(world, [svc.get_request(world, request.id)]) == {
        request.id: False}
    # A parcel of the request is edited.
    current = parcel(world, "P-000001")
    world.update_parcel(int(current["fid"]), {"in_use": not current["in_use"]},
                        expected_version=current["row_version"], user="editor")
    assert svc.stale_requests(world, [request]) == {request.id: True}
    svc.recheck(world, request.id, PLANNER)
    # The rulebook changes.
    assert svc.stale_requests(world, [request]) == {request.id: False}
    world.set_metadata({"rulebook": str(_local_rulebook(tmp_path))})
    assert svc.stale_requests(world, [request]) == {request.id: True}
    # A decided request is not open: never marked.
    svc.perform(world, request.id, "council_refuse", SECOND, council(reason="x"))
    assert svc.stale_requests(world, [svc.get_request(world, request.id)]) == {
        request.id: False}


def _local_rulebook(folder):
    from spatial.zoning import default_rulebook_path

    path = folder / "local.yaml"
    path.write_text(f"extends: {default_rulebook_path()}\nrulebook_version: '2025-local'\n",
                    encoding="utf-8")
    return path


def test_documents_are_checked_and_stored(world):
    request = svc.create_request(world, PLANNER, cadastral_nos=["P-000001"],
                                 target_category="settlement", target_use=None,
                                 justification="x")
    info = svc.attach_document(world, request.id, PLANNER, kind="planning_materials",
                               filename="../../plan.pdf", content_type="application/pdf",
                               content=PDF)
    assert info.filename == "plan.pdf"
    stored, content = svc.document_content(world, request.id, info.id)
    assert content == PDF and stored.sha256 == info.sha256
    with pytest.raises(ValidationError) as caught:
        svc.attach_document(world, request.id, PLANNER, kind="planning_materials",
                            filename="plan.pdf", content_type="text/html",
                            content=b"<script>alert(1)</script>")
    assert {p.code for p in caught.value.problems} == {"type_not_allowed"}
    with pytest.raises(ValidationError) as caught:
        svc.attach_document(world, request.id, PLANNER, kind="planning_materials",
                            filename="plan.pdf", content_type="application/pdf",
                            content=b"<html>" + b"x" * 100, max_bytes=50)
    assert {p.code for p in caught.value.problems} == {"too_large", "content_mismatch"}
    with pytest.raises(PermissionDeniedError):
        svc.attach_document(world, request.id, PLANNER, kind="council_resolution",
                            filename="r.pdf", content_type="application/pdf", content=PDF)
    assert [d.kind for d in svc.get_request(world, request.id).documents] == [
        "planning_materials"]


def test_public_comments_are_moderated_and_answered(world):
    request = svc.create_request(world, PLANNER, cadastral_nos=["P-000001"],
                                 target_category="settlement", target_use=None,
                                 justification="x")
    with pytest.raises(WorkflowError, match="while it is draft"):
        svc.add_comment(world, request.id, PUBLIC, body="too early")
    request = to_council(world, ["P-000001"])
    comment = svc.add_comment(world, request.id, PUBLIC, body="Keep the orchard",
                              author_name="Жашоочу")
    assert comment.status == "pending"
    assert svc.comments_of(world, request.id, approved_only=True) == []
    with pytest.raises(PermissionDeniedError):
        svc.moderate_comment(world, request.id, comment.id, PLANNER, decision="approved")
    with pytest.raises(WorkflowError, match="only approved"):
        svc.answer_comment(world, request.id, comment.id, GROUP, taken_up=True, answer="ok")
    svc.moderate_comment(world, request.id, comment.id, GROUP, decision="approved")
    answered = svc.answer_comment(world, request.id, comment.id, GROUP, taken_up=False,
                                  answer="The orchard is outside the parcel")
    assert (answered.taken_up, answered.answered_by) == (False, "aizada")
    minuted = svc.add_comment(world, request.id, GROUP, body="From the hearing",
                              source="hearing")
    assert minuted.status == "approved"
    with pytest.raises(PermissionDeniedError):
        svc.add_comment(world, request.id, PUBLIC, body="x", source="hearing")
    with pytest.raises(InputError, match="empty"):
        svc.add_comment(world, request.id, PUBLIC, body="   ")
    shown = svc.comments_of(world, request.id, approved_only=True)
    assert [c.body for c in shown] == ["Keep the orchard", "From the hearing"]


def test_drafts_from_the_allocation_become_grouped_requests(world):
    drafts = pd.DataFrame({
        "cadastral_no": ["P-000001", "P-000002", "P-000003"],
        "settlement": ["Isfana", "Isfana", "Isfana"],
        "current_category": ["agricultural", "agricultural", "settlement"],
        "target_category": ["settlement", "settlement", "settlement"],
        "current_use": ["agriculture", "agriculture", "individual_housing"],
        "target_use": ["individual_housing", "individual_housing", "school"],
        "area_ha": [1.0, 1.0, 1.0],
        "justification_ky": ["калктын өсүшү", "калктын өсүшү", "мектеп"],
        "justification_ru": ["рост населения", "рост населения", "школа"],
        "justification_en": ["population growth", "population growth", "school"],
    })
    created = svc.import_drafts(world, PLANNER, svc.read_drafts({
        "draft_requests": drafts.to_dict("records")}))
    assert [[p.cadastral_no for p in r.parcels] for r in created] == [
        ["P-000001", "P-000002"], ["P-000003"]]
    assert created[0].justification_in("ru") == "рост населения"
    assert {r.status for r in created} == {"draft"} and created[0].source == "allocation"
    bad = drafts.assign(target_use=["individual_housing", "castle", "school"])
    with pytest.raises(ValidationError, match="castle"):
        svc.import_drafts(world, PLANNER, bad)
    stale = drafts.assign(current_category=["reserve", "reserve", "settlement"])
    count = len(svc.list_requests(world))
    with pytest.raises(ConflictError, match="run the allocation again"):
        svc.import_drafts(world, PLANNER, stale)
    assert len(svc.list_requests(world)) == count, "intake is atomic"


def test_stale_version_and_edits(world):
    request = svc.create_request(world, PLANNER, cadastral_nos=["P-000001"],
                                 target_category="settlement", target_use=None,
                                 justification="")
    edited = svc.update_draft(world, request.id, PLANNER,
                              {"justification": "growth", "cadastral_nos": ["P-000001",
                                                                            "P-000002"]},
                              expected_version=1)
    assert edited.version == 2 and len(edited.parcels) == 2
    with pytest.raises(ConflictError, match="version 1"):
        svc.update_draft(world, request.id, PLANNER, {"title": "x"}, expected_version=1)
    with pytest.raises(PermissionDeniedError):
        svc.update_draft(world, request.id, SECOND, {"title": "x"})
    with pytest.raises(InputError, match="unknown target use 'castle'"):
        svc.update_draft(world, request.id, PLANNER, {"target_use": "castle"})
    assert svc.find_request(world, edited.number).id == request.id

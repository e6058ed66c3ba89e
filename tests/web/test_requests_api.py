"""The transformation requests API and pages on the Isfana demo: the five stages end to
end, refusal, the four-eyes rule, overrides, re-check marking, attachments, and that a
public reader never sees personal data."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import geopandas as gpd
import pytest
import shapely
from fastapi.testclient import TestClient

from spatial.requests import checklist_kinds
from spatial.store import open_workspace
from tests.web.test_parcels_api import bearer
from web.app import create_app
from web.settings import Settings

#: Demo parcels whose change to settlement land for housing is conditional (reserve
#: development zone), and one in an agricultural zone where it is prohibited.
CONDITIONAL = ["4-08-08-0132-0013", "4-08-08-0132-0014", "4-08-08-0132-0017"]
PROHIBITED = "4-08-08-0027-0001"
APPLICANT = "Асанов Бакыт Жумабекович"
CONTACT = "+996 555 123 456"
COMMENTER = "Токтогулова Айгүл"
PDF = b"%PDF-1.4\n% Jer test\n"
ROLES = {"aibek": "planner", "gulnara": "land_specialist", "nurlan": "land_specialist",
         "aizada": "working_group", "root": "admin"}


@pytest.fixture
def world(demo_copy):
    ws = open_workspace(demo_copy)
    try:
        from web.auth import add_user, create_token

        tokens = {}
        for name, role in ROLES.items():
            add_user(ws, name, role=role, password=f"{name}-password")
            tokens[name] = create_token(ws, name)
    finally:
        ws.close()
    client = TestClient(create_app(Settings(workspace=str(demo_copy), base_map="none")),
                        raise_server_exceptions=False)
    return {"client": client, "tokens": tokens, "path": demo_copy}


def call(world, who: str | None, method: str, url: str, **kwargs: Any):
    headers = {} if who is None else bearer(world["tokens"][who])
    return world["client"].request(method, url, headers=headers, **kwargs)


def create(world, keys, **extra):
    body = {"cadastral_nos": keys, "target_category": "settlement",
            "target_use": "individual_housing", "title": "Housing for Chimgen",
            "justification": "population growth: 88 dwellings by 2029",
            "applicant_name": APPLICANT, "applicant_contact": CONTACT, **extra}
    response = call(world, "aibek", "POST", "/api/requests", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def attach_all(world, rid, who="aibek"):
    for kind in checklist_kinds():
        response = call(world, who, "POST", f"/api/requests/{rid}/documents",
                        data={"kind": kind}, files={"file": (f"{kind}.pdf", PDF,
                                                             "application/pdf")})
        assert response.status_code == 201, response.text


def step(world, who, rid, action, expect=200, **body):
    response = call(world, who, "POST", f"/api/requests/{rid}/actions/{action}", json=body)
    assert response.status_code == expect, (action, response.text)
    return response.json()


def to_council(world, keys):
    rid = create(world, keys)["id"]
    attach_all(world, rid)
    step(world, "aibek", rid, "submit")
    step(world, "gulnara", rid, "accept")
    return rid


def parcel(world, key):
    ws = open_workspace(world["path"])
    try:
        return ws.find_parcel(key)
    finally:
        ws.close()


def test_five_stages_end_to_end_register_the_change(world):
    before = parcel(world, CONDITIONAL[0])
    rid = to_council(world, CONDITIONAL[:2])
    detail = call(world, "nurlan", "GET", f"/api/requests/{rid}").json()
    assert detail["status"] == "under_review" and detail["published_at"]
    assert detail["check"]["verdict"] == "conditional"
    assert {r["rule_id"] for r in detail["check"]["reasons"]} >= {
        "category_transitions.agricultural.settlement"}
    comment = call(world, None, "POST", f"/api/requests/{rid}/comments",
                   json={"body": "Keep the canal open", "name": COMMENTER})
    assert comment.status_code == 201 and comment.json()["status"] == "pending"
    cid = comment.json()["id"]
    assert call(world, "aizada", "POST", f"/api/requests/{rid}/comments/{cid}/moderation",
                json={"decision": "approved"}).status_code == 200
    assert call(world, "aizada", "POST", f"/api/requests/{rid}/comments/{cid}/answer",
                json={"taken_up": True, "answer": "A 10 m strip is kept"}).status_code == 200
    step(world, "nurlan", rid, "council_approve", resolution_no="14/2",
         resolution_date="2025-05-22")
    done = step(world, "nurlan", rid, "agency_approve", authority="district_administration",
                reference_no="RMA-77", decision_date="2025-06-02")
    assert done["status"] == "agencies_approved"
    assert parcel(world, CONDITIONAL[0])["land_category"] == "agricultural"
    registered = step(world, "root", rid, "register", registration_no="GR-2025-15")
    assert registered["status"] == "registered"
    after = parcel(world, CONDITIONAL[0])
    assert (after["land_category"], after["designated_use"]) == ("settlement",
                                                                  "individual_housing")
    assert after["row_version"] == before["row_version"] + 1 and after["updated_by"] == "root"
    history = world["client"].get(f"/api/parcels/{CONDITIONAL[0]}/history").json()
    assert history[0]["changes"]["land_category"] == ["agricultural", "settlement"]
    timeline = [(e["action"], e["to_status"]) for e in registered["timeline"]
                if e["from_status"] != e["to_status"]]
    assert timeline == [("submit", "submitted"), ("accept", "under_review"),
                        ("council_approve", "council_approved"),
                        ("agency_approve", "agencies_approved"), ("register", "registered")]
    assert [c["answer"] for c in registered["comments"]] == ["A 10 m strip is kept"]
    for lang in ("ky", "ru", "en"):
        page = world["client"].get(f"/requests/{rid}?lang={lang}")
        assert page.status_code == 200 and "GR-2025-15" in page.text
        dossier = world["client"].get(f"/requests/{rid}/dossier?lang={lang}")
        assert dossier.status_code == 200 and "A 10 m strip is kept" in dossier.text
        assert "@media print" in dossier.text and "14/2" in dossier.text
        assert not re.search(r'(src|href)="https?://', dossier.text), "no CDN in the dossier"


def test_refusal_changes_nothing(world):
    before = parcel(world, CONDITIONAL[2])
    rid = to_council(world, [CONDITIONAL[2]])
    refused = step(world, "nurlan", rid, "council_refuse", resolution_no="15/1",
                   resolution_date="2025-05-22", reason="irrigated land is kept")
    assert refused["status"] == "council_refused"
    assert parcel(world, CONDITIONAL[2]) == before
    again = step(world, "root", rid, "register", expect=409, registration_no="X")
    assert "it is council_refused" in again["message"] and "final" in again["message"]
    assert parcel(world, CONDITIONAL[2]) == before


def test_illegal_steps_four_eyes_and_overrides_over_http(world):
    rid = create(world, [PROHIBITED])["id"]
    illegal = step(world, "nurlan", rid, "council_approve", expect=409, resolution_no="1",
                   resolution_date="2025-05-22")
    assert illegal["error"] == "WorkflowError"
    assert "it is draft" in illegal["message"] and "under_review" in illegal["message"]
    unknown = step(world, "nurlan", rid, "approve", expect=400)
    assert "unknown action 'approve'" in unknown["message"]
    missing = step(world, "aibek", rid, "submit", expect=200)
    assert missing["status"] == "submitted" and missing["verdict"] == "prohibited"
    own = step(world, "aibek", rid, "accept", expect=403)
    assert "'review_requests' permission" in own["message"]
    incomplete = step(world, "gulnara", rid, "accept", expect=409)
    assert "documents missing" in incomplete["message"]
    attach_all(world, rid, who="gulnara")
    step(world, "gulnara", rid, "accept")
    needs = step(world, "nurlan", rid, "council_approve", expect=422)
    assert {p["column"] for p in needs["problems"]} == {"resolution_no", "resolution_date"}
    blocked = step(world, "nurlan", rid, "council_approve", expect=409, resolution_no="3",
                   resolution_date="2025-05-22")
    assert "prohibits this change" in blocked["message"] and "override" in blocked["message"]
    done = step(world, "nurlan", rid, "council_approve", resolution_no="3",
                resolution_date="2025-05-22", override_reason="zoning plan is being amended")
    assert done["override"]["reason"] == "zoning plan is being amended"
    assert done["override"]["by"] == "nurlan"
    # The four-eyes rule: the land specialist who submitted may not decide.
    rid2 = create(world, [CONDITIONAL[0]])["id"]
    attach_all(world, rid2)
    call(world, "gulnara", "PATCH", f"/api/requests/{rid2}", json={"title": "x"})
    step(world, "gulnara", rid2, "submit")
    four = step(world, "gulnara", rid2, "accept", expect=403)
    assert "four-eyes rule: gulnara submitted" in four["message"]
    stale = step(world, "nurlan", rid2, "accept", expect=409, expected_version=1)
    assert "changed meanwhile" in stale["message"]


def holders(world, keys) -> set[str]:
    ws = open_workspace(world["path"])
    try:
        frame = ws.read_layer("parcels", where={"cadastral_no": keys}, columns=["holder"])
        return {h for h in frame["holder"].dropna() if h}
    finally:
        ws.close()


def give_holder(world, key, name):
    ws = open_workspace(world["path"])
    try:
        current = ws.find_parcel(key)
        ws.update_parcel(int(current["fid"]), {"holder": name, "ownership": "private"},
                         expected_version=current["row_version"], user="specialist")
    finally:
        ws.close()


def test_public_sees_no_personal_data(world):
    give_holder(world, CONDITIONAL[0], "Жер Ээси Сатыбалдиевич")
    rid = to_council(world, CONDITIONAL[:2])
    draft = create(world, [CONDITIONAL[2]])["id"]
    cid = call(world, None, "POST", f"/api/requests/{rid}/comments",
               json={"body": "Please keep the road", "name": COMMENTER}).json()["id"]
    call(world, "aizada", "POST", f"/api/requests/{rid}/comments/{cid}/moderation",
         json={"decision": "approved"})
    call(world, "nurlan", "POST", f"/api/requests/{rid}/documents",
         data={"kind": "hearing_minutes"}, files={"file": ("minutes.pdf", PDF, "application/pdf")})
    secret = holders(world, CONDITIONAL) | {APPLICANT, CONTACT, COMMENTER, "aibek", "gulnara",
                                              "nurlan", "aizada"}
    assert holders(world, CONDITIONAL), "the demo parcels have right holders to leak"
    client = world["client"]
    detail = client.get(f"/api/requests/{rid}").json()
    pages = [
        client.get("/api/requests"), client.get(f"/api/requests/{rid}"),
        client.get("/requests"), client.get(f"/requests/{rid}"),
        client.get(f"/requests/{rid}/dossier"), client.get("/requests/map"),
        *[client.get(f"/requests/{rid}?lang={lang}") for lang in ("ru", "en")],
    ]
    for response in pages:
        assert response.status_code == 200, response.url
        for value in secret:
            assert value not in response.text, (response.url, value)
    assert "Please keep the road" in client.get(f"/requests/{rid}").text
    assert {d["kind"] for d in detail["documents"]} == {"planning_materials",
                                                        "conditions_of_use", "hearing_minutes"}
    extract = next(d for d in call(world, "nurlan", "GET", f"/api/requests/{rid}").json()[
        "documents"] if d["kind"] == "cadastral_extract")
    assert client.get(f"/api/requests/{rid}/documents/{extract['id']}").status_code == 404
    minutes = next(d for d in detail["documents"] if d["kind"] == "hearing_minutes")
    download = client.get(f"/api/requests/{rid}/documents/{minutes['id']}")
    assert download.content == PDF and "attachment" in download.headers["content-disposition"]
    # Drafts are not published: not listed, not found.
    assert all(r["id"] != draft for r in client.get("/api/requests").json())
    assert client.get(f"/api/requests/{draft}").status_code == 404
    assert client.get(f"/requests/{draft}").status_code == 404
    # Staff see the applicant only with read_personal or create_requests.
    staff = call(world, "aizada", "GET", f"/api/requests/{rid}").json()
    assert "applicant_name" not in staff and staff["created_by"] == "aibek"
    assert call(world, "gulnara", "GET", f"/api/requests/{rid}").json()[
        "applicant_name"] == APPLICANT


def test_layer_change_marks_open_requests_for_re_checking(world):
    rid = to_council(world, [CONDITIONAL[0]])
    listed = {r["id"]: r for r in call(world, "nurlan", "GET", "/api/requests").json()}
    assert listed[rid]["needs_recheck"] is False
    ws = open_workspace(world["path"])
    try:
        target = ws.find_parcel(CONDITIONAL[0])["geometry"]
        hazard = gpd.GeoDataFrame(
            {"hazard_id": ["H-new"], "hazard_type": ["mudflow"], "hazard_class": ["high"]},
            geometry=[shapely.buffer(target, 5.0)], crs=ws.crs)
        ws.import_layer("hazard_zones", hazard, user="mapper")
    finally:
        ws.close()
    listed = {r["id"]: r for r in call(world, "nurlan", "GET", "/api/requests").json()}
    assert listed[rid]["needs_recheck"] is True
    assert "needs-recheck" in world["client"].get(f"/requests/{rid}").text
    fresh = call(world, "aibek", "POST", f"/api/requests/{rid}/recheck").json()
    assert fresh["needs_recheck"] is False
    assert any(r["layer"] == "hazard_zones" for r in fresh["check"]["reasons"])
    assert fresh["timeline"][-1]["action"] == "recheck"


def test_attachments_are_checked(world):
    rid = create(world, [CONDITIONAL[0]])["id"]
    url = f"/api/requests/{rid}/documents"
    html = call(world, "aibek", "POST", url, data={"kind": "planning_materials"},
                files={"file": ("plan.pdf", b"<script>alert(1)</script>", "text/html")})
    assert html.status_code == 422
    assert {p["code"] for p in html.json()["problems"]} == {"type_not_allowed"}
    fake = call(world, "aibek", "POST", url, data={"kind": "planning_materials"},
                files={"file": ("plan.pdf", b"<html></html>", "application/pdf")})
    assert {p["code"] for p in fake.json()["problems"]} == {"content_mismatch"}
    big = call(world, "aibek", "POST", url, data={"kind": "planning_materials"},
               files={"file": ("plan.pdf", b"%PDF-" + b"0" * (10 * 1024 * 1024),
                               "application/pdf")})
    assert big.status_code == 413
    assert call(world, "aibek", "GET", f"/api/requests/{rid}").json()["documents"] == []


def test_import_drafts_from_the_allocation_output(world, tmp_path: Path):
    drafts = {"draft_requests": [
        {"cadastral_no": key, "settlement": "Chimgen", "current_category": "agricultural",
         "target_category": "settlement", "current_use": "agriculture",
         "target_use": "individual_housing", "area_ha": 1.0,
         "justification_ky": "калктын өсүшү", "justification_ru": "рост населения",
         "justification_en": "population growth"} for key in CONDITIONAL]}
    response = call(world, "aibek", "POST", "/api/requests/import-drafts", json=drafts)
    assert response.status_code == 201, response.text
    created = response.json()
    assert len(created) == 1 and len(created[0]["parcels"]) == 3
    assert created[0]["settlement"] == "Chimgen" and created[0]["source"] == "allocation"
    per_parcel = call(world, "aibek", "POST", "/api/requests/import-drafts?per_parcel=true",
                      json=drafts)
    assert len(per_parcel.json()) == 3
    bad = call(world, "aibek", "POST", "/api/requests/import-drafts",
               json=[{"cadastral_no": "nope", "settlement": "X"}])
    assert bad.status_code == 422
    assert call(world, "aizada", "POST", "/api/requests/import-drafts",
                json=drafts).status_code == 403
    page = call(world, "aibek", "GET", "/requests?lang=ru")
    assert page.text.count("Chimgen") >= 1
    json.dumps(created)

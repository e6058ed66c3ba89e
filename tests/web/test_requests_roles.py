"""Role × endpoint matrix of the transformation requests API.

Each case gets a request in the state its endpoint needs, filed by a separate planner
account (``filer``), so the four-eyes rule never hides the role's permission; the
expected status follows from ``ROLE_PERMISSIONS`` and the permission each step needs
in the workflow table. A refused call changes nothing.
"""

from __future__ import annotations

import shutil
from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient

from spatial.requests import Actor, StepInput, checklist_kinds
from spatial.store import open_workspace
from tests.web.test_parcels_api import bearer, make_users
from web import requests_service as svc
from web.app import create_app
from web.auth import ROLE_PERMISSIONS, ROLES
from web.settings import Settings

CALLERS = [*ROLES, "anonymous"]
KEY = "4-08-08-0132-0013"
#: A parcel of its own for each caller's registration, which changes the parcel.
REGISTER_KEYS = ["4-08-08-0132-0014", "4-08-08-0132-0017", "4-08-08-0132-0018",
                 "4-08-08-0132-0022", "4-08-08-0132-0024", "4-08-08-0133-0007"]
PDF = b"%PDF-1.4 matrix"
FILER = Actor("filer", ROLE_PERMISSIONS["planner"])
CLERK = Actor("clerk", ROLE_PERMISSIONS["land_specialist"])
#: endpoint -> (status the request must be in, permission needed, success status)
ENDPOINTS: dict[str, tuple[str, str | None, int]] = {
    "list": ("under_review", None, 200),
    "get_published": ("under_review", None, 200),
    "get_draft": ("draft", "read_requests", 200),
    "create": ("draft", "create_requests", 201),
    "import": ("draft", "create_requests", 201),
    "submit": ("draft", "create_requests", 200),
    "accept": ("submitted", "review_requests", 200),
    "council_approve": ("under_review", "decide_requests", 200),
    "agency_approve": ("council_approved", "decide_requests", 200),
    "register": ("agencies_approved", "register_requests", 200),
    "recheck": ("under_review", "run_checks", 200),
    "attach": ("draft", "create_requests", 201),
    "comment": ("under_review", None, 201),
    "moderate": ("under_review", "moderate_comments", 200),
}


@pytest.fixture(scope="module")
def world(demo_gpkg, tmp_path_factory) -> dict[str, Any]:
    path = tmp_path_factory.mktemp("request_roles") / "isfana.gpkg"
    shutil.copyfile(demo_gpkg, path)
    tokens = make_users(path, list(ROLES))
    client = TestClient(create_app(Settings(workspace=str(path), base_map="none")),
                        raise_server_exceptions=False)
    return {"path": path, "tokens": tokens, "client": client}


def _request_in(path, status: str, key: str = KEY) -> int:
    """A request on ``key``, filed by ``filer``, moved to ``status`` through the workflow."""
    ws = open_workspace(path)
    try:
        request = svc.create_request(ws, FILER, cadastral_nos=[key],
                                     target_category="settlement",
                                     target_use="individual_housing", justification="growth")
        for kind in checklist_kinds():
            svc.attach_document(ws, request.id, FILER, kind=kind, filename="d.pdf",
                                content_type="application/pdf", content=PDF)
        path_to = {"submitted": [("submit", FILER, StepInput())],
                   "under_review": [("accept", CLERK, StepInput())],
                   "council_approved": [("council_approve", CLERK, StepInput(
                       resolution_no="1", resolution_date=date(2025, 5, 22)))],
                   "agencies_approved": [("agency_approve", CLERK, StepInput(
                       authority="district_administration"))]}
        order = ["draft", "submitted", "under_review", "council_approved", "agencies_approved"]
        for stage in order[1:order.index(status) + 1]:
            for action, actor, step in path_to[stage]:
                svc.perform(ws, request.id, action, actor, step)
        if status == "under_review":
            svc.add_comment(ws, request.id, Actor("anonymous", frozenset()), body="hello")
        return request.id
    finally:
        ws.close()


def _status(path, rid: int) -> str:
    ws = open_workspace(path)
    try:
        return svc.get_request(ws, rid).status
    finally:
        ws.close()


def _call(world: dict[str, Any], caller: str, endpoint: str, rid: int):
    client: TestClient = world["client"]
    headers = {} if caller == "anonymous" else bearer(world["tokens"][caller])
    base = f"/api/requests/{rid}"
    if endpoint == "list":
        return client.get("/api/requests", headers=headers)
    if endpoint.startswith("get"):
        return client.get(base, headers=headers)
    if endpoint == "create":
        return client.post("/api/requests", headers=headers, json={
            "cadastral_nos": [KEY], "target_category": "settlement"})
    if endpoint == "import":
        return client.post("/api/requests/import-drafts", headers=headers, json=[{
            "cadastral_no": KEY, "settlement": "Isfana", "current_category": "agricultural",
            "target_category": "settlement", "target_use": "individual_housing"}])
    if endpoint == "recheck":
        return client.post(f"{base}/recheck", headers=headers)
    if endpoint == "attach":
        return client.post(f"{base}/documents", headers=headers, data={"kind": "other"},
                           files={"file": ("a.pdf", PDF, "application/pdf")})
    if endpoint == "comment":
        return client.post(f"{base}/comments", headers=headers, json={"body": "a comment"})
    if endpoint == "moderate":
        return client.post(f"{base}/comments/1/moderation", headers=headers,
                           json={"decision": "approved"})
    body = {"council_approve": {"resolution_no": "2", "resolution_date": "2025-05-23"},
            "agency_approve": {"authority": "district_administration"},
            "register": {"registration_no": "GR-9"}}.get(endpoint, {})
    return client.post(f"{base}/actions/{endpoint}", headers=headers, json=body)


def _expected(caller: str, endpoint: str) -> int:
    _, permission, ok = ENDPOINTS[endpoint]
    if permission is None:
        return ok
    held = ROLE_PERMISSIONS.get(caller, frozenset())
    if endpoint == "get_draft":
        return ok if permission in held else 404
    if permission in held:
        return ok
    return 401 if caller == "anonymous" else 403


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
@pytest.mark.parametrize("caller", CALLERS)
def test_request_role_endpoint_matrix(world, caller, endpoint):
    status, _, _ = ENDPOINTS[endpoint]
    key = REGISTER_KEYS[CALLERS.index(caller)] if endpoint == "register" else KEY
    rid = _request_in(world["path"], status, key)
    if endpoint == "moderate":  # the comment made on this request
        ws = open_workspace(world["path"])
        try:
            cid = svc.comments_of(ws, rid)[0].id
        finally:
            ws.close()
        response = world["client"].post(
            f"/api/requests/{rid}/comments/{cid}/moderation",
            headers={} if caller == "anonymous" else bearer(world["tokens"][caller]),
            json={"decision": "approved"})
    else:
        response = _call(world, caller, endpoint, rid)
    expected = _expected(caller, endpoint)
    assert response.status_code == expected, (caller, endpoint, response.text)
    if expected in (401, 403, 404):
        assert _status(world["path"], rid) == status, "a refused call changes nothing"

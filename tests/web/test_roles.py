"""Role × endpoint matrix of the parcels API: who may read, who may write, who sees holders."""

from __future__ import annotations

import shutil
from typing import Any

import pytest
from fastapi.testclient import TestClient

from spatial.store import open_workspace
from tests.web.test_parcels_api import bearer, free_squares, make_users, new_parcel
from web.app import create_app
from web.auth import ROLE_PERMISSIONS, ROLES
from web.settings import Settings

CALLERS = [*ROLES, "anonymous"]
READS = ["list", "get", "history"]
WRITES = ["create", "update", "delete", "restore"]
WRITE_OK = {"create": 201, "update": 200, "delete": 204, "restore": 200}


@pytest.fixture(scope="module")
def world(demo_gpkg, tmp_path_factory) -> dict[str, Any]:
    path = tmp_path_factory.mktemp("roles") / "isfana.gpkg"
    shutil.copyfile(demo_gpkg, path)
    tokens = make_users(path, list(ROLES))
    ws = open_workspace(path)
    try:
        keys = list(ws.read_layer("parcels", columns=["cadastral_no"], limit=60)["cadastral_no"])
    finally:
        ws.close()
    client = TestClient(create_app(Settings(workspace=str(path))), raise_server_exceptions=False)
    return {"path": path, "tokens": tokens, "keys": keys, "client": client,
            "squares": free_squares(path, len(CALLERS))}


def _version(world: dict[str, Any], key: str) -> int | None:
    ws = open_workspace(world["path"])
    try:
        rows = ws.read_layer("parcels", columns=["row_version"], where={"cadastral_no": key})
        return None if rows.empty else int(rows["row_version"].iloc[0])
    finally:
        ws.close()


def _call(world: dict[str, Any], caller: str, endpoint: str) -> tuple[Any, str]:
    client: TestClient = world["client"]
    headers = {} if caller == "anonymous" else bearer(world["tokens"][caller])
    index = CALLERS.index(caller) * len(WRITES) + WRITES.index(endpoint) if (
        endpoint in WRITES) else 0
    key = world["keys"][index]
    url = f"/api/parcels/{key}"
    if endpoint == "list":
        return client.get("/api/parcels", params={"limit": 3}, headers=headers), key
    if endpoint == "get":
        return client.get(url, headers=headers), key
    if endpoint == "history":
        return client.get(f"{url}/history", headers=headers), key
    if endpoint == "create":
        key = f"4-08-09-9998-{CALLERS.index(caller):04d}"
        square = world["squares"][CALLERS.index(caller)]
        return client.post("/api/parcels", json=new_parcel(square, cadastral_no=key),
                           headers=headers), key
    if_match = {"If-Match": f'"{_version(world, key)}"'}
    if endpoint == "update":
        body = {"properties": {"designated_use": f"by {caller}"}}
        return client.put(url, json=body, headers={**headers, **if_match}), key
    if endpoint == "delete":
        return client.delete(url, headers={**headers, **if_match}), key
    return client.post(f"{url}/restore", json={"version": 1}, headers=headers), key


def _expected(caller: str, endpoint: str) -> int:
    if endpoint in READS:
        return 200
    if caller == "anonymous":
        return 401
    return WRITE_OK[endpoint] if "edit_inventory" in ROLE_PERMISSIONS[caller] else 403


@pytest.mark.parametrize("endpoint", READS + WRITES)
@pytest.mark.parametrize("caller", CALLERS)
def test_role_endpoint_matrix(world, caller, endpoint):
    before = None
    if endpoint in ("update", "delete", "restore"):
        before = _version(world, _call_key(world, caller, endpoint))
    response, key = _call(world, caller, endpoint)
    expected = _expected(caller, endpoint)
    assert response.status_code == expected, (caller, endpoint, response.text)
    after = _version(world, key)
    if expected in (401, 403):
        # Refused: nothing was written.
        assert after == before
    elif endpoint == "create":
        assert after == 1
    elif endpoint == "delete":
        assert after is None
    elif endpoint in ("update", "restore"):
        assert after == (before or 0) + 1


def _call_key(world: dict[str, Any], caller: str, endpoint: str) -> str:
    index = CALLERS.index(caller) * len(WRITES) + WRITES.index(endpoint)
    return str(world["keys"][index])


@pytest.mark.parametrize("caller", CALLERS)
def test_holder_shown_only_with_read_personal(world, caller):
    client: TestClient = world["client"]
    headers = {} if caller == "anonymous" else bearer(world["tokens"][caller])
    key = world["keys"][-1]
    one = client.get(f"/api/parcels/{key}", headers=headers).json()["properties"]
    listed = client.get("/api/parcels", params={"limit": 5}, headers=headers).json()
    may = caller != "anonymous" and "read_personal" in ROLE_PERMISSIONS[caller]
    assert ("holder" in one) is may
    assert all(("holder" in f["properties"]) is may for f in listed["features"])

"""Role × endpoint matrix of the parcels API and the JSON API: who may read, write, check,
forecast and import, and who sees holders."""

from __future__ import annotations

import json
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
#: A use of the rulebook per caller, so that each update changes the parcel.
USES = ("commerce", "school", "health", "culture", "tourism", "industry")
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
    with open_workspace(path) as ws:  # withdrawn from the public (`jer publish --off`)
        ws.set_layer_metadata("facilities", {"published": "false"})
    client = TestClient(create_app(Settings(workspace=str(path))), raise_server_exceptions=False)
    squares = free_squares(path, 2 * len(CALLERS))
    return {"path": path, "tokens": tokens, "keys": keys, "client": client,
            "squares": squares[:len(CALLERS)], "import_squares": squares[len(CALLERS):]}


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
        body = {"properties": {"designated_use": USES[CALLERS.index(caller)]}}
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


# --------------------------------------------------------------------------- JSON API

#: Endpoint -> the permission it needs (None: anyone, also nobody signed in).
API_PERMISSION: dict[str, str | None] = {
    "import": "edit_inventory", "export_parcels": None, "export_unpublished": None,
    "check": "run_checks", "batch": "run_checks", "exposure": "run_checks",
    "demand": "run_forecasts", "capacity": "run_forecasts", "allocation": "run_forecasts",
    "balance": None,
}


def _api_call(world: dict[str, Any], caller: str, endpoint: str) -> Any:
    client: TestClient = world["client"]
    headers = {} if caller == "anonymous" else bearer(world["tokens"][caller])
    key = world["keys"][-2]
    if endpoint == "import":
        feature = new_parcel(world["import_squares"][CALLERS.index(caller)],
                             cadastral_no=f"4-08-09-9997-{CALLERS.index(caller):04d}")
        content = json.dumps({"type": "FeatureCollection", "features": [feature]}).encode()
        return client.post("/api/imports", data={"layer": "parcels"},
                           files={"file": ("one.geojson", content)}, headers=headers)
    if endpoint.startswith("export"):
        layer = "parcels" if endpoint == "export_parcels" else "facilities"
        return client.get(f"/api/exports/{layer}", params={"format": "geojson"},
                          headers=headers)
    if endpoint == "check":
        return client.post("/api/checks", json={"cadastral_no": key, "target_use": "school"},
                           headers=headers)
    if endpoint == "batch":
        return client.post("/api/checks/batch", json={"cadastral_nos": world["keys"][-5:-2]},
                           headers=headers)
    if endpoint == "exposure":
        return client.get("/api/hazards/exposure", headers=headers)
    if endpoint == "balance":
        return client.get("/api/balance", headers=headers)
    return client.post(f"/api/{endpoint}", json={"horizon": 2}, headers=headers)


def _api_expected(caller: str, endpoint: str) -> int:
    if endpoint == "export_unpublished":  # facilities, withdrawn: for accounts only
        return 403 if caller == "anonymous" else 200
    permission = API_PERMISSION[endpoint]
    if permission is None:
        return 200
    if caller == "anonymous":
        return 401
    return 200 if permission in ROLE_PERMISSIONS[caller] else 403


def _parcel_count(world: dict[str, Any]) -> int:
    ws = open_workspace(world["path"])
    try:
        return ws.count("parcels")
    finally:
        ws.close()


@pytest.mark.parametrize("endpoint", list(API_PERMISSION))
@pytest.mark.parametrize("caller", CALLERS)
def test_api_role_endpoint_matrix(world, caller, endpoint):
    before = _parcel_count(world)
    response = _api_call(world, caller, endpoint)
    expected = _api_expected(caller, endpoint)
    assert response.status_code == expected, (caller, endpoint, response.text[:300])
    written = 1 if endpoint == "import" and expected == 200 else 0
    assert _parcel_count(world) == before + written
    if expected == 200 and endpoint == "export_parcels":
        may = caller != "anonymous" and "read_personal" in ROLE_PERMISSIONS[caller]
        properties = response.json()["features"][0]["properties"]
        assert ("holder" in properties) is may

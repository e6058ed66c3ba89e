"""Forecast, capacity, allocation and hazard exposure over the API equal the CLI's output."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import shapely

from jer_data import DEMO_DIR
from spatial.store import open_workspace
from tests.web.test_api_checks import api_client
from tests.web.test_cli import jer
from tests.web.test_parcels_api import bearer, holders_of, make_users
from web.auth import ROLES
from web.services import result_cache


@pytest.fixture(scope="module")
def world(demo_gpkg: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    path = tmp_path_factory.mktemp("api-planning") / "isfana.gpkg"
    shutil.copyfile(demo_gpkg, path)
    tokens = make_users(path, list(ROLES))
    return {"path": path, "tokens": tokens, "client": api_client(path)}


def post(world: dict[str, Any], url: str, body: dict[str, Any], role: str = "planner") -> Any:
    return world["client"].post(url, json=body, headers=bearer(world["tokens"][role]))


def cli_json(world: dict[str, Any], *args: str) -> dict[str, Any]:
    code, out, err = jer(*args, "--format", "json", workspace=world["path"])
    assert code == 0, err
    parsed: dict[str, Any] = json.loads(out)
    return parsed


def test_demand_is_the_cli_projection_and_the_report_demand(world):
    response = post(world, "/api/demand", {"method": "official", "horizon": 5})
    assert response.status_code == 200, response.text
    data = response.json()
    cli = cli_json(world, "demand", "project", "--method", "official", "--horizon", "5")
    assert {k: data[k] for k in ("method", "base_year", "horizon", "rates", "projection")} == cli
    assert data["scenarios"] == ["low", "medium", "high"]
    # the land demand of the medium scenario is the one `jer demand balance` reports
    balance = cli_json(world, "demand", "balance")
    rows = pd.DataFrame(data["demand"])
    medium = (rows[rows["scenario"] == "medium"].groupby(["settlement", "use", "year"])[
        "hectares"].sum().reset_index())
    expected = pd.DataFrame(balance["demand"])
    pd.testing.assert_frame_equal(medium, expected, check_dtype=False, rtol=1e-9)
    totals = pd.DataFrame(data["demand_total"])
    assert set(totals["scenario"]) == {"low", "medium", "high"}
    high = totals[totals["scenario"] == "high"]["hectares"].sum()
    low = totals[totals["scenario"] == "low"]["hectares"].sum()
    assert high >= low > 0


def test_demand_for_chosen_scenarios_and_method(world):
    data = post(world, "/api/demand", {"method": "compound", "horizon": 3,
                                       "scenarios": ["high"]}).json()
    assert data["method"] == "compound" and data["horizon"] == 3
    assert {r["scenario"] for r in data["projection"]} == {"high"}
    assert {r["scenario"] for r in data["demand"]} == {"high"}
    cli = cli_json(world, "demand", "project", "--method", "compound", "--horizon", "3")
    assert data["projection"] == [r for r in cli["projection"] if r["scenario"] == "high"]


def test_allocation_and_capacity_equal_the_cli_and_are_computed_once(world):
    cache = result_cache(world["client"].app.state)
    response = post(world, "/api/allocation", {"scenario": "medium"})
    assert response.status_code == 200, response.text
    data = response.json()
    cli = cli_json(world, "allocate", "--scenario", "medium")
    assert {k: data[k] for k in cli} == cli
    assert data["allocation"], "the demo allocates parcels"
    features = data["parcels"]["features"]
    assert data["parcels"]["type"] == "FeatureCollection"
    assert [f["id"] for f in features] == [r["cadastral_no"] for r in data["allocation"]]
    lon0, lat0, lon1, lat1 = shapely.from_geojson(json.dumps(features[0]["geometry"])).bounds
    assert 69 < lon0 < lon1 < 71 and 39 < lat0 < lat1 < 41
    summary = pd.DataFrame(data["summary"])
    assert summary["parcels"].sum() == len(data["allocation"])
    assert summary["developable_ha"].sum() == pytest.approx(
        sum(r["developable_ha"] for r in data["allocation"]))
    computed = cache.computed
    again = post(world, "/api/allocation", {"scenario": "medium"}, role="working_group")
    assert again.json() == data and cache.computed == computed
    # capacity comes out of the allocation's plan, and is `jer demand balance`
    capacity = post(world, "/api/capacity", {"scenario": "medium"}).json()
    assert cache.computed == computed
    assert capacity == cli_json(world, "demand", "balance", "--scenario", "medium")


def test_an_edited_parcel_means_a_new_plan(demo_copy):
    tokens = make_users(demo_copy, ["planner"])
    client = api_client(demo_copy)
    client.headers.update(bearer(tokens["planner"]))
    cache = result_cache(client.app.state)
    first = client.post("/api/capacity", json={"horizon": 2}).json()
    assert client.post("/api/capacity", json={"horizon": 2}).json() == first
    assert cache.computed == 1
    with open_workspace(demo_copy) as ws:
        parcel = ws.read_layer("parcels", where={"land_category": "reserve"}, limit=1)
        record = ws.find_parcel(parcel["cadastral_no"].iloc[0])
        ws.update_parcel(record["fid"], {"in_use": True}, expected_version=record["row_version"],
                         user="test")
    client.post("/api/capacity", json={"horizon": 2})
    assert cache.computed == 2
    client.post("/api/capacity", json={"horizon": 3})  # other options: another plan
    assert cache.computed == 3


def test_population_rows_in_the_body(world):
    rows = pd.read_csv(DEMO_DIR / "population.csv", comment="#")
    body = {"horizon": 2, "population": json.loads(rows.to_json(orient="records"))}
    given = post(world, "/api/demand", body).json()
    default = post(world, "/api/demand", {"horizon": 2}).json()
    assert given["projection"] == default["projection"]
    broken = post(world, "/api/demand", {"horizon": 2, "population": [
        {"settlement": "Isfana", "year": 2020, "population": -5}]})
    assert broken.status_code == 422 and broken.json()["problems"]


def test_bad_options_are_refused(world):
    assert post(world, "/api/demand", {"horizon": 0}).status_code == 422
    assert post(world, "/api/allocation", {"scenario": "extreme"}).status_code == 422
    assert post(world, "/api/capacity", {"method": "magic"}).status_code == 422
    assert post(world, "/api/demand", {"scenarios": ["medium"], "extra": 1}).status_code == 422


def test_without_a_population_series_the_answer_says_so(demo_copy):
    tokens = make_users(demo_copy, ["planner"])
    with open_workspace(demo_copy) as ws:
        ws.set_metadata({"demo": "no"})
    client = api_client(demo_copy)
    response = client.post("/api/demand", json={}, headers=bearer(tokens["planner"]))
    assert response.status_code == 400 and "population" in response.json()["message"]


def test_exposure_is_the_cli_exposure(world):
    response = world["client"].get("/api/hazards/exposure",
                                   headers=bearer(world["tokens"]["planner"]))
    assert response.status_code == 200, response.text
    assert response.json() == cli_json(world, "hazards", "exposure")
    assert response.json()["relocation"]["parcels"], "the demo has relocation candidates"


def test_openapi_documents_the_api(world):
    spec = world["client"].get("/openapi.json").json()
    paths = spec["paths"]
    for path, method in [("/api/imports", "post"), ("/api/exports/{layer}", "get"),
                         ("/api/checks", "post"), ("/api/checks/batch", "post"),
                         ("/api/hazards/exposure", "get"), ("/api/demand", "post"),
                         ("/api/capacity", "post"), ("/api/allocation", "post"),
                         ("/api/balance", "get")]:
        operation = paths[path][method]
        assert operation.get("summary") and "200" in operation["responses"], path
    upload = paths["/api/imports"]["post"]["requestBody"]["content"]["multipart/form-data"]
    assert set(upload["schema"]["required"]) == {"file", "layer"}
    assert {"413", "422"} <= set(paths["/api/imports"]["post"]["responses"])
    check = paths["/api/checks"]["post"]
    body = check["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    request = spec["components"]["schemas"][body.rsplit("/", 1)[-1]]
    assert set(request["properties"]) == {
        "cadastral_no", "geometry", "target_use", "target_category", "current_use",
        "current_category", "floors", "height_m", "site_coverage"}
    answer = check["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    assert {"verdict", "reasons", "overlaps", "subject"} <= set(
        spec["components"]["schemas"][answer.rsplit("/", 1)[-1]]["properties"])
    assert [p["name"] for p in check["parameters"]] == ["lang"]


def test_no_holder_in_any_answer_for_roles_without_read_personal(world):
    holders = holders_of(world["path"])
    texts = [
        world["client"].get("/api/hazards/exposure",
                            headers=bearer(world["tokens"]["planner"])).text,
        post(world, "/api/allocation", {}).text,
        post(world, "/api/capacity", {}).text,
        post(world, "/api/demand", {}).text,
        world["client"].post("/api/checks/batch", json={},
                             headers=bearer(world["tokens"]["planner"])).text,
    ]
    with open_workspace(world["path"]) as ws:
        owned = ws.read_layer("parcels", columns=["cadastral_no", "holder"], limit=40)
    for key in owned["cadastral_no"]:
        texts.append(post(world, "/api/checks", {"cadastral_no": key,
                                                 "target_use": "commerce"}).text)
    assert owned["holder"].notna().all()
    for text in texts:
        assert '"holder"' not in text
        assert not [h for h in holders if h in text]

"""Checks over the API on the Isfana demo: contract, overlaps, bad input, batch, cache."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from fastapi.testclient import TestClient

from spatial.store import open_workspace
from spatial.zoning import Reason
from tests.spatial.conftest import store_url  # noqa: F401
from tests.web.test_cli import jer
from tests.web.test_parcels_api import bearer, make_users
from web.app import create_app
from web.auth import ROLES
from web.services import ConstraintCache, cached_constraint_layers, constraint_cache
from web.settings import Settings

TO_DICT_KEYS = {"verdict", "worst_regime", "parcel", "area_m2", "proposal", "use", "category",
                "reasons", "notes", "remainder", "crs", "rulebook"}
OVERLAP_KEYS = {"rule_id", "layer", "feature_id", "feature_name", "regime", "overlap_m2",
                "overlap_share", "note", "message"}
#: A settlement parcel in the Isfana individual-housing zone, on the river's flood zone edge.
PARCEL = "4-08-01-0090-0002"


def api_client(path: Path) -> TestClient:
    return TestClient(create_app(Settings(workspace=str(path))), raise_server_exceptions=False)


@pytest.fixture(scope="module")
def world(demo_gpkg: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    path = tmp_path_factory.mktemp("api-checks") / "isfana.gpkg"
    shutil.copyfile(demo_gpkg, path)
    tokens = make_users(path, list(ROLES))
    with open_workspace(path) as ws:
        crs = ws.crs
        parcels = ws.read_layer("parcels", include_personal=False)
    return {"path": path, "tokens": tokens, "client": api_client(path), "crs": crs,
            "parcels": parcels}


def as_planner(world: dict[str, Any]) -> dict[str, str]:
    return bearer(world["tokens"]["planner"])


def check(world: dict[str, Any], body: dict[str, Any], **params: str) -> Any:
    return world["client"].post("/api/checks", json=body, params=params,
                                headers=as_planner(world))


def parcel_with_reasons(world: dict[str, Any], minimum: int = 2) -> str:
    """A parcel whose check of individual housing has several spatial reasons."""
    for key in world["parcels"]["cadastral_no"][::97]:
        data = check(world, {"cadastral_no": key, "target_use": "individual_housing"}).json()
        spatial = [r for r in data["reasons"] + data["notes"] if r["layer"]]
        if len(spatial) >= minimum and {r["layer"] for r in spatial} != {"zones"}:
            return str(key)
    raise AssertionError("the demo has parcels under several constraints")


def projected(shape: dict[str, Any], crs: Any) -> Any:
    return gpd.GeoSeries([shapely.from_geojson(json.dumps(shape))], crs=4326).to_crs(crs).iloc[0]


# --------------------------------------------------------------------------- single


def test_parcel_check_answers_the_contract_and_matches_the_cli(world):
    key = parcel_with_reasons(world)
    response = check(world, {"cadastral_no": key, "target_use": "individual_housing"},
                     lang="ky")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    data = response.json()
    assert set(data) == TO_DICT_KEYS | {"overlaps", "subject"}
    assert data["parcel"] == key and data["use"] == "individual_housing"
    assert "geometry_wgs84" in data["remainder"]
    # the same engine and rulebook as `jer check`
    code, out, _ = jer("check", "--parcel", key, "--use", "individual_housing", "--format",
                       "json", "--lang", "ky", workspace=world["path"])
    assert code == 0
    cli = json.loads(out)
    assert {k: data[k] for k in TO_DICT_KEYS} == cli


def test_overlaps_are_the_parts_of_the_parcel_each_reason_covers(world):
    key = parcel_with_reasons(world)
    data = check(world, {"cadastral_no": key, "target_use": "individual_housing"},
                 lang="en").json()
    spatial = [r for r in data["reasons"] + data["notes"] if r["layer"]]
    features = data["overlaps"]["features"]
    assert data["overlaps"]["type"] == "FeatureCollection"
    assert len(features) == len(spatial) >= 2
    subject = projected(data["subject"], world["crs"])
    parcel = world["parcels"].set_index("cadastral_no").geometry[key]
    assert math.isclose(subject.area, parcel.area, rel_tol=1e-6)
    for reason, feature in zip(spatial, features, strict=True):
        props = feature["properties"]
        assert set(props) == OVERLAP_KEYS
        assert (props["rule_id"], props["feature_id"], props["regime"]) == (
            reason["rule_id"], reason["feature_id"], reason["regime"])
        assert props["message"] == reason["message"]
        assert isinstance(props["message"], str)
        piece = projected(feature["geometry"], world["crs"])
        # drawn through EPSG:4326 and back: the measured overlap to a square centimetre
        assert piece.area == pytest.approx(reason["overlap_m2"], rel=1e-6, abs=0.01)
        assert subject.buffer(0.01).covers(piece)


def test_drawn_polygon_gets_the_verdict_of_the_parcel_it_traces(world):
    key = parcel_with_reasons(world)
    row = world["parcels"].set_index("cadastral_no").loc[key]
    outline = json.loads(shapely.to_geojson(
        gpd.GeoSeries([row.geometry], crs=world["crs"]).to_crs(4326).iloc[0]))
    by_key = check(world, {"cadastral_no": key, "target_use": "commerce"}).json()
    drawn = check(world, {"geometry": outline, "target_use": "commerce",
                          "current_use": row["designated_use"],
                          "current_category": row["land_category"]})
    assert drawn.status_code == 200, drawn.text
    data = drawn.json()
    assert data["parcel"] is None
    assert data["verdict"] == by_key["verdict"]
    assert [r["rule_id"] for r in data["reasons"]] == [r["rule_id"] for r in by_key["reasons"]]
    assert data["area_m2"] == pytest.approx(by_key["area_m2"], rel=1e-6)
    assert len(data["overlaps"]["features"]) == len(by_key["overlaps"]["features"])


def test_messages_follow_the_language(world):
    body = {"cadastral_no": PARCEL, "target_use": "landfill"}
    english = check(world, body, lang="en").json()["reasons"]
    russian = check(world, body, lang="ru").json()["reasons"]
    assert english and [r["rule_id"] for r in english] == [r["rule_id"] for r in russian]
    assert english[0]["message"] != russian[0]["message"]
    assert all(isinstance(r["message"], str) for r in english)


def problems(response: Any) -> list[dict[str, Any]]:
    assert response.status_code == 422, response.text
    found: list[dict[str, Any]] = response.json()["problems"]
    return found


@pytest.mark.parametrize("body, code, column", [
    ({"target_use": "school"}, "one_subject", "cadastral_no"),
    ({"cadastral_no": PARCEL, "geometry": {"type": "Polygon", "coordinates": [
        [[70.5, 39.8], [70.6, 39.8], [70.6, 39.9], [70.5, 39.8]]]}}, "one_subject",
     "cadastral_no"),
    ({"geometry": {"type": "Point", "coordinates": [70.5, 39.8]}}, "wrong_geometry_type",
     "geometry"),
    ({"geometry": {"type": "Polygon", "coordinates": [
        [[545000, 4411000], [545100, 4411000], [545100, 4411100], [545000, 4411000]]]}},
     "not_wgs84", "geometry"),
    ({"geometry": {"type": "Polygon", "coordinates": [
        [[70.50, 39.80], [70.51, 39.81], [70.51, 39.80], [70.50, 39.81], [70.50, 39.80]]]}},
     "invalid_geometry", None),
    ({"cadastral_no": PARCEL, "target_use": "housing"}, "unknown_use", "target_use"),
    ({"cadastral_no": PARCEL, "floors": 0}, "bad_value", "floors"),
])
def test_bad_input_is_named(world, body, code, column):
    found = problems(check(world, body))
    assert [p["code"] for p in found] == [code]
    assert found[0]["column"] == column
    assert found[0]["message"]


def test_every_problem_is_reported_at_once(world):
    found = problems(check(world, {"cadastral_no": PARCEL, "target_use": "housing",
                                   "target_category": "urban", "site_coverage": 140}))
    assert {p["column"] for p in found} == {"target_use", "target_category", "site_coverage"}
    assert "individual_housing" in next(p for p in found if p["column"] == "target_use")[
        "message"]


def test_unknown_parcel_is_404_and_unknown_field_422(world):
    missing = check(world, {"cadastral_no": "4-08-99-9999-9999"})
    assert missing.status_code == 404 and "4-08-99-9999-9999" in missing.json()["message"]
    extra = check(world, {"cadastral_no": PARCEL, "target": "school"})
    assert extra.status_code == 422


# --------------------------------------------------------------------------- batch


def test_batch_over_all_parcels_counts_every_verdict(world):
    response = world["client"].post("/api/checks/batch", json={"target_use": "commerce"},
                                    headers=as_planner(world))
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["parcels"] == len(world["parcels"]) == len(data["results"])
    assert sum(data["counts"].values()) == data["parcels"]
    assert set(data["counts"]) <= {"allowed", "conditional", "prohibited"}
    assert data["proposal"] == {"target_use": "commerce", "target_category": None}
    verdicts = pd.Series([r["verdict"] for r in data["results"]]).value_counts().to_dict()
    assert verdicts == data["counts"]
    # a batch row is the single check of that parcel
    row = next(r for r in data["results"] if r["cadastral_no"] == PARCEL)
    single = check(world, {"cadastral_no": PARCEL, "target_use": "commerce"}).json()
    assert row["verdict"] == single["verdict"]
    assert row["n_reasons"] == len(single["reasons"])


def test_batch_of_listed_parcels_as_csv(world):
    keys = list(world["parcels"]["cadastral_no"][:25])
    response = world["client"].post("/api/checks/batch", params={"format": "csv"},
                                    json={"cadastral_nos": keys}, headers=as_planner(world))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert "checks.csv" in response.headers["content-disposition"]
    table = pd.read_csv(pd.io.common.StringIO(response.content.decode("utf-8-sig")))
    assert sorted(table["cadastral_no"]) == sorted(keys)
    assert {"verdict", "rule_ids", "max_prohibited_share"} <= set(table.columns)
    # no proposal: compliance of each parcel's current use
    data = world["client"].post("/api/checks/batch", json={"cadastral_nos": keys[:3]},
                                headers=as_planner(world)).json()
    assert data["proposal"] is None and data["parcels"] == 3


def test_batch_names_unknown_parcels_and_bad_codes(world):
    response = world["client"].post(
        "/api/checks/batch", headers=as_planner(world),
        json={"cadastral_nos": [PARCEL, "nope-1", "nope-2"], "target_use": "school"})
    assert {p["feature"] for p in problems(response)} == {"nope-1", "nope-2"}
    empty = world["client"].post("/api/checks/batch", headers=as_planner(world),
                                 json={"cadastral_nos": []})
    assert problems(empty)[0]["code"] == "no_parcels"
    bad = world["client"].post("/api/checks/batch", headers=as_planner(world),
                               json={"target_use": "schol"})
    assert problems(bad)[0]["column"] == "target_use"


# --------------------------------------------------------------------------- cache


@pytest.fixture
def fresh(demo_copy: Path) -> dict[str, Any]:
    """A writable demo with an app whose constraint cache re-reads its fingerprint always."""
    tokens = make_users(demo_copy, ["planner"])
    client = api_client(demo_copy)
    client.app.state.constraint_cache = ConstraintCache(max_age=0)  # type: ignore[attr-defined]
    client.headers.update(bearer(tokens["planner"]))
    return {"path": demo_copy, "client": client,
            "cache": client.app.state.constraint_cache}  # type: ignore[attr-defined]


def _restriction(path: Path, key: str, restriction_id: str, kind: str) -> gpd.GeoDataFrame:
    with open_workspace(path) as ws:
        parcel = ws.read_layer("parcels", where={"cadastral_no": key}).geometry.iloc[0]
        return gpd.GeoDataFrame({"restriction_id": [restriction_id],
                                 "restriction_type": [kind], "name": ["test corridor"]},
                                geometry=[parcel.buffer(5)], crs=ws.crs)


def _features(data: dict[str, Any]) -> set[str]:
    return {r["feature_id"] for r in data["reasons"] + data["notes"] if r["feature_id"]}


def test_layers_are_built_once_and_rebuilt_when_a_layer_changes(fresh):
    client, cache = fresh["client"], fresh["cache"]
    body = {"cadastral_no": PARCEL, "target_use": "individual_housing"}
    first = client.post("/api/checks", json=body).json()
    client.post("/api/checks", json=body)
    assert cache.builds == 1 and "T-1" not in _features(first)
    with open_workspace(fresh["path"]) as ws:
        ws.import_layer("restrictions", _restriction(fresh["path"], PARCEL, "T-1",
                                                     "road_corridor"), user="test")
    second = client.post("/api/checks", json=body).json()
    assert cache.builds == 2 and "T-1" in _features(second)
    # a replacement with as many features, one code changed, is a change too
    with open_workspace(fresh["path"]) as ws:
        frame = ws.read_layer("restrictions").drop(
            columns=["fid", "area_ha", "row_version", "updated_at", "updated_by"],
            errors="ignore")
        frame.loc[frame["restriction_id"] == "T-1", "restriction_type"] = "sanitary_zone"
        ws.import_layer("restrictions", frame, user="test", mode="replace")
    third = client.post("/api/checks", json=body).json()
    assert cache.builds == 3
    rule = next(r["rule_id"] for r in third["reasons"] + third["notes"]
                if r["feature_id"] == "T-1")
    assert rule.endswith("sanitary_zone")


def test_parcel_edits_need_no_rebuild_but_show_at_once(fresh):
    client, cache = fresh["client"], fresh["cache"]
    client.post("/api/checks", json={"cadastral_no": PARCEL})
    with open_workspace(fresh["path"]) as ws:
        fid = ws.find_parcel(PARCEL)["fid"]
        version = ws.find_parcel(PARCEL)["row_version"]
        ws.update_parcel(fid, {"designated_use": "landfill"}, expected_version=version,
                         user="test")
    data = client.post("/api/checks", json={"cadastral_no": PARCEL}).json()
    assert data["use"] == "landfill" and data["verdict"] == "prohibited"
    assert cache.builds == 1


def test_a_new_or_edited_rulebook_rebuilds(fresh, tmp_path):
    from jer_data import RULEBOOK_DIR

    client, cache = fresh["client"], fresh["cache"]
    body = {"cadastral_no": PARCEL, "target_use": "school"}
    assert client.post("/api/checks", json=body).json()["rulebook"]["version"] != "9-test"
    local = tmp_path / "local.yaml"

    def write(version: str) -> None:
        local.write_text(f"extends: {RULEBOOK_DIR / 'default.yaml'}\n"
                         f"rulebook_version: '{version}'\n", encoding="utf-8")

    write("9-test")
    with open_workspace(fresh["path"]) as ws:
        ws.set_metadata({"rulebook": str(local.resolve())})
    assert client.post("/api/checks", json=body).json()["rulebook"]["version"] == "9-test"
    write("10-test-longer")  # the file edited in place: another size and time
    assert client.post("/api/checks", json=body).json()["rulebook"]["version"] == \
        "10-test-longer"
    assert cache.builds == 3


def test_within_max_age_the_fingerprint_is_not_reread(fresh):
    client = fresh["client"]
    client.app.state.constraint_cache = ConstraintCache(max_age=3600)
    body = {"cadastral_no": PARCEL, "target_use": "individual_housing"}
    client.post("/api/checks", json=body)
    with open_workspace(fresh["path"]) as ws:
        ws.import_layer("restrictions", _restriction(fresh["path"], PARCEL, "T-2",
                                                     "road_corridor"), user="test")
    assert "T-2" not in _features(client.post("/api/checks", json=body).json())
    with open_workspace(fresh["path"]) as ws:
        cached = cached_constraint_layers(client.app.state, ws, max_age=0)
        assert "T-2" in set(cached.layers.restrictions["restriction_id"])
    assert "T-2" in _features(client.post("/api/checks", json=body).json())
    assert constraint_cache(client.app.state).builds == 2


def test_reasons_round_trip_through_the_dataclass(world):
    # the contract fields are Reason's own: the page may rebuild Reason objects from them
    data = check(world, {"cadastral_no": PARCEL, "target_use": "commerce"}, lang="en").json()
    for reason in data["reasons"]:
        Reason(**{**reason, "message": {"en": reason["message"]}})


def test_concurrent_checks_run_together_and_answer_as_single_checks(world, monkeypatch):
    from concurrent.futures import ThreadPoolExecutor
    from types import SimpleNamespace

    from spatial.errors import NotFoundError
    from spatial.zoning import Proposal, check_transformation
    from web.services import CachedConstraints

    passes: list[int] = []
    original = CachedConstraints._pass

    def slow_pass(self: CachedConstraints, batch: list[Any]) -> None:
        passes.append(len(batch))
        if len(passes) == 1:  # hold the first pass so the others queue behind it
            import time

            time.sleep(0.3)
        original(self, batch)

    monkeypatch.setattr(CachedConstraints, "_pass", slow_pass)
    keys = list(world["parcels"]["cadastral_no"][::331][:24])
    uses = ["school", "commerce", None, "individual_housing"]
    jobs = [(key, Proposal(target_use=uses[i % 4])) for i, key in enumerate(keys)]
    jobs.insert(5, ("4-08-99-9999-0000", Proposal()))
    state = SimpleNamespace()

    def run(job: tuple[str, Proposal]) -> Any:
        with open_workspace(world["path"]) as ws:
            cached = cached_constraint_layers(state, ws)
            try:
                return cached.check(ws, job[0], job[1])
            except NotFoundError as exc:
                return exc

    with ThreadPoolExecutor(max_workers=12) as pool:
        answers = list(pool.map(run, jobs))
    assert max(passes) > 1 and sum(passes) == len(jobs)  # several checks in one pass
    with open_workspace(world["path"]) as ws:
        cached = cached_constraint_layers(state, ws)
        for (key, proposal), answer in zip(jobs, answers, strict=True):
            if key.startswith("4-08-99"):
                assert isinstance(answer, NotFoundError) and key in str(answer)
                continue
            frame = ws.read_layer("parcels", where={"cadastral_no": key},
                                  include_personal=False)
            alone = check_transformation(frame, proposal, cached.layers, cached.rulebook)
            assert answer.result.to_dict() == alone.to_dict()
            assert len(answer.overlaps) == len(answer.reasons)


def test_check_import_export_and_invalidation_on_each_backend(store_url):  # noqa: F811
    """The same API over the GeoPackage and PostGIS stores (the demo copied into each)."""
    code, _, err = jer("demo", "--workspace", store_url)
    assert code == 0, err
    tokens = make_users(store_url, ["land_specialist"])
    client = TestClient(create_app(Settings(workspace=store_url)),
                        raise_server_exceptions=False)
    client.app.state.constraint_cache = ConstraintCache(max_age=0)  # type: ignore[attr-defined]
    client.headers.update(bearer(tokens["land_specialist"]))
    body = {"cadastral_no": PARCEL, "target_use": "individual_housing"}
    first = client.post("/api/checks", json=body)
    assert first.status_code == 200, first.text
    assert "T-9" not in _features(first.json())
    with open_workspace(store_url) as ws:
        parcel = ws.read_layer("parcels", where={"cadastral_no": PARCEL}).geometry.iloc[0]
        crs = ws.crs
    corridor = gpd.GeoDataFrame({"restriction_id": ["T-9"], "restriction_type": ["road_corridor"],
                                 "name": ["new road"]}, geometry=[parcel.buffer(3)], crs=crs)
    content = corridor.to_crs(4326).to_json().encode()
    imported = client.post("/api/imports", data={"layer": "restrictions"},
                           files={"file": ("road.geojson", content)})
    assert imported.status_code == 200, imported.text
    assert imported.json()["imported"] == 1
    assert "T-9" in _features(client.post("/api/checks", json=body).json())
    export = client.get("/api/exports/restrictions", params={"format": "geojson"},
                        headers={"Authorization": ""})
    assert export.status_code == 200
    assert "T-9" in {f["properties"]["restriction_id"] for f in export.json()["features"]}

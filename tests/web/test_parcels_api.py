"""The parcels JSON API on the Isfana demo: GeoJSON, ETag/If-Match, history, privacy, XSS."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pytest
import shapely
from fastapi.testclient import TestClient

from spatial.store import open_workspace
from tests.spatial.conftest import CRS, X0, Y0, municipality, store_url  # noqa: F401
from web.app import create_app
from web.auth import add_user, create_token
from web.settings import Settings

XSS = "<script>alert(1)</script>"


def free_squares(path: Path, n: int, *, size: float = 30.0) -> list[dict[str, Any]]:
    """``n`` GeoJSON squares (EPSG:4326) inside the municipality, clear of every parcel."""
    ws = open_workspace(path)
    try:
        boundary = ws.read_layer("municipality").geometry.union_all()
        taken = shapely.union_all(ws.read_layer("parcels", columns=[]).geometry.to_numpy())
        crs = ws.crs
    finally:
        ws.close()
    room = boundary.difference(shapely.buffer(taken, 10.0)).buffer(-size)
    xmin, ymin, xmax, ymax = room.bounds
    xs, ys = np.meshgrid(np.arange(xmin, xmax, 97.0), np.arange(ymin, ymax, 97.0))
    points = shapely.points(xs.ravel(), ys.ravel())
    inside = points[shapely.contains(room, points)][:n]
    assert len(inside) == n, "the demo has room for the test parcels"
    squares = shapely.buffer(inside, size / 2, cap_style="square")
    wgs = gpd.GeoSeries(squares, crs=crs).to_crs(4326)
    return [json.loads(shapely.to_geojson(g)) for g in wgs]


def make_users(path: Path, roles: list[str]) -> dict[str, str]:
    """One account per role (named after it) and its bearer token."""
    ws = open_workspace(path)
    try:
        tokens = {}
        for role in roles:
            add_user(ws, role, role=role, password=f"{role}-password")
            tokens[role] = create_token(ws, role)
        return tokens
    finally:
        ws.close()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def holders_of(path: Path) -> set[str]:
    ws = open_workspace(path)
    try:
        return set(ws.read_layer("parcels", columns=["holder"])["holder"].dropna())
    finally:
        ws.close()


@pytest.fixture
def editor(demo_copy):
    tokens = make_users(demo_copy, ["land_specialist"])
    client = TestClient(create_app(Settings(workspace=str(demo_copy))),
                        raise_server_exceptions=False)
    client.headers.update(bearer(tokens["land_specialist"]))
    return client, demo_copy


def first_parcel(path: Path) -> dict[str, Any]:
    ws = open_workspace(path)
    try:
        return ws.get_parcel(int(ws.read_layer("parcels", columns=[], limit=1)["fid"][0]))
    finally:
        ws.close()


def new_parcel(geometry: dict[str, Any], **properties: Any) -> dict[str, Any]:
    props = {"cadastral_no": "4-08-09-9999-0001", "land_category": "settlement",
             "ownership": "municipal", "in_use": False, "designated_use": "commerce"}
    props.update(properties)
    return {"type": "Feature", "geometry": geometry, "properties": props}


def test_list_is_geojson_in_wgs84_with_filters_and_paging(demo_gpkg):
    client = TestClient(create_app(Settings(workspace=str(demo_gpkg))))
    page = client.get("/api/parcels", params={"limit": 5, "settlement": "Chimgen"})
    assert page.status_code == 200 and page.headers["content-type"] == "application/geo+json"
    data = page.json()
    assert data["type"] == "FeatureCollection" and data["numberReturned"] == 5
    assert {f["properties"]["settlement"] for f in data["features"]} == {"Chimgen"}
    first = shapely.from_geojson(json.dumps(data["features"][0]["geometry"]))
    lon0, lat0, lon1, lat1 = first.bounds
    assert 69 < lon0 < lon1 < 70 and 39 < lat0 < lat1 < 40
    assert data["links"][0]["rel"] == "next" and "offset=5" in data["links"][0]["href"]
    nxt = client.get("/api/parcels", params={"limit": 5, "offset": 5, "settlement": "Chimgen"})
    ids = {f["id"] for f in data["features"]}
    assert ids.isdisjoint({f["id"] for f in nxt.json()["features"]})
    cat = client.get("/api/parcels", params={"limit": 50, "category": "settlement"}).json()
    assert {f["properties"]["land_category"] for f in cat["features"]} == {"settlement"}


def test_bbox_in_wgs84_and_in_workspace_crs_agree(demo_gpkg):
    client = TestClient(create_app(Settings(workspace=str(demo_gpkg))))
    parcel = first_parcel(demo_gpkg)
    xmin, ymin, xmax, ymax = parcel["geometry"].bounds
    native = client.get("/api/parcels", params={
        "bbox": f"{xmin},{ymin},{xmax},{ymax}", "bbox-crs": "EPSG:32642"}).json()
    assert parcel["cadastral_no"] in {f["id"] for f in native["features"]}
    box = gpd.GeoSeries([shapely.box(xmin, ymin, xmax, ymax)], crs=32642).to_crs(4326)
    w = box.total_bounds
    wgs = client.get("/api/parcels", params={"bbox": ",".join(map(str, w))}).json()
    assert parcel["cadastral_no"] in {f["id"] for f in wgs["features"]}
    assert 0 < native["numberReturned"] < 50
    bad = client.get("/api/parcels", params={"bbox": "1,2,3"})
    assert bad.status_code == 400 and "four numbers" in bad.json()["message"]


def test_get_one_has_etag_and_404(demo_gpkg):
    client = TestClient(create_app(Settings(workspace=str(demo_gpkg))))
    parcel = first_parcel(demo_gpkg)
    one = client.get(f"/api/parcels/{parcel['cadastral_no']}")
    assert one.status_code == 200
    assert one.headers["etag"] == f'"{parcel["row_version"]}"'
    assert one.json()["properties"]["area_ha"] == pytest.approx(parcel["area_ha"])
    assert client.get("/api/parcels/0-00-00-0000-0000").status_code == 404


def test_public_responses_never_contain_holders(demo_gpkg):
    holders = holders_of(demo_gpkg)
    assert len(holders) > 100
    client = TestClient(create_app(Settings(workspace=str(demo_gpkg))))
    bodies = []
    offset = 0
    while True:
        page = client.get("/api/parcels", params={"limit": 5000, "offset": offset})
        assert page.status_code == 200
        bodies.append(page.text)
        if page.json()["numberReturned"] < 5000:
            break
        offset += 5000
    parcel = first_parcel(demo_gpkg)
    bodies.append(client.get(f"/api/parcels/{parcel['cadastral_no']}").text)
    bodies.append(client.get(f"/api/parcels/{parcel['cadastral_no']}/history").text)
    text = "".join(bodies)
    assert '"holder"' not in text
    assert not [h for h in holders if h in text]
    assert parcel["holder"] in holders


def test_create_returns_201_location_etag_and_validates(editor):
    client, path = editor
    square = free_squares(path, 1)[0]
    created = client.post("/api/parcels", json=new_parcel(square))
    assert created.status_code == 201, created.text
    assert created.headers["location"] == "/api/parcels/4-08-09-9999-0001"
    assert created.headers["etag"] == '"1"'
    assert created.json()["properties"]["updated_by"] == "land_specialist"
    assert client.get(created.headers["location"]).status_code == 200
    bad = client.post("/api/parcels", json=new_parcel(
        square, cadastral_no="4-08-09-9999-0001", land_category="moon", ownership=None))
    assert bad.status_code == 422
    codes = {p["code"] for p in bad.json()["problems"]}
    assert len(bad.json()["problems"]) >= 3, codes  # duplicate key, bad code, missing value


def test_put_needs_if_match_and_stale_version_writes_nothing(editor):
    client, path = editor
    parcel = first_parcel(path)
    url = f"/api/parcels/{parcel['cadastral_no']}"
    etag = client.get(url).headers["etag"]
    missing = client.put(url, json={"properties": {"designated_use": "school"}})
    assert missing.status_code == 428
    first = client.put(url, json={"properties": {"designated_use": "health"}},
                       headers={"If-Match": etag})
    assert first.status_code == 200 and first.headers["etag"] == f'"{parcel["row_version"] + 1}"'
    second = client.put(url, json={"properties": {"designated_use": "culture"}},
                        headers={"If-Match": etag})
    assert second.status_code == 412
    assert second.headers["etag"] == first.headers["etag"]
    now = client.get(url)
    assert now.json()["properties"]["designated_use"] == "health"
    assert now.headers["etag"] == first.headers["etag"]
    assert client.put(url, json={"properties": {}}, headers={"If-Match": "W/x"}).status_code == 400


def test_put_moves_geometry_and_keeps_left_out_values(editor):
    client, path = editor
    parcel = first_parcel(path)
    url = f"/api/parcels/{parcel['cadastral_no']}"
    square = free_squares(path, 1)[0]
    response = client.put(url, json={"geometry": square, "properties": {}},
                          headers={"If-Match": f'"{parcel["row_version"]}"'})
    assert response.status_code == 200, response.text
    assert response.json()["properties"]["area_ha"] == pytest.approx(0.09, rel=0.05)
    assert response.json()["properties"]["holder"] == parcel["holder"]


def test_delete_with_if_match_then_history_and_restore(editor):
    client, path = editor
    parcel = first_parcel(path)
    url = f"/api/parcels/{parcel['cadastral_no']}"
    version = parcel["row_version"]
    assert client.delete(url).status_code == 428
    assert client.delete(url, headers={"If-Match": f'"{version + 5}"'}).status_code == 412
    assert client.get(url).status_code == 200
    assert client.delete(url, headers={"If-Match": f'"{version}"'}).status_code == 204
    assert client.get(url).status_code == 404
    history = client.get(f"{url}/history").json()
    assert [h["action"] for h in history][:1] == ["delete"]
    assert history[0]["snapshot"]["holder"] == parcel["holder"]  # editor may read personal
    assert history[0]["snapshot"]["geometry"]["type"] in ("Polygon", "MultiPolygon")
    restored = client.post(f"{url}/restore", json={"version": version})
    assert restored.status_code == 200, restored.text
    assert restored.headers["etag"] == f'"{version + 2}"'
    assert client.get(url).json()["properties"]["holder"] == parcel["holder"]
    assert client.post(f"{url}/restore", json={"version": 99}).status_code == 404


def test_public_history_has_no_personal_columns(editor, demo_copy):
    client, path = editor
    parcel = first_parcel(path)
    url = f"/api/parcels/{parcel['cadastral_no']}"
    client.put(url, json={"properties": {"holder": "Жаңы Ээси Тест"}},
               headers={"If-Match": f'"{parcel["row_version"]}"'})
    private = client.get(f"{url}/history").text
    assert "Жаңы Ээси Тест" in private
    public = TestClient(create_app(Settings(workspace=str(path)))).get(f"{url}/history")
    assert public.status_code == 200 and len(public.json()) >= 1
    assert "Жаңы Ээси Тест" not in public.text and parcel["holder"] not in public.text
    assert '"holder"' not in public.text


def test_script_in_attributes_is_data_in_json_and_escaped_in_pages(editor):
    client, path = editor
    square = free_squares(path, 1)[0]
    created = client.post("/api/parcels", json=new_parcel(
        square, settlement=XSS, holder=XSS))
    assert created.status_code == 201, created.text
    assert created.headers["content-type"] == "application/geo+json"
    assert created.headers["x-content-type-options"] == "nosniff"
    assert "Authorization" in created.headers["vary"]
    got = client.get(created.headers["location"]).json()["properties"]
    assert got["settlement"] == XSS
    page = client.get("/?lang=en")
    assert page.status_code == 200
    assert XSS not in page.text
    # The balance page lists settlements: the name must be there, escaped.
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text


def test_openapi_documents_parcels_with_models_and_concurrency_codes(demo_gpkg):
    spec = TestClient(create_app(Settings(workspace=str(demo_gpkg)))).get("/openapi.json").json()
    paths = spec["paths"]
    listing = paths["/api/parcels"]["get"]["responses"]["200"]["content"]
    assert listing["application/geo+json"]["schema"]["$ref"].endswith("/ParcelCollection")
    put = paths["/api/parcels/{cadastral_no}"]["put"]
    assert {"412", "428", "422"} <= set(put["responses"])
    assert any(p["name"] == "if-match" for p in put["parameters"])
    assert {"bbox", "bbox-crs", "category", "settlement", "limit", "offset"} <= {
        p["name"] for p in paths["/api/parcels"]["get"]["parameters"]}
    assert "holder" in spec["components"]["schemas"]["ParcelProperties"]["properties"]
    assert set(spec["components"]["securitySchemes"]) == {"bearer", "basic", "session"}


def test_a_feature_read_can_be_sent_back_unchanged(editor):
    client, path = editor
    ws = open_workspace(path)
    try:
        leased = ws.read_layer("parcels", columns=["cadastral_no", "lease_until"])
        key = str(leased.dropna(subset=["lease_until"])["cadastral_no"].iloc[0])
    finally:
        ws.close()
    url = f"/api/parcels/{key}"
    read = client.get(url)
    feature = read.json()
    assert feature["properties"]["lease_until"]
    back = client.put(url, json=feature, headers={"If-Match": read.headers["etag"]})
    assert back.status_code == 200, back.text
    assert back.json()["properties"]["lease_until"] == feature["properties"]["lease_until"]
    assert back.json()["properties"]["area_ha"] == feature["properties"]["area_ha"]
    latest = client.get(f"{url}/history").json()[0]
    assert latest["action"] == "update" and "geometry" not in latest["changes"]


def test_create_and_stale_put_on_each_backend(store_url):  # noqa: F811 - imported fixture
    from spatial.store import create_workspace

    workspace = create_workspace(store_url, municipality(), user="creator")
    try:
        add_user(workspace, "editor", role="land_specialist", password="editor-password")
        token = create_token(workspace, "editor")
    finally:
        workspace.close()
    client = TestClient(create_app(Settings(workspace=store_url)), raise_server_exceptions=False)
    client.headers.update(bearer(token))
    square = gpd.GeoSeries([shapely.box(X0 + 100, Y0 + 100, X0 + 150, Y0 + 150)], crs=CRS)
    geometry = json.loads(shapely.to_geojson(square.to_crs(4326).iloc[0]))
    created = client.post("/api/parcels", json=new_parcel(geometry, holder="Ээси Бир"))
    assert created.status_code == 201, created.text
    url = created.headers["location"]
    assert created.json()["properties"]["area_ha"] == pytest.approx(0.25, rel=1e-6)
    first = client.put(url, json={"properties": {"in_use": True}}, headers={"If-Match": '"1"'})
    second = client.put(url, json={"properties": {"in_use": False}}, headers={"If-Match": '"1"'})
    assert (first.status_code, second.status_code) == (200, 412)
    assert client.get(url).json()["properties"]["in_use"] is True
    public = TestClient(client.app).get(url)
    assert public.status_code == 200 and "Ээси Бир" not in public.text


def _problem(response: Any, column: str) -> dict[str, Any]:
    assert response.status_code == 422, response.text
    return next(p for p in response.json()["problems"] if p["column"] == column)


def _parcel_count(path: Path) -> int:
    ws = open_workspace(path)
    try:
        return ws.count("parcels")
    finally:
        ws.close()


def test_unknown_use_or_category_is_422_naming_value_column_and_codes_nothing_written(editor):
    from spatial.zoning import load_rulebook

    client, path = editor
    uses = list(load_rulebook().uses)
    count = _parcel_count(path)
    square = free_squares(path, 1)[0]
    bad = client.post("/api/parcels", json=new_parcel(square, designated_use="villa"))
    problem = _problem(bad, "designated_use")
    assert problem["code"] == "unknown_code" and "'villa'" in problem["message"]
    assert ", ".join(uses) in problem["message"]
    assert problem["details"] == {"value": "villa", "allowed": uses}
    assert client.get("/api/parcels/4-08-09-9999-0001").status_code == 404
    assert _parcel_count(path) == count

    parcel = first_parcel(path)
    url = f"/api/parcels/{parcel['cadastral_no']}"
    before = client.get(url)
    history = client.get(f"{url}/history").json()
    for column, value in (("designated_use", "individual housing"),
                          ("land_category", "farmland")):
        response = client.put(url, json={"properties": {column: value}},
                              headers={"If-Match": before.headers["etag"]})
        problem = _problem(response, column)
        assert repr(value) in problem["message"] and problem["feature"] == parcel["cadastral_no"]
    assert "did you mean 'individual_housing'?" in client.put(
        url, json={"properties": {"designated_use": "individual housing"}},
        headers={"If-Match": before.headers["etag"]}).json()["problems"][0]["message"]
    after = client.get(url)
    assert after.json() == before.json() and after.headers["etag"] == before.headers["etag"]
    assert client.get(f"{url}/history").json() == history


def test_ogc_edits_and_imports_refuse_an_unknown_use_too(editor, tmp_path):
    client, path = editor
    count = _parcel_count(path)
    square = free_squares(path, 1)[0]
    created = client.post("/ogc/collections/parcels/items",
                          json=new_parcel(square, designated_use="villa"))
    assert "'villa'" in _problem(created, "designated_use")["message"]
    first = client.get("/ogc/collections/parcels/items?limit=1").json()["features"][0]
    item_url = f"/ogc/collections/parcels/items/{first['id']}"
    item = client.get(item_url).json()
    use = item["properties"]["designated_use"]
    item["properties"]["designated_use"] = "dacha"
    replaced = client.put(item_url, json=item)
    assert "'dacha'" in _problem(replaced, "designated_use")["message"]
    assert client.get(item_url).json()["properties"]["designated_use"] == use

    frame = gpd.GeoDataFrame(
        [new_parcel(square)["properties"] | {"designated_use": "summer house"}],
        geometry=[shapely.from_geojson(json.dumps(square))], crs=4326)
    frame.to_file(tmp_path / "one.geojson", driver="GeoJSON")
    imported = client.post("/api/imports", data={"layer": "parcels"},
                           files={"file": ("one.geojson", (tmp_path / "one.geojson").read_bytes())})
    problem = _problem(imported, "designated_use")
    assert problem["row"] == 0 and "'summer house'" in problem["message"]
    assert _parcel_count(path) == count


def test_a_use_the_workspace_rulebook_adds_is_accepted(editor, tmp_path):
    client, path = editor
    book = tmp_path / "municipal.yaml"
    book.write_text("extends: default.yaml\nuses:\n  orchard_cooperative:\n"
                    "    name: {ky: бак, ru: сад, en: orchard}\n    categories: [agricultural]\n",
                    encoding="utf-8")
    parcel = first_parcel(path)
    url = f"/api/parcels/{parcel['cadastral_no']}"
    etag = {"If-Match": f'"{parcel["row_version"]}"'}
    body = {"properties": {"designated_use": "orchard_cooperative"}}
    assert client.put(url, json=body, headers=etag).status_code == 422
    ws = open_workspace(path)
    try:
        ws.set_metadata({"rulebook": str(book)})
    finally:
        ws.close()
    changed = client.put(url, json=body, headers=etag)
    assert changed.status_code == 200, changed.text
    assert changed.json()["properties"]["designated_use"] == "orchard_cooperative"

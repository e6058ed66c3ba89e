"""OGC API - Features under /ogc on the Isfana demo: the contract QGIS relies on, CRS and
axis order (Part 2), editing through Part 4 into the web app's history, roles, privacy.
"""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pytest
import shapely
from fastapi.testclient import TestClient
from pyproj import Transformer
from typer.testing import CliRunner

from spatial.store import create_workspace, open_workspace
from tests.spatial.conftest import (  # noqa: F401
    CRS,
    X0,
    Y0,
    municipality,
    parcel_grid,
    store_url,
)
from tests.web.test_parcels_api import bearer, free_squares, holders_of, make_users
from web.app import create_app
from web.cli import app as cli_app
from web.ogc import CRS84, DEFAULT_LIMIT, MAX_LIMIT, OPENAPI_30
from web.settings import Settings

EPSG4326 = "http://www.opengis.net/def/crs/EPSG/0/4326"
EPSG32642 = "http://www.opengis.net/def/crs/EPSG/0/32642"
CORE = "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/"
REQUIRED_CLASSES = {
    CORE + "core", CORE + "geojson", CORE + "oas30",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
    "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/create-replace-delete",
}


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def href(doc: dict[str, Any], rel: str) -> dict[str, str]:
    return next(link for link in doc["links"] if link["rel"] == rel)


@pytest.fixture(scope="module")
def world(demo_gpkg: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A writable demo copy with an editor and a planner, shared by the module."""
    path = tmp_path_factory.mktemp("ogc") / "isfana.gpkg"
    shutil.copyfile(demo_gpkg, path)
    tokens = make_users(path, ["land_specialist", "planner"])
    client = TestClient(create_app(Settings(workspace=str(path))), raise_server_exceptions=False)
    return {"path": path, "tokens": tokens, "client": client,
            "editor": bearer(tokens["land_specialist"]),
            "squares": free_squares(path, 6)}


@pytest.fixture(scope="module")
def public(demo_gpkg: Path) -> TestClient:
    return TestClient(create_app(Settings(workspace=str(demo_gpkg))),
                      raise_server_exceptions=False)


def counts(path: Path) -> dict[str, int]:
    with open_workspace(path) as ws:
        return {layer: ws.count(layer) for layer in ws.layers()}


# --------------------------------------------------------------------------- contract


def test_contract_as_qgis_reads_it(world: dict[str, Any]) -> None:
    """Landing links, OpenAPI limit, collections, paging by next to the end, OPTIONS."""
    client: TestClient = world["client"]
    landing = client.get("/ogc")
    assert landing.status_code == 200
    doc = landing.json()
    desc = href(doc, "service-desc")
    assert desc["type"] == OPENAPI_30
    api = client.get(desc["href"])
    assert api.status_code == 200 and api.headers["content-type"] == OPENAPI_30
    openapi = api.json()
    assert openapi["openapi"].startswith("3.0.")
    limit = openapi["components"]["parameters"]["limit"]
    assert limit["schema"]["maximum"] == MAX_LIMIT and limit["schema"]["default"] == DEFAULT_LIMIT
    items_get = openapi["paths"]["/collections/{collectionId}/items"]["get"]
    assert {"$ref": "#/components/parameters/limit"} in items_get["parameters"]
    assert "patch" not in openapi["paths"]["/collections/{collectionId}/items/{featureId}"]

    conformance = client.get(href(doc, "conformance")["href"]).json()
    assert set(conformance["conformsTo"]) >= REQUIRED_CLASSES

    collections = client.get(href(doc, "data")["href"]).json()["collections"]
    expected = counts(world["path"])
    assert [c["id"] for c in collections] == list(expected)
    for collection in collections:
        assert collection["itemCount"] == expected[collection["id"]]
        assert collection["crs"][0] == CRS84 and {EPSG4326, EPSG32642} <= set(collection["crs"])
        assert collection["storageCrs"] == EPSG32642
        lon0, lat0, lon1, lat1 = collection["extent"]["spatial"]["bbox"][0]
        assert 69 < lon0 < lon1 < 70 and 39 < lat0 < lat1 < 40
        assert collection["extent"]["spatial"]["crs"] == CRS84

    parcels = next(c for c in collections if c["id"] == "parcels")
    url = href(parcels, "items")["href"] + "?limit=3000"
    ids: list[int] = []
    pages = 0
    while url:
        page = client.get(url)
        assert page.status_code == 200
        assert page.headers["content-type"] == "application/geo+json"
        assert page.headers["content-crs"] == f"<{CRS84}>"
        body = page.json()
        assert body["numberMatched"] == expected["parcels"]
        assert body["numberReturned"] == len(body["features"])
        ids += [f["id"] for f in body["features"]]
        nxt = [link for link in body["links"] if link["rel"] == "next"]
        url = nxt[0]["href"] if nxt else None
        pages += 1
    assert pages == 4 and len(ids) == expected["parcels"]
    assert ids == sorted(set(ids))  # stable fid order, nothing twice, nothing skipped

    anonymous = client.options("/ogc/collections/parcels/items")
    assert anonymous.status_code == 204 and anonymous.headers["allow"] == "GET, OPTIONS"
    editor = client.options("/ogc/collections/parcels/items", headers=world["editor"])
    assert editor.headers["allow"] == "GET, OPTIONS, POST"
    item = client.options(f"/ogc/collections/parcels/items/{ids[0]}", headers=world["editor"])
    assert item.headers["allow"] == "GET, OPTIONS, PUT, DELETE"
    planner = client.options(f"/ogc/collections/parcels/items/{ids[0]}",
                             headers=bearer(world["tokens"]["planner"]))
    assert planner.headers["allow"] == "GET, OPTIONS"
    zones = client.options("/ogc/collections/zones/items", headers=world["editor"])
    assert zones.headers["allow"] == "GET, OPTIONS"  # reference layers are read-only


def test_limit_above_the_maximum_is_served_as_the_maximum(public: TestClient) -> None:
    page = public.get("/ogc/collections/parcels/items", params={"limit": 50_000})
    body = page.json()
    assert page.status_code == 200
    assert body["numberReturned"] == min(MAX_LIMIT, body["numberMatched"])
    assert f"limit={MAX_LIMIT}" in href(body, "self")["href"]
    assert public.get("/ogc/collections/parcels/items?limit=0").status_code == 400
    assert public.get("/ogc/collections/parcels/items?offset=-1").status_code == 400


# --------------------------------------------------------------------------- CRS


def test_axis_order_crs84_lon_lat_epsg4326_lat_lon(public: TestClient, demo_gpkg: Path) -> None:
    with open_workspace(demo_gpkg) as ws:
        stored = ws.read_layer("parcels", limit=1)
    fid = int(stored["fid"].iloc[0])
    x, y = stored.geometry.iloc[0].exterior.coords[0]
    # pyproj without always_xy answers in the authority order of EPSG:4326: lat, lon.
    lat, lon = Transformer.from_crs(32642, 4326).transform(x, y)
    assert 39 < lat < 40 < 69 < lon < 70

    def first_vertex(crs: str | None) -> tuple[list[float], str]:
        params = {} if crs is None else {"crs": crs}
        response = public.get(f"/ogc/collections/parcels/items/{fid}", params=params)
        assert response.status_code == 200
        return response.json()["geometry"]["coordinates"][0][0], response.headers["content-crs"]

    vertex, header = first_vertex(None)
    assert header == f"<{CRS84}>" and vertex == pytest.approx([lon, lat], abs=1e-9)
    vertex, header = first_vertex(EPSG4326)
    assert header == f"<{EPSG4326}>" and vertex == pytest.approx([lat, lon], abs=1e-9)
    vertex, header = first_vertex("[EPSG:32642]")
    assert header == f"<{EPSG32642}>" and vertex == pytest.approx([x, y], abs=1e-6)

    # bbox in EPSG:4326 is lat-first too; the same numbers as lon-first find nothing here.
    box = [lat - 1e-5, lon - 1e-5, lat + 1e-5, lon + 1e-5]
    hits = public.get("/ogc/collections/parcels/items", params={
        "bbox": ",".join(map(str, box)), "bbox-crs": EPSG4326}).json()
    assert fid in {f["id"] for f in hits["features"]}
    swapped = public.get("/ogc/collections/parcels/items", params={
        "bbox": ",".join(map(str, [lon - 1e-5, lat - 1e-5, lon + 1e-5, lat + 1e-5])),
        "bbox-crs": EPSG4326}).json()
    assert swapped["numberMatched"] == 0
    crs84 = public.get("/ogc/collections/parcels/items", params={
        "bbox": ",".join(map(str, [lon - 1e-5, lat - 1e-5, lon + 1e-5, lat + 1e-5]))}).json()
    assert {f["id"] for f in crs84["features"]} == {f["id"] for f in hits["features"]}

    bad = public.get("/ogc/collections/parcels/items", params={"crs": "EPSG:3857"})
    assert bad.status_code == 400 and "not offered" in bad.json()["message"]


def test_bbox_count_filters_and_properties(public: TestClient, demo_gpkg: Path) -> None:
    with open_workspace(demo_gpkg) as ws:
        xmin, ymin, xmax, ymax = ws.read_layer("parcels", limit=1).geometry.iloc[0].buffer(
            300).bounds
        expected = ws.read_layer("parcels", bbox=(xmin, ymin, xmax, ymax))
    page = public.get("/ogc/collections/parcels/items", params={
        "bbox": f"{xmin},{ymin},{xmax},{ymax}", "bbox-crs": EPSG32642, "limit": 10}).json()
    assert page["numberMatched"] == len(expected) > 10
    assert [f["id"] for f in page["features"]] == expected["fid"].tolist()[:10]

    settlement = public.get("/ogc/collections/parcels/items", params={
        "land_category": "settlement", "in_use": "true", "limit": 50}).json()
    assert {f["properties"]["land_category"] for f in settlement["features"]} == {"settlement"}
    assert {f["properties"]["in_use"] for f in settlement["features"]} == {True}
    with open_workspace(demo_gpkg) as ws:
        in_use = ws.read_layer("parcels", columns=[], where={"land_category": "settlement",
                                                             "in_use": True})
    assert settlement["numberMatched"] == len(in_use) > 50
    narrow = public.get("/ogc/collections/parcels/items", params={
        "properties": "cadastral_no,area_ha", "limit": 2}).json()
    assert set(narrow["features"][0]["properties"]) == {"cadastral_no", "area_ha"}
    for params, word in [({"foo": "1"}, "unknown query parameter"),
                         ({"properties": "nope"}, "unknown properties"),
                         ({"in_use": "maybe"}, "is not a boolean"),
                         ({"bbox": "1,2,3"}, "4 numbers"),
                         ({"bbox": "70,40,69,39"}, "lower corner")]:
        bad = public.get("/ogc/collections/parcels/items", params=params)
        assert bad.status_code == 400 and word in bad.json()["message"], params
    assert public.get("/ogc/collections/roads/items").status_code == 404
    assert public.get("/ogc/collections/parcels/items/999999").status_code == 404
    assert public.get("/ogc/collections/parcels/items/abc").status_code == 404


def test_reference_layers_and_queryables(public: TestClient, demo_gpkg: Path) -> None:
    water = public.get("/ogc/collections/water_bodies/items").json()
    assert {f["geometry"]["type"] for f in water["features"]} == {"LineString", "Point"}
    one = public.get(f"/ogc/collections/water_bodies/items/{water['features'][0]['id']}")
    assert one.status_code == 200 and one.headers["etag"].startswith('W/"')
    queryables = public.get("/ogc/collections/parcels/queryables")
    assert queryables.headers["content-type"] == "application/schema+json"
    props = queryables.json()["properties"]
    assert "holder" not in props and props["lease_until"] == {
        "title": "lease_until", "type": "string", "format": "date"}
    assert "settlement" in props["land_category"]["enum"]
    assert props["row_version"]["readOnly"] is True


# --------------------------------------------------------------------------- privacy


def strings(document: Any) -> set[str]:
    """Every string value (and key) in a JSON document."""
    if isinstance(document, str):
        return {document}
    if isinstance(document, dict):
        return set(document) | set().union(*map(strings, document.values()))
    if isinstance(document, list):
        return set().union(*map(strings, document))
    return set()


def test_public_never_sees_holders_anywhere(public: TestClient, demo_gpkg: Path) -> None:
    holders = holders_of(demo_gpkg)
    assert len(holders) > 100
    seen = set().union(*(strings(public.get(path).json()) for path in (
        "/ogc", "/ogc/api", "/ogc/collections", "/ogc/collections/parcels",
        "/ogc/collections/parcels/queryables", "/ogc/collections/parcels/items/1")))
    url: str | None = f"/ogc/collections/parcels/items?limit={MAX_LIMIT}"
    pages = 0
    while url:
        body = public.get(url).json()
        assert all("holder" not in f["properties"] for f in body["features"])
        seen |= strings(body)
        url = next((link["href"] for link in body["links"] if link["rel"] == "next"), None)
        pages += 1
    assert pages == 1 and "holder" not in seen and not holders & seen
    assert public.get("/ogc/collections/parcels/items",
                      params={"holder": sorted(holders)[0]}).status_code == 400
    assert public.get("/ogc/collections/parcels/items",
                      params={"properties": "holder"}).status_code == 400


def test_editors_see_holders(world: dict[str, Any]) -> None:
    client: TestClient = world["client"]
    page = client.get("/ogc/collections/parcels/items", params={"limit": 5},
                      headers=world["editor"]).json()
    assert all("holder" in f["properties"] for f in page["features"])
    assert "holder" in client.get("/ogc/collections/parcels/queryables",
                                  headers=world["editor"]).json()["properties"]


def test_unpublished_collections_are_hidden_from_the_public(world: dict[str, Any]) -> None:
    client: TestClient = world["client"]
    runner = CliRunner()
    result = runner.invoke(cli_app, ["publish", "zones", "--off", "--workspace",
                                     str(world["path"]), "--format", "json"])
    assert result.exit_code == 0 and json.loads(result.stdout)["zones"] is False
    assert runner.invoke(cli_app, ["publish", "municipality", "--off", "--workspace",
                                   str(world["path"])]).exit_code == 0
    try:
        ids = [c["id"] for c in client.get("/ogc/collections").json()["collections"]]
        assert "zones" not in ids and "municipality" not in ids and "parcels" in ids
        assert client.get("/ogc").json()["title"] == "Jer"  # not even the name
        for path in ("/ogc/collections/zones", "/ogc/collections/zones/items",
                     "/ogc/collections/zones/items/1", "/ogc/collections/zones/queryables"):
            assert client.get(path).status_code == 404, path
        planner = bearer(world["tokens"]["planner"])
        assert "zones" in [c["id"] for c in
                           client.get("/ogc/collections", headers=planner).json()["collections"]]
        assert client.get("/ogc/collections/zones/items", headers=planner).status_code == 200
        assert client.get("/ogc", headers=planner).json()["title"].startswith("Jer: ")
    finally:
        for layer in ("zones", "municipality"):
            result = runner.invoke(cli_app, ["publish", layer, "--workspace", str(world["path"])])
            assert result.exit_code == 0
    assert client.get("/ogc/collections/zones/items").status_code == 200
    missing = runner.invoke(cli_app, ["publish", "roads", "--workspace", str(world["path"])])
    assert missing.exit_code == 1 and "no layer 'roads'" in missing.stderr


# --------------------------------------------------------------------------- editing


def feature(geometry: dict[str, Any], cadastral_no: str, **properties: Any) -> dict[str, Any]:
    props = {"cadastral_no": cadastral_no, "land_category": "settlement",
             "ownership": "municipal", "in_use": False, "designated_use": "commerce"}
    props.update(properties)
    return {"type": "Feature", "geometry": geometry, "properties": props}


def history(client: TestClient, cadastral_no: str, headers: dict[str, str]) -> list[Any]:
    response = client.get(f"/api/parcels/{cadastral_no}/history", headers=headers)
    assert response.status_code == 200
    return response.json()


def test_create_replace_delete_round_trip_in_the_web_history(world: dict[str, Any]) -> None:
    client: TestClient = world["client"]
    editor = world["editor"]
    key = "4-08-09-9997-0001"
    created = client.post("/ogc/collections/parcels/items", headers=editor,
                          json=feature(world["squares"][0], key))
    assert created.status_code == 201, created.text
    location = created.headers["location"]
    fid = created.json()["id"]
    assert location.endswith(f"/ogc/collections/parcels/items/{fid}")
    assert created.headers["etag"] == '"1"'

    read = client.get(location, headers=editor)
    assert read.status_code == 200 and read.headers["etag"] == '"1"'
    sent = read.json()
    sent["properties"]["designated_use"] = "school"
    replaced = client.put(location, headers=editor, json=sent)
    assert replaced.status_code == 200, replaced.text
    assert replaced.headers["etag"] == '"2"'
    assert replaced.json()["properties"]["designated_use"] == "school"

    entries = history(client, key, editor)
    assert [e["action"] for e in entries] == ["update", "create"]
    assert {e["user"] for e in entries} == {"land_specialist"}
    # The geometry went out in degrees and came back: not recorded as a change.
    assert set(entries[0]["changes"]) == {"designated_use"}

    deleted = client.delete(location, headers=editor)
    assert deleted.status_code == 204
    assert client.get(location, headers=editor).status_code == 404
    entries = history(client, key, editor)
    assert [e["action"] for e in entries] == ["delete", "update", "create"]
    assert entries[0]["user"] == "land_specialist"


def test_stale_replace_is_refused_and_changes_nothing(world: dict[str, Any]) -> None:
    client: TestClient = world["client"]
    editor = world["editor"]
    created = client.post("/ogc/collections/parcels/items", headers=editor,
                          json=feature(world["squares"][1], "4-08-09-9997-0002"))
    location = created.headers["location"]
    first = client.get(location, headers=editor).json()
    mine = json.loads(json.dumps(first))
    mine["properties"]["designated_use"] = "health"
    assert client.put(location, headers=editor, json=mine).status_code == 200
    before = client.get(location, headers=editor)

    theirs = json.loads(json.dumps(first))  # still at row_version 1
    theirs["properties"]["designated_use"] = "culture"
    stale = client.put(location, headers=editor, json=theirs)
    assert stale.status_code == 412 and stale.headers["etag"] == '"2"'
    assert "nothing was written" in stale.json()["detail"]
    after = client.get(location, headers=editor)
    assert after.json() == before.json() and after.headers["etag"] == '"2"'
    assert len(history(client, "4-08-09-9997-0002", editor)) == 2

    del theirs["properties"]["row_version"]
    missing = client.put(location, headers=editor, json=theirs)
    assert missing.status_code == 428
    by_header = client.put(location, headers={**editor, "If-Match": '"2"'}, json=theirs)
    assert by_header.status_code == 200 and by_header.headers["etag"] == '"3"'
    theirs["properties"]["row_version"] = 2
    clash = client.put(location, headers={**editor, "If-Match": '"3"'}, json=theirs)
    assert clash.status_code == 400 and "If-Match names version 3" in clash.json()["message"]

    stale_delete = client.delete(location, headers={**editor, "If-Match": '"1"'})
    assert stale_delete.status_code == 412
    assert client.get(location, headers=editor).status_code == 200


def test_replace_is_a_full_replace_and_validated(world: dict[str, Any]) -> None:
    client: TestClient = world["client"]
    editor = world["editor"]
    created = client.post("/ogc/collections/parcels/items", headers=editor,
                          json=feature(world["squares"][2], "4-08-09-9997-0003",
                                       holder="Асан Усонов"))
    location = created.headers["location"]
    body = client.get(location, headers=editor).json()
    body["properties"] = {k: v for k, v in body["properties"].items()
                          if k not in ("designated_use", "holder")}
    replaced = client.put(location, headers=editor, json=body).json()["properties"]
    assert replaced["designated_use"] is None and replaced["holder"] is None

    count_before = counts(world["path"])["parcels"]
    other = client.get("/ogc/collections/parcels/items", params={"limit": 1}).json()
    overlapping = feature(other["features"][0]["geometry"], "4-08-09-9997-0004")
    refused = client.post("/ogc/collections/parcels/items", headers=editor, json=overlapping)
    assert refused.status_code == 422
    assert refused.json()["problems"] and counts(world["path"])["parcels"] == count_before

    body = client.get(location, headers=editor).json()
    body["properties"]["land_category"] = "moon_base"
    invalid = client.put(location, headers=editor, json=body)
    assert invalid.status_code == 422 and "land_category" in invalid.text
    assert client.get(location, headers=editor).headers["etag"] == '"2"'
    for raw, word in [(b"not json", "not JSON"), (b'{"type": "FeatureCollection"}', "Feature")]:
        bad = client.post("/ogc/collections/parcels/items", headers=editor, content=raw)
        assert bad.status_code == 400 and word in bad.json()["message"]


def test_content_crs_of_a_sent_feature(world: dict[str, Any]) -> None:
    """A geometry sent in EPSG:4326 (lat, lon) lands where the same one in CRS84 would."""
    client: TestClient = world["client"]
    editor = world["editor"]
    square = world["squares"][3]
    lat_lon = {"type": "Polygon",
               "coordinates": [[[lat, lon] for lon, lat in square["coordinates"][0]]]}
    created = client.post("/ogc/collections/parcels/items", json=feature(
        lat_lon, "4-08-09-9997-0005"), headers={**editor, "Content-Crs": f"<{EPSG4326}>"})
    assert created.status_code == 201, created.text
    assert created.headers["content-crs"] == f"<{EPSG4326}>"
    with open_workspace(world["path"]) as ws:
        stored = ws.get_parcel(created.json()["id"])["geometry"]
    expected = gpd.GeoSeries([shapely.from_geojson(json.dumps(square))], crs=4326).to_crs(
        CRS).iloc[0]
    assert shapely.equals_exact(shapely.normalize(stored), shapely.normalize(expected), 1e-3)
    bad = client.post("/ogc/collections/parcels/items", json=feature(square, "X"),
                      headers={**editor, "Content-Crs": "<http://example.com/crs>"})
    assert bad.status_code == 400 and "Content-Crs" in bad.json()["message"]


def test_roles_and_authentication_schemes(world: dict[str, Any]) -> None:
    client: TestClient = world["client"]
    body = feature(world["squares"][4], "4-08-09-9997-0006")
    assert client.post("/ogc/collections/parcels/items", json=body).status_code == 401
    planner = bearer(world["tokens"]["planner"])
    assert client.post("/ogc/collections/parcels/items", json=body,
                       headers=planner).status_code == 403
    wrong = client.get("/ogc/collections", headers=basic("land_specialist", "wrong-password"))
    assert wrong.status_code == 401
    by_basic = client.post("/ogc/collections/parcels/items", json=body,
                           headers=basic("land_specialist", "land_specialist-password"))
    assert by_basic.status_code == 201, by_basic.text
    entries = history(client, "4-08-09-9997-0006", world["editor"])
    assert entries[0]["user"] == "land_specialist"
    zones = client.post("/ogc/collections/zones/items", json=body, headers=world["editor"])
    assert zones.status_code == 403 and "read-only" in zones.json()["message"]
    assert client.put("/ogc/collections/zones/items/1", json=body,
                      headers=world["editor"]).status_code == 403
    assert client.delete(by_basic.headers["location"], headers=planner).status_code == 403
    assert client.patch(by_basic.headers["location"], json=body,
                        headers=world["editor"]).status_code == 405


# --------------------------------------------------------------------------- PostGIS


def test_edit_round_trip_on_both_backends(store_url: str) -> None:  # noqa: F811
    with create_workspace(store_url, municipality(), user="creator") as ws:
        ws.import_layer("parcels", parcel_grid(4, 4), user="creator")
    tokens = make_users(store_url, ["land_specialist"])  # type: ignore[arg-type]
    client = TestClient(create_app(Settings(workspace=store_url)),
                        raise_server_exceptions=False)
    editor = bearer(tokens["land_specialist"])
    collections = client.get("/ogc/collections").json()["collections"]
    assert next(c for c in collections if c["id"] == "parcels")["itemCount"] == 16
    square = gpd.GeoSeries([shapely.box(X0 + 500, Y0 + 500, X0 + 520, Y0 + 520)],
                           crs=CRS).to_crs(4326).iloc[0]
    created = client.post("/ogc/collections/parcels/items", headers=editor, json=feature(
        json.loads(shapely.to_geojson(square)), "PG-1"))
    assert created.status_code == 201, created.text
    location = created.headers["location"]
    sent = client.get(location, headers=editor).json()
    sent["properties"]["designated_use"] = "tourism"
    assert client.put(location, headers=editor, json=sent).status_code == 200
    stale = client.put(location, headers=editor, json=sent)  # still says row_version 1
    assert stale.status_code == 412
    assert client.get(location).json()["properties"]["designated_use"] == "tourism"
    page = client.get("/ogc/collections/parcels/items", params={
        "bbox": f"{X0 + 5},{Y0 + 5},{X0 + 15},{Y0 + 15}", "bbox-crs": EPSG32642}).json()
    assert page["numberMatched"] == 4 and np.all(np.diff([f["id"] for f in page["features"]]) > 0)
    assert client.delete(location, headers=editor).status_code == 204
    assert [e["action"] for e in history(client, "PG-1", editor)] == [
        "delete", "update", "create"]

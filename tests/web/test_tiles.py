"""Parcel vector tiles and the map's parcel queries."""

from __future__ import annotations

import mapbox_vector_tile
import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from spatial.errors import InputError, NotFoundError
from spatial.schema import codes, label
from spatial.store import open_workspace
from web.app import create_app
from web.settings import Settings
from web.tiles import EXTENT, TILE_COLUMNS, TMS, check_tile, parcel_tile


@pytest.fixture(scope="module")
def client(demo_gpkg):
    return TestClient(create_app(Settings(workspace=str(demo_gpkg))),
                      raise_server_exceptions=False)


@pytest.fixture(scope="module")
def centre(demo_gpkg):
    """A WGS 84 point inside a demo parcel, and that parcel's cadastral number."""
    workspace = open_workspace(demo_gpkg)
    try:
        parcel = workspace.read_layer("parcels", include_personal=False, limit=1)
    finally:
        workspace.close()
    point = parcel.to_crs(4326).geometry.iloc[0].representative_point()
    return point.x, point.y, str(parcel["cadastral_no"].iloc[0])


def test_tile_over_isfana_has_parcels_without_personal_data(client, centre):
    lon, lat, _ = centre
    for z in (12, 15):
        tile = TMS.tile(lon, lat, z)
        response = client.get(f"/tiles/parcels/{z}/{tile.x}/{tile.y}.pbf")
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/vnd.mapbox-vector-tile"
        decoded = mapbox_vector_tile.decode(response.content)
        features = decoded["parcels"]["features"]
        assert features
        keys = set().union(*(f["properties"] for f in features))
        assert "holder" not in keys
        assert keys <= set(TILE_COLUMNS) and "cadastral_no" in keys
        assert decoded["parcels"]["extent"] == EXTENT


def test_parcel_under_the_point_is_in_its_tile(client, centre):
    lon, lat, cadastral_no = centre
    tile = TMS.tile(lon, lat, 16)
    decoded = mapbox_vector_tile.decode(
        client.get(f"/tiles/parcels/16/{tile.x}/{tile.y}.pbf").content)
    numbers = {f["properties"]["cadastral_no"] for f in decoded["parcels"]["features"]}
    assert cadastral_no in numbers


def test_low_zoom_tiles_are_simplified(demo_gpkg, centre):
    lon, lat, _ = centre
    workspace = open_workspace(demo_gpkg)
    try:
        coarse = TMS.tile(lon, lat, 12)  # the lowest zoom with whole parcels
        fine = TMS.tile(lon, lat, 15)
        coarse_bytes = parcel_tile(workspace, coarse.z, coarse.x, coarse.y)
        fine_bytes = parcel_tile(workspace, fine.z, fine.x, fine.y)
    finally:
        workspace.close()
    n_coarse = len(mapbox_vector_tile.decode(coarse_bytes)["parcels"]["features"])
    n_fine = len(mapbox_vector_tile.decode(fine_bytes)["parcels"]["features"])
    # The coarse tile covers 64 fine tiles' area: more parcels, but fewer bytes per parcel.
    assert n_coarse >= n_fine
    assert len(coarse_bytes) / n_coarse < len(fine_bytes) / n_fine


def test_empty_tile_is_empty(client):
    response = client.get("/tiles/parcels/10/0/0.pbf")
    assert response.status_code == 200
    assert response.content == b""
    assert mapbox_vector_tile.decode(response.content) == {}


@pytest.mark.parametrize(("path", "status"), [
    ("/tiles/parcels/23/0/0.pbf", 400),
    ("/tiles/parcels/-1/0/0.pbf", 400),
    ("/tiles/parcels/3/8/0.pbf", 404),
    ("/tiles/parcels/3/0/-1.pbf", 404),
    ("/tiles/parcels/a/0/0.pbf", 422),
])
def test_bad_tile_addresses(client, path, status):
    assert client.get(path).status_code == status


@settings(max_examples=50, deadline=None)
@given(z=st.integers(0, 22), x=st.integers(-5, 2**22 + 5), y=st.integers(-5, 2**22 + 5))
def test_check_tile_accepts_exactly_the_grid(z, x, y):
    inside = 0 <= x < 2**z and 0 <= y < 2**z
    if inside:
        assert check_tile(z, x, y).z == z
    else:
        with pytest.raises(NotFoundError):
            check_tile(z, x, y)


def test_check_tile_rejects_zoom():
    with pytest.raises(InputError, match="zoom 23"):
        check_tile(23, 0, 0)


def test_parcels_at_point(client, centre):
    lon, lat, cadastral_no = centre
    found = client.get(f"/api/map/parcels/at?lon={lon}&lat={lat}&lang=ru").json()
    assert [p["cadastral_no"] for p in found] == [cadastral_no]
    assert "holder" not in found[0]
    assert found[0]["land_category_label"] != found[0]["land_category"]
    assert client.get("/api/map/parcels/at?lon=0&lat=0").json() == []
    assert client.get("/api/map/parcels/at?lon=200&lat=0").status_code == 422


def test_find_parcel_by_cadastral_number(client, centre):
    lon, lat, cadastral_no = centre
    found = client.get(f"/api/map/parcels/find?cadastral_no={cadastral_no}&lang=en").json()
    assert found["cadastral_no"] == cadastral_no and "holder" not in found
    xmin, ymin, xmax, ymax = found["bounds"]
    assert xmin <= lon <= xmax and ymin <= lat <= ymax
    missing = client.get("/api/map/parcels/find?cadastral_no=0-00-00-0000-0000")
    assert missing.status_code == 404


def test_tile_geometry_sits_where_the_parcel_is(client, demo_gpkg, centre):
    from shapely.geometry import shape

    lon, lat, cadastral_no = centre
    tile = TMS.tile(lon, lat, 17)
    decoded = mapbox_vector_tile.decode(
        client.get(f"/tiles/parcels/17/{tile.x}/{tile.y}.pbf").content)
    (feature,) = [f for f in decoded["parcels"]["features"]
                  if f["properties"]["cadastral_no"] == cadastral_no]
    workspace = open_workspace(demo_gpkg)
    try:
        parcel = workspace.read_layer("parcels", where={"cadastral_no": cadastral_no},
                                      include_personal=False)
    finally:
        workspace.close()
    bounds = TMS.xy_bounds(tile)
    unit = (bounds.right - bounds.left) / EXTENT
    expected = parcel.to_crs(3857).geometry.iloc[0].centroid
    got = shape(feature["geometry"]).centroid
    assert got.x == pytest.approx((expected.x - bounds.left) / unit, abs=3)
    assert got.y == pytest.approx((expected.y - bounds.bottom) / unit, abs=3)


@pytest.mark.postgis
def test_postgis_workspace_serves_the_same_tiles(demo_gpkg, centre):
    """One Python path serves both backends: same parcels in the same tile."""
    import os
    import uuid
    from urllib.parse import urlencode, urlsplit, urlunsplit

    import psycopg

    from spatial.store import create_workspace

    url = os.environ.get("JER_TEST_POSTGIS_URL")
    if not url:
        if os.environ.get("JER_REQUIRE_SERVICES") == "1":
            pytest.fail("JER_REQUIRE_SERVICES=1 but JER_TEST_POSTGIS_URL is not set")
        pytest.skip("JER_TEST_POSTGIS_URL is not set")
    lon, lat, _ = centre
    tile = TMS.tile(lon, lat, 15)
    gpkg = open_workspace(demo_gpkg)
    try:
        municipality = gpkg.read_layer("municipality")
        b = TMS.xy_bounds(tile)
        pad = (b.right - b.left) / 4  # more than the tile buffer
        parcels = gpkg.read_layer("parcels", bbox=(b.left - pad, b.bottom - pad,
                                                   b.right + pad, b.top + pad), bbox_crs=3857)
        expected = mapbox_vector_tile.decode(parcel_tile(gpkg, tile.z, tile.x, tile.y))
    finally:
        gpkg.close()
    schema = f"test_tiles_{uuid.uuid4().hex[:10]}"
    parts = urlsplit(url)
    schema_url = urlunsplit(parts._replace(query=urlencode({"schema": schema})))
    try:
        workspace = create_workspace(schema_url, municipality.drop(columns=["fid"]),
                                     crs=gpkg.crs, user="test")
        try:
            workspace.import_layer(
                "parcels", parcels.drop(columns=["fid", "area_ha", "row_version",
                                                 "updated_at", "updated_by"]),
                user="test",
            )
            got = mapbox_vector_tile.decode(parcel_tile(workspace, tile.z, tile.x, tile.y))
        finally:
            workspace.close()
    finally:
        with psycopg.connect(urlunsplit(parts._replace(query="")), autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    numbers = {f["properties"]["cadastral_no"] for f in expected["parcels"]["features"]}
    assert numbers
    assert {f["properties"]["cadastral_no"] for f in got["parcels"]["features"]} == numbers
    assert all("holder" not in f["properties"] for f in got["parcels"]["features"])


# --- every served layer ------------------------------------------------------------------


def test_no_served_layer_carries_a_personal_column():
    from spatial.schema import layer_schema
    from web.tiles import TILE_LAYERS

    for name, source in TILE_LAYERS.items():
        personal = set(layer_schema(source.layer).personal_columns)
        assert personal.isdisjoint(source.detail_columns), name
    assert "holder" not in {c for s in TILE_LAYERS.values() for c in s.detail_columns}


@pytest.fixture(scope="module")
def hazard_point(demo_gpkg):
    """A WGS 84 point inside a demo hazard zone, and that zone."""
    workspace = open_workspace(demo_gpkg)
    try:
        hazards = workspace.read_layer("hazard_zones")
    finally:
        workspace.close()
    zone = hazards.iloc[0]
    point = hazards.iloc[:1].to_crs(4326).geometry.iloc[0].representative_point()
    return point.x, point.y, zone


@pytest.mark.parametrize("layer", ["zones", "protected_areas", "forest_fund", "hazard_zones",
                                   "restrictions", "exposed_parcels"])
def test_each_reference_layer_is_served_as_tiles_with_its_columns_only(client, demo_gpkg,
                                                                      layer):
    from web.tiles import TILE_LAYERS

    workspace = open_workspace(demo_gpkg)
    try:
        source = "hazard_zones" if layer == "exposed_parcels" else layer
        bounds = workspace.read_layer(source).to_crs(4326).total_bounds
    finally:
        workspace.close()
    lon, lat = (bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2
    found = {}
    for tile in TMS.tiles(*bounds, zooms=[12]):
        response = client.get(f"/tiles/{layer}/{tile.z}/{tile.x}/{tile.y}.pbf")
        assert response.status_code == 200
        for feature in mapbox_vector_tile.decode(response.content).get(layer, {}).get(
                "features", []):
            found.update(feature["properties"])
    assert found, f"no {layer} feature in the tiles over ({lon:.3f}, {lat:.3f})"
    assert set(found) <= set(TILE_LAYERS[layer].columns)


def test_hazard_zone_tile_and_click_details(client, hazard_point):
    lon, lat, zone = hazard_point
    tile = TMS.tile(lon, lat, 15)
    decoded = mapbox_vector_tile.decode(
        client.get(f"/tiles/hazard_zones/15/{tile.x}/{tile.y}.pbf").content)
    ids = {f["properties"]["hazard_id"] for f in decoded["hazard_zones"]["features"]}
    assert zone["hazard_id"] in ids
    found = client.get(f"/api/map/at?layers=hazard_zones&lon={lon}&lat={lat}&lang=ru").json()
    zones = {z["hazard_id"]: z for z in found["hazard_zones"]}
    assert zone["hazard_id"] in zones
    detail = zones[zone["hazard_id"]]
    assert detail["hazard_class_label"] == label("hazard_class", zone["hazard_class"], "ru")
    assert detail["hazard_type_label"] == label("hazard_type", zone["hazard_type"], "ru")


def test_exposed_parcels_tile_matches_the_whole_layer_computation(client, demo_gpkg,
                                                                 hazard_point):
    """A parcel gets the same worst class in a tile as over the whole municipality."""
    from web.maps import exposed_parcels

    lon, lat, _ = hazard_point
    workspace = open_workspace(demo_gpkg)
    try:
        whole = exposed_parcels(workspace.read_layer("parcels", include_personal=False),
                                workspace.read_layer("hazard_zones"), lang=None)
    finally:
        workspace.close()
    expected = dict(zip(whole["cadastral_no"], whole["hazard_class"], strict=True))
    tile = TMS.tile(lon, lat, 16)
    decoded = mapbox_vector_tile.decode(
        client.get(f"/tiles/exposed_parcels/16/{tile.x}/{tile.y}.pbf").content)
    features = decoded["exposed_parcels"]["features"]
    assert features
    for feature in features:
        props = feature["properties"]
        assert expected[props["cadastral_no"]] == props["hazard_class"]
        assert set(props["hazard_types"].split(",")) <= set(codes("hazard_type"))


def test_click_details_of_several_layers_at_once(client, centre):
    lon, lat, cadastral_no = centre
    found = client.get(f"/api/map/at?layers=parcels,zones&lon={lon}&lat={lat}&lang=en").json()
    assert set(found) == {"parcels", "zones"}
    (parcel,) = found["parcels"]
    assert parcel["cadastral_no"] == cadastral_no and "holder" not in parcel
    assert "official_area_ha" in parcel
    for zone in found["zones"]:
        assert zone["zone_type_label"] and zone["zone_type_label"] != zone["zone_type"]


@pytest.mark.parametrize(("path", "status"), [
    ("/tiles/holders/12/0/0.pbf", 404),
    ("/tiles/settlements/12/0/0.pbf", 404),
    ("/api/map/at?layers=holders&lon=0&lat=0", 400),
    ("/api/map/at?layers=&lon=0&lat=0", 400),
    ("/api/map/at?layers=parcels&lon=0&lat=100", 422),
])
def test_unknown_layers_and_bad_points_are_refused(client, path, status):
    assert client.get(path).status_code == status


# --- low zooms: a mosaic -----------------------------------------------------------------


def test_low_zoom_parcel_tiles_are_a_mosaic_of_the_parcels_under_the_cells(client, demo_gpkg,
                                                                          centre):
    """Up to zoom 11 a cell shows the category of the parcel under its centre."""
    from shapely.geometry import shape

    from web.tiles import MOSAIC_CELLS, MOSAIC_MAX_ZOOM

    lon, lat, _ = centre
    tile = TMS.tile(lon, lat, MOSAIC_MAX_ZOOM)
    response = client.get(f"/tiles/parcels/{tile.z}/{tile.x}/{tile.y}.pbf")
    features = mapbox_vector_tile.decode(response.content)["parcels"]["features"]
    assert features
    assert all(set(f["properties"]) == {"land_category", "generalised"} for f in features)
    detailed = TMS.tile(lon, lat, MOSAIC_MAX_ZOOM + 1)
    full = client.get(f"/tiles/parcels/{detailed.z}/{detailed.x}/{detailed.y}.pbf")
    assert "cadastral_no" in mapbox_vector_tile.decode(full.content)["parcels"]["features"][0][
        "properties"]
    # a few cells checked against the parcel found under their centre by the click query
    bounds = TMS.xy_bounds(tile)
    size = EXTENT / MOSAIC_CELLS
    from pyproj import Transformer

    to_wgs84 = Transformer.from_crs(3857, 4326, always_xy=True)
    for feature in features[:: max(1, len(features) // 15)]:
        cell = shape(feature["geometry"])
        x0, y0 = cell.bounds[0] + size / 2, cell.bounds[1] + size / 2  # first cell's centre
        unit = (bounds.right - bounds.left) / EXTENT
        clon, clat = to_wgs84.transform(bounds.left + x0 * unit, bounds.bottom + y0 * unit)
        under = client.get(f"/api/map/parcels/at?lon={clon}&lat={clat}").json()
        assert under and under[0]["land_category"] == feature["properties"]["land_category"]


def test_low_zoom_exposed_parcels_mosaic_shows_the_worst_class(client, demo_gpkg, hazard_point):
    from web.tiles import MOSAIC_MAX_ZOOM

    lon, lat, _ = hazard_point
    tile = TMS.tile(lon, lat, MOSAIC_MAX_ZOOM)
    decoded = mapbox_vector_tile.decode(
        client.get(f"/tiles/exposed_parcels/{tile.z}/{tile.x}/{tile.y}.pbf").content)
    classes = {f["properties"]["hazard_class"] for f in decoded["exposed_parcels"]["features"]}
    assert classes and classes <= {"low", "medium", "high"}


# --- the vectorised encoder --------------------------------------------------------------


def test_encode_layer_decodes_like_mapbox_vector_tile_encode():
    """Polygons with holes, multi-polygons, lines and points, every value type, gaps."""
    import numpy as np
    import shapely
    from shapely.geometry import shape

    from web.mvt import encode_layer

    rng = np.random.default_rng(0)
    geoms = []
    for i in range(120):
        x, y = (int(v) for v in rng.integers(0, 4000, 2))
        g = shapely.box(x, y, x + int(rng.integers(3, 90)), y + int(rng.integers(3, 90)))
        if i % 5 == 0:
            g = g.difference(shapely.box(x + 1, y + 1, x + 2, y + 2))
        if i % 7 == 0:
            g = shapely.MultiPolygon([g, shapely.box(x + 200, y, x + 230, y + 40)])
        geoms.append(g)
    geoms += [shapely.LineString([(0, 0), (10, 10), (20, 5)]),
              shapely.MultiPoint([(1, 2), (3, 4)]), shapely.Point(5, 5), None,
              shapely.Polygon()]
    n = len(geoms)
    props = {"s": [f"v{i % 3}" for i in range(n)], "b": [True if i % 2 else None for i in range(n)],
             "i": list(range(-3, n - 3)), "f": [0.5] * n}
    mine = mapbox_vector_tile.decode(encode_layer("l", geoms, props),
                                     default_options={"y_coord_down": True})["l"]
    features = [{"geometry": g, "properties": {k: v[i] for k, v in props.items()
                                               if v[i] is not None}}
                for i, g in enumerate(geoms) if g is not None and not g.is_empty]
    reference = mapbox_vector_tile.decode(
        mapbox_vector_tile.encode([{"name": "l", "features": features}],
                                  default_options={"y_coord_down": True}),
        default_options={"y_coord_down": True})["l"]
    assert len(mine["features"]) == len(reference["features"]) == n - 2
    for got, want in zip(mine["features"], reference["features"], strict=True):
        assert got["properties"] == want["properties"]
        assert got["geometry"]["type"] == want["geometry"]["type"]
        assert shape(got["geometry"]).equals(shape(want["geometry"]))


def test_encode_layer_writes_the_wire_format_protobuf_itself_writes():
    """Parsed by protobuf and written back, the tile is byte for byte what came in.

    Field order, packed fields, varint and zig-zag values (large, negative) included: a
    malformed length or tag would fail to parse or re-serialise differently.
    """
    import shapely
    from mapbox_vector_tile.Mapbox import vector_tile_pb2

    from web.mvt import encode_layer

    geoms = [shapely.box(0, 0, 4000, 4000).difference(shapely.box(10, 10, 3000, 3000)),
             shapely.box(-64, -64, 5, 5), shapely.Point(4100, 4100),
             shapely.LineString([(0, 0), (4000, 1), (2, 3000)]), shapely.box(1, 1, 2, 2)]
    props = {"s": ["é ж", None, "x" * 300, "", "y"], "n": [2**40, -2**40, 0, 127, None],
             "f": [0.1, -1e300, None, 2.0, 3.5], "b": [True, False, None, True, None]}
    data = encode_layer("слой", geoms, props)
    tile = vector_tile_pb2.tile.FromString(data)
    assert bytes(tile.SerializeToString()) == data
    (layer,) = tile.layers
    assert (layer.name, layer.version, layer.extent, len(layer.features)) == ("слой", 2, 4096, 5)
    decoded = mapbox_vector_tile.decode(data)["слой"]["features"]
    assert [f["properties"].get("n") for f in decoded] == [2**40, -2**40, 0, 127, None]
    assert decoded[2]["properties"]["s"] == "x" * 300
    assert decoded[1]["properties"] == {"n": -2**40, "f": -1e300, "b": False}
    # Only strings (the fast path of the values table), short, empty and long ones.
    names = ["", "a", "ж" * 70, "z" * 20000, "b"]
    data = encode_layer("l", geoms, {"s": names})
    assert bytes(vector_tile_pb2.tile.FromString(data).SerializeToString()) == data
    assert [f["properties"]["s"] for f in mapbox_vector_tile.decode(data)["l"]["features"]] \
        == names


@pytest.mark.parametrize("exterior_ccw", [True, False])
@pytest.mark.parametrize("hole_ccw", [True, False])
def test_encode_layer_winds_rings_as_mvt_wants_whatever_the_input(exterior_ccw, hole_ccw):
    """Exterior rings come out with a positive surveyor's area, holes negative (MVT 4.3.4.4)."""
    import shapely
    from shapely.geometry import shape

    from web.mvt import encode_layer

    outer = [(0, 0), (100, 0), (100, 100), (0, 100)]
    hole = [(10, 10), (10, 20), (20, 20), (20, 10)]
    ring = lambda pts, ccw: pts if shapely.LinearRing(pts).is_ccw == ccw else pts[::-1]  # noqa: E731
    polygon = shapely.Polygon(ring(outer, exterior_ccw), [ring(hole, hole_ccw)])
    raw = mapbox_vector_tile.decode(encode_layer("l", [polygon], {}),
                                    default_options={"y_coord_down": True})
    (feature,) = raw["l"]["features"]
    assert feature["geometry"]["type"] == "Polygon"
    (exterior, interior) = feature["geometry"]["coordinates"]
    assert shapely.LinearRing(exterior).is_ccw  # positive area, y down: clockwise on screen
    assert not shapely.LinearRing(interior).is_ccw
    assert shape(feature["geometry"]).equals(polygon)


def test_encode_layer_drops_rings_without_area():
    import shapely

    from web.mvt import encode_layer

    flat = shapely.Polygon([(0, 0), (10, 0), (20, 0), (0, 0)])
    assert encode_layer("l", [flat], {"a": ["x"]}) == b""
    kept = mapbox_vector_tile.decode(encode_layer("l", [flat, shapely.box(0, 0, 5, 5)],
                                                  {"a": ["x", "y"]}))
    assert [f["properties"]["a"] for f in kept["l"]["features"]] == ["y"]


# --- zoom 12: whole parcels, sub-pixel ones left out ---------------------------------------


def test_zoom_12_tile_holds_the_visible_parcels_and_leaves_out_sub_pixel_ones(demo_copy,
                                                                              centre):
    """A 10 m square is under a pixel at zoom 12 (about 30 m): drawn from zoom 16 on."""
    import shapely

    from web.tiles import MIN_AREA

    *_, cadastral_no = centre
    workspace = open_workspace(demo_copy)
    try:
        (parcel,) = workspace.read_layer("parcels", where={"cadastral_no": cadastral_no},
                                         include_personal=False).itertuples()
        x, y = parcel.geometry.representative_point().coords[0]
        workspace.update_parcel(int(parcel.fid), {"geometry": shapely.box(x - 5, y - 5,
                                                                          x + 5, y + 5)},
                                expected_version=int(parcel.row_version), user="test")
        tiles = {z: TMS.tile(*TMS.lnglat(*_xy_3857(workspace, x, y)), z) for z in (12, 16)}
        shown = {z: {f["properties"]["cadastral_no"]: f for f in mapbox_vector_tile.decode(
            parcel_tile(workspace, t.z, t.x, t.y))["parcels"]["features"]}
            for z, t in tiles.items()}
        clicked = workspace.read_layer("parcels", bbox=(x - 1, y - 1, x + 1, y + 1),
                                       include_personal=False)
    finally:
        workspace.close()
    assert len(shown[12]) > 100  # the rest of the zoom-12 tile is drawn
    assert cadastral_no not in shown[12]
    assert cadastral_no in shown[16]
    assert list(clicked["cadastral_no"]) == [cadastral_no]  # a click still finds it
    areas = [shapely.geometry.shape(f["geometry"]).area for f in shown[12].values()]
    assert min(areas) >= MIN_AREA


def _xy_3857(workspace, x, y):
    from pyproj import Transformer

    return Transformer.from_crs(workspace.crs, 3857, always_xy=True).transform(x, y)


# --- the tile cache and ETags ------------------------------------------------------------


def test_tiles_have_an_etag_and_answer_304_while_the_data_holds(client, centre):
    lon, lat, _ = centre
    tile = TMS.tile(lon, lat, 15)
    url = f"/tiles/parcels/15/{tile.x}/{tile.y}.pbf"
    first = client.get(url)
    etag = first.headers["etag"]
    assert first.status_code == 200 and etag.startswith('"')
    assert first.headers["cache-control"] == "no-cache"
    again = client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert client.get(url, headers={"If-None-Match": '"other"'}).content == first.content
    other = TMS.tile(lon, lat, 16)
    assert client.get(f"/tiles/parcels/16/{other.x}/{other.y}.pbf").headers["etag"] != etag


def test_cached_tile_is_cut_anew_after_a_parcel_edit(demo_copy, centre):
    lon, lat, cadastral_no = centre
    app = create_app(Settings(workspace=str(demo_copy)))
    client = TestClient(app)
    tile = TMS.tile(lon, lat, 16)
    url = f"/tiles/parcels/16/{tile.x}/{tile.y}.pbf"

    def categories() -> dict[str, str]:
        features = mapbox_vector_tile.decode(client.get(url).content)["parcels"]["features"]
        return {f["properties"]["cadastral_no"]: f["properties"]["land_category"]
                for f in features}

    before = categories()
    etag = client.get(url).headers["etag"]
    cache = app.state.tile_cache
    assert cache.hits >= 1  # the second request came from memory
    workspace = open_workspace(demo_copy)
    far_lon, far_lat = _farthest_parcel_point(workspace, lon, lat)
    far_tile = TMS.tile(far_lon, far_lat, 16)
    far_url = f"/tiles/parcels/16/{far_tile.x}/{far_tile.y}.pbf"
    far = client.get(far_url)
    assert far.content
    try:
        (parcel,) = workspace.read_layer("parcels", where={"cadastral_no": cadastral_no},
                                         include_personal=False).itertuples()
        new = next(c for c in codes("land_category") if c != before[cadastral_no])
        workspace.update_parcel(int(parcel.fid), {"land_category": new},
                                expected_version=int(parcel.row_version), user="test")
    finally:
        workspace.close()
    response = client.get(url, headers={"If-None-Match": etag})
    assert response.status_code == 200 and response.headers["etag"] != etag
    # The layer's index took in the one written parcel rather than reading them all.
    assert (cache.indexes_built, cache.indexes_updated) == (1, 1)
    # A tile the edit does not reach stayed cached, under the new state (a new ETag).
    assert cache.carried_over >= 1
    hits = cache.hits
    far_again = client.get(far_url)
    assert far_again.content == far.content and cache.hits == hits + 1
    assert far_again.headers["etag"] != far.headers["etag"]
    after = categories()
    assert after[cadastral_no] == new
    assert {k: v for k, v in after.items() if k != cadastral_no} == \
        {k: v for k, v in before.items() if k != cadastral_no}


def test_tile_cache_keeps_within_its_byte_budget():
    from web.tiles import TileCache

    cache = TileCache(max_bytes=100)
    for i in range(5):
        cache.put(("parcels", 16, i, 0), ("fp",), bytes(30))
    assert cache.bytes <= 100
    assert cache.get(("parcels", 16, 0, 0), ("fp",)) is None  # oldest went first
    assert cache.get(("parcels", 16, 4, 0), ("fp",)) == bytes(30)
    assert cache.get(("parcels", 16, 4, 0), ("changed",)) is None


# --- tile indexes: built once, updated from the parcel history ------------------------------


def _index_tiles(index, name, parcels):
    """Decoded tiles of ``index`` over ``parcels`` (WGS 84) at zooms 10, 12, 14 and 16."""
    from web.tiles import TILE_LAYERS, layer_tile

    out = {}
    for point in parcels.to_crs(4326).geometry.representative_point():
        for z in (10, 12, 14, 16):
            t = TMS.tile(point.x, point.y, z)
            data = layer_tile(None, name, t.z, t.x, t.y, index=index)
            features = mapbox_vector_tile.decode(data).get(name, {}).get("features", [])
            out[(t.z, t.x, t.y)] = sorted(
                (repr(sorted(f["properties"].items())), repr(f["geometry"]))
                for f in features)
    assert TILE_LAYERS[name]
    return out


def test_an_index_updated_after_edits_is_the_index_a_full_build_gives(demo_copy):
    """Edit, reshape, delete and add parcels; the updated index equals a fresh build."""
    import numpy as np
    import shapely

    from web.tiles import TileCache, build_tile_index, tile_fingerprint

    workspace = open_workspace(demo_copy)
    try:
        cache = TileCache()
        names = ("parcels", "exposed_parcels")
        for name in names:
            cache.index(workspace, name, tile_fingerprint(workspace, name))
        assert cache.indexes_built == 2
        parcels = workspace.read_layer("parcels", limit=40)
        a, b, d = parcels.iloc[0], parcels.iloc[1], parcels.iloc[2]
        other = next(c for c in codes("land_category") if c != a.land_category)
        workspace.update_parcel(int(a.fid), {"land_category": other},
                                expected_version=int(a.row_version), user="test")
        smaller = shapely.affinity.scale(d.geometry, 0.8, 0.8, origin="centroid")
        workspace.update_parcel(int(d.fid), {"geometry": smaller},
                                expected_version=int(d.row_version), user="test")
        workspace.delete_parcel(int(b.fid), expected_version=int(b.row_version), user="test")
        created = workspace.create_parcel(
            {"cadastral_no": "TEST-NEW-1", "land_category": "settlement",
             "ownership": "state", "in_use": True, "geometry": b.geometry}, user="test")
        touched = parcels.iloc[[0, 1, 2]]
        for name in names:
            updated = cache.index(workspace, name, tile_fingerprint(workspace, name))
            fresh = build_tile_index(workspace, name)
            assert np.array_equal(updated.fid, fresh.fid)
            assert shapely.equals_exact(updated.geometry, fresh.geometry, 0).all()
            assert np.array_equal(updated.area, fresh.area)
            assert _index_tiles(updated, name, touched) == _index_tiles(fresh, name, touched)
        assert (cache.indexes_built, cache.indexes_updated) == (2, 2)
        assert created["fid"] in set(cache.index(
            workspace, "parcels", tile_fingerprint(workspace, "parcels")).fid)
        # A replaced reference layer the exposure reads: built anew, not updated.
        hazards = workspace.read_layer("hazard_zones")
        workspace.import_layer("hazard_zones", hazards.iloc[:1], user="test", mode="replace")
        cache.index(workspace, "exposed_parcels", tile_fingerprint(workspace, "exposed_parcels"))
        assert (cache.indexes_built, cache.indexes_updated) == (3, 2)
    finally:
        workspace.close()


def test_a_starting_server_builds_the_tile_indexes_in_the_background(demo_gpkg, centre,
                                                                     tmp_path):
    import time

    from web.tiles import PREWARM_LAYERS

    app = create_app(Settings(workspace=str(demo_gpkg)))
    with TestClient(app) as client:
        deadline = time.monotonic() + 60
        while (health := client.get("/api/health").json())["tiles"] == "building":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert health["tiles"] == "ready"
        assert set(health["tile_index_s"]) == {*PREWARM_LAYERS, "heap", "precut"}
        assert health["tiles_precut"] > 0
        cache = app.state.tile_cache
        assert cache.indexes_built == len(PREWARM_LAYERS)
        tile = TMS.tile(*centre[:2], 15)
        assert client.get(f"/tiles/parcels/15/{tile.x}/{tile.y}.pbf").content
        assert cache.indexes_built == len(PREWARM_LAYERS)  # the tile used the prebuilt one
        low = TMS.tile(*centre[:2], 10)  # the zoom maps open at: pre-cut
        hits = cache.hits
        assert client.get(f"/tiles/parcels/10/{low.x}/{low.y}.pbf").content
        assert cache.hits == hits + 1

    # Without prewarming, or with a workspace that cannot be read, the server still runs.
    quiet = TestClient(create_app(Settings(workspace=str(demo_gpkg), tile_prewarm=False)))
    with quiet as client:
        assert client.get("/api/health").json()["tiles"] == "on demand"
    missing = tmp_path / "gone.gpkg"
    broken = create_app(Settings(workspace=str(missing)))
    with TestClient(broken, raise_server_exceptions=False) as client:
        deadline = time.monotonic() + 60
        while (health := client.get("/api/health").json())["tiles"] == "building":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert health["tiles"] == "failed"
        assert "gone.gpkg" in broken.state.tile_prewarm["error"]



def _farthest_parcel_point(workspace, lon, lat):
    """A WGS 84 point in the demo parcel farthest from (lon, lat)."""
    import shapely

    parcels = workspace.read_layer("parcels", include_personal=False).to_crs(4326)
    points = parcels.geometry.representative_point()
    far = points.iloc[int(shapely.distance(points.to_numpy(), shapely.Point(lon, lat)).argmax())]
    return far.x, far.y


_VALUES = st.one_of(st.none(), st.text(max_size=40), st.integers(-2**62, 2**62),
                    st.booleans(), st.floats(allow_nan=False, allow_infinity=False))


@settings(max_examples=60, deadline=None)
@given(first=st.lists(st.tuples(_VALUES, st.text(max_size=12) | st.none()), min_size=1,
                      max_size=30),
       more=st.lists(st.tuples(_VALUES, st.text(max_size=12) | st.none()), max_size=10),
       data=st.data())
def test_coded_columns_extended_and_taken_encode_the_values_they_hold(first, more, data):
    """Tags decode to the values, after factorising, extending and reordering columns."""
    import numpy as np
    import shapely

    from web.mvt import CodedColumn, encode_layer

    rows = first + more
    keep = np.array(data.draw(st.lists(st.booleans(), min_size=len(first),
                                       max_size=len(first))))
    kept = [row for row, k in zip(first, keep, strict=True) if k] + more
    if not kept:
        return
    order = np.array(data.draw(st.permutations(range(len(kept)))), dtype=np.int64)
    columns = {}
    for c in range(2):
        base = CodedColumn.from_values([row[c] for row in first])
        columns[f"c{c}"] = base.extended(keep, [row[c] for row in more]).take(order)
    geoms = shapely.box(np.arange(len(kept)) * 10, 0, np.arange(len(kept)) * 10 + 5, 5)
    decoded = mapbox_vector_tile.decode(encode_layer("l", geoms, columns))["l"]["features"]
    assert len(decoded) == len(kept) and len(rows) >= len(kept)
    for feature, i in zip(decoded, order, strict=True):
        want = {f"c{c}": kept[i][c] for c in range(2) if kept[i][c] is not None}
        got = feature["properties"]
        assert got.keys() == want.keys()
        for key, value in want.items():
            assert type(got[key]) is type(value) or isinstance(value, float)
            assert got[key] == value


def test_a_client_revalidating_its_tile_never_waits_for_an_index(demo_gpkg, centre):
    """A fresh process answers 304 from the fingerprint alone, reading no layer."""
    tile = TMS.tile(*centre[:2], 16)
    url = f"/tiles/parcels/16/{tile.x}/{tile.y}.pbf"
    first = TestClient(create_app(Settings(workspace=str(demo_gpkg))))
    etag = first.get(url).headers["etag"]
    fresh = create_app(Settings(workspace=str(demo_gpkg)))
    answer = TestClient(fresh).get(url, headers={"If-None-Match": etag})
    assert answer.status_code == 304 and answer.headers["etag"] == etag
    assert fresh.state.tile_cache.indexes_built == 0

"""Paged reads and layer extents of the store, on the GeoPackage and PostGIS backends.

``read_page`` serves the OGC API: a page cut in SQL in stable ``fid`` order with the
exact number of matching features; with a bbox, candidates whose index envelope lies
inside the box count without reading their geometry, the others are tested exactly.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely

from spatial.errors import InputError
from spatial.store import Workspace
from tests.spatial.conftest import CRS, X0, Y0, parcel_grid


def test_pages_follow_fid_order_and_count_every_match(ws: Workspace) -> None:
    ws.import_layer("parcels", parcel_grid(10, 10), user="aida")  # fids 1..100
    seen: list[int] = []
    for offset in range(0, 100, 30):
        page, matched = ws.read_page("parcels", limit=30, offset=offset)
        assert matched == 100
        seen += page["fid"].tolist()
    assert seen == list(range(1, 101))
    page, matched = ws.read_page("parcels", limit=5, offset=200)
    assert (len(page), matched) == (0, 100)
    page, matched = ws.read_page("parcels", limit=0)
    assert (len(page), matched) == (0, 100)
    # Same columns and values as read_layer, so callers can switch between them.
    whole = ws.read_layer("parcels", limit=7, offset=3)
    page, _ = ws.read_page("parcels", limit=7, offset=3)
    assert page.columns.tolist() == whole.columns.tolist()
    assert page.drop(columns="geometry").equals(whole.drop(columns="geometry"))
    assert page.geometry.geom_equals(whole.geometry).all()


def test_page_filters_columns_and_personal_data(ws: Workspace) -> None:
    ws.import_layer("parcels", parcel_grid(10, 10), user="aida")
    page, matched = ws.read_page("parcels", limit=10, where={"land_category": "settlement"})
    assert matched == 34  # every third of 100
    assert page["cadastral_no"].tolist() == [f"P-{k:06d}" for k in range(0, 30, 3)]
    public, _ = ws.read_page("parcels", limit=3, include_personal=False)
    assert "holder" not in public.columns
    narrow, _ = ws.read_page("parcels", limit=3, columns=["cadastral_no"])
    assert narrow.columns.tolist() == ["fid", "cadastral_no", "geometry"]
    with pytest.raises(InputError, match="personal"):
        ws.read_page("parcels", limit=3, where={"holder": "Holder 1"}, include_personal=False)
    with pytest.raises(InputError):
        ws.read_page("parcels", limit=-1)


def test_bbox_pages_are_exact_and_match_read_layer(ws: Workspace) -> None:
    ws.import_layer("parcels", parcel_grid(10, 10), user="aida")
    triangle = shapely.Polygon([(X0 + 200, Y0 + 200), (X0 + 300, Y0 + 200), (X0 + 200, Y0 + 300)])
    ws.create_parcel({"cadastral_no": "TRI", "land_category": "agricultural",
                      "ownership": "state", "in_use": True, "geometry": triangle}, user="aida")
    box = (X0 + 15, Y0 + 15, X0 + 55, Y0 + 35)  # cuts through parcels on every side
    expected = ws.read_layer("parcels", bbox=box)["fid"].tolist()
    assert len(expected) == 15
    got: list[int] = []
    for offset in (0, 4, 8, 12):
        page, matched = ws.read_page("parcels", bbox=box, limit=4, offset=offset)
        assert matched == 15
        got += page["fid"].tolist()
    assert got == expected
    # The triangle's envelope covers this box, the triangle does not.
    page, matched = ws.read_page("parcels", bbox=(X0 + 280, Y0 + 280, X0 + 290, Y0 + 290),
                                 limit=10)
    assert (len(page), matched) == (0, 0)
    # A bbox in another CRS, combined with a filter.
    lon_lat = tuple(gpd.GeoSeries([shapely.box(*box)], crs=CRS).to_crs(4326).total_bounds)
    page, matched = ws.read_page("parcels", bbox=lon_lat, bbox_crs=4326, limit=100,
                                 where={"land_category": "settlement"})
    fids = set(page["fid"])
    assert matched == len(fids) > 0
    assert fids <= set(ws.read_layer("parcels", bbox=lon_lat, bbox_crs=4326)["fid"])
    assert set(page["land_category"]) == {"settlement"}


def test_bbox_page_reads_only_the_geometries_on_the_edge(ws: Workspace,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    ws.import_layer("parcels", parcel_grid(10, 10), user="aida")
    reads: list[int] = []
    original = ws._in_condition

    def counting(column: str, values: list[object]) -> tuple[str, list[object]]:
        reads.append(len(values))
        return original(column, values)

    monkeypatch.setattr(ws, "_in_condition", counting)
    page, matched = ws.read_page("parcels", bbox=(X0 - 1, Y0 - 1, X0 + 101, Y0 + 101), limit=5)
    assert matched == 100 and len(page) == 5
    assert reads == [5]  # no edge geometries to test; only the page itself is read


def test_extent(ws: Workspace) -> None:
    assert ws.extent("parcels") is None
    ws.import_layer("parcels", parcel_grid(10, 5), user="aida")
    extent = ws.extent("parcels")
    assert extent is not None
    assert np.allclose(extent, (X0, Y0, X0 + 100, Y0 + 50), atol=0.5)
    assert extent[0] <= X0 and extent[3] >= Y0 + 50  # never smaller than the data

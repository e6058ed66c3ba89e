"""The workspace store: the same behaviour on the GeoPackage and the PostGIS backend.

Every test but the GDAL/encoding ones runs on both backends through the ``store_url``
fixture; the PostGIS case gets a fresh schema per test, so tests run in parallel.
"""

from __future__ import annotations

import signal
import sqlite3
import struct
import subprocess
import sys
import textwrap
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spatial.errors import ConflictError, InputError, NotFoundError, ValidationError
from spatial.store import (
    GeoPackageWorkspace,
    Workspace,
    create_workspace,
    open_workspace,
)
from spatial.store.gpkg import encode_gpkg_geometries
from tests.spatial.conftest import CRS, X0, Y0, municipality, parcel_grid


def new_parcel(key: str = "NEW-1", *, x: float = X0 + 1_000, y: float = Y0 + 1_000,
               size: float = 20.0, **attrs: object) -> dict[str, object]:
    record: dict[str, object] = {
        "cadastral_no": key, "land_category": "agricultural", "ownership": "state",
        "in_use": True, "holder": "Асан Усонов",
        "geometry": shapely.box(x, y, x + size, y + size),
    }
    record.update(attrs)
    return record


# ---------------------------------------------------------------------------- creation
def test_create_records_crs_and_every_layer(store_url: str) -> None:
    ws = create_workspace(store_url, municipality(), user="creator",
                          metadata={"municipality_code": "41707"})
    try:
        assert ws.crs.to_epsg() == CRS
        meta = ws.metadata()
        assert meta["crs_epsg"] == "32642"
        assert meta["created_by"] == "creator"
        assert meta["municipality_code"] == "41707"
        assert ws.layers() == [
            "municipality", "settlements", "parcels", "zones", "protected_areas",
            "water_bodies", "forest_fund", "hazard_zones", "restrictions", "facilities",
        ]
        assert ws.count("municipality") == 1
        assert ws.count("parcels") == 0
    finally:
        ws.close()
    with open_workspace(store_url) as again:
        assert again.crs.to_epsg() == CRS
        boundary = again.read_layer("municipality")
        assert boundary.loc[0, "name_en"] == "Isfana"
        assert boundary.geometry.iloc[0].area == pytest.approx(4_000_000.0)


def test_create_chooses_crs_from_a_geographic_boundary(store_url: str) -> None:
    with create_workspace(store_url, municipality().to_crs(4326)) as ws:
        assert ws.crs.to_epsg() == 32642
        assert ws.read_layer("municipality").crs.to_epsg() == 32642


def test_create_refuses_existing_unless_overwrite(store_url: str) -> None:
    create_workspace(store_url, municipality()).close()
    with pytest.raises(ConflictError):
        create_workspace(store_url, municipality())
    with create_workspace(store_url, municipality(500.0), overwrite=True) as ws:
        assert ws.read_layer("municipality").geometry.iloc[0].area == pytest.approx(250_000.0)


def test_create_validates_the_municipality(store_url: str) -> None:
    two = pd.concat([municipality(), municipality()], ignore_index=True)
    with pytest.raises(ValidationError) as err:
        create_workspace(store_url, gpd.GeoDataFrame(two, crs=CRS))
    assert err.value.problems[0].code == "municipality_rows"
    bad = municipality()
    bad["kind"] = "village"
    with pytest.raises(ValidationError) as err:
        create_workspace(store_url, bad)
    assert [p.code for p in err.value.problems] == ["unknown_code"]
    with pytest.raises(NotFoundError):
        open_workspace(store_url)


def test_open_missing_or_foreign_store_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError):
        open_workspace(tmp_path / "missing.gpkg")
    garbage = tmp_path / "garbage.gpkg"
    garbage.write_bytes(b"this is not a database" * 100)
    with pytest.raises(NotFoundError):
        open_workspace(garbage)
    gdal_file = tmp_path / "plain.gpkg"
    pyogrio.write_dataframe(municipality(), gdal_file, layer="x")
    with pytest.raises(NotFoundError, match="not a Jer workspace"):
        open_workspace(gdal_file)


# ---------------------------------------------------------------------------- parcels
def test_create_update_delete_parcel_bumps_row_version(ws: Workspace) -> None:
    created = ws.create_parcel(new_parcel(lease_until="2031-05-06"), user="aida")
    fid = created["fid"]
    assert created["row_version"] == 1
    assert created["updated_by"] == "aida"
    assert created["area_ha"] == pytest.approx(0.04)
    assert created["lease_until"] == date(2031, 5, 6)
    assert created["ag_subtype"] == "empty"  # schema default filled
    assert ws.find_parcel("NEW-1")["fid"] == fid

    updated = ws.update_parcel(fid, {"ownership": "private", "geometry": shapely.box(
        X0 + 1_000, Y0 + 1_000, X0 + 1_040, Y0 + 1_020)}, expected_version=1, user="bakyt")
    assert updated["row_version"] == 2
    assert updated["ownership"] == "private"
    assert updated["area_ha"] == pytest.approx(0.08)
    assert updated["lease_until"] == date(2031, 5, 6)  # untouched columns keep their value
    assert ws.get_parcel(fid)["updated_by"] == "bakyt"

    ws.delete_parcel(fid, expected_version=2, user="bakyt")
    with pytest.raises(NotFoundError):
        ws.get_parcel(fid)
    with pytest.raises(NotFoundError):
        ws.find_parcel("NEW-1")
    assert ws.count("parcels") == 0


def test_two_edits_from_the_same_version_second_conflicts(ws: Workspace) -> None:
    fid = ws.create_parcel(new_parcel(), user="aida")["fid"]
    ws.update_parcel(fid, {"designated_use": "agriculture"}, expected_version=1, user="first")
    with pytest.raises(ConflictError) as err:
        ws.update_parcel(fid, {"designated_use": "commerce"}, expected_version=1, user="second")
    assert (err.value.expected, err.value.actual) == (1, 2)
    with pytest.raises(ConflictError):
        ws.delete_parcel(fid, expected_version=1, user="second")
    current = ws.get_parcel(fid)
    assert current["designated_use"] == "agriculture"
    assert current["updated_by"] == "first"
    assert current["row_version"] == 2
    assert [h.user for h in ws.history(fid)] == ["first", "aida"]


def test_concurrent_edit_through_a_second_connection_conflicts(store_url: str) -> None:
    with create_workspace(store_url, municipality()) as a, open_workspace(store_url) as b:
        fid = a.create_parcel(new_parcel(), user="aida")["fid"]
        assert b.get_parcel(fid)["row_version"] == 1
        a.update_parcel(fid, {"holder": "A"}, expected_version=1, user="a")
        with pytest.raises(ConflictError):
            b.update_parcel(fid, {"holder": "B"}, expected_version=1, user="b")
        assert b.get_parcel(fid)["holder"] == "A"


def test_edits_are_validated(ws: Workspace) -> None:
    fid = ws.create_parcel(new_parcel(), user="aida")["fid"]
    with pytest.raises(ValidationError) as err:  # overlaps the first parcel
        ws.create_parcel(new_parcel("NEW-2", x=X0 + 1_010), user="aida")
    assert [p.code for p in err.value.problems] == ["overlap"]
    with pytest.raises(ValidationError) as err:  # same cadastral number elsewhere
        ws.create_parcel(new_parcel("NEW-1", x=X0 + 100), user="aida")
    assert [p.code for p in err.value.problems] == ["duplicate_key"]
    with pytest.raises(ValidationError) as err:  # outside the municipality
        ws.create_parcel(new_parcel("NEW-3", x=X0 - 500), user="aida")
    assert [p.code for p in err.value.problems] == ["outside_municipality"]
    with pytest.raises(ValidationError):
        ws.update_parcel(fid, {"land_category": "moon"}, expected_version=1, user="aida")
    with pytest.raises(InputError):
        ws.update_parcel(fid, {"row_version": 7}, expected_version=1, user="aida")
    # The parcel's own old geometry is not an overlap with itself.
    moved = ws.update_parcel(fid, {"geometry": shapely.box(X0 + 1_005, Y0 + 1_000, X0 + 1_025,
                                                           Y0 + 1_020)},
                             expected_version=1, user="aida")
    assert moved["row_version"] == 2
    assert ws.count("parcels") == 1


def test_history_shows_who_when_what(ws: Workspace) -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    fid = ws.create_parcel(new_parcel(), user="aida")["fid"]
    ws.update_parcel(fid, {"holder": "Бакыт", "in_use": False}, expected_version=1, user="bakyt")
    ws.update_parcel(fid, {"geometry": shapely.box(X0 + 1_000, Y0 + 1_000, X0 + 1_010,
                                                   Y0 + 1_010)},
                     expected_version=2, user="chynara")
    ws.delete_parcel(fid, expected_version=3, user="dastan")
    entries = ws.history(fid)
    assert [(e.action, e.version, e.user) for e in entries] == [
        ("delete", 4, "dastan"), ("update", 3, "chynara"), ("update", 2, "bakyt"),
        ("create", 1, "aida"),
    ]
    assert all(before <= e.at <= datetime.now(UTC) for e in entries)
    assert entries[2].changes == {"holder": ("Асан Усонов", "Бакыт"), "in_use": (True, False)}
    assert entries[1].changes["geometry"] == ("changed", "changed")
    assert entries[1].changes["area_ha"] == (pytest.approx(0.04), pytest.approx(0.01))
    assert entries[3].changes["cadastral_no"] == (None, "NEW-1")
    assert entries[0].snapshot["holder"] == "Бакыт"
    assert shapely.from_wkb(entries[0].snapshot["geometry"]).area == pytest.approx(100.0)
    assert entries[0].cadastral_no == "NEW-1"
    assert ws.history(fid, limit=1, offset=1)[0].version == 3
    public = ws.history(fid, include_personal=False)
    assert "holder" not in public[0].snapshot
    assert "holder" not in public[2].changes
    assert ws.history(fid)[0].to_dict()["at"].endswith("Z")


def test_restore_an_earlier_version_and_a_deleted_parcel(ws: Workspace) -> None:
    fid = ws.create_parcel(new_parcel(), user="aida")["fid"]
    ws.update_parcel(fid, {"ownership": "private", "geometry": shapely.box(
        X0 + 1_000, Y0 + 1_000, X0 + 1_050, Y0 + 1_050)}, expected_version=1, user="bakyt")
    v1 = ws.parcel_version(fid, 1)
    assert v1["ownership"] == "state"
    assert v1["area_ha"] == pytest.approx(0.04)

    restored = ws.restore_parcel(fid, 1, user="chynara", expected_version=2)
    assert restored["row_version"] == 3
    assert restored["ownership"] == "state"
    assert restored["geometry"].equals(v1["geometry"])
    assert ws.history(fid)[0].action == "restore"
    assert ws.history(fid)[0].changes["ownership"] == ("private", "state")
    with pytest.raises(ConflictError):
        ws.restore_parcel(fid, 2, user="chynara", expected_version=2)

    ws.delete_parcel(fid, expected_version=3, user="dastan")
    with pytest.raises(NotFoundError, match="deletion"):
        ws.parcel_version(fid, 4)
    revived = ws.restore_parcel(fid, 2, user="erlan", expected_version=4)
    assert revived["fid"] == fid
    assert revived["row_version"] == 5
    assert revived["ownership"] == "private"
    assert ws.find_parcel("NEW-1")["fid"] == fid
    with pytest.raises(NotFoundError):
        ws.parcel_version(fid, 99)


def test_restore_of_a_deleted_parcel_is_validated(ws: Workspace) -> None:
    fid = ws.create_parcel(new_parcel(), user="aida")["fid"]
    ws.delete_parcel(fid, expected_version=1, user="aida")
    ws.create_parcel(new_parcel("OTHER", size=5.0), user="aida")  # now occupies the spot
    with pytest.raises(ValidationError) as err:
        ws.restore_parcel(fid, 1, user="aida")
    assert [p.code for p in err.value.problems] == ["overlap"]
    with pytest.raises(NotFoundError):
        ws.get_parcel(fid)


# ---------------------------------------------------------------------------- imports
def test_import_with_one_bad_row_changes_nothing(ws: Workspace) -> None:
    ws.import_layer("parcels", parcel_grid(3, 1, prefix="OLD"), user="aida")
    history_before = len(ws.history(limit=1000))
    frame = parcel_grid(5, 2, origin=(X0, Y0 + 100))
    frame.loc[7, "land_category"] = "moon"
    with pytest.raises(ValidationError) as err:
        ws.import_layer("parcels", frame, user="bakyt")
    errors = [p for p in err.value.problems if p.severity == "error"]
    assert [(p.code, p.row, p.feature) for p in errors] == [("unknown_code", 7, "P-000007")]
    assert ws.count("parcels") == 3
    assert len(ws.history(limit=1000)) == history_before


def test_import_checks_keys_and_overlaps_against_existing(ws: Workspace) -> None:
    ws.import_layer("parcels", parcel_grid(2, 2), user="aida")
    again = parcel_grid(2, 1, origin=(X0 + 5, Y0))  # same keys, shifted half a parcel
    with pytest.raises(ValidationError) as err:
        ws.import_layer("parcels", again, user="aida")
    codes = {p.code for p in err.value.problems}
    assert codes == {"duplicate_key", "overlap"}
    assert ws.count("parcels") == 4


def test_valid_only_imports_the_valid_rows(ws: Workspace) -> None:
    frame = parcel_grid(4, 1)
    frame.loc[1, "ownership"] = None
    frame.loc[3, "geometry"] = shapely.box(X0 - 900, Y0, X0 - 800, Y0 + 10)  # outside
    report = ws.import_layer("parcels", frame, user="aida", valid_only=True)
    assert (report.imported, report.skipped) == (2, 2)
    assert {p.row for p in report.problems if p.severity == "error"} == {1, 3}
    assert report.to_dict()["imported"] == 2
    stored = ws.read_layer("parcels")
    assert stored["cadastral_no"].tolist() == ["P-000000", "P-000002"]
    assert stored["row_version"].tolist() == [1, 1]
    assert [h.action for h in ws.history()] == ["import", "import"]


def test_import_roundtrips_types_and_reprojects(ws: Workspace) -> None:
    frame = parcel_grid(3, 2)
    frame["official_area_ha"] = [0.01, 0.02, None, 0.01, 0.01, 0.01]
    frame["state_ag_fund"] = [True, False, None, True, False, True]
    calls: list[tuple[int, int]] = []
    report = ws.import_layer("parcels", frame.to_crs(4326), user="aida",
                             progress=lambda done, total: calls.append((done, total)))
    assert report.imported == 6
    assert [p.code for p in report.problems] == ["area_mismatch"]  # 0.02 ha vs 0.01 ha
    assert calls[0] == (0, 6) and calls[-1] == (6, 6)
    stored = ws.read_layer("parcels")
    assert stored.crs.to_epsg() == CRS
    assert stored["fid"].is_monotonic_increasing
    assert stored["in_use"].tolist() == frame["in_use"].tolist()
    assert str(stored["in_use"].dtype) == "boolean"
    assert stored["state_ag_fund"].tolist() == [True, False, False, True, False, True]
    assert stored["lease_until"].tolist() == frame["lease_until"].tolist()
    assert stored["official_area_ha"].isna().tolist() == [False, False, True, False, False, False]
    assert stored["area_ha"].to_numpy() == pytest.approx(np.full(6, 0.01), rel=1e-6)
    assert shapely.equals_exact(stored.geometry.to_numpy(), frame.geometry.to_numpy(),
                                tolerance=1e-6).all()
    assert stored.geometry.geom_type.unique().tolist() == ["Polygon"]


def test_replace_mode_clears_the_layer_and_records_deletions(ws: Workspace) -> None:
    ws.import_layer("parcels", parcel_grid(2, 1, prefix="OLD"), user="aida")
    old_fids = ws.read_layer("parcels")["fid"].tolist()
    ws.import_layer("parcels", parcel_grid(3, 1, prefix="NEW"), user="bakyt", mode="replace")
    stored = ws.read_layer("parcels")
    assert stored["cadastral_no"].tolist() == ["NEW-000000", "NEW-000001", "NEW-000002"]
    assert not set(stored["fid"]) & set(old_fids)  # feature ids are never reused
    deletions = [h for h in ws.history() if h.action == "delete"]
    assert sorted(h.fid for h in deletions) == old_fids
    assert all(h.version == 2 and h.user == "bakyt" for h in deletions)


def test_reference_layers_are_imported_and_read(ws: Workspace) -> None:
    settlements = gpd.GeoDataFrame(
        {"name": ["Исфана", "Кара-Таш"], "households": [5_000, 120],
         "population": [25_000, 600]},
        geometry=[shapely.Point(X0 + 500, Y0 + 500),
                  shapely.box(X0 + 100, Y0 + 100, X0 + 300, Y0 + 300)], crs=CRS,
    )
    report = ws.import_layer("settlements", settlements, user="aida")
    assert report.imported == 2
    stored = ws.read_layer("settlements")
    assert stored["name"].tolist() == ["Исфана", "Кара-Таш"]
    assert stored["population"].tolist() == [25_000, 600]
    assert stored.geometry.geom_type.tolist() == ["Point", "Polygon"]
    assert "row_version" not in stored.columns
    with pytest.raises(ValidationError):
        ws.import_layer("settlements", settlements.iloc[:1], user="aida")  # duplicate name
    water = gpd.GeoDataFrame(
        {"water_id": ["W1"], "kind": ["river"], "water_class": ["main"]},
        geometry=[shapely.LineString([(X0 + 1, Y0 + 1), (X0 + 900, Y0 + 800)])], crs=CRS,
    )
    ws.import_layer("water_bodies", water, user="aida")
    assert ws.read_layer("water_bodies").geometry.iloc[0].length == pytest.approx(
        water.geometry.iloc[0].length)
    with pytest.raises(ValidationError):
        ws.import_layer("municipality", municipality(), user="aida")  # would make two


def test_unknown_layer_is_not_found(ws: Workspace) -> None:
    with pytest.raises(NotFoundError):
        ws.read_layer("roads")
    with pytest.raises(NotFoundError):
        ws.get_parcel(12345)


# ---------------------------------------------------------------------------- reading
def test_bbox_where_columns_limit(ws: Workspace) -> None:
    ws.import_layer("parcels", parcel_grid(10, 10), user="aida")  # 100 m x 100 m at X0, Y0
    inside = ws.read_layer("parcels", bbox=(X0 + 21, Y0 + 21, X0 + 39, Y0 + 29))
    assert inside["cadastral_no"].tolist() == ["P-000022", "P-000023"]
    lon_lat = gpd.GeoSeries([shapely.box(X0 + 21, Y0 + 21, X0 + 39, Y0 + 29)],
                            crs=CRS).to_crs(4326).total_bounds
    assert set(ws.read_layer("parcels", bbox=tuple(lon_lat), bbox_crs=4326)["cadastral_no"]) >= {
        "P-000022", "P-000023"}
    assert len(ws.read_layer("parcels", bbox=(X0 + 500, Y0 + 500, X0 + 600, Y0 + 600))) == 0
    page = ws.read_layer("parcels", bbox=(X0 + 1, Y0 + 1, X0 + 99, Y0 + 9), limit=3, offset=2)
    assert page["cadastral_no"].tolist() == ["P-000002", "P-000003", "P-000004"]

    settlement = ws.read_layer("parcels", where={"land_category": "settlement",
                                                 "in_use": True})
    assert len(settlement) == 25  # every third parcel, less those not in use
    assert len(ws.read_layer("parcels", where={"lease_until": date(2030, 1, 2)})) == 20
    assert len(ws.read_layer("parcels", where={"lease_until": None})) == 80
    assert len(ws.read_layer("parcels", where={"cadastral_no": ["P-000001", "P-000099"]})) == 2

    narrow = ws.read_layer("parcels", columns=["cadastral_no"], limit=5, offset=10)
    assert narrow.columns.tolist() == ["fid", "cadastral_no", "geometry"]
    assert narrow["cadastral_no"].tolist() == [f"P-{k:06d}" for k in range(10, 15)]
    with pytest.raises(InputError):
        ws.read_layer("parcels", columns=["no_such_column"])
    with pytest.raises(InputError):
        ws.read_layer("parcels", where={"no_such_column": 1})
    triangle = ws.create_parcel(new_parcel("TRI", geometry=shapely.Polygon(
        [(X0 + 200, Y0 + 200), (X0 + 300, Y0 + 200), (X0 + 200, Y0 + 300)])), user="aida")
    # The triangle's envelope covers this box but the triangle does not: no hit.
    assert len(ws.read_layer("parcels", bbox=(X0 + 280, Y0 + 280, X0 + 290, Y0 + 290))) == 0
    assert ws.read_layer("parcels", bbox=(X0 + 201, Y0 + 201, X0 + 202, Y0 + 202))[
        "fid"].tolist() == [triangle["fid"]]


def test_bbox_uses_the_spatial_index(ws: Workspace) -> None:
    ws.import_layer("parcels", parcel_grid(3, 3), user="aida")
    condition, params = ws._bbox_condition("parcels", (X0, Y0, X0 + 5, Y0 + 5))
    query = f"SELECT fid FROM {ws._t('parcels')} WHERE {condition}"
    if isinstance(ws, GeoPackageWorkspace):
        plan = " ".join(str(r) for r in ws._fetch(f"EXPLAIN QUERY PLAN {query}", params))
        assert "rtree_parcels_geom VIRTUAL TABLE INDEX" in plan
    else:
        with ws.transaction():
            ws._execute("SET LOCAL enable_seqscan = off")
            plan = " ".join(str(r) for r in ws._fetch(f"EXPLAIN {query}", params))
        assert "parcels_geom_gist" in plan
    assert [r[0] for r in ws._fetch(query, params)] == [1]


def test_personal_columns_are_never_read_for_public(ws: Workspace) -> None:
    ws.import_layer("parcels", parcel_grid(2, 1), user="aida")
    public = ws.read_layer("parcels", include_personal=False)
    assert "holder" not in public.columns
    assert "cadastral_no" in public.columns
    assert "holder" in ws.read_layer("parcels").columns
    assert "holder" not in ws.get_parcel(int(public["fid"].iloc[0]), include_personal=False)
    with pytest.raises(InputError):
        ws.read_layer("parcels", where={"holder": "Holder 1"}, include_personal=False)


# ---------------------------------------------------------------------------- transactions
def test_transaction_groups_writes_and_failure_rolls_back_both(ws: Workspace) -> None:
    fid = ws.create_parcel(new_parcel(), user="aida")["fid"]
    with pytest.raises(ConflictError), ws.transaction():
        ws.update_parcel(fid, {"holder": "A"}, expected_version=1, user="a")
        ws.create_parcel(new_parcel("NEW-2", x=X0 + 1_500), user="a")
        ws.update_parcel(fid, {"holder": "B"}, expected_version=1, user="a")  # stale
    assert ws.get_parcel(fid)["holder"] == "Асан Усонов"
    assert ws.count("parcels") == 1
    assert len(ws.history(fid)) == 1

    with ws.transaction():
        ws.update_parcel(fid, {"holder": "A"}, expected_version=1, user="a")
        ws.set_metadata({"last_registration": "R-1"})
    assert ws.get_parcel(fid)["row_version"] == 2
    assert ws.metadata()["last_registration"] == "R-1"


def test_failed_write_inside_transaction_leaves_earlier_writes(ws: Workspace) -> None:
    fid = ws.create_parcel(new_parcel(), user="aida")["fid"]
    with ws.transaction():
        ws.update_parcel(fid, {"holder": "A"}, expected_version=1, user="a")
        with pytest.raises(ValidationError):
            ws.create_parcel(new_parcel("BAD", land_category="moon", x=X0 + 1_500), user="a")
    assert ws.get_parcel(fid)["holder"] == "A"
    assert ws.count("parcels") == 1


def test_metadata_and_layer_metadata(ws: Workspace) -> None:
    ws.set_layer_metadata("hazard_zones", {"illustrative": "true", "source": "MES 2023 map"})
    ws.set_layer_metadata("hazard_zones", {"source": "MES 2024 map"})
    assert ws.layer_metadata("hazard_zones") == {"illustrative": "true",
                                                 "source": "MES 2024 map"}
    assert ws.layer_metadata("parcels") == {}
    ws.set_metadata({"municipality_code": "41707"})
    assert ws.metadata()["municipality_code"] == "41707"
    if isinstance(ws, GeoPackageWorkspace):
        info = pyogrio.read_info(ws.path, layer="hazard_zones")
        assert "MES 2024 map" in info["layer_metadata"]["DESCRIPTION"]
        assert "illustrative: true" in info["layer_metadata"]["DESCRIPTION"]


def test_plain_tables(ws: Workspace) -> None:
    ws.ensure_table("requests", {"parcel_fid": "integer", "status": "text", "fee": "real",
                                 "urgent": "boolean", "due": "date", "at": "timestamp",
                                 "extra": "json"})
    moment = datetime(2025, 5, 6, 9, 30, tzinfo=UTC)
    rid = ws.insert_row("requests", {"parcel_fid": 7, "status": "submitted", "urgent": True,
                                     "due": date(2025, 5, 10), "at": moment,
                                     "extra": {"doc": ["a", "b"]}})
    ws.insert_row("requests", {"parcel_fid": 8, "status": "draft", "urgent": False})
    rows = ws.select_rows("requests", where={"status": "submitted"})
    assert rows == [{"id": rid, "parcel_fid": 7, "status": "submitted", "fee": None,
                     "urgent": True, "due": date(2025, 5, 10), "at": moment,
                     "extra": {"doc": ["a", "b"]}}]
    assert ws.update_rows("requests", {"status": "approved"}, where={"id": rid}) == 1
    assert [r["status"] for r in ws.select_rows("requests", order_by="parcel_fid")] == [
        "approved", "draft"]
    ws.ensure_table("requests", {"parcel_fid": "integer", "decision": "text"})  # adds a column
    assert ws.select_rows("requests", where={"id": rid})[0]["decision"] is None
    assert ws.delete_rows("requests", where={"urgent": False}) == 1
    with pytest.raises(InputError):
        ws.ensure_table("parcels", {"a": "text"})
    with pytest.raises(InputError):
        ws.insert_row("requests", {"nope": 1})
    with pytest.raises(NotFoundError):
        ws.select_rows("no_table")


# ---------------------------------------------------------------------------- SIGKILL
_KILLED_IMPORT = textwrap.dedent("""
    import sys, time
    import pandas as pd
    from spatial.store import open_workspace

    url, frame_file, marker = sys.argv[1:4]
    frame = pd.read_pickle(frame_file)
    ws = open_workspace(url)

    def progress(done, total):
        if 0 < done < total:
            with open(marker, "w") as out:
                out.write(str(done))
            time.sleep(600)  # the test kills us here, mid-transaction

    ws.import_layer("parcels", frame, user="killed", progress=progress)
    print("finished without being killed")
""")


@pytest.mark.slow
def test_sigkilled_import_leaves_the_workspace_unchanged(store_url: str, tmp_path: Path) -> None:
    with create_workspace(store_url, municipality(2_000.0)) as ws:
        ws.import_layer("parcels", parcel_grid(3, 1, prefix="KEEP"), user="aida")
        before = ws.read_layer("parcels")
        history_before = [h.to_dict() for h in ws.history(limit=1000)]
    big = parcel_grid(200, 150, size=10.0, origin=(X0, Y0 + 100))  # 30 000 parcels
    frame_file = tmp_path / "frame.pkl"
    big.to_pickle(frame_file)
    marker = tmp_path / "writing"
    proc = subprocess.Popen(
        [sys.executable, "-c", _KILLED_IMPORT, store_url, str(frame_file), str(marker)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 240
        while not marker.exists():
            if proc.poll() is not None:
                out, err = proc.communicate()
                pytest.fail(f"import process ended early: {out.decode()} {err.decode()}")
            if time.monotonic() > deadline:
                pytest.fail("import never reached the write phase")
            time.sleep(0.05)
        assert int(marker.read_text()) > 0  # rows were written in the open transaction
        if not store_url.startswith("postgresql"):
            assert Path(f"{store_url}-journal").exists()  # an uncommitted write is under way
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL

    with open_workspace(store_url) as ws:
        after = ws.read_layer("parcels")
        pd.testing.assert_frame_equal(
            pd.DataFrame(after.drop(columns="geometry")),
            pd.DataFrame(before.drop(columns="geometry")),
        )
        assert after.geometry.equals(before.geometry)
        assert [h.to_dict() for h in ws.history(limit=1000)] == history_before
        # Still writable, with a consistent spatial index.
        ws.import_layer("parcels", parcel_grid(2, 1, prefix="AFTER", origin=(X0, Y0 + 50)),
                        user="aida")
        assert ws.count("parcels") == 5
        hits = ws.read_layer("parcels", bbox=(X0 + 1, Y0 + 51, X0 + 2, Y0 + 52))
        assert hits["cadastral_no"].tolist() == ["AFTER-000000"]
    if not store_url.startswith("postgresql"):
        assert len(pyogrio.read_dataframe(store_url, layer="parcels")) == 5


# ---------------------------------------------------------------------------- GeoPackage
def test_geopackage_is_read_by_gdal(tmp_path: Path) -> None:
    path = tmp_path / "isfana.gpkg"
    with create_workspace(path, municipality()) as ws:
        ws.import_layer("parcels", parcel_grid(4, 3), user="aida")
        ws.create_parcel(new_parcel(), user="aida")
    layers = dict(pyogrio.list_layers(path))
    assert set(layers) >= {"municipality", "settlements", "parcels", "zones", "hazard_zones",
                           "jer_history", "jer_metadata"}
    assert layers["parcels"] == "MultiPolygon"
    info = pyogrio.read_info(path, layer="parcels")
    assert info["crs"] == "EPSG:32642"
    assert info["features"] == 13
    assert info["geometry_type"] == "MultiPolygon"
    types = dict(zip(info["fields"], info["dtypes"], strict=True))
    assert types["in_use"] == "bool"
    assert types["lease_until"] == "datetime64[D]"  # DATE columns read as dates
    assert types["row_version"] == "int64"
    assert info["capabilities"]["fast_spatial_filter"]
    for layer, _ in pyogrio.list_layers(path):
        pyogrio.read_dataframe(path, layer=layer)  # every layer reads cleanly
    history = pyogrio.read_info(path, layer="jer_history")
    assert dict(zip(history["fields"], history["dtypes"], strict=True))["at"].startswith(
        "datetime64")
    gdal = pyogrio.read_dataframe(path, layer="parcels", bbox=(X0 + 21, Y0 + 11, X0 + 29,
                                                               Y0 + 19))
    assert gdal["cadastral_no"].tolist() == ["P-000006"]
    assert gdal.geometry.iloc[0].area == pytest.approx(100.0)
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA application_id").fetchone()[0] == 0x47504B47
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 10400
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rtree = conn.execute('SELECT count(*) FROM "rtree_parcels_geom"').fetchone()[0]
        assert rtree == 13
        extent = conn.execute("SELECT min_x, min_y, max_x, max_y FROM gpkg_contents "
                              "WHERE table_name = 'parcels'").fetchone()
        assert extent == pytest.approx((X0, Y0, X0 + 1_020, Y0 + 1_020))
        kinds = dict(conn.execute("SELECT table_name, data_type FROM gpkg_contents"))
        assert kinds["parcels"] == "features"
        assert kinds["jer_history"] == "attributes"
        assert conn.execute(
            "SELECT count(*) FROM gpkg_extensions WHERE extension_name = 'gpkg_rtree_index'"
        ).fetchone()[0] == 10


def test_geopackage_edited_by_gdal_stays_readable(tmp_path: Path) -> None:
    """A feature GDAL (i.e. QGIS) adds, with its own blobs and triggers, reads back."""
    path = tmp_path / "isfana.gpkg"
    with create_workspace(path, municipality()) as ws:
        ws.import_layer("parcels", parcel_grid(2, 1), user="aida")
        template = ws.read_layer("parcels")
    extra = template.iloc[:1].copy()
    extra["cadastral_no"] = "QGIS-1"
    extra["fid"] = 50
    extra["geometry"] = [shapely.MultiPolygon([shapely.box(X0 + 300, Y0 + 300, X0 + 310,
                                                           Y0 + 310)])]
    extra["in_use"] = extra["in_use"].astype(bool)
    extra["state_ag_fund"] = extra["state_ag_fund"].astype(bool)
    extra = extra.drop(columns=["fid"])
    pyogrio.write_dataframe(extra, path, layer="parcels", append=True)
    with open_workspace(path) as ws:
        stored = ws.read_layer("parcels")
        assert stored["cadastral_no"].tolist() == ["P-000000", "P-000001", "QGIS-1"]
        hits = ws.read_layer("parcels", bbox=(X0 + 301, Y0 + 301, X0 + 302, Y0 + 302))
        assert hits["cadastral_no"].tolist() == ["QGIS-1"]


def _blob_with_envelope(geom: shapely.Geometry, indicator: int, big_endian: bool) -> bytes:
    """A GeoPackage blob with any envelope kind, as other writers produce."""
    order = ">" if big_endian else "<"
    x0, y0, x1, y1 = geom.bounds
    envelope = {0: (), 1: (x0, x1, y0, y1), 2: (x0, x1, y0, y1, 0.0, 0.0),
                3: (x0, x1, y0, y1, 0.0, 0.0), 4: (x0, x1, y0, y1, 0.0, 0.0, 0.0, 0.0)}
    values = envelope[indicator]
    head = b"GP" + bytes([0, (indicator << 1) | (0 if big_endian else 1)])
    head += struct.pack(order + "i", CRS) + struct.pack(order + f"{len(values)}d", *values)
    return head + shapely.to_wkb(geom, flavor="iso", byte_order=0 if big_endian else 1)


coords = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    boxes=st.lists(st.tuples(coords, coords, st.floats(0.01, 1e4), st.floats(0.01, 1e4)),
                   min_size=1, max_size=20),
    indicator=st.sampled_from([0, 1, 2, 3, 4]),
    big_endian=st.booleans(),
)
def test_geometry_blobs_decode_whatever_the_envelope(
    boxes: list[tuple[float, float, float, float]], indicator: int, big_endian: bool,
) -> None:
    """Our encoder and every envelope kind decode, through SQL, to the same geometry."""
    from spatial.store.gpkg import _GEOM_SELECT, decode_gpkg_geometry

    geoms = np.array([shapely.box(x, y, x + w, y + h) for x, y, w, h in boxes], dtype=object)
    ours = encode_gpkg_geometries(geoms, CRS)
    theirs = [_blob_with_envelope(g, indicator, big_endian) for g in geoms]
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (geom BLOB)")
    conn.executemany("INSERT INTO t VALUES (?)", [(b,) for b in ours + theirs])
    decoded = shapely.from_wkb([r[0] for r in conn.execute(f"SELECT {_GEOM_SELECT} FROM t")])
    expected = np.concatenate([geoms, geoms])
    assert shapely.equals_exact(decoded, expected, tolerance=0).all()
    assert all(shapely.equals_exact(decode_gpkg_geometry(b), g, tolerance=0)
               for b, g in zip(theirs, geoms, strict=True))
    first = ours[0]
    assert first is not None
    assert first[:4] == b"GP\x00\x03"
    env = struct.unpack_from("<4d", first, 8)
    x0, y0, x1, y1 = geoms[0].bounds
    assert env == (x0, x1, y0, y1)


# ---------------------------------------------------------------------------- invariants
_edit = st.one_of(
    st.tuples(st.just("update"), st.sampled_from(["state", "municipal", "private"])),
    st.tuples(st.just("stale"), st.sampled_from(["state", "private"])),
    st.tuples(st.just("delete"), st.none()),
    st.tuples(st.just("restore"), st.integers(min_value=1, max_value=12)),
)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(edits=st.lists(_edit, min_size=1, max_size=8))
def test_versions_and_history_follow_every_write(tmp_path: Path, edits: list[tuple[str, object]]
                                                 ) -> None:
    """Whatever the sequence of edits, each successful write adds exactly one version, the
    history has one entry per version, and every version reads back as it was written."""
    path = tmp_path / f"{uuid.uuid4().hex}.gpkg"
    with create_workspace(path, municipality()) as ws:
        fid = ws.create_parcel(new_parcel(), user="u0")["fid"]
        states: dict[int, str | None] = {1: "state"}  # version -> ownership (None: deleted)
        version = 1
        for step, (kind, arg) in enumerate(edits, start=1):
            user = f"u{step}"
            alive = states[version] is not None
            if kind == "update" and alive:
                ws.update_parcel(fid, {"ownership": arg}, expected_version=version, user=user)
                version += 1
                states[version] = str(arg)
            elif kind == "stale" and alive and version > 1:
                with pytest.raises(ConflictError):
                    ws.update_parcel(fid, {"ownership": arg}, expected_version=version - 1,
                                     user=user)
            elif kind == "delete" and alive:
                ws.delete_parcel(fid, expected_version=version, user=user)
                version += 1
                states[version] = None
            elif kind == "restore" and isinstance(arg, int) and states.get(arg) is not None:
                ws.restore_parcel(fid, arg, user=user, expected_version=version)
                states[version + 1] = states[arg]
                version += 1
        entries = ws.history(fid)
        assert [e.version for e in entries] == list(range(version, 0, -1))
        for v, ownership in states.items():
            if ownership is None:
                with pytest.raises(NotFoundError):
                    ws.parcel_version(fid, v)
            else:
                assert ws.parcel_version(fid, v)["ownership"] == ownership
                assert ws.parcel_version(fid, v)["row_version"] == v
        if states[version] is None:
            assert ws.count("parcels") == 0
        else:
            assert ws.get_parcel(fid)["row_version"] == version
            assert ws.get_parcel(fid)["ownership"] == states[version]

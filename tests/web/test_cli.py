"""The jer CLI end to end on the Isfana demo workspace."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import pyogrio
import pytest
from shapely.geometry import box
from typer.testing import CliRunner

from spatial.store import open_workspace
from web.cli import app

runner = CliRunner()


def jer(*args: str, workspace: Path | None = None) -> tuple[int, str, str]:
    argv = list(args) + (["--workspace", str(workspace)] if workspace else [])
    result = runner.invoke(app, argv, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def as_json(out: str):
    return json.loads(out)


def test_demo_command_builds_a_workspace_gdal_opens(tmp_path):
    target = tmp_path / "ws" / "isfana.gpkg"
    code, out, _ = jer("demo", "--format", "json", workspace=target)
    assert code == 0
    layers = as_json(out)["layers"]
    assert layers["settlements"] == 7 and layers["parcels"] >= 5000
    names = {name for name, _ in pyogrio.list_layers(target)}
    assert {"municipality", "settlements", "parcels"} <= names
    info = pyogrio.read_info(target, layer="parcels")
    assert info["crs"] == "EPSG:32642"
    assert info["features"] == layers["parcels"]


def test_balance_matches_the_real_isfana_totals(demo_gpkg):
    code, out, _ = jer("balance", "--format", "json", "--lang", "ru", workspace=demo_gpkg)
    assert code == 0
    data = as_json(out)
    text = json.dumps(data, ensure_ascii=False)
    assert "земли запаса" in text  # Russian labels
    ws = open_workspace(demo_gpkg)
    try:
        settlements = ws.read_layer("settlements")
        parcels = ws.read_layer("parcels", include_personal=False)
    finally:
        ws.close()
    assert int(settlements["households"].sum()) == 7235
    assert int(settlements["population"].sum()) == 31613
    gap = data["gap_ha"]
    assert parcels["area_ha"].sum() + gap == pytest.approx(28950, abs=0.1)
    assert data["official_area_ha"] == pytest.approx(28950)


def test_import_with_one_bad_row_changes_nothing_and_names_the_row(demo_copy, tmp_path):
    ws = open_workspace(demo_copy)
    before = ws.count("parcels")
    crs = ws.crs
    ws.close()
    frame = gpd.GeoDataFrame(
        {
            "cadastral_no": ["NEW-1", "NEW-2"],
            "land_category": ["reserve", "farmland"],
            "ownership": ["municipal", "municipal"],
            "in_use": [False, False],
        },
        geometry=[box(0, 0, 10, 10), box(20, 0, 30, 10)],
        crs=crs,
    )
    src = tmp_path / "extract.geojson"
    frame.to_file(src)
    code, _, err = jer("import", str(src), "--layer", "parcels", workspace=demo_copy)
    assert code == 1
    assert "nothing was written" in err
    assert "farmland" in err and "Traceback" not in err
    ws = open_workspace(demo_copy)
    try:
        assert ws.count("parcels") == before
    finally:
        ws.close()


def test_history_and_restore_through_the_cli(demo_copy):
    ws = open_workspace(demo_copy)
    parcel = ws.read_layer("parcels", limit=1).iloc[0]
    ws.update_parcel(int(parcel["fid"]), {"in_use": not bool(parcel["in_use"])},
                     expected_version=int(parcel["row_version"]), user="tester")
    ws.close()
    code, out, _ = jer("history", "--parcel", parcel["cadastral_no"], "--format", "json",
                       workspace=demo_copy)
    assert code == 0
    entries = as_json(out)
    assert entries[0]["user"] == "tester" and "in_use" in entries[0]["changes"]
    code, out, _ = jer("restore", "--parcel", parcel["cadastral_no"], "--version",
                       str(int(parcel["row_version"])), "--user", "tester", "--format", "json",
                       workspace=demo_copy)
    assert code == 0
    ws = open_workspace(demo_copy)
    try:
        restored = ws.find_parcel(parcel["cadastral_no"])
        assert bool(restored["in_use"]) == bool(parcel["in_use"])
        assert restored["row_version"] == int(parcel["row_version"]) + 2
    finally:
        ws.close()


def test_public_export_leaves_out_holders(demo_gpkg, tmp_path):
    out = tmp_path / "parcels.gpkg"
    code, _, _ = jer("export", str(out), "--layer", "parcels", "--public", workspace=demo_gpkg)
    assert code == 0
    exported = pyogrio.read_dataframe(out, layer="parcels")
    assert "holder" not in exported.columns
    full = tmp_path / "full.xlsx"
    assert jer("export", str(full), "--layer", "parcels", workspace=demo_gpkg)[0] == 0


def test_validate_reports_warnings_of_the_stored_inventory(demo_gpkg):
    code, out, _ = jer("validate", "--format", "json", workspace=demo_gpkg)
    report = as_json(out)
    assert code == 0 and report["errors"] == 0
    assert report["warnings"] > 0  # the demo has deliberate official-area mismatches
    assert {p["code"] for p in report["problems"]} == {"area_mismatch"}


def test_check_a_parcel_and_all_parcels(demo_gpkg):
    ws = open_workspace(demo_gpkg)
    parcel = ws.read_layer("parcels", where={"land_category": "settlement"}, limit=1).iloc[0]
    ws.close()
    code, out, _ = jer("check", "--parcel", parcel["cadastral_no"], "--use", "landfill",
                       "--format", "json", workspace=demo_gpkg)
    assert code == 0
    result = as_json(out)
    assert result["verdict"] == "prohibited"
    assert all("source" in r for r in result["reasons"])
    code, out, _ = jer("check-all", "--format", "json", workspace=demo_gpkg)
    summary = as_json(out)
    assert code == 0 and sum(summary["verdicts"].values()) == summary["parcels"]
    assert summary["rules"]  # rule ids are counted whole, not character by character
    assert all(len(rule) > 1 for rule in summary["rules"])


def test_check_a_drawn_polygon(demo_gpkg, tmp_path):
    ws = open_workspace(demo_gpkg)
    centre = ws.read_layer("settlements").geometry.iloc[0].centroid
    crs = ws.crs
    ws.close()
    drawn = gpd.GeoDataFrame(geometry=[centre.buffer(40)], crs=crs).to_crs(4326)
    path = tmp_path / "drawn.geojson"
    drawn.to_file(path)
    code, out, _ = jer("check", "--geometry", str(path), "--use", "school", "--format", "json",
                       workspace=demo_gpkg)
    assert code == 0
    assert as_json(out)["verdict"] in {"allowed", "conditional", "prohibited"}


def test_hazard_exposure_and_derive(demo_copy):
    code, out, _ = jer("hazards", "exposure", "--format", "json", workspace=demo_copy)
    assert code == 0
    data = as_json(out)
    assert data["exposure"]["classes"] and "holder" not in json.dumps(data)
    code, out, _ = jer("hazards", "derive", "--write", "--format", "json", workspace=demo_copy)
    assert code == 0
    ids = {z["hazard_id"] for z in as_json(out)["zones"]}
    ws = open_workspace(demo_copy)
    try:
        stored = set(ws.read_layer("hazard_zones")["hazard_id"])
    finally:
        ws.close()
    assert ids <= stored and len(stored) > len(ids)  # mapped zones kept beside derived ones


def test_rulebook_validate_names_a_typo(tmp_path):
    from jer_data import RULEBOOK_DIR

    text = (RULEBOOK_DIR / "default.yaml").read_text(encoding="utf-8")
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace("zone_types:", "zone_typs:", 1), encoding="utf-8")
    code, _, err = jer("rulebook", "validate", str(bad))
    assert code == 1
    assert "zone_typs" in err and "zone_types" in err
    assert jer("rulebook", "validate")[0] == 0


def test_bad_input_is_one_line_without_traceback(tmp_path):
    code, _, err = jer("import", str(tmp_path / "missing.zip"),
                       workspace=tmp_path / "none.gpkg")
    assert code == 1 and "Traceback" not in err and err.startswith("error:")
    code, _, err = jer("balance", workspace=tmp_path / "none.gpkg")
    assert code == 1 and "Traceback" not in err


def test_init_creates_a_workspace_from_a_boundary(tmp_path):
    boundary = gpd.GeoDataFrame(geometry=[box(69.5, 39.8, 69.52, 39.82)], crs=4326)
    path = tmp_path / "b.geojson"
    boundary.to_file(path)
    target = tmp_path / "new.gpkg"
    code, out, _ = jer("init", str(path), "--name-ky", "Жаңы", "--name-ru", "Новый",
                       "--name-en", "New", "--format", "json", workspace=target)
    assert code == 0
    assert as_json(out)["crs"] == "EPSG:32642"
    code, out, _ = jer("init", str(path), "--name-ky", "a", "--name-ru", "b", "--name-en", "c",
                       "--crs-system", "kyrg06", "--overwrite", "--format", "json",
                       workspace=target)
    assert as_json(out)["crs"] == "EPSG:7692"


def test_rulebook_set_makes_checks_use_the_municipality_rulebook(demo_copy, tmp_path):
    from jer_data import RULEBOOK_DIR

    ws = open_workspace(demo_copy)
    parcel = ws.read_layer("parcels", where={"land_category": "settlement"}, limit=1).iloc[0]
    ws.close()
    # A municipal rulebook that extends the default under its own version.
    local = tmp_path / "isfana.yaml"
    local.write_text(
        f"extends: {RULEBOOK_DIR / 'default.yaml'}\n"
        "rulebook_version: '2025.2-isfana'\n"
        "municipality: {code: isfana, name: {ky: Исфана, ru: Исфана, en: Isfana}}\n"
        "valid_from: 2025-06-01\n",
        encoding="utf-8",
    )
    code, out, err = jer("rulebook", "set", str(local), "--format", "json", workspace=demo_copy)
    assert code == 0, err
    assert as_json(out)["version"] == "2025.2-isfana"
    ws = open_workspace(demo_copy)
    try:
        assert ws.metadata()["rulebook"] == str(local.resolve())
    finally:
        ws.close()
    bad = tmp_path / "bad.yaml"
    bad.write_text("rulebook_version: 1\nzone_typs: {}\n", encoding="utf-8")
    code, _, err = jer("rulebook", "set", str(bad), workspace=demo_copy)
    assert code == 1 and "zone_typs" in err
    code, out, _ = jer("check", "--parcel", parcel["cadastral_no"], "--use", "school",
                       "--format", "json", workspace=demo_copy)
    assert code == 0

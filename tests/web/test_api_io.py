"""Imports and exports over the API: every format, limits while streaming, atomicity, privacy."""

from __future__ import annotations

import io
import json
import re
import shutil
import zipfile
from pathlib import Path
from typing import Any

import anyio
import geopandas as gpd
import openpyxl
import pyogrio
import pytest
import shapely
from fastapi.testclient import TestClient

from spatial.io import read_layer_file, write_layer_file
from spatial.schema import label
from spatial.store import open_workspace
from tests.web.test_cli import jer
from tests.web.test_parcels_api import bearer, free_squares, holders_of, make_users
from web.app import create_app
from web.auth import ROLES
from web.settings import Settings

GPKG_MEDIA = "application/geopackage+sqlite3"


def app_client(path: Path, **settings: Any) -> TestClient:
    return TestClient(create_app(Settings(workspace=str(path), **settings)),
                      raise_server_exceptions=False)


@pytest.fixture
def specialist(demo_copy: Path) -> dict[str, Any]:
    tokens = make_users(demo_copy, list(ROLES))
    return {"path": demo_copy, "tokens": tokens, "client": app_client(demo_copy)}


@pytest.fixture(scope="module")
def reader(demo_gpkg: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A demo copy shared by the tests that only read."""
    path = tmp_path_factory.mktemp("api-io") / "isfana.gpkg"
    shutil.copyfile(demo_gpkg, path)
    tokens = make_users(path, list(ROLES))
    return {"path": path, "tokens": tokens, "client": app_client(path)}


def new_parcels(path: Path, n: int = 3, *, prefix: str = "4-08-09-8888") -> gpd.GeoDataFrame:
    """``n`` valid new parcels on free land, in EPSG:4326."""
    squares = free_squares(path, n)
    geoms = [shapely.from_geojson(json.dumps(s)) for s in squares]
    return gpd.GeoDataFrame({
        "cadastral_no": [f"{prefix}-{i:04d}" for i in range(n)],
        "land_category": "settlement", "ownership": "municipal", "in_use": False,
        "holder": [f"Тестов Владелец {i}" for i in range(n)],
        "designated_use": "individual_housing", "settlement": "Isfana",
    }, geometry=geoms, crs=4326)


def count(path: Path, layer: str = "parcels") -> int:
    with open_workspace(path) as ws:
        return ws.count(layer)


def upload(client: TestClient, token: str, name: str, content: bytes, **fields: Any) -> Any:
    data = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in fields.items()}
    files: dict[str, Any] = {"file": (name, content)}
    if "mapping" in data:
        files["mapping"] = ("mapping.yaml", data.pop("mapping").encode())
    return client.post("/api/imports", data=data, files=files, headers=bearer(token))


def file_bytes(frame: gpd.GeoDataFrame, tmp_path: Path, name: str) -> bytes:
    if name.endswith(".kml"):
        frame.to_file(tmp_path / name, driver="KML")
    else:
        write_layer_file({"parcels": frame}, tmp_path / name)
    return (tmp_path / name).read_bytes()


# --------------------------------------------------------------------------- imports


@pytest.mark.parametrize("name, extra", [
    ("new.gpkg", {}), ("new.geojson", {}), ("new.zip", {}), ("new.csv", {"crs": "EPSG:4326"}),
    ("new.kml", {}),
])
def test_import_every_format_reports_and_writes(specialist, tmp_path, name, extra):
    frame = new_parcels(specialist["path"])
    if name.endswith(".kml"):
        frame = frame.rename(columns={"cadastral_no": "Name"})  # the placemark's name
        extra = {**extra, "mapping": "layer: parcels\ncolumns:\n  Name: cadastral_no\n"}
    before = count(specialist["path"])
    response = upload(specialist["client"], specialist["tokens"]["land_specialist"], name,
                      file_bytes(frame, tmp_path, name), layer="parcels", **extra)
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["layer"] == "parcels" and report["mode"] == "append"
    assert report["features_read"] == report["imported"] == 3 and report["skipped"] == 0
    assert report["errors"] == 0
    assert report["source"]["format"] in {"gpkg", "geojson", "shapefile_zip", "csv", "kml"}
    assert count(specialist["path"]) == before + 3
    with open_workspace(specialist["path"]) as ws:
        stored = ws.read_layer("parcels", where={"cadastral_no": list(
            new_parcels(specialist["path"], prefix="4-08-09-8888")["cadastral_no"])})
    assert len(stored) == 3 and set(stored["updated_by"]) == {"land_specialist"}


def test_an_invalid_row_refuses_the_whole_file_and_valid_only_skips_it(specialist, tmp_path):
    frame = new_parcels(specialist["path"])
    frame.loc[1, "land_category"] = "urban"  # not a code
    frame.loc[2, "cadastral_no"] = frame.loc[0, "cadastral_no"]  # a duplicate key
    content = file_bytes(frame, tmp_path, "bad.geojson")
    token = specialist["tokens"]["land_specialist"]
    before = count(specialist["path"])
    refused = upload(specialist["client"], token, "bad.geojson", content, layer="parcels")
    assert refused.status_code == 422
    found = refused.json()["problems"]
    assert {p["row"] for p in found if p["severity"] == "error"} >= {1, 2}
    assert any(p["column"] == "land_category" for p in found)
    assert count(specialist["path"]) == before  # atomic: nothing written
    partial = upload(specialist["client"], token, "bad.geojson", content, layer="parcels",
                     valid_only=True)
    assert partial.status_code == 200, partial.text
    report = partial.json()
    assert report["imported"] + report["skipped"] == 3 and report["skipped"] >= 1
    assert report["errors"] >= 1 and count(specialist["path"]) == before + report["imported"]


def test_a_failed_replace_keeps_the_layer(specialist, tmp_path):
    with open_workspace(specialist["path"]) as ws:
        zones = ws.read_layer("zones")
    broken = zones.drop(columns=["fid"]).copy()
    broken.loc[0, "zone_type"] = "no_such_zone_type"
    content = file_bytes(broken.to_crs(4326), tmp_path, "zones.geojson")
    response = upload(specialist["client"], specialist["tokens"]["land_specialist"],
                      "zones.geojson", content, layer="zones", mode="replace")
    assert response.status_code == 422, response.text
    with open_workspace(specialist["path"]) as ws:
        after = ws.read_layer("zones")
    assert list(after["fid"]) == list(zones["fid"])
    assert list(after["zone_type"]) == list(zones["zone_type"])


def test_a_mapping_file_brings_russian_headers_in(specialist, tmp_path):
    frame = new_parcels(specialist["path"]).rename(columns={
        "cadastral_no": "Кадастровый номер", "land_category": "Категория земель"})
    frame["Категория земель"] = "земли поселений"
    mapping = ("layer: parcels\ncolumns:\n  Кадастровый номер: cadastral_no\n"
               "  Категория земель: land_category\nvalues:\n  land_category:\n"
               "    земли поселений: settlement\n")
    response = upload(specialist["client"], specialist["tokens"]["admin"], "ru.geojson",
                      file_bytes(frame, tmp_path, "ru.geojson"), layer="parcels",
                      mapping=mapping)
    assert response.status_code == 200, response.text
    assert response.json()["imported"] == 3
    assert response.json()["source"]["renamed"]["Кадастровый номер"] == "cadastral_no"


def test_form_problems_are_named(specialist, tmp_path):
    client, token = specialist["client"], specialist["tokens"]["land_specialist"]
    content = file_bytes(new_parcels(specialist["path"]), tmp_path, "x.geojson")
    bad = upload(client, token, "x.geojson", content, layer="parcel", mode="merge",
                 valid_only="perhaps")
    assert bad.status_code == 422
    assert {p["column"] for p in bad.json()["problems"]} == {"layer", "mode", "valid_only"}
    assert "parcels" in next(p for p in bad.json()["problems"] if p["column"] == "layer")[
        "message"]
    missing = client.post("/api/imports", data={"layer": "parcels"},
                          files={"other": ("x.txt", b"x")}, headers=bearer(token))
    assert missing.status_code == 422
    assert {p["code"] for p in missing.json()["problems"]} >= {"missing_file"}
    not_multipart = client.post("/api/imports", json={"layer": "parcels"},
                                headers=bearer(token))
    assert not_multipart.status_code == 400 and "multipart" in not_multipart.json()["message"]
    unreadable = upload(client, token, "x.geojson", b"{not json", layer="parcels")
    assert unreadable.status_code in (400, 422) and unreadable.json()["message"]


def test_upload_over_the_declared_size_is_refused_before_reading(demo_copy):
    tokens = make_users(demo_copy, ["land_specialist"])
    client = app_client(demo_copy, max_upload_mb=1)
    sent = 0

    def body():  # a body that says how much of it was read
        nonlocal sent
        for _ in range(40):
            sent += 1
            yield b"x" * 65536

    response = client.post("/api/imports", content=body(), headers={
        **bearer(tokens["land_specialist"]), "Content-Length": str(40 * 65536),
        "Content-Type": "multipart/form-data; boundary=xyz"})
    assert response.status_code == 413
    assert "1 MB" in response.json()["message"]
    assert sent < 40


def asgi_post(app: Any, path: str, headers: dict[str, str], chunks: list[bytes]
              ) -> tuple[int, dict[str, Any], int]:
    """POST ``chunks`` one ASGI message each; (status, JSON body, chunks the app read)."""
    read = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal read
        if read < len(chunks):
            read += 1
            return {"type": "http.request", "body": chunks[read - 1],
                    "more_body": read < len(chunks)}
        await anyio.sleep(3600)  # the client waits for the answer
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "client": ("127.0.0.1", 50000), "server": ("testserver", 80),
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
    }

    async def call() -> None:
        with anyio.fail_after(60):
            await app(scope, receive, send)

    anyio.run(call)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, json.loads(body), read


def test_upload_passing_the_limit_while_streaming_is_refused(demo_copy):
    tokens = make_users(demo_copy, ["land_specialist"])
    app = create_app(Settings(workspace=str(demo_copy), max_upload_mb=1))
    boundary = "jerboundary"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"layer\"\r\n\r\n"
            f"parcels\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"big.geojson\"\r\nContent-Type: application/geo+json\r\n\r\n").encode()
    # chunked (no Content-Length): 4 MB in 64 KiB pieces
    chunks = [head, *[b" " * 65536] * 64, f"\r\n--{boundary}--\r\n".encode()]
    before = count(demo_copy)
    status, body, read = asgi_post(app, "/api/imports", {
        **bearer(tokens["land_specialist"]),
        "Content-Type": f"multipart/form-data; boundary={boundary}"}, chunks)
    assert status == 413, body
    assert "limit" in body["message"]
    assert read <= 18  # refused just past 1 MB, not after reading 4 MB
    assert count(demo_copy) == before


def test_feature_cap(demo_copy, tmp_path):
    tokens = make_users(demo_copy, ["land_specialist"])
    client = app_client(demo_copy, max_import_features=2)
    content = file_bytes(new_parcels(demo_copy), tmp_path, "three.geojson")
    before = count(demo_copy)
    response = upload(client, tokens["land_specialist"], "three.geojson", content,
                      layer="parcels")
    assert response.status_code == 413
    assert "3 features" in response.json()["message"] and "2" in response.json()["message"]
    assert count(demo_copy) == before


def test_browser_upload_needs_the_csrf_header(specialist, tmp_path):
    client = specialist["client"]
    login = client.post("/login", data={"username": "land_specialist",
                                        "password": "land_specialist-password"},
                        headers={"Accept": "application/json"}, follow_redirects=False)
    assert login.status_code in (200, 303), login.text
    csrf = client.cookies.get("jer_csrf")
    assert csrf
    content = file_bytes(new_parcels(specialist["path"]), tmp_path, "s.geojson")
    files = {"file": ("s.geojson", content)}
    without = client.post("/api/imports", data={"layer": "parcels", "csrf_token": csrf},
                          files=files)
    assert without.status_code == 403 and "X-CSRF-Token" in without.text
    with_header = client.post("/api/imports", data={"layer": "parcels"}, files=files,
                              headers={"X-CSRF-Token": csrf})
    assert with_header.status_code == 200, with_header.text


# --------------------------------------------------------------------------- exports


def _read_export(content: bytes, fmt: str, tmp_path: Path) -> gpd.GeoDataFrame:
    suffix = {"gpkg": ".gpkg", "geojson": ".geojson", "shp": ".zip", "csv": ".csv",
              "xlsx": ".xlsx"}[fmt]
    path = tmp_path / f"export{suffix}"
    path.write_bytes(content)
    return read_layer_file(path, crs="EPSG:32642" if fmt == "csv" else None)


@pytest.mark.parametrize("fmt", ["gpkg", "geojson", "shp", "csv", "xlsx"])
def test_export_formats_with_and_without_holders(reader, tmp_path, fmt):
    client, tokens = reader["client"], reader["tokens"]
    public = client.get("/api/exports/parcels", params={"format": fmt})
    assert public.status_code == 200, public.text
    disposition = public.headers["content-disposition"]
    assert disposition.startswith("attachment") and 'filename="parcels.' in disposition
    assert public.headers["content-type"].startswith(
        {"gpkg": GPKG_MEDIA, "geojson": "application/geo+json", "shp": "application/zip",
         "csv": "text/csv", "xlsx": "application/vnd.openxmlformats"}[fmt])
    frame = _read_export(public.content, fmt, tmp_path)
    assert len(frame) == count(reader["path"])
    assert "holder" not in frame.columns
    if fmt in ("gpkg", "geojson"):  # the same column list feeds every writer
        staff = client.get("/api/exports/parcels", params={"format": fmt},
                           headers=bearer(tokens["land_specialist"]))
        (tmp_path / "staff").mkdir()
        assert "holder" in _read_export(staff.content, fmt, tmp_path / "staff").columns
        planner = client.get("/api/exports/parcels", params={"format": fmt},
                             headers=bearer(tokens["planner"]))
        (tmp_path / "planner").mkdir()
        assert "holder" not in _read_export(planner.content, fmt, tmp_path / "planner").columns


def test_labels_in_the_chosen_language(reader):
    response = reader["client"].get("/api/exports/parcels", params={
        "format": "xlsx", "labels": "true", "lang": "ru"})
    assert response.status_code == 200
    book = openpyxl.load_workbook(io.BytesIO(response.content), read_only=True)
    sheet = book["parcels"]
    header = [c.value for c in next(sheet.iter_rows(max_row=1))]
    column = header.index("land_category")
    values = {row[column] for row in sheet.iter_rows(min_row=2, max_row=200, values_only=True)}
    assert "settlement" not in values and label("land_category", "settlement", "ru") in values


def test_unpublished_layers_need_an_account(specialist):
    client, tokens = specialist["client"], specialist["tokens"]
    assert client.get("/api/exports/facilities").status_code == 200  # published by default
    code, _, err = jer("publish", "facilities", "--off", workspace=specialist["path"])
    assert code == 0, err
    refused = client.get("/api/exports/facilities", params={"format": "geojson"})
    assert refused.status_code == 403 and "published" in refused.json()["message"]
    assert client.get("/api/exports/facilities", params={"format": "geojson"},
                      headers=bearer(tokens["planner"])).status_code == 200
    with open_workspace(specialist["path"]) as ws:
        ws.set_layer_metadata("facilities", {"published": "true"})
    assert client.get("/api/exports/facilities").status_code == 200
    assert client.get("/api/exports/nothing").status_code == 404
    assert client.get("/api/exports/zones", params={"format": "kml"}).status_code == 422


def three_word_runs(text: str) -> set[str]:
    """Every run of three space-separated words in ``text`` (holder names are three words)."""
    found: set[str] = set()
    for run in re.finditer(r"\w+(?: \w+){2,}", text):
        words = run.group().split(" ")
        found.update(" ".join(words[i:i + 3]) for i in range(len(words) - 2))
    return found


def test_no_export_the_public_may_take_holds_a_holder(reader, tmp_path):
    holders = holders_of(reader["path"])
    assert len(holders) > 100 and all(len(h.split(" ")) == 3 for h in holders)
    client = reader["client"]
    with open_workspace(reader["path"]) as ws:
        layers = ws.layers()
    staff = client.get("/api/exports/parcels", params={"format": "csv"},
                       headers=bearer(reader["tokens"]["admin"]))
    assert holders <= three_word_runs(staff.content.decode("utf-8-sig"))  # the probe works
    for layer in layers:
        formats = ("gpkg", "geojson", "shp", "csv", "xlsx") if layer == "parcels" else (
            "gpkg", "geojson")
        for fmt in formats:
            response = client.get(f"/api/exports/{layer}", params={"format": fmt})
            if response.status_code == 403:
                continue
            assert response.status_code == 200, (layer, fmt, response.text)
            texts = [response.content.decode("utf-8", errors="ignore")]
            if fmt in ("shp", "xlsx"):
                with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
                    texts += [archive.read(n).decode("utf-8", errors="ignore")
                              for n in archive.namelist()]
            if fmt == "gpkg":
                path = tmp_path / f"{layer}.gpkg"
                path.write_bytes(response.content)
                texts.append(pyogrio.read_dataframe(path).to_csv())
            if fmt == "geojson":
                texts.append(json.dumps(json.loads(response.content), ensure_ascii=False))
            leaked = holders & set().union(*(three_word_runs(t) for t in texts))
            assert not leaked, (layer, fmt, sorted(leaked)[:3])

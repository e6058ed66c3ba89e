"""Reading and writing land data files (spatial.io).

Every fixture file is built inside the test from a tiny synthetic frame in EPSG:32642
(UTM 42N, Isfana) or from known lon/lat points, so no binary fixtures are committed.
"""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import openpyxl
import pandas as pd
import pyogrio
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import CRS, Transformer

from jer_data import SCHEMA_DIR
from spatial.errors import CRSError, InputError, ValidationError
from spatial.io import (
    DEFAULT_SHAPEFILE_ENCODING,
    EXCEL_CELL_LIMIT,
    FORMATS,
    ColumnMapping,
    default_value_labels,
    detect_format,
    load_mapping,
    read_layer_file,
    shorten_field_names,
    write_layer_file,
)
from spatial.io.fieldnames import match_schema_column
from spatial.io.mapping import normalise_label
from spatial.schema import codes, label, layer_schema, load_schema

pytestmark = pytest.mark.filterwarnings(
    "ignore:Normalized/laundered field name:RuntimeWarning",
    "ignore:Field .* created as String field:RuntimeWarning",
    "ignore:Could not decode error message:RuntimeWarning",
    "ignore:.*non conformant file extension:RuntimeWarning",
    "ignore:The filename extension should be 'gpkg':RuntimeWarning",
)

UTM = "EPSG:32642"
X0, Y0 = 545_000.0, 4_410_000.0  # near Isfana in UTM 42N


# --- builders ----------------------------------------------------------------------------


def parcels() -> gpd.GeoDataFrame:
    """Three parcels with every parcel column, nulls, a MultiPolygon, dates and booleans."""
    return gpd.GeoDataFrame(
        {
            "cadastral_no": ["4-05-01-0001-0001", "4-05-01-0001-0002", "4-05-01-0001-0003"],
            "land_category": ["settlement", "agricultural", "reserve"],
            "ag_subtype": ["empty", "pasture", "empty"],
            "designated_use": ["жилой дом", None, "резерв"],
            "ownership": ["private", "municipal", "state"],
            "holder": ["Асанов А.", None, None],
            "right_type": ["ownership", "lease", "none"],
            "lease_until": pd.Series(
                [pd.NaT, pd.Timestamp("2031-05-10"), pd.NaT], dtype="datetime64[ms]"
            ),
            "in_use": [True, True, False],
            "state_ag_fund": [False, True, False],
            "official_area_ha": [0.12, 2.5, np.nan],
            "settlement": ["Исфана", "Самат", None],
        },
        geometry=[
            shapely.box(X0, Y0, X0 + 30.25, Y0 + 40.125),
            shapely.MultiPolygon(
                [shapely.box(X0 + 100, Y0, X0 + 200, Y0 + 100),
                 shapely.box(X0 + 300, Y0, X0 + 400, Y0 + 150)]
            ),
            shapely.box(X0 + 500.5, Y0 + 0.333, X0 + 700, Y0 + 200),
        ],
        crs=UTM,
    )


def assert_same_geometry(a: gpd.GeoSeries, b: gpd.GeoSeries, tolerance: float = 1e-6) -> None:
    """Same shapes within ``tolerance`` (Polygon and one-part MultiPolygon count as equal)."""
    distance = shapely.hausdorff_distance(
        np.asarray(a.geometry.array), np.asarray(b.geometry.array)
    )
    assert np.all(distance <= tolerance), distance


def assert_same_attributes(expected: pd.DataFrame, actual: pd.DataFrame) -> None:
    columns = [c for c in expected.columns if c != "geometry"]
    left = pd.DataFrame(expected[columns]).reset_index(drop=True)
    right = pd.DataFrame(actual[columns]).reset_index(drop=True)
    for frame in (left, right):
        for column in frame.columns:
            if pd.api.types.is_datetime64_any_dtype(frame[column]):
                frame[column] = frame[column].astype("datetime64[ms]")
    pd.testing.assert_frame_equal(left, right, check_dtype=False)


def shapefile_zip(
    folder: Path,
    frame: gpd.GeoDataFrame,
    *,
    stem: str = "extract",
    encoding: str = "cp1251",
    cpg: bool = True,
    prj: bool = True,
    zip_name: str | None = None,
    also: dict[str, bytes] | None = None,
) -> Path:
    """A zipped shapefile as other programs write it (GDAL truncates long names)."""
    build = folder / f"build-{stem}"
    build.mkdir()
    pyogrio.write_dataframe(frame, build / f"{stem}.shp", encoding=encoding)
    if not cpg:
        (build / f"{stem}.cpg").unlink(missing_ok=True)
    if not prj:
        (build / f"{stem}.prj").unlink()
    target = folder / (zip_name or f"{stem}.zip")
    with zipfile.ZipFile(target, "a") as archive:
        for part in sorted(build.iterdir()):
            archive.write(part, arcname=part.name)
        for name, data in (also or {}).items():
            archive.writestr(name, data)
    shutil.rmtree(build)
    return target


def russian_extract() -> gpd.GeoDataFrame:
    """A cadastre extract with Russian headers and labels instead of codes."""
    return gpd.GeoDataFrame(
        {
            "Кадастр": ["1-01", "1-02", "1-03"],
            "Категория": ["земли запаса", "Земли населённых пунктов", "запастагы жерлер"],
            "Собствен": ["гос.", "частная собственность", "Муниципальная"],
            "Использ": ["да", "нет", "ооба"],
            "Площадь": [1.5, 0.25, 3.0],
        },
        geometry=[shapely.box(X0 + i * 100, Y0, X0 + i * 100 + 50, Y0 + 50) for i in range(3)],
        crs=UTM,
    )


RUSSIAN_MAPPING = """
layer: parcels
columns:
  Кадастр: cadastral_no
  Категория: land_category
  Собствен: ownership
  Использ: in_use
  Площадь: official_area_ha
values:
  ownership:
    гос.: state
    частная собственность: private
"""


# --- formats -------------------------------------------------------------------------------


def test_formats_registry_lists_readable_and_writable_formats() -> None:
    readable = {ext for f in FORMATS.values() if f.readable for ext in f.extensions}
    writable = {ext for f in FORMATS.values() if f.writable for ext in f.extensions}
    assert {".gpkg", ".geojson", ".json", ".zip", ".shp", ".csv", ".kml", ".xlsx"} <= readable
    assert writable == {".gpkg", ".geojson", ".json", ".zip", ".csv", ".txt", ".xlsx"}
    extensions = [ext for f in FORMATS.values() for ext in f.extensions]
    assert len(extensions) == len(set(extensions))
    assert FORMATS["gpkg"].multi_layer and not FORMATS["csv"].multi_layer
    assert all(f.notes for f in FORMATS.values())


def test_detect_format_sniffs_content_when_the_extension_is_unknown(tmp_path: Path) -> None:
    gpkg = tmp_path / "extract.dat"
    pyogrio.write_dataframe(parcels(), gpkg, driver="GPKG", layer="parcels")
    assert detect_format(gpkg).name == "gpkg"
    frame = read_layer_file(gpkg, layer="parcels")
    assert len(frame) == 3
    unknown = tmp_path / "notes.abc"
    unknown.write_text("just text", encoding="utf-8")
    with pytest.raises(InputError, match=r"notes\.abc.*unknown file type"):
        read_layer_file(unknown)
    with pytest.raises(InputError, match="cannot write KML"):
        write_layer_file(parcels(), tmp_path / "out.kml")


# --- GeoPackage, GeoJSON, KML -----------------------------------------------------------


def test_gpkg_layer_choice_and_error_listing_layers(tmp_path: Path) -> None:
    path = tmp_path / "two.gpkg"
    write_layer_file({"parcels": parcels(), "zones": parcels().iloc[:1]}, path)
    with pytest.raises(InputError, match=r"2 layers \(parcels, zones\).*source_layer"):
        read_layer_file(path)
    assert len(read_layer_file(path, source_layer="zones")) == 1
    # The target layer's name picks the source layer when it is there.
    assert len(read_layer_file(path, layer="parcels")) == 3
    with pytest.raises(InputError, match="no layer 'roads'; it holds: parcels, zones"):
        read_layer_file(path, source_layer="roads")


def test_gpkg_without_spatial_layers_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "table.gpkg"
    pyogrio.write_dataframe(pd.DataFrame({"a": [1]}), path, layer="attributes", driver="GPKG")
    with pytest.raises(InputError, match=r"table\.gpkg: holds no layer with geometry"):
        read_layer_file(path)


def test_geojson_is_read_in_lonlat(tmp_path: Path) -> None:
    path = tmp_path / "points.geojson"
    path.write_text(json.dumps({
        "type": "FeatureCollection",
        "features": [{"type": "Feature", "properties": {"name": "Исфана"},
                      "geometry": {"type": "Point", "coordinates": [69.53, 39.84]}}],
    }), encoding="utf-8")
    frame = read_layer_file(path)
    assert frame.crs.to_epsg() == 4326
    assert frame.loc[0, "name"] == "Исфана"
    assert (frame.geometry.x[0], frame.geometry.y[0]) == (69.53, 39.84)


KML = """<?xml version="1.0" encoding="UTF-8"?>
<kml xmlns="http://www.opengis.net/kml/2.2"><Document>
<Schema name="parcels" id="parcels"><SimpleField name="cadastral_no" type="string"/></Schema>
<Folder><name>parcels</name>
<Placemark><name>Участок 1</name>
<ExtendedData><SchemaData schemaUrl="#parcels">
<SimpleData name="cadastral_no">4-05-01-0001</SimpleData></SchemaData></ExtendedData>
<Polygon><outerBoundaryIs><LinearRing><coordinates>
69.5,39.8,0 69.51,39.8,0 69.51,39.81,0 69.5,39.8,0
</coordinates></LinearRing></outerBoundaryIs></Polygon></Placemark>
</Folder></Document></kml>
"""


def test_kml_is_epsg4326_2d_without_style_fields(tmp_path: Path) -> None:
    path = tmp_path / "earth.kml"
    path.write_text(KML, encoding="utf-8")
    frame = read_layer_file(path, layer="parcels")
    assert frame.crs.to_epsg() == 4326
    assert list(frame.columns) == ["Name", "description", "cadastral_no", "geometry"]
    assert frame.loc[0, "cadastral_no"] == "4-05-01-0001"
    assert frame.loc[0, "Name"] == "Участок 1"
    assert not shapely.has_z(frame.geometry.array).any()
    assert frame.geometry.iloc[0].bounds == pytest.approx((69.5, 39.8, 69.51, 39.81))
    with pytest.raises(CRSError, match="always EPSG:4326"):
        read_layer_file(path, crs=32642)


# --- zipped shapefiles ---------------------------------------------------------------------


def test_shapefile_without_cpg_is_read_as_cp1251(tmp_path: Path) -> None:
    path = shapefile_zip(tmp_path, russian_extract(), encoding="cp1251", cpg=False)
    with zipfile.ZipFile(path) as archive:
        assert not any(n.endswith(".cpg") for n in archive.namelist())
    frame = read_layer_file(path)
    assert "Категория" in frame.columns
    assert frame["Категория"].tolist()[0] == "земли запаса"
    assert frame.attrs["jer_import"]["encoding"] == DEFAULT_SHAPEFILE_ENCODING


def test_shapefile_cpg_saying_utf8_is_honoured(tmp_path: Path) -> None:
    # UTF-8 needs two bytes per Cyrillic letter, so keep the header short and ASCII.
    extract = gpd.GeoDataFrame(
        {"category": ["земли запаса", "Земли населённых пунктов"]},
        geometry=[shapely.box(X0, Y0, X0 + 5, Y0 + 5)] * 2, crs=UTM,
    )
    with_cpg = shapefile_zip(tmp_path, extract, encoding="UTF-8", stem="utf")
    frame = read_layer_file(with_cpg)
    assert frame["category"].tolist()[1] == "Земли населённых пунктов"
    assert frame.attrs["jer_import"]["encoding_from"] == ".cpg (UTF-8)"
    # The same bytes without the .cpg are taken for cp1251: the .cpg is what decides.
    without = shapefile_zip(tmp_path, extract, encoding="UTF-8", stem="nocpg", cpg=False)
    mojibake = "земли запаса".encode().decode("cp1251")
    assert read_layer_file(without)["category"].tolist()[0] == mojibake
    # An explicit encoding beats the missing .cpg.
    forced = read_layer_file(without, encoding="utf-8")
    assert forced["category"].tolist()[0] == "земли запаса"


def test_shapefile_with_cp866_language_driver_is_decoded(tmp_path: Path) -> None:
    path = shapefile_zip(tmp_path, russian_extract(), encoding="cp866", cpg=False)
    with zipfile.ZipFile(path) as archive:
        parts = {n: archive.read(n) for n in archive.namelist()}
    dbf = bytearray(parts["extract.dbf"])
    dbf[29] = 0x26  # language driver: DOS Russian (cp866)
    parts["extract.dbf"] = bytes(dbf)
    patched = tmp_path / "dos.zip"
    with zipfile.ZipFile(patched, "w") as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    assert read_layer_file(patched)["Категория"].tolist()[0] == "земли запаса"


def test_missing_prj_is_refused_naming_the_file_unless_crs_is_given(tmp_path: Path) -> None:
    path = shapefile_zip(tmp_path, parcels(), stem="parcels", prj=False)
    with pytest.raises(InputError, match=r"parcels\.zip/parcels\.shp: .*no \.prj file") as info:
        read_layer_file(path, layer="parcels")
    assert "--crs" in str(info.value)
    frame = read_layer_file(path, layer="parcels", crs="EPSG:32642")
    assert frame.crs.to_epsg() == 32642
    assert frame.attrs["jer_import"]["crs_from"] == "argument"


def test_zip_with_several_shapefiles_needs_source_layer(tmp_path: Path) -> None:
    path = shapefile_zip(tmp_path, parcels(), stem="parcels", zip_name="both.zip")
    shapefile_zip(tmp_path, parcels().iloc[:1], stem="roads", zip_name="both.zip")
    with pytest.raises(InputError, match=r"2 shapefiles \(parcels, roads\)"):
        read_layer_file(path)
    assert len(read_layer_file(path, source_layer="roads")) == 1
    assert len(read_layer_file(path, layer="parcels")) == 3


def test_zip_is_read_in_place_never_extracted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = shapefile_zip(tmp_path, parcels(), stem="parcels")

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the zip must not be extracted")

    monkeypatch.setattr(zipfile.ZipFile, "extract", refuse)
    monkeypatch.setattr(zipfile.ZipFile, "extractall", refuse)
    before = sorted(tmp_path.rglob("*"))
    frame = read_layer_file(path, layer="parcels")
    assert sorted(tmp_path.rglob("*")) == before
    assert len(frame) == 3


def test_zip_without_shapefile_lists_its_content(tmp_path: Path) -> None:
    path = tmp_path / "docs.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "no shapes here")
    with pytest.raises(InputError, match=r"docs\.zip: holds no shapefile.*readme\.txt"):
        read_layer_file(path)


def test_truncated_shapefile_names_map_back_to_schema_columns(tmp_path: Path) -> None:
    path = shapefile_zip(tmp_path, parcels(), stem="parcels")
    fields = pyogrio.read_info(f"/vsizip/{path}/parcels.shp")["fields"].tolist()
    assert {"official_a", "designated", "state_ag_f", "land_categ", "cadastral_"} <= set(fields)
    assert "official_area_ha" not in fields
    frame = read_layer_file(path, layer="parcels")
    assert set(layer_schema("parcels").columns) <= set(frame.columns)
    assert frame.attrs["jer_import"]["renamed"]["official_a"] == "official_area_ha"
    assert_same_attributes(parcels().assign(lease_until=pd.NaT), frame.assign(lease_until=pd.NaT))
    # Without a target layer nothing is guessed.
    assert "official_a" in read_layer_file(path).columns


def test_match_schema_column_needs_an_unambiguous_prefix_of_ten() -> None:
    columns = layer_schema("restrictions").all_columns
    assert match_schema_column("restrictio", columns) is None  # restriction_id or _type
    assert match_schema_column("restr_type", columns) == "restriction_type"
    assert match_schema_column("RESTRIC_ID", columns) == "restriction_id"
    parcel_columns = layer_schema("parcels").all_columns
    assert match_schema_column("official_a", parcel_columns) == "official_area_ha"
    assert match_schema_column("official", parcel_columns) is None  # too short to be a cut
    assert match_schema_column("In_Use", parcel_columns) == "in_use"


def test_implausible_coordinates_for_the_crs_are_refused(tmp_path: Path) -> None:
    # UTM coordinates under a Gauss–Krüger zone 13 .prj: thousands of km off.
    wrong = parcels().set_crs("EPSG:28413", allow_override=True)
    path = shapefile_zip(tmp_path, wrong, stem="wrong")
    with pytest.raises(CRSError, match=r"outside where EPSG:28413.*is the CRS right"):
        read_layer_file(path)
    # Stating the right CRS overrides the wrong .prj.
    frame = read_layer_file(path, crs=UTM)
    assert frame.crs.to_epsg() == 32642


# --- northing-first Pulkovo-1942 Gauss–Krüger ------------------------------------------------

LONLAT = np.array([[74.6, 42.87], [75.0, 42.5], [73.1, 41.2]])  # Bishkek, Issyk-Ata, Toktogul


def gk13_points() -> tuple[np.ndarray, np.ndarray]:
    to_gk = Transformer.from_crs("EPSG:4326", "EPSG:28413", always_xy=True)
    easting, northing = to_gk.transform(LONLAT[:, 0], LONLAT[:, 1])
    return np.asarray(easting), np.asarray(northing)


def assert_lonlat(frame: gpd.GeoDataFrame) -> None:
    lonlat = frame.to_crs("EPSG:4326")
    # 1e-7 degrees is about a centimetre.
    np.testing.assert_allclose(lonlat.geometry.x, LONLAT[:, 0], atol=1e-7, rtol=0)
    np.testing.assert_allclose(lonlat.geometry.y, LONLAT[:, 1], atol=1e-7, rtol=0)


@pytest.mark.parametrize("kind", ["shapefile_zip", "gpkg"])
def test_northing_first_gauss_kruger_28413_files(tmp_path: Path, kind: str) -> None:
    easting, northing = gk13_points()
    assert (easting > 13_000_000).all() and (northing < 5_000_000).all()
    frame = gpd.GeoDataFrame(
        {"name": ["a", "b", "c"]}, geometry=gpd.points_from_xy(easting, northing), crs="EPSG:28413"
    )
    if kind == "gpkg":
        path = tmp_path / "gk.gpkg"
        pyogrio.write_dataframe(frame, path, layer="points", driver="GPKG")
    else:
        path = shapefile_zip(tmp_path, frame, stem="gk")
    read = read_layer_file(path)
    assert read.crs.to_epsg() == 28413
    # The CRS definition says northing first, the file stores x = easting.
    assert read.crs.axis_info[0].direction == "north"
    np.testing.assert_allclose(read.geometry.x, easting)
    assert_lonlat(read)


def test_csv_wkt_in_28413_is_read_easting_first(tmp_path: Path) -> None:
    easting, northing = gk13_points()
    pairs = zip(easting, northing, strict=True)
    rows = [f"{i};POINT ({e:.3f} {n:.3f})" for i, (e, n) in enumerate(pairs)]
    path = tmp_path / "gk.csv"
    path.write_text("id;wkt\n" + "\n".join(rows) + "\n", encoding="utf-8")
    mapping = tmp_path / "gk.yaml"
    mapping.write_text("crs: EPSG:28413\n", encoding="utf-8")
    frame = read_layer_file(path, mapping=mapping)
    assert frame.crs.to_epsg() == 28413
    assert frame.attrs["jer_import"]["crs_from"] == "mapping"
    assert_lonlat(frame)


def test_csv_wkt_in_the_crs_axis_order_needs_axis_order_northing_easting(tmp_path: Path) -> None:
    easting, northing = gk13_points()
    rows = [f"POINT ({n:.3f} {e:.3f})" for e, n in zip(easting, northing, strict=True)]
    path = tmp_path / "gk-xy-swapped.csv"
    path.write_text("wkt\n" + "\n".join(f'"{r}"' for r in rows) + "\n", encoding="utf-8")
    with pytest.raises(CRSError, match=r"only with x and y swapped.*axis_order: northing_easting"):
        read_layer_file(path, mapping={"crs": "EPSG:28413"})
    frame = read_layer_file(path, mapping={"crs": "EPSG:28413", "axis_order": "northing_easting"})
    np.testing.assert_allclose(frame.geometry.x, easting, atol=1e-3)
    assert_lonlat(frame)


# --- CSV and XLSX with WKT --------------------------------------------------------------------


def test_csv_semicolon_cp1251_russian_excel_export(tmp_path: Path) -> None:
    text = (
        "Кадастр;Категория;Собствен;Использ;Площадь;геометрия\n"
        "1-01;земли запаса;гос.;да;1,5;POLYGON ((545000 4410000, 545050 4410000, 545050 4410050, "
        "545000 4410000))\n"
        "1-02;Земли населённых пунктов;частная собственность;нет;0,25;"
        "POLYGON ((545100 4410000, 545150 4410000, 545150 4410050, 545100 4410000))\n"
    )
    path = tmp_path / "выписка.csv"
    path.write_bytes(text.encode("cp1251"))
    mapping = tmp_path / "map.yaml"
    mapping.write_text(RUSSIAN_MAPPING, encoding="utf-8")
    frame = read_layer_file(path, mapping=mapping, crs=UTM)
    assert frame.attrs["jer_import"]["delimiter"] == ";"
    assert frame.attrs["jer_import"]["encoding"] == "cp1251"
    assert frame["land_category"].tolist() == ["reserve", "settlement"]
    assert frame["ownership"].tolist() == ["state", "private"]
    assert frame["in_use"].tolist() == [True, False]
    assert frame["official_area_ha"].tolist() == [1.5, 0.25]
    assert frame.geometry.area.tolist() == pytest.approx([1250.0, 1250.0])


def test_csv_comma_with_quoted_wkt_and_alternative_geometry_header(tmp_path: Path) -> None:
    path = tmp_path / "plain.csv"
    path.write_text(
        'name,Geom\nА,"POINT (545000 4410000)"\nБ,"LINESTRING (545000 4410000, 545010 4410000)"\n',
        encoding="utf-8",
    )
    frame = read_layer_file(path, crs=UTM)
    assert frame.attrs["jer_import"]["delimiter"] == ","
    assert frame.geom_type.tolist() == ["Point", "LineString"]
    assert frame["name"].tolist() == ["А", "Б"]


def test_csv_without_geometry_column_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "table.csv"
    path.write_text("a;b\n1;2\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"table\.csv: no geometry column.*columns found: a, b"):
        read_layer_file(path, crs=UTM)


def test_csv_without_crs_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "nocrs.csv"
    path.write_text("wkt\nPOINT (545000 4410000)\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"nocrs\.csv: a CSV file carries no coordinate system"):
        read_layer_file(path)


def test_csv_bad_wkt_names_every_row(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(
        'id;wkt\n1;POINT (545000 4410000)\n2;POINT (545000\n3;\n4;POLYGON ((0 0, 1 1))\n',
        encoding="utf-8",
    )
    with pytest.raises(InputError, match=r"bad\.csv: bad WKT in column 'wkt' at row 3, 5 "):
        read_layer_file(path, crs=UTM)


def test_csv_ewkt_srid_gives_the_crs(tmp_path: Path) -> None:
    path = tmp_path / "postgis.csv"
    path.write_text("wkt\nSRID=32642;POINT (545000 4410000)\n", encoding="utf-8")
    frame = read_layer_file(path)
    assert frame.crs.to_epsg() == 32642
    assert frame.geometry.x[0] == 545000


def test_values_that_do_not_convert_are_left_for_validation(tmp_path: Path) -> None:
    path = tmp_path / "mixed.csv"
    path.write_text(
        "cadastral_no;official_area_ha;in_use;lease_until;land_category;wkt\n"
        "007;12,5;да;01.02.2030;земли запаса;POINT (545000 4410000)\n"
        "008;много;может быть;потом;луна;POINT (545001 4410000)\n",
        encoding="utf-8",
    )
    frame = read_layer_file(path, layer="parcels", crs=UTM)
    assert frame["cadastral_no"].tolist() == ["007", "008"]  # leading zeros kept
    assert frame["official_area_ha"].tolist() == [12.5, "много"]
    assert frame["in_use"].tolist() == [True, "может быть"]
    assert frame.loc[0, "lease_until"] == pd.Timestamp("2030-02-01")
    assert frame.loc[1, "lease_until"] == "потом"
    assert frame["land_category"].tolist() == ["reserve", "луна"]


def test_xlsx_with_wkt_and_russian_headers(tmp_path: Path) -> None:
    path = tmp_path / "выписка.xlsx"
    table = pd.DataFrame({
        "Кадастр": ["1-01", "1-02"],
        "Категория": ["земли запаса", "айыл чарба багытындагы жерлер"],
        "Использ": [True, False],
        "WKT": ["POINT (545000 4410000)", "POINT (545100 4410000)"],
    })
    table.to_excel(path, sheet_name="Участки", index=False)
    frame = read_layer_file(
        path,
        mapping={"layer": "parcels", "columns": {"Кадастр": "cadastral_no",
                                                 "Категория": "land_category",
                                                 "Использ": "in_use"}},
        crs=UTM,
    )
    assert frame.attrs["jer_import"]["source_layer"] == "Участки"
    assert frame["land_category"].tolist() == ["reserve", "agricultural"]
    assert frame["in_use"].tolist() == [True, False]


# --- mapping files ---------------------------------------------------------------------------


def test_mapping_file_with_russian_headers_and_values(tmp_path: Path) -> None:
    path = shapefile_zip(tmp_path, russian_extract(), cpg=False)
    mapping = tmp_path / "map.yaml"
    mapping.write_text(RUSSIAN_MAPPING, encoding="utf-8")
    frame = read_layer_file(path, mapping=mapping)
    assert frame["cadastral_no"].tolist() == ["1-01", "1-02", "1-03"]
    # Russian and Kyrgyz labels come from the schema code lists, no mapping needed.
    assert frame["land_category"].tolist() == ["reserve", "settlement", "reserve"]
    assert frame["ownership"].tolist() == ["state", "private", "municipal"]
    assert frame["in_use"].tolist() == [True, False, True]
    assert frame["official_area_ha"].tolist() == [1.5, 0.25, 3.0]
    assert frame.attrs["jer_import"]["layer"] == "parcels"


def test_mapping_matches_headers_truncated_by_the_shapefile(tmp_path: Path) -> None:
    extract = russian_extract().rename(columns={"Кадастр": "Кадастровый номер"})
    path = shapefile_zip(tmp_path, extract, cpg=False)
    fields = pyogrio.read_info(f"/vsizip/{path}/extract.shp", encoding="cp1251")["fields"]
    assert "Кадастровы" in fields.tolist()
    frame = read_layer_file(
        path, mapping={"layer": "parcels", "columns": {"Кадастровый номер": "cadastral_no"}}
    )
    assert frame["cadastral_no"].tolist() == ["1-01", "1-02", "1-03"]


def test_mapping_and_file_column_clash_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "clash.csv"
    path.write_text("land_category;Категория;wkt\nreserve;запас;POINT (545000 4410000)\n",
                    encoding="utf-8")
    with pytest.raises(InputError, match="'land_category' from 'land_category' and 'Категория'"):
        read_layer_file(path, crs=UTM,
                        mapping={"layer": "parcels", "columns": {"Категория": "land_category"}})


def test_bad_mapping_file_lists_every_problem_with_its_key(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "layer: parcels\n"
        "crs: EPSG:999999\n"
        "encodng: cp1251\n"
        "columns:\n"
        "  Категория: land_categry\n"
        "  Площадь: official_area_ha\n"
        "  Площадь2: official_area_ha\n"
        "values:\n"
        "  land_category: {запас: reserv, пашня: agricultural}\n"
        "  in_use: {да: 'yes'}\n"
        "  official_area_ha: {много: 100}\n"
        "  colour: {red: r}\n",
        encoding="utf-8",
    )
    with pytest.raises(ValidationError) as info:
        load_mapping(path)
    problems = {(p.code, p.details["key"]) for p in info.value.problems}
    assert problems == {
        ("bad_crs", "crs"),
        ("unknown_key", "encodng"),
        ("unknown_column", "columns.Категория"),
        ("duplicate_target", "columns.Площадь2"),
        ("unknown_code", "values.land_category.запас"),
        ("bad_value", "values.in_use.да"),
        ("bad_value", "values.official_area_ha"),
        ("unknown_column", "values.colour"),
    }
    assert all(p.details["file"] == "bad.yaml" for p in info.value.problems)
    assert "land_categry" in str(info.value) and "reserv" in str(info.value)


def test_mapping_yaml_reads_no_and_yes_as_text_not_booleans(tmp_path: Path) -> None:
    path = tmp_path / "yn.yaml"
    path.write_text("layer: parcels\nvalues:\n  in_use: {yes: true, no: false, 1: true}\n",
                    encoding="utf-8")
    assert load_mapping(path).values["in_use"] == {"yes": True, "no": False, "1": True}


def test_json_mapping_and_layer_mismatch(tmp_path: Path) -> None:
    path = tmp_path / "map.json"
    path.write_text(json.dumps({"layer": "zones", "columns": {"Зона": "zone_id"}}),
                    encoding="utf-8")
    assert load_mapping(path).columns == {"Зона": "zone_id"}
    with pytest.raises(ValidationError, match="mapping is for 'zones', but 'parcels' is read"):
        load_mapping(path, layer="parcels")
    unparsable = tmp_path / "broken.yaml"
    unparsable.write_text("columns: [unclosed\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"broken\.yaml cannot be parsed"):
        load_mapping(unparsable)


def test_column_mapping_constructed_in_code_is_validated() -> None:
    with pytest.raises(ValidationError) as info:
        ColumnMapping(layer="parcels", columns={"X": "nope"}, values={"ownership": {"a": "b"}})
    assert {p.code for p in info.value.problems} == {"unknown_column", "unknown_code"}
    gk13 = CRS.from_epsg(28413)
    mapping = ColumnMapping(columns={"Зона": "zone_id"}, crs=gk13).for_layer("zones")
    assert mapping.layer == "zones" and mapping.crs is not None and mapping.crs.to_epsg() == 28413


def test_example_mapping_ships_and_validates() -> None:
    mapping = load_mapping(SCHEMA_DIR / "mapping-example-ru.yaml")
    assert mapping.layer == "parcels"
    assert mapping.columns["Кадастровый номер"] == "cadastral_no"
    assert mapping.values["land_category"]["запас"] == "reserve"
    # The built-in labels are not repeated in the example.
    builtin = default_value_labels("parcels")["land_category"]
    assert not set(mapping.values["land_category"]) & set(builtin)


def test_built_in_labels_cover_the_seven_categories_in_kyrgyz_and_russian() -> None:
    builtin = default_value_labels("parcels")["land_category"]
    categories = codes("land_category")
    assert len(categories) == 7
    for code in categories:
        for lang in ("ky", "ru", "en"):
            text = label("land_category", code, lang)
            assert builtin[normalise_label(text)] == code
    assert builtin["земли населенных пунктов"] == "settlement"  # е for ё


def test_built_in_labels_never_map_one_label_to_two_codes() -> None:
    for name, spec in load_schema().layers.items():
        for column, table in default_value_labels(name).items():
            codelist = load_schema().codelists[spec.columns[column].codes or ""]
            assert set(table.values()) <= set(codelist)


# --- field-name shortening ----------------------------------------------------------------------

names = st.text(
    alphabet=st.sampled_from("abcdefghijklmnopqrstuvwxyz_0123456789абвгдеёжзий"),
    min_size=1, max_size=24,
)


@settings(max_examples=200, deadline=None)
@given(st.lists(names, min_size=1, max_size=12, unique_by=str.casefold), st.randoms())
def test_shortened_field_names_are_unique_short_and_order_independent(
    columns: list[str], rnd: object
) -> None:
    short = shorten_field_names(columns)
    assert set(short) == set(columns)
    assert all(len(s.encode("utf-8")) <= 10 for s in short.values())
    assert len({s.casefold() for s in short.values()}) == len(columns)
    shuffled = list(columns)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    assert shorten_field_names(shuffled) == short


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(sorted(load_schema().layers)), st.data())
def test_shortened_schema_names_map_back_for_any_subset_of_columns(
    layer: str, data: st.DataObject
) -> None:
    columns = layer_schema(layer).all_columns
    subset = data.draw(st.lists(st.sampled_from(columns), min_size=1, unique=True))
    short = shorten_field_names(subset, reserved=columns)
    for column, field_name in short.items():
        assert match_schema_column(field_name, columns) == column


def test_documented_shortenings() -> None:
    short = shorten_field_names(["restriction_id", "restriction_type", "name"])
    assert short == {"restriction_id": "restric_id", "restriction_type": "restr_type",
                     "name": "name"}
    parcel_columns = layer_schema("parcels").all_columns
    short = shorten_field_names(list(parcel_columns))
    assert short["official_area_ha"] == "official_a"
    assert short["land_category"] == "land_categ"


# --- writers -----------------------------------------------------------------------------------


@pytest.mark.parametrize("extension", ["gpkg", "geojson", "zip", "csv", "xlsx"])
def test_round_trip_keeps_geometry_and_attributes(tmp_path: Path, extension: str) -> None:
    original = parcels()
    path = write_layer_file({"parcels": original}, tmp_path / f"parcels.{extension}")
    crs = UTM if extension == "csv" else None
    back = read_layer_file(path, layer="parcels", crs=crs)
    if extension == "geojson":
        assert back.crs.to_epsg() == 4326
        back = back.to_crs(UTM)
    else:
        assert back.crs.to_epsg() == 32642
    assert_same_geometry(original.geometry, back.geometry, tolerance=1e-6)
    assert_same_attributes(original, back)


def test_geopackage_holds_several_layers(tmp_path: Path) -> None:
    zones = gpd.GeoDataFrame({"zone_id": ["Z1"], "zone_type": ["residential"]},
                             geometry=[shapely.box(X0, Y0, X0 + 1000, Y0 + 1000)], crs=UTM)
    path = write_layer_file({"parcels": parcels(), "zones": zones}, tmp_path / "w.gpkg")
    assert sorted(pyogrio.list_layers(path)[:, 0]) == ["parcels", "zones"]
    assert read_layer_file(path, layer="zones")["zone_id"].tolist() == ["Z1"]


def test_geojson_export_is_rfc7946_lonlat(tmp_path: Path) -> None:
    path = write_layer_file({"parcels": parcels()}, tmp_path / "p.geojson")
    document = json.loads(path.read_text(encoding="utf-8"))
    assert "crs" not in document
    lon, lat = document["features"][0]["geometry"]["coordinates"][0][0]
    assert 69 < lon < 70 and 39 < lat < 40
    with pytest.raises(InputError, match="GeoJSON holds one layer, 2 given"):
        write_layer_file({"a": parcels(), "b": parcels()}, tmp_path / "two.geojson")


def test_shapefile_zip_contents_utf8_and_short_field_names(tmp_path: Path) -> None:
    restrictions = gpd.GeoDataFrame(
        {"restriction_id": ["R1"], "restriction_type": ["border_zone"], "name": ["Чек ара"]},
        geometry=[shapely.box(X0, Y0, X0 + 10, Y0 + 10)], crs=UTM,
    )
    path = write_layer_file({"parcels": parcels(), "restrictions": restrictions},
                            tmp_path / "export.zip")
    with zipfile.ZipFile(path) as archive:
        members = sorted(archive.namelist())
        assert archive.read("parcels.cpg").decode().strip().upper() in {"UTF-8", "UTF8"}
    assert members == sorted(f"{stem}.{ext}" for stem in ("parcels", "restrictions")
                             for ext in ("shp", "shx", "dbf", "prj", "cpg"))
    fields = pyogrio.read_info(f"/vsizip/{path}/restrictions.shp")["fields"].tolist()
    assert fields == ["restric_id", "restr_type", "name"]
    back = read_layer_file(path, layer="restrictions")
    assert back[["restriction_id", "restriction_type", "name"]].values.tolist() == [
        ["R1", "border_zone", "Чек ара"]
    ]


def test_shapefile_zip_splits_mixed_geometry_kinds(tmp_path: Path) -> None:
    mixed = gpd.GeoDataFrame(
        {"water_id": ["W1", "W2", "W3"], "kind": ["river", "lake", "intake"]},
        geometry=[
            shapely.LineString([(X0, Y0), (X0 + 10, Y0)]),
            shapely.box(X0, Y0, X0 + 5, Y0 + 5),
            shapely.Point(X0, Y0),
        ],
        crs=UTM,
    )
    path = write_layer_file({"water_bodies": mixed}, tmp_path / "water.zip")
    with zipfile.ZipFile(path) as archive:
        shps = sorted(n for n in archive.namelist() if n.endswith(".shp"))
    assert shps == ["water_bodies_lines.shp", "water_bodies_points.shp",
                    "water_bodies_polygons.shp"]
    assert read_layer_file(path, source_layer="water_bodies_points")["water_id"].tolist() == ["W3"]


def test_csv_export_has_bom_and_wkt_last(tmp_path: Path) -> None:
    path = write_layer_file({"parcels": parcels()}, tmp_path / "p.csv")
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    header = raw[3:].decode("utf-8").splitlines()[0].split(",")
    assert header[-1] == "wkt" and header[0] == "cadastral_no"
    assert "Исфана" in raw.decode("utf-8-sig")


def test_xlsx_export_types_cells_and_lists_omitted_geometry(tmp_path: Path) -> None:
    frame = parcels()
    huge = shapely.Point(X0, Y0).buffer(100, quad_segs=2000)
    assert len(shapely.to_wkt(huge, rounding_precision=-1)) > EXCEL_CELL_LIMIT
    frame.loc[2, "geometry"] = huge
    path = write_layer_file({"parcels": frame}, tmp_path / "p.xlsx")
    workbook = openpyxl.load_workbook(path)
    assert workbook.sheetnames == ["parcels", "_about"]
    sheet = workbook["parcels"]
    header = [c.value for c in sheet[1]]
    row = {h: c for h, c in zip(header, sheet[3], strict=True)}
    assert row["in_use"].value is True and row["in_use"].data_type == "b"
    assert row["lease_until"].is_date
    assert row["lease_until"].number_format.lower() == "yyyy-mm-dd"
    assert row["official_area_ha"].value == 2.5
    assert header[-1] == "wkt" and sheet.cell(4, len(header)).value is None
    about = {c.value: v.value for c, v in zip(workbook["_about"][1], workbook["_about"][2],
                                               strict=True)}
    assert about["crs"] == "EPSG:32642"
    assert about["geometry_omitted_rows"] == "4"
    # The workbook reads back with its CRS from '_about'.
    back = read_layer_file(path, layer="parcels")
    assert back.crs.to_epsg() == 32642
    assert back.geometry.isna().tolist() == [False, False, True]


def test_labels_lang_and_drop_columns(tmp_path: Path) -> None:
    path = write_layer_file({"parcels": parcels()}, tmp_path / "public.csv", labels_lang="ru",
                            drop_columns=["holder", "not_there"])
    table = pd.read_csv(path, encoding="utf-8-sig")
    assert "holder" not in table.columns
    assert table["land_category"].tolist()[0] == "земли населённых пунктов"
    back = read_layer_file(path, layer="parcels", crs=UTM)
    assert back["land_category"].tolist() == ["settlement", "agricultural", "reserve"]
    with pytest.raises(InputError, match="labels_lang must be one of ky, ru, en"):
        write_layer_file(parcels(), tmp_path / "x.csv", labels_lang="de")


def test_failed_write_keeps_the_previous_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "export.zip"
    target.write_bytes(b"previous export")
    bad = gpd.GeoDataFrame(
        {"a": [1]},
        geometry=[shapely.GeometryCollection([shapely.Point(X0, Y0)])], crs=UTM,
    )
    with pytest.raises(InputError, match="cannot hold geometry collections"):
        write_layer_file({"bad": bad}, target)
    assert target.read_bytes() == b"previous export"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export.zip"]
    csv_target = tmp_path / "export.csv"
    with pytest.raises(InputError, match="has a column 'wkt'"):
        write_layer_file(parcels().assign(wkt="x"), csv_target)
    assert not csv_target.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export.zip"]


def test_write_refuses_a_frame_without_crs(tmp_path: Path) -> None:
    with pytest.raises(CRSError, match="layer 'p' has no CRS"):
        write_layer_file(parcels().set_crs(None, allow_override=True), tmp_path / "p.gpkg")


# --- corrupt and unreadable input ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("broken.gpkg", b"this is not sqlite" * 10, r"broken\.gpkg: cannot be read"),
        ("broken.zip", b"PK\x03\x04 truncated", r"broken\.zip: not a valid zip file"),
        ("broken.geojson", b'{"type": "FeatureCollection", "features": [',
         r"broken\.geojson: cannot be read"),
        ("broken.xlsx", b"not a workbook", r"broken\.xlsx: cannot be read as an Excel workbook"),
        ("empty.gpkg", b"", r"empty\.gpkg: the file is empty"),
    ],
)
def test_corrupt_files_give_input_errors_naming_the_file(
    tmp_path: Path, name: str, content: bytes, message: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InputError, match=message):
        read_layer_file(path)


def test_missing_file_and_unknown_layer(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="file not found"):
        read_layer_file(tmp_path / "nothing.gpkg")
    path = write_layer_file({"parcels": parcels()}, tmp_path / "p.gpkg")
    with pytest.raises(Exception, match="unknown layer 'parsels'"):
        read_layer_file(path, layer="parsels")


# --- the import guide stays in step -------------------------------------------------------------


def test_import_guide_lists_every_format_and_validation_code() -> None:
    guide = (Path(__file__).parents[2] / "docs" / "import-guide.md").read_text(encoding="utf-8")
    for fmt in FORMATS.values():
        for extension in fmt.extensions:
            assert f"`{extension}`" in guide, extension
    for code in ("missing_column", "missing_value", "bad_type", "unknown_code", "below_min",
                 "duplicate_key", "invalid_geometry", "empty_geometry", "wrong_geometry_type",
                 "overlap", "outside_municipality", "area_mismatch"):
        assert f"`{code}`" in guide, code
    for epsg in ("7692", "7696", "28413", "28414", "32642", "32644"):
        assert epsg in guide

"""Map pages through TestClient: languages, offline assets, escaped popups, base map."""

from __future__ import annotations

import html
import json
import re
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from spatial.schema import label
from spatial.store import open_workspace
from spatial.zoning import load_rulebook
from web.app import create_app
from web.maps import MAP_KINDS, exposed_parcels
from web.settings import Settings

LANGS = ("ky", "ru", "en")


class _AssetRefs(HTMLParser):
    """Collects the URLs a page loads code or styles from, and its live script tags."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.scripts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "script":
            self.scripts += 1
            if values.get("src"):
                self.urls.append(values["src"] or "")
        if tag == "link" and values.get("href"):
            self.urls.append(values["href"] or "")


def _refs(page: str) -> _AssetRefs:
    parser = _AssetRefs()
    parser.feed(page)
    return parser


@pytest.fixture(scope="module")
def client(demo_gpkg):
    return TestClient(create_app(Settings(workspace=str(demo_gpkg))),
                      raise_server_exceptions=False)


def _legend_label(kind: str, lang: str) -> str:
    """A label the legend of ``kind`` must show in ``lang``."""
    if kind == "overview":
        return label("land_category", "agricultural", lang)  # type: ignore[arg-type]
    if kind == "zoning":
        name = load_rulebook(None).zone_types["residential_individual"].name
        return name[lang]
    if kind == "restrictions":
        return label("protected_subzone", "core", lang)  # type: ignore[arg-type]
    return label("hazard_class", "high", lang)  # type: ignore[arg-type]


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("kind", MAP_KINDS)
def test_map_page_in_each_language_with_only_local_assets(client, kind, lang):
    page = client.get(f"/map/{kind}?lang={lang}")
    assert page.status_code == 200, page.text[:500]
    assert _legend_label(kind, lang) in page.text
    refs = _refs(page.text)
    assert refs.urls, "the page loads Leaflet from somewhere"
    external = [u for u in refs.urls if urlsplit(u).scheme or urlsplit(u).netloc]
    assert external == []
    assert "/assets/leaflet.js" in refs.urls and "/assets/leaflet.css" in refs.urls
    assert "/assets/Leaflet.VectorGrid.bundled.js" in refs.urls
    assert "/tiles/parcels/{z}/{x}/{y}.pbf" in page.text
    assert "/api/map/parcels/find" in page.text


def test_other_languages_do_not_leak_into_a_page(client):
    ru = label("land_category", "agricultural", "ru")
    en = label("land_category", "agricultural", "en")
    page = client.get("/map/overview?lang=en").text
    assert en in page and ru not in page


def test_restrictions_map_shows_derived_water_zones(client):
    page = client.get("/map/restrictions?lang=en").text
    assert "Water protection zone" in page and "Coastal strip" in page


def test_base_map_is_osm_by_default_and_can_be_switched_off(demo_gpkg, client):
    assert "tile.openstreetmap.org" in client.get("/map/overview").text
    assert "tile.openstreetmap.org" not in client.get("/map/overview?basemap=none").text
    none = TestClient(create_app(Settings(workspace=str(demo_gpkg), base_map="none")))
    assert "tile.openstreetmap.org" not in none.get("/map/zoning").text
    assert none.get("/map/zoning?basemap=osm").status_code == 200
    assert client.get("/map/overview?basemap=google").status_code == 422


def test_unknown_map_is_not_found(client):
    assert client.get("/map/cadastre").status_code in (404, 422)


def _hostile_workspace(path, value: str) -> str:
    """Put ``value`` into an exposed parcel's settlement and a water body's name."""
    from web.services import STORE_COLUMNS

    workspace = open_workspace(path)
    try:
        parcels = workspace.read_layer("parcels", include_personal=False)
        exposed = exposed_parcels(parcels, workspace.read_layer("hazard_zones"))
        target = parcels[parcels["cadastral_no"] == exposed["cadastral_no"].iloc[0]].iloc[0]
        workspace.update_parcel(int(target["fid"]), {"settlement": value},
                                expected_version=int(target["row_version"]), user="test")
        water = workspace.read_layer("water_bodies").drop(columns=STORE_COLUMNS,
                                                          errors="ignore")
        water.loc[water.index[0], "name"] = value
        workspace.import_layer("water_bodies", water, user="test", mode="replace")
        return str(target["cadastral_no"])
    finally:
        workspace.close()


def test_popup_values_are_escaped(demo_copy):
    hostile = "<script>alert(1)</script>"
    cadastral_no = _hostile_workspace(demo_copy, hostile)
    client = TestClient(create_app(Settings(workspace=str(demo_copy))))
    clean = client.get("/map/overview").text
    for kind in MAP_KINDS:
        page = client.get(f"/map/{kind}?lang=en").text
        assert "<script>alert(1)" not in page, kind
        # The hostile value is at most popup data, never a tag of its own.
        assert _refs(page).scripts == _refs(clean).scripts, kind
    # Water zones come as GeoJSON: their popup data is escaped HTML text in the script.
    page = client.get("/map/restrictions?lang=en").text
    found = re.search(r'"name": ("[^"]*alert\(1\)[^"]*")', page)
    assert found is not None
    assert json.loads(found.group(1)) == html.escape(hostile)
    # Exposed parcels are tiles: the hazards page holds no parcel attribute at all, and a
    # click's details are JSON, which the page writes as text.
    assert cadastral_no not in client.get("/map/hazards?lang=en").text
    lon, lat = _inside(demo_copy, cadastral_no)
    details = client.get(f"/api/map/at?layers=exposed_parcels,parcels&lon={lon}&lat={lat}")
    assert details.headers["content-type"] == "application/json"
    assert details.json()["exposed_parcels"][0]["settlement"] == hostile
    assert details.json()["parcels"][0]["settlement"] == hostile


def _inside(path, cadastral_no: str) -> tuple[float, float]:
    workspace = open_workspace(path)
    try:
        parcel = workspace.read_layer("parcels", where={"cadastral_no": cadastral_no},
                                      include_personal=False)
    finally:
        workspace.close()
    point = parcel.to_crs(4326).geometry.iloc[0].representative_point()
    return point.x, point.y


def test_pages_never_carry_personal_data(demo_gpkg, client):
    workspace = open_workspace(demo_gpkg)
    try:
        holders = workspace.read_layer("parcels", columns=["holder"])["holder"].dropna()
    finally:
        workspace.close()
    sample = [str(h) for h in holders.head(50)]
    assert sample
    for kind in MAP_KINDS:
        page = client.get(f"/map/{kind}?lang=ru").text
        assert not [h for h in sample if h in page], kind
        assert '"holder"' not in page


def test_exposed_parcels_pairs_parcels_with_their_worst_hazard(demo_gpkg):
    import geopandas as gpd
    from shapely.geometry import box

    crs = "EPSG:32642"
    parcels = gpd.GeoDataFrame(
        {"cadastral_no": ["a", "b", "c"], "settlement": ["S", None, "S"]},
        geometry=[box(0, 0, 10, 10), box(20, 0, 30, 10), box(100, 100, 110, 110)], crs=crs)
    hazards = gpd.GeoDataFrame(
        {"hazard_type": ["flood", "mudflow"], "hazard_class": ["low", "high"]},
        geometry=[box(5, 5, 25, 8), box(8, 0, 9, 1)], crs=crs)
    exposed = exposed_parcels(parcels, hazards, lang="en").set_index("cadastral_no")
    assert list(exposed.index) == ["a", "b"]
    assert exposed.loc["a", "hazard_class"] == "high"
    assert exposed.loc["b", "hazard_class"] == "low"
    flood, mudflow = label("hazard_type", "flood", "en"), label("hazard_type", "mudflow", "en")
    assert exposed.loc["a", "hazard_types"] == ", ".join(sorted([flood, mudflow]))
    assert exposed.loc["b", "hazard_types"] == flood


# --- headless Chromium ------------------------------------------------------------------


HOSTILE = '<img src="x" onerror="document.title=1">'


@pytest.fixture(scope="module")
def live_url(demo_gpkg, tmp_path_factory):
    """The app served on a free loopback port, with no base map (no internet).

    It serves a copy of the demo where one parcel's settlement is hostile markup.
    """
    import shutil

    from .conftest import require_chromium, serve

    require_chromium()
    copy = tmp_path_factory.mktemp("live") / "isfana.gpkg"
    shutil.copyfile(demo_gpkg, copy)
    workspace = open_workspace(copy)
    try:
        parcel = workspace.find_parcel("4-08-01-0089-0001", include_personal=False)
        workspace.update_parcel(int(parcel["fid"]), {"settlement": HOSTILE},
                                expected_version=int(parcel["row_version"]), user="test")
    finally:
        workspace.close()
    with serve(create_app(Settings(workspace=str(copy), base_map="none"))) as url:
        yield url


@pytest.mark.browser
def test_map_pages_run_offline_in_chromium(live_url):
    import os

    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=os.environ["JER_TEST_CHROMIUM"],
                                    args=["--no-sandbox"])
        try:
            page = browser.new_page()
            errors: list[str] = []
            outside: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("request", lambda r: outside.append(r.url)
                    if not r.url.startswith(live_url) and not r.url.startswith("data:")
                    else None)
            for kind in MAP_KINDS:
                page.goto(f"{live_url}/map/{kind}?lang=ru")
                page.wait_for_function("typeof L !== 'undefined' && L.vectorGrid !== undefined")
                assert page.locator(".leaflet-control-layers").count() == 1
                assert page.locator(".leaflet-control-scale").count() == 1
                assert page.locator(".leaflet-control-measure").count() == 1
                assert page.locator(".jer-search input").count() == 1
            page.goto(f"{live_url}/map/overview?lang=en")
            page.wait_for_selector(".leaflet-tile-container canvas")
            page.fill(".jer-search input", "4-08-01-0089-0001")
            page.press(".jer-search input", "Enter")
            popup = page.wait_for_selector(".leaflet-popup-content")
            assert "4-08-01-0089-0001" in popup.inner_text()
            # Attribute values are text in the popup, never markup.
            assert HOSTILE in popup.inner_text()
            assert page.locator(".leaflet-popup-content img").count() == 0
            assert page.title() != "1"
            page.fill(".jer-search input", "0-00-00-0000-0000")
            page.press(".jer-search input", "Enter")
            page.wait_for_function(
                "document.querySelector('.jer-search-status').textContent.length > 0")
            assert page.locator(".jer-search-status").inner_text() == "Not found"
            # A click on a parcel in the tiles asks the parcel API and opens its details.
            page.goto(f"{live_url}/map/overview?lang=en")
            page.wait_for_selector(".leaflet-tile-container canvas")
            page.evaluate("""() => {
                const map = Object.values(window).find(v => v instanceof L.Map);
                map.setView([39.84915, 69.51835], 18);
            }""")
            page.wait_for_timeout(500)
            box = page.locator(".folium-map").bounding_box()
            assert box is not None
            page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
            details = page.wait_for_selector(".leaflet-popup-content table")
            assert "4-08-01-0089-0001" in details.inner_text()
            assert errors == []
            assert outside == []
        finally:
            browser.close()


def test_hazards_and_reference_layers_come_as_tiles_not_embedded(client):
    hazards = client.get("/map/hazards?lang=en").text
    assert "/tiles/hazard_zones/{z}/{x}/{y}.pbf" in hazards
    assert "/tiles/exposed_parcels/{z}/{x}/{y}.pbf" in hazards
    # the municipality outline is the one GeoJSON layer left on the page
    assert hazards.count('"type": "FeatureCollection"') == 1
    assert len(hazards.encode()) < 100_000  # it embedded 2 MB of GeoJSON before
    zoning = client.get("/map/zoning?lang=en").text
    assert "/tiles/zones/{z}/{x}/{y}.pbf" in zoning
    restrictions = client.get("/map/restrictions?lang=en").text
    for layer in ("protected_areas", "forest_fund", "hazard_zones", "restrictions"):
        assert f"/tiles/{layer}/{{z}}/{{x}}/{{y}}.pbf" in restrictions


def _editor_config(page: str) -> dict | None:
    found = re.search(r"var cfg = (\{.*?\});\n", page)
    assert found is not None
    return json.loads(found.group(1))["editor"]


def test_edit_form_is_offered_only_to_editors(demo_copy):
    from web.auth import add_user

    with open_workspace(demo_copy) as ws:
        for name, role in (("aigul", "land_specialist"), ("bakyt", "planner"),
                           ("admin1", "admin")):
            add_user(ws, name, role=role, password="correct horse battery")
    app = create_app(Settings(workspace=str(demo_copy)))

    def page_for(user: str | None, lang: str = "en") -> str:
        client = TestClient(app)
        if user:
            client.post("/login", data={"username": user, "password": "correct horse battery"})
        return client.get(f"/map/overview?lang={lang}").text

    public = page_for(None)
    assert _editor_config(public) is None and "Edit parcel" not in public
    assert _editor_config(page_for("bakyt")) is None
    editor = _editor_config(page_for("aigul", "ru"))
    assert editor is not None
    fields = {f["name"]: f for f in editor["fields"]}
    assert "cadastral_no" not in fields
    assert {"land_category", "designated_use", "settlement", "right_type", "ownership",
            "in_use", "lease_until", "official_area_ha"} <= set(fields)
    assert fields["land_category"]["options"][0] == [
        "agricultural", label("land_category", "agricultural", "ru")]
    uses = dict(fields["designated_use"]["options"])
    assert uses["individual_housing"] == load_rulebook(None).uses["individual_housing"].name["ru"]
    assert dict(fields["settlement"]["options"])["Isfana"] == "Исфана"
    assert fields["in_use"]["kind"] == "bool" and fields["lease_until"]["kind"] == "date"
    # land specialists read and write holders; the field is theirs
    assert fields["holder"]["kind"] == "text"
    assert all(not f["label"].startswith("field_") for f in editor["fields"])


def test_exposed_parcels_joins_each_parcels_distinct_types_sorted_with_its_worst_class():
    """Tiny frames in UTM 42N: repeated and mixed hazards per parcel, one parcel untouched."""
    import geopandas as gpd
    import shapely

    parcels = gpd.GeoDataFrame(
        {"cadastral_no": ["A", "B", "C"], "settlement": ["s1", None, "s2"]},
        geometry=[shapely.box(0, 0, 10, 10), shapely.box(20, 0, 30, 10),
                  shapely.box(40, 0, 50, 10)], crs=32642)
    hazards = gpd.GeoDataFrame(
        {"hazard_type": ["mudflow", "flood", "mudflow", "landslide", "flood"],
         "hazard_class": ["low", "high", "medium", "low", "low"]},
        geometry=[shapely.box(5, 5, 25, 8), shapely.box(-5, -5, 3, 3),
                  shapely.box(22, 2, 24, 4), shapely.box(1, 1, 2, 2),
                  shapely.box(100, 100, 101, 101)], crs=32642)
    exposed = exposed_parcels(parcels, hazards, lang=None, keep=("settlement",))
    assert exposed["cadastral_no"].tolist() == ["A", "B"]
    assert exposed["hazard_types"].tolist() == ["flood,landslide,mudflow", "mudflow"]
    assert exposed["hazard_class"].tolist() == ["high", "medium"]
    assert exposed["settlement"].iloc[0] == "s1" and exposed["settlement"].isna().iloc[1]
    assert list(exposed.columns).count("settlement") == 1

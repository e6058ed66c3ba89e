"""The core pages in headless Chromium: sign-in, every page drawn, editing, languages, XSS.

One live server (``serve``) on a copy of the demo with two accounts and hostile
attribute values; no base map, so nothing may leave the server. Every test watches its
pages for script errors, console errors and requests to anywhere but the server, and
keeps screenshots as artifacts (``tests/web/conftest.py``).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from spatial.schema import label
from spatial.store import open_workspace
from spatial.zoning import load_rulebook
from web.app import create_app
from web.auth import add_user
from web.i18n import t
from web.reports.labels import text
from web.settings import Settings

from .conftest import require_chromium, screenshot, serve

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery"
EDITED = "4-08-01-0089-0002"
HOSTILE_PARCEL = "4-08-01-0089-0001"
#: Hostile values: each would run if a page inserted it as HTML.
HOSTILE_SETTLEMENT = "<script>window.__xss = 'settlement'</script>"
HOSTILE_USE = "<img src=x onerror=\"window.__xss='use'\">"
HOSTILE_LABEL = "<img src=x onerror=\"window.__xss='label'\">Golbo"
MAPS = ("overview", "zoning", "restrictions", "hazards")

#: True when some tile canvas of the map has painted pixels (features drawn).
CANVAS_DRAWN = """() => Array.from(document.querySelectorAll('.leaflet-tile-container canvas'))
  .some(c => {
    if (!c.width || !c.height) { return false; }
    const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    for (let i = 3; i < data.length; i += 4 * 7) { if (data[i] > 0) { return true; } }
    return false;
  })"""
MAP_OBJECT = "Object.values(window).find(v => v instanceof L.Map)"


@dataclass
class Watch:
    """What a browser context did that a page must not: errors and outside requests."""

    base: str
    errors: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)
    tiles: list[str] = field(default_factory=list)

    def attach(self, context: Any) -> None:
        def request(r: Any) -> None:
            if not r.url.startswith((self.base, "data:", "blob:")):
                self.outside.append(r.url)
            if "/tiles/" in r.url:
                self.tiles.append(r.url)

        context.on("request", request)
        context.on("page", self.page)

    def page(self, page: Any) -> None:
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("console", lambda m: self.console.append(m.text) if m.type == "error" else None)

    def clean(self, *, expected_statuses: tuple[int, ...] = ()) -> None:
        """No script error, no request outside, no console error but expected statuses."""
        allowed = [f"status of {s}" for s in expected_statuses]
        console = [m for m in self.console if not any(a in m for a in allowed)]
        assert self.errors == []
        assert console == []
        assert self.outside == []


@pytest.fixture(scope="module")
def site(demo_gpkg: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[
        tuple[str, Path]]:
    """The app on a demo copy with accounts and hostile values, served on loopback."""
    require_chromium()
    path = tmp_path_factory.mktemp("browser") / "isfana.gpkg"
    shutil.copyfile(demo_gpkg, path)
    with open_workspace(path) as ws:
        add_user(ws, "aigul", role="land_specialist", password=PASSWORD)
        add_user(ws, "group", role="working_group", password=PASSWORD)
        parcel = ws.find_parcel(HOSTILE_PARCEL, include_personal=False)
        ws.update_parcel(int(parcel["fid"]), {"settlement": HOSTILE_SETTLEMENT},
                         expected_version=int(parcel["row_version"]), user="test")
        settlements = ws.read_layer("settlements").drop(columns=["fid"])
        for column in ("name_ky", "name_ru", "name_en"):
            settlements.loc[settlements["name"] == "Golbo", column] = HOSTILE_LABEL
        ws.import_layer("settlements", settlements, user="test", mode="replace")
    app = create_app(Settings(workspace=str(path), base_map="none", secret_key="browser"))
    with serve(app) as url:
        yield url, path


@pytest.fixture
def browser_context(chromium: Any, site: tuple[str, Path]) -> Iterator[tuple[Any, Watch]]:
    base, _ = site
    context = chromium.new_context(viewport={"width": 1280, "height": 860})
    watch = Watch(base)
    watch.attach(context)
    try:
        yield context, watch
    finally:
        context.close()


def sign_in(page: Any, base: str, user: str, *, next_path: str = "/") -> None:
    """Sign in through the sign-in page, as a person would."""
    page.goto(f"{base}/login?next={next_path}")
    page.fill("#username", user)
    page.fill("#password", PASSWORD)
    with page.expect_navigation():
        page.click("form.login button[type=submit]")


def no_injection(page: Any) -> None:
    """Nothing hostile ran or became an element."""
    assert page.evaluate("window.__xss === undefined")
    assert page.locator("img[src='x']").count() == 0


def test_sign_in_through_the_form_and_sign_out(browser_context, site):
    context, watch = browser_context
    base, _ = site
    page = context.new_page()
    page.goto(f"{base}/map/zoning?lang=en")
    page.click("a.sign-in")
    page.wait_for_selector("form.login")
    screenshot(page, "core-login")
    page.fill("#username", "aigul")
    page.fill("#password", "wrong password")
    with page.expect_navigation():
        page.click("form.login button[type=submit]")
    assert page.locator("#login-error").inner_text() == t("pages_login_wrong", "en")
    page.fill("#password", PASSWORD)
    with page.expect_navigation():
        page.click("form.login button[type=submit]")
    assert page.url == f"{base}/map/zoning"
    assert page.locator(".user-name").inner_text() == "aigul"
    assert page.evaluate("fetch('/api/me').then(r => r.json()).then(m => m.username)") == "aigul"
    with page.expect_navigation():
        page.click("form.sign-out button")
    assert page.url == f"{base}/"
    assert page.locator("a.sign-in").count() == 1
    assert page.evaluate("fetch('/api/me').then(r => r.json()).then(m => m.username)") is None
    watch.clean(expected_statuses=(401,))


def test_every_page_draws_its_features_and_legend(browser_context, site):
    context, watch = browser_context
    base, _ = site
    page = context.new_page()
    sign_in(page, base, "group")
    page.goto(f"{base}/?lang=ru")
    assert page.locator("main table").count() >= 3
    screenshot(page, "core-balance-ru")
    for kind in MAPS:
        page.goto(f"{base}/map/{kind}?lang=ru")
        page.wait_for_function(CANVAS_DRAWN, timeout=20_000)
        assert page.locator(".legend li").count() > 0, kind
        assert page.locator(".leaflet-control-layers").count() == 1
        if kind == "restrictions":  # water zones are SVG paths
            assert page.locator(".leaflet-overlay-pane path").count() > 0
        screenshot(page, f"core-map-{kind}-ru")
    page.goto(f"{base}/report/space?lang=ru", timeout=120_000)
    page.wait_for_selector(".space-report .folium-map path", state="attached", timeout=30_000)
    assert page.locator(".space-report .legend .swatch").count() > 0
    assert page.locator('section[data-table="key_figures"] td').count() > 0
    assert page.locator("a#report-xlsx").count() == 1
    screenshot(page, "core-report-ru")
    watch.clean()
    assert any("/tiles/hazard_zones/" in u for u in watch.tiles)
    assert any("/tiles/exposed_parcels/" in u for u in watch.tiles)


def test_a_click_on_the_hazards_map_shows_the_zone(browser_context, site):
    context, watch = browser_context
    base, path = site
    with open_workspace(path) as ws:
        zone = ws.read_layer("hazard_zones").to_crs(4326).iloc[0]
    point = zone.geometry.representative_point()
    page = context.new_page()
    page.goto(f"{base}/map/hazards?lang=en")
    page.wait_for_function(CANVAS_DRAWN, timeout=20_000)
    page.evaluate(f"{MAP_OBJECT}.setView([{point.y}, {point.x}], 16)")
    page.wait_for_timeout(300)
    page.evaluate(f"{MAP_OBJECT}.fire('click', {{latlng: L.latLng({point.y}, {point.x})}})")
    popup = page.wait_for_selector(".leaflet-popup-content table")
    assert label("hazard_class", zone["hazard_class"], "en") in popup.inner_text()
    screenshot(page, "core-hazards-popup")
    watch.clean()


def _open_editor(page: Any, cadastral_no: str) -> None:
    page.fill(".jer-search input", cadastral_no)
    page.press(".jer-search input", "Enter")
    page.wait_for_selector(".leaflet-popup-content button.jer-edit")
    page.click(".leaflet-popup-content button.jer-edit")
    page.wait_for_selector(".jer-edit-form")


def test_edit_a_parcel_through_the_popup_form(browser_context, site):
    context, watch = browser_context
    base, _ = site
    page = context.new_page()
    sign_in(page, base, "aigul", next_path="/map/overview%3Flang%3Den")
    page.wait_for_function(CANVAS_DRAWN, timeout=20_000)
    _open_editor(page, EDITED)
    screenshot(page, "core-edit-form")
    assert page.locator("#jer-edit-land_category option").count() == 7
    assert page.locator("#jer-edit-designated_use").input_value() == "individual_housing"
    page.select_option("#jer-edit-designated_use", "commerce")
    page.select_option("#jer-edit-settlement", "Samat")
    tiles_before = len(watch.tiles)
    page.click(".jer-edit-form button.jer-save")
    page.wait_for_selector(".jer-edit-status.jer-ok")
    assert page.locator(".jer-edit-status").inner_text().startswith(
        t("pages_saved", "en").split("(")[0].strip())
    page.wait_for_timeout(500)
    assert len(watch.tiles) > tiles_before  # the parcel tiles were drawn again
    screenshot(page, "core-edit-saved")
    parcel = page.evaluate(f"fetch('/api/parcels/{EDITED}').then(r => r.json())")
    assert parcel["properties"]["designated_use"] == "commerce"
    assert parcel["properties"]["settlement"] == "Samat"
    history = page.evaluate(f"fetch('/api/parcels/{EDITED}/history').then(r => r.json())")
    assert history[0]["user"] == "aigul" and history[0]["action"] == "update"
    assert set(history[0]["changes"]) >= {"designated_use", "settlement"}
    # the popup of the changed parcel shows the new use in the page language
    page.fill(".jer-search input", EDITED)
    page.press(".jer-search input", "Enter")
    commerce = load_rulebook(None).uses["commerce"].name["en"]
    page.wait_for_function(
        "text => Array.from(document.querySelectorAll('.leaflet-popup-content'))"
        ".some(p => p.textContent.includes(text))", arg=commerce)
    watch.clean()


def test_stale_and_invalid_edits_are_explained(browser_context, site):
    context, watch = browser_context
    base, path = site
    page = context.new_page()
    sign_in(page, base, "aigul", next_path="/map/overview%3Flang%3Dru")
    page.wait_for_function(CANVAS_DRAWN, timeout=20_000)
    _open_editor(page, EDITED)
    # someone else changes the parcel meanwhile
    with open_workspace(path) as ws:
        current = ws.find_parcel(EDITED, include_personal=False)
        ws.update_parcel(int(current["fid"]), {"in_use": not bool(current["in_use"])},
                         expected_version=int(current["row_version"]), user="colleague")
    page.fill("#jer-edit-official_area_ha", "0.095")
    page.click(".jer-edit-form button.jer-save")
    page.wait_for_selector(".jer-edit-status.jer-conflict")
    assert t("pages_conflict", "ru") in page.locator(".jer-edit-status").inner_text()
    screenshot(page, "core-edit-conflict")
    with open_workspace(path) as ws:  # nothing was written
        assert ws.find_parcel(EDITED, include_personal=False)["updated_by"] == "colleague"
    page.click(".jer-edit-status button.jer-reload")
    page.wait_for_selector(".jer-edit-form")
    page.fill("#jer-edit-official_area_ha", "-5")
    page.click(".jer-edit-form button.jer-save")
    page.wait_for_selector(".jer-edit-status.jer-invalid li")
    problems = page.locator(".jer-edit-status li").all_inner_texts()
    assert any(p.startswith(t("field_official_area_ha", "ru")) for p in problems)
    screenshot(page, "core-edit-invalid")
    page.fill("#jer-edit-official_area_ha", "0.095")
    page.click(".jer-edit-form button.jer-save")
    page.wait_for_selector(".jer-edit-status.jer-ok")
    with open_workspace(path) as ws:
        saved = ws.find_parcel(EDITED, include_personal=False)
    assert saved["official_area_ha"] == pytest.approx(0.095) and saved["updated_by"] == "aigul"
    watch.clean(expected_statuses=(412, 422))


def test_public_never_sees_the_edit_action(browser_context, site):
    context, watch = browser_context
    base, _ = site
    page = context.new_page()
    page.goto(f"{base}/map/overview?lang=en")
    page.wait_for_function(CANVAS_DRAWN, timeout=20_000)
    page.fill(".jer-search input", EDITED)
    page.press(".jer-search input", "Enter")
    page.wait_for_selector(".leaflet-popup-content table")
    assert page.locator(".leaflet-popup-content button.jer-edit").count() == 0
    assert page.locator(".jer-editor").count() == 0
    watch.clean()


def test_language_switch_ky_ru_en_keeps_the_page(browser_context, site):
    context, watch = browser_context
    base, _ = site
    page = context.new_page()
    page.goto(f"{base}/map/overview?lang=ky")
    for lang in ("ky", "ru", "en"):
        if lang != "ky":
            with page.expect_navigation():
                page.click(f".langs a[hreflang={lang}]")
            assert page.url == f"{base}/map/overview"
        assert page.get_attribute("html", "lang") == lang
        nav = page.locator(".main-nav").inner_text()
        assert t("pages_nav_restrictions", lang) in nav and t("pages_nav_report", lang) in nav
        assert t("map_overview", lang) in page.title()
        legend = page.locator(".legend").inner_text()
        assert label("land_category", "agricultural", lang) in legend  # type: ignore[arg-type]
        assert t("legend", lang) in legend
        page.wait_for_function(CANVAS_DRAWN, timeout=20_000)
        screenshot(page, f"core-lang-{lang}")
    # the choice is kept while moving around
    page.click(".main-nav a[href='/']")
    page.wait_for_load_state()
    assert page.get_attribute("html", "lang") == "en"
    watch.clean()


def _set_use(path: Path, cadastral_no: str, use: str) -> None:
    """Give a parcel ``use``. Writes refuse a use the workspace's rulebook lacks, so such a
    use is written under a municipal rulebook that defines it and the workspace then goes
    back to its own rulebook, as when a municipality replaces its rulebook."""
    with open_workspace(path) as ws:
        own = ws.metadata().get("rulebook", "")
        if use not in ws.code_lists()["designated_use"]:
            book = path.parent / "hostile-uses.yaml"
            names = {lang: "hostile use" for lang in ("ky", "ru", "en")}
            book.write_text(yaml.safe_dump({
                "extends": "default.yaml",
                "uses": {use: {"name": names, "categories": ["settlement"]}},
            }), encoding="utf-8")
            ws.set_metadata({"rulebook": str(book)})
        try:
            parcel = ws.find_parcel(cadastral_no, include_personal=False)
            ws.update_parcel(int(parcel["fid"]), {"designated_use": use},
                             expected_version=int(parcel["row_version"]), user="test")
        finally:
            ws.set_metadata({"rulebook": own})


def test_hostile_attributes_show_as_text_everywhere(browser_context, site):
    context, watch = browser_context
    base, path = site
    _set_use(path, HOSTILE_PARCEL, HOSTILE_USE)
    try:
        page = context.new_page()
        sign_in(page, base, "aigul", next_path="/%3Flang%3Den")
        body = page.locator("main").inner_text()
        assert HOSTILE_LABEL in body  # the settlement table of the balance
        no_injection(page)
        page.goto(f"{base}/map/overview?lang=en")
        page.wait_for_function(CANVAS_DRAWN, timeout=20_000)
        _open_editor(page, HOSTILE_PARCEL)
        popup = page.locator(".leaflet-popup-content").inner_text()
        assert HOSTILE_SETTLEMENT in popup and HOSTILE_USE in popup
        options = page.locator("#jer-edit-settlement option").all_inner_texts()
        assert HOSTILE_SETTLEMENT in options and HOSTILE_LABEL in options
        assert HOSTILE_USE in page.locator("#jer-edit-designated_use option").all_inner_texts()
        assert page.locator("#jer-edit-settlement").input_value() == HOSTILE_SETTLEMENT
        no_injection(page)
        screenshot(page, "core-xss-map")
        # a click on the parcel (the map's click details) shows the same text
        found = page.evaluate(
            f"fetch('/api/map/parcels/find?cadastral_no={HOSTILE_PARCEL}').then(r => r.json())")
        xmin, ymin, xmax, ymax = found["bounds"]
        page.evaluate(f"{MAP_OBJECT}.closePopup()")
        page.evaluate(f"{MAP_OBJECT}.fire('click', {{latlng: L.latLng("
                      f"{(ymin + ymax) / 2}, {(xmin + xmax) / 2})}})")
        page.wait_for_selector(".leaflet-popup-content table")
        assert HOSTILE_USE in page.locator(".leaflet-popup-content").inner_text()
        no_injection(page)
        # The report refuses a use its rulebook does not know, and says so as text.
        context.clear_cookies()
        sign_in(page, base, "group", next_path="/report/space%3Flang%3Den")
        assert "<img src=x onerror=" in page.locator("#report-error").inner_text()
        no_injection(page)
    finally:
        _set_use(path, HOSTILE_PARCEL, "individual_housing")
    page.goto(f"{base}/report/space?lang=en", timeout=120_000)
    page.wait_for_selector(".space-report .folium-map path", state="attached",
                           timeout=30_000)
    report = page.locator(".space-report").inner_text()
    assert HOSTILE_LABEL in report
    assert text("report.title", "en") in page.locator("main").inner_text()
    no_injection(page)
    screenshot(page, "core-xss-report")
    watch.clean(expected_statuses=(422,))

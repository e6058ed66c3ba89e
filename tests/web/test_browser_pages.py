"""The request test and the demand and allocation pages in headless Chromium, offline.

A planner signs in through the sign-in page, checks a parcel typed by its cadastral
number and sees the verdict, the reasons and the overlaps drawn on the map; selects a
parcel by clicking it; draws a polygon with Leaflet.draw's own handler and checks it;
sees a refused request's problems; and opens the plan page with its tables and the
allocated parcels drawn. Every request is watched: none may leave the server.
Screenshots are kept as test artifacts.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from spatial.store import open_workspace
from spatial.zoning import Proposal
from spatial.zoning.batch import check_parcels
from web.app import create_app
from web.auth import add_user
from web.i18n import t
from web.page_maps import REGIME_COLOURS
from web.reports.labels import text
from web.services import constraint_layers, read_parcels, resolve_rulebook
from web.settings import Settings

from .conftest import screenshot, serve

pytestmark = pytest.mark.browser

PASSWORD = "planner-secret"
#: A water body name that would run if any page inserted it as HTML.
HOSTILE = '<img src=x onerror="window.__xss=1">Isfana'
TARGET_USE = "individual_housing"


def _find_parcel(workspace: Any) -> str:
    """A parcel where individual housing is prohibited on part of it, beside other rules."""
    rulebook = resolve_rulebook(None, workspace)
    result = check_parcels(read_parcels(workspace), Proposal(target_use=TARGET_USE),
                           constraint_layers(workspace, rulebook), rulebook)
    reasons = result.reasons
    spatial = reasons[reasons["overlap_m2"].notna() & ~reasons["note"].astype(bool)]
    per_parcel = spatial.groupby("parcel").agg(
        n=("rule_id", "size"), least=("overlap_share", "min"),
        prohibited=("regime", lambda s: bool((s == "prohibited").any())),
        water=("layer", lambda s: bool((s == "water_zones").any())))
    fit = per_parcel[(per_parcel["n"] >= 3) & (per_parcel["least"] < 50)
                     & per_parcel["prohibited"] & per_parcel["water"]]
    assert len(fit), "the demo has no parcel with a partial prohibition"
    position = int(fit.index[0])
    return str(result.table["cadastral_no"].iloc[position])


@pytest.fixture(scope="module")
def site(demo_gpkg: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    path = tmp_path_factory.mktemp("browser_pages") / "isfana.gpkg"
    shutil.copyfile(demo_gpkg, path)
    with open_workspace(path) as workspace:
        add_user(workspace, "planner1", role="planner", password=PASSWORD)
        water = workspace.read_layer("water_bodies").drop(columns="fid")
        water["name"] = HOSTILE
        workspace.import_layer("water_bodies", water, user="test", mode="replace")
        cadastral_no = _find_parcel(workspace)
        parcel = workspace.read_layer("parcels", where={"cadastral_no": cadastral_no},
                                      include_personal=False).to_crs(4326)
        holders = workspace.read_layer("parcels", columns=["holder"])["holder"].dropna()
    point = parcel.geometry.iloc[0].representative_point()
    app = create_app(Settings(workspace=str(path), base_map="none"))
    with serve(app) as url:
        yield {"url": url, "cadastral_no": cadastral_no, "point": (point.y, point.x),
               "holders": [str(h) for h in holders.head(200)]}


@pytest.fixture
def browser_page(chromium, site) -> Iterator[tuple[Any, list[str], list[str]]]:
    """A fresh page whose requests off the server are recorded and refused."""
    context = chromium.new_context(viewport={"width": 1400, "height": 900})
    outside: list[str] = []
    errors: list[str] = []

    def guard(route: Any) -> None:
        if route.request.url.startswith(site["url"]):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    context.route("**/*", guard)
    page = context.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield page, outside, errors
    finally:
        context.close()


def _sign_in(page: Any, site: dict[str, Any], path: str) -> None:
    """Open ``path``, follow its sign-in link, sign in and come back to it."""
    response = page.goto(site["url"] + path)
    assert response.status == 401
    page.click(f'a[href="/login?next={path.split("?")[0]}"]')
    page.fill("#username", "planner1")
    page.fill("#password", PASSWORD)
    page.click("form.login button[type=submit]")
    page.wait_for_url(f"**{path.split('?')[0]}")


_MAP = "Object.values(window).find(v => v instanceof L.Map)"


def _api_check(page: Any, site: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """The API's answer for ``body``, asked with the page's own session."""
    csrf = next(c["value"] for c in page.context.cookies() if c["name"] == "jer_csrf")
    answer = page.context.request.post(site["url"] + "/api/checks?lang=en",
                                       data=json.dumps(body),
                                       headers={"Content-Type": "application/json",
                                                "X-CSRF-Token": csrf})
    assert answer.ok, answer.text()
    result: dict[str, Any] = answer.json()
    return result


def test_check_a_parcel_by_cadastral_number(browser_page, site):
    page, outside, errors = browser_page
    _sign_in(page, site, "/check")
    page.goto(site["url"] + "/check?lang=en")
    page.fill("#cadastral_no", site["cadastral_no"])
    page.select_option("#target_use", TARGET_USE)
    page.click("#check-form button[type=submit]")
    page.wait_for_selector("#check-results .verdict")
    expected = _api_check(page, site, {"cadastral_no": site["cadastral_no"],
                                       "target_use": TARGET_USE})
    assert expected["verdict"] == "prohibited"
    verdict = page.inner_text("#check-results .verdict-value")
    assert verdict == text("verdict.prohibited", "en")
    rows = page.locator("#check-results table.check-reasons").first.locator("tbody tr")
    assert rows.count() == len(expected["reasons"])
    cells = [rows.nth(i).locator("td").all_inner_texts() for i in range(rows.count())]
    assert any(t("check_regime_prohibited", "en") in row[0] for row in cells)
    # the hostile water body name is shown as text, never run
    features = page.locator("#check-results .reason-feature").all_inner_texts()
    assert any(HOSTILE in feature for feature in features)
    assert page.locator("#check-results img").count() == 0
    assert page.evaluate("window.__xss === undefined")
    sources = page.locator("#check-results .reason-source").all_inner_texts()
    assert len(sources) == rows.count() and all(s.strip() for s in sources)
    shares = [row[3] for row in cells if row[3]]
    assert shares and all(s.endswith("%") for s in shares)
    # the overlaps are drawn, one path per feature, coloured by regime
    overlaps = page.locator(".leaflet-overlay-pane path.check-overlap")
    assert overlaps.count() == len(expected["overlaps"]["features"]) > 0
    fills = {overlaps.nth(i).get_attribute("fill") for i in range(overlaps.count())}
    assert REGIME_COLOURS["prohibited"] in fills
    assert page.locator(".leaflet-overlay-pane path.check-subject").count() == 1
    # an overlap's popup shows its measurement, the name as text
    popup = page.evaluate(f"""() => {{
        const map = {_MAP};
        let found = null;
        map.eachLayer(l => {{
            if (!found && l.feature && l.feature.properties.layer === 'water_zones') {{
                l.openPopup(); found = l;
            }}
        }});
        const box = document.querySelector('.leaflet-popup-content');
        return box ? {{text: box.innerText, imgs: box.querySelectorAll('img').length}} : null;
    }}""")
    assert popup is not None and HOSTILE in popup["text"] and popup["imgs"] == 0
    assert t("check_col_overlap_m2", "en") in popup["text"]
    page.wait_for_timeout(300)  # let the popup fade in
    screenshot(page, "check-parcel")
    assert not outside, outside
    assert not errors, errors


def test_click_on_a_parcel_selects_it(browser_page, site):
    page, outside, errors = browser_page
    _sign_in(page, site, "/check")
    page.click(".legend summary")  # fold the legend away from the map's centre
    lat, lon = site["point"]
    page.evaluate(f"() => {_MAP}.setView([{lat}, {lon}], 18, {{animate: false}})")
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(500)
    x, y = page.evaluate(f"""() => {{
        const map = {_MAP};
        const p = map.latLngToContainerPoint([{lat}, {lon}]);
        const r = map.getContainer().getBoundingClientRect();
        return [r.left + p.x, r.top + p.y];
    }}""")
    page.mouse.click(x, y)
    page.wait_for_function(
        "document.getElementById('cadastral_no').value !== ''", timeout=10_000)
    assert page.input_value("#cadastral_no") == site["cadastral_no"]
    assert page.is_checked('input[name="mode"][value="parcel"]')
    screenshot(page, "check-click-parcel")
    assert not outside, outside
    assert not errors, errors


def test_draw_a_polygon_and_check_it(browser_page, site):
    page, outside, errors = browser_page
    _sign_in(page, site, "/check")
    page.goto(site["url"] + "/check?lang=ru")
    assert page.get_attribute(".leaflet-draw-draw-polygon", "title") == t(
        "check_draw_polygon", "ru")
    lat, lon = site["point"]
    d = 0.0012
    ring = [[lat - d, lon - d], [lat - d, lon + d], [lat + d, lon + d], [lat + d, lon - d]]
    # Leaflet.draw's own polygon handler places the vertices and finishes the shape.
    page.evaluate(f"""() => {{
        const map = {_MAP};
        const handler = new L.Draw.Polygon(map, {{}});
        handler.enable();
        {json.dumps(ring)}.forEach(p => handler.addVertex(L.latLng(p[0], p[1])));
        handler.completeShape();
    }}""")
    assert page.is_checked('input[name="mode"][value="drawn"]')
    page.click("details summary")
    page.select_option("#current_category", "agricultural")
    page.select_option("#current_use", "agriculture")
    page.select_option("#target_category", "settlement")
    page.select_option("#target_use", TARGET_USE)
    page.click("#check-form button[type=submit]")
    page.wait_for_selector("#check-results .verdict")
    polygon = {"type": "Polygon",
               "coordinates": [[[p[1], p[0]] for p in [*ring, ring[0]]]]}
    expected = _api_check(page, site, {
        "geometry": polygon, "current_category": "agricultural", "current_use": "agriculture",
        "target_category": "settlement", "target_use": TARGET_USE})
    assert page.inner_text("#check-results .verdict-value") == text(
        f"verdict.{expected['verdict']}", "ru")
    rows = page.locator("#check-results table.check-reasons").first.locator("tbody tr")
    assert rows.count() == len(expected["reasons"])
    assert page.locator(".leaflet-overlay-pane path.check-overlap").count() == len(
        expected["overlaps"]["features"])
    assert page.locator(".leaflet-overlay-pane path.check-subject").count() == 1
    screenshot(page, "check-drawn-polygon")
    assert not outside, outside
    assert not errors, errors


def test_problems_of_a_refused_check_are_listed(browser_page, site):
    page, outside, errors = browser_page
    _sign_in(page, site, "/check")
    page.goto(site["url"] + "/check?lang=en")
    # nothing chosen: said on the page, no request made
    page.click("#check-form button[type=submit]")
    assert page.inner_text("#check-results") == t("check_need_parcel", "en")
    # an unknown parcel: the server's message
    page.fill("#cadastral_no", "0-00-00-0000-0000")
    page.click("#check-form button[type=submit]")
    page.wait_for_selector("#check-results .check-error")
    assert "0-00-00-0000-0000" in page.inner_text("#check-results .check-error")
    # a self-crossing drawing: 422 with each problem listed
    lat, lon = site["point"]
    d = 0.001
    page.evaluate(f"""() => {{
        const map = {_MAP};
        const bowtie = L.polygon([[{lat - d}, {lon - d}], [{lat + d}, {lon + d}],
                                  [{lat + d}, {lon - d}], [{lat - d}, {lon + d}]]);
        map.fire('draw:created', {{layer: bowtie, layerType: 'polygon'}});
    }}""")
    page.select_option("#target_use", TARGET_USE)
    page.click("#check-form button[type=submit]")
    page.wait_for_selector("#check-results .check-error li")
    shown = page.inner_text("#check-results .check-error")
    assert t("check_problems", "en") in shown
    assert "invalid" in shown.lower() or "self" in shown.lower()
    assert page.locator(".leaflet-overlay-pane path.check-overlap").count() == 0
    screenshot(page, "check-problems")
    assert not outside, outside
    assert not errors, errors


def test_plan_page_shows_tables_and_the_allocated_parcels(browser_page, site):
    page, outside, errors = browser_page
    _sign_in(page, site, "/plan")
    page.goto(site["url"] + "/plan?lang=ky")
    tables = page.locator(".plan-table table")
    assert tables.count() >= 5
    population = page.locator("#plan-population table tbody tr")
    assert population.count() == 6  # base year and five projected
    drafts = page.locator("#plan-draft_requests table tbody tr")
    assert drafts.count() > 0
    page.locator("#plan-map").scroll_into_view_if_needed()
    allocated = page.evaluate(f"""() => {{
        const map = {_MAP};
        let n = 0, opened = null;
        map.eachLayer(l => {{
            if (l.feature && l.feature.properties && l.feature.properties._colour) {{
                n += 1;
                if (!opened) {{  // a click reaches the layer's group, which holds the popup
                    l.fire('click', {{latlng: l.getCenter(), layer: l}}, true); opened = l;
                }}
            }}
        }});
        const box = document.querySelector('.leaflet-popup-content');
        return {{n: n, popup: box ? box.innerText : ''}};
    }}""")
    paths = page.locator("#plan-map .leaflet-overlay-pane path").count()
    assert allocated["n"] > 0 and paths >= allocated["n"]
    assert t("field_cadastral_no", "ky") in allocated["popup"]
    content = page.content()
    assert not [h for h in site["holders"] if h in content]
    screenshot(page, "plan-page")
    assert not outside, outside
    assert not errors, errors

"""The Space section report in the app (/report/space, its XLSX) and offline report files."""

from __future__ import annotations

import io
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from spatial.store import open_workspace
from web.app import create_app
from web.auth import add_user
from web.i18n import t
from web.reports.labels import text
from web.reports.space import render_space_html
from web.settings import Settings

PASSWORD = "correct horse battery"


class _Refs(HTMLParser):
    """URLs a page loads scripts and styles from, and whether inline scripts exist."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline_scripts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "script":
            if values.get("src"):
                self.urls.append(values["src"] or "")
            else:
                self.inline_scripts += 1
        if tag == "link" and values.get("href"):
            self.urls.append(values["href"] or "")
        if tag in ("iframe", "img") and values.get("src"):
            self.urls.append(values["src"] or "")


def _refs(page: str) -> _Refs:
    parser = _Refs()
    parser.feed(page)
    return parser


def _external(urls: list[str]) -> list[str]:
    return [u for u in urls if urlsplit(u).scheme or urlsplit(u).netloc]


@pytest.fixture(scope="module")
def workspace_path(demo_gpkg, tmp_path_factory) -> Path:
    import shutil

    path = tmp_path_factory.mktemp("report") / "isfana.gpkg"
    shutil.copyfile(demo_gpkg, path)
    with open_workspace(path) as ws:
        add_user(ws, "group", role="working_group", password=PASSWORD)
        add_user(ws, "aigul", role="land_specialist", password=PASSWORD)
    return path


@pytest.fixture(scope="module")
def app(workspace_path):
    return create_app(Settings(workspace=str(workspace_path), base_map="none"))


def _client(app, user: str | None = None) -> TestClient:
    client = TestClient(app, raise_server_exceptions=False)
    if user:
        assert client.post("/login", data={"username": user, "password": PASSWORD}).is_success
    return client


@pytest.fixture(scope="module")
def group(app) -> TestClient:
    return _client(app, "group")


@pytest.mark.parametrize("lang", ["ky", "ru", "en"])
def test_public_gets_a_sign_in_prompt_and_nothing_computed(app, lang):
    page = _client(app).get(f"/report/space?lang={lang}")
    assert page.status_code == 401
    assert page.headers["content-type"].startswith("text/html")
    assert t("pages_report_sign_in", lang) in page.text
    assert 'class="sign-in-prompt" href="/login?next=/report/space"' in page.text
    assert 'data-table="' not in page.text and "leaflet" not in page.text.lower()
    assert _client(app).get("/report/space.xlsx").status_code == 401


def test_a_role_without_forecasts_gets_403(app):
    specialist = _client(app, "aigul")
    page = specialist.get("/report/space?lang=ru")
    assert page.status_code == 403
    assert t("pages_report_forbidden", "ru", role="land_specialist") in page.text
    assert "sign-in-prompt" not in page.text
    assert specialist.get("/report/space.xlsx").status_code == 403


@pytest.mark.parametrize("lang", ["ky", "ru", "en"])
def test_report_page_in_the_app_in_each_language(group, lang):
    page = group.get(f"/report/space?lang={lang}")
    assert page.status_code == 200, page.text[:500]
    assert f'<html lang="{lang}">' in page.text
    assert text("report.title", lang) in page.text
    assert 'data-table="key_figures"' in page.text and 'id="maps"' in page.text
    # inside the app: the navigation, the user, the workbook link
    assert '<span class="user-name">group</span>' in page.text
    assert f'href="/report/space.xlsx?lang={lang}&amp;scenario=medium' in page.text
    refs = _refs(page.text)
    assert _external(refs.urls) == []
    assert "/assets/leaflet.js" in refs.urls and "/assets/leaflet.css" in refs.urls


def test_report_is_computed_once_per_state_of_the_workspace(app, workspace_path):
    client = _client(app, "group")
    client.get("/report/space?lang=en&horizon=3")
    cache = app.state.space_report_cache
    computed = cache.computed
    again = client.get("/report/space?lang=ru&horizon=3")
    assert again.status_code == 200 and cache.computed == computed  # other language: cached
    assert 'class="report-meta"' not in again.text  # no "computed in" line when it came from cache
    client.get("/report/space.xlsx?lang=ky&horizon=3")
    assert cache.computed == computed  # the workbook is the same computation
    with open_workspace(workspace_path) as ws:
        parcel = ws.read_layer("parcels", include_personal=False, limit=1).iloc[0]
        ws.update_parcel(int(parcel["fid"]), {"in_use": not bool(parcel["in_use"])},
                         expected_version=int(parcel["row_version"]), user="test")
    changed = client.get("/report/space?lang=en&horizon=3")
    assert changed.status_code == 200 and cache.computed == computed + 1
    assert 'class="report-meta"' in changed.text


def test_options_change_the_forecast(group):
    low = group.get("/report/space?lang=en&scenario=low&horizon=3")
    high = group.get("/report/space?lang=en&scenario=high&horizon=3")
    assert low.status_code == high.status_code == 200
    assert text("scenario.low", "en") in low.text and text("scenario.high", "en") in high.text
    assert group.get("/report/space?horizon=31").status_code == 422
    assert group.get("/report/space?scenario=extreme").status_code == 422


def test_xlsx_download_has_the_report_tables(group):
    response = group.get("/report/space.xlsx?lang=ru&horizon=3")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    assert 'filename="space-ru.xlsx"' in response.headers["content-disposition"]
    book = load_workbook(io.BytesIO(response.content), read_only=True)
    try:
        numbers = {v for sheet in book.worksheets for row in sheet.iter_rows(values_only=True)
                   for v in row if isinstance(v, int | float)}
        titles = {sheet.title for sheet in book.worksheets}
    finally:
        book.close()
    assert 31_613 in numbers and len(titles) > 5


def test_no_holder_in_the_report_page_or_workbook(group, workspace_path):
    with open_workspace(workspace_path) as ws:
        holders = {str(h) for h in ws.read_layer("parcels", columns=["holder"])["holder"].dropna()}
    page = group.get("/report/space?lang=ru").text
    book = group.get("/report/space.xlsx?lang=ru").content
    assert holders
    assert not [h for h in holders if h in page]
    workbook = load_workbook(io.BytesIO(book), read_only=True)
    try:
        cells = {str(v) for s in workbook.worksheets for r in s.iter_rows(values_only=True)
                 for v in r if v is not None}
    finally:
        workbook.close()
    assert not holders & cells


def test_standalone_report_file_needs_no_network_for_scripts_or_styles(demo_gpkg, tmp_path):
    from typer.testing import CliRunner

    import web.cli_planning  # noqa: F401  (registers the report command)
    from web.assets import offline_assets
    from web.cli import app as cli

    result = CliRunner().invoke(cli, ["report", "space", "--workspace", str(demo_gpkg),
                                      "--lang", "ru", "--out", str(tmp_path)],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    page = (tmp_path / "space-ru.html").read_text(encoding="utf-8")
    refs = _refs(page)
    assert refs.urls == []  # no script, style or frame loaded from anywhere
    assert "<iframe" not in page
    # Leaflet is in the file itself, from the installed package
    assert offline_assets()["leaflet.js"].text[:2000] in page
    assert offline_assets()["leaflet.css"].text[:500] in page
    assert len(re.findall(r'class="folium-map"', page)) >= 3


def test_report_tooltips_and_tables_show_hostile_names_as_text(demo_copy):
    from jer_data import DEMO_DIR
    from spatial.demand import read_population_csv
    from web.reports.space import compute_space_section

    hostile = '<img src=x onerror="document.title=1">'
    with open_workspace(demo_copy) as ws:
        settlements = ws.read_layer("settlements")
        names = settlements.set_index("name")
        name = "Isfana"
        assert name in names.index
        # the report labels settlements by their own names: make Isfana's hostile
        frame = settlements.drop(columns=["fid"]).copy()
        for column in ("name_ky", "name_ru", "name_en"):
            frame.loc[frame["name"] == name, column] = hostile
        ws.import_layer("settlements", frame, user="test", mode="replace")
        section = compute_space_section(
            ws, population=read_population_csv(DEMO_DIR / "population.csv"), lang="en")
    page = render_space_html(section, "en")
    assert hostile not in page
    assert "&lt;img src=x onerror=" in page  # in the tables, escaped by Jinja
    # in the map data the label is escaped HTML (the tooltip inserts it as HTML)
    assert "\\u003cimg src=x onerror" not in page

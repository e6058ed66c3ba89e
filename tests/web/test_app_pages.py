"""The request test (/check) and demand and allocation (/plan) pages through TestClient.

Who may see them (401 sign-in prompt, 403 for a role without the permission), the page
in each language with only local assets, the plan's numbers against the shared
computation, its cache, escaping of hostile names and the absence of personal data.
"""

from __future__ import annotations

import html
import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from spatial.schema import codes, label
from spatial.store import open_workspace
from web.app import create_app
from web.auth import add_user
from web.i18n import t
from web.page_maps import page_assets
from web.reports.labels import text
from web.reports.space import compute_land_plan, format_number
from web.services import population_series, resolve_rulebook, result_cache
from web.settings import Settings

LANGS = ("ky", "ru", "en")
PASSWORDS = {"planner1": "planner-secret", "specialist": "specialist-secret"}


class _Page(HTMLParser):
    """Collects asset URLs, select options and the tables of each ``<section id>``."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.options: dict[str, list[tuple[str, str]]] = {}
        self.tables: dict[str, list[list[str]]] = {}
        self.links: list[str] = []
        self._select: str | None = None
        self._option: str | None = None
        self._section: str | None = None
        self._cell: list[str] | None = None
        self._row: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "script" and values.get("src"):
            self.urls.append(values["src"])
        elif tag == "link" and values.get("href"):
            self.urls.append(values["href"])
        elif tag == "a" and values.get("href"):
            self.links.append(values["href"])
        elif tag == "select":
            self._select = values.get("name", "")
            self.options[self._select] = []
        elif tag == "option":
            self._option = values.get("value", "")
        elif tag == "section" and values.get("id"):
            self._section = values["id"]
            self.tables[self._section] = []
        elif tag == "tr" and self._section is not None:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None
        elif tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None and self._section is not None:
            self.tables[self._section].append(self._row)
            self._row = None
        elif tag == "section":
            self._section = None

    def handle_data(self, data: str) -> None:
        if self._option is not None and self._select is not None:
            self.options[self._select].append((self._option, data.strip()))
            self._option = None
        if self._cell is not None:
            self._cell.append(data)


def _parse(page: str) -> _Page:
    parser = _Page()
    parser.feed(page)
    return parser


def _with_accounts(path: Path) -> Path:
    with open_workspace(path) as workspace:
        add_user(workspace, "planner1", role="planner", password=PASSWORDS["planner1"])
        add_user(workspace, "specialist", role="land_specialist",
                 password=PASSWORDS["specialist"])
    return path


@pytest.fixture(scope="module")
def workspace_path(demo_gpkg: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("app_pages") / "isfana.gpkg"
    shutil.copyfile(demo_gpkg, path)
    return _with_accounts(path)


@pytest.fixture(scope="module")
def app(workspace_path: Path):
    return create_app(Settings(workspace=str(workspace_path), base_map="none"))


def _client(app, username: str | None = None) -> TestClient:
    client = TestClient(app, raise_server_exceptions=False)
    if username is not None:
        signed = client.post("/login", data={"username": username,
                                             "password": PASSWORDS[username]})
        assert signed.status_code == 200, signed.text
    return client


@pytest.fixture(scope="module")
def planner(app) -> TestClient:
    return _client(app, "planner1")


@pytest.fixture(scope="module")
def plan_en(planner) -> str:
    page = planner.get("/plan?lang=en")
    assert page.status_code == 200, page.text[:1000]
    return page.text


# --------------------------------------------------------------------------- access


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("path", ["/check", "/plan"])
def test_a_visitor_not_signed_in_gets_the_sign_in_prompt(workspace_path, path, lang):
    app = create_app(Settings(workspace=str(workspace_path), base_map="none"))
    page = _client(app).get(f"{path}?lang={lang}")
    assert page.status_code == 401
    assert page.headers["content-type"].startswith("text/html")
    assert html.escape(t(f"{path[1:]}_need_login", lang)) in page.text
    assert f"/login?next={path}" in _parse(page.text).links
    # nothing of the page itself: no map, no plan computed
    assert "leaflet" not in page.text.lower()
    assert result_cache(app.state).computed == 0


def test_a_role_without_the_permission_gets_403_and_no_sign_in_link(app):
    specialist = _client(app, "specialist")
    refused = specialist.get("/plan?lang=ru")
    assert refused.status_code == 403
    assert html.escape(t("plan_need_role", "ru")) in refused.text
    assert not [a for a in _parse(refused.text).links if a.startswith("/login?next=/plan")]
    # land specialists run checks, so the request test is theirs
    assert specialist.get("/check?lang=ru").status_code == 200


# --------------------------------------------------------------------------- request test


@pytest.mark.parametrize("lang", LANGS)
def test_check_page_offers_every_use_and_category_in_the_page_language(
        planner, workspace_path, lang):
    page = planner.get(f"/check?lang={lang}")
    assert page.status_code == 200, page.text[:1000]
    parsed = _parse(page.text)
    with open_workspace(workspace_path) as workspace:
        rulebook = resolve_rulebook(None, workspace)
    uses = [(code, use.name[lang]) for code, use in rulebook.uses.items()]
    categories = [(code, label("land_category", code, lang)) for code in codes("land_category")]
    for select, expected in (("target_use", uses), ("current_use", uses),
                             ("target_category", categories),
                             ("current_category", categories)):
        offered = parsed.options[select]
        assert offered[0][0] == ""  # "unchanged" / "as recorded" first
        assert offered[1:] == [(c, html.unescape(html.escape(n))) for c, n in expected]
    assert t("check_submit", lang) in page.text
    # the script gets its texts in the page language too
    config = re.search(r"var checkConfig = (\{.*?\}), cfg = checkConfig;", page.text)
    assert config is not None
    cfg = json.loads(config.group(1))
    assert cfg["check_url"] == "/api/checks" and cfg["lang"] == lang
    assert cfg["text"]["need_drawing"] == t("check_need_drawing", lang)
    assert cfg["uses"] == dict(uses)


def test_check_page_loads_only_local_assets_including_leaflet_draw(planner):
    page = planner.get("/check?lang=en")
    urls = _parse(page.text).urls
    assert [u for u in urls if urlsplit(u).scheme or urlsplit(u).netloc] == []
    assert "/assets/pages/leaflet.draw.js" in urls and "/assets/pages/leaflet.draw.css" in urls
    assert "/assets/leaflet.js" in urls and "/assets/Leaflet.VectorGrid.bundled.js" in urls
    for url in urls:
        served = planner.get(url)
        assert served.status_code == 200, url
    draw = planner.get("/assets/pages/leaflet.draw.js")
    assert draw.headers["content-type"].startswith("text/javascript")
    assert draw.text == page_assets()["leaflet.draw.js"].text
    assert "L.Control.Draw" in draw.text
    assert planner.get("/assets/pages/jquery.js").status_code == 404


def test_other_languages_do_not_leak_into_the_check_page(planner):
    kyrgyz = planner.get("/check?lang=ky").text
    for lang in ("ru", "en"):
        assert t("check_intro", lang) not in kyrgyz
        assert t("check_click_hint", lang) not in kyrgyz


# --------------------------------------------------------------------------- plan


def _shared_plan(workspace_path: Path, **options):
    with open_workspace(workspace_path) as workspace:
        return compute_land_plan(
            workspace, population=population_series(workspace), n_jobs=1,
            rulebook=resolve_rulebook(None, workspace), **options)


@pytest.fixture(scope="module")
def shared_plan(workspace_path):
    return _shared_plan(workspace_path)


def test_plan_population_and_demand_match_the_shared_computation(plan_en, shared_plan):
    tables = _parse(plan_en).tables
    frame = shared_plan.projection.frame
    last = int(frame["year"].max())
    assert last == shared_plan.base_year + 5
    population = tables["plan-population"]
    assert population[0] == ["Year", "low", "medium", "high"]
    by_year = {row[0]: row for row in population[1:]}
    for i, scenario in enumerate(("low", "medium", "high"), start=1):
        total = frame[(frame["year"] == last) & (frame["scenario"] == scenario)]["population"]
        assert by_year[str(last)][i] == format_number(total.sum(), 0, "en")
    demand = tables["plan-demand"]
    assert demand[0][-1] == str(last)
    total_row = demand[-1]
    assert total_row[0] == text("row.total", "en")
    expected = shared_plan.demand_total
    assert total_row[-1] == format_number(
        expected[expected["year"] == last]["hectares"].sum(), 2, "en")


def test_plan_balance_allocation_and_drafts_match_the_shared_computation(plan_en, shared_plan):
    tables = _parse(plan_en).tables
    balance = shared_plan.demand_balance
    last = int(balance["year"].max())
    rows = tables["plan-balance"]
    assert len(rows) - 1 == int((balance["year"] == last).sum())
    allocation = shared_plan.allocation
    summary = tables["plan-allocation"]
    assert summary[0][:3] == [text("col.settlement", "en"), text("col.use", "en"),
                              text("col.parcels", "en")]
    assert sum(int(row[2]) for row in summary[1:]) == len(allocation)
    drafts = tables["plan-draft_requests"]
    assert drafts[0][0] == text("col.cadastral_no", "en")
    assert {row[0] for row in drafts[1:]} == set(shared_plan.draft_requests["cadastral_no"])
    # the map carries one feature per allocated parcel; a drafted one shows its change
    assert plan_en.count('"_colour"') == len(allocation)
    first = shared_plan.draft_requests.iloc[0]
    change = (f"{label('land_category', first['current_category'], 'en')} → "
              f"{label('land_category', first['target_category'], 'en')}")
    assert f'"category": {json.dumps(html.escape(change))}' in plan_en


def test_plan_options_change_the_computation(planner, workspace_path):
    page = planner.get("/plan?lang=ru&scenario=high&horizon=8&method=compound")
    assert page.status_code == 200, page.text[:1000]
    parsed = _parse(page.text)
    assert ("high", "Высокий") in parsed.options["scenario"]
    assert 'value="high" selected' in page.text and 'value="compound" selected' in page.text
    years = [row[0] for row in parsed.tables["plan-population"][1:]]
    expected = _shared_plan(workspace_path, scenario="high", horizon=8, method="compound")
    assert years[-1] == str(expected.base_year + 8)
    title = t("plan_population_settlements", "ru", scenario=text("scenario.high", "ru"))
    assert html.escape(title) in page.text


@pytest.mark.parametrize("query", ["horizon=0", "horizon=31", "scenario=extreme",
                                   "method=cohort"])
def test_plan_refuses_bad_options(planner, query):
    assert planner.get(f"/plan?{query}").status_code == 422


def test_plan_is_computed_once_and_again_after_an_edit(demo_copy):
    _with_accounts(demo_copy)
    app = create_app(Settings(workspace=str(demo_copy), base_map="none"))
    client = _client(app, "planner1")
    cache = result_cache(app.state)
    first = client.get("/plan?lang=en")
    assert first.status_code == 200 and cache.computed == 1
    assert t("plan_from_cache", "en") not in first.text
    again = client.get("/plan?lang=ky")
    assert cache.computed == 1
    assert html.escape(t("plan_from_cache", "ky")) in again.text
    client.get("/plan?lang=en&horizon=6")
    assert cache.computed == 2
    with open_workspace(demo_copy) as workspace:
        parcel = workspace.read_layer("parcels", limit=1, include_personal=False).iloc[0]
        workspace.update_parcel(int(parcel["fid"]), {"in_use": not bool(parcel["in_use"])},
                                expected_version=int(parcel["row_version"]), user="test")
    page = client.get("/plan?lang=en")
    assert cache.computed == 3
    # The API answers from the plan the page computed, and agrees with it.
    answer = client.post("/api/allocation", json={"scenario": "medium", "horizon": 5},
                         headers={"X-CSRF-Token": client.cookies["jer_csrf"]})
    assert answer.status_code == 200, answer.text[:500]
    assert cache.computed == 3
    drafts = {row["cadastral_no"] for row in answer.json()["draft_requests"]}
    shown = {row[0] for row in _parse(page.text).tables["plan-draft_requests"][1:]}
    assert shown == drafts


def test_plan_without_a_population_series_says_what_is_missing(demo_copy):
    _with_accounts(demo_copy)
    with open_workspace(demo_copy) as workspace:
        workspace.set_metadata({"demo": ""})
    client = _client(create_app(Settings(workspace=str(demo_copy), base_map="none")),
                     "planner1")
    page = client.get("/plan?lang=en")
    assert page.status_code == 200
    assert t("plan_not_computed", "en") in page.text
    assert "JER_POPULATION" in page.text
    from jer_data import DEMO_DIR

    with_file = _client(create_app(Settings(
        workspace=str(demo_copy), base_map="none",
        population=str(DEMO_DIR / "population.csv"))), "planner1").get("/plan?lang=en")
    tables = _parse(with_file.text).tables
    assert len(tables["plan-population"]) > 2
    assert "JER_POPULATION" not in with_file.text


def test_plan_shows_a_hostile_settlement_name_as_text(demo_copy):
    _with_accounts(demo_copy)
    hostile = "<script>alert(1)</script>"
    with open_workspace(demo_copy) as workspace:
        settlements = workspace.read_layer("settlements").drop(columns="fid")
        settlements.loc[settlements["name"] == "Isfana", "name_en"] = hostile
        workspace.import_layer("settlements", settlements, user="test", mode="replace")
    client = _client(create_app(Settings(workspace=str(demo_copy), base_map="none")),
                     "planner1")
    page = client.get("/plan?lang=en").text
    assert hostile not in page
    rows = _parse(page).tables["plan-population_settlements"]
    assert hostile in [row[0] for row in rows]  # shown as text
    # popups: the JSON property is the escaped text, never markup
    found = re.search(r'"settlement": ("[^"]*alert\(1\)[^"]*")', page)
    assert found is not None
    assert json.loads(found.group(1)) == html.escape(hostile)


def test_pages_never_carry_personal_data(planner, workspace_path, shared_plan):
    with open_workspace(workspace_path) as workspace:
        parcels = workspace.read_layer("parcels", columns=["cadastral_no", "holder"])
    chosen = set(shared_plan.allocation["cadastral_no"])
    holders = parcels[parcels["cadastral_no"].isin(chosen)]["holder"].dropna().astype(str)
    sample = [*holders.head(100), *parcels["holder"].dropna().astype(str).head(50)]
    assert sample
    for path in ("/plan?lang=ru", "/check?lang=ru"):
        page = planner.get(path).text
        assert not [h for h in sample if h in page], path
        assert '"holder"' not in page


# --------------------------------------------------------------------------- strings


def test_every_string_of_these_pages_exists_in_three_languages():
    path = Path(__file__).resolve().parents[2] / "web" / "locales" / "app_pages.json"
    strings = json.loads(path.read_text(encoding="utf-8"))
    assert strings
    for key, texts in strings.items():
        assert key.startswith(("check_", "plan_")), key
        assert sorted(texts) == sorted(LANGS), key
        assert all(texts[lang].strip() for lang in LANGS), key
        # the same placeholders in every language, so no translation loses a number
        fields = {lang: sorted(re.findall(r"\{(\w+)\}", texts[lang])) for lang in LANGS}
        assert fields["ky"] == fields["ru"] == fields["en"], key


class _Text(HTMLParser):
    """Text a person sees: everything outside scripts and styles."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        for name, value in attrs:
            if name in ("title", "placeholder", "aria-label") and value:
                self.parts.append(value)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


@pytest.mark.parametrize("lang", LANGS)
def test_no_string_key_shows_in_place_of_a_text(planner, app, lang):
    """A missing string would show as its key (``t`` falls back to it)."""
    for path in ("/check", "/plan", "/plan?method=compound"):
        page = planner.get(f"{path}{'&' if '?' in path else '?'}lang={lang}").text
        seen = _Text()
        seen.feed(page)
        assert not re.findall(r"\b(?:check|plan)_[a-z_]+", " ".join(seen.parts)), path
    for page in (_client(app).get(f"/check?lang={lang}").text,
                 _client(app, "specialist").get(f"/plan?lang={lang}").text):
        seen = _Text()
        seen.feed(page)
        assert not re.findall(r"\b(?:check|plan)_[a-z_]+", " ".join(seen.parts))
    config = re.search(r"var checkConfig = (\{.*?\}), cfg = checkConfig;",
                       planner.get(f"/check?lang={lang}").text)
    assert config is not None
    texts = json.loads(config.group(1))["text"]
    assert not [k for k, v in texts.items() if v == f"check_{k}"]

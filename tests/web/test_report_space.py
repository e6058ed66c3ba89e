"""``jer report space`` and the planning commands end to end on the Isfana demo.

The HTML and XLSX must show the numbers of the same :class:`SpaceSection` the API and
CLI compute, in the chosen language, and never a right holder's name.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from markupsafe import escape
from openpyxl import load_workbook
from typer.testing import CliRunner

import web.cli_planning  # noqa: F401  (registers the planning commands on the app)
from spatial.demand import project_population, read_population_csv
from spatial.schema import LANGS
from spatial.store import open_workspace
from web.cli import app
from web.reports.labels import TEXT, text
from web.reports.space import (
    compute_space_section,
    format_number,
    render_space_html,
    report_tables,
)

runner = CliRunner()


def jer(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def population() -> Any:
    from jer_data import DEMO_DIR

    return read_population_csv(DEMO_DIR / "population.csv")


@pytest.fixture(scope="module")
def section(demo_gpkg: Path, population: Any) -> Any:
    ws = open_workspace(demo_gpkg)
    try:
        return compute_space_section(ws, population=population, lang="ky")
    finally:
        ws.close()


@pytest.fixture(scope="module")
def reports(demo_gpkg: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """``jer report space`` in each language: (json output, html text, xlsx path)."""
    out = tmp_path_factory.mktemp("space-report")
    done: dict[str, Any] = {}
    for lang in LANGS:
        code, stdout, stderr = jer("report", "space", "--workspace", str(demo_gpkg),
                                   "--lang", lang, "--out", str(out), "--format", "json")
        assert code == 0, stderr
        data = json.loads(stdout)
        done[lang] = (data, Path(data["html"]).read_text(encoding="utf-8"), Path(data["xlsx"]))
    return done


@pytest.fixture(scope="module")
def holders(demo_gpkg: Path) -> set[str]:
    ws = open_workspace(demo_gpkg)
    try:
        names = ws.read_layer("parcels", include_personal=True)["holder"].dropna()
    finally:
        ws.close()
    return {str(n) for n in names if str(n).strip()}


def _section_html(html: str, key: str) -> str:
    """The HTML of the report sections with ``data-table=key`` (all of them joined)."""
    parts = re.findall(rf'<section id="[^"]+" data-table="{key}">(.*?)</section>', html, re.S)
    assert parts, key
    return "\n".join(parts)


def _cell(value: str) -> str:
    return f'<td class="num">{value}</td>'


def test_writes_html_and_xlsx_per_language(reports: dict[str, Any]) -> None:
    for lang in LANGS:
        data, html, xlsx = reports[lang]
        assert Path(data["html"]).name == f"space-{lang}.html"
        assert xlsx.name == f"space-{lang}.xlsx" and xlsx.stat().st_size > 0
        assert f'<html lang="{lang}">' in html
        assert text("report.title", lang) in html
        assert data["seconds"] > 0
        assert data["not_computed"] == {}


def test_key_numbers_in_the_page_are_the_sections(section: Any,
                                                  reports: dict[str, Any]) -> None:
    assert section.official_area_ha == pytest.approx(28_950)
    assert section.population == 31_613 and section.households == 7_235
    restricted = section.restrictions
    total_restricted = float(restricted.loc[restricted["kind"] == "total", "area_ha"].iloc[0])
    housing = section.demand_total
    last = housing["year"].max()
    housing_ha = float(housing.loc[(housing["use"] == "individual_housing")
                                   & (housing["year"] == last), "hectares"].iloc[0])
    compliance = section.compliance.set_index("verdict")["parcels"]
    for lang in LANGS:
        _, html, _ = reports[lang]
        figures = _section_html(html, "key_figures")
        assert f"{format_number(28_950, 0, lang)} {text('unit.ha', lang)}" in figures
        assert format_number(section.population, 0, lang) in figures
        assert format_number(section.relocation_parcels, 0, lang) in figures
        balance = _section_html(html, "balance")
        assert _cell(format_number(31_613, 0, lang)) in balance
        assert _cell(format_number(7_235, 0, lang)) in balance
        assert _cell(format_number(28_950, 2, lang)) in balance
        assert _cell(format_number(total_restricted, 2, lang)) in _section_html(
            html, "restrictions")
        assert _cell(format_number(housing_ha, 2, lang)) in _section_html(html, "demand")
        comp = _section_html(html, "compliance")
        for verdict in ("allowed", "conditional", "prohibited"):
            assert _cell(format_number(compliance[verdict], 0, lang)) in comp
    assert "28\u00a0950" in reports["ky"][1] and "28,950" in reports["en"][1]


def test_the_page_has_every_section_and_the_maps(reports: dict[str, Any]) -> None:
    for lang in LANGS:
        _, html, _ = reports[lang]
        for key in ("used_unused", "zoning", "restrictions", "exposure", "relocation",
                    "demand", "capacity", "demand_balance", "allocation", "draft_requests",
                    "sources"):
            assert f'data-table="{key}"' in html, key
            assert escape(text(f"section.{key}", lang)) in html
        for key in ("categories", "zoning", "restrictions", "hazards", "allocation"):
            assert f'id="map-{key}"' in html
        assert "leaflet" in html.lower()
        assert escape(text("note.rulebook", lang)) in html
        # the page stays light: dissolved, simplified map layers and capped lists
        assert len(html.encode()) < 2_000_000


def test_illustrative_notice(reports: dict[str, Any]) -> None:
    for lang in LANGS:
        _, html, _ = reports[lang]
        assert 'id="illustrative"' in html
        assert escape(text("report.illustrative", lang)) in html
        assert "28 950 ha are real" in html  # the workspace's own statement


def test_no_holder_name_in_html_or_xlsx(reports: dict[str, Any], holders: set[str]) -> None:
    assert len(holders) > 100  # the demo has right holders: the check is not vacuous
    for lang in LANGS:
        _, html, xlsx = reports[lang]
        book = load_workbook(xlsx, read_only=True)
        cells = {str(v) for sheet in book.worksheets for row in sheet.iter_rows(values_only=True)
                 for v in row if v is not None}
        book.close()
        assert not holders & cells
        found = [name for name in holders if name in html]
        assert found == []


def test_xlsx_sheet_per_table_with_the_same_numbers(section: Any,
                                                    reports: dict[str, Any]) -> None:
    for lang in LANGS:
        _, _, xlsx = reports[lang]
        book = load_workbook(xlsx, read_only=True)
        try:
            tables = report_tables(section, lang)
            assert len(book.worksheets) == len(tables)
            titles = [sheet["A1"].value for sheet in book.worksheets]
            assert titles == [t.title for t in tables]
            # short localised sheet names, not cut-off titles
            assert [sheet.title for sheet in book.worksheets] == [t.sheet for t in tables]
            numbers = {v for sheet in book.worksheets for row in sheet.iter_rows(values_only=True)
                       for v in row if isinstance(v, (int, float))}
        finally:
            book.close()
        assert 31_613 in numbers and 7_235 in numbers
        assert 28_950 in numbers or 28_950.0 in numbers
        assert section.relocation_parcels in numbers


def test_labels_exist_in_every_language() -> None:
    keys = {lang: set(TEXT[lang]) for lang in LANGS}
    assert keys["ky"] == keys["ru"] == keys["en"]
    for key in keys["en"]:
        assert TEXT["ky"][key] and TEXT["ru"][key]
    assert format_number(28_950.0, 0, "ru") == "28\u00a0950"
    assert format_number(1234.567, 2, "ky") == "1\u00a0234,57"
    assert format_number(1234.567, 1, "en") == "1,234.6"
    assert format_number(float("nan"), 2, "en") == ""


def test_without_population_the_report_says_not_computed(demo_gpkg: Path) -> None:
    ws = open_workspace(demo_gpkg)
    try:
        bare = compute_space_section(ws, population=None, lang="ru")
    finally:
        ws.close()
    html = render_space_html(bare, "ru", maps=False)
    assert 'id="not-computed"' in html
    assert html.count(text("note.not_computed", "ru")) >= 3
    assert 'data-table="demand"' in html


def test_demand_project_json_is_the_projection(population: Any) -> None:
    from jer_data import DEMO_DIR

    code, out, _ = jer("demand", "project", "--population", str(DEMO_DIR / "population.csv"),
                       "--horizon", "3", "--method", "compound", "--format", "json")
    assert code == 0
    data = json.loads(out)
    direct = project_population(population, method="compound", horizon=3)
    assert data["method"] == "compound" and data["base_year"] == direct.base_year
    got = {(r["settlement"], r["year"], r["scenario"]): r["population"]
           for r in data["projection"]}
    want: dict[Any, Any] = direct.frame.set_index(
        ["settlement", "year", "scenario"])["population"].to_dict()
    assert len(got) == len(want)
    for key, value in want.items():
        assert got[key] == pytest.approx(value)


def test_demand_balance_and_allocate_match_the_report(demo_gpkg: Path, section: Any) -> None:
    code, out, _ = jer("demand", "balance", "--workspace", str(demo_gpkg), "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert data["scenario"] == "medium" and data["not_computed"] == {}
    got = {(r["settlement"], r["use"], r["year"]): r["balance_ha"] for r in data["balance"]}
    want: dict[Any, Any] = section.demand_balance.set_index(
        ["settlement", "use", "year"])["balance_ha"].to_dict()
    assert len(got) == len(want)
    for key, value in want.items():
        assert got[key] == pytest.approx(value)

    code, out, _ = jer("allocate", "--workspace", str(demo_gpkg), "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert [r["cadastral_no"] for r in data["allocation"]] == list(
        section.allocation["cadastral_no"])
    assert len(data["draft_requests"]) == len(section.draft_requests)
    assert all("holder" not in r for r in data["allocation"])


def test_missing_workspace_is_one_clear_error(tmp_path: Path) -> None:
    code, out, _ = jer("report", "space", "--workspace", str(tmp_path / "nope.gpkg"),
                       "--out", str(tmp_path), "--format", "json")
    assert code == 1
    assert "nope.gpkg" in json.loads(out)["error"]
    assert not list(tmp_path.glob("space-*"))


def test_demand_project_without_population_fails_clearly() -> None:
    code, out, _ = jer("demand", "project", "--format", "json")
    assert code == 1
    assert "--population" in json.loads(out)["error"]


def test_one_command_writes_the_space_section_in_all_three_languages(demo_gpkg, tmp_path):
    from typer.testing import CliRunner

    from web.cli import app

    result = CliRunner().invoke(
        app, ["report", "space", "--workspace", str(demo_gpkg), "--lang", "all",
              "--out", str(tmp_path), "--format", "json"], catch_exceptions=False,
    )
    assert result.exit_code == 0, result.stderr
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["space-en.html", "space-en.xlsx", "space-ky.html", "space-ky.xlsx",
                     "space-ru.html", "space-ru.xlsx"]
    assert "Мейкиндик" in (tmp_path / "space-ky.html").read_text(encoding="utf-8")

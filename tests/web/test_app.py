"""The web app factory, land balance page and API, and the error table."""

from __future__ import annotations

import io

import openpyxl
import pytest
from fastapi.testclient import TestClient

from spatial.errors import ConflictError, NotFoundError, RulebookError, ValidationError
from web.app import create_app
from web.errors import status_for
from web.settings import Settings


@pytest.fixture
def client(demo_gpkg):
    return TestClient(create_app(Settings(workspace=str(demo_gpkg))), raise_server_exceptions=False)


def test_balance_api_json_csv_xlsx(client):
    data = client.get("/api/balance?lang=en").json()
    assert data["official_area_ha"] == pytest.approx(28950)
    csv = client.get("/api/balance?format=csv&lang=ky")
    assert csv.status_code == 200 and "text/csv" in csv.headers["content-type"]
    xlsx = client.get("/api/balance?format=xlsx&lang=ru")
    book = openpyxl.load_workbook(io.BytesIO(xlsx.content))
    assert len(book.sheetnames) >= 5


@pytest.mark.parametrize(("lang", "word"), [("ky", "Жер балансы"), ("ru", "Земельный баланс"),
                                            ("en", "Land balance")])
def test_balance_page_in_three_languages(client, lang, word):
    page = client.get(f"/?lang={lang}")
    assert page.status_code == 200
    assert word in page.text
    assert page.cookies.get("jer_lang") == lang or f"jer_lang={lang}" in page.headers.get(
        "set-cookie", "")


def test_page_never_shows_holders(client, demo_gpkg):
    from spatial.store import open_workspace

    ws = open_workspace(demo_gpkg)
    holders = set(ws.read_layer("parcels", columns=["holder"])["holder"].dropna())
    ws.close()
    page = client.get("/?lang=en").text + client.get("/api/balance").text
    assert holders and not any(h in page for h in holders)


def test_missing_workspace_is_a_clean_error(tmp_path):
    app = create_app(Settings(workspace=str(tmp_path / "none.gpkg")))
    response = TestClient(app, raise_server_exceptions=False).get("/api/balance")
    assert response.status_code == 404
    assert "Traceback" not in response.text and response.json()["error"] == "NotFoundError"


def test_error_table_maps_domain_errors():
    assert status_for(ValidationError([])) == 422
    assert status_for(RulebookError([])) == 422
    assert status_for(ConflictError("stale")) == 409
    assert status_for(NotFoundError("x")) == 404


def test_health(client):
    assert client.get("/api/health").json()["status"] == "ok"


def test_balance_page_titles_are_translated_and_no_nan(client):
    page = client.get("/?lang=ru").text
    assert "Итоги земельного баланса" in page
    assert ">nan<" not in page and ">summary<" not in page


def test_balance_page_shows_hostile_names_as_text(demo_copy):
    from spatial.store import open_workspace

    hostile = '<img src=x onerror="alert(1)">'
    with open_workspace(demo_copy) as ws:
        settlements = ws.read_layer("settlements").drop(columns=["fid"])
        settlements.loc[settlements["name"] == "Samat", "name_en"] = hostile
        ws.import_layer("settlements", settlements, user="test", mode="replace")
    page = TestClient(create_app(Settings(workspace=str(demo_copy)))).get("/?lang=en").text
    assert hostile not in page
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in page

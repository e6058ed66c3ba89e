"""The request pages through a browser session: CSRF on every form, a refused step shown
on the page with the error table's status, escaping of what users typed, languages."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from spatial.store import open_workspace
from web.app import create_app
from web.auth import add_user
from web.settings import Settings

KEY = "4-08-08-0132-0013"
XSS = "<script>alert(1)</script>"


@pytest.fixture
def app(demo_copy):
    ws = open_workspace(demo_copy)
    try:
        add_user(ws, "aibek", role="planner", password="aibek-password")
    finally:
        ws.close()
    return create_app(Settings(workspace=str(demo_copy), base_map="none"))


def signed_in(app) -> tuple[TestClient, str]:
    client = TestClient(app, raise_server_exceptions=False)
    response = client.post("/login", data={"username": "aibek", "password": "aibek-password"})
    assert response.status_code == 200, response.text
    return client, client.cookies["jer_csrf"]


def test_forms_need_the_csrf_token_and_refusals_are_shown(app):
    client, csrf = signed_in(app)
    form = {"cadastral_nos": KEY, "target_category": "settlement",
            "target_use": "individual_housing", "title": XSS, "justification": XSS}
    assert client.post("/requests/new", data=form).status_code == 403
    created = client.post("/requests/new", data={**form, "csrf_token": csrf},
                          follow_redirects=False)
    assert created.status_code == 303
    url = created.headers["location"]
    page = client.get(url)
    assert page.status_code == 200
    assert XSS not in page.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert 'data-action="submit"' in page.text and 'data-action="accept"' not in page.text
    refused = client.post(f"{url}/action", data={"action": "accept", "csrf_token": csrf})
    assert refused.status_code == 409
    assert "cannot accept" in refused.text and 'id="error"' in refused.text
    assert XSS not in client.get("/requests").text
    unknown = client.post("/requests/new", data={"cadastral_nos": "0-00-00-0000-0000",
                                                 "csrf_token": csrf})
    assert unknown.status_code == 404 and "no parcel with cadastral number" in unknown.text


def test_pages_in_three_languages_and_filters(app):
    client, csrf = signed_in(app)
    client.post("/requests/new", data={"cadastral_nos": KEY, "target_category": "settlement",
                                       "csrf_token": csrf})
    texts = {lang: client.get(f"/requests?lang={lang}").text for lang in ("ky", "ru", "en")}
    assert "Жерди трансформациялоо арыздары" in texts["ky"]
    assert "Заявки на трансформацию земель" in texts["ru"]
    assert "Land transformation requests" in texts["en"]
    assert "TR-" in client.get("/requests?status=draft").text
    assert "TR-" not in client.get("/requests?status=registered").text
    assert client.get("/requests?status=bogus").status_code == 400
    public = TestClient(app)
    assert public.get("/requests/new").status_code == 401
    assert "TR-" not in public.get("/requests").text, "drafts are not public"

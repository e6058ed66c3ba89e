"""Sign-in page, sign-out, session revocation, navigation and the language switch."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from spatial.store import open_workspace
from web.app import create_app
from web.auth import CSRF_COOKIE, SESSION_COOKIE, LoginThrottle, add_user
from web.i18n import t
from web.settings import Settings

PASSWORD = "correct horse battery"
HTML = {"Accept": "text/html,application/xhtml+xml"}
NAV_LINKS = ("/", "/map/overview", "/map/zoning", "/map/restrictions", "/map/hazards",
             "/check", "/plan", "/report/space", "/requests")


@pytest.fixture
def site(demo_copy):
    with open_workspace(demo_copy) as ws:
        add_user(ws, "aigul", role="land_specialist", password=PASSWORD)
    app = create_app(Settings(workspace=str(demo_copy), secret_key="test-key"))
    return TestClient(app, raise_server_exceptions=False)


def _form_login(client: TestClient, password: str = PASSWORD, **extra: str):
    return client.post("/login", data={"username": "aigul", "password": password, **extra},
                       headers=HTML, follow_redirects=False)


@pytest.mark.parametrize("lang", ["ky", "ru", "en"])
def test_login_page_has_the_form_in_each_language(site, lang):
    page = site.get(f"/login?lang={lang}&next=/map/zoning")
    assert page.status_code == 200
    assert '<form class="login" method="post" action="/login">' in page.text
    assert 'name="username"' in page.text and 'type="password"' in page.text
    assert '<input type="hidden" name="next" value="/map/zoning">' in page.text
    assert t("pages_login_title", lang) in page.text


def test_login_page_drops_a_next_that_leaves_the_site(site):
    page = site.get("/login?next=//evil.example/")
    assert '<input type="hidden" name="next" value="/">' in page.text


def test_form_sign_in_redirects_to_next_and_sets_the_session(site):
    response = _form_login(site, next="/map/hazards")
    assert response.status_code == 303 and response.headers["location"] == "/map/hazards"
    cookies = " ".join(response.headers.get_list("set-cookie"))
    assert SESSION_COOKIE in cookies and CSRF_COOKIE in cookies
    assert site.get("/api/me").json()["username"] == "aigul"
    # without next the form goes to the start page, never to JSON
    assert _form_login(site).headers["location"] == "/"


def test_wrong_password_from_the_form_shows_the_page_with_a_localised_error(site):
    site.cookies.set("jer_lang", "ru")
    response = _form_login(site, password="wrong password", next="/map/zoning")
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("text/html")
    assert t("pages_login_wrong", "ru") in response.text
    assert 'value="aigul"' in response.text and 'value="/map/zoning"' in response.text
    assert SESSION_COOKIE not in response.headers.get("set-cookie", "")
    # scripts keep the JSON answer
    script = site.post("/login", data={"username": "aigul", "password": "wrong password"})
    assert script.status_code == 401 and script.json()["detail"]


def test_throttled_form_sign_in_says_when_to_try_again(site):
    site.app.state.login_throttle = LoginThrottle(limit=2, window=600)
    for _ in range(2):
        assert _form_login(site, password="guess").status_code == 401
    blocked = _form_login(site)
    assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) > 0
    assert t("pages_login_throttled", "ky", minutes=10) in blocked.text


def test_nav_shows_the_user_and_a_sign_out_form_with_the_csrf_token(site):
    anonymous = site.get("/").text
    assert 'class="sign-in" href="/login?next=/"' in anonymous
    assert "sign-out" not in anonymous
    _form_login(site)
    csrf = site.cookies.get(CSRF_COOKIE)
    for path in ("/", "/map/overview", "/login"):
        page = site.get(path).text
        assert '<span class="user-name">aigul</span>' in page, path
        assert f'name="csrf_token" value="{csrf}"' in page, path


def test_nav_links_every_page(site):
    page = site.get("/map/zoning?lang=en").text
    nav = re.search(r'<nav class="main-nav".*?</nav>', page, re.S)
    assert nav is not None
    hrefs = re.findall(r'href="([^"]+)"', nav.group(0))
    assert tuple(hrefs) == NAV_LINKS
    assert '<a href="/map/zoning" aria-current="page">' in nav.group(0)


def test_sign_out_from_the_form_redirects_home_and_revokes_the_session(site):
    _form_login(site)
    stolen = site.cookies.get(SESSION_COOKIE)
    csrf = site.cookies.get(CSRF_COOKIE)
    out = site.post("/logout", data={"csrf_token": csrf}, headers=HTML, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/"
    assert site.get("/api/me").json()["username"] is None
    # The cookie value copied before signing out no longer opens a session.
    site.cookies.set(SESSION_COOKIE, stolen)
    site.cookies.set(CSRF_COOKIE, csrf)
    assert site.get("/api/me").json()["username"] is None
    # Signing in again works and is a new session.
    site.cookies.clear()
    assert _form_login(site).status_code == 303
    assert site.get("/api/me").json()["username"] == "aigul"


def test_script_sign_out_keeps_204(site):
    csrf = site.post("/login", data={"username": "aigul", "password": PASSWORD}).json()
    out = site.post("/logout", headers={"X-CSRF-Token": csrf["csrf_token"]})
    assert out.status_code == 204


def test_sessions_from_before_the_epoch_column_still_work(demo_copy):
    """Accounts created before session epochs (no column) keep their sessions."""
    with open_workspace(demo_copy) as ws:
        add_user(ws, "aigul", role="land_specialist", password=PASSWORD)
        ws.update_rows("users", {"session_epoch": None}, where={"username": "aigul"})
    client = TestClient(create_app(Settings(workspace=str(demo_copy), secret_key="k")))
    client.post("/login", data={"username": "aigul", "password": PASSWORD})
    assert client.get("/api/me").json()["username"] == "aigul"


def test_language_switch_keeps_the_page_and_sets_the_cookie(site):
    page = site.get("/map/zoning?basemap=none&lang=ky").text
    assert 'href="/lang/ru?next=/map/zoning%3Fbasemap%3Dnone"' in page
    switched = site.get("/lang/ru?next=/map/zoning%3Fbasemap%3Dnone", follow_redirects=False)
    assert switched.status_code == 303
    assert switched.headers["location"] == "/map/zoning?basemap=none"
    assert "jer_lang=ru" in switched.headers["set-cookie"]
    follow = site.get("/map/zoning?basemap=none")
    assert '<html lang="ru">' in follow.text
    assert site.get("/lang/en?next=https://evil.example/",
                    follow_redirects=False).headers["location"] == "/"
    assert site.get("/lang/de").status_code == 422

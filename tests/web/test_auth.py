"""Accounts, sessions, CSRF, bearer tokens, HTTP Basic and the ``jer user`` commands."""

from __future__ import annotations

import base64
import time

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from spatial.errors import ConflictError, InputError, NotFoundError
from spatial.store import open_workspace
from tests.spatial.conftest import municipality, store_url  # noqa: F401 - fixture
from tests.web.test_parcels_api import first_parcel
from web.app import create_app
from web.auth import (
    CSRF_COOKIE,
    ROLE_PERMISSIONS,
    ROLES,
    SESSION_COOKIE,
    SESSION_MAX_AGE,
    LoginThrottle,
    add_user,
    authenticate_password,
    authenticate_token,
    create_token,
    list_users,
    read_session,
    remove_user,
    require,
    revoke_tokens,
    sign_session,
    update_user,
)
from web.settings import Settings

PASSWORD = "correct horse battery"


@pytest.fixture
def site(demo_copy):
    ws = open_workspace(demo_copy)
    try:
        add_user(ws, "aigul", role="land_specialist", password=PASSWORD)
        add_user(ws, "bakyt", role="planner", password=PASSWORD)
    finally:
        ws.close()
    app = create_app(Settings(workspace=str(demo_copy), secret_key="test-key"))
    return TestClient(app, raise_server_exceptions=False), demo_copy


def login(client: TestClient, username: str = "aigul", password: str = PASSWORD) -> str:
    response = client.post("/login", data={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return str(response.json()["csrf_token"])


def edit(client: TestClient, path, headers: dict[str, str] | None = None, **kw):
    parcel = first_parcel(path)
    return client.put(
        f"/api/parcels/{parcel['cadastral_no']}",
        json={"properties": {"designated_use": "commerce"}},
        headers={"If-Match": f'"{parcel["row_version"]}"', **(headers or {})}, **kw,
    )


def test_login_sets_signed_httponly_lax_cookie_and_logout_ends_it(site):
    client, _ = site
    assert client.get("/api/me").json()["role"] == "public"
    response = client.post("/login", data={"username": "aigul", "password": PASSWORD})
    assert response.status_code == 200
    cookies = response.headers.get_list("set-cookie")
    session = next(c for c in cookies if c.startswith(f"{SESSION_COOKIE}="))
    assert "HttpOnly" in session and "samesite=lax" in session.lower()
    csrf = next(c for c in cookies if c.startswith(f"{CSRF_COOKIE}="))
    assert "HttpOnly" not in csrf
    me = client.get("/api/me").json()
    assert me["username"] == "aigul" and "edit_inventory" in me["permissions"]
    assert client.post("/logout").status_code == 403  # logout is a write: CSRF needed
    out = client.post("/logout", headers={"X-CSRF-Token": response.json()["csrf_token"]})
    assert out.status_code == 204
    assert client.get("/api/me").json()["username"] is None


def test_login_redirects_only_to_local_paths(site):
    client, _ = site
    local = client.post("/login", data={"username": "aigul", "password": PASSWORD,
                                        "next": "/?lang=en"}, follow_redirects=False)
    assert local.status_code == 303 and local.headers["location"] == "/?lang=en"
    away = client.post("/login", data={"username": "aigul", "password": PASSWORD,
                                       "next": "//evil.example/"}, follow_redirects=False)
    assert away.status_code == 200


def test_wrong_password_and_unknown_user_are_401(site):
    client, _ = site
    for username, password in (("aigul", "wrong password"), ("nobody", PASSWORD)):
        response = client.post("/login", data={"username": username, "password": password})
        assert response.status_code == 401
        assert SESSION_COOKIE not in response.headers.get("set-cookie", "")


def test_cookie_writes_need_the_csrf_token(site):
    client, path = site
    csrf = login(client)
    assert edit(client, path).status_code == 403
    assert edit(client, path, {"X-CSRF-Token": "forged"}).status_code == 403
    ok = edit(client, path, {"X-CSRF-Token": csrf})
    assert ok.status_code == 200, ok.text
    assert ok.json()["properties"]["updated_by"] == "aigul"


def test_csrf_token_also_accepted_as_form_field(site):
    client, _ = site
    csrf = login(client)
    assert client.post("/logout", data={"csrf_token": "forged"}).status_code == 403
    assert client.post("/logout", data={"csrf_token": csrf}).status_code == 204


def test_forged_or_expired_session_cookie_is_anonymous(site):
    client, path = site
    forged = sign_session({"u": "aigul", "csrf": "x", "iat": int(time.time())}, b"other key")
    client.cookies.set(SESSION_COOKIE, forged)
    assert client.get("/api/me").json()["username"] is None
    old = sign_session({"u": "aigul", "csrf": "x", "iat": 1}, b"test-key")
    assert read_session(old, b"test-key") is None
    fresh = sign_session({"u": "aigul", "csrf": "x", "iat": int(time.time())}, b"test-key")
    payload = read_session(fresh, b"test-key")
    assert payload is not None and payload["u"] == "aigul"
    assert read_session(fresh, b"test-key", now=time.time() + SESSION_MAX_AGE + 1) is None
    client.cookies.set(SESSION_COOKIE, fresh)
    assert client.get("/api/me").json()["username"] is None  # no password stamp
    ws = open_workspace(path)
    user = authenticate_password(ws, "aigul", PASSWORD)
    ws.close()
    assert user is not None
    stamped = sign_session({"u": "aigul", "s": user.stamp, "csrf": "x",
                            "iat": int(time.time())}, b"test-key")
    client.cookies.set(SESSION_COOKIE, stamped)
    assert client.get("/api/me").json()["username"] == "aigul"


def test_removed_user_loses_session_and_tokens(site):
    client, path = site
    login(client)
    ws = open_workspace(path)
    token = create_token(ws, "aigul")
    remove_user(ws, "aigul")
    ws.close()
    assert client.get("/api/me").json()["username"] is None
    other = TestClient(client.app, raise_server_exceptions=False)
    assert other.get("/api/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_bearer_token_needs_no_csrf(site):
    client, path = site
    ws = open_workspace(path)
    token = create_token(ws, "aigul")
    ws.close()
    assert token.startswith("jer_")
    me = client.get("/api/me", headers={"Authorization": f"Bearer {token}"}).json()
    assert me["username"] == "aigul"
    ok = edit(client, path, {"Authorization": f"Bearer {token}"})
    assert ok.status_code == 200, ok.text
    bad = client.get("/api/me", headers={"Authorization": "Bearer jer_not-a-token"})
    assert bad.status_code == 401 and "Bearer" in bad.headers["www-authenticate"]
    ws = open_workspace(path)
    stored = ws.select_rows("api_tokens")
    ws.close()
    assert token not in str(stored)


def test_http_basic_works_and_wrong_password_is_401(site):
    client, path = site

    def basic(user: str, password: str) -> dict[str, str]:
        raw = base64.b64encode(f"{user}:{password}".encode()).decode()
        return {"Authorization": f"Basic {raw}"}

    assert client.get("/api/me", headers=basic("bakyt", PASSWORD)).json()["role"] == "planner"
    assert client.get("/api/me", headers=basic("bakyt", "nope")).status_code == 401
    assert client.get("/api/me", headers={"Authorization": "Basic !!"}).status_code == 401
    assert edit(client, path, basic("aigul", PASSWORD)).status_code == 200
    assert edit(client, path, basic("bakyt", PASSWORD)).status_code == 403
    challenge = client.get("/api/me", headers=basic("bakyt", "nope"))
    assert "Basic" not in challenge.headers["www-authenticate"]  # browsers must not prompt
    cross = {**basic("aigul", PASSWORD), "Origin": "https://evil.example"}
    assert edit(client, path, cross).status_code == 403
    fetch = {**basic("aigul", PASSWORD), "Sec-Fetch-Site": "cross-site"}
    assert edit(client, path, fetch).status_code == 403
    same = {**basic("aigul", PASSWORD), "Origin": "http://testserver"}
    assert edit(client, path, same).status_code == 200
    ws = open_workspace(path)
    add_user(ws, "айгүл", role="planner", password="Жер-сыр-сөз-1")
    ws.close()
    cyrillic = client.get("/api/me", headers=basic("айгүл", "Жер-сыр-сөз-1"))
    assert cyrillic.status_code == 200 and cyrillic.json()["username"] == "айгүл"


def test_accounts_store_hashes_and_refuse_bad_input(demo_copy):
    ws = open_workspace(demo_copy)
    try:
        assert list_users(ws) == []
        add_user(ws, "cholpon", role="admin", password=PASSWORD)
        with pytest.raises(ConflictError):
            add_user(ws, "cholpon", role="admin", password=PASSWORD)
        with pytest.raises(InputError, match="unknown role"):
            add_user(ws, "dinara", role="king", password=PASSWORD)
        with pytest.raises(InputError, match="8 characters"):
            add_user(ws, "dinara", role="admin", password="short")
        with pytest.raises(InputError, match="user name"):
            add_user(ws, "a:b", role="admin", password=PASSWORD)
        rows = ws.select_rows("users")
        assert PASSWORD not in str(rows) and rows[0]["password_hash"].startswith("$argon2")
        assert [u["username"] for u in list_users(ws)] == ["cholpon"]
        assert "password_hash" not in list_users(ws)[0]
        assert authenticate_password(ws, "cholpon", PASSWORD) is not None
        with pytest.raises(NotFoundError):
            remove_user(ws, "nobody")
        with pytest.raises(NotFoundError):
            create_token(ws, "nobody")
    finally:
        ws.close()


def test_permission_table_is_data_over_known_roles():
    assert set(ROLE_PERMISSIONS) == set(ROLES)
    assert ROLE_PERMISSIONS["public"] == frozenset()
    assert "read_personal" not in ROLE_PERMISSIONS["planner"]
    assert "read_personal" not in ROLE_PERMISSIONS["working_group"]
    with pytest.raises(ValueError, match="unknown permission"):
        require("fly")


def test_cli_user_add_list_token_remove(demo_copy):
    import web.cli_users  # noqa: F401 - registers ``jer user``
    from web.cli import app

    runner = CliRunner()
    ws = str(demo_copy)
    added = runner.invoke(app, ["user", "add", "erkin", "--role", "planner",
                                "--password-stdin", "-w", ws], input=f"{PASSWORD}\n")
    assert added.exit_code == 0, added.output
    prompted = runner.invoke(app, ["user", "add", "farida", "--role", "admin", "-w", ws],
                             input=f"{PASSWORD}\n{PASSWORD}\n")
    assert prompted.exit_code == 0, prompted.output
    assert PASSWORD not in prompted.output
    listed = runner.invoke(app, ["user", "list", "-w", ws, "--format", "json"])
    assert '"erkin"' in listed.output and '"farida"' in listed.output
    assert "argon2" not in listed.output
    bad = runner.invoke(app, ["user", "add", "g", "--role", "king", "--password-stdin",
                              "-w", ws], input=f"{PASSWORD}\n")
    assert bad.exit_code == 1
    token = runner.invoke(app, ["user", "token", "erkin", "-w", ws, "--format", "json"])
    assert token.exit_code == 0 and '"jer_' in token.output
    removed = runner.invoke(app, ["user", "remove", "erkin", "-w", ws])
    assert removed.exit_code == 0
    again = runner.invoke(app, ["user", "remove", "erkin", "-w", ws])
    assert again.exit_code == 1
    workspace = open_workspace(demo_copy)
    assert [u["username"] for u in list_users(workspace)] == ["farida"]
    workspace.close()


def test_new_password_ends_sessions_and_blocking_ends_everything(site):
    client, path = site
    login(client)
    ws = open_workspace(path)
    token = create_token(ws, "aigul")
    update_user(ws, "aigul", password="another good password")
    ws.close()
    assert client.get("/api/me").json()["username"] is None  # old session ended
    assert client.get("/api/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert client.post("/login", data={"username": "aigul",
                                       "password": PASSWORD}).status_code == 401
    login(client, password="another good password")
    ws = open_workspace(path)
    changed = update_user(ws, "aigul", active=False, role="planner")
    ws.close()
    assert changed["active"] is False and changed["role"] == "planner"
    assert client.get("/api/me").json()["username"] is None
    assert client.get("/api/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert client.post("/login", data={"username": "aigul",
                                       "password": "another good password"}).status_code == 401
    ws = open_workspace(path)
    try:
        update_user(ws, "aigul", active=True)
        assert revoke_tokens(ws, "aigul") == 1
        with pytest.raises(NotFoundError):
            update_user(ws, "nobody", active=True)
        with pytest.raises(InputError, match="nothing to change"):
            update_user(ws, "aigul")
    finally:
        ws.close()
    assert client.get("/api/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    me = TestClient(client.app).get("/api/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 401


def test_cli_user_set_and_revoke_tokens(demo_copy):
    import web.cli_users  # noqa: F401 - registers ``jer user``
    from web.cli import app

    runner = CliRunner()
    ws = str(demo_copy)
    runner.invoke(app, ["user", "add", "gulnara", "--role", "planner", "--password-stdin",
                        "-w", ws], input=f"{PASSWORD}\n")
    runner.invoke(app, ["user", "token", "gulnara", "-w", ws])
    changed = runner.invoke(app, ["user", "set", "gulnara", "--role", "working_group",
                                  "--inactive", "-w", ws, "--format", "json"])
    assert changed.exit_code == 0, changed.output
    assert '"working_group"' in changed.output and '"active": false' in changed.output
    renewed = runner.invoke(app, ["user", "set", "gulnara", "--password-stdin", "-w", ws],
                            input="a brand new password\n")
    assert renewed.exit_code == 0, renewed.output
    revoked = runner.invoke(app, ["user", "revoke-tokens", "gulnara", "-w", ws,
                                  "--format", "json"])
    assert '"revoked": 1' in revoked.output
    nothing = runner.invoke(app, ["user", "set", "gulnara", "-w", ws])
    assert nothing.exit_code == 1
    workspace = open_workspace(demo_copy)
    try:
        assert authenticate_password(workspace, "gulnara", "a brand new password") is None
        update_user(workspace, "gulnara", active=True)
        assert authenticate_password(workspace, "gulnara", "a brand new password") is not None
    finally:
        workspace.close()


def test_accounts_on_each_backend(store_url):  # noqa: F811 - the imported fixture
    from spatial.store import create_workspace

    workspace = create_workspace(store_url, municipality(), user="creator")
    try:
        add_user(workspace, "nurlan", role="working_group", password=PASSWORD)
        user = authenticate_password(workspace, "nurlan", PASSWORD)
        assert user is not None and user.role == "working_group"
        assert authenticate_password(workspace, "nurlan", "wrong password") is None
        token = create_token(workspace, "nurlan")
        found = authenticate_token(workspace, token)
        assert found is not None and found.username == "nurlan" and found.via == "bearer"
        update_user(workspace, "nurlan", role="planner")
        assert [(u["username"], u["role"], u["active"]) for u in list_users(workspace)] == [
            ("nurlan", "planner", True)]
        remove_user(workspace, "nurlan")
        assert authenticate_token(workspace, token) is None
        assert list_users(workspace) == []
    finally:
        workspace.close()
    client = TestClient(create_app(Settings(workspace=store_url)),
                        raise_server_exceptions=False)
    assert client.get("/api/me").json()["role"] == "public"


def test_password_guessing_is_throttled_per_address_and_account(site):
    client, _ = site
    client.app.state.login_throttle = LoginThrottle(limit=3, window=600)
    for _ in range(3):
        assert client.post("/login", data={"username": "aigul",
                                           "password": "guess"}).status_code == 401
    blocked = client.post("/login", data={"username": "aigul", "password": PASSWORD})
    assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) > 0
    raw = base64.b64encode(f"aigul:{PASSWORD}".encode()).decode()
    assert client.get("/api/me", headers={"Authorization": f"Basic {raw}"}).status_code == 429
    assert client.post("/login", data={"username": "bakyt",
                                       "password": PASSWORD}).status_code == 200


def test_throttle_forgets_after_the_window_and_on_success():
    throttle = LoginThrottle(limit=2, window=60)
    throttle.failed("10.0.0.1", "Aigul", now=0)
    throttle.failed("10.0.0.1", "aigul", now=10)
    assert throttle.retry_after("10.0.0.1", "aigul", now=20) == 41
    assert throttle.retry_after("10.0.0.2", "aigul", now=20) == 0
    assert throttle.retry_after("10.0.0.1", "aigul", now=61) == 0
    throttle.failed("10.0.0.1", "aigul", now=100)
    throttle.succeeded("10.0.0.1", "aigul")
    throttle.failed("10.0.0.1", "aigul", now=101)
    assert throttle.retry_after("10.0.0.1", "aigul", now=102) == 0

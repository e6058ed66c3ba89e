"""Accounts, roles and authentication of the web app.

Accounts live in the workspace itself (plain tables ``users`` and ``api_tokens``), so a
GeoPackage copied to another office carries its accounts and a PostGIS server shares
them between offices. Three ways in, one account:

- a browser session: a signed, HttpOnly, SameSite=Lax cookie set by ``POST /login``;
  every write made with it must carry the session's CSRF token (``X-CSRF-Token`` header
  or ``csrf_token`` form field), because a cookie is sent by any page that posts here;
- ``Authorization: Bearer <token>`` for scripts (``jer user token``); only a SHA-256 of
  the token is stored, the token itself is shown once;
- ``Authorization: Basic`` over the same accounts, for desktop GIS (QGIS); a write with
  Basic credentials that a browser marks as cross-site is refused, since browsers
  replay remembered Basic credentials on any site's requests.

Nobody signed in is the ``public`` role. What a role may do is data:
:data:`ROLE_PERMISSIONS`; routers ask :func:`require` for a permission, never for a role.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, get_args
from urllib.parse import urlsplit

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import Depends, HTTPException, Request, Security
from fastapi.concurrency import run_in_threadpool
from fastapi.security import APIKeyCookie, HTTPBasic, HTTPBearer

from spatial.errors import ConflictError, InputError, NotFoundError
from spatial.store import Workspace

from .deps import SettingsDep, WorkspaceDep
from .settings import Settings

Role = Literal["admin", "land_specialist", "planner", "working_group", "public"]
Permission = Literal[
    "read_personal", "edit_inventory", "run_checks", "run_forecasts", "admin",
    # Land transformation requests (spatial.requests, docs/requests.md): who reads them,
    # files them, checks their documents, records council and agency decisions,
    # moderates public comments and registers the change in the inventory.
    "read_requests", "create_requests", "review_requests", "decide_requests",
    "moderate_comments", "register_requests",
]
ROLES: tuple[str, ...] = get_args(Role)
PERMISSIONS: tuple[str, ...] = get_args(Permission)

#: What each role may do. Reading the public inventory needs no permission.
ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    "admin": frozenset(PERMISSIONS),
    "land_specialist": frozenset({
        "read_personal", "edit_inventory", "run_checks", "read_requests", "create_requests",
        "review_requests", "decide_requests", "moderate_comments", "register_requests",
    }),
    "planner": frozenset({"run_checks", "run_forecasts", "read_requests", "create_requests"}),
    "working_group": frozenset({
        "run_checks", "run_forecasts", "read_requests", "moderate_comments",
    }),
    "public": frozenset(),
}

USERS_TABLE = "users"
TOKENS_TABLE = "api_tokens"
USER_COLUMNS = {
    "username": "text", "password_hash": "text", "role": "text", "active": "boolean",
    "created_at": "timestamp", "session_epoch": "integer",
}
TOKEN_COLUMNS = {"username": "text", "token_hash": "text", "created_at": "timestamp"}

SESSION_COOKIE = "jer_session"
CSRF_COOKIE = "jer_csrf"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
#: A browser session lasts a working week.
SESSION_MAX_AGE = 7 * 24 * 3600
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
TOKEN_PREFIX = "jer_"

_hasher = PasswordHasher()
#: Verified against when the user does not exist, so timing does not reveal names.
_DUMMY_HASH = _hasher.hash("not a password of anyone")


@dataclass(frozen=True)
class User:
    """The acting account; ``username`` is ``None`` for anonymous visitors."""

    username: str | None
    role: str
    via: Literal["anonymous", "session", "bearer", "basic"] = "anonymous"
    #: Fingerprint of the password hash, put in session cookies so that a password
    #: change (or removing and re-adding the name) ends the sessions opened before.
    stamp: str = field(default="", repr=False, compare=False)

    @property
    def permissions(self) -> frozenset[str]:
        return ROLE_PERMISSIONS.get(self.role, frozenset())

    def can(self, permission: str) -> bool:
        """Whether this account holds ``permission``."""
        return permission in self.permissions

    @property
    def name(self) -> str:
        """Name recorded in the edit history."""
        return self.username or "anonymous"


ANONYMOUS = User(username=None, role="public")


# --------------------------------------------------------------------------- accounts


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise InputError(f"unknown role {role!r}; roles are {', '.join(ROLES)}")


def _check_username(username: str) -> str:
    name = username.strip()
    if not name or len(name) > 64 or any(c in name for c in ":\r\n\t ") or not name.isprintable():
        raise InputError(
            f"user name {username!r} must be 1-64 printable characters without spaces or ':'"
        )
    return name


def _check_password(password: str) -> None:
    if len(password) < 8:
        raise InputError("the password must have at least 8 characters")


def _rows(workspace: Workspace, table: str, where: dict[str, object]) -> list[dict[str, Any]]:
    """Rows of an account table; none when the table was never created."""
    try:
        return workspace.select_rows(table, where=where)
    except NotFoundError:
        return []


def add_user(workspace: Workspace, username: str, *, role: str, password: str) -> dict[str, Any]:
    """Create an account; the password is stored only as an argon2 hash."""
    name = _check_username(username)
    _check_role(role)
    _check_password(password)
    with workspace.transaction():
        workspace.ensure_table(USERS_TABLE, USER_COLUMNS)
        if _rows(workspace, USERS_TABLE, {"username": name}):
            raise ConflictError(f"user {name!r} already exists")
        workspace.insert_row(USERS_TABLE, {
            "username": name, "password_hash": _hasher.hash(password), "role": role,
            "active": True, "created_at": datetime.now(UTC),
        })
    return {"username": name, "role": role, "active": True}


def list_users(workspace: Workspace) -> list[dict[str, Any]]:
    """Accounts without their password hashes, in creation order."""
    return [
        {k: v for k, v in row.items() if k != "password_hash"}
        for row in _rows(workspace, USERS_TABLE, {})
    ]


def remove_user(workspace: Workspace, username: str) -> None:
    """Delete an account and its API tokens; open sessions end on their next request."""
    with workspace.transaction():
        if not _rows(workspace, USERS_TABLE, {"username": username}):
            raise NotFoundError(f"no user {username!r}")
        workspace.delete_rows(USERS_TABLE, where={"username": username})
        if _table_exists(workspace, TOKENS_TABLE):
            workspace.delete_rows(TOKENS_TABLE, where={"username": username})


def update_user(workspace: Workspace, username: str, *, role: str | None = None,
                active: bool | None = None, password: str | None = None) -> dict[str, Any]:
    """Change an account's role, active flag or password.

    Deactivating ends its sessions and tokens at once; a new password ends its sessions.
    """
    values: dict[str, object] = {}
    if role is not None:
        _check_role(role)
        values["role"] = role
    if active is not None:
        values["active"] = bool(active)
    if password is not None:
        _check_password(password)
        values["password_hash"] = _hasher.hash(password)
    if not values:
        raise InputError("nothing to change: give a role, the active flag or a password")
    if not _rows(workspace, USERS_TABLE, {"username": username}):
        raise NotFoundError(f"no user {username!r}")
    workspace.update_rows(USERS_TABLE, values, where={"username": username})
    return next(u for u in list_users(workspace) if u["username"] == username)


def revoke_tokens(workspace: Workspace, username: str) -> int:
    """Delete every API token of ``username``; returns how many there were."""
    if not _table_exists(workspace, TOKENS_TABLE):
        return 0
    return workspace.delete_rows(TOKENS_TABLE, where={"username": username})


def _table_exists(workspace: Workspace, table: str) -> bool:
    try:
        workspace.select_rows(table, limit=1)
    except NotFoundError:
        return False
    return True


def _token_hash(token: str) -> str:
    # Tokens carry 256 random bits, so a fast hash is enough and allows lookup by hash.
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(workspace: Workspace, username: str) -> str:
    """A new API token for ``username``; only its hash is stored, so show it once."""
    if not _rows(workspace, USERS_TABLE, {"username": username}):
        raise NotFoundError(f"no user {username!r}")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with workspace.transaction():
        workspace.ensure_table(TOKENS_TABLE, TOKEN_COLUMNS)
        workspace.insert_row(TOKENS_TABLE, {
            "username": username, "token_hash": _token_hash(token),
            "created_at": datetime.now(UTC),
        })
    return token


def _stamp(password_hash: str, epoch: Any = None) -> str:
    """What a session cookie must still match: the password hash and the session epoch.

    Epoch 0 (or an account from before epochs existed) keeps the plain fingerprint, so
    sessions opened before an upgrade stay valid.
    """
    text = password_hash if not epoch else f"{password_hash}\n{int(epoch)}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def end_sessions(workspace: Workspace, username: str) -> None:
    """End every browser session of ``username`` (signing out ends them on all devices).

    Sessions are signed cookies the server does not list; bumping the account's session
    epoch changes the stamp they must carry, so each is refused on its next request.
    """
    with workspace.transaction():
        workspace.ensure_table(USERS_TABLE, USER_COLUMNS)  # adds the column to old tables
        rows = _rows(workspace, USERS_TABLE, {"username": username})
        if rows:
            epoch = int(rows[0].get("session_epoch") or 0) + 1
            workspace.update_rows(USERS_TABLE, {"session_epoch": epoch},
                                  where={"username": username})


def _active_user(workspace: Workspace, username: str, via: Any,
                 stamp: str | None = None) -> User | None:
    """The account if it exists, is active and (for sessions) ``stamp`` still matches."""
    rows = _rows(workspace, USERS_TABLE, {"username": username})
    if not rows or not rows[0]["active"]:
        return None
    current = _stamp(str(rows[0]["password_hash"]), rows[0].get("session_epoch"))
    if stamp is not None and not hmac.compare_digest(stamp, current):
        return None
    return User(username=username, role=str(rows[0]["role"]), via=via, stamp=current)


def authenticate_password(workspace: Workspace, username: str, password: str,
                          *, via: Literal["session", "basic"] = "basic") -> User | None:
    """The account if ``password`` is right and the account active, else ``None``."""
    rows = _rows(workspace, USERS_TABLE, {"username": username})
    stored = str(rows[0]["password_hash"]) if rows else _DUMMY_HASH
    try:
        _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return None
    if not rows or not rows[0]["active"]:
        return None
    return User(username=username, role=str(rows[0]["role"]), via=via,
                stamp=_stamp(stored, rows[0].get("session_epoch")))


def authenticate_token(workspace: Workspace, token: str) -> User | None:
    """The account owning API token ``token``, else ``None``."""
    rows = _rows(workspace, TOKENS_TABLE, {"token_hash": _token_hash(token)})
    if not rows:
        return None
    return _active_user(workspace, str(rows[0]["username"]), "bearer")


# --------------------------------------------------------------------------- sessions


def signing_key(settings: Settings) -> bytes:
    """The key signing session cookies: ``JER_SECRET_KEY``, else one per process."""
    if settings.secret_key:
        return settings.secret_key.encode()
    return _PROCESS_KEY


_PROCESS_KEY = secrets.token_bytes(32)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign_session(payload: dict[str, Any], key: bytes) -> str:
    """``payload`` as cookie text with an HMAC-SHA256 signature."""
    body = _b64(json.dumps(payload, separators=(",", ":")).encode())
    mac = _b64(hmac.new(key, body.encode(), hashlib.sha256).digest())
    return f"{body}.{mac}"


def read_session(cookie: str | None, key: bytes, *, now: float | None = None
                 ) -> dict[str, Any] | None:
    """The payload of a signed session cookie, or ``None`` if forged, broken or expired."""
    if not cookie or "." not in cookie:
        return None
    body, _, mac = cookie.rpartition(".")
    expected = _b64(hmac.new(key, body.encode(), hashlib.sha256).digest())
    if not hmac.compare_digest(mac, expected):
        return None
    try:
        payload = json.loads(_unb64(body))
    except (ValueError, binascii.Error):
        return None
    if not isinstance(payload, dict) or not isinstance(payload.get("u"), str):
        return None
    issued = payload.get("iat")
    moment = time.time() if now is None else now
    if not isinstance(issued, int | float) or moment - issued > SESSION_MAX_AGE:
        return None
    return payload


def new_session(user: User, key: bytes) -> tuple[str, str]:
    """A session cookie for a signed-in ``user`` and its CSRF token."""
    if user.username is None:
        raise ValueError("anonymous visitors have no session")
    csrf = secrets.token_urlsafe(32)
    payload = {"u": user.username, "s": user.stamp, "csrf": csrf, "iat": int(time.time())}
    return sign_session(payload, key), csrf


# --------------------------------------------------------------------------- guessing


class LoginThrottle:
    """Slows password guessing: after ``limit`` failures of one address on one account
    within ``window`` seconds, further attempts are refused (429) until the window passes.

    Keyed on address *and* account so that nobody can lock a colleague out from
    elsewhere. Kept in memory: one process serves one municipality.
    """

    def __init__(self, *, limit: int = 10, window: float = 900.0) -> None:
        self.limit = limit
        self.window = window
        self._failures: dict[tuple[str, str], list[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: tuple[str, str], now: float) -> list[float]:
        kept = [t for t in self._failures.get(key, []) if now - t < self.window]
        if kept:
            self._failures[key] = kept
        else:
            self._failures.pop(key, None)
        return kept

    def retry_after(self, address: str, username: str, *, now: float | None = None) -> int:
        """Seconds until ``address`` may try ``username`` again; 0 when it may now."""
        moment = time.time() if now is None else now
        with self._lock:
            recent = self._recent((address, username.lower()), moment)
            if len(recent) < self.limit:
                return 0
            return max(1, int(recent[0] + self.window - moment) + 1)

    def failed(self, address: str, username: str, *, now: float | None = None) -> None:
        moment = time.time() if now is None else now
        with self._lock:
            key = (address, username.lower())
            self._failures[key] = [*self._recent(key, moment), moment]

    def succeeded(self, address: str, username: str) -> None:
        with self._lock:
            self._failures.pop((address, username.lower()), None)


def _throttle(request: Request) -> LoginThrottle:
    state = request.app.state
    if not hasattr(state, "login_throttle"):
        state.login_throttle = LoginThrottle()
    throttle: LoginThrottle = state.login_throttle
    return throttle


async def check_password(request: Request, workspace: Workspace, username: str, password: str,
                         *, via: Literal["session", "basic"]) -> User | None:
    """:func:`authenticate_password` behind the per-address guessing limit (429 when hit)."""
    throttle = _throttle(request)
    address = request.client.host if request.client else "unknown"
    wait = throttle.retry_after(address, username)
    if wait:
        raise HTTPException(429, detail="too many failed sign-ins; try again later",
                            headers={"Retry-After": str(wait)})
    user = await run_in_threadpool(authenticate_password, workspace, username, password,
                                   via=via)
    if user is None:
        throttle.failed(address, username)
    else:
        throttle.succeeded(address, username)
    return user


# --------------------------------------------------------------------------- dependencies


def _unauthorized(message: str) -> HTTPException:
    # A Bearer challenge only: a Basic challenge would make browsers prompt and then
    # attach the cached credentials to any site's requests here (CSRF). QGIS and
    # scripts send Basic credentials without being challenged.
    return HTTPException(401, detail=message, headers={"WWW-Authenticate": 'Bearer realm="jer"'})


def _cross_site(request: Request) -> bool:
    """Whether a browser says the request comes from another site."""
    if request.headers.get("sec-fetch-site") in ("cross-site", "same-site"):
        return True
    origin = request.headers.get("origin")
    if not origin or origin == "null":
        return origin == "null"
    return urlsplit(origin).netloc != request.headers.get("host", request.url.netloc)


def _basic_credentials(value: str) -> tuple[str, str]:
    try:
        text = base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise _unauthorized("malformed Basic credentials") from exc
    username, sep, password = text.partition(":")
    if not sep:
        raise _unauthorized("malformed Basic credentials")
    return username, password


async def _csrf_token_sent(request: Request) -> str | None:
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        value = (await request.form()).get(CSRF_FIELD)
        return value if isinstance(value, str) else None
    return None


class _DocumentedBasic(HTTPBasic):
    """Announces HTTP Basic in the OpenAPI document; :func:`current_user` parses it.

    FastAPI's own parser decodes credentials as ASCII, which would refuse Kyrgyz and
    Russian passwords, and answers bad ones with a Basic challenge browsers act on.
    """

    async def __call__(self, request: Request) -> None:  # type: ignore[override]
        return None


#: Security schemes, listed so the OpenAPI document (and its "Authorize" form) shows them.
_BEARER_DOC = HTTPBearer(auto_error=False, scheme_name="bearer",
                         description="API token from `jer user token`")
_BASIC_DOC = _DocumentedBasic(auto_error=False, scheme_name="basic",
                              description="User name and password (QGIS)")
_COOKIE_DOC = APIKeyCookie(name=SESSION_COOKIE, auto_error=False, scheme_name="session",
                           description="Browser session from POST /login; writes need "
                                       f"the {CSRF_HEADER} header")


async def current_user(
    request: Request, workspace: WorkspaceDep, settings: SettingsDep,
    _bearer: Annotated[Any, Security(_BEARER_DOC)] = None,
    _basic: Annotated[Any, Security(_BASIC_DOC)] = None,
    _cookie: Annotated[Any, Security(_COOKIE_DOC)] = None,
) -> User:
    """The acting account: from the Authorization header, else the session cookie.

    Wrong credentials in a header are refused (401) rather than treated as anonymous,
    so a script with a revoked token fails loudly. A cookie-authenticated write without
    the session's CSRF token is refused (403).
    """
    authorization = request.headers.get("authorization")
    if authorization:
        scheme, _, credentials = authorization.partition(" ")
        credentials = credentials.strip()
        user: User | None
        if scheme.lower() == "bearer":
            user = await run_in_threadpool(authenticate_token, workspace, credentials)
        elif scheme.lower() == "basic":
            if request.method not in SAFE_METHODS and _cross_site(request):
                # Browsers may attach remembered Basic credentials to another site's form.
                raise HTTPException(403, detail="cross-site write with Basic credentials")
            username, password = _basic_credentials(credentials)
            user = await check_password(request, workspace, username, password, via="basic")
        else:
            raise _unauthorized(f"unsupported authorization scheme {scheme!r}")
        if user is None:
            raise _unauthorized("wrong credentials")
        request.state.user = user
        return user
    session = read_session(request.cookies.get(SESSION_COOKIE), signing_key(settings))
    if session is None:
        request.state.user = ANONYMOUS
        return ANONYMOUS
    if request.method not in SAFE_METHODS:
        sent = await _csrf_token_sent(request)
        if not sent or not hmac.compare_digest(sent, str(session.get("csrf", ""))):
            raise HTTPException(403, detail=f"missing or wrong CSRF token ({CSRF_HEADER})")
    found = await run_in_threadpool(
        _active_user, workspace, session["u"], "session", str(session.get("s", ""))
    )
    # Pages read it for the navigation (who is signed in) without asking again.
    request.state.user = found or ANONYMOUS
    return found or ANONYMOUS


CurrentUser = Annotated[User, Depends(current_user)]


def require(permission: str) -> Callable[..., Awaitable[User]]:
    """A dependency admitting only accounts holding ``permission`` (401 anonymous, 403 other)."""
    if permission not in PERMISSIONS:
        raise ValueError(f"unknown permission {permission!r}")

    async def dependency(user: CurrentUser) -> User:
        if user.can(permission):
            return user
        if user.username is None:
            raise _unauthorized(f"sign in to {permission.replace('_', ' ')}")
        action = permission.replace("_", " ")
        raise HTTPException(403, detail=f"role {user.role!r} may not {action}")

    return dependency

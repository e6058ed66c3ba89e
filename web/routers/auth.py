"""Signing in and out of a browser session, and who the caller is.

The same ``POST /login`` and ``POST /logout`` serve the sign-in page and scripts: a
request from a browser form (it accepts ``text/html``) gets pages and redirects, a
script gets JSON and status codes.
"""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel

from spatial.schema import LANGS

from ..app import TEMPLATES
from ..auth import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    SESSION_MAX_AGE,
    CurrentUser,
    check_password,
    end_sessions,
    new_session,
    signing_key,
)
from ..deps import LangDep, SettingsDep, WorkspaceDep
from ..i18n import t

router = APIRouter(tags=["auth"])


class Me(BaseModel):
    """The caller as the server sees it."""

    username: str | None
    role: str
    permissions: list[str]
    csrf_token: str | None = None


def _safe_next(target: str | None) -> str | None:
    """A local path to go to after signing in; anything else could redirect off-site."""
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return None


def _from_browser(request: Request) -> bool:
    """Whether a browser form sent the request (it wants a page back, not JSON)."""
    return "text/html" in request.headers.get("accept", "")


def _login_page(request: Request, lang: str, *, status_code: int = 200, error: str | None = None,
                next: str | None = None, username: str = "",
                headers: dict[str, str] | None = None) -> HTMLResponse:
    return TEMPLATES.TemplateResponse(
        request, "login.html",
        {"lang": lang, "langs": LANGS, "error": error, "next": _safe_next(next) or "/",
         "username": username},
        status_code=status_code, headers=headers,
    )


@router.get("/login", response_class=HTMLResponse, tags=["pages"])
def login_page(request: Request, user: CurrentUser, lang: LangDep,
               next: Annotated[str | None, Query()] = None) -> HTMLResponse:
    """The sign-in form; it posts to ``POST /login`` and comes back to ``next``."""
    return _login_page(request, lang, next=next)


@router.post("/login", response_model=Me, responses={401: {"description": "Wrong credentials"},
                      429: {"description": "Too many failed sign-ins from this address"}})
async def login(
    request: Request,
    workspace: WorkspaceDep,
    settings: SettingsDep,
    lang: LangDep,
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
    next: Annotated[str | None, Form()] = None,
) -> Response:
    """Check the password and start a session (signed HttpOnly cookie + CSRF token).

    The CSRF token comes back in the body and in the readable ``jer_csrf`` cookie;
    send it as ``X-CSRF-Token`` (or form field ``csrf_token``) with every write.
    From the sign-in page, a refusal shows the page again with the reason.
    """
    browser = _from_browser(request)
    try:
        user = await check_password(request, workspace, username, password, via="session")
    except HTTPException as exc:
        if not browser or exc.status_code != 429:
            raise
        wait = int((exc.headers or {}).get("Retry-After", "60"))
        return _login_page(request, lang, status_code=429, next=next, username=username,
                           error=t("pages_login_throttled", lang,
                                   minutes=max(1, math.ceil(wait / 60))),
                           headers=dict(exc.headers or {}))
    if user is None or user.username is None:
        if browser:
            return _login_page(request, lang, status_code=401, next=next, username=username,
                               error=t("pages_login_wrong", lang))
        raise HTTPException(401, detail="wrong user name or password")
    cookie, csrf = new_session(user, signing_key(settings))
    target = _safe_next(next) or ("/" if browser else None)
    response: Response
    if target is not None:
        response = RedirectResponse(target, status_code=303)
    else:
        me = Me(username=user.username, role=user.role, permissions=sorted(user.permissions),
                csrf_token=csrf)
        response = JSONResponse(me.model_dump())
    secure = request.url.scheme == "https"
    response.set_cookie(SESSION_COOKIE, cookie, max_age=SESSION_MAX_AGE, httponly=True,
                        samesite="lax", secure=secure)
    response.set_cookie(CSRF_COOKIE, csrf, max_age=SESSION_MAX_AGE, httponly=False,
                        samesite="lax", secure=secure)
    return response


@router.post("/logout", status_code=204,
             responses={303: {"description": "From a browser form: back to the start page"}})
async def logout(request: Request, user: CurrentUser, workspace: WorkspaceDep) -> Response:
    """End the browser session (a cookie-authenticated write, so it needs the CSRF token).

    The server ends every session of the account too (a copied cookie stops working),
    which also signs the account out on its other devices.
    """
    if user.via == "session" and user.username is not None:
        await run_in_threadpool(end_sessions, workspace, user.username)
    response: Response
    if _from_browser(request):
        response = RedirectResponse("/", status_code=303)
    else:
        response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, httponly=True, samesite="lax")
    response.delete_cookie(CSRF_COOKIE, samesite="lax")
    return response


@router.get("/api/me", response_model=Me)
def me(user: CurrentUser) -> Me:
    """The caller's account, role and permissions (``public`` when not signed in)."""
    return Me(username=user.username, role=user.role, permissions=sorted(user.permissions))

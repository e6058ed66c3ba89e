"""Signing in and out of a browser session, and who the caller is."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import BaseModel

from ..auth import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    SESSION_MAX_AGE,
    CurrentUser,
    check_password,
    new_session,
    signing_key,
)
from ..deps import SettingsDep, WorkspaceDep

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


@router.post("/login", response_model=Me, responses={401: {"description": "Wrong credentials"},
                      429: {"description": "Too many failed sign-ins from this address"}})
async def login(
    request: Request,
    workspace: WorkspaceDep,
    settings: SettingsDep,
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
    next: Annotated[str | None, Form()] = None,
) -> Response:
    """Check the password and start a session (signed HttpOnly cookie + CSRF token).

    The CSRF token comes back in the body and in the readable ``jer_csrf`` cookie;
    send it as ``X-CSRF-Token`` (or form field ``csrf_token``) with every write.
    """
    user = await check_password(request, workspace, username, password, via="session")
    if user is None or user.username is None:
        raise HTTPException(401, detail="wrong user name or password")
    cookie, csrf = new_session(user, signing_key(settings))
    target = _safe_next(next)
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


@router.post("/logout", status_code=204)
async def logout(user: CurrentUser) -> Response:
    """End the browser session (a cookie-authenticated write, so it needs the CSRF token)."""
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, httponly=True, samesite="lax")
    response.delete_cookie(CSRF_COOKIE, samesite="lax")
    return response


@router.get("/api/me", response_model=Me)
def me(user: CurrentUser) -> Me:
    """The caller's account, role and permissions (``public`` when not signed in)."""
    return Me(username=user.username, role=user.role, permissions=sorted(user.permissions))

"""HTML pages. Every value reaches the page through Jinja2 autoescaping."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from spatial.schema import LANGS

from ..app import TEMPLATES
from ..auth import CurrentUser
from ..deps import LangDep, WorkspaceDep
from ..i18n import LANG_COOKIE
from ..settings import Lang
from .auth import _safe_next
from .balance import compute_balance

router = APIRouter(tags=["pages"])

#: The language cookie lasts a year: a choice of language is not a session.
LANG_COOKIE_MAX_AGE = 365 * 24 * 3600


@router.get("/lang/{code}", response_class=RedirectResponse, status_code=303)
def switch_language(code: Lang, next: Annotated[str | None, Query()] = None) -> RedirectResponse:
    """Remember the language in a cookie and go back to the page (``next``, a local path).

    The switch of every page links here, so a page needs no code of its own to keep
    the language while the user moves around the app.
    """
    response = RedirectResponse(_safe_next(next) or "/", status_code=303)
    response.set_cookie(LANG_COOKIE, code, max_age=LANG_COOKIE_MAX_AGE, samesite="lax")
    return response


@router.get("/", response_class=HTMLResponse)
def balance_page(request: Request, workspace: WorkspaceDep, lang: LangDep,
                 user: CurrentUser) -> HTMLResponse:
    """Overview: the land balance tables of the municipality."""
    balance = compute_balance(workspace)
    municipality = workspace.read_layer("municipality")
    name = str(municipality.iloc[0][f"name_{lang}"]) if len(municipality) else ""
    response = TEMPLATES.TemplateResponse(
        request,
        "balance.html",
        {
            "lang": lang,
            "langs": LANGS,
            "municipality": name,
            "tables": {
                balance.title(key, lang): frame for key, frame in balance.to_frames(lang).items()
            },
            "metadata": workspace.metadata(),
        },
    )
    if request.query_params.get("lang") in LANGS:
        response.set_cookie(LANG_COOKIE, lang, samesite="lax")
    return response

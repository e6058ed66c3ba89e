"""HTML pages of planning work: the request test (``/check``) and demand and allocation
(``/plan``).

Both pages need a permission (``run_checks``, ``run_forecasts``). A visitor who is not
signed in gets the page's sign-in prompt with status 401; a signed-in account whose role
lacks the permission gets a 403 page saying so — the same split as the API's
:func:`web.auth.require`, but as a page a person can act on.
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from spatial.errors import JerError
from spatial.schema import LANGS

from ..app import TEMPLATES
from ..auth import CurrentUser, User
from ..deps import LangDep, SettingsDep, WorkspaceDep
from ..errors import status_for
from ..i18n import LANG_COOKIE, t
from ..page_maps import (
    category_labels,
    check_map,
    page_asset,
    plan_map,
    use_labels,
)
from ..planning_view import (
    METHODS,
    SCENARIOS,
    PlanOptions,
    cached_plan,
    plan_tables,
    settlement_labels,
)
from ..services import resolve_rulebook

router = APIRouter(tags=["pages"])

#: The page ``/plan`` computes at most this far ahead (as ``jer demand --horizon``).
MAX_HORIZON = 30


def _page(request: Request, user: User, template: str, context: dict[str, object], lang: str,
          *, status_code: int = 200, headers: dict[str, str] | None = None) -> HTMLResponse:
    response = TEMPLATES.TemplateResponse(
        request, template, {"lang": lang, "langs": LANGS, "user": user, **context},
        status_code=status_code, headers=headers,
    )
    if request.query_params.get("lang") in LANGS:
        response.set_cookie(LANG_COOKIE, lang, samesite="lax")
    return response


def _refusal(request: Request, user: User, permission: str, page: str,
             lang: str) -> HTMLResponse | None:
    """The sign-in prompt (401) or the not-your-role page (403); ``None`` when allowed."""
    if user.can(permission):
        return None
    anonymous = user.username is None
    target = request.url.path
    context: dict[str, object] = {
        "title": t(f"{page}_title", lang),
        "message": t(f"{page}_need_login" if anonymous else f"{page}_need_role", lang,
                     role=user.role),
        "login_url": f"/login?next={quote(target, safe='/')}" if anonymous else None,
        "page": page,
    }
    headers = {"WWW-Authenticate": 'Bearer realm="jer"'} if anonymous else None
    return _page(request, user, "app/refused.html", context, lang,
                 status_code=401 if anonymous else 403, headers=headers)


@router.get("/assets/pages/{name}", include_in_schema=False)
def page_asset_file(name: str) -> Response:
    """A third-party script or style of these pages (Leaflet.draw), from installed packages."""
    found = page_asset(name)
    return Response(found.text, media_type=found.media_type,
                    headers={"Cache-Control": "public, max-age=86400"})


@router.get("/check", response_class=HTMLResponse)
def check_page(request: Request, user: CurrentUser, workspace: WorkspaceDep, lang: LangDep,
               settings: SettingsDep,
               basemap: Literal["osm", "none"] | None = Query(default=None)) -> HTMLResponse:
    """Request test: choose a parcel or draw a polygon, choose the target, see the verdict."""
    refused = _refusal(request, user, "run_checks", "check", lang)
    if refused is not None:
        return refused
    rulebook = resolve_rulebook(None, workspace)
    page = check_map(workspace, rulebook=rulebook, lang=lang,
                     base_map=basemap or settings.base_map)
    return _page(request, user, "app/check.html", {
        "page": page, "parts": page.parts(),
        "uses": use_labels(rulebook, lang), "categories": category_labels(lang),
    }, lang)


@router.get("/plan", response_class=HTMLResponse)
def plan_page(
    request: Request, user: CurrentUser, workspace: WorkspaceDep, lang: LangDep,
    settings: SettingsDep,
    scenario: Literal["low", "medium", "high"] = Query(default="medium"),
    horizon: int = Query(default=5, ge=1, le=MAX_HORIZON),
    method: Literal["official", "compound"] = Query(default="official"),
    basemap: Literal["osm", "none"] | None = Query(default=None),
) -> HTMLResponse:
    """Demand and allocation: population, land demand, capacity, allocation, drafts, map."""
    refused = _refusal(request, user, "run_forecasts", "plan", lang)
    if refused is not None:
        return refused
    options = PlanOptions(scenario=scenario, horizon=horizon, method=method)
    context: dict[str, object] = {"options": options, "scenarios": SCENARIOS,
                                  "methods": METHODS, "max_horizon": MAX_HORIZON}
    try:
        rulebook = resolve_rulebook(None, workspace)
        plan, seconds = cached_plan(request.app.state, workspace, settings, options=options)
    except JerError as exc:
        return _page(request, user, "app/plan.html", {**context, "error": str(exc)}, lang,
                     status_code=status_for(exc))
    base_map = basemap or settings.base_map
    names = settlement_labels(workspace, lang)
    hint = "" if plan.projection is not None else f" — {t('plan_population_hint', lang)}"
    page = plan_map(workspace, plan.chosen, rulebook=rulebook, lang=lang,
                    settlement_labels=names, base_map=base_map)
    tables = plan_tables(plan, rulebook=rulebook, lang=lang, options=options,
                         settlements=names, not_computed_hint=hint)
    return _page(request, user, "app/plan.html", {
        **context, "page": page, "parts": page.parts(), "tables": tables,
        "seconds": seconds, "base_year": plan.base_year,
        "illustrative": workspace.metadata().get("illustrative"),
    }, lang)


"""HTML pages. Every value reaches the page through Jinja2 autoescaping.

The land balance (``/``), the language switch and the Space section report
(``/report/space`` and its workbook ``/report/space.xlsx``).
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from spatial.errors import JerError
from spatial.schema import LANGS
from spatial.space import SpaceSection
from spatial.store import Workspace

from ..app import TEMPLATES
from ..auth import CurrentUser, User, require
from ..deps import LangDep, SettingsDep, WorkspaceDep
from ..errors import status_for
from ..i18n import LANG_COOKIE, t
from ..reports.space import REPORT_LAYERS
from ..services import (
    ResultCache,
    population_series,
    population_stamp,
    resolve_rulebook,
    workspace_fingerprint,
)
from ..settings import Lang, Settings
from .auth import _safe_next
from .balance import compute_balance

router = APIRouter(tags=["pages"])

#: The report's permission: the Space section holds the forecast and the allocation.
REPORT_PERMISSION = "run_forecasts"
ForecasterDep = Annotated[User, Depends(require(REPORT_PERMISSION))]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
#: Threads for the report's parcel checks (as ``jer report space`` by default).
REPORT_JOBS = 2
MAX_HORIZON = 30

#: The language cookie lasts a year: a choice of language is not a session.
LANG_COOKIE_MAX_AGE = 365 * 24 * 3600


#: The app's icon (Kyrgyz "Ж" of "Жер" on the header's green), so browsers ask for no other.
FAVICON = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">'
    '<rect width="32" height="32" rx="6" fill="#2f5d50"/>'
    '<text x="16" y="23" font-size="20" font-family="sans-serif" text-anchor="middle" '
    'fill="#fff">Ж</text></svg>'
)


@router.get("/favicon.svg", include_in_schema=False)
def favicon() -> Response:
    return Response(FAVICON, media_type="image/svg+xml",
                    headers={"Cache-Control": "public, max-age=86400"})


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


# --------------------------------------------------------------------------- Space report


@dataclass(frozen=True)
class ReportOptions:
    """The forecast options of the Space section (as ``jer report space`` takes them)."""

    scenario: Literal["low", "medium", "high"] = "medium"
    horizon: int = 5
    method: Literal["official", "compound"] = "official"

    def query(self, lang: str) -> str:
        return urlencode({"lang": lang, "scenario": self.scenario, "horizon": self.horizon,
                          "method": self.method})


def report_options(
    scenario: Literal["low", "medium", "high"] = Query(default="medium"),
    horizon: int = Query(default=5, ge=1, le=MAX_HORIZON),
    method: Literal["official", "compound"] = Query(default="official"),
) -> ReportOptions:
    return ReportOptions(scenario=scenario, horizon=horizon, method=method)


ReportOptionsDep = Annotated[ReportOptions, Depends(report_options)]


def _report_cache(state: Any) -> ResultCache:
    """Computed Space sections of this app, a few at most (each holds its layers' maps)."""
    cache = getattr(state, "space_report_cache", None)
    if cache is None:
        cache = state.space_report_cache = ResultCache(size=4)
    return cache


def cached_space_section(state: Any, workspace: Workspace, settings: Settings,
                         options: ReportOptions) -> tuple[SpaceSection, float | None]:
    """The section for ``options``, computed once per state of the workspace's inputs.

    The key is the workspace fingerprint (rulebook and every layer the report reads,
    see :func:`web.services.workspace_fingerprint`), the population series and the
    options: an edit of a parcel or a new rulebook computes it again, a reload does
    not. Returns the section and the seconds it took when this call computed it.
    """
    from ..reports.space import compute_space_section

    key = ("space", options, workspace_fingerprint(workspace, REPORT_LAYERS),
           population_stamp(workspace, settings.population))
    cache = _report_cache(state)
    before = cache.computed
    started = time.perf_counter()

    def compute() -> SpaceSection:
        return compute_space_section(
            workspace, rulebook=resolve_rulebook(None, workspace),
            population=population_series(workspace, settings.population),
            horizon=options.horizon, scenario=options.scenario, method=options.method,
            n_jobs=REPORT_JOBS,
        )

    section: SpaceSection = cache.get_or_compute(key, compute)
    seconds = time.perf_counter() - started if cache.computed > before else None
    return section, seconds


async def _refusal(request: Request, user: User, lang: str) -> HTMLResponse | None:
    """The sign-in prompt (401) or the not-your-role page (403); ``None`` when allowed.

    The permission is decided by :func:`web.auth.require`, as for the API; only the
    answer is a page a person can act on.
    """
    try:
        await require(REPORT_PERMISSION)(user)
    except HTTPException as exc:
        anonymous = exc.status_code == 401
        context = {
            "lang": lang, "langs": LANGS, "user": user,
            "refused": t("pages_report_sign_in" if anonymous else "pages_report_forbidden",
                         lang, role=user.role),
            "login_url": (f"/login?next={quote(str(request.url.path), safe='/')}"
                          if anonymous else None),
        }
        return TEMPLATES.TemplateResponse(request, "report/app_space.html", context,
                                          status_code=exc.status_code,
                                          headers=dict(exc.headers or {}))
    return None


@router.get("/report/space", response_class=HTMLResponse,
            responses={401: {"description": "Sign-in prompt"},
                       403: {"description": "The role may not run forecasts"}})
async def space_report_page(request: Request, workspace: WorkspaceDep, lang: LangDep,
                            user: CurrentUser, settings: SettingsDep,
                            options: ReportOptionsDep) -> HTMLResponse:
    """The SEDP Space section in the app, as ``jer report space`` writes it, with its XLSX."""
    from ..reports.space import space_report_context

    refused = await _refusal(request, user, lang)
    if refused is not None:
        return refused
    try:
        section, seconds = await run_in_threadpool(
            cached_space_section, request.app.state, workspace, settings, options)
    except JerError as exc:
        # The data cannot make the report (e.g. a use the rulebook does not know): say
        # why on the page, with the status of the error table.
        return TEMPLATES.TemplateResponse(
            request, "report/app_space.html",
            {"lang": lang, "langs": LANGS, "user": user, "refused": None,
             "error": str(exc), "problems": [p.message for p in getattr(exc, "problems", [])]},
            status_code=status_for(exc))
    context = await run_in_threadpool(
        space_report_context, section, lang, base_map=settings.base_map, assets="app")
    context.update({
        "lang": lang, "langs": LANGS, "user": user, "options": options,
        "scenarios": ("low", "medium", "high"), "methods": ("official", "compound"),
        "max_horizon": MAX_HORIZON, "seconds": None if seconds is None else round(seconds, 1),
        "xlsx_url": f"/report/space.xlsx?{options.query(lang)}", "refused": None,
        "error": None,
    })
    response = TEMPLATES.TemplateResponse(request, "report/app_space.html", context)
    if request.query_params.get("lang") in LANGS:
        response.set_cookie(LANG_COOKIE, lang, samesite="lax")
    return response


@router.get("/report/space.xlsx", response_class=Response,
            responses={200: {"content": {XLSX: {}}, "description": "The report's workbook"}})
async def space_report_xlsx(request: Request, workspace: WorkspaceDep, lang: LangDep,
                            user: ForecasterDep, settings: SettingsDep,
                            options: ReportOptionsDep) -> Response:
    """The Space section as an XLSX workbook, one sheet per table, in ``lang``."""
    from ..reports.space import write_space_xlsx

    section, _ = await run_in_threadpool(
        cached_space_section, request.app.state, workspace, settings, options)
    with tempfile.TemporaryDirectory() as tmp:
        path = await run_in_threadpool(write_space_xlsx, section, Path(tmp) / "space.xlsx",
                                       lang)
        content = path.read_bytes()
    return Response(content, media_type=XLSX, headers={
        "Content-Disposition": f'attachment; filename="space-{lang}.xlsx"'})

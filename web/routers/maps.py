"""Map pages and the offline assets they load."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from spatial.schema import LANGS

from ..app import TEMPLATES
from ..assets import asset
from ..auth import CurrentUser
from ..deps import LangDep, SettingsDep, WorkspaceDep
from ..i18n import LANG_COOKIE
from ..maps import MAP_KINDS, Editing, MapKind, build_map
from ..services import resolve_rulebook

router = APIRouter(tags=["maps"])


@router.get("/assets/{name}", include_in_schema=False)
def offline_asset(name: str) -> Response:
    """A third-party script or style of the map pages, from the installed packages."""
    found = asset(name)
    return Response(found.text, media_type=found.media_type,
                    headers={"Cache-Control": "public, max-age=86400"})


@router.get("/map/{kind}", response_class=HTMLResponse)
def map_page(
    request: Request,
    kind: MapKind,
    workspace: WorkspaceDep,
    lang: LangDep,
    settings: SettingsDep,
    user: CurrentUser,
    basemap: Literal["osm", "none"] | None = Query(default=None),
) -> HTMLResponse:
    """A map of the municipality: ``overview``, ``zoning``, ``restrictions`` or ``hazards``."""
    page = build_map(
        kind, workspace, rulebook=resolve_rulebook(None, workspace), lang=lang,
        base_map=basemap or settings.base_map,
        editing=(Editing(personal=user.can("read_personal"))
                 if user.can("edit_inventory") else None),
    )
    response = TEMPLATES.TemplateResponse(
        request,
        "map.html",
        {"lang": lang, "langs": LANGS, "kind": kind, "kinds": MAP_KINDS, "page": page,
         "parts": page.parts()},
    )
    if request.query_params.get("lang") in LANGS:
        response.set_cookie(LANG_COOKIE, lang, samesite="lax")
    return response

"""HTML pages. Every value reaches the page through Jinja2 autoescaping."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from spatial.schema import LANGS

from ..app import TEMPLATES
from ..deps import LangDep, WorkspaceDep
from ..i18n import LANG_COOKIE
from .balance import compute_balance

router = APIRouter(tags=["pages"])


@router.get("/", response_class=HTMLResponse)
def balance_page(request: Request, workspace: WorkspaceDep, lang: LangDep) -> HTMLResponse:
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

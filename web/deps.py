"""FastAPI dependencies shared by the routers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request

from spatial.store import Workspace, open_workspace

from .i18n import negotiate_lang
from .settings import Lang, Settings


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_workspace(settings: Annotated[Settings, Depends(get_settings)]) -> Iterator[Workspace]:
    """A workspace handle for one request; closed when the request ends."""
    workspace = open_workspace(settings.workspace)
    try:
        yield workspace
    finally:
        workspace.close()


def get_lang(request: Request, settings: Annotated[Settings, Depends(get_settings)]) -> Lang:
    return negotiate_lang(request, settings.default_lang)


SettingsDep = Annotated[Settings, Depends(get_settings)]
WorkspaceDep = Annotated[Workspace, Depends(get_workspace)]
LangDep = Annotated[Lang, Depends(get_lang)]

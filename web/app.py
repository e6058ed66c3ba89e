"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.templating import Jinja2Templates

from spatial import __version__

from .errors import install_error_handlers
from .i18n import t
from .settings import Settings

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).resolve().parent / "templates"))
TEMPLATES.env.globals["t"] = t


def _lifespan(settings: Settings, inner: Callable[[FastAPI], Any]
              ) -> Callable[[FastAPI], Any]:
    """Start-up: the tile indexes begin building in the background; then ``inner``."""
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.tile_prewarm:
            from .routers.tiles import start_prewarm

            start_prewarm(app.state, str(settings.workspace))
        async with inner(app):
            yield

    return lifespan


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app for one workspace; ``settings`` default to the ``JER_*`` environment."""
    from .assets import offline_assets
    from .deps import workspace_lifespan
    from .routers import (
        api,
        app_pages,
        auth,
        balance,
        maps,
        ogc,
        pages,
        parcels,
        requests,
        tiles,
    )

    settings = settings or Settings()
    app = FastAPI(
        title="Jer",
        version=__version__,
        description="Municipal land inventory, constraints and planning for Kyrgyz municipalities",
        lifespan=_lifespan(settings, workspace_lifespan),
    )
    app.state.settings = settings
    install_error_handlers(app)
    app.include_router(balance.router)
    app.include_router(pages.router)
    offline_assets()  # extract the map pages' scripts and styles once, fail early if missing
    app.include_router(maps.router)
    app.include_router(tiles.router)
    app.include_router(auth.router)
    app.include_router(parcels.router)
    app.include_router(api.router)
    app.include_router(app_pages.router)
    app.include_router(requests.router)
    app.include_router(ogc.router)

    @app.get("/api/health", tags=["meta"])
    def health() -> dict[str, Any]:
        """Up, with the version and how far this process has built the tile indexes.

        ``tiles`` is ``building``, ``ready`` (``tile_index_s``: seconds per layer and
        for ``precut``, the ``tiles_precut`` low-zoom tiles), ``failed`` or ``on demand``
        (``JER_TILE_PREWARM=false``).
        """
        prewarm = getattr(app.state, "tile_prewarm", None)
        answer: dict[str, Any] = {"status": "ok", "version": __version__,
                                  "tiles": prewarm["status"] if prewarm else "on demand"}
        if prewarm and "seconds" in prewarm:
            answer["tile_index_s"] = prewarm["seconds"]
        if prewarm and "precut" in prewarm:
            answer["tiles_precut"] = prewarm["precut"]
        return answer

    return app

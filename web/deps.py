"""FastAPI dependencies shared by the routers."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool

from spatial.store import Workspace, open_workspace

from .i18n import negotiate_lang
from .settings import Lang, Settings

# Dependencies doing no blocking I/O are ``async def``: FastAPI runs a plain ``def``
# dependency on a worker thread, a hop that costs more than these do.


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


#: Idle handles kept per workspace; more concurrent requests open (and then close) extra.
POOL_SIZE = 16
#: An idle handle older than this is closed rather than reused (a server may have
#: dropped the PostGIS connection meanwhile).
POOL_IDLE_S = 60.0


def _file_identity(workspace: Workspace) -> tuple[int, int] | None:
    """``(device, inode)`` of a GeoPackage file; ``None`` for a server workspace.

    Replacing the file (``jer init --overwrite``, a restored copy) gives the path a new
    inode; a connection opened before still reads the old file, so it must not be reused.
    """
    path = getattr(workspace, "path", None)
    if path is None:
        return None
    try:
        stat = os.stat(path)
    except OSError:
        return (-1, -1)
    return (stat.st_dev, stat.st_ino)


class WorkspacePool:
    """Open workspace handles reused by later requests, one request per handle at a time.

    Opening a workspace costs more than the typical API call's work (a GeoPackage checks
    its header and reads the metadata table). Handles are autocommit connections, so a
    reused one sees every write committed since by other requests or processes at its
    next statement. A handle goes back only when its request ended cleanly with no
    transaction open; one whose request raised is closed, since a driver error may have
    left its connection unusable.
    """

    def __init__(self, *, size: int = POOL_SIZE, idle_s: float = POOL_IDLE_S,
                 opener: Callable[[str], Workspace] = open_workspace) -> None:
        self.size = size
        self.idle_s = idle_s
        self._open = opener
        self._idle: dict[str, list[tuple[Workspace, tuple[int, int] | None, float]]] = {}
        self._lock = threading.Lock()
        self._closed = False
        #: Handles opened so far (for tests and benchmarks).
        self.opened = 0

    def take(self, url: str) -> Workspace | None:
        """An idle handle on ``url`` for the caller's sole use, else ``None``."""
        now = time.monotonic()
        stale: list[Workspace] = []
        found: Workspace | None = None
        with self._lock:
            idle = self._idle.get(url, [])
            while idle:
                workspace, identity, since = idle.pop()
                if now - since > self.idle_s or identity != _file_identity(workspace):
                    stale.append(workspace)
                    continue
                found = workspace
                break
        for workspace in stale:
            workspace.close()
        return found

    def open(self, url: str) -> Workspace:
        """A new handle on ``url`` (blocking I/O: call it from a worker thread)."""
        workspace = self._open(url)
        with self._lock:
            self.opened += 1
        return workspace

    def give(self, url: str, workspace: Workspace, *, clean: bool) -> bool:
        """Return a handle after its request; ``False`` when it must be closed instead."""
        if not clean or workspace._depth != 0 or workspace._closed:
            return False
        identity = _file_identity(workspace)
        with self._lock:
            idle = self._idle.setdefault(url, [])
            if self._closed or len(idle) >= self.size:
                return False
            idle.append((workspace, identity, time.monotonic()))
        return True

    def close(self) -> None:
        """Close every idle handle; handles returned later are closed too."""
        with self._lock:
            self._closed = True
            handles = [w for idle in self._idle.values() for w, _, _ in idle]
            self._idle.clear()
        for workspace in handles:
            workspace.close()


def workspace_pool(request: Request) -> WorkspacePool:
    """The app's pool, made on first use (the app closes it at shutdown)."""
    state = request.app.state
    pool: WorkspacePool | None = getattr(state, "workspace_pool", None)
    if pool is None:
        with _POOL_LOCK:
            pool = getattr(state, "workspace_pool", None)
            if pool is None:
                pool = state.workspace_pool = WorkspacePool()
    return pool


_POOL_LOCK = threading.Lock()


async def get_workspace(
    request: Request, settings: Annotated[Settings, Depends(get_settings)],
) -> AsyncIterator[Workspace]:
    """A workspace handle for one request, taken from the app's pool (or opened).

    Asynchronous so that taking and returning a pooled handle costs no hop to a worker
    thread; only opening and closing (file or network I/O) run on one.
    """
    pool = workspace_pool(request)
    url = str(settings.workspace)
    workspace = pool.take(url)
    if workspace is None:
        workspace = await run_in_threadpool(pool.open, url)
    clean = False
    try:
        yield workspace
        clean = True
    finally:
        if not pool.give(url, workspace, clean=clean):
            await run_in_threadpool(workspace.close)


async def get_lang(request: Request,
                   settings: Annotated[Settings, Depends(get_settings)]) -> Lang:
    return negotiate_lang(request, settings.default_lang)


SettingsDep = Annotated[Settings, Depends(get_settings)]
WorkspaceDep = Annotated[Workspace, Depends(get_workspace)]
LangDep = Annotated[Lang, Depends(get_lang)]


@asynccontextmanager
async def workspace_lifespan(app: FastAPI) -> AsyncIterator[None]:
    """App lifespan closing the pooled workspace handles at shutdown."""
    try:
        yield
    finally:
        pool: WorkspacePool | None = getattr(app.state, "workspace_pool", None)
        if pool is not None:
            await run_in_threadpool(pool.close)

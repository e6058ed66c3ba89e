"""Pooled workspace handles of the web app (``web.deps.get_workspace``)."""

from __future__ import annotations

import os
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from spatial.errors import ConflictError
from spatial.store import create_workspace, open_workspace
from tests.spatial.conftest import municipality, store_url  # noqa: F401 - fixture
from web.app import create_app
from web.auth import add_user, create_token, revoke_tokens
from web.deps import WorkspaceDep, WorkspacePool
from web.settings import Settings


def probe_app(url: str) -> TestClient:
    """The real app plus routes that expose the handle each request gets."""
    app = create_app(Settings(workspace=url, secret_key="test"))
    in_use: set[int] = set()
    guard = threading.Lock()

    @app.get("/_probe/handle")
    def handle(workspace: WorkspaceDep) -> dict[str, object]:
        key = id(workspace)
        with guard:
            shared = key in in_use
            in_use.add(key)
        time.sleep(0.02)  # long enough for concurrent requests to overlap
        with guard:
            in_use.discard(key)
        return {"id": key, "shared": shared, "note": workspace.metadata().get("note")}

    @app.post("/_probe/note/{value}")
    def note(value: str, workspace: WorkspaceDep) -> dict[str, str]:
        # Nested: the inner block is a savepoint inside the request's transaction.
        with workspace.transaction(), workspace.transaction():
            workspace.set_metadata({"note": value})
        return {"note": value}

    @app.post("/_probe/fail/{value}")
    def fail(value: str, workspace: WorkspaceDep) -> None:
        with workspace.transaction():
            workspace.set_metadata({"note": value})
            raise ConflictError("refused after writing")

    return TestClient(app)


def test_handles_are_reused_and_see_other_requests_writes(store_url):  # noqa: F811
    create_workspace(store_url, municipality(), user="creator").close()
    with probe_app(store_url) as client:
        first = client.get("/_probe/handle").json()
        pool: WorkspacePool = client.app.state.workspace_pool  # type: ignore[attr-defined]
        assert client.post("/_probe/note/one").json() == {"note": "one"}
        second = client.get("/_probe/handle").json()
        # One handle served every sequential request, and it saw the committed write.
        assert second == {"id": first["id"], "shared": False, "note": "one"}
        assert pool.opened == 1
        # A write by another process (here: another connection) is seen at once.
        with open_workspace(store_url) as other:
            other.set_metadata({"note": "from elsewhere"})
        assert client.get("/_probe/handle").json()["note"] == "from elsewhere"
        # A request that failed inside its transaction rolled back and dropped its handle.
        assert client.post("/_probe/fail/two").status_code == 409
        after = client.get("/_probe/handle").json()
        assert after["note"] == "from elsewhere"
        assert pool.opened == 2
        # The pooled handle holds no transaction: another connection can write now.
        with open_workspace(store_url) as other:
            other.set_metadata({"note": "three"})
        assert client.get("/_probe/handle").json()["note"] == "three"
        idle = [w for handles in pool._idle.values() for w, _, _ in handles]
        assert idle
    # Shutdown (the app's lifespan) closed the idle handles.
    assert all(w._closed for w in idle)
    assert not pool._idle


def test_a_handle_serves_one_request_at_a_time(demo_copy: Path):
    with probe_app(str(demo_copy)) as client:
        with ThreadPoolExecutor(8) as threads:
            answers = list(threads.map(lambda _: client.get("/_probe/handle").json(),
                                       range(40)))
        pool: WorkspacePool = client.app.state.workspace_pool  # type: ignore[attr-defined]
        assert not any(a["shared"] for a in answers)
        # Concurrent requests needed several handles, and later ones reused them.
        assert 1 < pool.opened < 40
        assert len({a["id"] for a in answers}) == pool.opened


def test_replaced_workspace_file_is_reopened(demo_copy: Path, tmp_path: Path):
    with probe_app(str(demo_copy)) as client:
        assert client.get("/_probe/handle").json()["note"] is None
        replacement = tmp_path / "replacement.gpkg"
        shutil.copyfile(demo_copy, replacement)
        with open_workspace(replacement) as other:
            other.set_metadata({"note": "new file"})
        os.replace(replacement, demo_copy)
        # A connection opened before reads the old inode; the pool must not hand it out.
        assert client.get("/_probe/handle").json()["note"] == "new file"


def test_revoked_token_is_refused_at_the_next_request(demo_copy: Path):
    with open_workspace(demo_copy) as ws:
        add_user(ws, "planner1", role="planner", password="correct horse battery")
    with probe_app(str(demo_copy)) as client:
        assert client.get("/api/me").json()["role"] == "public"  # pools a handle
        with open_workspace(demo_copy) as ws:
            token = create_token(ws, "planner1")
        headers = {"Authorization": f"Bearer {token}"}
        assert client.get("/api/me", headers=headers).json()["username"] == "planner1"
        with open_workspace(demo_copy) as ws:
            assert revoke_tokens(ws, "planner1") == 1
        assert client.get("/api/me", headers=headers).status_code == 401


def test_pool_refuses_handles_in_a_transaction_or_after_errors(demo_copy: Path):
    pool = WorkspacePool(size=1)
    url = str(demo_copy)
    a, b, c = pool.open(url), pool.open(url), pool.open(url)
    with a.transaction():
        assert not pool.give(url, a, clean=True)  # still inside a transaction
    assert not pool.give(url, b, clean=False)  # its request raised
    assert pool.give(url, a, clean=True)
    assert not pool.give(url, c, clean=True)  # the pool is full
    assert pool.take(url) is a
    assert pool.take(url) is None
    pool.give(url, a, clean=True)
    pool.close()
    assert a._closed
    assert not pool.give(url, b, clean=True)  # closed pools keep nothing
    for handle in (b, c):
        handle.close()


def test_idle_handles_expire(demo_copy: Path):
    pool = WorkspacePool(idle_s=0.0)
    url = str(demo_copy)
    handle = pool.open(url)
    assert pool.give(url, handle, clean=True)
    time.sleep(0.01)
    assert pool.take(url) is None
    assert handle._closed


@pytest.mark.parametrize("size", [0])
def test_pool_of_size_zero_opens_every_time(demo_copy: Path, size: int):
    pool = WorkspacePool(size=size)
    handle = pool.open(str(demo_copy))
    assert not pool.give(str(demo_copy), handle, clean=True)
    handle.close()

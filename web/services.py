"""Assembling domain inputs from a workspace, shared by the CLI and the web routers.

The domain functions take explicit GeoDataFrames and a rulebook; this module is the one
place that knows which workspace layers feed them, so the CLI, the API and the report
compute the same numbers from the same inputs.

It also holds what a server keeps between requests: the built constraint layers of a
workspace (:func:`cached_constraint_layers`, rebuilt when a constraint layer or the
rulebook changes, see :func:`constraint_fingerprint`) and a small LRU of forecast and
allocation results (:class:`ResultCache`).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
from shapely.geometry.base import BaseGeometry

from spatial.errors import InputError, NotFoundError
from spatial.schema import layer_schema, load_schema
from spatial.store import Workspace
from spatial.zoning import (
    CheckResult,
    ConstraintLayers,
    Proposal,
    Reason,
    Rulebook,
    load_rulebook,
)

if TYPE_CHECKING:
    from spatial.hazards import ExposureSummary, RelocationCandidates

#: Workspace layers the constraint engine reads.
CONSTRAINT_LAYERS = (
    "zones", "protected_areas", "water_bodies", "forest_fund", "hazard_zones", "restrictions",
)
#: Columns the store adds that are not part of a layer's input data.
STORE_COLUMNS = ["fid", "area_ha", "row_version", "updated_at", "updated_by"]


def resolve_rulebook(path: str | Path | None, workspace: Workspace | None = None) -> Rulebook:
    """The rulebook given, else the one recorded in the workspace, else the shipped default."""
    if path is None and workspace is not None:
        path = workspace.metadata().get("rulebook") or None
    return load_rulebook(Path(path) if path else None)


def read_layers(
    workspace: Workspace, names: tuple[str, ...] | list[str]
) -> dict[str, gpd.GeoDataFrame]:
    """Layers present in the workspace, without personal columns or store bookkeeping."""
    present = set(workspace.layers())
    return {
        name: workspace.read_layer(name, include_personal=False).drop(
            columns=STORE_COLUMNS, errors="ignore"
        )
        for name in names
        if name in present
    }


def constraint_layers(workspace: Workspace, rulebook: Rulebook) -> ConstraintLayers:
    """Validated, indexed constraint layers of a workspace in its CRS."""
    frames = read_layers(workspace, CONSTRAINT_LAYERS)
    return ConstraintLayers.from_frames(rulebook=rulebook, crs=workspace.crs, **frames)


def read_parcels(workspace: Workspace, cadastral_nos: list[str] | None = None) -> gpd.GeoDataFrame:
    """Parcels (all, or the given cadastral numbers) without personal columns."""
    parcels = workspace.read_layer("parcels", include_personal=False)
    if cadastral_nos:
        parcels = parcels[parcels["cadastral_no"].isin(cadastral_nos)]
    return parcels.reset_index(drop=True)


# --------------------------------------------------------------------------- publication

def layer_published(workspace: Workspace, layer: str) -> bool:
    """Whether the public (nobody signed in) may download ``layer``.

    The one publication switch of the app — layer metadata ``published``, set with
    ``jer publish LAYER [--off]`` — shared with the OGC API (:func:`web.ogc.is_published`):
    every layer is published until withdrawn.
    """
    from .ogc import is_published

    return is_published(workspace, layer)


def schema_layer_names() -> list[str]:
    """Every layer of the data model, in schema order."""
    return list(load_schema().layers)


def personal_columns(layer: str) -> tuple[str, ...]:
    """Columns of ``layer`` that the data model marks personal (right holders)."""
    return layer_schema(layer).personal_columns


# --------------------------------------------------------------------------- population


def population_series(
    workspace: Workspace | None, path: str | Path | None = None,
    records: list[dict[str, Any]] | None = None,
) -> pd.DataFrame | None:
    """The population series for a forecast: given rows, a CSV, or the demo's own.

    ``records`` (``settlement, year, population[, households]``) come from an API body;
    ``path`` from ``--population``; on the demo workspace the shipped series is used, so
    the demo forecasts without any file. ``None`` when there is none.
    """
    from spatial.demand import read_population_csv

    if records is not None:
        return pd.DataFrame.from_records(records)
    if path is not None:
        return read_population_csv(path)
    if workspace is not None and workspace.metadata().get("demo") == "isfana":
        from jer_data import DEMO_DIR

        return read_population_csv(DEMO_DIR / "population.csv")
    return None


def population_stamp(
    workspace: Workspace, path: str | Path | None = None,
    records: list[dict[str, Any]] | None = None,
) -> tuple[Any, ...]:
    """What identifies the population series :func:`population_series` would use."""
    if records is not None:
        text = json.dumps(records, sort_keys=True, default=str, ensure_ascii=False)
        return ("records", hashlib.sha256(text.encode()).hexdigest())
    if path is not None:
        return ("file", file_stamp(path))
    if workspace.metadata().get("demo") == "isfana":
        from jer_data import DEMO_DIR

        return ("demo", file_stamp(DEMO_DIR / "population.csv"))
    return ("none",)


# --------------------------------------------------------------------------- hazards


def compute_exposure(workspace: Workspace) -> tuple[ExposureSummary, RelocationCandidates]:
    """Hazard exposure and relocation candidates of a workspace (no personal columns)."""
    from spatial.hazards import hazard_exposure, relocation_candidates

    frames = read_layers(workspace, ["hazard_zones", "parcels", "settlements", "facilities"])
    missing = [name for name in ("hazard_zones", "parcels") if name not in frames]
    if missing:
        raise InputError(
            f"the workspace has no {' and no '.join(missing)} layer; import "
            f"{'it' if len(missing) == 1 else 'them'} first"
        )
    hazards = frames.pop("hazard_zones")
    summary = hazard_exposure(
        hazards, parcels=frames["parcels"], settlements=frames.get("settlements"),
        facilities=frames.get("facilities"),
    )
    candidates = relocation_candidates(
        hazards, parcels=frames["parcels"], settlements=frames.get("settlements"),
    )
    return summary, candidates


# --------------------------------------------------------------------------- fingerprints


def file_stamp(path: str | Path) -> tuple[str, int | None, int | None]:
    """A file's resolved path, modification time (ns) and size; ``None`` if it is missing."""
    p = Path(path)
    try:
        st = p.stat()
    except OSError:
        return (str(p), None, None)
    return (str(p.resolve()), st.st_mtime_ns, st.st_size)


def rulebook_stamp(workspace: Workspace) -> tuple[Any, ...]:
    """What identifies the rulebook :func:`resolve_rulebook` loads for ``workspace``.

    The workspace's rulebook file and every shipped rulebook (a municipal rulebook
    ``extends:`` one of them), each by path, modification time and size.
    """
    from spatial.zoning import default_rulebook_path

    recorded = workspace.metadata().get("rulebook") or None
    files = [Path(recorded)] if recorded else []
    files += sorted(default_rulebook_path().parent.glob("*.yaml"))
    return tuple(file_stamp(f) for f in files)


def layer_stamp(workspace: Workspace, layer: str, present: set[str] | None = None
                ) -> tuple[Any, ...]:
    """A value that changes whenever the content or metadata of ``layer`` changes.

    Parcels record every write in their history, so the newest history entry and the
    count identify their state. The other layers only change by imports, and both
    stores never reuse a feature id: an append raises the count, a replacement gives
    every feature an id above all earlier ones, so the count and the lowest id
    identify the content. Each read goes through the store's indexes (a count, one
    row by ``fid``, one history row), never through the layer's features.
    """
    present = set(workspace.layers()) if present is None else present
    if layer not in present:
        return (layer, "absent")
    meta = tuple(sorted(workspace.layer_metadata(layer).items()))
    count = workspace.count(layer)
    if layer_schema(layer).versioned:
        newest = workspace.history(None, limit=1, include_personal=False)
        last = None if not newest else (
            newest[0].fid, newest[0].version, newest[0].action, newest[0].at.isoformat()
        )
        return (layer, count, last, meta)
    first = workspace.read_layer(layer, columns=[], limit=1)
    first_fid = int(first["fid"].iloc[0]) if len(first) else None
    return (layer, count, first_fid, meta)


def workspace_fingerprint(workspace: Workspace, layers: tuple[str, ...] | list[str]
                          ) -> tuple[Any, ...]:
    """Workspace URL, rulebook and the state of ``layers``: equal means same inputs."""
    present = set(workspace.layers())
    return (
        workspace.url, rulebook_stamp(workspace),
        tuple(layer_stamp(workspace, name, present) for name in layers),
    )


def constraint_fingerprint(workspace: Workspace) -> tuple[Any, ...]:
    """The fingerprint of what a constraint check reads: rulebook and constraint layers."""
    return workspace_fingerprint(workspace, CONSTRAINT_LAYERS)


# --------------------------------------------------------------------------- caches


#: Most single checks one pass of the engine takes (see :meth:`CachedConstraints.check`).
MAX_CHECKS_PER_PASS = 64


@dataclass(frozen=True)
class CheckAnswer:
    """A check and where on the subject each spatial reason applies.

    ``reasons`` are the result's reasons and notes that have a layer, in report order;
    ``overlaps`` holds, aligned with them, the part of ``subject`` (layers' CRS) each one
    covers (:func:`spatial.zoning.overlaps.overlap_geometries`).
    """

    result: CheckResult
    subject: BaseGeometry
    reasons: tuple[Reason, ...]
    overlaps: np.ndarray
    #: The remainder, the subject and the overlaps, in that order, in EPSG:4326.
    wgs84: np.ndarray


@dataclass(eq=False)
class _CheckJob:
    """One check waiting for a pass: a thread waits on ``event``, a coroutine on ``future``."""

    workspace: Workspace
    target: str | BaseGeometry
    proposal: Proposal
    finish: Callable[[CheckAnswer], Any] | None = None
    event: threading.Event | None = None
    loop: asyncio.AbstractEventLoop | None = None
    future: asyncio.Future[Any] | None = None
    done: bool = False
    answer: Any = None
    error: BaseException | None = None



def _settle(jobs: list[_CheckJob]) -> None:
    """Hand answers (or errors) to whoever waits: threads directly, coroutines through
    one wake-up of each event loop."""
    by_loop: dict[asyncio.AbstractEventLoop, list[_CheckJob]] = {}
    for job in jobs:
        if job.event is not None:
            job.event.set()
        elif job.loop is not None:
            by_loop.setdefault(job.loop, []).append(job)
    for loop, waiting in by_loop.items():
        try:
            loop.call_soon_threadsafe(_resolve, waiting)
        except RuntimeError:  # the loop has closed: nobody waits for these any more
            continue


def _resolve(jobs: list[_CheckJob]) -> None:
    for job in jobs:
        future = job.future
        if future is None or future.done():  # the request went away meanwhile
            continue
        if job.error is not None:
            future.set_exception(job.error)
        else:
            future.set_result(job.answer)


#: A checking thread with nothing to do for this long ends; the next check starts one.
CHECK_WORKER_IDLE_S = 30.0


@dataclass(eq=False)
class CachedConstraints:
    """Constraint layers and rulebook of one workspace state, shared by every check.

    GEOS prepared geometries are not thread-safe (they build indexes lazily on first
    use), so hold :attr:`lock` while running checks on :attr:`layers` yourself, or call
    :meth:`check` / :meth:`check_async`, which do.
    """

    layers: ConstraintLayers
    rulebook: Rulebook
    fingerprint: tuple[Any, ...]
    built_at: float
    checked_at: float
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _queue: list[_CheckJob] = field(default_factory=list, repr=False)
    _ready: threading.Condition = field(default_factory=threading.Condition, repr=False)
    _working: bool = field(default=False, repr=False)

    def check(self, workspace: Workspace, target: str | BaseGeometry,
              proposal: Proposal) -> CheckAnswer:
        """Check a parcel (its cadastral number) or a polygon (in the layers' CRS).

        Checks asked for at the same moment run together on one checking thread: a
        pass takes every check waiting — one read of the parcels through the key index,
        one evaluation of the engine (:func:`spatial.zoning.many.check_many`), one
        intersection for the overlaps — and what arrives meanwhile is the next pass.
        Each answer is what the single check gives; only the fixed cost is shared.

        Raises
        ------
        NotFoundError
            No parcel with that cadastral number.
        ValidationError
            Every problem of the proposal or the polygon, as ``check_transformation``.
        """
        job = _CheckJob(workspace=workspace, target=target, proposal=proposal,
                        event=threading.Event())
        self._submit(job)
        assert job.event is not None
        job.event.wait()
        if job.error is not None:
            raise job.error
        answer: CheckAnswer = job.answer
        return answer

    async def check_async(self, workspace: Workspace, target: str | BaseGeometry,
                          proposal: Proposal,
                          finish: Callable[[CheckAnswer], Any] | None = None) -> Any:
        """:meth:`check` for a coroutine: no thread of the pool waits meanwhile.

        ``finish`` (e.g. rendering the answer as JSON) runs on the checking thread and
        its value is returned instead of the :class:`CheckAnswer`. ``workspace`` must
        stay open until the answer comes (the pass may read parcels through it).
        """
        loop = asyncio.get_running_loop()
        job = _CheckJob(workspace=workspace, target=target, proposal=proposal,
                        finish=finish, loop=loop, future=loop.create_future())
        self._submit(job)
        assert job.future is not None
        return await job.future

    def _submit(self, job: _CheckJob) -> None:
        with self._ready:
            self._queue.append(job)
            if not self._working:
                self._working = True
                threading.Thread(target=self._work, name="jer-checks", daemon=True).start()
            self._ready.notify()

    def _work(self) -> None:
        """The checking thread: passes over whatever is waiting, until idle."""
        while True:
            with self._ready:
                if not self._queue:
                    self._ready.wait(timeout=CHECK_WORKER_IDLE_S)
                if not self._queue:
                    self._working = False
                    return
                batch = self._queue[:MAX_CHECKS_PER_PASS]
                del self._queue[:MAX_CHECKS_PER_PASS]
            try:
                self._pass(batch)
            except BaseException as exc:  # the store failed: every check of the pass hears it
                for job in batch:
                    if not job.done:
                        job.error, job.done = exc, True
            for job in batch:
                if job.finish is not None and job.error is None:
                    try:
                        job.answer = job.finish(job.answer)
                    except Exception as exc:
                        job.error = exc
            _settle(batch)

    def _pass(self, batch: list[_CheckJob]) -> None:
        from spatial.zoning.many import check_many
        from spatial.zoning.overlaps import overlap_geometries, spatial_reasons

        from .api_geo import to_wgs84

        keys = sorted({job.target for job in batch if isinstance(job.target, str)})
        rows: dict[str, Any] = {}
        if keys:
            # every job's request waits for its answer, so its workspace is open
            workspace = next(job.workspace for job in batch if isinstance(job.target, str))
            found = workspace.read_layer(
                "parcels", where={"cadastral_no": keys}, include_personal=False,
                columns=["cadastral_no", "land_category", "designated_use"],
            )
            rows = {str(k): found.iloc[i] for i, k in enumerate(found["cadastral_no"])}
        items: list[tuple[Any, Proposal]] = []
        asked: list[_CheckJob] = []
        for job in batch:
            subject = rows.get(job.target) if isinstance(job.target, str) else job.target
            if subject is None:
                job.error = NotFoundError(f"no parcel with cadastral number {job.target!r}")
                job.done = True
                continue
            items.append((subject, job.proposal))
            asked.append(job)
        with self.lock:
            answers = check_many(items, self.layers, self.rulebook)
            reasons = [spatial_reasons([*a.reasons, *a.notes]) if isinstance(a, CheckResult)
                       else [] for a in answers]
            subjects = [item[0]["geometry"] if isinstance(item[0], pd.Series) else item[0]
                        for item in items]
            flat = [r for group in reasons for r in group]
            repeated = np.empty(len(flat), dtype=object)
            repeated[:] = [g for g, group in zip(subjects, reasons, strict=True)
                           for _ in group]
            pieces = overlap_geometries(repeated, flat, self.layers)
        # Everything the answers draw, to EPSG:4326 in one transformation.
        drawn: list[Any] = []
        start = 0
        for answer, group, geom in zip(answers, reasons, subjects, strict=True):
            if isinstance(answer, CheckResult):
                drawn += [answer.remainder, geom, *pieces[start:start + len(group)]]
                start += len(group)
        wgs84 = to_wgs84(drawn, self.layers.crs) if drawn else np.empty(0, dtype=object)
        start = at = 0
        for job, answer, group, geom in zip(asked, answers, reasons, subjects, strict=True):
            if isinstance(answer, CheckResult):
                job.answer = CheckAnswer(result=answer, subject=geom, reasons=tuple(group),
                                         overlaps=pieces[start:start + len(group)],
                                         wgs84=wgs84[at:at + 2 + len(group)])
                start += len(group)
                at += 2 + len(group)
            else:
                job.error = answer
            job.done = True


class ConstraintCache:
    """Built constraint layers per workspace, rebuilt only when their inputs change.

    Building them (validating the layers, deriving water zones, indexing) costs far
    more than a check, so a server keeps them. The fingerprint
    (:func:`constraint_fingerprint`) is re-read when the entry is older than
    ``max_age`` seconds: with the default a change of a layer or the rulebook reaches
    checks within a second; ``max_age=0`` re-reads it on every call.
    """

    def __init__(self, *, max_age: float = 1.0) -> None:
        self.max_age = max_age
        self.builds = 0
        self._entries: dict[str, CachedConstraints] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def _lock_for(self, url: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(url, threading.Lock())

    def invalidate(self, url: str | None = None) -> None:
        """Forget one workspace's entry (all entries when ``url`` is ``None``)."""
        with self._guard:
            if url is None:
                self._entries.clear()
            else:
                self._entries.pop(url, None)

    def fresh(self, url: str) -> CachedConstraints | None:
        """The entry of ``url`` if confirmed within ``max_age``, without any I/O."""
        entry = self._entries.get(url)
        if entry is not None and time.monotonic() - entry.checked_at < self.max_age:
            return entry
        return None

    def get(self, workspace: Workspace, *, max_age: float | None = None) -> CachedConstraints:
        """The constraint layers of ``workspace`` as they are now (within ``max_age``)."""
        age = self.max_age if max_age is None else max_age
        url = workspace.url
        entry = self._entries.get(url)
        if entry is not None and time.monotonic() - entry.checked_at < age:
            return entry
        lock = self._lock_for(url)
        # While another thread re-reads the fingerprint, a fresh-enough entry is served.
        if not lock.acquire(blocking=entry is None or age <= 0):
            assert entry is not None
            return entry
        try:
            entry = self._entries.get(url)
            if entry is not None and time.monotonic() - entry.checked_at < age:
                return entry
            fingerprint = constraint_fingerprint(workspace)
            now = time.monotonic()
            if entry is not None and entry.fingerprint == fingerprint:
                entry.checked_at = now
                return entry
            book = resolve_rulebook(None, workspace)
            layers = constraint_layers(workspace, book)
            entry = CachedConstraints(layers=layers, rulebook=book, fingerprint=fingerprint,
                                      built_at=now, checked_at=now)
            with self._guard:
                self._entries[url] = entry
                self.builds += 1
            return entry
        finally:
            lock.release()


class ResultCache:
    """A small LRU of computed results; one computation per key at a time.

    Forecasts and allocations take seconds; keyed by a workspace fingerprint and the
    options, a repeated request is answered from memory and a changed input misses.
    """

    def __init__(self, size: int = 8) -> None:
        self.size = size
        self.computed = 0
        self._items: OrderedDict[Hashable, Any] = OrderedDict()
        self._locks: dict[Hashable, threading.Lock] = {}
        self._guard = threading.Lock()

    def peek(self, key: Hashable) -> Any:
        """The cached value of ``key``, or ``None`` (never computes)."""
        with self._guard:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
            return None

    def get_or_compute(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        """The cached value of ``key``, computing it (once, whoever asks) if missing."""
        with self._guard:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            with self._guard:
                if key in self._items:
                    self._items.move_to_end(key)
                    return self._items[key]
            value = compute()
            with self._guard:
                self._items[key] = value
                self.computed += 1
                while len(self._items) > self.size:
                    self._items.popitem(last=False)
                self._locks.pop(key, None)
            return value


_STATE_GUARD = threading.Lock()


def _state_item(state: Any, name: str, make: Callable[[], Any]) -> Any:
    with _STATE_GUARD:
        if not hasattr(state, name):
            setattr(state, name, make())
        return getattr(state, name)


def constraint_cache(state: Any) -> ConstraintCache:
    """The app's constraint cache (``app.state.constraint_cache``), made on first use."""
    cache: ConstraintCache = _state_item(state, "constraint_cache", ConstraintCache)
    return cache


def result_cache(state: Any) -> ResultCache:
    """The app's LRU of forecast, allocation and exposure results."""
    cache: ResultCache = _state_item(state, "result_cache", ResultCache)
    return cache


def cached_constraint_layers(state: Any, workspace: Workspace, *,
                             max_age: float | None = None) -> CachedConstraints:
    """Constraint layers and rulebook of ``workspace``, built once per state of its inputs.

    Parameters
    ----------
    state
        ``app.state`` of the FastAPI app (``request.app.state``): the cache lives there.
    workspace
        The workspace of the request; entries are keyed by its URL.
    max_age
        Seconds a confirmed fingerprint is trusted (default: the cache's, 1 s); ``0``
        re-reads it now, e.g. before recording a check in a request's file.

    Returns
    -------
    CachedConstraints
        Hold its ``lock`` while checking against its ``layers``.
    """
    return constraint_cache(state).get(workspace, max_age=max_age)


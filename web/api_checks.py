"""Constraint checks over the API: one parcel or drawn polygon, or many parcels at once.

The request-test page draws the answer: the verdict and reasons of
:meth:`spatial.zoning.CheckResult.to_dict`, plus ``overlaps`` — one GeoJSON feature per
spatial reason and note, the part of the subject that reason covers — and ``subject``,
the checked geometry, all in EPSG:4326. The constraint layers come from the app's cache
(:func:`web.services.cached_constraint_layers`), so a check costs a parcel lookup through
the key index and the engine's work, not a rebuild of the layers.
"""

from __future__ import annotations

import io
import json
from collections import Counter
from collections.abc import Iterator
from typing import Any, Literal

import pandas as pd
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field
from shapely.geometry.base import BaseGeometry

from spatial.errors import Problem, ValidationError
from spatial.store import Workspace
from spatial.zoning import Proposal, check_parcels

from .api_geo import from_wgs84, geojson, polygon_from_geojson
from .services import (
    CachedConstraints,
    CheckAnswer,
    cached_constraint_layers,
    constraint_cache,
)

#: Rows of a batch answer serialised at a time.
BATCH_CHUNK = 5_000
#: Columns of the per-parcel verdict table of a batch.
BATCH_COLUMNS = (
    "cadastral_no", "verdict", "worst_regime", "n_reasons", "n_notes", "rule_ids",
    "prohibiting_rules", "area_m2", "max_prohibited_m2", "max_prohibited_share",
)


# --------------------------------------------------------------------------- models


class CheckRequest(BaseModel):
    """A parcel (``cadastral_no``) or a drawn polygon (``geometry``) and what is proposed.

    Give exactly one of ``cadastral_no`` and ``geometry``. Every other field is
    optional: no target checks the current use and category (compliance); a drawn
    polygon has no recorded use or category, so give ``current_use`` /
    ``current_category`` for it when a change of category is tested.
    """

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"cadastral_no": "4-08-01-0090-0002", "target_use": "commerce"},
        {"geometry": {"type": "Polygon", "coordinates": [[
            [70.5186, 39.8467], [70.5196, 39.8467], [70.5196, 39.8474],
            [70.5186, 39.8474], [70.5186, 39.8467]]]},
         "target_use": "individual_housing", "target_category": "settlement",
         "current_category": "agricultural"},
    ]})

    cadastral_no: str | None = Field(default=None, description="Parcel to check")
    geometry: dict[str, Any] | None = Field(
        default=None, description="GeoJSON Polygon or MultiPolygon in EPSG:4326 (lon, lat)"
    )
    target_use: str | None = Field(default=None, description="Proposed use code")
    target_category: str | None = Field(default=None, description="Proposed land category")
    current_use: str | None = Field(default=None, description="Overrides the recorded use")
    current_category: str | None = Field(
        default=None, description="Overrides the recorded land category"
    )
    floors: int | None = None
    height_m: float | None = None
    site_coverage: float | None = Field(default=None, description="Share built on, %")

    def proposal(self) -> Proposal:
        return Proposal(
            target_category=self.target_category, target_use=self.target_use,
            current_category=self.current_category, current_use=self.current_use,
            floors=self.floors, height_m=self.height_m, site_coverage=self.site_coverage,
        )


class ReasonOut(BaseModel):
    """One rule that fired (see :class:`spatial.zoning.Reason`)."""

    kind: str
    rule_id: str
    regime: Literal["permitted", "conditional", "prohibited"]
    message: str | dict[str, str]
    source: str
    layer: str | None = None
    feature_id: str | None = None
    feature_name: str | None = None
    overlap_m2: float | None = None
    overlap_share: float | None = Field(default=None, description="Percent of the subject")
    note: bool = False
    blocks_category: bool = False
    value: float | None = None
    limit: float | None = None
    authority: str | None = None


class RemainderOut(BaseModel):
    """The part no prohibition touches and the uses allowed there."""

    area_m2: float
    geometry: dict[str, Any] | None = Field(description="In the workspace CRS")
    geometry_wgs84: dict[str, Any] | None = Field(default=None, description="In EPSG:4326")
    allowed_uses: list[str]
    conditional_uses: list[str]


class OverlapProperties(BaseModel):
    rule_id: str
    layer: str
    feature_id: str | None
    feature_name: str | None
    regime: str
    overlap_m2: float | None
    overlap_share: float | None
    note: bool
    message: str


class OverlapFeature(BaseModel):
    type: Literal["Feature"] = "Feature"
    geometry: dict[str, Any] | None
    properties: OverlapProperties


class OverlapCollection(BaseModel):
    """One feature per spatial reason and note: the part of the subject it covers."""

    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[OverlapFeature]


class CheckResponse(BaseModel):
    """``CheckResult.to_dict(lang, wgs84=True)`` with the overlaps and the subject drawn."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "verdict": "prohibited", "worst_regime": "prohibited", "parcel": "4-08-01-0090-0002",
        "area_m2": 669.8, "proposal": {"target_use": "commerce"}, "use": "commerce",
        "category": "settlement",
        "reasons": [{"kind": "zoning", "rule_id": "zoning.residential_individual",
                     "regime": "prohibited", "message": "…", "source": "…",
                     "layer": "zones", "feature_id": "Z03", "overlap_m2": 669.8,
                     "overlap_share": 100.0}],
        "notes": [], "remainder": {"area_m2": 0.0, "geometry": None,
                                   "allowed_uses": [], "conditional_uses": []},
        "crs": "EPSG:32642", "rulebook": {"municipality": "default", "version": "1"},
        "overlaps": {"type": "FeatureCollection", "features": []},
        "subject": {"type": "Polygon", "coordinates": []},
    }]})

    verdict: Literal["allowed", "conditional", "prohibited"]
    worst_regime: str | None
    parcel: str | None
    area_m2: float
    proposal: dict[str, Any]
    use: str | None
    category: str | None
    reasons: list[ReasonOut]
    notes: list[ReasonOut]
    remainder: RemainderOut
    crs: str
    rulebook: dict[str, str]
    overlaps: OverlapCollection
    subject: dict[str, Any]


class BatchRequest(BaseModel):
    """Parcels to check against one proposal; no target at all checks compliance."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"cadastral_nos": None, "target_use": "individual_housing"},
        {"cadastral_nos": ["4-08-01-0090-0002", "4-08-01-0090-0003"],
         "target_use": "commerce", "target_category": None},
    ]})

    cadastral_nos: list[str] | None = Field(
        default=None, description="Parcels to check; null checks every parcel"
    )
    target_use: str | None = None
    target_category: str | None = None


class BatchRow(BaseModel):
    cadastral_no: str
    verdict: Literal["allowed", "conditional", "prohibited"]
    worst_regime: str | None
    n_reasons: int
    n_notes: int
    rule_ids: str = Field(description="Rules that fired, ';'-joined")
    prohibiting_rules: str
    area_m2: float
    max_prohibited_m2: float
    max_prohibited_share: float


class BatchResponse(BaseModel):
    """Per-parcel verdicts and how many parcels got each verdict."""

    parcels: int
    proposal: dict[str, Any] | None
    counts: dict[str, int]
    rules: dict[str, int]
    results: list[BatchRow]


# --------------------------------------------------------------------------- single


def _target(body: CheckRequest, workspace: Workspace) -> str | BaseGeometry:
    """The cadastral number, or the drawn polygon in the workspace CRS; problems named."""
    problems: list[Problem] = []
    if (body.cadastral_no is None) == (body.geometry is None):
        problems.append(Problem(
            "one_subject", "give exactly one of cadastral_no (a parcel) and geometry "
            "(a drawn polygon)", layer="request", column="cadastral_no",
        ))
    drawn = None
    if body.geometry is not None:
        drawn, found = polygon_from_geojson(body.geometry)
        problems += found
    if problems:
        raise ValidationError(problems)
    if body.cadastral_no is not None:
        return body.cadastral_no
    assert drawn is not None
    return from_wgs84(drawn, workspace.crs)


def answer_json(answer: CheckAnswer, lang: str) -> dict[str, Any]:
    """``CheckResult.to_dict(lang, wgs84=True)`` with ``overlaps`` and ``subject``.

    The geometries in EPSG:4326 (remainder, subject, overlaps) come transformed with
    the pass that checked them.
    """
    result = answer.result
    out = result.to_dict(lang)
    shapes = geojson(answer.wgs84)
    out["remainder"]["geometry_wgs84"] = shapes[0]
    features = [
        {"type": "Feature", "geometry": shape, "properties": {
            "rule_id": r.rule_id, "layer": r.layer, "feature_id": r.feature_id,
            "feature_name": r.feature_name, "regime": r.regime, "overlap_m2": r.overlap_m2,
            "overlap_share": r.overlap_share, "note": r.note, "message": r.message[lang],
        }}
        for r, shape in zip(answer.reasons, shapes[2:], strict=True)
    ]
    out["overlaps"] = {"type": "FeatureCollection", "features": features}
    out["subject"] = shapes[1]
    return out


def run_check(body: CheckRequest, workspace: Workspace, cached: CachedConstraints,
              lang: str) -> dict[str, Any]:
    """The answer of ``POST /api/checks`` (run together with concurrent checks)."""
    answer = cached.check(workspace, _target(body, workspace), body.proposal())
    return answer_json(answer, lang)


async def run_check_async(body: CheckRequest, workspace: Workspace, state: Any,
                          lang: str) -> dict[str, Any]:
    """:func:`run_check` for the event loop: no pool thread waits for the pass."""
    cached = constraint_cache(state).fresh(workspace.url)
    if cached is None:  # re-reading the fingerprint (or rebuilding) does I/O
        cached = await run_in_threadpool(cached_constraint_layers, state, workspace)
    target = _target(body, workspace)
    answer: dict[str, Any] = await cached.check_async(
        workspace, target, body.proposal(), finish=lambda a: answer_json(a, lang))
    return answer


# --------------------------------------------------------------------------- batch


def _parcels(workspace: Workspace, keys: list[str] | None) -> Any:
    columns = ["cadastral_no", "land_category", "designated_use"]
    if keys is None:
        return workspace.read_layer("parcels", columns=columns, include_personal=False)
    wanted = list(dict.fromkeys(keys))
    if not wanted:
        raise ValidationError([Problem(
            "no_parcels", "cadastral_nos is empty: list parcels, or send null for all",
            layer="request", column="cadastral_nos")])
    frame = workspace.read_layer("parcels", columns=columns, include_personal=False,
                                 where={"cadastral_no": wanted})
    missing = sorted(set(wanted) - set(frame["cadastral_no"]))
    if missing:
        raise ValidationError([
            Problem("unknown_parcel", f"no parcel with cadastral number {key!r}",
                    layer="parcels", feature=key, column="cadastral_nos")
            for key in missing
        ])
    return frame.reset_index(drop=True)


def run_batch(body: BatchRequest, workspace: Workspace, cached: CachedConstraints, *,
              n_jobs: int = 2) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The verdict table of ``POST /api/checks/batch`` and its summary."""
    parcels = _parcels(workspace, body.cadastral_nos)
    proposal = (Proposal(target_use=body.target_use, target_category=body.target_category)
                if body.target_use is not None or body.target_category is not None else None)
    with cached.lock:
        result = check_parcels(parcels, proposal, cached.layers, cached.rulebook,
                               n_jobs=n_jobs)
    table = result.table.reset_index(drop=True)[list(BATCH_COLUMNS)]
    rules = Counter(rule for ids in table["rule_ids"].fillna("") for rule in str(ids).split(";")
                    if rule)
    summary = {
        "parcels": len(table),
        "proposal": None if proposal is None else {"target_use": body.target_use,
                                                   "target_category": body.target_category},
        "counts": {k: int(v) for k, v in table["verdict"].value_counts().items()},
        "rules": dict(rules.most_common()),
    }
    return table, summary


def _chunks(table: pd.DataFrame) -> Iterator[pd.DataFrame]:
    for start in range(0, len(table), BATCH_CHUNK):
        yield table.iloc[start:start + BATCH_CHUNK]


def batch_json(table: pd.DataFrame, summary: dict[str, Any]) -> Iterator[bytes]:
    """The batch answer as JSON, serialised a chunk of rows at a time."""
    head = json.dumps(summary, ensure_ascii=False)
    yield (head[:-1] + ', "results": [').encode()
    first = True
    for chunk in _chunks(table):
        rows = chunk.to_json(orient="records", force_ascii=False, double_precision=10)
        if rows == "[]":
            continue
        yield ((b"" if first else b",") + rows[1:-1].encode())
        first = False
    yield b"]}"


def batch_csv(table: pd.DataFrame) -> Iterator[bytes]:
    """The verdict table as UTF-8 CSV (with BOM, so spreadsheets show Cyrillic)."""
    yield "\ufeff".encode()
    for i, chunk in enumerate(_chunks(table)):
        buffer = io.StringIO()
        chunk.to_csv(buffer, index=False, header=i == 0)
        yield buffer.getvalue().encode()
    if table.empty:
        yield (",".join(BATCH_COLUMNS) + "\n").encode()

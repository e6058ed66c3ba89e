"""JSON API for imports, exports, checks, hazard exposure, demand, capacity and allocation.

Thin routes: the work is in :mod:`web.api_io`, :mod:`web.api_checks` and
:mod:`web.api_planning`, over the helpers the CLI uses (:mod:`web.services`). Who may
call what is the permission table of :mod:`web.auth`; see ``docs/web-api.md``.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, StreamingResponse
from starlette.background import BackgroundTask

from .. import api_planning
from ..api_checks import (
    BatchRequest,
    BatchResponse,
    CheckRequest,
    CheckResponse,
    batch_csv,
    batch_json,
    run_batch,
    run_check_async,
)
from ..api_geo import API_HEADERS, APIResponse
from ..api_io import (
    EXPORT_FORMATS,
    ExportFormat,
    ImportResult,
    export_layer,
    import_upload,
    read_upload,
    upload_guard,
)
from ..api_planning import (
    AllocationResponse,
    CapacityResponse,
    DemandRequest,
    DemandResponse,
    ExposureResponse,
    PlanRequest,
)
from ..auth import CurrentUser, User, require
from ..deps import LangDep, SettingsDep, WorkspaceDep
from ..errors import TooLargeError
from ..services import (
    cached_constraint_layers,
    constraint_cache,
    result_cache,
    schema_layer_names,
)

router = APIRouter(prefix="/api")

EditorDep = Annotated[User, Depends(require("edit_inventory"))]
CheckerDep = Annotated[User, Depends(require("run_checks"))]
ForecasterDep = Annotated[User, Depends(require("run_forecasts"))]

_PROBLEMS = {"description": "Every problem found, each named (`problems`)"}
_SIGN_IN = {"description": "Not signed in"}
_FORBIDDEN = {"description": "The role lacks the permission"}
_AUTH: dict[int | str, dict[str, Any]] = {401: _SIGN_IN, 403: _FORBIDDEN}

_IMPORT_BODY = {"requestBody": {"required": True, "content": {"multipart/form-data": {
    "schema": {
        "type": "object", "required": ["file", "layer"],
        "properties": {
            "file": {"type": "string", "format": "binary",
                     "description": "GeoPackage, GeoJSON, zipped Shapefile, CSV with WKT or KML"},
            "layer": {"type": "string", "enum": schema_layer_names(),
                      "description": "Target layer of the data model"},
            "mapping": {"type": "string", "format": "binary",
                        "description": "Column-mapping file (YAML or JSON) for other headers"},
            "mode": {"type": "string", "enum": ["append", "replace"], "default": "append"},
            "valid_only": {"type": "boolean", "default": False,
                           "description": "Import the valid rows and skip the others"},
            "crs": {"type": "string", "description": "CRS of the file when it states none"},
            "source_layer": {"type": "string", "description": "Layer inside the file"},
            "encoding": {"type": "string", "description": "Text encoding (default .cpg, "
                                                          "cp1251)"},
        },
    },
}}}}


@router.post(
    "/imports", tags=["inventory"], response_model=ImportResult,
    dependencies=[Depends(upload_guard)], openapi_extra=_IMPORT_BODY,
    responses={**_AUTH, 400: {"description": "The file cannot be read"},
               413: {"description": "Over JER_MAX_UPLOAD_MB or JER_MAX_IMPORT_FEATURES"},
               422: _PROBLEMS},
)
async def post_import(request: Request, workspace: WorkspaceDep, settings: SettingsDep,
                      user: EditorDep) -> APIResponse:
    """Import a layer file atomically: an invalid row refuses the whole file (unless
    ``valid_only``), and nothing is written. Needs ``edit_inventory``."""
    with tempfile.TemporaryDirectory(prefix="jer-upload-") as folder:
        upload = await read_upload(request, max_bytes=settings.max_upload_mb * 1024 * 1024,
                                   folder=Path(folder))
        result = await run_in_threadpool(import_upload, workspace, upload, user=user,
                                         max_features=settings.max_import_features)
    constraint_cache(request.app.state).invalidate(workspace.url)
    return APIResponse(result)


@router.get(
    "/exports/{layer}", tags=["inventory"], response_class=FileResponse,
    responses={200: {"description": "The layer file (Content-Disposition names it)",
                     "content": {media: {} for _, _, media in EXPORT_FORMATS.values()}},
               403: {"description": "Not published, and nobody signed in"},
               404: {"description": "No such layer"}},
)
def get_export(
    layer: str, workspace: WorkspaceDep, user: CurrentUser, lang: LangDep,
    format: Annotated[ExportFormat, Query(description="File format")] = "gpkg",
    labels: Annotated[bool, Query(description="Codes as labels in the language")] = False,
) -> FileResponse:
    """A layer as a file; personal columns only for ``read_personal``, and the public
    only published layers."""
    path, filename, media = export_layer(workspace, layer, format, user=user,
                                         labels_lang=lang if labels else None)
    return FileResponse(path, media_type=media, filename=filename, headers=API_HEADERS,
                        background=BackgroundTask(shutil.rmtree, path.parent,
                                                  ignore_errors=True))


_LANG_PARAMETER = {"parameters": [{
    "name": "lang", "in": "query", "required": False,
    "schema": {"type": "string", "enum": ["ky", "ru", "en"]},
    "description": "Language of the messages; default: the language cookie, then "
                   "Accept-Language, then Kyrgyz",
}]}


@router.post("/checks", tags=["checks"], response_model=CheckResponse,
             openapi_extra=_LANG_PARAMETER,
             responses={**_AUTH, 404: {"description": "No such parcel"}, 422: _PROBLEMS})
async def post_check(body: CheckRequest, request: Request, workspace: WorkspaceDep,
                     lang: LangDep, user: CheckerDep) -> APIResponse:
    """Check a parcel or a drawn polygon against zoning and every restriction."""
    return APIResponse(await run_check_async(body, workspace, request.app.state, lang))


@router.post("/checks/batch", tags=["checks"], response_model=BatchResponse,
             responses={**_AUTH, 200: {"content": {"text/csv": {}}}, 413: {
                 "description": "More cadastral numbers than JER_MAX_IMPORT_FEATURES"},
                 422: _PROBLEMS})
def post_batch(
    body: BatchRequest, request: Request, workspace: WorkspaceDep, settings: SettingsDep,
    user: CheckerDep, format: Annotated[Literal["json", "csv"], Query()] = "json",
) -> StreamingResponse:
    """Verdicts of many parcels (all when ``cadastral_nos`` is null) for one proposal."""
    if body.cadastral_nos is not None and len(body.cadastral_nos) > settings.max_import_features:
        raise TooLargeError(f"{len(body.cadastral_nos):,} cadastral numbers; the limit is "
                            f"{settings.max_import_features:,} (send null to check all)")
    cached = cached_constraint_layers(request.app.state, workspace)
    table, summary = run_batch(body, workspace, cached)
    if format == "csv":
        return StreamingResponse(batch_csv(table), media_type="text/csv; charset=utf-8", headers={
            **API_HEADERS, "Content-Disposition": 'attachment; filename="checks.csv"'})
    return StreamingResponse(batch_json(table, summary), media_type="application/json",
                             headers=API_HEADERS)


@router.get("/hazards/exposure", tags=["hazards"], response_model=ExposureResponse,
            responses=_AUTH)
def get_exposure(request: Request, workspace: WorkspaceDep, user: CheckerDep) -> APIResponse:
    """Exposure by hazard type and class, by settlement, and relocation candidates."""
    return APIResponse(api_planning.exposure(workspace, result_cache(request.app.state)))


@router.post("/demand", tags=["planning"], response_model=DemandResponse,
             responses={**_AUTH, 400: {"description": "No population series"}, 422: _PROBLEMS})
def post_demand(body: DemandRequest, request: Request, workspace: WorkspaceDep,
                settings: SettingsDep, user: ForecasterDep) -> APIResponse:
    """Population projection and land demand (``jer demand project``)."""
    return APIResponse(api_planning.demand(workspace, settings, body,
                                           result_cache(request.app.state)))


@router.post("/capacity", tags=["planning"], response_model=CapacityResponse,
             responses={**_AUTH, 400: {"description": "No population series"}, 422: _PROBLEMS})
def post_capacity(body: PlanRequest, request: Request, workspace: WorkspaceDep,
                  settings: SettingsDep, user: ForecasterDep) -> APIResponse:
    """Land demand against developable capacity (``jer demand balance``)."""
    return APIResponse(api_planning.capacity(workspace, settings, body,
                                             result_cache(request.app.state)))


@router.post("/allocation", tags=["planning"], response_model=AllocationResponse,
             responses={**_AUTH, 400: {"description": "No population series"}, 422: _PROBLEMS})
def post_allocation(body: PlanRequest, request: Request, workspace: WorkspaceDep,
                    settings: SettingsDep, user: ForecasterDep) -> APIResponse:
    """Demand placed on parcels, unmet demand and draft requests (``jer allocate``)."""
    return APIResponse(api_planning.allocation(workspace, settings, body,
                                               result_cache(request.app.state)))

"""OGC API - Features (Parts 1, 2, 3 queryables and 4) under ``/ogc``.

Thin routes over :mod:`web.ogc`, which builds the documents, pages and edits. The
service describes itself in OpenAPI 3.0 at ``/ogc/api`` (its ``service-desc``), so its
routes are left out of the app's own OpenAPI 3.1 document.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from spatial import __version__

from .. import ogc
from ..auth import CurrentUser, User, require
from ..deps import LangDep, WorkspaceDep

router = APIRouter(prefix="/ogc", tags=["ogc"], include_in_schema=False)

EditorDep = Annotated[User, Depends(require("edit_inventory"))]
#: Responses differ by caller (collections, columns, Allow), so caches key on credentials.
_HEADERS = {"X-Content-Type-Options": "nosniff", "Vary": "Authorization, Cookie"}


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/ogc"


def _json(document: Any, media_type: str = ogc.JSON,
          headers: Mapping[str, str] | None = None, status_code: int = 200) -> Response:
    body = json.dumps(document, ensure_ascii=False).encode("utf-8")
    return Response(body, status_code=status_code, media_type=media_type,
                    headers={**_HEADERS, **(headers or {})})


def _feature(feature: ogc.Feature, status_code: int = 200,
             headers: Mapping[str, str] | None = None) -> Response:
    return Response(feature.body, status_code=status_code, media_type=ogc.GEOJSON,
                    headers={**_HEADERS, "Content-Crs": f"<{feature.crs.uri}>",
                             "ETag": feature.etag, **(headers or {})})


@router.get("")
@router.get("/")
def landing(request: Request, workspace: WorkspaceDep, user: CurrentUser,
            lang: LangDep) -> Response:
    """Landing page: links to the API description, conformance and collections."""
    return _json(ogc.landing_document(workspace, _base(request), user, lang=lang))


@router.get("/conformance")
def conformance() -> Response:
    return _json(ogc.conformance_document())


@router.get("/api")
def api(request: Request) -> Response:
    """The OpenAPI 3.0 description of the service."""
    return _json(ogc.openapi_document(_base(request), version=__version__),
                 media_type=ogc.OPENAPI_30)


@router.get("/collections")
def collections(request: Request, workspace: WorkspaceDep, user: CurrentUser,
                lang: LangDep) -> Response:
    return _json(ogc.collections_document(workspace, _base(request), user, lang=lang))


@router.get("/collections/{collection_id}")
def collection(collection_id: str, request: Request, workspace: WorkspaceDep,
               user: CurrentUser, lang: LangDep) -> Response:
    return _json(ogc.collection_document(workspace, collection_id, _base(request), user,
                                         lang=lang))


@router.get("/collections/{collection_id}/queryables")
def queryables(collection_id: str, request: Request, workspace: WorkspaceDep,
               user: CurrentUser, lang: LangDep) -> Response:
    return _json(ogc.queryables_document(workspace, collection_id, _base(request), user,
                                         lang=lang), media_type=ogc.SCHEMA_JSON)


@router.get("/collections/{collection_id}/items")
def items(collection_id: str, request: Request, workspace: WorkspaceDep,
          user: CurrentUser) -> Response:
    """A page of features in fid order, with numberMatched and next/prev links."""
    page = ogc.items_page(workspace, collection_id, dict(request.query_params),
                          base=_base(request), user=user)
    return Response(page.body, media_type=ogc.GEOJSON,
                    headers={**_HEADERS, "Content-Crs": f"<{page.crs.uri}>"})


@router.options("/collections/{collection_id}/items")
def items_options(collection_id: str, workspace: WorkspaceDep, user: CurrentUser) -> Response:
    """``Allow`` lists POST only for callers who may create features here."""
    methods = ogc.allowed_methods(workspace, collection_id, user, item=False)
    return Response(status_code=204, headers={**_HEADERS, "Allow": ", ".join(methods)})


@router.post("/collections/{collection_id}/items", status_code=201)
async def create(collection_id: str, request: Request, workspace: WorkspaceDep,
                 user: EditorDep) -> Response:
    """Create a parcel from a GeoJSON Feature (geometry in ``Content-Crs``, default CRS84)."""
    source = ogc.parse_crs(request.headers.get("content-crs"), workspace,
                           parameter="Content-Crs")
    raw = await request.body()
    base = _base(request)
    fid, feature = await run_in_threadpool(ogc.create_feature, workspace, collection_id, raw,
                                           source=source, base=base, user=user)
    return _feature(feature, status_code=201,
                    headers={"Location": f"{base}/collections/{collection_id}/items/{fid}"})


@router.get("/collections/{collection_id}/items/{feature_id}")
def item(collection_id: str, feature_id: str, request: Request, workspace: WorkspaceDep,
         user: CurrentUser) -> Response:
    """One feature with ``ETag`` (the row version of a parcel)."""
    return _feature(ogc.feature_document(workspace, collection_id, feature_id,
                                         dict(request.query_params), base=_base(request),
                                         user=user))


@router.options("/collections/{collection_id}/items/{feature_id}")
def item_options(collection_id: str, feature_id: str, workspace: WorkspaceDep,
                 user: CurrentUser) -> Response:
    """``Allow`` lists PUT and DELETE only for callers who may edit this feature."""
    methods = ogc.allowed_methods(workspace, collection_id, user, item=True)
    return Response(status_code=204, headers={**_HEADERS, "Allow": ", ".join(methods)})


@router.put("/collections/{collection_id}/items/{feature_id}")
async def replace(collection_id: str, feature_id: str, request: Request,
                  workspace: WorkspaceDep, user: EditorDep,
                  if_match: Annotated[str | None, Header()] = None) -> Response:
    """Replace a parcel; it must carry the ``row_version`` it was read at (412 if stale)."""
    source = ogc.parse_crs(request.headers.get("content-crs"), workspace,
                           parameter="Content-Crs")
    raw = await request.body()
    feature = await run_in_threadpool(ogc.replace_feature, workspace, collection_id,
                                      feature_id, raw, source=source, if_match=if_match,
                                      base=_base(request), user=user)
    return _feature(feature)


@router.delete("/collections/{collection_id}/items/{feature_id}", status_code=204)
async def delete(collection_id: str, feature_id: str, workspace: WorkspaceDep,
                 user: EditorDep,
                 if_match: Annotated[str | None, Header()] = None) -> Response:
    """Delete a parcel (``If-Match`` checked when sent); the history keeps it."""
    await run_in_threadpool(ogc.delete_feature, workspace, collection_id, feature_id,
                            if_match=if_match, user=user)
    return Response(status_code=204, headers=_HEADERS)

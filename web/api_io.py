"""Uploads (imports) and downloads (exports) of layer files over the API.

An upload is read from the request stream by this module, not by FastAPI's form
handling, so the size limit (``JER_MAX_UPLOAD_MB``) holds *while* the body arrives: a
request announcing more is refused before one byte is read, a chunked one as soon as it
passes the limit. Only then is the file read (any format of :mod:`spatial.io`), capped
in features (``JER_MAX_IMPORT_FEATURES``), validated and written in one transaction by
:meth:`spatial.store.Workspace.import_layer` — a failing import changes nothing.

Exports leave out every personal column unless the caller may read personal data, and
the public may download only published layers (:func:`web.services.layer_published`).
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from fastapi import HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from spatial.errors import (
    InputError,
    NotFoundError,
    PermissionDeniedError,
    Problem,
    ValidationError,
)
from spatial.io import FORMATS, read_layer_file, write_layer_file
from spatial.schema import layer_schema
from spatial.store import Workspace

from .auth import CSRF_HEADER, SESSION_COOKIE, User
from .deps import SettingsDep
from .errors import TooLargeError
from .services import layer_published, personal_columns, schema_layer_names

#: Form fields of an upload besides the file itself.
UPLOAD_FIELDS = ("layer", "mode", "valid_only", "crs", "source_layer", "encoding")
#: Extensions a saved upload may keep (format detection reads them).
_READABLE = {ext for fmt in FORMATS.values() if fmt.readable for ext in fmt.extensions}
_MAPPING_SUFFIXES = (".yaml", ".yml", ".json")
_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off", "")

#: Export formats: query value -> (format name of spatial.io, file extension, media type).
EXPORT_FORMATS: dict[str, tuple[str, str, str]] = {
    "gpkg": ("gpkg", ".gpkg", "application/geopackage+sqlite3"),
    "geojson": ("geojson", ".geojson", "application/geo+json"),
    "shp": ("shapefile_zip", ".zip", "application/zip"),
    "csv": ("csv", ".csv", "text/csv; charset=utf-8"),
    "xlsx": ("xlsx", ".xlsx",
             "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
}
ExportFormat = Literal["gpkg", "geojson", "shp", "csv", "xlsx"]


# --------------------------------------------------------------------------- models


class ImportSource(BaseModel):
    """How the file was read."""

    format: str | None = None
    source_layer: str | None = None
    encoding: str | None = None
    crs: str | None = None
    crs_from: str | None = None
    renamed: dict[str, str] = Field(default_factory=dict)


class ImportResult(BaseModel):
    """What an import wrote and every problem it found (warnings; skipped rows' errors)."""

    model_config = {"json_schema_extra": {"examples": [{
        "layer": "parcels", "mode": "append", "valid_only": False, "features_read": 120,
        "imported": 120, "skipped": 0, "errors": 0, "warnings": 1,
        "problems": [{"code": "area_mismatch", "severity": "warning", "layer": "parcels",
                      "row": 7, "feature": "4-08-01-0099-0007", "column": "official_area_ha",
                      "message": "official area differs from the computed area by 6 %"}],
        "source": {"format": "geojson", "crs": "EPSG:4326", "crs_from": "file"},
    }]}}

    layer: str
    mode: Literal["append", "replace"]
    valid_only: bool
    features_read: int
    imported: int
    skipped: int
    errors: int
    warnings: int
    problems: list[dict[str, Any]]
    source: ImportSource


# --------------------------------------------------------------------------- upload


def upload_guard(request: Request, settings: SettingsDep) -> None:
    """Refuse an upload before authentication reads its body.

    A declared ``Content-Length`` over the limit is refused at once (413). A browser
    session must send its CSRF token in the ``X-CSRF-Token`` header: looking for it in
    the form would read the whole body before the limit applies.
    """
    limit = settings.max_upload_mb * 1024 * 1024
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise TooLargeError(
            f"the upload is {int(declared) / 1048576:.1f} MB; the limit is "
            f"{settings.max_upload_mb} MB (JER_MAX_UPLOAD_MB)"
        )
    if ("authorization" not in request.headers and SESSION_COOKIE in request.cookies
            and CSRF_HEADER.lower() not in request.headers):
        raise HTTPException(403, detail=f"uploads from a browser session need the session's "
                                        f"CSRF token in the {CSRF_HEADER} header")


@dataclass
class Upload:
    """An upload saved to a folder: the layer file, an optional mapping, the fields."""

    file: Path
    mapping: Path | None
    fields: dict[str, str] = field(default_factory=dict)


def _saved_name(upload: UploadFile, stem: str, allowed: set[str] | tuple[str, ...]) -> str:
    suffix = Path(upload.filename or "").suffix.lower()
    return stem + (suffix if suffix in allowed else "")


async def read_upload(request: Request, *, max_bytes: int, folder: Path) -> Upload:
    """Parse a multipart upload from the request stream, stopping at ``max_bytes``.

    Raises
    ------
    TooLargeError
        As soon as more than ``max_bytes`` arrived.
    ValidationError
        Missing file, unknown or repeated fields, each named.
    """
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        raise InputError("send the layer file as multipart/form-data (field 'file', with "
                         "'layer' and optional 'mapping', 'mode', 'valid_only')")
    received = 0

    async def limited() -> Any:
        nonlocal received
        async for chunk in request.stream():
            received += len(chunk)
            if received > max_bytes:
                raise TooLargeError(
                    f"the upload passed the limit of {max_bytes // 1048576} MB "
                    f"(JER_MAX_UPLOAD_MB); nothing was imported"
                )
            yield chunk

    parser = MultiPartParser(request.headers, limited(), max_files=2,
                             max_fields=len(UPLOAD_FIELDS) + 1)
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise InputError(f"the upload is not readable multipart form data: {exc.message}"
                         ) from exc
    problems: list[Problem] = []
    fields: dict[str, str] = {}
    files: dict[str, UploadFile] = {}
    try:
        for name, value in form.multi_items():
            if name in fields or name in files:
                problems.append(Problem("repeated_field", f"form field {name!r} is given twice",
                                        layer="request", column=name))
            elif isinstance(value, UploadFile):
                if name not in ("file", "mapping"):
                    problems.append(Problem("unknown_field", f"unexpected file field {name!r}; "
                                            f"send the layer as 'file', a mapping as 'mapping'",
                                            layer="request", column=name))
                files[name] = value
            elif name == "csrf_token":
                continue
            elif name not in UPLOAD_FIELDS:
                problems.append(Problem("unknown_field", f"unknown form field {name!r}; known: "
                                        f"file, mapping, {', '.join(UPLOAD_FIELDS)}",
                                        layer="request", column=name))
            else:
                fields[name] = value
        if "file" not in files:
            problems.append(Problem("missing_file", "the form has no 'file' field with the "
                                    "layer file", layer="request", column="file"))
        if problems:
            raise ValidationError(problems)
        target = folder / _saved_name(files["file"], "upload", tuple(_READABLE))
        await run_in_threadpool(_copy, files["file"], target)
        mapping = None
        if "mapping" in files:
            mapping = folder / _saved_name(files["mapping"], "mapping", _MAPPING_SUFFIXES)
            if mapping.suffix not in _MAPPING_SUFFIXES:
                mapping = mapping.with_suffix(".yaml")
            await run_in_threadpool(_copy, files["mapping"], mapping)
        return Upload(file=target, mapping=mapping, fields=fields)
    finally:
        await form.close()


def _copy(upload: UploadFile, target: Path) -> None:
    upload.file.seek(0)
    with target.open("wb") as out:
        shutil.copyfileobj(upload.file, out, length=1024 * 1024)


@dataclass(frozen=True)
class ImportOptions:
    """The form fields of an upload, checked."""

    layer: str
    mode: Literal["append", "replace"]
    valid_only: bool
    crs: str | None
    source_layer: str | None
    encoding: str | None

    @classmethod
    def from_fields(cls, fields: dict[str, str]) -> ImportOptions:
        problems: list[Problem] = []
        layer = fields.get("layer", "").strip()
        known = schema_layer_names()
        if layer not in known:
            problems.append(Problem(
                "unknown_layer", f"layer {layer!r} is not a layer of the data model; "
                f"known: {', '.join(known)}" if layer else
                f"the form needs a 'layer' field: one of {', '.join(known)}",
                layer="request", column="layer",
            ))
        mode = fields.get("mode", "append").strip() or "append"
        if mode not in ("append", "replace"):
            problems.append(Problem("bad_value", f"mode must be 'append' or 'replace', not "
                                    f"{mode!r}", layer="request", column="mode"))
        flag = fields.get("valid_only", "false").strip().lower()
        if flag not in _TRUE + _FALSE:
            problems.append(Problem("bad_value", f"valid_only must be true or false, not "
                                    f"{flag!r}", layer="request", column="valid_only"))
        if problems:
            raise ValidationError(problems)
        return cls(
            layer=layer, mode="replace" if mode == "replace" else "append",
            valid_only=flag in _TRUE,
            crs=fields.get("crs") or None, source_layer=fields.get("source_layer") or None,
            encoding=fields.get("encoding") or None,
        )


def import_upload(workspace: Workspace, upload: Upload, *, user: User,
                  max_features: int) -> dict[str, Any]:
    """Read, cap, validate and write an upload in one transaction; the import report."""
    options = ImportOptions.from_fields(upload.fields)
    frame = read_layer_file(
        upload.file, layer=options.layer, source_layer=options.source_layer,
        mapping=upload.mapping, crs=options.crs, encoding=options.encoding,
    )
    if len(frame) > max_features:
        raise TooLargeError(
            f"the file holds {len(frame):,} features; the limit is {max_features:,} "
            f"(JER_MAX_IMPORT_FEATURES); nothing was imported"
        )
    report = workspace.import_layer(options.layer, frame, user=user.name, mode=options.mode,
                                    valid_only=options.valid_only)
    info = dict(frame.attrs.get("jer_import", {}))
    source = ImportSource(
        format=info.get("format"), source_layer=info.get("source_layer"),
        encoding=info.get("encoding"), crs=info.get("crs"), crs_from=info.get("crs_from"),
        renamed={str(k): str(v) for k, v in dict(info.get("renamed") or {}).items()},
    )
    problems = [p.to_dict() for p in report.problems]
    result = ImportResult(
        layer=options.layer, mode=options.mode, valid_only=options.valid_only,
        features_read=len(frame), imported=report.imported, skipped=report.skipped,
        errors=sum(p["severity"] == "error" for p in problems),
        warnings=sum(p["severity"] == "warning" for p in problems),
        problems=problems, source=source,
    )
    return result.model_dump(mode="json")


# --------------------------------------------------------------------------- export


def export_layer(workspace: Workspace, layer: str, fmt: ExportFormat, *, user: User,
                 labels_lang: str | None = None) -> tuple[Path, str, str]:
    """Write ``layer`` as the caller may see it to a temporary file.

    Returns the file (in a temporary folder the caller removes), its download name and
    media type.

    Raises
    ------
    NotFoundError
        The workspace has no such layer.
    PermissionDeniedError
        Nobody signed in, and the layer is not published.
    """
    layer_schema(layer)  # unknown layers: the data model's error, naming the known ones
    if layer not in workspace.layers():
        raise NotFoundError(f"layer {layer!r} is not in this workspace")
    if user.username is None and not layer_published(workspace, layer):
        raise PermissionDeniedError(f"layer {layer!r} is not published; sign in to export it")
    personal = user.can("read_personal")
    frame = workspace.read_layer(layer, include_personal=personal)
    name, suffix, media = EXPORT_FORMATS[fmt]
    folder = Path(tempfile.mkdtemp(prefix="jer-export-"))
    try:
        path = write_layer_file(
            {layer: frame}, folder / f"{layer}{suffix}", format=name, labels_lang=labels_lang,
            drop_columns=() if personal else personal_columns(layer),
        )
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return path, f"{layer}{suffix}", media

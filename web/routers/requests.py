"""Land transformation requests: the JSON API under ``/api/requests`` and the pages.

Thin: the workflow's rules are the table of :mod:`spatial.requests.workflow`, storage is
:mod:`web.requests_service`, and what each reader sees is :mod:`web.requests_views`.
Reading needs no account (the public sees published requests, without personal data);
every write names its actor, and the table decides whether that actor may. Page forms
post back here and redirect (303) to the request; a refused step shows the page again
with the error, under the status the error table gives it.
"""

from __future__ import annotations

import io
import re
from typing import Annotated, Any, Literal
from urllib.parse import quote

import pandas as pd
from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from spatial.errors import InputError, JerError, NotFoundError
from spatial.requests import (
    ACTIONS,
    MAX_ATTACHMENT_BYTES,
    OPERATIONS,
    STAGES,
    STATUSES,
    StepInput,
    TransformationRequest,
    check_operation,
)
from spatial.schema import LANGS

from .. import requests_service as svc
from .. import requests_views as views
from ..app import TEMPLATES
from ..auth import CurrentUser, User, require
from ..deps import LangDep, SettingsDep, WorkspaceDep
from ..errors import TooLargeError, status_for
from ..i18n import LANG_COOKIE, t

router = APIRouter(tags=["requests"])
#: The HTML pages and their forms (not part of the API's OpenAPI document).
pages = APIRouter(tags=["pages"], include_in_schema=False)
Signed = Annotated[User, Depends(require("read_requests"))]
Creator = Annotated[User, Depends(require("create_requests"))]
#: Draft lists larger than this are refused (the allocation lists tens of parcels).
MAX_DRAFTS_BYTES = 5 * 1024 * 1024


# --------------------------------------------------------------------------- models


class CreateBody(BaseModel):
    """A new draft request."""

    cadastral_nos: list[str] = Field(min_length=1, max_length=500)
    target_category: str | None = None
    target_use: str | None = None
    justification: str = ""
    title: str = ""
    applicant_name: str | None = Field(default=None, description="Personal data")
    applicant_contact: str | None = Field(default=None, description="Personal data")
    applicant_kind: Literal["municipality", "person", "organisation"] = "municipality"


class EditBody(BaseModel):
    """Changes to a draft; ``expected_version`` refuses the edit if someone changed it."""

    cadastral_nos: list[str] | None = Field(default=None, max_length=500)
    target_category: str | None = None
    target_use: str | None = None
    justification: str | None = None
    title: str | None = None
    applicant_name: str | None = None
    applicant_contact: str | None = None
    applicant_kind: Literal["municipality", "person", "organisation"] | None = None
    expected_version: int | None = None


class StepBody(BaseModel):
    """Inputs of a workflow step; which are needed is in the transition table."""

    reason: str | None = None
    resolution_no: str | None = None
    resolution_date: str | None = Field(default=None, description="YYYY-MM-DD")
    authority: str | None = None
    reference_no: str | None = None
    decision_date: str | None = Field(default=None, description="YYYY-MM-DD")
    registration_no: str | None = None
    registration_date: str | None = Field(default=None, description="YYYY-MM-DD")
    override_reason: str | None = None
    expected_version: int | None = None


class CommentBody(BaseModel):
    """A public comment (pending moderation), or one minuted at the hearing by staff."""

    body: str = Field(max_length=svc.MAX_COMMENT_CHARS)
    name: str | None = Field(default=None, max_length=120,
                             description="Optional; never published")
    source: Literal["online", "hearing"] = "online"


class ModerationBody(BaseModel):
    decision: Literal["approved", "rejected"]


class AnswerBody(BaseModel):
    taken_up: bool
    answer: str = Field(max_length=svc.MAX_COMMENT_CHARS)


def _step(body: StepBody | dict[str, Any]) -> StepInput:
    data = body.model_dump() if isinstance(body, BaseModel) else dict(body)
    return StepInput(
        reason=data.get("reason"), resolution_no=data.get("resolution_no"),
        resolution_date=svc.parse_date(data.get("resolution_date"), "resolution_date"),
        authority=data.get("authority"), reference_no=data.get("reference_no"),
        decision_date=svc.parse_date(data.get("decision_date"), "decision_date"),
        registration_no=data.get("registration_no"),
        registration_date=svc.parse_date(data.get("registration_date"), "registration_date"),
        override_reason=data.get("override_reason"),
    )


def _json(content: Any, status_code: int = 200) -> JSONResponse:
    # The same URL answers differently by role: caches must key on the credentials.
    return JSONResponse(content, status_code=status_code,
                        headers={"Vary": "Authorization, Cookie",
                                 "X-Content-Type-Options": "nosniff"})


def _detail(workspace: Any, request: TransformationRequest, user: User) -> dict[str, Any]:
    stale = svc.stale_requests(workspace, [request])[request.id]
    checks = svc.checks_of(workspace, request.id)
    return views.request_json(
        request, user, stale=stale, check=checks[-1].result if checks else None,
        events=svc.events_of(workspace, request.id),
        comments=svc.comments_of(workspace, request.id),
    )


def _load(workspace: Any, rid: int, user: User) -> TransformationRequest:
    return views.visible(svc.get_request(workspace, rid), user)


# --------------------------------------------------------------------------- API


@router.get("/api/requests")
def api_list(
    workspace: WorkspaceDep, user: CurrentUser,
    status: Annotated[str | None, Query(description=f"One of {', '.join(STATUSES)}")] = None,
    stage: Annotated[str | None, Query(description=f"One of {', '.join(STAGES)}")] = None,
    settlement: Annotated[str | None, Query()] = None,
) -> JSONResponse:
    """Requests (the public sees published ones), newest first, with re-check flags."""
    _check_filters(status, stage)
    found = svc.list_requests(workspace, status=status, stage=stage, settlement=settlement,
                              published_only=not views.is_staff(user))
    stale = svc.stale_requests(workspace, found)
    return _json([views.request_json(r, user, stale=stale[r.id], detail=False) for r in found])


def _check_filters(status: str | None, stage: str | None) -> None:
    if status and status not in STATUSES:
        raise InputError(f"unknown status {status!r}; statuses are {', '.join(STATUSES)}")
    if stage and stage not in STAGES:
        raise InputError(f"unknown stage {stage!r}; stages are {', '.join(STAGES)}")


@router.post("/api/requests", status_code=201)
def api_create(body: CreateBody, workspace: WorkspaceDep, user: Creator) -> JSONResponse:
    """Create a draft request (stage 1) for parcels of the inventory."""
    created = svc.create_request(
        workspace, svc.actor_of(user), cadastral_nos=body.cadastral_nos,
        target_category=body.target_category, target_use=body.target_use,
        justification=body.justification, title=body.title,
        applicant_name=body.applicant_name, applicant_contact=body.applicant_contact,
        applicant_kind=body.applicant_kind,
    )
    response = _json(_detail(workspace, created, user), status_code=201)
    response.headers["Location"] = f"/api/requests/{created.id}"
    return response


@router.post("/api/requests/import-drafts", status_code=201)
def api_import_drafts(
    body: dict[str, Any] | list[dict[str, Any]], workspace: WorkspaceDep, user: Creator,
    per_parcel: bool = False,
) -> JSONResponse:
    """Draft requests from the allocation's list (``jer allocate --format json`` output)."""
    created = svc.import_drafts(workspace, svc.actor_of(user), svc.read_drafts(body),
                                per_parcel=per_parcel)
    return _json([views.request_json(r, user, detail=False) for r in created], 201)


@router.get("/api/requests/{rid}")
def api_get(rid: int, workspace: WorkspaceDep, user: CurrentUser) -> JSONResponse:
    """One request with its check, documents, decisions, comments and timeline."""
    return _json(_detail(workspace, _load(workspace, rid, user), user))


@router.patch("/api/requests/{rid}")
def api_edit(rid: int, body: EditBody, workspace: WorkspaceDep, user: Signed) -> JSONResponse:
    """Change a draft (its owner only)."""
    changes = body.model_dump(exclude_unset=True)
    expected = changes.pop("expected_version", None)
    updated = svc.update_draft(workspace, rid, svc.actor_of(user), changes,
                               expected_version=expected)
    return _json(_detail(workspace, updated, user))


@router.post("/api/requests/{rid}/actions/{action}")
def api_action(rid: int, action: str, body: StepBody, workspace: WorkspaceDep,
               user: Signed) -> JSONResponse:
    """Take a workflow step: ``submit``, ``accept``, ``council_approve`` … (see the table)."""
    updated, _ = svc.perform(workspace, rid, action, svc.actor_of(user), _step(body),
                             expected_version=body.expected_version)
    return _json(_detail(workspace, updated, user))


@router.post("/api/requests/{rid}/recheck")
def api_recheck(rid: int, workspace: WorkspaceDep, user: Signed) -> JSONResponse:
    """Run the constraint check again and store it with the request."""
    svc.recheck(workspace, rid, svc.actor_of(user))
    return _json(_detail(workspace, svc.get_request(workspace, rid), user))


def _read_upload(upload: UploadFile, limit: int) -> bytes:
    """The uploaded bytes, reading no more than ``limit`` + 1 (413 beyond the limit)."""
    content = upload.file.read(limit + 1)
    if len(content) > limit:
        raise TooLargeError(f"{upload.filename}: the file is larger than {limit:,} bytes")
    return content


@router.post("/api/requests/{rid}/documents", status_code=201)
def api_attach(rid: int, workspace: WorkspaceDep, user: Signed,
               kind: Annotated[str, Form()], file: Annotated[UploadFile, File()]) -> JSONResponse:
    """Attach a document (multipart: ``kind`` and ``file``); types and size are checked."""
    info = svc.attach_document(
        workspace, rid, svc.actor_of(user), kind=kind, filename=file.filename or "",
        content_type=file.content_type or "",
        content=_read_upload(file, MAX_ATTACHMENT_BYTES),
    )
    return _json({"id": info.id, "kind": info.kind, "filename": info.filename,
                  "size": info.size, "sha256": info.sha256}, 201)


@router.get("/api/requests/{rid}/documents/{did}")
def api_document(rid: int, did: int, workspace: WorkspaceDep, user: CurrentUser) -> Response:
    """A document's file, as a download; the public gets public kinds of published requests."""
    request = _load(workspace, rid, user)
    info, content = svc.document_content(workspace, request.id, did)
    if not views.is_staff(user) and not info.public:
        raise NotFoundError(f"request {rid} has no public document {did}")
    name = quote(info.filename)
    return Response(content, media_type=info.content_type, headers={
        "Content-Disposition": f"attachment; filename*=UTF-8''{name}",
        "X-Content-Type-Options": "nosniff", "Content-Security-Policy": "sandbox",
        "Vary": "Authorization, Cookie",
    })


@router.post("/api/requests/{rid}/comments", status_code=201)
def api_comment(rid: int, body: CommentBody, workspace: WorkspaceDep,
                user: CurrentUser) -> JSONResponse:
    """Comment on a published request under review (anyone; shown after moderation)."""
    _load(workspace, rid, user)
    comment = svc.add_comment(workspace, rid, svc.actor_of(user), body=body.body,
                              author_name=body.name, source=body.source)
    return _json({"id": comment.id, "status": comment.status}, 201)


@router.post("/api/requests/{rid}/comments/{cid}/moderation")
def api_moderate(rid: int, cid: int, body: ModerationBody, workspace: WorkspaceDep,
                 user: Signed) -> JSONResponse:
    """Approve (publish) or reject a comment."""
    comment = svc.moderate_comment(workspace, rid, cid, svc.actor_of(user),
                                   decision=body.decision)
    return _json({"id": comment.id, "status": comment.status})


@router.post("/api/requests/{rid}/comments/{cid}/answer")
def api_answer(rid: int, cid: int, body: AnswerBody, workspace: WorkspaceDep,
               user: Signed) -> JSONResponse:
    """Say whether an approved comment was taken up, and why."""
    comment = svc.answer_comment(workspace, rid, cid, svc.actor_of(user),
                                 taken_up=body.taken_up, answer=body.answer)
    return _json({"id": comment.id, "taken_up": comment.taken_up, "answer": comment.answer})


# --------------------------------------------------------------------------- pages


def _page(request: Request, user: User, template: str, context: dict[str, Any], lang: str,
          *, status_code: int = 200) -> HTMLResponse:
    response = TEMPLATES.TemplateResponse(
        request, template, {"lang": lang, "langs": LANGS, "user": user, **context},
        status_code=status_code,
    )
    if request.query_params.get("lang") in LANGS:
        response.set_cookie(LANG_COOKIE, lang, samesite="lax")
    return response


def _back(rid: int | None = None, **query: str) -> RedirectResponse:
    path = "/requests" if rid is None else f"/requests/{rid}"
    suffix = ("?" + "&".join(f"{k}={quote(v)}" for k, v in query.items())) if query else ""
    return RedirectResponse(path + suffix, status_code=303)


@pages.get("/requests", response_class=HTMLResponse)
def list_page(
    request: Request, workspace: WorkspaceDep, user: CurrentUser, lang: LangDep,
    status: str | None = None, stage: str | None = None, settlement: str | None = None,
    imported: int | None = None, error: str | None = None,
) -> HTMLResponse:
    """Requests with filters by status, stage and settlement."""
    status, stage, settlement = status or None, stage or None, settlement or None
    _check_filters(status, stage)
    found = svc.list_requests(workspace, status=status, stage=stage, settlement=settlement,
                              published_only=not views.is_staff(user))
    stale = svc.stale_requests(workspace, found)
    everything = svc.list_requests(workspace, published_only=not views.is_staff(user))
    labels = views.Labels(svc.References(workspace).rulebook, lang)
    return _page(request, user, "requests/list.html", {
        "requests": [views.request_json(r, user, stale=stale[r.id], detail=False)
                     for r in found],
        "labels": labels, "statuses": STATUSES, "stages": STAGES,
        "settlements": sorted({r.settlement for r in everything if r.settlement}),
        "filters": {"status": status, "stage": stage, "settlement": settlement},
        "imported": imported, "error": error,
    }, lang)


@pages.get("/requests/map", response_class=HTMLResponse)
def map_page(request: Request, workspace: WorkspaceDep, user: CurrentUser, lang: LangDep,
             settings: SettingsDep) -> HTMLResponse:
    """The requests on a map, coloured by stage."""
    found = svc.list_requests(workspace, published_only=not views.is_staff(user))
    refs = svc.References(workspace)
    page = views.requests_map(workspace, found, rulebook=refs.rulebook, lang=lang,
                              base_map=settings.base_map, title=t("requests_map_title", lang))
    return _page(request, user, "requests/map.html", {"page": page, "parts": page.parts()},
                 lang)


def _form_context(workspace: Any, lang: str) -> dict[str, Any]:
    rulebook = svc.References(workspace).rulebook
    return {"labels": views.Labels(rulebook, lang), "categories": rulebook.categories,
            "uses": list(rulebook.uses), "kinds": svc.APPLICANT_KINDS}


@pages.get("/requests/new", response_class=HTMLResponse)
def new_page(request: Request, workspace: WorkspaceDep, user: CurrentUser,
             lang: LangDep) -> HTMLResponse:
    """The form for a new draft (needs ``create_requests``)."""
    return _page(request, user, "requests/new.html", {
        **_form_context(workspace, lang), "allowed": user.can("create_requests"),
        "error": None, "values": {},
    }, lang, status_code=200 if user.can("create_requests") else
        (401 if user.username is None else 403))


def _keys(text: str) -> list[str]:
    return [k for k in re.split(r"[\s,;]+", text or "") if k]


@pages.post("/requests/new", response_class=HTMLResponse)
def new_submit(
    request: Request, workspace: WorkspaceDep, user: CurrentUser, lang: LangDep,
    cadastral_nos: Annotated[str, Form()] = "",
    target_category: Annotated[str, Form()] = "", target_use: Annotated[str, Form()] = "",
    justification: Annotated[str, Form()] = "", title: Annotated[str, Form()] = "",
    applicant_name: Annotated[str, Form()] = "", applicant_contact: Annotated[str, Form()] = "",
    applicant_kind: Annotated[str, Form()] = "municipality",
) -> Response:
    """Create the draft and go to it."""
    values = {"cadastral_nos": cadastral_nos, "target_category": target_category,
              "target_use": target_use, "justification": justification, "title": title,
              "applicant_name": applicant_name, "applicant_contact": applicant_contact,
              "applicant_kind": applicant_kind}
    try:
        created = svc.create_request(
            workspace, svc.actor_of(user), cadastral_nos=_keys(cadastral_nos),
            target_category=target_category or None, target_use=target_use or None,
            justification=justification, title=title, applicant_name=applicant_name or None,
            applicant_contact=applicant_contact or None, applicant_kind=applicant_kind,
        )
    except JerError as exc:
        return _page(request, user, "requests/new.html", {
            **_form_context(workspace, lang), "allowed": user.can("create_requests"),
            "error": str(exc), "values": values,
        }, lang, status_code=status_for(exc))
    return _back(created.id)


@pages.post("/requests/import-drafts", response_class=HTMLResponse)
def import_page(workspace: WorkspaceDep, user: CurrentUser,
                file: Annotated[UploadFile, File()]) -> Response:
    """Draft requests from an uploaded allocation list (JSON or CSV)."""
    try:
        created = svc.import_drafts(workspace, svc.actor_of(user),
                                    read_draft_file(file.filename or "",
                                                    _read_upload(file, MAX_DRAFTS_BYTES)))
    except JerError as exc:
        return _back(error=str(exc)[:500])
    return _back(imported=str(len(created)))


def read_draft_file(name: str, content: bytes) -> pd.DataFrame:
    """The draft list from a JSON (``jer allocate --format json``) or CSV file."""
    import json

    if name.lower().endswith(".csv"):
        try:
            return pd.read_csv(io.BytesIO(content), dtype=str)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InputError(f"{name}: not a readable CSV: {exc}") from exc
    try:
        data = json.loads(content.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"{name}: not JSON: {exc}") from exc
    return svc.read_drafts(data)


def _detail_page(request: Request, workspace: Any, user: User, lang: str, settings: Any,
                 rid: int, *, error: str | None = None, status_code: int = 200,
                 notice: str | None = None) -> HTMLResponse:
    found = _load(workspace, rid, user)
    refs = svc.References(workspace)
    data = _detail(workspace, found, user)
    checks = svc.checks_of(workspace, found.id)
    page = views.request_map(workspace, found, checks[-1].result if checks else None,
                             rulebook=refs.rulebook, lang=lang, base_map=settings.base_map)
    actor = svc.actor_of(user)

    def may(operation: str) -> bool:
        try:
            check_operation(found, operation, actor)
        except JerError:
            return False
        return True

    return _page(request, user, "requests/detail.html", {
        "r": data, "labels": views.Labels(refs.rulebook, lang), "parts": page.parts(),
        "page": page, "error": error, "notice": notice,
        "actions": [(a, views.action_fields(a), views.required_fields(a))
                    for a in data.get("allowed_actions", [])],
        "authorities": [a for a in refs.rulebook.authorities if a != "local_council"],
        "doc_kinds": views.document_kinds_for(user) if found.is_open else [],
        "may": {name: may(name) for name in OPERATIONS},
        "staff": views.is_staff(user), "personal": views.sees_personal(user),
        "categories": refs.rulebook.categories, "uses": list(refs.rulebook.uses),
        "applicant_kinds": svc.APPLICANT_KINDS,
    }, lang, status_code=status_code)


@pages.get("/requests/{rid}", response_class=HTMLResponse)
def detail_page(rid: int, request: Request, workspace: WorkspaceDep, user: CurrentUser,
                lang: LangDep, settings: SettingsDep, commented: int | None = None
                ) -> HTMLResponse:
    """A request: parcels on a map, check, documents, decisions, comments, timeline, and
    the forms of the steps the table lets this account take now."""
    notice = t("requests_comment_thanks", lang) if commented else None
    return _detail_page(request, workspace, user, lang, settings, rid, notice=notice)


def _guarded(request: Request, workspace: Any, user: User, lang: str, settings: Any,
             rid: int, work: Any, **query: str) -> Response:
    try:
        work()
    except JerError as exc:
        return _detail_page(request, workspace, user, lang, settings, rid, error=str(exc),
                            status_code=status_for(exc))
    return _back(rid, **query)


@pages.post("/requests/{rid}/action", response_class=HTMLResponse)
def action_form(
    rid: int, request: Request, workspace: WorkspaceDep, user: CurrentUser, lang: LangDep,
    settings: SettingsDep, action: Annotated[str, Form()],
    version: Annotated[int | None, Form()] = None,
    reason: Annotated[str, Form()] = "", resolution_no: Annotated[str, Form()] = "",
    resolution_date: Annotated[str, Form()] = "", authority: Annotated[str, Form()] = "",
    reference_no: Annotated[str, Form()] = "", decision_date: Annotated[str, Form()] = "",
    registration_no: Annotated[str, Form()] = "", registration_date: Annotated[str, Form()] = "",
    override_reason: Annotated[str, Form()] = "",
) -> Response:
    """A workflow step from the page's forms."""
    if action not in ACTIONS:
        raise InputError(f"unknown action {action!r}")
    fields = {"reason": reason, "resolution_no": resolution_no,
              "resolution_date": resolution_date, "authority": authority,
              "reference_no": reference_no, "decision_date": decision_date,
              "registration_no": registration_no, "registration_date": registration_date,
              "override_reason": override_reason}
    return _guarded(request, workspace, user, lang, settings, rid, lambda: svc.perform(
        workspace, rid, action, svc.actor_of(user),
        _step({k: (v or None) for k, v in fields.items()}), expected_version=version))


@pages.post("/requests/{rid}/edit", response_class=HTMLResponse)
def edit_form(
    rid: int, request: Request, workspace: WorkspaceDep, user: CurrentUser, lang: LangDep,
    settings: SettingsDep, version: Annotated[int | None, Form()] = None,
    cadastral_nos: Annotated[str, Form()] = "",
    target_category: Annotated[str, Form()] = "", target_use: Annotated[str, Form()] = "",
    justification: Annotated[str, Form()] = "", title: Annotated[str, Form()] = "",
) -> Response:
    """Change a draft from its page."""
    changes = {"cadastral_nos": _keys(cadastral_nos), "target_category": target_category or None,
               "target_use": target_use or None, "justification": justification,
               "title": title}
    return _guarded(request, workspace, user, lang, settings, rid, lambda: svc.update_draft(
        workspace, rid, svc.actor_of(user), changes, expected_version=version))


@pages.post("/requests/{rid}/recheck", response_class=HTMLResponse)
def recheck_form(rid: int, request: Request, workspace: WorkspaceDep, user: CurrentUser,
                 lang: LangDep, settings: SettingsDep) -> Response:
    return _guarded(request, workspace, user, lang, settings, rid,
                    lambda: svc.recheck(workspace, rid, svc.actor_of(user)))


@pages.post("/requests/{rid}/documents", response_class=HTMLResponse)
def attach_form(rid: int, request: Request, workspace: WorkspaceDep, user: CurrentUser,
                lang: LangDep, settings: SettingsDep, kind: Annotated[str, Form()],
                file: Annotated[UploadFile, File()]) -> Response:
    def work() -> None:
        svc.attach_document(workspace, rid, svc.actor_of(user), kind=kind,
                            filename=file.filename or "", content_type=file.content_type or "",
                            content=_read_upload(file, MAX_ATTACHMENT_BYTES))

    return _guarded(request, workspace, user, lang, settings, rid, work)


@pages.post("/requests/{rid}/comments", response_class=HTMLResponse)
def comment_form(rid: int, request: Request, workspace: WorkspaceDep, user: CurrentUser,
                 lang: LangDep, settings: SettingsDep, body: Annotated[str, Form()] = "",
                 name: Annotated[str, Form()] = "",
                 source: Annotated[str, Form()] = "online") -> Response:
    def work() -> None:
        _load(workspace, rid, user)
        svc.add_comment(workspace, rid, svc.actor_of(user), body=body, author_name=name or None,
                        source=source)

    return _guarded(request, workspace, user, lang, settings, rid, work,
                    **({"commented": "1"} if source == "online" else {}))


@pages.post("/requests/{rid}/comments/{cid}/moderate", response_class=HTMLResponse)
def moderate_form(rid: int, cid: int, request: Request, workspace: WorkspaceDep,
                  user: CurrentUser, lang: LangDep, settings: SettingsDep,
                  decision: Annotated[str, Form()]) -> Response:
    return _guarded(request, workspace, user, lang, settings, rid, lambda: svc.moderate_comment(
        workspace, rid, cid, svc.actor_of(user), decision=decision))


@pages.post("/requests/{rid}/comments/{cid}/answer", response_class=HTMLResponse)
def answer_form(rid: int, cid: int, request: Request, workspace: WorkspaceDep,
                user: CurrentUser, lang: LangDep, settings: SettingsDep,
                answer: Annotated[str, Form()] = "",
                taken_up: Annotated[str, Form()] = "no") -> Response:
    return _guarded(request, workspace, user, lang, settings, rid, lambda: svc.answer_comment(
        workspace, rid, cid, svc.actor_of(user), taken_up=taken_up == "yes", answer=answer))


@pages.get("/requests/{rid}/dossier", response_class=HTMLResponse)
def dossier_page(rid: int, request: Request, workspace: WorkspaceDep, user: CurrentUser,
                 lang: LangDep, settings: SettingsDep) -> HTMLResponse:
    """The printable dossier: map, check, documents, decisions, comments, timeline."""
    found = _load(workspace, rid, user)
    html = views.dossier_html(workspace, found, user, lang=lang, base_map=settings.base_map,
                              detail=_detail(workspace, found, user))
    return HTMLResponse(html, headers={"Vary": "Authorization, Cookie"})


router.include_router(pages)

"""Transformation requests in the workspace: the storage glue around ``spatial.requests``.

Requests, their parcels, documents (the bytes too), agency decisions, the audit trail,
check results and public comments live in plain workspace tables, so a GeoPackage
carries them to another office and a PostGIS server shares them, and every step shares
the workspace's transactions: a step's status change, its audit event, its check result
and — at registration — the parcels' new category and use commit together or not at all.

The rules are the domain's (:mod:`spatial.requests.workflow`); this module loads a
request, asks the table, runs the constraint check with the workspace's layers and
rulebook, and writes what :func:`spatial.requests.apply_step` returns.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cached_property
from typing import Any

import geopandas as gpd
import pandas as pd

from spatial.errors import (
    ConflictError,
    InputError,
    NotFoundError,
    PermissionDeniedError,
    WorkflowError,
)
from spatial.requests import (
    MAX_ATTACHMENT_BYTES,
    STATUS_STAGE,
    Actor,
    AgencyDecision,
    DocumentInfo,
    Event,
    GuardContext,
    Override,
    RequestCheck,
    RequestParcel,
    StepInput,
    TransformationRequest,
    apply_step,
    check_operation,
    check_request,
    group_drafts,
    is_stale,
    plan_step,
    reference_fingerprint,
    request_authorities,
    resolve_step,
    validate_attachment,
)
from spatial.store import Workspace
from spatial.zoning import ConstraintLayers, Rulebook

from .auth import User
from .services import CONSTRAINT_LAYERS, read_layers, resolve_rulebook, rulebook_stamp

REQUESTS = "transformation_requests"
PARCELS = "transformation_parcels"
DOCUMENTS = "transformation_documents"
#: Attachment bytes (base64) apart from their descriptions, so lists never read files.
DOCUMENT_CONTENT = "transformation_document_content"
EVENTS = "transformation_events"
CHECKS = "transformation_checks"
DECISIONS = "transformation_agency_decisions"
COMMENTS = "transformation_comments"

TABLES: Mapping[str, Mapping[str, str]] = {
    REQUESTS: {
        "number": "text", "title": "text", "status": "text", "stage": "text",
        "settlement": "text", "target_category": "text", "target_use": "text",
        "applicant_name": "text", "applicant_contact": "text", "applicant_kind": "text",
        "justification": "text", "justification_i18n": "json", "created_by": "text",
        "created_at": "timestamp", "submitted_by": "text", "submitted_at": "timestamp",
        "updated_at": "timestamp", "version": "integer", "council_resolution_no": "text",
        "council_resolution_date": "date", "registration_no": "text",
        "registration_date": "date", "published_at": "timestamp", "verdict": "text",
        "source": "text", "override": "json",
    },
    PARCELS: {
        "request_id": "integer", "position": "integer", "cadastral_no": "text",
        "fid": "integer", "current_category": "text", "current_use": "text",
        "area_ha": "real",
    },
    DOCUMENTS: {
        "request_id": "integer", "kind": "text", "filename": "text", "content_type": "text",
        "size": "integer", "sha256": "text", "uploaded_by": "text", "uploaded_at": "timestamp",
    },
    DOCUMENT_CONTENT: {"document_id": "integer", "content": "text"},
    EVENTS: {
        "request_id": "integer", "action": "text", "from_status": "text",
        "to_status": "text", "user_name": "text", "at": "timestamp", "reason": "text",
        "details": "json",
    },
    CHECKS: {
        "request_id": "integer", "at": "timestamp", "user_name": "text", "action": "text",
        "stage": "text", "verdict": "text", "fingerprint": "text", "result": "json",
    },
    DECISIONS: {
        "request_id": "integer", "authority": "text", "decision": "text",
        "reference_no": "text", "decision_date": "date", "note": "text",
        "recorded_by": "text", "recorded_at": "timestamp",
    },
    COMMENTS: {
        "request_id": "integer", "author_name": "text", "body": "text", "source": "text",
        "submitted_at": "timestamp", "status": "text", "moderated_by": "text",
        "moderated_at": "timestamp", "taken_up": "boolean", "answer": "text",
        "answered_by": "text", "answered_at": "timestamp",
    },
}
#: Applicant columns are personal data: never shown to the public.
PERSONAL_FIELDS = ("applicant_name", "applicant_contact")
APPLICANT_KINDS = ("municipality", "person", "organisation")
COMMENT_STATUSES = ("pending", "approved", "rejected")
MAX_COMMENT_CHARS = 4000
MAX_TEXT_CHARS = 10_000
#: Changing away from a category clears the columns that only describe that category.
LEAVING_CATEGORY_RESETS: Mapping[str, Mapping[str, object]] = {
    "agricultural": {"ag_subtype": "empty"},
}


def now() -> datetime:
    """UTC now at millisecond precision (what both backends store exactly)."""
    moment = datetime.now(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def actor_of(user: User) -> Actor:
    """The workflow's view of an account: its name and its role's permissions."""
    return Actor(name=user.name, permissions=user.permissions)


def ensure_tables(workspace: Workspace) -> None:
    with workspace.transaction():
        for name, columns in TABLES.items():
            workspace.ensure_table(name, columns)


def _rows(workspace: Workspace, table: str, where: Mapping[str, object] | None = None,
          **options: Any) -> list[dict[str, Any]]:
    """Rows of a request table; none when no request was ever stored here."""
    try:
        return workspace.select_rows(table, where=where, **options)
    except NotFoundError:
        return []


def _text(value: object, name: str, *, limit: int = MAX_TEXT_CHARS) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    if len(text) > limit:
        raise InputError(f"{name} has {len(text)} characters; the limit is {limit}")
    return text or None


# --------------------------------------------------------------------------- loading


def _override(value: Any) -> Override | None:
    if not value:
        return None
    return Override(reason=value["reason"], by=value["by"],
                    at=datetime.fromisoformat(str(value["at"]).replace("Z", "+00:00")),
                    rules=tuple(value.get("rules", ())))


def _request_from(row: Mapping[str, Any], parcels: Iterable[Mapping[str, Any]],
                  documents: Iterable[Mapping[str, Any]],
                  decisions: Iterable[Mapping[str, Any]]) -> TransformationRequest:
    return TransformationRequest(
        id=int(row["id"]), number=str(row["number"]), status=str(row["status"]),
        stage=str(row["stage"]), target_category=row["target_category"],
        target_use=row["target_use"], justification=row["justification"] or "",
        created_by=str(row["created_by"]), created_at=row["created_at"],
        version=int(row["version"]), title=row["title"] or "", settlement=row["settlement"],
        applicant_name=row["applicant_name"], applicant_contact=row["applicant_contact"],
        applicant_kind=row["applicant_kind"] or "municipality",
        submitted_by=row["submitted_by"], submitted_at=row["submitted_at"],
        updated_at=row["updated_at"], council_resolution_no=row["council_resolution_no"],
        council_resolution_date=row["council_resolution_date"],
        registration_no=row["registration_no"], registration_date=row["registration_date"],
        published_at=row["published_at"], verdict=row["verdict"],
        source=row["source"] or "manual",
        justification_i18n=dict(row["justification_i18n"] or {}),
        override=_override(row["override"]),
        parcels=tuple(
            RequestParcel(cadastral_no=p["cadastral_no"], current_category=p["current_category"],
                          current_use=p["current_use"], area_ha=p["area_ha"], fid=p["fid"])
            for p in sorted(parcels, key=lambda p: p["position"])
        ),
        documents=tuple(
            DocumentInfo(id=int(d["id"]), kind=d["kind"], filename=d["filename"],
                         content_type=d["content_type"], size=int(d["size"]),
                         sha256=d["sha256"], uploaded_by=d["uploaded_by"],
                         uploaded_at=d["uploaded_at"])
            for d in documents
        ),
        agency_decisions=tuple(
            AgencyDecision(authority=d["authority"], decision=d["decision"],
                           reference_no=d["reference_no"], decision_date=d["decision_date"],
                           note=d["note"], recorded_by=d["recorded_by"],
                           recorded_at=d["recorded_at"])
            for d in decisions
        ),
    )


def _document_rows(workspace: Workspace, where: Mapping[str, object]) -> list[dict[str, Any]]:
    return _rows(workspace, DOCUMENTS, where)


def get_request(workspace: Workspace, request_id: int) -> TransformationRequest:
    """One request with its parcels, document descriptions and agency decisions."""
    rows = _rows(workspace, REQUESTS, {"id": int(request_id)})
    if not rows:
        raise NotFoundError(f"no transformation request {request_id}")
    where = {"request_id": int(request_id)}
    return _request_from(rows[0], _rows(workspace, PARCELS, where),
                         _document_rows(workspace, where), _rows(workspace, DECISIONS, where))


def find_request(workspace: Workspace, key: str | int) -> TransformationRequest:
    """A request by id or by number (``TR-2025-0007``)."""
    text = str(key).strip()
    if text.isdigit():
        return get_request(workspace, int(text))
    rows = _rows(workspace, REQUESTS, {"number": text})
    if not rows:
        raise NotFoundError(f"no transformation request {text!r}")
    return get_request(workspace, int(rows[0]["id"]))


def list_requests(workspace: Workspace, *, status: str | None = None, stage: str | None = None,
                  settlement: str | None = None, published_only: bool = False
                  ) -> list[TransformationRequest]:
    """Requests matching the filters, newest first; ``published_only`` for the public."""
    where: dict[str, object] = {}
    for name, value in (("status", status), ("stage", stage), ("settlement", settlement)):
        if value:
            where[name] = value
    rows = _rows(workspace, REQUESTS, where, descending=True)
    if published_only:
        rows = [r for r in rows if r["published_at"] is not None]
    if not rows:
        return []
    by_request: dict[int, dict[str, list[dict[str, Any]]]] = {
        int(r["id"]): {"parcels": [], "documents": [], "decisions": []} for r in rows
    }
    for key, found in (("parcels", _rows(workspace, PARCELS)),
                       ("documents", _document_rows(workspace, {})),
                       ("decisions", _rows(workspace, DECISIONS))):
        for item in found:
            bucket = by_request.get(int(item["request_id"]))
            if bucket is not None:
                bucket[key].append(item)
    return [_request_from(r, **by_request[int(r["id"])]) for r in rows]


def events_of(workspace: Workspace, request_id: int) -> list[Event]:
    """The request's audit trail, oldest first."""
    return [
        Event(action=e["action"], from_status=e["from_status"], to_status=e["to_status"],
              user=e["user_name"], at=e["at"], reason=e["reason"], details=e["details"] or {})
        for e in _rows(workspace, EVENTS, {"request_id": int(request_id)})
    ]


@dataclass(frozen=True)
class StoredCheck:
    """A check result as stored: when, by whom, at which step, and the result."""

    id: int
    at: datetime
    user: str
    action: str
    stage: str
    result: RequestCheck


def checks_of(workspace: Workspace, request_id: int) -> list[StoredCheck]:
    """Every check stored with the request, oldest first."""
    return [
        StoredCheck(id=int(c["id"]), at=c["at"], user=c["user_name"], action=c["action"],
                    stage=c["stage"], result=RequestCheck.from_dict(c["result"]))
        for c in _rows(workspace, CHECKS, {"request_id": int(request_id)})
    ]


def latest_checks(workspace: Workspace) -> dict[int, RequestCheck]:
    """The latest stored check of each request."""
    latest: dict[int, RequestCheck] = {}
    for c in _rows(workspace, CHECKS):
        latest[int(c["request_id"])] = RequestCheck.from_dict(c["result"])
    return latest


# --------------------------------------------------------------------------- checks


class References:
    """What checks are made against — rulebook, constraint layers and their fingerprint —
    read from the workspace once, and only as far as they are used."""

    def __init__(self, workspace: Workspace) -> None:
        self._workspace = workspace
        self.rulebook: Rulebook = workspace_rulebook(workspace)

    @cached_property
    def frames(self) -> dict[str, gpd.GeoDataFrame]:
        return read_layers(self._workspace, CONSTRAINT_LAYERS)

    @cached_property
    def fingerprint(self) -> str:
        return reference_fingerprint(self.frames, self.rulebook)

    @cached_property
    def layers(self) -> ConstraintLayers:
        return ConstraintLayers.from_frames(rulebook=self.rulebook, crs=self._workspace.crs,
                                            **self.frames)


_RULEBOOKS: dict[tuple[Any, ...], Rulebook] = {}
_RULEBOOKS_LOCK = threading.Lock()


def workspace_rulebook(workspace: Workspace) -> Rulebook:
    """The workspace's rulebook, loaded once per state of its files.

    Keyed on :func:`web.services.rulebook_stamp` (path, modification time and size of
    the workspace's rulebook and of every shipped one it may extend), so an edited file
    is loaded again; the check's fingerprint digests the loaded content itself.
    """
    key = rulebook_stamp(workspace)
    with _RULEBOOKS_LOCK:
        found = _RULEBOOKS.get(key)
    if found is None:
        found = resolve_rulebook(None, workspace)
        with _RULEBOOKS_LOCK:
            if len(_RULEBOOKS) > 16:
                _RULEBOOKS.clear()
            _RULEBOOKS[key] = found
    return found


def references(workspace: Workspace) -> References:
    """The workspace's rulebook and constraint layers (read when first used)."""
    return References(workspace)


def _inventory(workspace: Workspace, cadastral_nos: list[str]) -> gpd.GeoDataFrame:
    return workspace.read_layer(
        "parcels", where={"cadastral_no": cadastral_nos} if cadastral_nos else None,
        columns=["cadastral_no", "land_category", "designated_use", "row_version", "area_ha"],
        include_personal=False, limit=None if cadastral_nos else 0,
    )


def run_check(workspace: Workspace, request: TransformationRequest,
              refs: References | None = None) -> RequestCheck:
    """Check the request's parcels as the inventory has them now."""
    refs = refs or References(workspace)
    parcels = _inventory(workspace, [p.cadastral_no for p in request.parcels])
    return check_request(parcels, request, refs.layers, refs.rulebook,
                         fingerprint=refs.fingerprint)


def stale_requests(workspace: Workspace, requests: list[TransformationRequest],
                   refs: References | None = None) -> dict[int, bool]:
    """Which open requests need re-checking: the rulebook, a reference layer or one of
    their parcels changed since their latest stored check (or they were never checked
    though they have parcels)."""
    open_ones = [r for r in requests if r.is_open and r.parcels]
    if not open_ones:
        return {r.id: False for r in requests}
    refs = refs or References(workspace)
    latest = latest_checks(workspace)
    keys = sorted({p.cadastral_no for r in open_ones for p in r.parcels})
    inventory = _inventory(workspace, keys)
    versions = dict(zip(inventory["cadastral_no"].astype(str),
                        inventory["row_version"].astype("int64"), strict=True))
    out = {r.id: False for r in requests}
    for r in open_ones:
        if r.status == "draft" and r.id not in latest:
            continue  # never submitted: nothing to re-check yet
        now_versions = {p.cadastral_no: int(versions[p.cadastral_no])
                        for p in r.parcels if p.cadastral_no in versions}
        out[r.id] = is_stale(latest.get(r.id), fingerprint=refs.fingerprint,
                             parcel_versions=now_versions)
    return out


def _store_check(workspace: Workspace, request: TransformationRequest, check: RequestCheck,
                 *, user: str, action: str, at: datetime) -> None:
    workspace.insert_row(CHECKS, {
        "request_id": request.id, "at": at, "user_name": user, "action": action,
        "stage": request.stage, "verdict": check.verdict, "fingerprint": check.fingerprint,
        "result": check.to_dict(),
    })


def _event(workspace: Workspace, request_id: int, event: Event) -> None:
    workspace.insert_row(EVENTS, {
        "request_id": request_id, "action": event.action, "from_status": event.from_status,
        "to_status": event.to_status, "user_name": event.user, "at": event.at,
        "reason": event.reason, "details": dict(event.details),
    })


def recheck(workspace: Workspace, request_id: int, actor: Actor) -> RequestCheck:
    """Run the check again and store it (an audit event, not a transition)."""
    ensure_tables(workspace)
    with workspace.transaction():
        request = get_request(workspace, request_id)
        check_operation(request, "recheck", actor)
        check = run_check(workspace, request)
        at = now()
        _store_check(workspace, request, check, user=actor.name, action="recheck", at=at)
        workspace.update_rows(REQUESTS, {"verdict": check.verdict, "updated_at": at},
                              where={"id": request.id})
        _event(workspace, request.id, Event("recheck", request.status, request.status,
                                            actor.name, at, None, {"verdict": check.verdict}))
    return check


# --------------------------------------------------------------------------- writing


def _parcel_rows(workspace: Workspace, cadastral_nos: list[str]
                 ) -> tuple[list[RequestParcel], list[str]]:
    """The parcels as the inventory has them now, and the settlements they lie in."""
    keys = list(dict.fromkeys(c.strip() for c in cadastral_nos if c and c.strip()))
    if not keys:
        return [], []
    found = workspace.read_layer(
        "parcels", where={"cadastral_no": keys},
        columns=["cadastral_no", "land_category", "designated_use", "area_ha", "settlement"],
        include_personal=False,
    )
    table = pd.DataFrame(found.drop(columns="geometry"))
    by_key = {str(r["cadastral_no"]): r for r in
              table.astype(object).where(table.notna(), None).to_dict("records")}
    missing = [k for k in keys if k not in by_key]
    if missing:
        raise NotFoundError(f"no parcel with cadastral number {', '.join(missing)}")
    parcels = [RequestParcel(cadastral_no=k, current_category=by_key[k]["land_category"],
                             current_use=by_key[k]["designated_use"],
                             area_ha=by_key[k]["area_ha"], fid=int(by_key[k]["fid"]))
               for k in keys]
    settlements = sorted({str(r["settlement"]) for r in by_key.values() if r["settlement"]})
    return parcels, settlements


def _check_codes(workspace: Workspace, target_category: str | None,
                 target_use: str | None) -> None:
    rulebook = workspace_rulebook(workspace)
    problems = []
    if target_category is not None and target_category not in rulebook.categories:
        problems.append(f"unknown target category {target_category!r}; categories are "
                        f"{', '.join(rulebook.categories)}")
    if target_use is not None and target_use not in rulebook.uses:
        problems.append(f"unknown target use {target_use!r}; uses are "
                        f"{', '.join(rulebook.uses)}")
    if problems:
        raise InputError("; ".join(problems))


def _write_parcels(workspace: Workspace, request_id: int, parcels: list[RequestParcel]) -> None:
    workspace.delete_rows(PARCELS, where={"request_id": request_id})
    for position, p in enumerate(parcels):
        workspace.insert_row(PARCELS, {
            "request_id": request_id, "position": position, "cadastral_no": p.cadastral_no,
            "fid": p.fid, "current_category": p.current_category,
            "current_use": p.current_use, "area_ha": p.area_ha,
        })


def create_request(
    workspace: Workspace, actor: Actor, *, cadastral_nos: list[str],
    target_category: str | None, target_use: str | None, justification: str = "",
    title: str = "", applicant_name: str | None = None, applicant_contact: str | None = None,
    applicant_kind: str = "municipality", justification_i18n: Mapping[str, str] | None = None,
    source: str = "manual", settlement: str | None = None,
) -> TransformationRequest:
    """A new draft request (stage 1) for parcels of the inventory.

    ``settlement`` defaults to the parcels' settlement when they all lie in one.
    """
    if not actor.can("create_requests"):
        raise PermissionDeniedError(f"{actor.name} may not create requests: it needs the "
                                    f"'create_requests' permission")
    if applicant_kind not in APPLICANT_KINDS:
        raise InputError(f"applicant kind {applicant_kind!r} is not one of "
                         f"{', '.join(APPLICANT_KINDS)}")
    target_category = _text(target_category, "target_category", limit=64)
    target_use = _text(target_use, "target_use", limit=64)
    _check_codes(workspace, target_category, target_use)
    ensure_tables(workspace)
    with workspace.transaction():
        parcels, settlements = _parcel_rows(workspace, cadastral_nos)
        at = now()
        request_id = workspace.insert_row(REQUESTS, {
            "number": "", "title": _text(title, "title", limit=200) or "",
            "status": "draft", "stage": "need",
            "settlement": _text(settlement, "settlement", limit=120) or (
                settlements[0] if len(settlements) == 1 else None),
            "target_category": target_category, "target_use": target_use,
            "applicant_name": _text(applicant_name, "applicant_name", limit=200),
            "applicant_contact": _text(applicant_contact, "applicant_contact", limit=200),
            "applicant_kind": applicant_kind,
            "justification": _text(justification, "justification") or "",
            "justification_i18n": dict(justification_i18n or {}),
            "created_by": actor.name, "created_at": at, "updated_at": at, "version": 1,
            "source": source, "override": None,
        })
        number = f"TR-{at.year}-{request_id:04d}"
        workspace.update_rows(REQUESTS, {"number": number}, where={"id": request_id})
        _write_parcels(workspace, request_id, parcels)
        _event(workspace, request_id, Event(
            "create", "draft", "draft", actor.name, at, None,
            {"parcels": [p.cadastral_no for p in parcels], "source": source},
        ))
    return get_request(workspace, request_id)


#: Fields a draft's owner may change.
EDITABLE = ("title", "target_category", "target_use", "justification", "applicant_name",
            "applicant_contact", "applicant_kind", "cadastral_nos")


def update_draft(workspace: Workspace, request_id: int, actor: Actor,
                 changes: Mapping[str, Any], *, expected_version: int | None = None
                 ) -> TransformationRequest:
    """Change a draft (stage 1): its parcels, targets, justification, applicant."""
    unknown = [k for k in changes if k not in EDITABLE]
    if unknown:
        raise InputError(f"cannot change {', '.join(unknown)}; editable: {', '.join(EDITABLE)}")
    ensure_tables(workspace)
    with workspace.transaction():
        request = get_request(workspace, request_id)
        _expect(request, expected_version)
        check_operation(request, "edit", actor)
        values: dict[str, Any] = {}
        for name in ("title", "justification", "applicant_name", "applicant_contact"):
            if name in changes:
                values[name] = _text(changes[name], name) or ("" if name in (
                    "title", "justification") else None)
        if "applicant_kind" in changes:
            if changes["applicant_kind"] not in APPLICANT_KINDS:
                raise InputError(f"applicant kind {changes['applicant_kind']!r} is not one of "
                                 f"{', '.join(APPLICANT_KINDS)}")
            values["applicant_kind"] = changes["applicant_kind"]
        for name in ("target_category", "target_use"):
            if name in changes:
                values[name] = _text(changes[name], name, limit=64)
        _check_codes(workspace, values.get("target_category", request.target_category),
                     values.get("target_use", request.target_use))
        if "cadastral_nos" in changes:
            parcels, settlements = _parcel_rows(workspace, list(changes["cadastral_nos"]))
            _write_parcels(workspace, request.id, parcels)
            values["settlement"] = settlements[0] if len(settlements) == 1 else None
        at = now()
        values.update(updated_at=at, version=request.version + 1)
        workspace.update_rows(REQUESTS, values, where={"id": request.id})
        shown = {k: v for k, v in changes.items() if k not in ("applicant_name",
                                                                "applicant_contact")}
        _event(workspace, request.id, Event("edit", "draft", "draft", actor.name, at, None,
                                            {"changed": sorted(changes), **{
                                                k: v for k, v in shown.items()
                                                if k in ("target_category", "target_use",
                                                         "cadastral_nos")}}))
    return get_request(workspace, request_id)


def _expect(request: TransformationRequest, expected_version: int | None) -> None:
    if expected_version is not None and request.version != expected_version:
        raise ConflictError(
            f"request {request.number} changed meanwhile: you saw version {expected_version}, "
            f"it is at version {request.version}; reload it",
            expected=expected_version, actual=request.version,
        )


def _request_values(before: TransformationRequest, after: TransformationRequest
                    ) -> dict[str, Any]:
    fields = ("status", "stage", "updated_at", "version", "verdict", "submitted_by",
              "submitted_at", "published_at", "council_resolution_no",
              "council_resolution_date", "registration_no", "registration_date")
    values = {f: getattr(after, f) for f in fields if getattr(after, f) != getattr(before, f)}
    if after.override != before.override and after.override is not None:
        o = after.override
        values["override"] = {"reason": o.reason, "by": o.by, "at": o.at.isoformat(),
                              "rules": list(o.rules)}
    return values


def registration_changes(parcel: Mapping[str, Any], request: TransformationRequest
                         ) -> dict[str, object]:
    """What registration writes to one parcel: the target category and use, and the
    columns that only described the category it leaves."""
    changes: dict[str, object] = {}
    if request.target_category is not None:
        changes["land_category"] = request.target_category
        if parcel.get("land_category") != request.target_category:
            changes.update(LEAVING_CATEGORY_RESETS.get(str(parcel.get("land_category")), {}))
    if request.target_use is not None:
        changes["designated_use"] = request.target_use
    return changes


def perform(workspace: Workspace, request_id: int, action: str, actor: Actor,
            step: StepInput, *, expected_version: int | None = None,
            refs: References | None = None) -> tuple[TransformationRequest, Event]:
    """Take one step of the workflow, all of it in one transaction.

    The table decides whether the step is legal and allowed to ``actor``; the check
    runs again when the row says so and is stored with the step; registration writes
    the parcels' category and use (with their history) in the same transaction, so a
    failure anywhere leaves the request and the inventory as they were.
    """
    ensure_tables(workspace)
    with workspace.transaction():
        request = get_request(workspace, request_id)
        _expect(request, expected_version)
        rows = plan_step(request, action, actor, step)
        refs = refs or References(workspace)
        check = run_check(workspace, request, refs) if (
            any(r.recheck for r in rows) and request.parcels) else None
        inventory: dict[str, tuple[str | None, str | None]] = {}
        current: dict[str, dict[str, Any]] = {}
        if any("parcels_as_recorded" in r.guards for r in rows):
            found = _inventory(workspace, [p.cadastral_no for p in request.parcels])
            records = found.drop(columns="geometry").astype(object).where(
                found.drop(columns="geometry").notna(), None).to_dict("records")
            current = {str(r["cadastral_no"]): r for r in records}
            inventory = {k: (r["land_category"], r["designated_use"]) for k, r in current.items()}
        ctx = GuardContext(
            check=check.summary() if check else None,
            authorities=tuple(refs.rulebook.authorities),
            required_authorities=request_authorities(request, refs.rulebook),
            inventory=inventory,
        )
        row = resolve_step(rows, request, step, ctx)
        at = now()
        after, event = apply_step(request, row, actor, step, at=at,
                                  check=check.summary() if check else None)
        changed = workspace.update_rows(
            REQUESTS, _request_values(request, after),
            where={"id": request.id, "version": request.version},
        )
        if changed != 1:
            raise ConflictError(f"request {request.number} changed meanwhile; reload it",
                                expected=request.version, actual=None)
        if check is not None:
            _store_check(workspace, after, check, user=actor.name, action=action, at=at)
        if row.decision is not None:
            decision = after.agency_decisions[-1]
            workspace.insert_row(DECISIONS, {
                "request_id": request.id, "authority": decision.authority,
                "decision": decision.decision, "reference_no": decision.reference_no,
                "decision_date": decision.decision_date, "note": decision.note,
                "recorded_by": decision.recorded_by, "recorded_at": decision.recorded_at,
            })
        if row.action == "register":
            written = []
            for parcel in request.parcels:
                record = current[parcel.cadastral_no]
                changes = registration_changes(record, request)
                workspace.update_parcel(int(record["fid"]), changes,
                                        expected_version=int(record["row_version"]),
                                        user=actor.name)
                written.append(parcel.cadastral_no)
            event = Event(event.action, event.from_status, event.to_status, event.user,
                          event.at, event.reason, {**event.details, "parcels_changed": written})
        _event(workspace, request.id, event)
    return get_request(workspace, request_id), event


# --------------------------------------------------------------------------- documents


def attach_document(workspace: Workspace, request_id: int, actor: Actor, *, kind: str,
                    filename: str, content_type: str, content: bytes,
                    max_bytes: int = MAX_ATTACHMENT_BYTES) -> DocumentInfo:
    """Attach a checked file to an open request (kind decides who may)."""
    attachment = validate_attachment(kind, filename, content_type, content, max_bytes=max_bytes)
    ensure_tables(workspace)
    with workspace.transaction():
        request = get_request(workspace, request_id)
        check_operation(request, "attach", actor, document_kind=kind)
        at = now()
        doc_id = workspace.insert_row(DOCUMENTS, {
            "request_id": request.id, "kind": attachment.kind, "filename": attachment.filename,
            "content_type": attachment.content_type, "size": attachment.size,
            "sha256": attachment.sha256, "uploaded_by": actor.name, "uploaded_at": at,
        })
        workspace.insert_row(DOCUMENT_CONTENT, {
            "document_id": doc_id,
            "content": base64.b64encode(attachment.content).decode("ascii"),
        })
        _event(workspace, request.id, Event("attach", request.status, request.status,
                                            actor.name, at, None,
                                            {"kind": kind, "filename": attachment.filename,
                                             "sha256": attachment.sha256}))
    return DocumentInfo(id=doc_id, kind=attachment.kind, filename=attachment.filename,
                        content_type=attachment.content_type, size=attachment.size,
                        sha256=attachment.sha256, uploaded_by=actor.name, uploaded_at=at)


def document_content(workspace: Workspace, request_id: int, document_id: int
                     ) -> tuple[DocumentInfo, bytes]:
    """A stored attachment and its bytes."""
    rows = _rows(workspace, DOCUMENTS, {"id": int(document_id), "request_id": int(request_id)})
    if not rows:
        raise NotFoundError(f"request {request_id} has no document {document_id}")
    d = rows[0]
    info = DocumentInfo(id=int(d["id"]), kind=d["kind"], filename=d["filename"],
                        content_type=d["content_type"], size=int(d["size"]),
                        sha256=d["sha256"], uploaded_by=d["uploaded_by"],
                        uploaded_at=d["uploaded_at"])
    blobs = _rows(workspace, DOCUMENT_CONTENT, {"document_id": info.id})
    if not blobs:  # pragma: no cover - written in the same transaction as the description
        raise NotFoundError(f"the content of document {document_id} is missing")
    return info, base64.b64decode(blobs[0]["content"])


# --------------------------------------------------------------------------- comments


@dataclass(frozen=True)
class Comment:
    """A comment on a published request; ``author_name`` is never shown to the public."""

    id: int
    request_id: int
    body: str
    source: str
    submitted_at: datetime
    status: str
    author_name: str | None = None
    moderated_by: str | None = None
    moderated_at: datetime | None = None
    taken_up: bool | None = None
    answer: str | None = None
    answered_by: str | None = None
    answered_at: datetime | None = None


def comments_of(workspace: Workspace, request_id: int, *, approved_only: bool = False
                ) -> list[Comment]:
    rows = _rows(workspace, COMMENTS, {"request_id": int(request_id)})
    found = [Comment(**{k: v for k, v in row.items()}) for row in rows]
    return [c for c in found if c.status == "approved"] if approved_only else found


def add_comment(workspace: Workspace, request_id: int, actor: Actor, *, body: str,
                author_name: str | None = None, source: str = "online") -> Comment:
    """A comment from the public (pending moderation) or minuted at a hearing by staff."""
    text = _text(body, "comment", limit=MAX_COMMENT_CHARS)
    if not text:
        raise InputError("the comment is empty")
    if source not in ("online", "hearing"):
        raise InputError(f"comment source {source!r} is not 'online' or 'hearing'")
    ensure_tables(workspace)
    with workspace.transaction():
        request = get_request(workspace, request_id)
        check_operation(request, "comment" if source == "online" else "record_comment", actor)
        at = now()
        staff = source == "hearing"
        comment_id = workspace.insert_row(COMMENTS, {
            "request_id": request.id, "author_name": _text(author_name, "name", limit=120),
            "body": text, "source": source, "submitted_at": at,
            "status": "approved" if staff else "pending",
            "moderated_by": actor.name if staff else None, "moderated_at": at if staff else None,
        })
        _event(workspace, request.id, Event("comment", request.status, request.status,
                                            actor.name, at, None,
                                            {"comment": comment_id, "source": source}))
    return next(c for c in comments_of(workspace, request.id) if c.id == comment_id)


def _comment(workspace: Workspace, request_id: int, comment_id: int) -> Comment:
    found = [c for c in comments_of(workspace, request_id) if c.id == int(comment_id)]
    if not found:
        raise NotFoundError(f"request {request_id} has no comment {comment_id}")
    return found[0]


def moderate_comment(workspace: Workspace, request_id: int, comment_id: int, actor: Actor,
                     *, decision: str) -> Comment:
    """Approve (shown publicly) or reject a comment."""
    if decision not in ("approved", "rejected"):
        raise InputError(f"moderation decision {decision!r} is not 'approved' or 'rejected'")
    with workspace.transaction():
        request = get_request(workspace, request_id)
        check_operation(request, "moderate", actor)
        _comment(workspace, request_id, comment_id)
        at = now()
        workspace.update_rows(COMMENTS, {"status": decision, "moderated_by": actor.name,
                                         "moderated_at": at},
                              where={"id": int(comment_id)})
        _event(workspace, request.id, Event("moderate", request.status, request.status,
                                            actor.name, at, None,
                                            {"comment": int(comment_id), "decision": decision}))
    return _comment(workspace, request_id, comment_id)


def answer_comment(workspace: Workspace, request_id: int, comment_id: int, actor: Actor, *,
                   taken_up: bool, answer: str) -> Comment:
    """Say publicly whether a comment was taken up, and why."""
    text = _text(answer, "answer", limit=MAX_COMMENT_CHARS)
    if not text:
        raise InputError("the answer must say why the comment was or was not taken up")
    with workspace.transaction():
        request = get_request(workspace, request_id)
        check_operation(request, "answer", actor)
        comment = _comment(workspace, request_id, comment_id)
        if comment.status != "approved":
            raise WorkflowError(f"comment {comment_id} is {comment.status}; only approved "
                                f"comments are answered")
        at = now()
        workspace.update_rows(COMMENTS, {"taken_up": bool(taken_up), "answer": text,
                                         "answered_by": actor.name, "answered_at": at},
                              where={"id": int(comment_id)})
        _event(workspace, request.id, Event("answer", request.status, request.status,
                                            actor.name, at, None,
                                            {"comment": int(comment_id),
                                             "taken_up": bool(taken_up)}))
    return _comment(workspace, request_id, comment_id)


# --------------------------------------------------------------------------- drafts


def read_drafts(data: Any) -> pd.DataFrame:
    """The draft list from ``jer allocate --format json`` output, a list of rows, or a
    frame (CSV read by the caller)."""
    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, Mapping):
        if "draft_requests" not in data:
            raise InputError("the JSON has no 'draft_requests' list (write it with "
                             "`jer allocate --format json`)")
        data = data["draft_requests"]
    if not isinstance(data, list) or not all(isinstance(r, Mapping) for r in data):
        raise InputError("draft requests must be a list of objects")
    return pd.DataFrame.from_records(data)


def import_drafts(workspace: Workspace, actor: Actor, drafts: pd.DataFrame, *,
                  per_parcel: bool = False) -> list[TransformationRequest]:
    """Create one draft request per group of the allocation's draft rows, atomically."""
    rulebook = workspace_rulebook(workspace)
    groups = group_drafts(drafts, categories=rulebook.categories, uses=tuple(rulebook.uses),
                          per_parcel=per_parcel)
    created = []
    ensure_tables(workspace)
    with workspace.transaction():
        for group in groups:
            title = " → ".join(x for x in (group.current_category, group.target_category)
                               if x) + (f" ({group.target_use})" if group.target_use else "")
            request = create_request(
                workspace, actor, cadastral_nos=list(group.cadastral_nos),
                target_category=group.target_category, target_use=group.target_use,
                justification=group.justification.get("en", ""), title=title,
                justification_i18n=group.justification, source="allocation",
                settlement=group.settlement,
            )
            recorded = {p.current_category for p in request.parcels}
            if group.current_category and recorded != {group.current_category}:
                raise ConflictError(
                    f"the draft list says {', '.join(group.cadastral_nos)} are "
                    f"{group.current_category}, the inventory says {', '.join(map(str, recorded))}"
                    f"; run the allocation again"
                )
            created.append(request)
    return created


def stage_of(status: str) -> str | None:
    return STATUS_STAGE.get(status)


def parse_date(value: Any, name: str) -> date | None:
    """A date from a form or JSON (``YYYY-MM-DD``); blank is none."""
    if value is None or isinstance(value, date):
        return value
    text = str(value).strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise InputError(f"{name} {text!r} is not a date (YYYY-MM-DD)") from exc

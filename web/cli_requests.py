"""CLI commands for land transformation requests: ``jer request …``.

Writes act as an account of the workspace (``--user NAME``, see ``jer user add``) with
its role's permissions, so the workflow's rules — who may take which step, the
four-eyes rule, the override rule — hold from the command line exactly as in the web
app. Reads show everything (the workspace file is in the reader's hands anyway) unless
``--public`` asks for the public view.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

import pandas as pd
import typer
from rich.table import Table

from .cli import FormatOpt, WorkspaceOpt, _errors, _fail, _open, _print_json, app, console

request_app = typer.Typer(help="Land transformation requests (five stages).",
                          no_args_is_help=True)
app.add_typer(request_app, name="request")

ActorOpt = Annotated[
    str, typer.Option("--user", "-u", envvar="JER_USER",
                      help="Account acting (jer user add); its role decides what it may do"),
]
IdArg = Annotated[str, typer.Argument(help="Request id or number (TR-2025-0007)")]
ReasonOpt = Annotated[str | None, typer.Option("--reason", help="Why (kept in the audit trail)")]


def _account(ws: Any, name: str) -> Any:
    from spatial.errors import NotFoundError

    from .auth import User, list_users

    found = [u for u in list_users(ws) if u["username"] == name and u["active"]]
    if not found:
        raise NotFoundError(f"no active account {name!r} in this workspace; add it with "
                            f"`jer user add {name} --role ROLE`")
    return User(username=name, role=str(found[0]["role"]))


def _reader(public: bool) -> Any:
    from .auth import ANONYMOUS, User

    return ANONYMOUS if public else User(username="cli", role="admin")


def _show(detail: dict[str, Any]) -> None:
    table = Table(title=f"{detail['number']} — {detail.get('title') or ''}", show_header=False)
    for key in ("status", "stage", "settlement", "target_category", "target_use", "verdict",
                "needs_recheck", "applicant_name", "council_resolution_no",
                "council_resolution_date", "registration_no", "registration_date"):
        if key in detail:
            table.add_row(key, str(detail[key]) if detail[key] is not None else "—")
    table.add_row("parcels", ", ".join(p["cadastral_no"] for p in detail["parcels"]))
    if detail.get("allowed_actions") is not None:
        table.add_row("next steps", ", ".join(detail["allowed_actions"]) or "—")
    console.print(table)
    if detail.get("check"):
        reasons = Table(title=f"check: {detail['check']['verdict']}")
        for column in ("parcel", "rule", "regime", "overlap m²", "message"):
            reasons.add_column(column)
        for r in detail["check"]["reasons"]:
            overlap = "" if r["overlap_m2"] is None else f"{r['overlap_m2']:,.0f}"
            reasons.add_row(r["cadastral_no"], r["rule_id"], r["regime"], overlap,
                            r["message"].get("en") or "")
        console.print(reasons)
    timeline = Table(title="timeline")
    for column in ("at", "action", "status", "user", "reason"):
        timeline.add_column(column)
    for e in detail.get("timeline", []):
        timeline.add_row(e["at"][:19], e["action"], e["to_status"], e.get("user", ""),
                         e.get("reason") or "")
    console.print(timeline)


def _detail(ws: Any, request: Any, user: Any) -> dict[str, Any]:
    from . import requests_service as svc
    from . import requests_views as views

    stale = svc.stale_requests(ws, [request])[request.id]
    checks = svc.checks_of(ws, request.id)
    return views.request_json(request, user, stale=stale,
                              check=checks[-1].result if checks else None,
                              events=svc.events_of(ws, request.id),
                              comments=svc.comments_of(ws, request.id))


@request_app.command("list")
def list_(
    workspace: WorkspaceOpt,
    status: Annotated[str | None, typer.Option(help="Only this status")] = None,
    stage: Annotated[str | None, typer.Option(help="Only this stage")] = None,
    settlement: Annotated[str | None, typer.Option(help="Only this settlement")] = None,
    public: Annotated[bool, typer.Option("--public", help="The public's view")] = False,
    format: FormatOpt = "table",
) -> None:
    """Requests, newest first, with the re-check flag."""
    from . import requests_service as svc
    from . import requests_views as views

    as_json = format == "json"
    user = _reader(public)
    with _errors(as_json), _open(workspace) as ws:
        found = svc.list_requests(ws, status=status, stage=stage, settlement=settlement,
                                  published_only=public)
        stale = svc.stale_requests(ws, found)
        rows = [views.request_json(r, user, stale=stale[r.id], detail=False) for r in found]
    if as_json:
        _print_json(rows)
        return
    table = Table(title="transformation requests")
    for column in ("id", "number", "status", "stage", "settlement", "parcels", "target",
                   "verdict", "re-check"):
        table.add_column(column)
    for r in rows:
        table.add_row(str(r["id"]), r["number"], r["status"], r["stage"], r["settlement"] or "",
                      str(len(r["parcels"])), f"{r['target_category']}/{r['target_use']}",
                      r["verdict"] or "—", "yes" if r["needs_recheck"] else "")
    console.print(table)


@request_app.command("show")
def show(request_id: IdArg, workspace: WorkspaceOpt,
         public: Annotated[bool, typer.Option("--public", help="The public's view")] = False,
         format: FormatOpt = "table") -> None:
    """One request: parcels, check, next steps and timeline."""
    from . import requests_service as svc
    from . import requests_views as views

    as_json = format == "json"
    user = _reader(public)
    with _errors(as_json), _open(workspace) as ws:
        found = views.visible(svc.find_request(ws, request_id), user)
        detail = _detail(ws, found, user)
    if as_json:
        _print_json(detail)
    else:
        _show(detail)


@request_app.command("create")
def create(
    workspace: WorkspaceOpt, user: ActorOpt,
    parcel: Annotated[list[str], typer.Option("--parcel", "-p", help="Cadastral number "
                                              "(repeat for several)")],
    category: Annotated[str | None, typer.Option("--category", help="Target category")] = None,
    use: Annotated[str | None, typer.Option("--use", help="Target use")] = None,
    justification: Annotated[str, typer.Option(help="Why the change is needed")] = "",
    title: Annotated[str, typer.Option()] = "",
    applicant: Annotated[str | None, typer.Option(help="Applicant's name (personal)")] = None,
    contact: Annotated[str | None, typer.Option(help="Applicant's contact (personal)")] = None,
    kind: Annotated[Literal["municipality", "person", "organisation"],
                    typer.Option(help="Applicant type")] = "municipality",
    format: FormatOpt = "table",
) -> None:
    """Create a draft request (stage 1)."""
    from . import requests_service as svc

    as_json = format == "json"
    with _errors(as_json), _open(workspace) as ws:
        account = _account(ws, user)
        created = svc.create_request(
            ws, svc.actor_of(account), cadastral_nos=parcel, target_category=category,
            target_use=use, justification=justification, title=title,
            applicant_name=applicant, applicant_contact=contact, applicant_kind=kind)
    _done(as_json, {"id": created.id, "number": created.number, "status": created.status},
          f"Created {created.number} (draft)")


def _done(as_json: bool, payload: dict[str, Any], text: str) -> None:
    if as_json:
        _print_json(payload)
    else:
        console.print(text, highlight=False)


def _step(workspace: str, user: str, request_id: str, action: str, *, as_json: bool,
          **inputs: Any) -> None:
    from spatial.requests import StepInput

    from . import requests_service as svc

    with _errors(as_json), _open(workspace) as ws:
        account = _account(ws, user)
        found = svc.find_request(ws, request_id)
        updated, event = svc.perform(ws, found.id, action, svc.actor_of(account),
                                     StepInput(**inputs))
    _done(as_json, {"id": updated.id, "number": updated.number, "status": updated.status,
                    "stage": updated.stage, "verdict": updated.verdict},
          f"{updated.number}: {event.from_status} → {updated.status} "
          f"(check: {updated.verdict or '—'})")


def _date(value: str | None, name: str) -> date | None:
    from .requests_service import parse_date

    return parse_date(value, name)


@request_app.command("submit")
def submit(request_id: IdArg, workspace: WorkspaceOpt, user: ActorOpt,
           format: FormatOpt = "table") -> None:
    """Submit a draft (stage 1 → 2); the constraint check runs and is stored."""
    _step(workspace, user, request_id, "submit", as_json=format == "json")


@request_app.command("review")
def review(
    request_id: IdArg, workspace: WorkspaceOpt, user: ActorOpt,
    decision: Annotated[Literal["accept", "return"], typer.Option(
        help="accept: documents complete, to the council; return: back to the applicant")],
    reason: ReasonOpt = None, format: FormatOpt = "table",
) -> None:
    """Check the documents (stage 2): accept (published for the hearing) or return."""
    _step(workspace, user, request_id, decision, as_json=format == "json", reason=reason)


@request_app.command("decide")
def decide(
    request_id: IdArg, workspace: WorkspaceOpt, user: ActorOpt,
    body: Annotated[str, typer.Option(
        "--by", help="'council', or the authority code of a state body (rulebook)")],
    decision: Annotated[Literal["approve", "refuse", "more-info"], typer.Option()],
    resolution_no: Annotated[str | None, typer.Option(help="Council resolution number")] = None,
    resolution_date: Annotated[str | None, typer.Option(help="YYYY-MM-DD")] = None,
    reference_no: Annotated[str | None, typer.Option(help="State body's reference")] = None,
    decision_date: Annotated[str | None, typer.Option(help="YYYY-MM-DD")] = None,
    override_reason: Annotated[str | None, typer.Option(
        help="Go on despite a prohibiting check, for this reason")] = None,
    reason: ReasonOpt = None, format: FormatOpt = "table",
) -> None:
    """Record the council's resolution (stage 3) or a state body's decision (stage 4)."""
    as_json = format == "json"
    if body == "council":
        if decision == "more-info":
            _fail("the council approves or refuses; 'more-info' is a state body's answer",
                  as_json=as_json)
        _step(workspace, user, request_id, f"council_{decision}", as_json=as_json,
              reason=reason, resolution_no=resolution_no,
              resolution_date=_date(resolution_date, "resolution_date"),
              override_reason=override_reason)
        return
    action = {"approve": "agency_approve", "refuse": "agency_refuse",
              "more-info": "agency_request_info"}[decision]
    _step(workspace, user, request_id, action, as_json=as_json, reason=reason, authority=body,
          reference_no=reference_no, decision_date=_date(decision_date, "decision_date"),
          override_reason=override_reason)


@request_app.command("supply-info")
def supply_info(request_id: IdArg, workspace: WorkspaceOpt, user: ActorOpt,
                reason: Annotated[str, typer.Option("--reason", help="What was supplied")],
                format: FormatOpt = "table") -> None:
    """Answer a state body's request for more information (back to stage 4)."""
    _step(workspace, user, request_id, "supply_info", as_json=format == "json", reason=reason)


@request_app.command("register")
def register(
    request_id: IdArg, workspace: WorkspaceOpt, user: ActorOpt,
    registration_no: Annotated[str, typer.Option(help="State registration number")],
    registration_date: Annotated[str | None, typer.Option(help="YYYY-MM-DD (today)")] = None,
    override_reason: Annotated[str | None, typer.Option()] = None,
    format: FormatOpt = "table",
) -> None:
    """Register the change (stage 5): the parcels' category and use change, with history."""
    _step(workspace, user, request_id, "register", as_json=format == "json",
          registration_no=registration_no,
          registration_date=_date(registration_date, "registration_date"),
          override_reason=override_reason)


@request_app.command("withdraw")
def withdraw(request_id: IdArg, workspace: WorkspaceOpt, user: ActorOpt,
             reason: Annotated[str, typer.Option("--reason")], format: FormatOpt = "table"
             ) -> None:
    """Withdraw a request (who filed it, or an administrator)."""
    _step(workspace, user, request_id, "withdraw", as_json=format == "json", reason=reason)


@request_app.command("recheck")
def recheck(request_id: IdArg, workspace: WorkspaceOpt, user: ActorOpt,
            format: FormatOpt = "table") -> None:
    """Run the constraint check again (after the layers or the rulebook changed)."""
    from . import requests_service as svc

    as_json = format == "json"
    with _errors(as_json), _open(workspace) as ws:
        account = _account(ws, user)
        found = svc.find_request(ws, request_id)
        check = svc.recheck(ws, found.id, svc.actor_of(account))
    _done(as_json, {"number": found.number, "verdict": check.verdict,
                    "prohibiting_rules": list(check.prohibiting_rules)},
          f"{found.number}: {check.verdict}")


@request_app.command("attach")
def attach(
    request_id: IdArg, file: Annotated[Path, typer.Argument(exists=True, dir_okay=False)],
    workspace: WorkspaceOpt, user: ActorOpt,
    kind: Annotated[str, typer.Option(help="Document kind, e.g. planning_materials")],
    content_type: Annotated[str | None, typer.Option(
        help="Content type (guessed from the extension)")] = None,
    format: FormatOpt = "table",
) -> None:
    """Attach a document (PDF, image, text, DOCX/ODT/XLSX; size-capped)."""
    import mimetypes

    from . import requests_service as svc

    as_json = format == "json"
    ctype = content_type or mimetypes.guess_type(file.name)[0] or ""
    with _errors(as_json), _open(workspace) as ws:
        account = _account(ws, user)
        found = svc.find_request(ws, request_id)
        info = svc.attach_document(ws, found.id, svc.actor_of(account), kind=kind,
                                   filename=file.name, content_type=ctype,
                                   content=file.read_bytes())
    _done(as_json, {"id": info.id, "kind": info.kind, "sha256": info.sha256},
          f"Attached {info.filename} ({info.kind}) to {found.number}")


@request_app.command("comment")
def comment(
    request_id: IdArg, text: Annotated[str, typer.Argument(help="The comment")],
    workspace: WorkspaceOpt, user: ActorOpt,
    source: Annotated[Literal["hearing", "online"], typer.Option(
        help="hearing: minuted by staff (published at once); online: awaits moderation")
    ] = "hearing",
    format: FormatOpt = "table",
) -> None:
    """Record a comment on a request under public hearing."""
    from . import requests_service as svc

    as_json = format == "json"
    with _errors(as_json), _open(workspace) as ws:
        account = _account(ws, user)
        found = svc.find_request(ws, request_id)
        made = svc.add_comment(ws, found.id, svc.actor_of(account), body=text, source=source)
    _done(as_json, {"id": made.id, "status": made.status},
          f"Comment {made.id} on {found.number}: {made.status}")


@request_app.command("import-drafts")
def import_drafts(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False,
                                         help="`jer allocate --format json` output, or CSV")],
    workspace: WorkspaceOpt, user: ActorOpt,
    per_parcel: Annotated[bool, typer.Option(help="One request per parcel")] = False,
    format: FormatOpt = "table",
) -> None:
    """Create draft requests from the allocation's draft list, all or none."""
    from . import requests_service as svc

    as_json = format == "json"
    with _errors(as_json), _open(workspace) as ws:
        account = _account(ws, user)
        if file.suffix.lower() == ".csv":
            drafts = pd.read_csv(file, dtype=str)
        else:
            try:
                data = json.loads(file.read_text(encoding="utf-8"))
            except ValueError as exc:
                _fail(f"{file}: not JSON: {exc}", as_json=as_json)
            drafts = svc.read_drafts(data)
        created = svc.import_drafts(ws, svc.actor_of(account), drafts, per_parcel=per_parcel)
    rows: list[dict[str, Any]] = [{"id": r.id, "number": r.number, "settlement": r.settlement,
             "parcels": [p.cadastral_no for p in r.parcels], "target_category":
             r.target_category, "target_use": r.target_use} for r in created]
    if as_json:
        _print_json(rows)
        return
    table = Table(title=f"{len(rows)} draft request(s) created")
    for column in ("number", "settlement", "parcels", "target"):
        table.add_column(column)
    for r in rows:
        table.add_row(r["number"], r["settlement"] or "", ", ".join(r["parcels"]),
                      f"{r['target_category']}/{r['target_use']}")
    console.print(table)


@request_app.command("dossier")
def dossier(
    request_id: IdArg, workspace: WorkspaceOpt,
    out: Annotated[Path, typer.Option("--out", help="HTML file to write")],
    lang: Annotated[Literal["ky", "ru", "en"], typer.Option("--lang")] = "ky",
    public: Annotated[bool, typer.Option("--public", help="The public's view")] = False,
    basemap: Annotated[Literal["osm", "none"], typer.Option(
        help="OpenStreetMap under the parcels (needs internet when viewed)")] = "none",
) -> None:
    """Write the printable dossier (HTML, map scripts included, works offline)."""
    from . import requests_service as svc
    from . import requests_views as views

    user = _reader(public)
    with _errors(), _open(workspace) as ws:
        found = views.visible(svc.find_request(ws, request_id), user)
        html = views.dossier_html(ws, found, user, lang=lang, base_map=basemap,
                                  detail=_detail(ws, found, user), standalone=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html, encoding="utf-8")
    console.print(f"Wrote {out}", highlight=False)

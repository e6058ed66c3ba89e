"""What each reader sees of a transformation request: JSON, page context, maps.

One function decides what leaves the server for whom (:func:`request_json`), and the
pages and the dossier are built from its output, so the public page, the public JSON
and the public dossier cannot differ in what they reveal:

* the public (anyone without ``read_requests``) sees published requests only, without
  the applicant, the parcels' right holders (never read at all), user names, comment
  authors, non-public documents or pending comments;
* staff (``read_requests``) see everything but the applicant and comment authors;
* the applicant's name and contact, and comment authors, need ``read_personal`` or
  ``create_requests`` (who takes in requests).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any, cast

import folium
import geopandas as gpd
import pandas as pd

from spatial.errors import NotFoundError
from spatial.requests import (
    DOCUMENT_KINDS,
    STAGES,
    STATUSES,
    RequestCheck,
    TransformationRequest,
    allowed_actions,
    checklist_kinds,
)
from spatial.requests.workflow import TRANSITIONS
from spatial.schema import label
from spatial.store import Workspace
from spatial.zoning import Rulebook

from .assets import asset
from .auth import User
from .i18n import t
from .maps import (
    BaseMap,
    LegendSection,
    MapPage,
    _add_layer,
    _base_page,
    _finish,
)
from .requests_service import Comment, actor_of, workspace_rulebook
from .services import read_layers

#: Colour of a request on the map of requests, by stage.
STAGE_COLOURS = {"need": "#9e9ac8", "documents": "#6baed6", "council": "#fd8d3c",
                 "agencies": "#e6550d", "registration": "#31a354"}
VERDICT_COLOURS = {"allowed": "#1a9850", "conditional": "#e08214", "prohibited": "#d73027",
                   "unchecked": "#777777"}


def is_staff(user: User) -> bool:
    return user.can("read_requests")


def sees_personal(user: User) -> bool:
    return user.can("read_personal") or user.can("create_requests")


def visible(request: TransformationRequest, user: User) -> TransformationRequest:
    """The request if ``user`` may see it; an unpublished one is 'not found' to the public."""
    if is_staff(user) or request.published_at is not None:
        return request
    raise NotFoundError(f"no transformation request {request.id}")


def _iso(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def check_json(check: RequestCheck | None, *, lang: str | None = None) -> dict[str, Any] | None:
    """A stored check for readers: verdict, per-parcel results, reasons with messages."""
    if check is None:
        return None
    reasons = []
    for r in check.reasons:
        item = {k: v for k, v in r.items() if not k.startswith("message_")}
        item["message"] = ({lang: r.get(f"message_{lang}")} if lang else
                           {code: r.get(f"message_{code}") for code in ("ky", "ru", "en")})
        reasons.append(item)
    return {"verdict": check.verdict, "prohibiting_rules": list(check.prohibiting_rules),
            "parcels": [dict(p) for p in check.parcels], "reasons": reasons,
            "rulebook": dict(check.rulebook)}


def request_json(
    request: TransformationRequest, user: User, *, stale: bool = False,
    check: RequestCheck | None = None, events: Sequence[Any] = (),
    comments: Sequence[Comment] = (), detail: bool = True,
) -> dict[str, Any]:
    """The request as ``user`` may see it (see the module docstring)."""
    staff = is_staff(user)
    out: dict[str, Any] = {
        "id": request.id, "number": request.number, "title": request.title,
        "status": request.status, "stage": request.stage, "settlement": request.settlement,
        "target_category": request.target_category, "target_use": request.target_use,
        "justification": request.justification,
        "justification_i18n": dict(request.justification_i18n),
        "verdict": request.verdict, "needs_recheck": stale,
        "published_at": _iso(request.published_at),
        "council_resolution_no": request.council_resolution_no,
        "council_resolution_date": _iso(request.council_resolution_date),
        "registration_no": request.registration_no,
        "registration_date": _iso(request.registration_date),
        "source": request.source,
        "parcels": [{"cadastral_no": p.cadastral_no, "current_category": p.current_category,
                     "current_use": p.current_use, "area_ha": p.area_ha}
                    for p in request.parcels],
    }
    if staff:
        out.update(version=request.version, created_by=request.created_by,
                   created_at=_iso(request.created_at), submitted_by=request.submitted_by,
                   submitted_at=_iso(request.submitted_at), updated_at=_iso(request.updated_at),
                   applicant_kind=request.applicant_kind,
                   allowed_actions=allowed_actions(request, actor_of(user)))
    if sees_personal(user):
        out.update(applicant_name=request.applicant_name,
                   applicant_contact=request.applicant_contact)
    if request.override is not None:
        override: dict[str, Any] = {"reason": request.override.reason,
                                    "at": _iso(request.override.at),
                                    "rules": list(request.override.rules)}
        if staff:
            override["by"] = request.override.by
        out["override"] = override
    if not detail:
        return out
    out["agency_decisions"] = [
        {"authority": d.authority, "decision": d.decision, "reference_no": d.reference_no,
         "decision_date": _iso(d.decision_date), "note": d.note,
         "recorded_at": _iso(d.recorded_at), **({"recorded_by": d.recorded_by} if staff else {})}
        for d in request.agency_decisions
    ]
    out["documents"] = [
        {"id": d.id, "kind": d.kind, "filename": d.filename, "content_type": d.content_type,
         "size": d.size, "sha256": d.sha256, "uploaded_at": _iso(d.uploaded_at),
         "public": d.public, **({"uploaded_by": d.uploaded_by} if staff else {})}
        for d in request.documents if staff or d.public
    ]
    present = {d.kind for d in request.documents}
    out["checklist"] = {kind: kind in present for kind in checklist_kinds()}
    out["check"] = check_json(check)
    out["timeline"] = [
        {"action": e.action, "from_status": e.from_status, "to_status": e.to_status,
         "at": _iso(e.at),
         **({"user": e.user, "reason": e.reason, "details": dict(e.details)} if staff else {})}
        for e in events if staff or e.from_status != e.to_status
    ]
    out["comments"] = [
        {"id": c.id, "body": c.body, "source": c.source, "submitted_at": _iso(c.submitted_at),
         "taken_up": c.taken_up, "answer": c.answer, "answered_at": _iso(c.answered_at),
         **({"status": c.status, "moderated_by": c.moderated_by,
             "answered_by": c.answered_by} if staff else {}),
         **({"author_name": c.author_name} if sees_personal(user) else {})}
        for c in comments if staff or c.status == "approved"
    ]
    return out


# --------------------------------------------------------------------------- labels


class Labels:
    """Labels in one language for the codes a request page shows."""

    def __init__(self, rulebook: Rulebook, lang: str) -> None:
        self.lang = lang
        self.rulebook = rulebook

    def category(self, code: str | None) -> str:
        return "—" if code is None else label("land_category", code, cast(Any, self.lang))

    def use(self, code: str | None) -> str:
        if code is None:
            return "—"
        use = self.rulebook.uses.get(code)
        return (use.name.get(self.lang) or use.name.get("en") or code) if use else code

    def authority(self, code: str | None) -> str:
        if code is None:
            return "—"
        found = self.rulebook.authorities.get(code)
        return (found.name.get(self.lang) or found.name.get("en") or code) if found else code

    def status(self, code: str) -> str:
        return t(f"requests_status_{code}", self.lang)

    def stage(self, code: str | None) -> str:
        return "—" if code is None else t(f"requests_stage_{code}", self.lang)

    def action(self, code: str) -> str:
        return t(f"requests_action_{code}", self.lang)

    def kind(self, code: str) -> str:
        return t(f"requests_doc_{code}", self.lang)

    def verdict(self, code: str | None) -> str:
        return t(f"requests_verdict_{code or 'unchecked'}", self.lang)


def action_fields(action: str) -> list[str]:
    """Inputs a form for ``action`` shows: what the table needs, then what it may take."""
    names: list[str] = []
    for row in TRANSITIONS:
        if row.action == action:
            for name in (*row.needs, *row.optional, "reason"):
                if name not in names:
                    names.append(name)
    return names


def required_fields(action: str) -> set[str]:
    return {n for row in TRANSITIONS if row.action == action for n in row.needs}


# --------------------------------------------------------------------------- maps


def _request_frame(workspace: Workspace, requests: Sequence[TransformationRequest],
                   labels: Labels, verdicts: Mapping[str, str] | None = None
                   ) -> gpd.GeoDataFrame:
    """One row per parcel of each request (no personal columns are read)."""
    keys = sorted({p.cadastral_no for r in requests for p in r.parcels})
    parcels = workspace.read_layer("parcels", where={"cadastral_no": keys},
                                   columns=["cadastral_no"], include_personal=False) \
        if keys else workspace.read_layer("parcels", columns=["cadastral_no"],
                                          include_personal=False, limit=0)
    rows = pd.DataFrame([
        {"cadastral_no": p.cadastral_no, "number": r.number, "stage": r.stage,
         "status": labels.status(r.status), "stage_label": labels.stage(r.stage),
         "target": f"{labels.category(r.target_category)} / {labels.use(r.target_use)}",
         "verdict": (verdicts or {}).get(p.cadastral_no, r.verdict or "unchecked"),
         "verdict_label": labels.verdict((verdicts or {}).get(p.cadastral_no, r.verdict))}
        for r in requests for p in r.parcels
    ], columns=["cadastral_no", "number", "stage", "status", "stage_label", "target",
                "verdict", "verdict_label"])
    merged = parcels.merge(rows, on="cadastral_no", how="inner")
    return gpd.GeoDataFrame(merged, geometry="geometry", crs=parcels.crs)


def requests_map(workspace: Workspace, requests: Sequence[TransformationRequest], *,
                 rulebook: Rulebook, lang: str, base_map: BaseMap,
                 title: str) -> MapPage:
    """Requests' parcels coloured by stage, with escaped popups."""
    labels = Labels(rulebook, lang)
    page = _base_page(workspace, title=title, lang=lang, base_map=base_map)
    frame = _request_frame(workspace, requests, labels)
    page.legend.append(_add_layer(
        page.map, frame, title=t("requests_title", lang), lang=lang, colour_column="stage",
        colours=STAGE_COLOURS, labels={s: labels.stage(s) for s in STAGES},
        fields={"number": t("requests_number", lang), "cadastral_no": t("requests_parcel", lang),
                "status": t("requests_status", lang), "target": t("requests_target", lang),
                "verdict_label": t("requests_verdict", lang)},
        fill_opacity=0.6, weight=2,
    ))
    _finish(page, lang=lang, parcels_shown=False)
    return page


def request_map(workspace: Workspace, request: TransformationRequest,
                check: RequestCheck | None, *, rulebook: Rulebook, lang: str,
                base_map: BaseMap, tools: bool = True) -> MapPage:
    """One request's parcels coloured by their verdict, fitted to them.

    ``tools=False`` leaves out what needs the server (parcel tiles, search, details on
    click), for a dossier saved as a file.
    """
    labels = Labels(rulebook, lang)
    page = _base_page(workspace, title=request.number, lang=lang, base_map=base_map)
    verdicts = {str(p["cadastral_no"]): str(p["verdict"]) for p in check.parcels} \
        if check else {}
    frame = _request_frame(workspace, [request], labels, verdicts)
    legend = _add_layer(
        page.map, frame, title=request.number, lang=lang, colour_column="verdict",
        colours=VERDICT_COLOURS, labels={v: labels.verdict(v) for v in VERDICT_COLOURS},
        fields={"cadastral_no": t("requests_parcel", lang),
                "verdict_label": t("requests_verdict", lang),
                "target": t("requests_target", lang)},
        fill_opacity=0.55, weight=3,
    )
    page.legend.append(LegendSection(title=t("requests_verdict", lang),
                                     entries=legend.entries))
    if len(frame):
        xmin, ymin, xmax, ymax = frame.to_crs(4326).total_bounds
        page.map.fit_bounds([[ymin, xmin], [ymax, xmax]], max_zoom=17)
    if tools:
        _finish(page, lang=lang, parcels_shown=True)
    else:
        folium.LayerControl(collapsed=False).add_to(page.map)
    return page


def municipality_name(workspace: Workspace, lang: str) -> str:
    frame = read_layers(workspace, ["municipality"]).get("municipality")
    if frame is None or not len(frame):
        return ""
    return str(frame.iloc[0].get(f"name_{lang}") or "")


def status_options() -> tuple[str, ...]:
    return STATUSES


def document_kinds_for(user: User) -> list[str]:
    """Document kinds ``user`` may attach."""
    return [code for code, kind in DOCUMENT_KINDS.items()
            if any(user.can(p) for p in kind.permissions)]


_ASSET_TAG = re.compile(
    r'<script src="/assets/(?P<js>[^"]+)"></script>|'
    r'<link rel="stylesheet" href="/assets/(?P<css>[^"]+)"\s*/?>'
)


def inline_assets(header: str) -> str:
    """The map header with the app's scripts and styles written in, for a file that is
    opened without the server."""

    def replace(match: re.Match[str]) -> str:
        if match.group("js"):
            text = asset(match.group("js")).text.replace("</script", "<\\/script")
            return f"<script>{text}</script>"
        return f"<style>{asset(match.group('css')).text}</style>"

    return _ASSET_TAG.sub(replace, header)


def dossier_html(workspace: Workspace, request: TransformationRequest, user: User, *,
                 lang: str, base_map: BaseMap, detail: Mapping[str, Any],
                 standalone: bool = False) -> str:
    """The printable dossier of ``request`` as ``user`` may see it, in ``lang``.

    ``detail`` is :func:`request_json` of the request for ``user``; ``standalone``
    writes the map's scripts into the file (for ``jer request dossier``).
    """
    from .app import TEMPLATES

    refs_rulebook = workspace_rulebook(workspace)
    check = RequestCheck.from_dict({**detail["check"], "reasons": [
        {**{k: v for k, v in r.items() if k != "message"},
         **{f"message_{code}": text for code, text in r["message"].items()}}
        for r in detail["check"]["reasons"]]}) if detail.get("check") else None
    page = request_map(workspace, request, check, rulebook=refs_rulebook, lang=lang,
                       base_map=base_map, tools=not standalone)
    parts = page.parts()
    if standalone:
        parts["header"] = inline_assets(parts["header"])
    return TEMPLATES.get_template("requests/dossier.html").render(
        r=detail, labels=Labels(refs_rulebook, lang), lang=lang, langs=("ky", "ru", "en"),
        parts=parts, page=page, municipality=municipality_name(workspace, lang),
        generated=datetime.now().astimezone().strftime("%Y-%m-%d %H:%M"),
        personal=sees_personal(user), staff=is_staff(user), t=t,
    )

"""What a land transformation request is: statuses, stages, documents, decisions.

A transformation (трансформация) changes a parcel's land category or designated use. The
Space section's question 84 lists five stages: the need is justified, documents are
gathered (cadastral number, planning materials, land category, conditions of use), the
local council decides by resolution (токтом), state bodies agree or refuse (and may ask
for more), and the change is registered — only then is the new status legal. A request
moves through the stages by the transitions of :mod:`spatial.requests.workflow`; this
module holds the vocabulary those transitions and the stores share.

Records are plain frozen dataclasses: the web app keeps them in workspace tables and
the domain functions take them as arguments, so the workflow is testable without a store.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

__all__ = [
    "DOCUMENT_KINDS",
    "FINAL_STATUSES",
    "OPEN_STATUSES",
    "STAGES",
    "STATUSES",
    "STATUS_STAGE",
    "AgencyDecision",
    "DocumentInfo",
    "DocumentKind",
    "Override",
    "RequestParcel",
    "TransformationRequest",
    "checklist_kinds",
]

#: Every status a request can have, in the order of the procedure.
STATUSES: tuple[str, ...] = (
    "draft", "submitted", "under_review", "council_approved", "council_refused",
    "more_info_requested", "agencies_approved", "agencies_refused", "registered", "withdrawn",
)
#: The five stages of a transformation (Space section, question 84).
STAGES: tuple[str, ...] = ("need", "documents", "council", "agencies", "registration")
#: The stage a request is in while it has a status; a withdrawn request keeps the stage
#: it was withdrawn at.
STATUS_STAGE: Mapping[str, str | None] = {
    "draft": "need",
    "submitted": "documents",
    "under_review": "council",
    "council_approved": "agencies",
    "council_refused": "council",
    "more_info_requested": "agencies",
    "agencies_approved": "registration",
    "agencies_refused": "agencies",
    "registered": "registration",
    "withdrawn": None,
}
#: Statuses no transition leaves: the request is decided or given up.
FINAL_STATUSES: frozenset[str] = frozenset(
    {"council_refused", "agencies_refused", "registered", "withdrawn"}
)
OPEN_STATUSES: tuple[str, ...] = tuple(s for s in STATUSES if s not in FINAL_STATUSES)


@dataclass(frozen=True)
class DocumentKind:
    """A kind of attachment.

    Attributes
    ----------
    checklist
        Part of the stage-2 document checklist: the request cannot go to the council
        without one attachment of this kind.
    public
        Shown to the public once the request is published (acts and minutes are public;
        a cadastral extract names the right holder and is not).
    permissions
        Any one of these permissions may attach a document of this kind.
    """

    code: str
    checklist: bool
    public: bool
    permissions: tuple[str, ...]


_INTAKE = ("create_requests", "review_requests")
#: Attachment kinds. The first four are the checklist of stage 2 (Space section, q. 84:
#: "cadastral number, planning materials, land category and conditions of use").
DOCUMENT_KINDS: Mapping[str, DocumentKind] = {
    kind.code: kind for kind in (
        DocumentKind("cadastral_extract", checklist=True, public=False, permissions=_INTAKE),
        DocumentKind("planning_materials", checklist=True, public=True, permissions=_INTAKE),
        DocumentKind("land_category_certificate", checklist=True, public=False,
                     permissions=_INTAKE),
        DocumentKind("conditions_of_use", checklist=True, public=True, permissions=_INTAKE),
        DocumentKind("hearing_minutes", checklist=False, public=True,
                     permissions=("moderate_comments", "review_requests")),
        DocumentKind("council_resolution", checklist=False, public=True,
                     permissions=("decide_requests",)),
        DocumentKind("agency_decision", checklist=False, public=True,
                     permissions=("decide_requests",)),
        DocumentKind("other", checklist=False, public=False, permissions=_INTAKE),
    )
}


def checklist_kinds() -> tuple[str, ...]:
    """The document kinds every request needs before the council stage."""
    return tuple(code for code, kind in DOCUMENT_KINDS.items() if kind.checklist)


@dataclass(frozen=True)
class RequestParcel:
    """A parcel of a request as it was when the request was made.

    ``current_category``/``current_use`` are what the inventory said then; registration
    refuses to apply the change to a parcel that has since become something else.
    """

    cadastral_no: str
    current_category: str | None
    current_use: str | None
    area_ha: float | None = None
    fid: int | None = None


@dataclass(frozen=True)
class DocumentInfo:
    """An attachment's description (the bytes stay in the store)."""

    id: int
    kind: str
    filename: str
    content_type: str
    size: int
    sha256: str
    uploaded_by: str
    uploaded_at: datetime

    @property
    def public(self) -> bool:
        found = DOCUMENT_KINDS.get(self.kind)
        return bool(found and found.public)


@dataclass(frozen=True)
class AgencyDecision:
    """A state body's answer at stage 4: ``approved``, ``refused`` or ``more_info``."""

    authority: str
    decision: str
    reference_no: str | None
    decision_date: date | None
    note: str | None
    recorded_by: str
    recorded_at: datetime


@dataclass(frozen=True)
class Override:
    """A recorded decision to go on despite a prohibiting constraint check.

    ``rules`` are the prohibiting rule ids the override covers; a rule that starts to
    prohibit later (a new layer, a changed rulebook) needs an override of its own.
    """

    reason: str
    by: str
    at: datetime
    rules: tuple[str, ...]


@dataclass(frozen=True)
class TransformationRequest:
    """One request to change the category and/or designated use of parcels.

    ``target_category`` ``None`` keeps each parcel's category (a change of use only);
    ``target_use`` ``None`` keeps each parcel's use.
    """

    id: int
    number: str
    status: str
    stage: str
    target_category: str | None
    target_use: str | None
    justification: str
    created_by: str
    created_at: datetime
    version: int = 1
    title: str = ""
    settlement: str | None = None
    applicant_name: str | None = None
    applicant_contact: str | None = None
    applicant_kind: str = "municipality"
    submitted_by: str | None = None
    submitted_at: datetime | None = None
    updated_at: datetime | None = None
    council_resolution_no: str | None = None
    council_resolution_date: date | None = None
    registration_no: str | None = None
    registration_date: date | None = None
    published_at: datetime | None = None
    verdict: str | None = None
    source: str = "manual"
    justification_i18n: Mapping[str, str] = field(default_factory=dict)
    override: Override | None = None
    parcels: tuple[RequestParcel, ...] = ()
    documents: tuple[DocumentInfo, ...] = ()
    agency_decisions: tuple[AgencyDecision, ...] = ()

    @property
    def is_open(self) -> bool:
        return self.status not in FINAL_STATUSES

    @property
    def owners(self) -> frozenset[str]:
        """Who filed the request: its creator and its submitter."""
        return frozenset(n for n in (self.created_by, self.submitted_by) if n)

    def justification_in(self, lang: str) -> str:
        """The justification in ``lang`` when it was generated in three languages."""
        return self.justification_i18n.get(lang) or self.justification

    def latest_agency_decisions(self) -> dict[str, AgencyDecision]:
        """Each authority's latest decision: a later answer replaces an earlier one."""
        latest: dict[str, AgencyDecision] = {}
        for decision in sorted(self.agency_decisions, key=lambda d: d.recorded_at):
            latest[decision.authority] = decision
        return latest

    def with_changes(self, **changes: Any) -> TransformationRequest:
        return replace(self, **changes)

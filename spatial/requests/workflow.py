"""The workflow of a transformation request as data: one table of legal transitions.

Each row of :data:`TRANSITIONS` says that ``action`` takes a request from ``source`` to
``target``, who may do it (a permission, and whether the person must or must not be
the one who filed the request), which inputs the step needs (a council resolution's
number and date, an authority, a reason …), which requirements must hold (documents
complete, no uncovered prohibition, parcels unchanged …) and whether the constraint
check runs again at this step. Nothing else moves a request: an action with no row from
the request's status is refused with a message naming what is possible instead.

Rules written as data, not as branches:

* **four eyes** — rows marked ``who="not_owner"`` (accepting documents, every decision,
  registration) refuse the person who created or submitted the request;
* **override** — rows with the ``override_covers_prohibition`` guard refuse a request
  whose current check prohibits the change, unless an override with its reason covers
  every prohibiting rule; the override can be recorded in the same step
  (``override_reason``) and is then part of the audit trail;
* **agencies** — stage 4 needs the approval of every authority the rulebook's
  transition matrix names for the parcels' category changes (other than the council,
  which decided at stage 3); when it names none, one approval of any state body.
  The latest answer of an authority counts.

Functions are pure: :func:`plan_step` validates an action against the table,
:func:`resolve_step` picks the row and checks its requirements against a
:class:`GuardContext` (the fresh check, the inventory), :func:`apply_step` returns the
changed request and the audit event. The web app stores both in one transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import date, datetime
from typing import Any, Literal

from ..errors import InputError, PermissionDeniedError, Problem, ValidationError, WorkflowError
from .model import (
    DOCUMENT_KINDS,
    FINAL_STATUSES,
    OPEN_STATUSES,
    STATUS_STAGE,
    STATUSES,
    AgencyDecision,
    Override,
    TransformationRequest,
    checklist_kinds,
)

__all__ = [
    "ACTIONS",
    "OPERATIONS",
    "TRANSITIONS",
    "Actor",
    "CheckSummary",
    "Event",
    "GuardContext",
    "Operation",
    "StepInput",
    "Transition",
    "allowed_actions",
    "apply_step",
    "check_operation",
    "plan_step",
    "resolve_step",
]

Who = Literal["anyone", "owner", "not_owner"]
#: The council's own authority code in the rulebook; its decision is stage 3, not 4.
COUNCIL = "local_council"


@dataclass(frozen=True)
class Actor:
    """Who acts: a name for the audit trail and the permissions of their role."""

    name: str
    permissions: frozenset[str]

    def can(self, permission: str) -> bool:
        return permission in self.permissions


@dataclass(frozen=True)
class StepInput:
    """What a person gives with an action; which fields an action needs is in its row."""

    reason: str | None = None
    resolution_no: str | None = None
    resolution_date: date | None = None
    authority: str | None = None
    reference_no: str | None = None
    decision_date: date | None = None
    registration_no: str | None = None
    registration_date: date | None = None
    override_reason: str | None = None

    def given(self) -> dict[str, Any]:
        """Fields with a value (blank text counts as not given)."""
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, str):
                value = value.strip() or None
            if value is not None:
                out[f.name] = value
        return out


@dataclass(frozen=True)
class Transition:
    """One legal move of a request (a row of the table).

    Attributes
    ----------
    permission
        Needed by whoever acts.
    who
        ``"not_owner"``: not the creator or the submitter (four eyes); ``"owner"``: the
        creator or the submitter (holders of ``admin`` too); ``"anyone"``.
    needs
        Inputs that must be given; ``optional`` inputs may be (``reason`` always may).
    guards
        Requirements that must hold, by name (:data:`GUARDS`).
    when
        For an action with several rows from one status: the condition choosing this
        row (:data:`CONDITIONS`).
    recheck
        Run the constraint check again and store it with the step.
    decision
        For agency actions, the decision recorded for ``authority``.
    """

    action: str
    source: str
    target: str
    permission: str
    who: Who = "anyone"
    needs: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()
    guards: tuple[str, ...] = ()
    when: str | None = None
    recheck: bool = True
    decision: str | None = None


def _rows(action: str, sources: Sequence[str], target: str, permission: str,
          **options: Any) -> list[Transition]:
    return [Transition(action, source, target, permission, **options) for source in sources]


_OVERRIDE = ("override_reason",)
#: Every legal transition. Stage 1 need → 2 documents → 3 council → 4 agencies →
#: 5 registration (Space section, question 84).
TRANSITIONS: tuple[Transition, ...] = (
    # 1 → 2: the planner files the justified request.
    Transition("submit", "draft", "submitted", "create_requests",
               guards=("has_parcels", "has_justification", "changes_something")),
    # 2: the land specialist checks the documents: back to the applicant, or on to the
    # council (and published for the public hearing).
    Transition("return", "submitted", "draft", "review_requests", who="not_owner",
               needs=("reason",), recheck=False),
    Transition("accept", "submitted", "under_review", "review_requests", who="not_owner",
               guards=("documents_complete",)),
    # 3: the council's resolution, recorded by staff who did not file the request.
    Transition("council_approve", "under_review", "council_approved", "decide_requests",
               who="not_owner", needs=("resolution_no", "resolution_date"), optional=_OVERRIDE,
               guards=("override_covers_prohibition",)),
    Transition("council_refuse", "under_review", "council_refused", "decide_requests",
               who="not_owner", needs=("resolution_no", "resolution_date", "reason")),
    # 4: state bodies. An approval keeps the request at stage 4 until every required
    # authority has approved; a refusal ends it; a request for more information pauses it.
    Transition("agency_approve", "council_approved", "agencies_approved", "decide_requests",
               who="not_owner", needs=("authority",),
               optional=("reference_no", "decision_date", *_OVERRIDE),
               guards=("known_authority", "override_covers_prohibition"),
               when="agencies_complete", decision="approved"),
    Transition("agency_approve", "council_approved", "council_approved", "decide_requests",
               who="not_owner", needs=("authority",),
               optional=("reference_no", "decision_date", *_OVERRIDE),
               guards=("known_authority", "override_covers_prohibition"),
               when="agencies_outstanding", decision="approved"),
    Transition("agency_refuse", "council_approved", "agencies_refused", "decide_requests",
               who="not_owner", needs=("authority", "reason"),
               optional=("reference_no", "decision_date"), guards=("known_authority",),
               decision="refused"),
    Transition("agency_request_info", "council_approved", "more_info_requested",
               "decide_requests", who="not_owner", needs=("authority", "reason"),
               optional=("reference_no", "decision_date"), guards=("known_authority",),
               decision="more_info"),
    Transition("supply_info", "more_info_requested", "council_approved", "create_requests",
               needs=("reason",)),
    # 5: state registration changes the inventory in the same transaction.
    Transition("register", "agencies_approved", "registered", "register_requests",
               who="not_owner", needs=("registration_no",),
               optional=("registration_date", *_OVERRIDE),
               guards=("parcels_as_recorded", "override_covers_prohibition")),
    # Whoever filed the request may give it up until it is registered.
    *_rows("withdraw", OPEN_STATUSES, "withdrawn", "create_requests", who="owner",
           needs=("reason",), recheck=False),
)
ACTIONS: tuple[str, ...] = tuple(dict.fromkeys(t.action for t in TRANSITIONS))


# --------------------------------------------------------------------------- guards


@dataclass(frozen=True)
class CheckSummary:
    """What the workflow needs of a constraint check: its verdict and prohibiting rules."""

    verdict: str
    prohibiting_rules: tuple[str, ...] = ()


@dataclass(frozen=True)
class GuardContext:
    """Facts the requirements are checked against, gathered by the caller.

    Attributes
    ----------
    check
        The check made for this step (``None`` when the row does not re-check).
    authorities
        Authority codes of the rulebook (``local_council`` included).
    required_authorities
        Authorities whose approval stage 4 needs (see :func:`required_authorities`).
    inventory
        ``{cadastral_no: (land_category, designated_use)}`` as the inventory has them
        now; a parcel missing from it no longer exists.
    """

    check: CheckSummary | None = None
    authorities: tuple[str, ...] = ()
    required_authorities: tuple[str, ...] = ()
    inventory: Mapping[str, tuple[str | None, str | None]] = field(default_factory=dict)


Guard = Callable[[TransformationRequest, StepInput, GuardContext], list[str]]


def _has_parcels(request: TransformationRequest, step: StepInput, ctx: GuardContext
                 ) -> list[str]:
    return [] if request.parcels else ["the request has no parcels"]


def _has_justification(request: TransformationRequest, step: StepInput, ctx: GuardContext
                       ) -> list[str]:
    if request.justification.strip() or any(v.strip() for v in
                                             request.justification_i18n.values()):
        return []
    return ["the need is not justified: the justification is empty (stage 1)"]


def _changes_something(request: TransformationRequest, step: StepInput, ctx: GuardContext
                       ) -> list[str]:
    if request.target_category is None and request.target_use is None:
        return ["the request names neither a target category nor a target use"]
    same = [p.cadastral_no for p in request.parcels
            if request.target_category in (None, p.current_category)
            and request.target_use in (None, p.current_use)]
    if same:
        return [f"parcel(s) {', '.join(same)} already have the target category and use"]
    return []


def _documents_complete(request: TransformationRequest, step: StepInput, ctx: GuardContext
                        ) -> list[str]:
    present = {d.kind for d in request.documents}
    missing = [k for k in checklist_kinds() if k not in present]
    if missing:
        return [f"documents missing from the checklist: {', '.join(missing)}"]
    return []


def _override_covers(request: TransformationRequest, step: StepInput, ctx: GuardContext
                     ) -> list[str]:
    if ctx.check is None or ctx.check.verdict != "prohibited":
        return []
    covered = set(request.override.rules) if request.override else set()
    if step.given().get("override_reason"):
        return []  # recorded with this step, covering every prohibiting rule
    open_rules = [r for r in ctx.check.prohibiting_rules if r not in covered]
    if not open_rules:
        return []
    return [
        f"the constraint check prohibits this change (rules: {', '.join(open_rules)}); "
        f"it can go past the council only with a recorded override and its reason "
        f"(override_reason)"
    ]


def _known_authority(request: TransformationRequest, step: StepInput, ctx: GuardContext
                     ) -> list[str]:
    authority = step.authority
    agencies = [a for a in ctx.authorities if a != COUNCIL]
    if authority in agencies:
        return []
    if authority == COUNCIL:
        return ["the local council decides at stage 3 (council_approve/council_refuse), "
                "not as a state body at stage 4"]
    return [f"unknown authority {authority!r}; the rulebook names {', '.join(agencies)}"]


def _parcels_as_recorded(request: TransformationRequest, step: StepInput, ctx: GuardContext
                         ) -> list[str]:
    problems = []
    for parcel in request.parcels:
        if parcel.cadastral_no not in ctx.inventory:
            problems.append(f"parcel {parcel.cadastral_no} is no longer in the inventory")
            continue
        category, use = ctx.inventory[parcel.cadastral_no]
        if (category, use) != (parcel.current_category, parcel.current_use):
            problems.append(
                f"parcel {parcel.cadastral_no} is now {category}/{use}, the request was made "
                f"for {parcel.current_category}/{parcel.current_use}; it changed since"
            )
    return problems


#: Requirements by name, as the table refers to them.
GUARDS: Mapping[str, Guard] = {
    "has_parcels": _has_parcels,
    "has_justification": _has_justification,
    "changes_something": _changes_something,
    "documents_complete": _documents_complete,
    "override_covers_prohibition": _override_covers,
    "known_authority": _known_authority,
    "parcels_as_recorded": _parcels_as_recorded,
}


def _approvals_after(request: TransformationRequest, step: StepInput) -> set[str]:
    approved = {a for a, d in request.latest_agency_decisions().items()
                if d.decision == "approved"}
    if step.authority:
        approved.add(step.authority)
    return approved


def _agencies_complete(request: TransformationRequest, step: StepInput,
                       ctx: GuardContext) -> bool:
    approved = _approvals_after(request, step)
    if ctx.required_authorities:
        return set(ctx.required_authorities) <= approved
    return bool(approved)


#: Conditions choosing between rows of one action from one status.
CONDITIONS: Mapping[str, Callable[[TransformationRequest, StepInput, GuardContext], bool]] = {
    "agencies_complete": _agencies_complete,
    "agencies_outstanding": lambda r, s, c: not _agencies_complete(r, s, c),
}


def required_authorities(
    transitions: Sequence[tuple[str | None, str | None]],
    authority_of: Callable[[str, str], str | None],
) -> tuple[str, ...]:
    """Authorities whose approval stage 4 needs, from the rulebook's transition matrix.

    Parameters
    ----------
    transitions
        ``(current_category, target_category)`` of each parcel.
    authority_of
        The matrix: authority deciding a change ``(from, to)``, ``None`` if impossible.

    The council (stage 3) is left out. Empty when the matrix names no one else: the
    workflow then takes one approval of any state body.
    """
    found = []
    for current, target in transitions:
        if current is None or target is None or current == target:
            continue
        authority = authority_of(current, target)
        if authority and authority != COUNCIL:
            found.append(authority)
    return tuple(dict.fromkeys(sorted(found)))


# --------------------------------------------------------------------------- steps


def _sources(action: str) -> list[str]:
    return list(dict.fromkeys(t.source for t in TRANSITIONS if t.action == action))


def _possible(status: str) -> list[str]:
    return list(dict.fromkeys(t.action for t in TRANSITIONS if t.source == status))


def _who_allows(who: Who, request: TransformationRequest, actor: Actor) -> bool:
    if who == "owner":
        return actor.name in request.owners or actor.can("admin")
    if who == "not_owner":
        return actor.name not in request.owners
    return True


def _who_refusal(who: Who, request: TransformationRequest, actor: Actor, action: str) -> str:
    if who == "not_owner":
        role = "submitted" if actor.name == request.submitted_by else "created"
        return (f"four-eyes rule: {actor.name} {role} request {request.number} and may not "
                f"{action} it; another person must")
    return (f"only who filed request {request.number} "
            f"({', '.join(sorted(request.owners))}) or an administrator may {action} it")


def plan_step(request: TransformationRequest, action: str, actor: Actor,
              step: StepInput) -> list[Transition]:
    """The table's rows for ``action`` on ``request``, if the actor may take it.

    Raises
    ------
    InputError
        Unknown action.
    WorkflowError
        No row leads from the request's status with this action (an illegal transition).
    PermissionDeniedError
        The actor lacks the row's permission, or the four-eyes / owner rule refuses them.
    ValidationError
        Inputs the row needs are missing, or inputs it does not take are given.
    """
    if action not in ACTIONS:
        raise InputError(f"unknown action {action!r}; actions are {', '.join(ACTIONS)}")
    rows = [t for t in TRANSITIONS if t.action == action and t.source == request.status]
    if not rows:
        possible = _possible(request.status)
        then = (f"from {request.status} the possible actions are {', '.join(possible)}"
                if possible else f"{request.status} is final: no action leads on")
        raise WorkflowError(
            f"cannot {action} request {request.number}: it is {request.status}, and "
            f"{action} applies only to requests that are {' or '.join(_sources(action))}; "
            f"{then}"
        )
    row = rows[0]
    if not actor.can(row.permission):
        raise PermissionDeniedError(
            f"{actor.name} may not {action} request {request.number}: it needs the "
            f"{row.permission!r} permission"
        )
    if not _who_allows(row.who, request, actor):
        raise PermissionDeniedError(_who_refusal(row.who, request, actor, action))
    given = step.given()
    problems = [
        Problem("missing_input", f"{action} needs {name}", layer="request", column=name,
                feature=request.number)
        for name in row.needs if name not in given
    ]
    takes = {"reason", *row.needs, *row.optional}
    problems += [
        Problem("unexpected_input", f"{action} does not take {name}", layer="request",
                column=name, feature=request.number)
        for name in given if name not in takes
    ]
    if problems:
        raise ValidationError(problems)
    return rows


def resolve_step(rows: Sequence[Transition], request: TransformationRequest, step: StepInput,
                 ctx: GuardContext) -> Transition:
    """The row that applies, once its requirements hold.

    Raises
    ------
    WorkflowError
        With every requirement that does not hold, each in one sentence.
    """
    chosen = [t for t in rows if t.when is None or CONDITIONS[t.when](request, step, ctx)]
    if len(chosen) != 1:  # pragma: no cover - the table's conditions are complementary
        raise WorkflowError(f"the workflow table has {len(chosen)} rows for this step")
    row = chosen[0]
    failures = [message for name in row.guards for message in GUARDS[name](request, step, ctx)]
    if failures:
        raise WorkflowError(
            f"cannot {row.action} request {request.number}: " + "; ".join(failures)
        )
    return row


@dataclass(frozen=True)
class Event:
    """One entry of the audit trail: who did what, when, why, and what changed."""

    action: str
    from_status: str
    to_status: str
    user: str
    at: datetime
    reason: str | None
    details: Mapping[str, Any] = field(default_factory=dict)


def apply_step(request: TransformationRequest, row: Transition, actor: Actor, step: StepInput,
               *, at: datetime, check: CheckSummary | None = None
               ) -> tuple[TransformationRequest, Event]:
    """The request after ``row`` and the event recording it (nothing is stored here)."""
    given = step.given()
    stage = STATUS_STAGE[row.target] or request.stage
    changes: dict[str, Any] = {"status": row.target, "stage": stage, "updated_at": at,
                               "version": request.version + 1}
    if check is not None:
        changes["verdict"] = check.verdict
    details: dict[str, Any] = {k: (v.isoformat() if isinstance(v, date) else v)
                               for k, v in given.items() if k != "reason"}
    if row.action == "submit":
        changes.update(submitted_by=actor.name, submitted_at=at)
    if row.target == "under_review" and request.published_at is None:
        changes["published_at"] = at
    if row.action.startswith("council_"):
        changes.update(council_resolution_no=given["resolution_no"],
                       council_resolution_date=given["resolution_date"])
    if row.decision is not None:
        decision = AgencyDecision(
            authority=given["authority"], decision=row.decision,
            reference_no=given.get("reference_no"), decision_date=given.get("decision_date"),
            note=given.get("reason"), recorded_by=actor.name, recorded_at=at,
        )
        changes["agency_decisions"] = (*request.agency_decisions, decision)
    if row.action == "register":
        changes.update(registration_no=given["registration_no"],
                       registration_date=given.get("registration_date") or at.date())
    if "override_reason" in given and check is not None and check.verdict == "prohibited":
        previous = request.override.rules if request.override else ()
        changes["override"] = Override(
            reason=given["override_reason"], by=actor.name, at=at,
            rules=tuple(dict.fromkeys((*previous, *check.prohibiting_rules))),
        )
        details["override_rules"] = list(changes["override"].rules)
    if check is not None:
        details["verdict"] = check.verdict
    event = Event(action=row.action, from_status=request.status, to_status=row.target,
                  user=actor.name, at=at, reason=given.get("reason"), details=details)
    return request.with_changes(**changes), event


def allowed_actions(request: TransformationRequest, actor: Actor) -> list[str]:
    """Actions the table lets ``actor`` take on ``request`` now (for the forms shown)."""
    out = []
    for t in TRANSITIONS:
        if (t.source == request.status and actor.can(t.permission)
                and _who_allows(t.who, request, actor) and t.action not in out):
            out.append(t.action)
    return out


# --------------------------------------------------------------------------- operations


@dataclass(frozen=True)
class Operation:
    """Something done to a request that is not a transition (an edit, a comment …).

    ``permissions``: any one of them (none: anyone, the public included);
    ``published``: only on requests published for the hearing.
    """

    name: str
    statuses: frozenset[str]
    permissions: tuple[str, ...] = ()
    who: Who = "anyone"
    published: bool = False


_ALL = frozenset(STATUSES)
#: When each operation is possible. Public comments are taken during the hearing, while
#: the request is before the council (stage 3); staff moderate and answer them later too.
OPERATIONS: Mapping[str, Operation] = {
    op.name: op for op in (
        Operation("edit", frozenset({"draft"}), ("create_requests",), who="owner"),
        Operation("attach", frozenset(OPEN_STATUSES)),
        Operation("recheck", frozenset(OPEN_STATUSES), ("run_checks",)),
        Operation("comment", frozenset({"under_review"}), published=True),
        Operation("record_comment", frozenset({"under_review"}), ("moderate_comments",),
                  published=True),
        Operation("moderate", _ALL, ("moderate_comments",), published=True),
        Operation("answer", _ALL, ("moderate_comments",), published=True),
    )
}


def check_operation(request: TransformationRequest, name: str, actor: Actor, *,
                    document_kind: str | None = None) -> None:
    """Refuse an operation the table does not allow now (or to this actor).

    Raises
    ------
    WorkflowError
        The request's status (or publication) does not allow it.
    PermissionDeniedError
        The actor lacks every permission it takes.
    """
    op = OPERATIONS[name]
    if request.status not in op.statuses:
        raise WorkflowError(
            f"cannot {name} request {request.number} while it is {request.status}; "
            f"possible while it is {' or '.join(s for s in STATUSES if s in op.statuses)}"
        )
    if op.published and request.published_at is None:
        raise WorkflowError(f"request {request.number} is not published")
    permissions = op.permissions
    if name == "attach":
        kind = DOCUMENT_KINDS.get(document_kind or "")
        if kind is None:
            raise InputError(f"unknown document kind {document_kind!r}; kinds are "
                             f"{', '.join(DOCUMENT_KINDS)}")
        permissions = kind.permissions
    if permissions and not any(actor.can(p) for p in permissions):
        raise PermissionDeniedError(
            f"{actor.name} may not {name} request {request.number}: it needs one of the "
            f"permissions {', '.join(permissions)}"
        )
    if not _who_allows(op.who, request, actor):
        raise PermissionDeniedError(_who_refusal(op.who, request, actor, name))


def is_final(status: str) -> bool:
    return status in FINAL_STATUSES

"""Land transformation requests: from the justified need to state registration.

* :mod:`~spatial.requests.model` — statuses, the five stages, documents, decisions;
* :mod:`~spatial.requests.workflow` — the transition table (who may do what, when),
  the four-eyes and override rules, pure step functions;
* :mod:`~spatial.requests.checks` — the constraint check of a request and the
  fingerprint that tells when a stored check went stale;
* :mod:`~spatial.requests.documents` — attachment allow-list, size cap and signatures;
* :mod:`~spatial.requests.drafts` — requests from the allocation's draft list.

Storage is the caller's: the web app keeps requests in workspace tables.
"""

from .checks import (
    RequestCheck,
    check_request,
    is_stale,
    reference_fingerprint,
    request_authorities,
)
from .documents import ALLOWED_TYPES, MAX_ATTACHMENT_BYTES, Attachment, validate_attachment
from .drafts import DRAFT_COLUMNS, DraftRequest, group_drafts
from .model import (
    DOCUMENT_KINDS,
    FINAL_STATUSES,
    OPEN_STATUSES,
    STAGES,
    STATUS_STAGE,
    STATUSES,
    AgencyDecision,
    DocumentInfo,
    DocumentKind,
    Override,
    RequestParcel,
    TransformationRequest,
    checklist_kinds,
)
from .workflow import (
    ACTIONS,
    OPERATIONS,
    TRANSITIONS,
    Actor,
    CheckSummary,
    Event,
    GuardContext,
    Operation,
    StepInput,
    Transition,
    allowed_actions,
    apply_step,
    check_operation,
    plan_step,
    required_authorities,
    resolve_step,
)

__all__ = [
    "ACTIONS",
    "ALLOWED_TYPES",
    "DOCUMENT_KINDS",
    "DRAFT_COLUMNS",
    "FINAL_STATUSES",
    "MAX_ATTACHMENT_BYTES",
    "OPEN_STATUSES",
    "OPERATIONS",
    "STAGES",
    "STATUSES",
    "STATUS_STAGE",
    "TRANSITIONS",
    "Actor",
    "AgencyDecision",
    "Attachment",
    "CheckSummary",
    "DocumentInfo",
    "DocumentKind",
    "DraftRequest",
    "Event",
    "GuardContext",
    "Operation",
    "Override",
    "RequestCheck",
    "RequestParcel",
    "StepInput",
    "TransformationRequest",
    "Transition",
    "allowed_actions",
    "apply_step",
    "check_operation",
    "check_request",
    "checklist_kinds",
    "group_drafts",
    "is_stale",
    "plan_step",
    "reference_fingerprint",
    "request_authorities",
    "required_authorities",
    "resolve_step",
    "validate_attachment",
]

"""The one error hierarchy of Jer.

Every failure the domain can report derives from :class:`JerError`, so callers (the
CLI, the web app) can map each kind to an exit code or an HTTP status in one table
instead of catching library exceptions. Errors that describe bad input carry every
:class:`Problem` found, never only the first: a land specialist fixing a cadastre
extract needs the whole list in one pass.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = [
    "CRSError",
    "ConflictError",
    "InputError",
    "JerError",
    "NotFoundError",
    "PermissionDeniedError",
    "Problem",
    "RulebookError",
    "StoreError",
    "ValidationError",
    "WorkflowError",
    "raise_if_problems",
]


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem found in input, located as precisely as the input allows.

    Parameters
    ----------
    code
        Stable machine-readable code, e.g. ``"invalid_geometry"``; tests and the UI
        key on it, the message is for people.
    message
        Human-readable English sentence naming the problem and the offending value.
    layer
        Layer (or file section) the problem is in.
    row
        0-based row index in the input as given, when the problem is tied to a row.
    feature
        Feature key, such as a cadastral number, so the user can find the row.
    column
        Column the problem is in.
    details
        Extra machine-readable facts (areas, ratios, the other feature of an overlap).
    severity
        ``"error"`` blocks a write; ``"warning"`` (e.g. official vs computed area) is
        reported beside a successful write so the specialist can check the source.
    """

    code: str
    message: str
    layer: str | None = None
    row: int | None = None
    feature: str | None = None
    column: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    severity: str = "error"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        where = []
        if self.layer:
            where.append(self.layer)
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.feature:
            where.append(str(self.feature))
        if self.column:
            where.append(f"column {self.column!r}")
        prefix = f"[{', '.join(where)}] " if where else ""
        return f"{prefix}{self.message}"


class JerError(Exception):
    """Base class of every error raised on purpose by Jer."""


class InputError(JerError, ValueError):
    """Input that cannot be read at all: an unsupported file, a missing ``.prj``, bad arguments."""


class ValidationError(JerError, ValueError):
    """Input that was read but breaks the data model; carries every problem found."""

    def __init__(self, problems: Iterable[Problem], message: str | None = None) -> None:
        self.problems: list[Problem] = list(problems)
        if message is None:
            n = len(self.problems)
            head = "; ".join(str(p) for p in self.problems[:3])
            more = f" (and {n - 3} more)" if n > 3 else ""
            message = f"{n} validation problem{'s' if n != 1 else ''}: {head}{more}"
        super().__init__(message)

    def to_dict(self) -> dict[str, Any]:
        return {"message": str(self), "problems": [p.to_dict() for p in self.problems]}


class RulebookError(ValidationError):
    """A rulebook that does not validate (unknown code, missing ``source``, typo in a key)."""


class CRSError(JerError, ValueError):
    """Missing, unknown or mismatched coordinate reference systems."""


class NotFoundError(JerError, LookupError):
    """A parcel, layer, version or workspace that does not exist."""


class ConflictError(JerError):
    """A write based on a stale ``row_version``, or a key that is already taken.

    Nothing has been written when this is raised.
    """

    def __init__(
        self, message: str, *, expected: int | None = None, actual: int | None = None
    ) -> None:
        super().__init__(message)
        self.expected = expected
        self.actual = actual


class PermissionDeniedError(JerError, PermissionError):
    """The acting user's role does not allow the operation."""


class WorkflowError(JerError):
    """An illegal step in a workflow, e.g. a transformation request transition."""


class StoreError(JerError):
    """The workspace store failed (cannot open, corrupt, unreachable server)."""


def raise_if_problems(
    problems: Sequence[Problem], *, error: type[ValidationError] = ValidationError
) -> None:
    """Raise ``error`` with all ``problems`` if there is any; the collect-then-raise idiom."""
    if problems:
        raise error(problems)

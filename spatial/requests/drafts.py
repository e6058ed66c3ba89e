"""Draft requests from the allocation's list, for intake in bulk.

:meth:`spatial.demand.allocation.AllocationResult.draft_requests` lists, one row per
parcel, the category changes the forecast demand needs, with the justification (the
demand drivers) in three languages — stage 1 of a transformation already done. Intake
groups the rows into requests: parcels of one settlement that change from the same
category to the same category and use form one request, as a council would consider
them together; ``per_parcel`` makes one request per parcel instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from ..errors import Problem, ValidationError

__all__ = ["DRAFT_COLUMNS", "DraftRequest", "group_drafts"]

DRAFT_COLUMNS = ("cadastral_no", "settlement", "current_category", "target_category",
                 "target_use")
_LANGS = ("ky", "ru", "en")


@dataclass(frozen=True)
class DraftRequest:
    """One request to create from the draft list."""

    settlement: str | None
    current_category: str | None
    target_category: str | None
    target_use: str | None
    cadastral_nos: tuple[str, ...]
    justification: dict[str, str]
    area_ha: float


def _blank(values: pd.Series) -> pd.Series:
    return values.isna() | (values.astype(str).str.strip() == "")


def group_drafts(
    drafts: pd.DataFrame, *, categories: Sequence[str], uses: Sequence[str],
    per_parcel: bool = False,
) -> list[DraftRequest]:
    """Requests to create from allocation draft rows; every bad row reported at once.

    Raises
    ------
    ValidationError
        Missing columns; rows without a cadastral number or target; unknown category or
        use codes; a parcel listed twice.
    """
    missing = [c for c in DRAFT_COLUMNS if c not in drafts.columns]
    if missing:
        raise ValidationError([Problem(
            "missing_column", f"the draft list has no column {c!r} (columns: "
            f"{', '.join(map(str, drafts.columns))})", layer="drafts", column=c,
        ) for c in missing])
    frame = drafts.reset_index(drop=True)
    problems: list[Problem] = []
    keys = frame["cadastral_no"].astype(object).where(~_blank(frame["cadastral_no"]), None)
    for row in frame.index[keys.isna()]:
        problems.append(Problem("missing_value", "no cadastral number", layer="drafts",
                                row=int(row), column="cadastral_no"))
    no_target = _blank(frame["target_category"]) & _blank(frame["target_use"])
    for row in frame.index[no_target]:
        problems.append(Problem("missing_value", "neither target_category nor target_use",
                                layer="drafts", row=int(row), feature=keys[row]))
    for column, known in (("current_category", categories), ("target_category", categories),
                          ("target_use", uses)):
        values = frame[column]
        bad = ~_blank(values) & ~values.isin(list(known))
        for row in frame.index[bad]:
            problems.append(Problem(
                "unknown_code", f"{column} {values[row]!r} is not a code of the rulebook",
                layer="drafts", row=int(row), feature=keys[row], column=column,
            ))
    twice = keys.notna() & keys.duplicated(keep="first")
    for row in frame.index[twice]:
        problems.append(Problem("duplicate", f"parcel {keys[row]} is listed twice",
                                layer="drafts", row=int(row), feature=keys[row],
                                column="cadastral_no"))
    if problems:
        raise ValidationError(problems)

    clean = frame.astype(object).where(~frame.isna(), None)
    for column in ("settlement", "current_category", "target_category", "target_use"):
        clean[column] = clean[column].where(~_blank(frame[column]), None)
    for lang in _LANGS:
        column = f"justification_{lang}"
        clean[column] = clean[column].fillna("") if column in clean else ""
    clean["area_ha"] = pd.to_numeric(frame.get("area_ha", pd.Series(0.0, index=frame.index)),
                                     errors="coerce").fillna(0.0)
    group_by = ["settlement", "current_category", "target_category", "target_use"]
    clean["_group"] = (frame.index.to_series() if per_parcel
                       else clean[group_by].astype(str).agg("\x1f".join, axis=1))
    grouped = clean.groupby("_group", sort=False)
    first = grouped.first()
    parcels = grouped["cadastral_no"].agg(list)
    area = grouped["area_ha"].sum()

    def text(group: object, column: str) -> str | None:
        value = first.at[group, column]
        return None if value is None else str(value)

    return [
        DraftRequest(
            settlement=text(g, "settlement"),
            current_category=text(g, "current_category"),
            target_category=text(g, "target_category"),
            target_use=text(g, "target_use"),
            cadastral_nos=tuple(map(str, parcels[g])),
            justification={lang: str(first.at[g, f"justification_{lang}"])
                           for lang in _LANGS if first.at[g, f"justification_{lang}"]},
            area_ha=float(area[g]),
        )
        for g in first.index
    ]

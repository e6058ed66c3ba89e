"""Shared checks for the demand module's input tables.

Each check appends one :class:`~spatial.errors.Problem` per offending row, naming the
row, the column and the value, so the caller can raise a single ``ValidationError``
with everything the user has to fix.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from ..errors import Problem

__all__ = [
    "check_columns",
    "check_unknown_settlements",
    "numeric_column",
    "round_half_away",
    "text_column",
]


def round_half_away(values: np.ndarray | float, decimals: int = 0) -> np.ndarray:
    """Round half away from zero, as people do by hand (NumPy rounds half to even).

    The SEDP worked example rounds growth rates to two decimals of a percent and the
    forecast to whole persons the way a calculator does; banker's rounding would
    disagree on exact halves.
    """
    arr = np.asarray(values, dtype=float)
    scale = 10.0**decimals
    return np.sign(arr) * np.floor(np.abs(arr) * scale + 0.5) / scale


def check_columns(
    frame: pd.DataFrame, required: Sequence[str], *, layer: str, problems: list[Problem]
) -> bool:
    """Append a ``missing_column`` problem per absent column; True when all are present."""
    missing = [c for c in required if c not in frame.columns]
    for column in missing:
        problems.append(
            Problem(
                code="missing_column",
                message=f"column {column!r} is missing "
                f"(found: {', '.join(map(str, frame.columns))})",
                layer=layer,
                column=column,
            )
        )
    return not missing


def _describe(frame: pd.DataFrame, positions: np.ndarray, key: str | None) -> list[str | None]:
    if key is None or key not in frame.columns:
        return [None] * len(positions)
    return [None if pd.isna(v) else str(v) for v in frame[key].to_numpy()[positions]]


def text_column(
    frame: pd.DataFrame, column: str, *, layer: str, problems: list[Problem]
) -> pd.Series:
    """The column as stripped strings; blank cells are reported as ``missing_value``."""
    raw = frame[column]
    text = raw.astype("string").str.strip()
    blank = (text.isna() | (text == "")).to_numpy()
    for pos in np.flatnonzero(blank):
        problems.append(
            Problem(
                code="missing_value",
                message=f"{column} is empty",
                layer=layer,
                row=int(pos),
                column=column,
            )
        )
    return text.astype(object).where(~blank, None)


def numeric_column(
    frame: pd.DataFrame,
    column: str,
    *,
    layer: str,
    problems: list[Problem],
    key: str | None = None,
    allow_blank: bool = False,
    integer: bool = False,
    minimum: float | None = None,
    code_below: str = "below_min",
) -> pd.Series:
    """Coerce a column to float, reporting blanks, non-numbers, fractions and low values.

    Parameters
    ----------
    key
        Column whose value names the row's feature in the problem (e.g. ``settlement``).
    allow_blank
        Blank cells become NaN instead of a ``missing_value`` problem.
    integer
        Values must be whole numbers (years, counts of people in a household book).
    minimum
        Values below it are reported with ``code_below`` (e.g. ``negative_count``).

    Returns
    -------
    pandas.Series
        Float values, NaN where the cell was blank or bad, index as the input's.
    """
    raw = frame[column]
    as_text = raw.astype("string").str.strip()
    blank = (as_text.isna() | (as_text == "")).to_numpy()
    if pd.api.types.is_numeric_dtype(raw.dtype) and not pd.api.types.is_bool_dtype(raw.dtype):
        values = pd.to_numeric(raw, errors="coerce").astype(float)
    else:
        values = pd.to_numeric(as_text.str.replace(",", ".", regex=False), errors="coerce")
        values = values.astype(float)
    arr = values.to_numpy(dtype=float, na_value=np.nan)
    bad_type = ~blank & ~np.isfinite(arr)
    features = _describe(frame, np.arange(len(frame)), key)
    raw_values = raw.to_numpy()
    if not allow_blank:
        for pos in np.flatnonzero(blank):
            problems.append(
                Problem(code="missing_value", message=f"{column} is empty", layer=layer,
                        row=int(pos), feature=features[pos], column=column)
            )
    for pos in np.flatnonzero(bad_type):
        problems.append(
            Problem(
                code="bad_type",
                message=f"{column} {raw_values[pos]!r} is not a number",
                layer=layer,
                row=int(pos),
                feature=features[pos],
                column=column,
            )
        )
    finite = np.isfinite(arr)
    if integer:
        fraction = finite & (arr != np.round(arr))
        for pos in np.flatnonzero(fraction):
            problems.append(
                Problem(
                    code="bad_type",
                    message=f"{column} {raw_values[pos]!r} is not a whole number",
                    layer=layer,
                    row=int(pos),
                    feature=features[pos],
                    column=column,
                )
            )
        arr = np.where(fraction, np.nan, arr)
    if minimum is not None:
        low = finite & (arr < minimum)
        for pos in np.flatnonzero(low):
            problems.append(
                Problem(
                    code=code_below,
                    message=f"{column} {raw_values[pos]!r} is below {minimum:g}",
                    layer=layer,
                    row=int(pos),
                    feature=features[pos],
                    column=column,
                )
            )
        arr = np.where(low, np.nan, arr)
    arr = np.where(bad_type, np.nan, arr)
    return pd.Series(arr, index=frame.index, name=column, dtype=float)


def check_unknown_settlements(
    names: pd.Series,
    known: Iterable[str],
    *,
    layer: str,
    problems: list[Problem],
    column: str = "settlement",
) -> np.ndarray:
    """Report names not among ``known`` (with a close match as a hint); returns the mask."""
    known_list = [str(k) for k in known]
    known_set = set(known_list)
    present = names.notna().to_numpy()
    unknown = present & ~names.isin(known_set).to_numpy()
    values = names.to_numpy()
    for pos in np.flatnonzero(unknown):
        name = str(values[pos])
        hint = difflib.get_close_matches(name, known_list, n=1, cutoff=0.6)
        extra = f"; did you mean {hint[0]!r}?" if hint else ""
        problems.append(
            Problem(
                code="unknown_settlement",
                message=f"unknown settlement {name!r} (known: {', '.join(known_list)}){extra}",
                layer=layer,
                row=int(pos),
                feature=name,
                column=column,
            )
        )
    return unknown

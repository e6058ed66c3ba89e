"""Validation of workspace layers against the data model.

Every write to the workspace (a single edit, an import of 100 000 parcels) goes through
:func:`validate_layer`, so the rules live in one place. The function never stops at the
first problem: a land specialist fixing a cadastre extract needs the whole list in one
pass, with each problem located by row, cadastral number and column.

Problems of severity ``"error"`` block a write; ``"warning"`` problems (official vs
computed area, ignored columns) are reported beside a successful write.
"""

from __future__ import annotations

import difflib
import threading
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS
from shapely.geometry.base import BaseGeometry

from .errors import CRSError, InputError, Problem, ValidationError
from .schema import ColumnSpec, LayerSchema, codes, layer_schema

__all__ = ["ValidationReport", "coerce_boolean", "rulebook_code_lists", "validate_layer"]

#: Spellings of booleans found in cadastre extracts (Russian, Kyrgyz, English, numeric).
_TRUE = {"true", "t", "yes", "y", "1", "да", "д", "ооба", "ха", "истина", "used", "in use"}
_FALSE = {"false", "f", "no", "n", "0", "нет", "н", "жок", "ложь", "unused", ""}
#: Layers whose features must not overlap each other (a parcel fabric is a partition).
_NO_OVERLAP = {"parcels"}
#: Layers that belong to the municipality and must lie inside it. Reference layers
#: (rivers, protected areas, hazard zones) legitimately cross the boundary: a warning.
_INSIDE_BOUNDARY = {"parcels", "settlements", "facilities", "municipality"}
#: How many valid codes an ``unknown_code`` message lists before eliding (the full list
#: is in the problem's ``details``). Every code list of the data model and the default
#: rulebook's uses fit.
_MAX_CODES_IN_MESSAGE = 30


@dataclass
class ValidationReport:
    """Outcome of :func:`validate_layer`.

    Attributes
    ----------
    frame
        The input normalised: in the target CRS, schema columns coerced to their types,
        defaults filled, ``area_ha`` computed for polygon layers, unknown columns dropped.
        Rows keep the input's order and a fresh ``RangeIndex`` so positions match
        :attr:`Problem.row`.
    problems
        Every problem found, errors first.
    invalid_rows
        Sorted 0-based positions of rows with at least one error.
    """

    layer: str
    frame: gpd.GeoDataFrame
    problems: list[Problem] = field(default_factory=list)
    invalid_rows: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity != "error"]

    @property
    def ok(self) -> bool:
        """True when no problem blocks writing the whole frame."""
        return not self.errors

    def valid_frame(self) -> gpd.GeoDataFrame:
        """Rows without errors, for an import that asks to keep only the valid rows."""
        keep = np.ones(len(self.frame), dtype=bool)
        keep[self.invalid_rows] = False
        return self.frame.iloc[np.flatnonzero(keep)]

    def raise_if_invalid(self) -> None:
        """Raise :class:`ValidationError` with every problem if any is an error."""
        if not self.ok:
            raise ValidationError(self.problems)

    def to_dict(self) -> dict[str, Any]:
        return {
            "layer": self.layer,
            "rows": len(self.frame),
            "invalid_rows": len(self.invalid_rows),
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "problems": [p.to_dict() for p in self.problems],
        }


class _Collector:
    """Accumulates problems and the rows they invalidate."""

    def __init__(self, layer: str, keys: pd.Series | None) -> None:
        self.layer = layer
        self.keys = keys
        self.problems: list[Problem] = []
        self.bad_rows: list[np.ndarray] = []

    def key_of(self, row: int) -> str | None:
        if self.keys is None:
            return None
        value = self.keys.iloc[row]
        return None if _isnull(value) else str(value)

    def rows(
        self,
        rows: np.ndarray,
        code: str,
        make_message: Any,
        *,
        column: str | None = None,
        severity: str = "error",
        details: Any = None,
    ) -> None:
        """Record one problem per row in ``rows``; messages come from ``make_message(row)``."""
        rows = np.asarray(rows, dtype=np.int64)
        if rows.size == 0:
            return
        self.problems.extend(
            Problem(
                code=code,
                message=make_message(int(r)),
                layer=self.layer,
                row=int(r),
                feature=self.key_of(int(r)),
                column=column,
                details=details(int(r)) if details else {},
                severity=severity,
            )
            for r in rows.tolist()
        )
        if severity == "error":
            self.bad_rows.append(rows)

    def whole(self, code: str, message: str, *, column: str | None = None,
              severity: str = "error", n_rows: int = 0) -> None:
        """Record a problem with the whole input (e.g. a missing column)."""
        self.problems.append(
            Problem(code=code, message=message, layer=self.layer, column=column, severity=severity)
        )
        if severity == "error" and n_rows:
            self.bad_rows.append(np.arange(n_rows, dtype=np.int64))

    def invalid_rows(self) -> np.ndarray:
        if not self.bad_rows:
            return np.empty(0, dtype=np.int64)
        return np.unique(np.concatenate(self.bad_rows))

    def sorted_problems(self) -> list[Problem]:
        return sorted(
            self.problems,
            key=lambda p: (p.severity != "error", -1 if p.row is None else p.row, p.code),
        )


def _isnull(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def coerce_boolean(values: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Booleans from the many spellings in extracts; returns values and a bad-value mask.

    Nulls stay null (pandas ``boolean`` dtype) so "missing" and "false" stay distinct.
    """
    if pd.api.types.is_bool_dtype(values):
        return values.astype("boolean"), np.zeros(len(values), dtype=bool)
    null = values.isna().to_numpy()
    text = values.astype(str).str.strip().str.lower()
    text = text.str.replace(r"\.0$", "", regex=True)
    is_true = text.isin(_TRUE).to_numpy()
    is_false = text.isin(_FALSE).to_numpy() & ~null
    out = pd.Series(pd.array([pd.NA] * len(values), dtype="boolean"), index=values.index)
    out[is_true] = True
    out[is_false] = False
    bad = ~(null | is_true | is_false)
    return out, bad


def _coerce_text(values: pd.Series) -> pd.Series:
    """Text from whatever the reader produced; integral floats lose their ``.0``."""
    null = values.isna()
    if pd.api.types.is_float_dtype(values):
        as_int = values.where(null | (values % 1 != 0), values.fillna(0).astype(np.int64))
        text = as_int.astype(object).astype(str)
    else:
        text = values.astype(str).str.strip()
    return text.where(~null, None).astype(object)


def _coerce(values: pd.Series, spec: ColumnSpec) -> tuple[pd.Series, np.ndarray]:
    """Coerce a column to its schema type; returns (values, mask of unparseable values)."""
    null = values.isna().to_numpy()
    if spec.type == "text":
        return _coerce_text(values), np.zeros(len(values), dtype=bool)
    if spec.type in ("integer", "real"):
        raw = values
        if raw.dtype == object:
            raw = raw.astype(str).str.strip().str.replace(",", ".", regex=False)
            raw = raw.where(~values.isna(), None)
        num = pd.to_numeric(raw, errors="coerce")
        bad = num.isna().to_numpy() & ~null
        if spec.type == "integer":
            frac = num.notna().to_numpy() & (np.nan_to_num(num.to_numpy(dtype=float)) % 1 != 0)
            bad |= frac
            num = num.where(~frac).round().astype("Int64")
        else:
            num = num.astype(float)
        return num, bad
    if spec.type == "boolean":
        return coerce_boolean(values)
    if spec.type == "date":
        if pd.api.types.is_datetime64_any_dtype(values):
            parsed = values
        else:
            # ISO dates first (what GDAL, JSON and date objects give); then the
            # day-first forms of Russian and Kyrgyz documents (31.12.2030).
            text = values.map(
                lambda v: v.isoformat() if hasattr(v, "isoformat") else v
            ).astype(str).str.strip().where(~values.isna(), None)
            parsed = pd.to_datetime(text, errors="coerce", format="ISO8601")
            rest = parsed.isna().to_numpy() & ~null
            if rest.any():
                parsed[rest] = pd.to_datetime(
                    text[rest], errors="coerce", format="mixed", dayfirst=True
                )
        bad = parsed.isna().to_numpy() & ~null
        out = pd.Series(parsed.dt.date, index=values.index).astype(object)
        out[parsed.isna().to_numpy()] = None
        return out, bad
    raise AssertionError(f"unknown column type {spec.type!r}")  # pragma: no cover


def validate_layer(
    frame: gpd.GeoDataFrame,
    layer: str,
    *,
    crs: CRS | str | int,
    municipality: BaseGeometry | None = None,
    existing: gpd.GeoDataFrame | None = None,
    overlap_tolerance_m2: float = 1.0,
    area_tolerance: float = 0.05,
    code_lists: Mapping[str, Sequence[str]] | None = None,
) -> ValidationReport:
    """Check ``frame`` against the data model of ``layer`` and normalise it.

    Parameters
    ----------
    frame
        Features to write, in any CRS (reprojected to ``crs``).
    layer
        Schema layer name (``parcels``, ``settlements``, ``zones`` …).
    crs
        The workspace's projected CRS, in which areas are measured.
    municipality
        Boundary (in ``crs``) that features must lie within, beyond the tolerance.
    existing
        Features already in the workspace, in ``crs``, that new rows must neither
        duplicate by key nor overlap; the caller leaves out rows being replaced.
    overlap_tolerance_m2
        Overlaps and parts outside the boundary up to this area are digitising noise.
    area_tolerance
        Relative difference between official and computed area that raises a warning.
    code_lists
        Allowed codes of columns whose code list is not fixed by the data model, by
        column: a parcel's ``designated_use`` must be a use of the workspace's rulebook
        (see :func:`rulebook_code_lists`), which a municipality may extend. Replaces the
        schema's code list of a column it names. Without it such columns are free text.

    Returns
    -------
    ValidationReport
        The normalised frame and every problem; nothing is raised for bad rows so the
        caller can choose to refuse the whole input or keep the valid rows.

    Raises
    ------
    InputError
        If ``frame`` has no geometry column at all.
    CRSError
        If ``frame`` has no CRS or ``crs`` is not projected.
    """
    schema = layer_schema(layer)
    target = CRS.from_user_input(crs)
    if not target.is_projected:
        raise CRSError(f"workspace CRS {target.to_string()} is not projected; areas need metres")
    if not isinstance(frame, gpd.GeoDataFrame) or frame._geometry_column_name not in frame:
        raise InputError(f"{layer}: input has no geometry column")
    if frame.crs is None:
        raise CRSError(f"{layer}: input has no CRS; give the file a .prj or name its CRS")

    frame = frame.reset_index(drop=True)
    if CRS.from_user_input(frame.crs) != target:
        frame = frame.to_crs(target)
    n = len(frame)
    keys = _key_series(frame, schema)
    collector = _Collector(layer, keys)

    out = _check_columns(frame, schema, collector, code_lists or {})
    geoms = frame.geometry.to_numpy()
    usable = _check_geometry(geoms, schema, collector)
    out = gpd.GeoDataFrame(out, geometry=gpd.GeoSeries(geoms, crs=target), crs=target)
    if any(t in ("Polygon", "MultiPolygon") for t in schema.geometry_types):
        areas = np.where(usable, shapely.area(geoms), np.nan)
        if "area_ha" in schema.computed or layer == "parcels":
            out["area_ha"] = areas / 10_000.0
        if "official_area_ha" in schema.columns:
            _check_official_area(out, areas, area_tolerance, collector)
    _check_keys(out, schema, existing, collector)
    if municipality is not None:
        _check_inside(
            geoms, usable, municipality, overlap_tolerance_m2, collector,
            severity="error" if layer in _INSIDE_BOUNDARY else "warning",
        )
    if layer in _NO_OVERLAP:
        _check_overlaps(out, geoms, usable, existing, schema, overlap_tolerance_m2, collector)

    return ValidationReport(
        layer=layer,
        frame=out,
        problems=collector.sorted_problems(),
        invalid_rows=collector.invalid_rows() if n else np.empty(0, dtype=np.int64),
    )


def _key_series(frame: pd.DataFrame, schema: LayerSchema) -> pd.Series | None:
    if schema.key and schema.key in frame.columns:
        return _coerce_text(frame[schema.key])
    return None


def _check_columns(
    frame: gpd.GeoDataFrame, schema: LayerSchema, collector: _Collector,
    code_lists: Mapping[str, Sequence[str]],
) -> pd.DataFrame:
    """Coerce schema columns, report missing, mistyped, unknown-code and out-of-range values."""
    n = len(frame)
    geometry_name = frame.geometry.name
    out = pd.DataFrame(index=frame.index)
    extra = [
        c for c in frame.columns
        if c != geometry_name and c not in schema.columns and c not in schema.computed
        and c != "fid"
    ]
    if extra:
        collector.whole(
            "unknown_column",
            f"columns not in the {schema.name} data model were ignored: "
            f"{', '.join(map(str, extra))}",
            severity="warning",
        )
    for name, spec in schema.columns.items():
        if name not in frame.columns:
            if spec.required:
                collector.whole(
                    "missing_column",
                    f"required column {name!r} is missing (use a column mapping if the "
                    f"file names it differently)",
                    column=name,
                    n_rows=n,
                )
            out[name] = pd.Series([spec.default] * n, index=frame.index, dtype=object)
            continue
        raw = frame[name]
        values, bad = _coerce(raw, spec)
        collector.rows(
            np.flatnonzero(bad),
            "bad_type",
            lambda r, raw=raw, spec=spec: (
                f"{spec.name}: {raw.iloc[r]!r} is not a valid {spec.type}"
            ),
            column=name,
        )
        null = values.isna().to_numpy() & ~bad
        if spec.required:
            collector.rows(
                np.flatnonzero(null), "missing_value",
                lambda r, name=name: f"{name} is required but empty", column=name,
            )
        elif spec.default is not None and null.any():
            values = values.astype(object)
            values[null] = spec.default
            if spec.type == "boolean":
                values = values.astype("boolean")
        if name in code_lists:
            _check_codes(values, tuple(code_lists[name]), name, collector)
        elif spec.codes:
            _check_codes(values, codes(spec.codes), name, collector)
        if spec.min is not None and spec.type in ("integer", "real"):
            num = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
            below = np.flatnonzero(np.nan_to_num(num, nan=spec.min) < spec.min)
            collector.rows(
                below, "below_min",
                lambda r, num=num, name=name, lo=spec.min: f"{name}: {num[r]:g} is below {lo:g}",
                column=name,
            )
        out[name] = values
    return out


def _check_codes(values: pd.Series, allowed: tuple[str, ...], name: str,
                 collector: _Collector) -> None:
    """Values of a coded column must be among ``allowed``; each problem names them all."""
    present = values.notna().to_numpy()
    unknown = np.flatnonzero(present & ~values.isin(allowed).to_numpy())
    if unknown.size == 0:
        return
    listed = ", ".join(allowed[:_MAX_CODES_IN_MESSAGE])
    if len(allowed) > _MAX_CODES_IN_MESSAGE:
        listed += f", … ({len(allowed)} codes)"
    # One suggestion per distinct wrong value, not per row: imports repeat the same typo.
    hints = {
        value: difflib.get_close_matches(str(value), allowed, n=1)
        for value in pd.unique(values.iloc[unknown])
    }

    def message(r: int) -> str:
        value = values.iloc[r]
        close = hints[value]
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"{name}: unknown code {value!r}{hint}; expected one of {listed}"

    collector.rows(
        unknown, "unknown_code", message, column=name,
        details=lambda r: {"value": values.iloc[r], "allowed": list(allowed)},
    )


_RULEBOOK_CODES: dict[tuple[Any, ...], dict[str, tuple[str, ...]]] = {}
_RULEBOOK_CODES_LOCK = threading.Lock()


def _file_stamp(path: Path) -> tuple[Any, ...]:
    try:
        st = path.stat()
    except OSError:
        return (str(path), None, None)
    return (str(path.resolve()), st.st_mtime_ns, st.st_size)


def rulebook_code_lists(rulebook: str | Path | None = None) -> dict[str, tuple[str, ...]]:
    """Code lists of layer columns that a rulebook defines, for ``validate_layer``.

    A parcel's ``designated_use`` is rulebook data: the checks, the capacity and the
    Space report look each use up in the workspace's rulebook and refuse one it does not
    define, so a write must refuse it first, naming the uses there are. The rulebook
    (``None``: the shipped default) is loaded once per state of its file and of the
    shipped rulebooks it may extend, since every single edit is validated.

    Raises
    ------
    RulebookError, InputError
        When the rulebook file is missing or invalid: writes wait for a working rulebook.
    """
    from .zoning.rulebook import default_rulebook_path, load_rulebook

    path = Path(rulebook) if rulebook else default_rulebook_path()
    shipped = sorted(default_rulebook_path().parent.glob("*.yaml"))
    key = tuple(_file_stamp(p) for p in (path, *shipped))
    with _RULEBOOK_CODES_LOCK:
        found = _RULEBOOK_CODES.get(key)
    if found is None:
        found = {"designated_use": tuple(load_rulebook(path).uses)}
        with _RULEBOOK_CODES_LOCK:
            if len(_RULEBOOK_CODES) > 16:
                _RULEBOOK_CODES.clear()
            _RULEBOOK_CODES[key] = found
    return dict(found)


def _check_geometry(geoms: np.ndarray, schema: LayerSchema, collector: _Collector) -> np.ndarray:
    """Report empty, invalid and wrongly typed geometries; return the usable mask."""
    missing = shapely.is_missing(geoms)
    empty = missing | shapely.is_empty(geoms)
    collector.rows(
        np.flatnonzero(empty), "empty_geometry", lambda r: "geometry is empty or missing"
    )
    valid = np.zeros(len(geoms), dtype=bool)
    valid[~empty] = shapely.is_valid(geoms[~empty])
    invalid_rows = np.flatnonzero(~empty & ~valid)
    reasons = shapely.is_valid_reason(geoms[invalid_rows]) if invalid_rows.size else []
    reason_of = dict(zip(invalid_rows.tolist(), list(reasons), strict=True))
    collector.rows(
        invalid_rows, "invalid_geometry",
        lambda r: f"invalid geometry: {reason_of[r]}",
        details=lambda r: {"reason": reason_of[r]},
    )
    type_names = shapely.get_type_id(geoms)
    allowed_ids = {
        {"Point": 0, "LineString": 1, "Polygon": 3, "MultiPoint": 4, "MultiLineString": 5,
         "MultiPolygon": 6}[t]
        for t in schema.geometry_types
    }
    wrong = ~empty & ~np.isin(type_names, list(allowed_ids))
    names = {0: "Point", 1: "LineString", 2: "LinearRing", 3: "Polygon", 4: "MultiPoint",
             5: "MultiLineString", 6: "MultiPolygon", 7: "GeometryCollection"}
    collector.rows(
        np.flatnonzero(wrong), "wrong_geometry_type",
        lambda r: (
            f"geometry is a {names.get(int(type_names[r]), 'geometry')}; "
            f"{schema.name} takes {' or '.join(schema.geometry_types)}"
        ),
    )
    return ~empty & valid & ~wrong


def _check_official_area(
    out: pd.DataFrame, areas: np.ndarray, tolerance: float, collector: _Collector
) -> None:
    official = pd.to_numeric(out["official_area_ha"], errors="coerce").to_numpy(dtype=float)
    computed = areas / 10_000.0
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.abs(official - computed) / computed
    off = np.flatnonzero(np.isfinite(rel) & (rel > tolerance))
    collector.rows(
        off, "area_mismatch",
        lambda r: (
            f"official area {official[r]:.4f} ha differs from the computed "
            f"{computed[r]:.4f} ha by {rel[r]:.1%} (tolerance {tolerance:.0%})"
        ),
        column="official_area_ha",
        severity="warning",
        details=lambda r: {
            "official_ha": float(official[r]), "computed_ha": float(computed[r]),
            "relative_difference": float(rel[r]),
        },
    )


def _check_keys(
    out: pd.DataFrame, schema: LayerSchema, existing: gpd.GeoDataFrame | None,
    collector: _Collector,
) -> None:
    """Unique columns must be unique within the input and against ``existing``."""
    for name, spec in schema.columns.items():
        if not spec.unique or name not in out.columns:
            continue
        values = out[name]
        present = values.notna().to_numpy()
        dup = present & values.duplicated(keep=False).to_numpy()
        if dup.any():
            positions = pd.Series(np.arange(len(values)))[dup].groupby(values[dup].to_numpy())
            rows_of: dict[Hashable, list[int]] = {k: g.tolist() for k, g in positions}
            collector.rows(
                np.flatnonzero(dup), "duplicate_key",
                lambda r, values=values, name=name, rows_of=rows_of: (
                    f"{name} {values.iloc[r]!r} appears more than once (rows "
                    f"{', '.join(map(str, rows_of[values.iloc[r]]))})"
                ),
                column=name,
            )
        if existing is not None and name in existing.columns and len(existing):
            taken = present & values.isin(_coerce_text(existing[name]).dropna()).to_numpy()
            collector.rows(
                np.flatnonzero(taken), "duplicate_key",
                lambda r, values=values, name=name: (
                    f"{name} {values.iloc[r]!r} already exists in the workspace"
                ),
                column=name,
            )


def _check_inside(
    geoms: np.ndarray, usable: np.ndarray, municipality: BaseGeometry,
    tolerance_m2: float, collector: _Collector, *, severity: str = "error",
) -> None:
    """Features must lie within the municipality, beyond digitising noise."""
    boundary = shapely.make_valid(municipality)
    shapely.prepare(boundary)
    idx = np.flatnonzero(usable)
    covered = shapely.covers(boundary, geoms[idx])
    candidates = idx[~covered]
    if candidates.size == 0:
        return
    outside_area = shapely.area(shapely.difference(geoms[candidates], boundary))
    dims = shapely.get_dimensions(geoms[candidates])
    # Points and lines have no area: any part outside counts.
    outside = np.where(dims == 2, outside_area > tolerance_m2, True)
    area_of = dict(zip(candidates.tolist(), outside_area.tolist(), strict=True))
    collector.rows(
        candidates[outside], "outside_municipality",
        lambda r: f"{area_of[r]:.1f} m² of the feature lies outside the municipality boundary",
        details=lambda r: {"outside_m2": area_of[r]},
        severity=severity,
    )


def _check_overlaps(
    out: pd.DataFrame, geoms: np.ndarray, usable: np.ndarray,
    existing: gpd.GeoDataFrame | None, schema: LayerSchema,
    tolerance_m2: float, collector: _Collector,
) -> None:
    """Parcels form a partition: interiors may touch but not overlap beyond the tolerance."""
    idx = np.flatnonzero(usable)
    if idx.size:
        sub = geoms[idx]
        tree = shapely.STRtree(sub)
        left, right = tree.query(sub, predicate="intersects")
        keep = left < right
        a, b = idx[left[keep]], idx[right[keep]]
        _report_overlaps(a, b, geoms, geoms, out, out, schema, tolerance_m2, collector, mutual=True)
    if existing is not None and len(existing) and idx.size:
        other = existing.geometry.to_numpy()
        tree = shapely.STRtree(other)
        left, right = tree.query(geoms[idx], predicate="intersects")
        _report_overlaps(
            idx[left], right, geoms, other, out, existing, schema, tolerance_m2, collector,
            mutual=False,
        )


def _report_overlaps(
    a: np.ndarray, b: np.ndarray, geoms_a: np.ndarray, geoms_b: np.ndarray,
    frame_a: pd.DataFrame, frame_b: pd.DataFrame, schema: LayerSchema,
    tolerance_m2: float, collector: _Collector, *, mutual: bool,
) -> None:
    if a.size == 0:
        return
    # Neighbours in a fabric share edges; only pairs whose interiors meet need an area.
    # Boxes meeting only along an edge cannot hold interiors that meet: a cheap first cut.
    ba, bb = shapely.bounds(geoms_a[a]), shapely.bounds(geoms_b[b])
    width = np.minimum(ba[:, 2], bb[:, 2]) - np.maximum(ba[:, 0], bb[:, 0])
    height = np.minimum(ba[:, 3], bb[:, 3]) - np.maximum(ba[:, 1], bb[:, 1])
    points_or_lines = (shapely.get_dimensions(geoms_a[a]) < 2) | (
        shapely.get_dimensions(geoms_b[b]) < 2
    )
    boxed = (width > 0) & (height > 0) | points_or_lines
    a, b = a[boxed], b[boxed]
    inner = shapely.relate_pattern(geoms_a[a], geoms_b[b], "T********")
    a, b = a[inner], b[inner]
    if a.size == 0:
        return
    area = shapely.area(shapely.intersection(geoms_a[a], geoms_b[b]))
    over = area > tolerance_m2
    a, b, area = a[over], b[over], area[over]
    if a.size == 0:
        return
    key = schema.key
    keys_b = (
        _coerce_text(frame_b[key]).to_numpy() if key and key in frame_b.columns
        else np.arange(len(frame_b)).astype(str)
    )
    where = "row" if mutual else "existing feature"
    # One problem per offending row, naming every feature it overlaps.
    rows = np.concatenate([a, b]) if mutual else a
    partners = np.concatenate([b, a]) if mutual else b
    areas = np.concatenate([area, area]) if mutual else area
    keys_partner = (
        np.concatenate([keys_b[b], keys_b[a]]) if mutual else keys_b[b]
    )
    order = np.argsort(rows, kind="stable")
    rows, partners = rows[order], partners[order]
    areas, keys_partner = areas[order], keys_partner[order]
    unique_rows, starts = np.unique(rows, return_index=True)
    ends = np.append(starts[1:], rows.size)
    spans = dict(zip(unique_rows.tolist(), zip(starts.tolist(), ends.tolist(), strict=True),
                     strict=True))

    def message(r: int) -> str:
        s, e = spans[r]
        parts = [
            f"{keys_partner[i]} ({where} {int(partners[i])}): {areas[i]:.1f} m²"
            for i in range(s, e)
        ]
        return f"overlaps {'; '.join(parts)} (tolerance {tolerance_m2:g} m²)"

    def details(r: int) -> dict[str, Any]:
        s, e = spans[r]
        return {
            "overlaps": [
                {"feature": str(keys_partner[i]), "area_m2": float(areas[i]),
                 "existing": not mutual}
                for i in range(s, e)
            ]
        }

    collector.rows(unique_rows, "overlap", message, details=details)

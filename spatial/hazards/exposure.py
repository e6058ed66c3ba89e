"""Exposure to natural hazards, in the manner of InaSAFE: who and what lies in each zone.

The Space section of the SEDP and the hazard management plan both need, per hazard type
and class, how many parcels and hectares (by land category), how many households and
people, and which schools, kindergartens and clinics lie in hazard zones; and the
relocation (жер которуу) list of housing parcels and settlements in high-hazard zones.

Counting rules (the tables must add up):

* Zones of one hazard type are first made disjoint, **worst class wins**: a hectare in
  both the high and the medium mudflow zone counts as high only, so a type's class
  areas add up to the area of its union. Overlapping zones of one type and class count
  once. Different hazard types are independent: a hectare can count under mudflow and
  under flood.
* A parcel is **counted** in the worst class of each type it overlaps (by a positive
  area); its **hectares** are the overlap area in each class, not its whole area.
* A settlement polygon (its built-up area) exposes its households and people pro rata
  to the share of its area in each class; a settlement point inside a zone is exposed
  wholly, in the worst class it falls in.
* A facility (point or polygon) counts, with its capacity, in the worst class it touches.

All measuring happens in one projected CRS (the hazard layer's, or its UTM zone).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from ..crs import choose_projected_crs, to_crs
from ..errors import CRSError, Problem, raise_if_problems
from ..schema import Lang, codes, label

__all__ = [
    "ExposureSummary",
    "RelocationCandidates",
    "disjoint_hazard_zones",
    "hazard_exposure",
    "relocation_candidates",
]

_M2_PER_HA = 10_000.0
_POLYGONAL = (3, 6)  # shapely type ids of Polygon, MultiPolygon
_POINTS = (0, 4)  # Point, MultiPoint


# --------------------------------------------------------------------------- validation


def _missing_columns(frame: gpd.GeoDataFrame, layer: str, columns: Iterable[str]) -> list[Problem]:
    return [
        Problem("missing_column", f"layer {layer} has no column {c!r}", layer=layer, column=c)
        for c in columns
        if c not in frame.columns
    ]


def _row_problems(
    frame: gpd.GeoDataFrame,
    bad: np.ndarray,
    *,
    layer: str,
    key: str | None,
    code: str,
    column: str | None,
    message: str,
) -> list[Problem]:
    """One problem per flagged row, located by position and feature key."""
    rows = np.flatnonzero(bad)
    keys = frame[key].to_numpy()[rows] if key and key in frame.columns else [None] * len(rows)
    values = (
        frame[column].to_numpy()[rows] if column and column in frame.columns else [None] * len(rows)
    )
    return [
        Problem(
            code,
            message.format(value=v),
            layer=layer,
            row=int(r),
            feature=None if k is None else str(k),
            column=column,
        )
        for r, k, v in zip(rows, keys, values, strict=True)
    ]


def _geometry_problems(
    frame: gpd.GeoDataFrame, *, layer: str, key: str | None, allowed: Sequence[int], what: str
) -> list[Problem]:
    geoms = frame.geometry.to_numpy()
    type_ids = shapely.get_type_id(geoms)
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    wrong = ~missing & ~np.isin(type_ids, allowed)
    return _row_problems(
        frame,
        missing,
        layer=layer,
        key=key,
        code="missing_geometry",
        column=None,
        message="feature has no geometry",
    ) + _row_problems(
        frame,
        wrong,
        layer=layer,
        key=key,
        code="invalid_geometry_type",
        column=None,
        message=f"geometry must be {what}",
    )


def _code_problems(
    frame: gpd.GeoDataFrame, *, layer: str, key: str | None, column: str, codelist: str
) -> list[Problem]:
    if column not in frame.columns:
        return []
    bad = ~frame[column].isin(codes(codelist)).to_numpy()
    return _row_problems(
        frame,
        bad,
        layer=layer,
        key=key,
        code="unknown_code",
        column=column,
        message=f"unknown {codelist} code {{value!r}}; known: {', '.join(codes(codelist))}",
    )


def _check_hazard_zones(hazard_zones: gpd.GeoDataFrame) -> list[Problem]:
    layer, key = "hazard_zones", "hazard_id"
    problems = _missing_columns(hazard_zones, layer, ("hazard_type", "hazard_class"))
    problems += _code_problems(
        hazard_zones, layer=layer, key=key, column="hazard_type", codelist="hazard_type"
    )
    problems += _code_problems(
        hazard_zones, layer=layer, key=key, column="hazard_class", codelist="hazard_class"
    )
    problems += _geometry_problems(
        hazard_zones, layer=layer, key=key, allowed=_POLYGONAL, what="Polygon or MultiPolygon"
    )
    return problems


def _check_parcels(parcels: gpd.GeoDataFrame, *, need: Sequence[str]) -> list[Problem]:
    problems = _missing_columns(parcels, "parcels", need)
    problems += _geometry_problems(
        parcels,
        layer="parcels",
        key="cadastral_no",
        allowed=_POLYGONAL,
        what="Polygon or MultiPolygon",
    )
    return problems


def _check_settlements(settlements: gpd.GeoDataFrame) -> list[Problem]:
    layer = "settlements"
    problems = _missing_columns(settlements, layer, ("name", "households", "population"))
    problems += _geometry_problems(
        settlements,
        layer=layer,
        key="name",
        allowed=(*_POLYGONAL, *_POINTS),
        what="Point or Polygon",
    )
    for column in ("households", "population"):
        if column in settlements.columns:
            values = pd.to_numeric(settlements[column], errors="coerce")
            bad = (values.isna() | (values < 0)).to_numpy()
            problems += _row_problems(
                settlements,
                bad,
                layer=layer,
                key="name",
                code="invalid_number",
                column=column,
                message=f"{column} must be a number >= 0, got {{value!r}}",
            )
    return problems


def _check_facilities(facilities: gpd.GeoDataFrame) -> list[Problem]:
    layer = "facilities"
    problems = _missing_columns(facilities, layer, ("facility_id", "kind"))
    problems += _code_problems(
        facilities, layer=layer, key="facility_id", column="kind", codelist="facility_kind"
    )
    problems += _geometry_problems(
        facilities,
        layer=layer,
        key="facility_id",
        allowed=(*_POLYGONAL, *_POINTS),
        what="Point or Polygon",
    )
    return problems


def _crs_problems(frames: dict[str, gpd.GeoDataFrame | None]) -> list[Problem]:
    return [
        Problem("missing_crs", f"layer {name} has no CRS", layer=name)
        for name, frame in frames.items()
        if frame is not None and frame.crs is None
    ]


# --------------------------------------------------------------------------- geometry core


def _working_crs(hazard_zones: gpd.GeoDataFrame, crs: Any) -> CRS:
    if crs is not None:
        target = CRS.from_user_input(crs)
        if not target.is_projected:
            raise CRSError(f"exposure must be measured in a projected CRS, got {target.name!r}")
        return target
    source = CRS.from_user_input(hazard_zones.crs)
    if source.is_projected:
        return source
    return choose_projected_crs(hazard_zones)


def _class_rank() -> dict[str, int]:
    return {c: i for i, c in enumerate(codes("hazard_class"))}


def _type_rank() -> dict[str, int]:
    return {c: i for i, c in enumerate(codes("hazard_type"))}


def _sort_key(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows in code-list order of hazard type, then class (high first); stable otherwise."""
    ranked = frame.assign(
        _t=frame["hazard_type"].map(_type_rank()), _c=frame["hazard_class"].map(_class_rank())
    )
    return (
        ranked.sort_values(["_t", "_c"], kind="stable")
        .drop(columns=["_t", "_c"])
        .reset_index(drop=True)
    )


def disjoint_hazard_zones(hazard_zones: gpd.GeoDataFrame, *, crs: Any = None) -> gpd.GeoDataFrame:
    """Hazard zones dissolved per type and class and made disjoint within a type.

    Within one hazard type, medium is cut by high and low by high ∪ medium, so every
    point of a type's area has exactly one (its worst) class. This is the layer the
    exposure tables are counted on; it is also the right layer for a hazard map legend.

    Returns
    -------
    geopandas.GeoDataFrame
        ``hazard_type``, ``hazard_class``, ``area_ha``, geometry in the working CRS
        (``crs``, or the zones' own projected CRS, or their UTM zone). Empty classes
        are dropped.
    """
    problems = _crs_problems({"hazard_zones": hazard_zones}) + _check_hazard_zones(hazard_zones)
    raise_if_problems(problems)
    target = _working_crs(hazard_zones, crs)
    zones = to_crs(hazard_zones, target, what="hazard_zones")
    parts = gpd.GeoDataFrame(
        {
            "hazard_type": zones["hazard_type"].to_numpy(),
            "hazard_class": zones["hazard_class"].to_numpy(),
        },
        geometry=shapely.make_valid(zones.geometry.to_numpy()),
        crs=target,
    ).explode(index_parts=False)
    parts = parts[np.isin(shapely.get_type_id(parts.geometry.to_numpy()), _POLYGONAL)]
    columns = ["hazard_type", "hazard_class", "area_ha"]
    if parts.empty:
        return gpd.GeoDataFrame({c: [] for c in columns}, geometry=[], crs=target)
    merged = parts.dissolve(by=["hazard_type", "hazard_class"], as_index=False)
    types = np.array(
        sorted(merged["hazard_type"].unique(), key=_type_rank().__getitem__), dtype=object
    )
    type_pos = {t: i for i, t in enumerate(types)}
    empty = shapely.from_wkt("POLYGON EMPTY")
    worse = np.full(len(types), empty, dtype=object)
    pieces = []
    for cls in codes("hazard_class"):  # high, medium, low: one vectorised step per class
        rows = merged[merged["hazard_class"] == cls]
        current = np.full(len(types), empty, dtype=object)
        current[rows["hazard_type"].map(type_pos).to_numpy(dtype=np.int64)] = (
            rows.geometry.to_numpy()
        )
        pieces.append(
            gpd.GeoDataFrame(
                {"hazard_type": types, "hazard_class": cls},
                geometry=shapely.difference(current, worse),
                crs=target,
            )
        )
        worse = shapely.union(worse, current)
    out = pd.concat(pieces, ignore_index=True)
    out = out[~shapely.is_empty(out.geometry.to_numpy())]
    out["area_ha"] = out.geometry.area / _M2_PER_HA
    out = gpd.GeoDataFrame(_sort_key(out[[*columns, "geometry"]]), geometry="geometry", crs=target)
    return out


def _pairs(geoms: np.ndarray, zones: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray]:
    """``(input index, zone index)`` of intersecting pairs, by one bulk sindex query."""
    if len(zones) == 0 or len(geoms) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    left, right = zones.sindex.query(geoms, predicate="intersects")
    return left.astype(np.int64), right.astype(np.int64)


def _overlap_frame(geoms: np.ndarray, zones: gpd.GeoDataFrame) -> pd.DataFrame:
    """Overlap areas (m²) of each input geometry with each zone part, positive areas only."""
    idx, zone = _pairs(geoms, zones)
    area = shapely.area(shapely.intersection(geoms[idx], zones.geometry.to_numpy()[zone]))
    frame = pd.DataFrame(
        {
            "i": idx,
            "hazard_type": zones["hazard_type"].to_numpy()[zone],
            "hazard_class": zones["hazard_class"].to_numpy()[zone],
            "area_m2": area,
        }
    )
    return frame[frame["area_m2"] > 0].copy()


def _worst_per_type(frame: pd.DataFrame) -> pd.DataFrame:
    """Keep, for each ``(i, hazard_type)``, only the rows of its worst class."""
    if frame.empty:
        return frame
    rank = frame["hazard_class"].map(_class_rank()).fillna(len(_class_rank()))
    worst = rank.groupby([frame["i"], frame["hazard_type"]]).transform("min")
    return frame[rank == worst]


def _exposed_items(geoms: np.ndarray, zones: gpd.GeoDataFrame) -> pd.DataFrame:
    """Items (points or polygons) in zones: polygons by a positive overlap, points by touching.

    Returns one row per ``(i, hazard_type, hazard_class)`` with ``share`` (overlap share of
    a polygon's area; 1 for a point) and, for points, only the worst class per type.
    """
    idx, zone = _pairs(geoms, zones)
    item = geoms[idx]
    polygonal = np.isin(shapely.get_type_id(item), _POLYGONAL)
    overlap = np.where(
        polygonal, shapely.area(shapely.intersection(item, zones.geometry.to_numpy()[zone])), 0.0
    )
    whole = shapely.area(item)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(polygonal, overlap / whole, 1.0)
    frame = pd.DataFrame(
        {
            "i": idx,
            "hazard_type": zones["hazard_type"].to_numpy()[zone],
            "hazard_class": zones["hazard_class"].to_numpy()[zone],
            "share": share,
            "polygonal": polygonal,
        }
    )
    frame = frame[~frame["polygonal"] | (frame["share"] > 0)]
    polygons = (
        frame[frame["polygonal"]]
        .groupby(["i", "hazard_type", "hazard_class"], as_index=False)
        .agg(share=("share", "sum"))
    )
    points = _worst_per_type(frame[~frame["polygonal"]]).drop_duplicates(["i", "hazard_type"])
    return pd.concat(
        [polygons, points[["i", "hazard_type", "hazard_class", "share"]]], ignore_index=True
    )


def _prepared(frame: gpd.GeoDataFrame, target: CRS, what: str) -> np.ndarray:
    return np.asarray(shapely.make_valid(to_crs(frame, target, what=what).geometry.to_numpy()))


# --------------------------------------------------------------------------- results


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    plain = frame.astype(object).where(frame.notna(), None)
    return [
        {str(k): (v.item() if isinstance(v, np.generic) else v) for k, v in row.items()}
        for row in plain.to_dict("records")
    ]


_LABELLED = {
    "hazard_type": "hazard_type",
    "hazard_class": "hazard_class",
    "land_category": "land_category",
    "kind": "facility_kind",
}


def _code_labels(codelist: str, lang: Lang) -> dict[str, str]:
    return {code: label(codelist, code, lang) for code in codes(codelist)}


def _labelled(frame: pd.DataFrame, lang: Lang, rounding: dict[str, int]) -> pd.DataFrame:
    out = frame.copy()
    for column, codelist in _LABELLED.items():
        if column in out.columns:
            out[column] = out[column].map(_code_labels(codelist, lang)).fillna(out[column])
    for column, digits in rounding.items():
        if column in out.columns:
            out[column] = out[column].astype(float).round(digits)
    return out


_ROUNDING = {
    "zone_ha": 2,
    "overlap_ha": 2,
    "parcel_overlap_ha": 2,
    "share": 3,
    "overlap_share": 3,
    "households": 1,
    "population": 1,
    "households_exposed": 1,
    "population_exposed": 1,
}


@dataclass(frozen=True)
class ExposureSummary:
    """Exposure tables, all keyed by ``hazard_type`` and ``hazard_class`` codes.

    Attributes
    ----------
    classes
        One row per type and class present in the hazard layer: ``zone_ha`` (area of
        the class after worst-class-wins), ``parcels`` (count, worst class per type),
        ``parcel_overlap_ha``, ``households``, ``population``, ``facilities``,
        ``facility_capacity``.
    land
        ``hazard_type, hazard_class, land_category, parcels, overlap_ha``.
    settlements
        ``hazard_type, hazard_class, settlement, share, households, population`` —
        exposed households and people (pro rata for polygons).
    facilities
        ``hazard_type, hazard_class, kind, facilities, capacity``.
    crs
        The projected CRS areas were measured in.
    """

    classes: pd.DataFrame
    land: pd.DataFrame
    settlements: pd.DataFrame
    facilities: pd.DataFrame
    crs: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (codes, not labels; NaN as ``None``)."""
        return {
            "crs": self.crs,
            "classes": _records(self.classes),
            "land": _records(self.land),
            "settlements": _records(self.settlements),
            "facilities": _records(self.facilities),
        }

    def to_frames(self, lang: Lang = "ky") -> dict[str, pd.DataFrame]:
        """Tables for people: codes replaced by ky/ru/en labels, numbers rounded."""
        return {
            name: _labelled(getattr(self, name), lang, _ROUNDING)
            for name in ("classes", "land", "settlements", "facilities")
        }


@dataclass(frozen=True)
class RelocationCandidates:
    """Housing parcels and settlements in the chosen (high) hazard classes.

    Attributes
    ----------
    parcels
        ``cadastral_no, land_category, designated_use, settlement, area_ha,
        hazard_types, worst_class, overlap_ha, overlap_share`` and the parcel geometry
        (in the parcels' own CRS). ``hazard_types`` is ``;``-joined codes;
        ``overlap_*`` is the part of the parcel in any selected zone, counted once even
        where types overlap. Personal columns (``holder``) are never included.
    settlements
        ``settlement, households, population, hazard_types, worst_class, share,
        households_exposed, population_exposed`` and geometry.
    parcel_hazards, settlement_hazards
        The same per hazard type (long tables): ``cadastral_no`` / ``settlement``,
        ``hazard_type, hazard_class, overlap_ha`` (parcels) / ``share``.
    crs
        The projected CRS areas were measured in.
    """

    parcels: gpd.GeoDataFrame
    settlements: gpd.GeoDataFrame
    parcel_hazards: pd.DataFrame
    settlement_hazards: pd.DataFrame
    crs: str
    classes: tuple[str, ...] = field(default=("high",))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict without geometries."""
        return {
            "crs": self.crs,
            "classes": list(self.classes),
            "parcels": _records(pd.DataFrame(self.parcels.drop(columns="geometry"))),
            "settlements": _records(pd.DataFrame(self.settlements.drop(columns="geometry"))),
            "parcel_hazards": _records(self.parcel_hazards),
            "settlement_hazards": _records(self.settlement_hazards),
        }

    def to_frames(self, lang: Lang = "ky") -> dict[str, pd.DataFrame]:
        """Tables for people, without geometry; hazard types shown as labels."""
        frames: dict[str, pd.DataFrame] = {}
        for name in ("parcels", "settlements"):
            table = pd.DataFrame(getattr(self, name).drop(columns="geometry"))
            names = table["hazard_types"].str.split(";").explode()
            names = names.map(_code_labels("hazard_type", lang)).fillna(names)
            table["hazard_types"] = names.groupby(level=0).agg(", ".join).reindex(table.index)
            table = table.rename(columns={"worst_class": "hazard_class"})
            frames[name] = _labelled(table, lang, _ROUNDING)
        frames["parcel_hazards"] = _labelled(self.parcel_hazards, lang, _ROUNDING)
        frames["settlement_hazards"] = _labelled(self.settlement_hazards, lang, _ROUNDING)
        return frames


# --------------------------------------------------------------------------- exposure


def _class_grid(zones: gpd.GeoDataFrame) -> pd.DataFrame:
    return zones.groupby(["hazard_type", "hazard_class"], as_index=False).agg(
        zone_ha=("area_ha", "sum")
    )


def hazard_exposure(
    hazard_zones: gpd.GeoDataFrame,
    *,
    parcels: gpd.GeoDataFrame,
    settlements: gpd.GeoDataFrame | None = None,
    facilities: gpd.GeoDataFrame | None = None,
    crs: Any = None,
) -> ExposureSummary:
    """Parcels, land, households, people and facilities per hazard type and class.

    Parameters
    ----------
    hazard_zones
        The ``hazard_zones`` layer (``hazard_type``, ``hazard_class``, polygons).
    parcels
        The ``parcels`` layer; ``land_category`` gives the hectares breakdown.
    settlements
        Optional ``settlements`` (points or built-up polygons, ``households``,
        ``population``).
    facilities
        Optional ``facilities`` (``kind``, ``capacity``).
    crs
        Projected CRS to measure in; defaults to the hazard layer's (or its UTM zone).

    Raises
    ------
    ValidationError
        Every missing column, unknown code or wrong geometry in any layer, at once.
    """
    problems = _crs_problems(
        {
            "hazard_zones": hazard_zones,
            "parcels": parcels,
            "settlements": settlements,
            "facilities": facilities,
        }
    )
    problems += _check_hazard_zones(hazard_zones)
    problems += _check_parcels(parcels, need=("land_category",))
    if settlements is not None:
        problems += _check_settlements(settlements)
    if facilities is not None:
        problems += _check_facilities(facilities)
    raise_if_problems(problems)

    zones = disjoint_hazard_zones(hazard_zones, crs=crs)
    target = CRS.from_user_input(zones.crs)
    parts = zones.explode(index_parts=False).reset_index(drop=True)
    summary = _class_grid(zones)
    keys = ["hazard_type", "hazard_class"]

    # Parcels: hectares by overlap, counts in the worst class per type.
    parcel_geoms = _prepared(parcels, target, "parcels")
    overlaps = _overlap_frame(parcel_geoms, parts)
    overlaps["land_category"] = parcels["land_category"].to_numpy()[overlaps["i"].to_numpy()]
    worst = _worst_per_type(overlaps).drop_duplicates(["i", "hazard_type"])
    land = (
        overlaps.groupby([*keys, "land_category"], as_index=False)
        .agg(area_m2=("area_m2", "sum"))
        .merge(
            worst.groupby([*keys, "land_category"], as_index=False).agg(parcels=("i", "nunique")),
            how="left",
            on=[*keys, "land_category"],
        )
    )
    land["overlap_ha"] = land.pop("area_m2") / _M2_PER_HA
    land["parcels"] = land["parcels"].fillna(0).astype(np.int64)
    land = _sort_key(land[[*keys, "land_category", "parcels", "overlap_ha"]])
    per_class = overlaps.groupby(keys, as_index=False).agg(area_m2=("area_m2", "sum"))
    per_class["parcel_overlap_ha"] = per_class.pop("area_m2") / _M2_PER_HA
    counts = worst.groupby(keys, as_index=False).agg(parcels=("i", "nunique"))
    summary = summary.merge(counts, how="left", on=keys).merge(per_class, how="left", on=keys)

    # Settlements: households and people pro rata (polygons) or wholly (points).
    settlement_rows = pd.DataFrame(
        columns=[*keys, "settlement", "share", "households", "population"]
    )
    if settlements is not None and len(settlements):
        exposed = _exposed_items(_prepared(settlements, target, "settlements"), parts)
        at = exposed["i"].to_numpy()
        exposed["settlement"] = settlements["name"].to_numpy()[at]
        exposed["households"] = (
            pd.to_numeric(settlements["households"]).to_numpy(dtype=float)[at] * exposed["share"]
        )
        exposed["population"] = (
            pd.to_numeric(settlements["population"]).to_numpy(dtype=float)[at] * exposed["share"]
        )
        settlement_rows = _sort_key(
            exposed[[*keys, "settlement", "share", "households", "population"]]
        )
        people = settlement_rows.groupby(keys, as_index=False).agg(
            households=("households", "sum"), population=("population", "sum")
        )
        summary = summary.merge(people, how="left", on=keys)
    else:
        summary["households"] = 0.0
        summary["population"] = 0.0

    # Facilities: count and capacity in the worst class per type.
    facility_rows = pd.DataFrame(columns=[*keys, "kind", "facilities", "capacity"])
    if facilities is not None and len(facilities):
        exposed = _exposed_items(_prepared(facilities, target, "facilities"), parts)
        exposed = _worst_per_type(exposed).drop_duplicates(["i", "hazard_type"])
        at = exposed["i"].to_numpy()
        capacity = (
            pd.to_numeric(facilities["capacity"], errors="coerce").to_numpy(dtype=float)
            if "capacity" in facilities.columns
            else np.full(len(facilities), np.nan)
        )
        exposed["kind"] = facilities["kind"].to_numpy()[at]
        exposed["capacity"] = capacity[at]
        facility_rows = _sort_key(
            exposed.groupby([*keys, "kind"], as_index=False).agg(
                facilities=("i", "nunique"), capacity=("capacity", "sum")
            )
        )
        totals = facility_rows.groupby(keys, as_index=False).agg(
            facilities=("facilities", "sum"), facility_capacity=("capacity", "sum")
        )
        summary = summary.merge(totals, how="left", on=keys)
    else:
        summary["facilities"] = 0
        summary["facility_capacity"] = 0.0

    for column in ("parcels", "facilities"):
        summary[column] = summary[column].fillna(0).astype(np.int64)
    for column in ("parcel_overlap_ha", "households", "population", "facility_capacity"):
        summary[column] = summary[column].fillna(0.0).astype(float)
    summary = _sort_key(
        summary[
            [
                *keys,
                "zone_ha",
                "parcels",
                "parcel_overlap_ha",
                "households",
                "population",
                "facilities",
                "facility_capacity",
            ]
        ]
    )
    return ExposureSummary(
        classes=summary,
        land=land,
        settlements=settlement_rows.reset_index(drop=True),
        facilities=facility_rows.reset_index(drop=True),
        crs=target.to_string(),
    )


# --------------------------------------------------------------------------- relocation


def _joined_types(frame: pd.DataFrame, by: str) -> pd.DataFrame:
    """Per item: ``;``-joined hazard types (codelist order) and the worst class."""
    if frame.empty:
        return pd.DataFrame(
            {"hazard_types": pd.Series(dtype=object), "worst_class": pd.Series(dtype=object)}
        )
    types = _type_rank()
    ordered = frame.assign(_t=frame["hazard_type"].map(types)).sort_values([by, "_t"])
    joined = ordered.groupby(by)["hazard_type"].agg(lambda s: ";".join(pd.unique(s)))
    rank = frame["hazard_class"].map(_class_rank())
    worst_rank = rank.groupby(frame[by]).min().reindex(joined.index)
    names = np.array(codes("hazard_class"), dtype=object)
    return pd.DataFrame(
        {"hazard_types": joined, "worst_class": names[worst_rank.to_numpy(dtype=np.int64)]}
    )


def relocation_candidates(
    hazard_zones: gpd.GeoDataFrame,
    *,
    parcels: gpd.GeoDataFrame,
    settlements: gpd.GeoDataFrame | None = None,
    classes: Sequence[str] = ("high",),
    land_categories: Sequence[str] = ("settlement",),
    designated_uses: Sequence[str] = ("individual_housing",),
    min_share: float = 0.0,
    crs: Any = None,
) -> RelocationCandidates:
    """Housing parcels and settlements lying in high-hazard zones: the relocation list.

    Parameters
    ----------
    hazard_zones, parcels, settlements
        Workspace layers as for :func:`hazard_exposure`.
    classes
        Hazard classes that make a candidate; by default ``high`` only.
    land_categories, designated_uses
        A parcel is a housing parcel when its ``land_category`` is in the first **or**
        its ``designated_use`` in the second (settlement land, individual housing).
    min_share
        Keep parcels whose share in the selected zones is greater than this (0 keeps
        any positive overlap; 0.1 ignores parcels only grazed by a zone's edge).
    crs
        Projected CRS to measure in.
    """
    problems = _crs_problems(
        {"hazard_zones": hazard_zones, "parcels": parcels, "settlements": settlements}
    )
    problems += _check_hazard_zones(hazard_zones)
    problems += _check_parcels(parcels, need=("cadastral_no", "land_category"))
    if settlements is not None:
        problems += _check_settlements(settlements)
    problems += [
        Problem(
            "unknown_code",
            f"unknown hazard class {c!r}; known: {', '.join(codes('hazard_class'))}",
            column="hazard_class",
        )
        for c in classes
        if c not in codes("hazard_class")
    ]
    raise_if_problems(problems)

    zones = disjoint_hazard_zones(hazard_zones, crs=crs)
    target = CRS.from_user_input(zones.crs)
    selected = zones[zones["hazard_class"].isin(list(classes))]
    typed = selected.explode(index_parts=False).reset_index(drop=True)
    union = (
        shapely.union_all(selected.geometry.to_numpy())
        if len(selected)
        else shapely.from_wkt("POLYGON EMPTY")
    )
    any_zone = gpd.GeoDataFrame(geometry=shapely.get_parts([union]), crs=target).assign(
        hazard_type="any", hazard_class="any"
    )

    # Parcels.
    housing = parcels["land_category"].isin(list(land_categories))
    if "designated_use" in parcels.columns:
        housing |= parcels["designated_use"].isin(list(designated_uses))
    candidates = parcels[housing.to_numpy()]
    geoms = _prepared(candidates, target, "parcels")
    area = shapely.area(geoms)
    by_type = _overlap_frame(geoms, typed)
    total = _overlap_frame(geoms, any_zone).groupby("i")["area_m2"].sum()
    share = total / area[total.index.to_numpy()]
    keep = share[share > min_share].index.to_numpy()
    by_type = by_type[by_type["i"].isin(keep)]
    parcel_hazards = by_type.groupby(["i", "hazard_type", "hazard_class"], as_index=False).agg(
        area_m2=("area_m2", "sum")
    )
    parcel_hazards["cadastral_no"] = candidates["cadastral_no"].to_numpy()[
        parcel_hazards["i"].to_numpy()
    ]
    parcel_hazards["overlap_ha"] = parcel_hazards["area_m2"] / _M2_PER_HA
    parcel_hazards["overlap_share"] = (
        parcel_hazards["area_m2"] / area[parcel_hazards["i"].to_numpy()]
    )
    info = _joined_types(parcel_hazards, "i").reindex(keep)
    picked = candidates.iloc[keep]
    out = gpd.GeoDataFrame(
        {
            "cadastral_no": picked["cadastral_no"].to_numpy(),
            "land_category": picked["land_category"].to_numpy(),
            "designated_use": picked["designated_use"].to_numpy()
            if "designated_use" in picked.columns
            else None,
            "settlement": picked["settlement"].to_numpy()
            if "settlement" in picked.columns
            else None,
            "area_ha": area[keep] / _M2_PER_HA,
            "hazard_types": info["hazard_types"].to_numpy(),
            "worst_class": info["worst_class"].to_numpy(),
            "overlap_ha": total.reindex(keep).to_numpy() / _M2_PER_HA,
            "overlap_share": share.reindex(keep).to_numpy(),
        },
        geometry=picked.geometry.to_numpy(),
        crs=picked.crs,
    )
    out = gpd.GeoDataFrame(
        out.sort_values(["overlap_share", "cadastral_no"], ascending=[False, True]).reset_index(
            drop=True
        ),
        crs=picked.crs,
    )
    parcel_hazards = _sort_key(
        parcel_hazards[
            ["cadastral_no", "hazard_type", "hazard_class", "overlap_ha", "overlap_share"]
        ]
    )

    # Settlements.
    settlement_columns = [
        "settlement",
        "households",
        "population",
        "hazard_types",
        "worst_class",
        "share",
        "households_exposed",
        "population_exposed",
    ]
    settlement_out = gpd.GeoDataFrame(
        {c: [] for c in settlement_columns},
        geometry=[],
        crs=None if settlements is None else settlements.crs,
    )
    settlement_hazards = pd.DataFrame(
        columns=["settlement", "hazard_type", "hazard_class", "share"]
    )
    if settlements is not None and len(settlements):
        s_geoms = _prepared(settlements, target, "settlements")
        per_type = _exposed_items(s_geoms, typed)
        overall = _exposed_items(s_geoms, any_zone).groupby("i")["share"].sum().clip(upper=1.0)
        overall = overall[overall > min_share]
        per_type = per_type[per_type["i"].isin(overall.index)].copy()
        s_info = _joined_types(per_type, "i").reindex(overall.index)
        rows = overall.index.to_numpy()
        households = pd.to_numeric(settlements["households"]).to_numpy(dtype=float)[rows]
        population = pd.to_numeric(settlements["population"]).to_numpy(dtype=float)[rows]
        settlement_out = gpd.GeoDataFrame(
            {
                "settlement": settlements["name"].to_numpy()[rows],
                "households": households,
                "population": population,
                "hazard_types": s_info["hazard_types"].to_numpy(),
                "worst_class": s_info["worst_class"].to_numpy(),
                "share": overall.to_numpy(),
                "households_exposed": households * overall.to_numpy(),
                "population_exposed": population * overall.to_numpy(),
            },
            geometry=settlements.geometry.to_numpy()[rows],
            crs=settlements.crs,
        )
        settlement_out = gpd.GeoDataFrame(
            settlement_out.sort_values(
                ["population_exposed", "settlement"], ascending=[False, True]
            ).reset_index(drop=True),
            crs=settlements.crs,
        )
        per_type["settlement"] = settlements["name"].to_numpy()[per_type["i"].to_numpy()]
        settlement_hazards = _sort_key(
            per_type[["settlement", "hazard_type", "hazard_class", "share"]]
        )
    return RelocationCandidates(
        parcels=out,
        settlements=settlement_out,
        parcel_hazards=parcel_hazards,
        settlement_hazards=settlement_hazards,
        crs=target.to_string(),
        classes=tuple(classes),
    )

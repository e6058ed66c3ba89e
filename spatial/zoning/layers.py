"""Constraint layers bundled for checks: one projected CRS, indexes built once.

A planner checks one parcel after another, and the working group checks every parcel at
once; both query the same zoning, protected-area, water, forest, hazard and restriction
layers. :class:`ConstraintLayers` validates those layers against the data model and the
rulebook once, derives water protection zones and coastal strips from the water bodies
by the rulebook's widths, builds each layer's spatial index, prepares the geometries for
fast predicates, and maps every feature to the rulebook rule that governs it.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from ..errors import CRSError, InputError, Problem, ValidationError
from ..schema import layer_schema
from ..validation import validate_layer
from .rulebook import Rulebook

__all__ = [
    "LAYERS",
    "ConstraintLayers",
    "LayerIndex",
    "derive_water_zones",
]

#: Constraint layers in the order reasons are reported.
LAYERS: tuple[str, ...] = (
    "zones", "protected_areas", "water_zones", "forest_fund", "hazard_zones", "restrictions",
)
#: Feature key column of each constraint layer.
KEY_COLUMN: dict[str, str] = {
    "zones": "zone_id",
    "protected_areas": "area_id",
    "water_zones": "zone_id",
    "forest_fund": "forest_id",
    "hazard_zones": "hazard_id",
    "restrictions": "restriction_id",
}
#: The two strips derived from every water body, as (zone_kind, rulebook width field).
WATER_ZONE_KINDS: tuple[tuple[str, str], ...] = (
    ("water_protection_zone", "protection_zone_m"),
    ("coastal_strip", "coastal_strip_m"),
)
_WATER_ZONE_COLUMNS = ("zone_id", "water_id", "name", "kind", "water_class", "zone_kind",
                       "width_m")
_MAX_IDS_IN_MESSAGE = 5


@dataclass(frozen=True, eq=False)
class LayerIndex:
    """One constraint layer ready for queries.

    Attributes
    ----------
    frame
        The validated features with a fresh ``RangeIndex`` (positions are feature ids in
        the engine's arrays).
    geoms
        The geometries as a NumPy array, prepared once for fast predicates.
    ids, names
        Feature keys and names, for reasons.
    rule_keys
        The rulebook rule governing each feature, e.g. ``hazard_zones.mudflow.high``.
    """

    name: str
    frame: gpd.GeoDataFrame
    geoms: np.ndarray
    ids: np.ndarray
    names: np.ndarray
    rule_keys: np.ndarray
    _rule_cache: dict[int, tuple[Rulebook, np.ndarray]] = field(
        default_factory=dict, repr=False
    )
    _replicas: dict[int, np.ndarray] = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.geoms)

    def replica(self, k: int) -> np.ndarray:
        """The geometries for worker thread ``k``: ``k`` 0 is :attr:`geoms`, others copies.

        A prepared geometry builds its indexes lazily on first use, which two threads
        must not do at once; each thread gets its own prepared copies instead.
        """
        if k == 0:
            return self.geoms
        if k not in self._replicas:
            copies = shapely.from_wkb(shapely.to_wkb(self.geoms))
            shapely.prepare(copies)
            self._replicas[k] = copies
        return self._replicas[k]

    def query(self, geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Bounding-box candidate pairs (input position, feature position) in one bulk query."""
        if len(self.geoms) == 0 or len(geoms) == 0:
            empty = np.empty(0, dtype=np.intp)
            return empty, empty
        pairs = self.frame.sindex.query(geoms)
        return pairs[0], pairs[1]

    def rules(self, rulebook: Rulebook) -> np.ndarray:
        """Row of each feature's rule in ``rulebook.tables`` (cached per rulebook object)."""
        cached = self._rule_cache.get(id(rulebook))
        if cached is not None and cached[0] is rulebook:
            return cached[1]
        index = pd.Index(rulebook.tables.rule_ids).get_indexer(pd.Index(self.rule_keys))
        missing = np.flatnonzero(index < 0)
        if missing.size:
            raise ValidationError(_missing_rules(self.name, self.rule_keys, self.ids, missing))
        self._rule_cache[id(rulebook)] = (rulebook, index)
        return index


def _missing_rules(
    layer: str, keys: np.ndarray, ids: np.ndarray, rows: np.ndarray
) -> list[Problem]:
    """One problem per rule key the rulebook lacks, naming the features that need it."""
    problems = []
    for key in pd.unique(keys[rows]):
        hit = rows[keys[rows] == key]
        shown = ", ".join(str(i) for i in ids[hit[:_MAX_IDS_IN_MESSAGE]])
        extra = hit.size - _MAX_IDS_IN_MESSAGE
        more = f" and {extra} more" if extra > 0 else ""
        problems.append(Problem(
            "no_regime",
            f"the rulebook has no rule {key!r}, needed by {hit.size} feature(s): {shown}{more}; "
            f"add it to the rulebook or correct the features' codes",
            layer=layer, row=int(hit[0]), feature=str(ids[hit[0]]),
            details={"rule": str(key), "rows": hit.tolist()},
        ))
    return problems


def _empty_frame(layer: str, crs: CRS) -> gpd.GeoDataFrame:
    columns = (
        _WATER_ZONE_COLUMNS if layer == "water_zones" else tuple(layer_schema(layer).columns)
    )
    data: dict[str, Any] = {c: pd.Series([], dtype=object) for c in columns}
    return gpd.GeoDataFrame(data, geometry=gpd.GeoSeries([], crs=crs), crs=crs)


def _text(values: pd.Series) -> pd.Series:
    return values.astype(object).where(values.notna(), None)


def _rule_keys(layer: str, frame: pd.DataFrame) -> np.ndarray:
    n = len(frame)
    if n == 0:
        return np.empty(0, dtype=object)

    def col(name: str) -> pd.Series:
        return frame[name].astype(object).fillna("").astype(str)

    if layer == "zones":
        keys = "zoning." + col("zone_type")
    elif layer == "protected_areas":
        subzone = frame["subzone"].astype(object).fillna("whole").astype(str)
        keys = "protected_areas." + col("pa_type") + "." + subzone
    elif layer == "water_zones":
        keys = col("zone_kind") + "." + col("water_class")
    elif layer == "forest_fund":
        keys = pd.Series(["forest_fund"] * n, index=frame.index)
    elif layer == "hazard_zones":
        keys = "hazard_zones." + col("hazard_type") + "." + col("hazard_class")
    else:
        keys = "restrictions." + col("restriction_type")
    return keys.to_numpy(dtype=object)


def _index(layer: str, frame: gpd.GeoDataFrame) -> LayerIndex:
    frame = frame.reset_index(drop=True)
    geoms = frame.geometry.to_numpy()
    shapely.prepare(geoms)
    frame.sindex  # noqa: B018 - build the tree now, not on the first check
    names = (
        _text(frame["name"]).to_numpy(dtype=object) if "name" in frame
        else np.full(len(frame), None, dtype=object)
    )
    return LayerIndex(
        name=layer,
        frame=frame,
        geoms=geoms,
        ids=_text(frame[KEY_COLUMN[layer]]).astype(str).to_numpy(dtype=object),
        names=names,
        rule_keys=_rule_keys(layer, frame),
    )


def derive_water_zones(water_bodies: gpd.GeoDataFrame, rulebook: Rulebook) -> gpd.GeoDataFrame:
    """Water protection zones and coastal strips around water bodies, by rulebook widths.

    Each water body gives two features: its water protection zone and its coastal strip,
    each the body buffered by the width the rulebook sets for its ``water_class``
    (rivers and canals as lines, lakes as polygons, intakes as points). The strip lies
    inside the zone and both keep the body itself, so a parcel on the water is in both;
    both regimes apply there, as the law of water protection zones intends.

    Parameters
    ----------
    water_bodies
        The ``water_bodies`` layer in a projected CRS (widths are metres).
    rulebook
        Gives the widths (``water_zones``).

    Returns
    -------
    geopandas.GeoDataFrame
        Columns ``zone_id`` (``<water_id>/<zone_kind>``), ``water_id``, ``name``,
        ``kind``, ``water_class``, ``zone_kind`` and ``width_m``, in the input CRS.

    Raises
    ------
    CRSError
        If the layer has no CRS or a geographic one.
    ValidationError
        If columns are missing or a water class has no widths in the rulebook.
    """
    crs = water_bodies.crs
    if crs is None:
        raise CRSError("water_bodies has no CRS; widths need a projected CRS in metres")
    if not CRS.from_user_input(crs).is_projected:
        raise CRSError(
            f"water_bodies is in {CRS.from_user_input(crs).to_string()}, a geographic CRS; "
            f"buffer widths are metres, reproject to the workspace's projected CRS first"
        )
    missing = [c for c in ("water_id", "water_class") if c not in water_bodies.columns]
    if missing:
        raise ValidationError([
            Problem("missing_column", f"required column {c!r} is missing", layer="water_bodies",
                    column=c)
            for c in missing
        ])
    frame = water_bodies.reset_index(drop=True)
    classes = frame["water_class"].astype(object).to_numpy()
    known = np.array(list(rulebook.water_zones), dtype=object)
    bad = np.flatnonzero(~np.isin(classes, known))
    if bad.size:
        problems = []
        ids = frame["water_id"].astype(str).to_numpy()
        for value in pd.unique(classes[bad]):
            hit = bad[classes[bad] == value]
            problems.append(Problem(
                "unknown_water_class",
                f"water_class {value!r} has no widths in rulebook water_zones (known: "
                f"{', '.join(known)}); {hit.size} water bod(y/ies): "
                f"{', '.join(ids[hit[:_MAX_IDS_IN_MESSAGE]])}",
                layer="water_bodies", row=int(hit[0]), feature=str(ids[hit[0]]),
                column="water_class", details={"rows": hit.tolist()},
            ))
        raise ValidationError(problems)

    geoms = frame.geometry.to_numpy()
    parts = []
    for zone_kind, width_field in WATER_ZONE_KINDS:
        width_of = {
            wclass: getattr(wz, width_field).value for wclass, wz in rulebook.water_zones.items()
        }
        widths = pd.Series(classes).map(width_of).to_numpy(dtype=float)
        part = pd.DataFrame({
            "zone_id": frame["water_id"].astype(str) + "/" + zone_kind,
            "water_id": frame["water_id"].astype(str),
            "name": _text(frame["name"]) if "name" in frame else None,
            "kind": _text(frame["kind"]) if "kind" in frame else None,
            "water_class": classes,
            "zone_kind": zone_kind,
            "width_m": widths,
        })
        part["geometry"] = shapely.buffer(geoms, widths)
        parts.append(part)
    out = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    return gpd.GeoDataFrame(out, geometry="geometry", crs=crs)


class ConstraintLayers:
    """The constraint layers of one workspace, validated and indexed for checks.

    Build it with :meth:`from_frames`; it is immutable and can be shared by every check
    of a session. Positions of features in :attr:`LayerIndex.frame` are stable.
    """

    def __init__(
        self,
        layers: Mapping[str, LayerIndex],
        *,
        crs: CRS,
        rulebook: Rulebook,
        water_widths: Mapping[str, tuple[float, float]] | None,
    ) -> None:
        self._layers = dict(layers)
        self.crs = crs
        self.rulebook = rulebook
        self.water_widths = dict(water_widths) if water_widths is not None else None

    def __repr__(self) -> str:
        counts = ", ".join(f"{n}={len(self._layers[n])}" for n in LAYERS)
        return f"ConstraintLayers({self.crs.to_string()}, {counts})"

    def layer(self, name: str) -> LayerIndex:
        return self._layers[name]

    def frame(self, name: str) -> gpd.GeoDataFrame:
        """The validated features of a layer (``water_zones`` is derived)."""
        return self._layers[name].frame

    @property
    def zones(self) -> gpd.GeoDataFrame:
        return self.frame("zones")

    @property
    def protected_areas(self) -> gpd.GeoDataFrame:
        return self.frame("protected_areas")

    @property
    def water_zones(self) -> gpd.GeoDataFrame:
        return self.frame("water_zones")

    @property
    def forest_fund(self) -> gpd.GeoDataFrame:
        return self.frame("forest_fund")

    @property
    def hazard_zones(self) -> gpd.GeoDataFrame:
        return self.frame("hazard_zones")

    @property
    def restrictions(self) -> gpd.GeoDataFrame:
        return self.frame("restrictions")

    def check_rulebook(self, rulebook: Rulebook) -> None:
        """Refuse a rulebook whose water widths differ from those the zones were derived with."""
        if self.water_widths is None or rulebook is self.rulebook:
            return
        now = {
            c: (wz.protection_zone_m.value, wz.coastal_strip_m.value)
            for c, wz in rulebook.water_zones.items()
        }
        changed = sorted(c for c, w in self.water_widths.items() if now.get(c) != w)
        if changed:
            raise InputError(
                f"water protection zones were derived with other widths for "
                f"{', '.join(changed)}; rebuild ConstraintLayers with this rulebook"
            )

    @classmethod
    def from_frames(
        cls,
        *,
        rulebook: Rulebook,
        zones: gpd.GeoDataFrame | None = None,
        protected_areas: gpd.GeoDataFrame | None = None,
        water_bodies: gpd.GeoDataFrame | None = None,
        water_zones: gpd.GeoDataFrame | None = None,
        forest_fund: gpd.GeoDataFrame | None = None,
        hazard_zones: gpd.GeoDataFrame | None = None,
        restrictions: gpd.GeoDataFrame | None = None,
        crs: CRS | str | int | None = None,
    ) -> ConstraintLayers:
        """Validate, derive and index the constraint layers.

        Parameters
        ----------
        rulebook
            Gives water widths and the rule each feature falls under; features whose
            codes have no rule are refused here rather than ignored in a check.
        zones, protected_areas, water_bodies, forest_fund, hazard_zones, restrictions
            Workspace layers (see ``data/schemas/layers.json``); a missing layer is empty.
        water_zones
            Already derived water zones (the output of :func:`derive_water_zones`),
            instead of ``water_bodies``.
        crs
            The workspace CRS; by default the layers' common CRS.

        Raises
        ------
        CRSError
            If a layer has no CRS, the layers are in different CRS (each is named), or
            the CRS is not projected.
        ValidationError
            With every problem of every layer: missing columns, unknown codes,
            invalid geometries, duplicate keys, codes without a rule in the rulebook.
        """
        if water_bodies is not None and water_zones is not None:
            raise InputError("give water_bodies or derived water_zones, not both")
        candidates: dict[str, gpd.GeoDataFrame | None] = {
            "zones": zones, "protected_areas": protected_areas, "water_bodies": water_bodies,
            "water_zones": water_zones, "forest_fund": forest_fund,
            "hazard_zones": hazard_zones, "restrictions": restrictions,
        }
        given = {k: v for k, v in candidates.items() if v is not None}
        target = _common_crs(given, crs)

        problems: list[Problem] = []
        frames: dict[str, gpd.GeoDataFrame] = {}
        for name, frame in given.items():
            if name == "water_zones":
                problems += [
                    Problem("missing_column", f"required column {c!r} is missing "
                            f"(derive the layer with derive_water_zones)",
                            layer=name, column=c)
                    for c in ("zone_id", "zone_kind", "water_class") if c not in frame
                ]
                frames[name] = frame.reset_index(drop=True)
                continue
            report = validate_layer(frame, name, crs=target)
            problems += report.errors
            frames[name] = report.frame
        if "zones" in frames:
            problems += _unknown_values(
                frames["zones"], "zones", "zone_type", tuple(rulebook.zone_types)
            )
        water_widths = None
        if "water_bodies" in frames:
            wb = frames.pop("water_bodies")
            bad_class = _unknown_values(
                wb, "water_bodies", "water_class", tuple(rulebook.water_zones)
            )
            problems += bad_class
            if not problems:
                frames["water_zones"] = derive_water_zones(wb, rulebook)
                water_widths = {
                    c: (wz.protection_zone_m.value, wz.coastal_strip_m.value)
                    for c, wz in rulebook.water_zones.items()
                }
        if problems:
            raise ValidationError(problems)

        indexed = {
            name: _index(name, frames.get(name, _empty_frame(name, target)))
            for name in LAYERS
        }
        for layer in indexed.values():
            try:
                layer.rules(rulebook)
            except ValidationError as exc:
                problems += exc.problems
        if problems:
            raise ValidationError(problems)
        return cls(indexed, crs=target, rulebook=rulebook, water_widths=water_widths)


def _common_crs(frames: Mapping[str, gpd.GeoDataFrame], crs: CRS | str | int | None) -> CRS:
    no_crs = [name for name, f in frames.items() if f.crs is None]
    if no_crs:
        raise CRSError(
            f"layer(s) without a CRS: {', '.join(no_crs)}; give each file a .prj or set its CRS"
        )
    found = {name: CRS.from_user_input(f.crs) for name, f in frames.items()}
    target = CRS.from_user_input(crs) if crs is not None else None
    if target is None:
        if not found:
            raise CRSError("no layer given and no crs: cannot tell the workspace CRS")
        target = next(iter(found.values()))
    differing = {name: c for name, c in found.items() if c != target}
    if differing:
        listed = "; ".join(f"{name}: {c.to_string()}" for name, c in found.items())
        raise CRSError(
            f"constraint layers must share one projected CRS ({target.to_string()}), but "
            f"{', '.join(differing)} differ — {listed}; reproject them with spatial.crs.to_crs"
        )
    if not target.is_projected:
        raise CRSError(
            f"constraint layers are in {target.to_string()}, a geographic CRS; areas and "
            f"widths need a projected CRS in metres (e.g. EPSG:32642)"
        )
    return target


def _unknown_values(
    frame: pd.DataFrame, layer: str, column: str, known: tuple[str, ...]
) -> list[Problem]:
    """One problem per unknown code of ``column``, naming the features that use it."""
    if column not in frame:
        return []
    values = frame[column].astype(object).to_numpy()
    present = pd.notna(values)
    bad = np.flatnonzero(present & ~np.isin(values, np.array(known, dtype=object)))
    key = KEY_COLUMN.get(layer, "water_id")
    ids = frame[key].astype(str).to_numpy() if key in frame else np.arange(len(frame)).astype(str)
    problems = []
    for value in pd.unique(values[bad]):
        hit = bad[values[bad] == value]
        close = difflib.get_close_matches(str(value), list(known), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        problems.append(Problem(
            "unknown_code",
            f"{column} {value!r} is not in the rulebook{hint}; known: {', '.join(known)}; "
            f"used by {hit.size} feature(s): {', '.join(ids[hit[:_MAX_IDS_IN_MESSAGE]])}",
            layer=layer, row=int(hit[0]), feature=str(ids[hit[0]]), column=column,
            details={"value": str(value), "rows": hit.tolist()},
        ))
    return problems

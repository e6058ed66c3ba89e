"""Planning norms for the land-demand forecast, read from the rulebook's ``norms:`` section.

The SEDP methodology gives no numbers for plot sizes, school places per 1 000 residents,
land per place or jobs per hectare; each municipality sets them. So every norm is data
with a ``value``, a ``unit`` and a ``source``, and a norm without a source is refused:
a forecast presented to the local council must say where each coefficient came from.

The shipped defaults are placeholders of a plausible order of magnitude, each sourced as
``"Jer default — not law; set locally by the municipality"``; they must be replaced by
locally adopted values before a forecast is published.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ..errors import Problem, RulebookError

__all__ = [
    "DEFAULT_NORMS",
    "DEFAULT_SOURCE",
    "FACILITY_USES",
    "LAND_USES",
    "DemandNorms",
    "Norm",
    "SocialNorm",
]

#: Source string of every shipped default: the forecast report prints it beside the value.
DEFAULT_SOURCE = "Jer default — not law; set locally by the municipality"

#: Land-use codes the forecast produces, matching the rulebook's uses. Sector jobs may add
#: further codes (any key of ``norms.economy.jobs_per_ha``).
LAND_USES: tuple[str, ...] = (
    "individual_housing",
    "multi_storey_housing",
    "school",
    "kindergarten",
    "health",
    "industry",
    "commerce",
    "agriculture",
    "tourism",
)

#: Facility kind of the ``facilities`` layer → land-use code of the places it provides.
FACILITY_USES: dict[str, str] = {
    "school": "school",
    "kindergarten": "kindergarten",
    "clinic": "health",
}


def _leaf(value: float, unit: str) -> dict[str, Any]:
    return {"value": value, "unit": unit, "source": DEFAULT_SOURCE}


#: The default ``norms:`` section, in the rulebook's shape. Values are placeholders of the
#: order found in planning practice, not law (see module docstring).
DEFAULT_NORMS: dict[str, Any] = {
    "housing": {
        "household_size_decline": _leaf(0.005, "share per year"),
        "min_household_size": _leaf(3.0, "persons per household"),
        "individual_plot_ha": _leaf(0.08, "ha per plot"),
        "multi_storey_share": _leaf(0.1, "share of new dwellings"),
        "multi_storey_dwellings_per_ha": _leaf(100.0, "dwellings per ha"),
        "infill_share": _leaf(0.1, "share of new dwellings"),
        "streets_share": _leaf(0.2, "share of gross new residential land"),
    },
    "social": {
        "school": {
            "places_per_1000": _leaf(180.0, "places per 1000 residents"),
            "ha_per_place": _leaf(0.004, "ha per place"),
        },
        "kindergarten": {
            "places_per_1000": _leaf(60.0, "places per 1000 residents"),
            "ha_per_place": _leaf(0.0035, "ha per place"),
        },
        "clinic": {
            "places_per_1000": _leaf(20.0, "visits per shift per 1000 residents"),
            "ha_per_place": _leaf(0.001, "ha per visit per shift"),
        },
    },
    "economy": {
        "jobs_per_ha": {
            "industry": _leaf(25.0, "jobs per ha"),
            "commerce": _leaf(50.0, "jobs per ha"),
            "tourism": _leaf(10.0, "jobs per ha"),
        },
    },
}

# Allowed range of each scalar norm: (lower, upper, lower inclusive, upper inclusive).
_Range = tuple[float, float, bool, bool]
_SHARE: _Range = (0.0, 1.0, True, False)
_POSITIVE: _Range = (0.0, math.inf, False, False)
_NON_NEGATIVE: _Range = (0.0, math.inf, True, False)
_HOUSING_RANGES: dict[str, _Range] = {
    "household_size_decline": _SHARE,
    "min_household_size": _NON_NEGATIVE,
    "individual_plot_ha": _POSITIVE,
    "multi_storey_share": (0.0, 1.0, True, True),
    "multi_storey_dwellings_per_ha": _POSITIVE,
    "infill_share": (0.0, 1.0, True, True),
    "streets_share": _SHARE,
}
_SOCIAL_RANGES: dict[str, _Range] = {
    "places_per_1000": _NON_NEGATIVE,
    "ha_per_place": _NON_NEGATIVE,
}


@dataclass(frozen=True, slots=True)
class Norm:
    """One planning norm: a number with its unit and where it comes from."""

    value: float
    unit: str
    source: str

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "unit": self.unit, "source": self.source}


@dataclass(frozen=True, slots=True)
class SocialNorm:
    """Norms of one facility kind: places needed per 1 000 residents, land per place."""

    places_per_1000: Norm
    ha_per_place: Norm


@dataclass(frozen=True)
class DemandNorms:
    """Every norm the land-demand forecast uses, each with its unit and source.

    Build it from a rulebook with :meth:`from_mapping` or take :meth:`default`; change a
    few values for a what-if with :meth:`with_values`.

    Attributes
    ----------
    household_size_decline
        Share by which the mean household size falls each year (new household formation:
        young adults leaving the parental home); ``0.005`` = −0.5 % a year.
    min_household_size
        Floor of the projected household size, persons per household.
    individual_plot_ha
        Land of one individual-housing plot, hectares.
    multi_storey_share
        Share of new dwellings built as multi-storey housing (a ``multi_storey_share``
        column of the ``settlements`` frame overrides it per settlement).
    multi_storey_dwellings_per_ha
        Net density of multi-storey housing, dwellings per hectare.
    infill_share
        Share of new dwellings built on land already in residential use (infill,
        subdivision, redevelopment), which need no new land.
    streets_share
        Share of gross new residential land taken by streets, lanes and networks.
    social
        Facility kind (``school``, ``kindergarten``, ``clinic``) → its norms.
    jobs_per_ha
        Land-use code of an economic sector → jobs per hectare.
    """

    household_size_decline: Norm
    min_household_size: Norm
    individual_plot_ha: Norm
    multi_storey_share: Norm
    multi_storey_dwellings_per_ha: Norm
    infill_share: Norm
    streets_share: Norm
    social: Mapping[str, SocialNorm] = field(default_factory=dict)
    jobs_per_ha: Mapping[str, Norm] = field(default_factory=dict)

    # ------------------------------------------------------------------ constructors
    @classmethod
    def default(cls) -> DemandNorms:
        """The shipped defaults (:data:`DEFAULT_NORMS`): placeholders, never law."""
        return cls.from_mapping(DEFAULT_NORMS)

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any]) -> DemandNorms:
        """Read the rulebook's ``norms:`` section, reporting every problem at once.

        Parameters
        ----------
        mapping
            The content of the ``norms:`` section (a mapping with the keys ``housing``,
            ``social`` and ``economy``), or a whole rulebook mapping that has a ``norms``
            key. Each leaf is ``{value: <number>, unit: <str>, source: <str>}`` (optionally
            with ``name`` and ``description``) or a norm object with those attributes, so
            the ``norms`` of a loaded :class:`spatial.zoning.rulebook.Rulebook` work as
            they are. Groups other than ``housing``, ``social`` and ``economy`` are left
            to other modules.

        Raises
        ------
        RulebookError
            With one problem per missing, unknown or malformed norm, each naming its path
            (e.g. ``norms.housing.individual_plot_ha.source``).
        """
        section: Any = mapping
        if isinstance(mapping, Mapping) and isinstance(mapping.get("norms"), Mapping):
            section = mapping["norms"]
        problems: list[Problem] = []
        if not isinstance(section, Mapping):
            raise RulebookError(
                [_problem("norms", f"the norms section must be a mapping, got {section!r}")]
            )
        # Other top-level groups of the rulebook's norms belong to other modules.

        housing_map = _section(section, "housing", "norms", problems)
        housing: dict[str, Norm | None] = {}
        for key, rng in _HOUSING_RANGES.items():
            housing[key] = _read_norm(housing_map, key, "norms.housing", rng, problems)
        if housing_map is not None:
            _unknown_keys(housing_map, tuple(_HOUSING_RANGES), "norms.housing", problems)

        social_map = _section(section, "social", "norms", problems)
        social: dict[str, SocialNorm] = {}
        if social_map is not None:
            _unknown_keys(social_map, tuple(FACILITY_USES), "norms.social", problems)
            for kind in FACILITY_USES:
                kind_map = _section(social_map, kind, "norms.social", problems)
                path = f"norms.social.{kind}"
                values = {
                    key: _read_norm(kind_map, key, path, rng, problems)
                    for key, rng in _SOCIAL_RANGES.items()
                }
                if kind_map is not None:
                    _unknown_keys(kind_map, tuple(_SOCIAL_RANGES), path, problems)
                ppl, hpp = values["places_per_1000"], values["ha_per_place"]
                if ppl is not None and hpp is not None:
                    social[kind] = SocialNorm(places_per_1000=ppl, ha_per_place=hpp)

        economy_map = _section(section, "economy", "norms", problems)
        jobs: dict[str, Norm] = {}
        if economy_map is not None:
            _unknown_keys(economy_map, ("jobs_per_ha",), "norms.economy", problems)
            jobs_map = _section(economy_map, "jobs_per_ha", "norms.economy", problems)
            if jobs_map is not None:
                for use in jobs_map:
                    norm = _read_norm(
                        jobs_map, use, "norms.economy.jobs_per_ha", _POSITIVE, problems
                    )
                    if norm is not None:
                        jobs[str(use)] = norm

        if problems:
            raise RulebookError(problems)
        scalars = {k: v for k, v in housing.items() if v is not None}
        return cls(**scalars, social=social, jobs_per_ha=jobs)

    # ------------------------------------------------------------------ views
    def to_mapping(self) -> dict[str, Any]:
        """The norms in the rulebook's ``norms:`` shape; ``from_mapping`` reads it back."""
        return {
            "housing": {key: getattr(self, key).to_dict() for key in _HOUSING_RANGES},
            "social": {
                kind: {
                    "places_per_1000": sn.places_per_1000.to_dict(),
                    "ha_per_place": sn.ha_per_place.to_dict(),
                }
                for kind, sn in self.social.items()
            },
            "economy": {
                "jobs_per_ha": {use: n.to_dict() for use, n in self.jobs_per_ha.items()}
            },
        }

    def table(self) -> pd.DataFrame:
        """Every norm as a row (path, value, unit, source), for the forecast report."""
        rows: list[dict[str, Any]] = []
        _flatten(self.to_mapping(), "norms", rows)
        return pd.DataFrame(rows, columns=["path", "value", "unit", "source"])

    def with_values(
        self, values: Mapping[str, float], *, source: str = "set by the user"
    ) -> DemandNorms:
        """A copy with some values changed, e.g. for a what-if in the working group.

        Parameters
        ----------
        values
            Dotted path below ``norms`` → new value, e.g. ``{"housing.individual_plot_ha":
            0.1, "social.school.places_per_1000": 200, "economy.jobs_per_ha.industry": 40}``.
            A ``jobs_per_ha`` path may name a new sector.
        source
            Source recorded for every changed norm.
        """
        mapping = self.to_mapping()
        problems: list[Problem] = []
        for path, value in values.items():
            parts = path.split(".")
            node: Any = mapping
            for part in parts[:-1]:
                node = node.get(part) if isinstance(node, dict) else None
            new_sector = parts[:2] == ["economy", "jobs_per_ha"] and len(parts) == 3
            if not isinstance(node, dict) or (parts[-1] not in node and not new_sector):
                problems.append(
                    Problem(code="unknown_norm", message=f"unknown norm 'norms.{path}'",
                            layer="rulebook", feature=f"norms.{path}")
                )
                continue
            unit = node[parts[-1]]["unit"] if parts[-1] in node else "jobs per ha"
            node[parts[-1]] = {"value": value, "unit": unit, "source": source}
        if problems:
            raise RulebookError(problems)
        return DemandNorms.from_mapping(mapping)


# ---------------------------------------------------------------------- helpers
def _problem(path: str, message: str) -> Problem:
    return Problem(code="bad_norm", message=message, layer="rulebook", feature=path)


def _section(
    mapping: Mapping[str, Any] | None, key: str, path: str, problems: list[Problem]
) -> Mapping[str, Any] | None:
    if mapping is None:
        return None
    here = f"{path}.{key}"
    if key not in mapping:
        problems.append(
            Problem(code="missing_norm", message=f"missing section {here!r}",
                    layer="rulebook", feature=here)
        )
        return None
    value = mapping[key]
    if not isinstance(value, Mapping):
        problems.append(_problem(here, f"{here!r} must be a mapping, got {value!r}"))
        return None
    return value


def _unknown_keys(
    mapping: Mapping[str, Any], allowed: tuple[str, ...], path: str, problems: list[Problem]
) -> None:
    for key in mapping:
        if key not in allowed:
            here = f"{path}.{key}"
            problems.append(
                Problem(
                    code="unknown_norm",
                    message=f"unknown key {here!r}; expected one of {', '.join(allowed)}",
                    layer="rulebook",
                    feature=here,
                )
            )


def _read_norm(
    mapping: Mapping[str, Any] | None,
    key: str,
    path: str,
    rng: _Range,
    problems: list[Problem],
) -> Norm | None:
    if mapping is None:
        return None
    here = f"{path}.{key}"
    if key not in mapping:
        problems.append(
            Problem(code="missing_norm", message=f"missing norm {here!r}",
                    layer="rulebook", feature=here)
        )
        return None
    leaf = mapping[key]
    if not isinstance(leaf, Mapping) and all(
        hasattr(leaf, a) for a in ("value", "unit", "source")
    ):
        # A norm object of the loaded rulebook (spatial.zoning.rulebook.Norm).
        leaf = {"value": leaf.value, "unit": leaf.unit, "source": leaf.source}
    if not isinstance(leaf, Mapping):
        problems.append(
            _problem(here, f"norm {here!r} must be {{value, unit, source}}, got {leaf!r}")
        )
        return None
    ok = True
    for extra in leaf:
        if extra not in ("value", "unit", "source", "name", "description"):
            problems.append(
                Problem(code="unknown_norm", message=f"unknown key '{here}.{extra}'",
                        layer="rulebook", feature=f"{here}.{extra}")
            )
            ok = False
    source = leaf.get("source")
    if not isinstance(source, str) or not source.strip():
        problems.append(
            Problem(
                code="norm_without_source",
                message=f"norm {here!r} has no source (got {source!r}); every norm must "
                "say where it comes from",
                layer="rulebook",
                feature=f"{here}.source",
            )
        )
        ok = False
    unit = leaf.get("unit")
    if not isinstance(unit, str) or not unit.strip():
        problems.append(_problem(f"{here}.unit", f"norm {here!r} has no unit (got {unit!r})"))
        ok = False
    value = leaf.get("value")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        problems.append(
            _problem(f"{here}.value", f"norm {here!r} value must be a number, got {value!r}")
        )
        return None
    low, high, low_in, high_in = rng
    below = value < low or (value == low and not low_in)
    above = value > high or (value == high and not high_in)
    if below or above:
        lo = "[" if low_in else "("
        hi = "]" if high_in else ")"
        problems.append(
            _problem(
                f"{here}.value",
                f"norm {here!r} value {value!r} is outside {lo}{low}, {high}{hi}",
            )
        )
        return None
    if not ok:
        return None
    return Norm(value=float(value), unit=str(unit), source=str(source))


def _flatten(node: Mapping[str, Any], path: str, rows: list[dict[str, Any]]) -> None:
    if set(node) == {"value", "unit", "source"}:
        rows.append({"path": path, **node})
        return
    for key, child in node.items():
        _flatten(child, f"{path}.{key}", rows)

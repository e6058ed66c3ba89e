"""Land for schools, kindergartens and clinics: place deficits turned into hectares.

Isfana's schools are 2 046 pupils over capacity and 4 625 preschool children have no
kindergarten place; population growth adds to that. For each settlement, facility kind,
year and scenario:

- places needed by norm ``N_t = P_t · places_per_1000 / 1000``;
- where an observed deficit is known (pupils over capacity, children waiting), demand is
  at least the observed one grown with the population: ``D_t = max(N_t, (C + O)·P_t/P_0)``;
- deficit ``max(D_t − C, 0)`` against the capacity ``C`` of the ``facilities`` frame,
  split into the deficit already there in the base year (driver ``existing_deficit``)
  and the part added by population change (driver ``population``);
- hectares = places · ``ha_per_place``.

Facility kinds map to land uses by :data:`~spatial.demand.norms.FACILITY_USES`
(``clinic`` → ``health``). Hectares are cumulative from the base year.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import Problem, ValidationError
from ._frames import check_columns, check_unknown_settlements, numeric_column, text_column
from .housing import DEMAND_COLUMNS
from .norms import FACILITY_USES, DemandNorms
from .population import PopulationProjection

__all__ = ["facility_capacity", "social_demand"]

_FACILITY_KINDS = (*FACILITY_USES, "other")


def facility_capacity(
    facilities: pd.DataFrame | None, *, known_settlements: list[str]
) -> pd.DataFrame:
    """Capacity by settlement and kind from the ``facilities`` layer (kind ``other`` ignored).

    Checks every row: kind in the code list, capacity a number ≥ 0, settlement given and
    known. Returns ``settlement × kind`` capacities (0 where a settlement has none).
    """
    kinds = list(FACILITY_USES)
    zero = pd.DataFrame(0.0, index=pd.Index(known_settlements, name="settlement"),
                        columns=pd.Index(kinds, name="kind"))
    if facilities is None:
        return zero
    layer = "facilities"
    frame = pd.DataFrame(facilities).reset_index(drop=True)
    problems: list[Problem] = []
    if not check_columns(frame, ("kind", "capacity", "settlement"), layer=layer,
                         problems=problems):
        raise ValidationError(problems)
    key = "facility_id" if "facility_id" in frame.columns else None
    kind = frame["kind"].astype("string").str.strip().str.lower()
    bad_kind = ~kind.isin(_FACILITY_KINDS).fillna(False).to_numpy(dtype=bool)
    features = frame[key].astype(str).to_numpy() if key else np.full(len(frame), None)
    for pos in np.flatnonzero(bad_kind):
        problems.append(
            Problem(code="unknown_code",
                    message=f"kind {frame['kind'].iloc[pos]!r} is not one of "
                    f"{', '.join(_FACILITY_KINDS)}",
                    layer=layer, row=int(pos), feature=features[pos], column="kind")
        )
    relevant = kind.isin(kinds).fillna(False).to_numpy(dtype=bool)
    sub = frame.loc[relevant]
    sub_problems: list[Problem] = []
    names = text_column(sub, "settlement", layer=layer, problems=sub_problems)
    capacity = numeric_column(sub, "capacity", layer=layer, problems=sub_problems, key=key,
                              minimum=0, code_below="negative_count")
    check_unknown_settlements(names, known_settlements, layer=layer, problems=sub_problems)
    # Positions above are within the relevant subset; report them as rows of the input.
    rows = np.flatnonzero(relevant)
    for p in sub_problems:
        problems.append(
            Problem(code=p.code, message=p.message, layer=p.layer,
                    row=None if p.row is None else int(rows[p.row]),
                    feature=p.feature if p.row is None or key is None
                    else str(features[rows[p.row]]),
                    column=p.column, details=p.details)
        )
    if problems:
        raise ValidationError(problems)
    grouped = capacity.groupby([names, kind.loc[relevant]]).sum()
    table = grouped.unstack().fillna(0.0)
    return table.reindex(index=known_settlements, columns=kinds, fill_value=0.0).fillna(0.0)


def _observed(
    observed: pd.DataFrame | None, known: list[str], problems: list[Problem]
) -> pd.DataFrame:
    kinds = list(FACILITY_USES)
    empty = pd.DataFrame(np.nan, index=pd.Index(known, name="settlement"),
                         columns=pd.Index(kinds, name="kind"))
    if observed is None:
        return empty
    layer = "observed_deficit"
    frame = pd.DataFrame(observed).reset_index(drop=True)
    if not check_columns(frame, ("settlement", "kind", "places"), layer=layer,
                         problems=problems):
        return empty
    names = text_column(frame, "settlement", layer=layer, problems=problems)
    kind = frame["kind"].astype("string").str.strip().str.lower()
    for pos in np.flatnonzero(~kind.isin(kinds).fillna(False).to_numpy(dtype=bool)):
        problems.append(
            Problem(code="unknown_code",
                    message=f"kind {frame['kind'].iloc[pos]!r} is not one of {', '.join(kinds)}",
                    layer=layer, row=int(pos), column="kind")
        )
    places = numeric_column(frame.assign(settlement=names), "places", layer=layer,
                            problems=problems, key="settlement", minimum=0,
                            code_below="negative_count")
    check_unknown_settlements(names, known, layer=layer, problems=problems)
    table = places.groupby([names, kind]).sum(min_count=1).unstack()
    return table.reindex(index=known, columns=kinds)


def social_demand(
    projection: PopulationProjection,
    *,
    facilities: pd.DataFrame | None = None,
    norms: DemandNorms | None = None,
    observed_deficit: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Hectares for school, kindergarten and clinic places lacking, by settlement and year.

    Parameters
    ----------
    projection
        Population projection.
    facilities
        The ``facilities`` layer (``facility_id, kind, capacity, settlement``; a
        GeoDataFrame is fine, geometry is ignored). Without it capacity is 0 everywhere.
    norms
        ``social`` norms: places per 1 000 residents and hectares per place, per kind.
    observed_deficit
        Optional ``settlement, kind, places``: demand above capacity observed in the base
        year (e.g. pupils over capacity), used where it exceeds the norm.

    Returns
    -------
    pandas.DataFrame
        Tidy rows (:data:`~spatial.demand.housing.DEMAND_COLUMNS`) for the projected
        years; ``use`` is ``school``, ``kindergarten`` or ``health``; ``driver``
        ``existing_deficit`` or ``population``; ``quantity`` is places lacking.
    """
    norms = norms or DemandNorms.default()
    names = projection.settlements
    problems: list[Problem] = []
    try:
        capacity = facility_capacity(facilities, known_settlements=names)
    except ValidationError as exc:
        problems.extend(exc.problems)
        capacity = None
    observed = _observed(observed_deficit, names, problems)
    if problems or capacity is None:
        raise ValidationError(problems)

    frame = projection.frame
    base_pop = (
        frame.loc[frame["year"] == projection.base_year]
        .drop_duplicates("settlement").set_index("settlement")["population"]
    )
    proj = frame.loc[frame["year"] > projection.base_year].reset_index(drop=True)
    pop = proj["population"].to_numpy(dtype=float)
    p0 = proj["settlement"].map(base_pop).to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        growth = np.where(p0 > 0, pop / p0, 0.0)

    parts = []
    for kind, use in FACILITY_USES.items():
        if kind not in norms.social:
            continue
        norm = norms.social[kind]
        per_person = norm.places_per_1000.value / 1000.0
        cap = proj["settlement"].map(capacity[kind]).to_numpy(dtype=float)
        obs = proj["settlement"].map(observed[kind]).to_numpy(dtype=float)
        observed_base = np.where(np.isnan(obs), 0.0, cap + np.nan_to_num(obs))
        demand = np.maximum(pop * per_person, observed_base * growth)
        demand0 = np.maximum(p0 * per_person, observed_base)
        deficit = np.maximum(demand - cap, 0.0)
        existing = np.minimum(np.maximum(demand0 - cap, 0.0), deficit)
        added = deficit - existing
        unit = norm.places_per_1000.unit.replace(" per 1000 residents", "")
        for driver, places in (("existing_deficit", existing), ("population", added)):
            parts.append(
                pd.DataFrame({
                    "settlement": proj["settlement"], "year": proj["year"],
                    "scenario": proj["scenario"], "use": use, "driver": driver,
                    "hectares": places * norm.ha_per_place.value, "quantity": places,
                    "unit": unit,
                })
            )
    if not parts:
        return pd.DataFrame(columns=list(DEMAND_COLUMNS))
    return pd.concat(parts, ignore_index=True)[list(DEMAND_COLUMNS)]

"""Land-demand forecast for the SEDP: population, housing, social facilities, economy.

Pure functions over DataFrames (no store, no web). The chain is
:func:`project_population` → :func:`land_demand`, which combines housing, social
facilities and economic land into one tidy :class:`DemandTable`. Norms come from the
rulebook's ``norms:`` section through :class:`DemandNorms`; see ``docs/demand.md``.
"""

from .cohort import CohortRates, read_age_sex_csv, read_cohort_rates_csv
from .norms import DEFAULT_NORMS, DEFAULT_SOURCE, FACILITY_USES, LAND_USES, DemandNorms, Norm
from .population import (
    METHODS,
    SCENARIOS,
    PopulationProjection,
    official_growth_rate,
    project_population,
    read_population_csv,
    validate_population,
)

__all__ = [
    "DEFAULT_NORMS",
    "DEFAULT_SOURCE",
    "FACILITY_USES",
    "LAND_USES",
    "METHODS",
    "SCENARIOS",
    "CohortRates",
    "DemandNorms",
    "Norm",
    "PopulationProjection",
    "official_growth_rate",
    "project_population",
    "read_age_sex_csv",
    "read_cohort_rates_csv",
    "read_population_csv",
    "validate_population",
]

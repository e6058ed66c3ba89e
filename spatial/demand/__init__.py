"""Land-demand forecast for the SEDP: population, housing, social facilities, economy.

Pure functions over DataFrames (no store, no web). The chain is
:func:`project_population` → :func:`land_demand`, which combines housing, social
facilities and economic land into one tidy :class:`DemandTable`. Norms come from the
rulebook's ``norms:`` section through :class:`DemandNorms`; see ``docs/demand.md``.
"""

from .cohort import CohortRates, read_age_sex_csv, read_cohort_rates_csv
from .economy import (
    ChainStep,
    InvestmentProject,
    agriculture_demand,
    investment_demand,
    sector_demand,
)
from .housing import DEMAND_COLUMNS, housing_demand, project_households
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
from .social import facility_capacity, social_demand
from .table import DemandTable, land_demand

__all__ = [
    "DEFAULT_NORMS",
    "DEFAULT_SOURCE",
    "DEMAND_COLUMNS",
    "FACILITY_USES",
    "LAND_USES",
    "METHODS",
    "SCENARIOS",
    "ChainStep",
    "CohortRates",
    "DemandNorms",
    "DemandTable",
    "InvestmentProject",
    "Norm",
    "PopulationProjection",
    "agriculture_demand",
    "facility_capacity",
    "housing_demand",
    "investment_demand",
    "land_demand",
    "official_growth_rate",
    "project_households",
    "project_population",
    "read_age_sex_csv",
    "read_cohort_rates_csv",
    "read_population_csv",
    "sector_demand",
    "social_demand",
    "validate_population",
]

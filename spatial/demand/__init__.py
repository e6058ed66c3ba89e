"""Land-demand forecast for the SEDP: population, housing, social facilities, economy.

Pure functions over DataFrames (no store, no web). The chain is
:func:`project_population` → :func:`land_demand`, which combines housing, social
facilities and economic land into one tidy :class:`DemandTable`. Norms come from the
rulebook's ``norms:`` section through :class:`DemandNorms`; see ``docs/demand.md``.
Supply side: :func:`candidate_parcels` → :func:`land_capacity` → :func:`demand_balance`
→ :func:`allocate` (where the land could go, and the transformation requests it needs).
"""

from .allocation import COMPONENTS, DEFAULT_WEIGHTS, AllocationResult, SuitabilityWeights, allocate
from .capacity import (
    CANDIDATE_REASONS,
    CapacityResult,
    balance_totals,
    candidate_parcels,
    demand_balance,
    land_capacity,
)
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
    "CANDIDATE_REASONS",
    "COMPONENTS",
    "DEFAULT_NORMS",
    "DEFAULT_SOURCE",
    "DEFAULT_WEIGHTS",
    "DEMAND_COLUMNS",
    "FACILITY_USES",
    "LAND_USES",
    "METHODS",
    "SCENARIOS",
    "AllocationResult",
    "CapacityResult",
    "ChainStep",
    "CohortRates",
    "DemandNorms",
    "DemandTable",
    "InvestmentProject",
    "Norm",
    "PopulationProjection",
    "SuitabilityWeights",
    "agriculture_demand",
    "allocate",
    "balance_totals",
    "candidate_parcels",
    "demand_balance",
    "facility_capacity",
    "housing_demand",
    "investment_demand",
    "land_capacity",
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

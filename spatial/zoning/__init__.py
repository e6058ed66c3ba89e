"""Legal zoning and land-use constraints: the rulebook and the constraint checks.

* :func:`load_rulebook` / :func:`validate_rulebook` — the municipality's rules as data;
* :class:`ConstraintLayers` — zoning, protected areas, water zones, forest fund, hazard
  zones and restrictions, validated and indexed once;
* :func:`check_transformation` — one parcel or drawn polygon against a :class:`Proposal`;
* :func:`check_parcels` — every parcel at once (same engine, same answers).
"""

from .batch import BatchResult, check_parcels
from .check import CheckResult, Proposal, Reason, check_transformation
from .layers import LAYERS, ConstraintLayers, derive_water_zones
from .rulebook import (
    REGIMES,
    Norm,
    RestrictionRegime,
    Rulebook,
    ZoneType,
    default_rulebook_path,
    load_rulebook,
    validate_rulebook,
)

__all__ = [
    "LAYERS",
    "REGIMES",
    "BatchResult",
    "CheckResult",
    "ConstraintLayers",
    "Norm",
    "Proposal",
    "Reason",
    "RestrictionRegime",
    "Rulebook",
    "ZoneType",
    "check_parcels",
    "check_transformation",
    "default_rulebook_path",
    "derive_water_zones",
    "load_rulebook",
    "validate_rulebook",
]

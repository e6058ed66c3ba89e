"""The constraint check of a request, and the fingerprint that says when it went stale.

A request is checked by the one constraint engine (:func:`spatial.zoning.check_parcels`)
when it is submitted and again at each stage; the result is stored with the request.
A stored result is only as good as its inputs: the rulebook, the reference layers
(zones, protected areas, water, forest, hazards, restrictions) and the request's parcels.
:func:`reference_fingerprint` digests the first two — every geometry and attribute of
every reference layer and the whole merged rulebook — so a change made by any route
(the app, an import, QGIS editing the GeoPackage directly) changes it; the parcels are
compared by their ``row_version``. :func:`is_stale` compares both with what a stored
check recorded, at read time, so nothing has to remember to mark requests.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ..errors import InputError
from ..zoning import ConstraintLayers, Proposal, Rulebook, check_parcels
from .model import TransformationRequest
from .workflow import CheckSummary, required_authorities

__all__ = [
    "RequestCheck",
    "check_request",
    "is_stale",
    "reference_fingerprint",
    "request_authorities",
]

_VERDICT_ORDER = ("allowed", "conditional", "prohibited")
_REASON_FIELDS = (
    "kind", "rule_id", "regime", "source", "layer", "feature_id", "feature_name",
    "overlap_m2", "overlap_share", "authority", "message_ky", "message_ru", "message_en",
)


@dataclass(frozen=True)
class RequestCheck:
    """The constraint check of a request's parcels against its targets.

    Attributes
    ----------
    verdict
        The worst verdict over the parcels.
    parcels
        Per parcel: ``cadastral_no, verdict, rule_ids, prohibiting_rules, area_m2,
        max_prohibited_m2, max_prohibited_share``.
    reasons
        Every rule that fired (notes below the tolerance left out), with its parcel,
        overlap, regime, source and message in ky/ru/en.
    fingerprint
        :func:`reference_fingerprint` of the layers and rulebook checked against.
    parcel_versions
        ``row_version`` of each parcel checked.
    """

    verdict: str
    parcels: tuple[Mapping[str, Any], ...]
    reasons: tuple[Mapping[str, Any], ...]
    fingerprint: str
    parcel_versions: Mapping[str, int]
    rulebook: Mapping[str, str] = field(default_factory=dict)

    @property
    def prohibiting_rules(self) -> tuple[str, ...]:
        rules = [r["rule_id"] for r in self.reasons if r["regime"] == "prohibited"]
        return tuple(dict.fromkeys(rules))

    def summary(self) -> CheckSummary:
        return CheckSummary(verdict=self.verdict, prohibiting_rules=self.prohibiting_rules)

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "prohibiting_rules": list(self.prohibiting_rules),
            "parcels": [dict(p) for p in self.parcels],
            "reasons": [dict(r) for r in self.reasons],
            "fingerprint": self.fingerprint,
            "parcel_versions": dict(self.parcel_versions),
            "rulebook": dict(self.rulebook),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RequestCheck:
        return cls(
            verdict=str(data["verdict"]),
            parcels=tuple(data.get("parcels", ())),
            reasons=tuple(data.get("reasons", ())),
            fingerprint=str(data.get("fingerprint", "")),
            parcel_versions={str(k): int(v) for k, v in
                             dict(data.get("parcel_versions", {})).items()},
            rulebook=dict(data.get("rulebook", {})),
        )


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as JSON-ready dicts: every kind of null as ``None``, numbers as Python's."""
    clean = frame.astype(object).where(frame.notna(), None)
    return clean.to_dict("records")  # type: ignore[return-value]


def check_request(
    parcels: gpd.GeoDataFrame,
    request: TransformationRequest,
    layers: ConstraintLayers,
    rulebook: Rulebook,
    *,
    fingerprint: str,
) -> RequestCheck:
    """Check the request's parcels (as the inventory has them now) against its targets.

    Parameters
    ----------
    parcels
        The request's parcels from the inventory, with ``cadastral_no``,
        ``land_category``, ``designated_use`` and ``row_version``, in the layers' CRS.
    fingerprint
        :func:`reference_fingerprint` of ``layers``' frames and ``rulebook``, stored so a
        later read can tell whether the check is stale.

    Raises
    ------
    InputError
        No parcels, or a parcel of the request missing from ``parcels``.
    ValidationError
        Unknown codes (from the engine), each named.
    """
    wanted = [p.cadastral_no for p in request.parcels]
    if not wanted:
        raise InputError(f"request {request.number} has no parcels to check")
    present = set(parcels["cadastral_no"].astype(str)) if len(parcels) else set()
    missing = [c for c in wanted if c not in present]
    if missing:
        raise InputError(f"request {request.number}: parcel(s) {', '.join(missing)} are not "
                         f"in the inventory")
    proposal = Proposal(target_category=request.target_category, target_use=request.target_use)
    frame = parcels.reset_index(drop=True)
    result = check_parcels(frame, proposal, layers, rulebook)
    table = result.table
    reasons = result.reasons[~result.reasons["note"].to_numpy(dtype=bool)]
    keys = frame["cadastral_no"].astype(str).to_numpy(dtype=object)
    per_parcel = pd.DataFrame({
        "cadastral_no": keys,
        "verdict": table["verdict"].to_numpy(dtype=object),
        "rule_ids": table["rule_ids"].to_numpy(dtype=object),
        "prohibiting_rules": table["prohibiting_rules"].to_numpy(dtype=object),
        "area_m2": table["area_m2"].to_numpy(dtype=float),
        "max_prohibited_m2": table["max_prohibited_m2"].to_numpy(dtype=float),
        "max_prohibited_share": table["max_prohibited_share"].to_numpy(dtype=float),
    })
    out_reasons = pd.DataFrame({
        "cadastral_no": keys[reasons["row"].to_numpy(dtype=np.int64)],
        **{name: reasons[name].to_numpy(dtype=object) for name in _REASON_FIELDS},
    })
    verdicts = table["verdict"].to_numpy(dtype=object)
    worst = max((_VERDICT_ORDER.index(str(v)) for v in verdicts), default=0)
    versions = (
        dict(zip(keys, frame["row_version"].astype("int64").to_numpy(), strict=True))
        if "row_version" in frame else {}
    )
    return RequestCheck(
        verdict=_VERDICT_ORDER[worst],
        parcels=tuple(_records(per_parcel)),
        reasons=tuple(_records(out_reasons)),
        fingerprint=fingerprint,
        parcel_versions={str(k): int(v) for k, v in versions.items()},
        rulebook={"municipality": rulebook.municipality, "version": rulebook.version},
    )


def reference_fingerprint(frames: Mapping[str, gpd.GeoDataFrame], rulebook: Rulebook) -> str:
    """A digest of the reference layers and the rulebook a check depends on.

    Every geometry (as WKB) and every attribute of every layer, in a fixed order, and
    the whole merged rulebook go in; so does each layer's name and row count, so an
    emptied layer differs from a missing one. Equal digests mean equal inputs.
    """
    digest = hashlib.sha256()
    digest.update(json.dumps(rulebook.raw, sort_keys=True, default=str).encode())
    for name in sorted(frames):
        frame = frames[name]
        order = np.argsort(frame["fid"].to_numpy()) if "fid" in frame else np.arange(len(frame))
        frame = frame.iloc[order]
        digest.update(f"\x00{name}\x00{len(frame)}\x00".encode())
        wkb = pd.Series(shapely.to_wkb(frame.geometry.to_numpy(), hex=True, flavor="iso"),
                        dtype=object)
        digest.update(wkb.fillna("-").str.cat(sep="|").encode())
        attributes = pd.DataFrame(frame.drop(columns=frame.geometry.name))
        digest.update(attributes.to_json(orient="split", date_format="iso").encode())
    return digest.hexdigest()


def is_stale(stored: RequestCheck | None, *, fingerprint: str,
             parcel_versions: Mapping[str, int]) -> bool:
    """Whether a stored check no longer reflects the layers, rulebook or parcels."""
    if stored is None:
        return True
    return (stored.fingerprint != fingerprint
            or dict(stored.parcel_versions) != dict(parcel_versions))


def request_authorities(request: TransformationRequest, rulebook: Rulebook) -> tuple[str, ...]:
    """Authorities stage 4 needs for this request, from the rulebook's transition matrix."""
    pairs = [(p.current_category, request.target_category) for p in request.parcels]
    return required_authorities(
        pairs, lambda a, b: rulebook.transition(a, b).authority
    )

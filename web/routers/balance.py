"""Land balance: the first table of the SEDP Space section."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response

from spatial.balance import LandBalance
from spatial.store import Workspace

from ..deps import LangDep, WorkspaceDep

router = APIRouter(prefix="/api", tags=["inventory"])


def compute_balance(workspace: Workspace) -> LandBalance:
    """The land balance of a workspace's parcels (personal columns are never read)."""
    from spatial.balance import land_balance

    parcels = workspace.read_layer(
        "parcels",
        columns=["land_category", "ag_subtype", "ownership", "in_use", "state_ag_fund",
                 "settlement", "official_area_ha", "area_ha"],
        include_personal=False,
    )
    municipality = workspace.read_layer("municipality")
    settlements = workspace.read_layer("settlements")
    official = float(municipality["official_area_ha"].sum())
    return land_balance(parcels, official_area_ha=official, settlements=settlements)


@router.get("/balance")
def get_balance(
    workspace: WorkspaceDep,
    lang: LangDep,
    format: Literal["json", "csv", "xlsx"] = Query("json"),
) -> Any:
    """Land balance by category, sub-type, use, ownership and settlement, with the gap."""
    balance = compute_balance(workspace)
    if format == "json":
        return balance.to_dict(lang)
    with tempfile.TemporaryDirectory() as tmp:
        if format == "xlsx":
            path = Path(tmp) / "land-balance.xlsx"
            balance.to_xlsx(path, lang)
            media = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        else:
            path = Path(tmp) / "land-balance.csv"
            balance.to_csv(path, lang)
            media = "text/csv; charset=utf-8"
        content = io.BytesIO(path.read_bytes()).getvalue()
    return Response(
        content,
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="{path.name}"'},
    )

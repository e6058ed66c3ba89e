"""JSON API for imports, exports, checks, hazard exposure, demand, capacity and allocation."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()

"""HTML pages beyond the maps: sign-in, request test, demand and allocation, Space report."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()

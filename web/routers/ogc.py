"""OGC API - Features (Parts 1, 2 and 4) under ``/ogc``."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()

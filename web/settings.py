"""Settings of the web app and CLI, read from ``JER_*`` environment variables.

Only ``web`` reads the environment; the domain in ``spatial`` takes explicit arguments.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

Lang = Literal["ky", "ru", "en"]


class Settings(BaseSettings):
    """Run-time configuration; every field can be set as ``JER_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="JER_", extra="ignore")

    workspace: str = Field(
        default="workspace/isfana.gpkg",
        description="Workspace: a .gpkg path or a postgresql:// URL",
    )
    default_lang: Lang = "ky"
    base_map: Literal["osm", "none"] = "osm"
    population: str | None = Field(
        default=None,
        description="Population CSV (settlement,year,population[,households]) for the demand "
                    "forecast; the demo's series on the demo workspace when unset",
    )
    max_upload_mb: int = Field(default=50, ge=1)
    max_import_features: int = Field(default=250_000, ge=1)
    secret_key: str | None = Field(
        default=None, description="Signs session cookies; generated per process when unset"
    )
    tile_prewarm: bool = Field(
        default=True,
        description="Build the map layers' tile indexes in the background when the server "
                    "starts, so the first map after a start does not wait for them",
    )

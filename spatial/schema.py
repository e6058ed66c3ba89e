"""The workspace data model, read from ``data/schemas/layers.json``.

The schema is data so that the documentation, the validation, the stores and the
web forms all read the same definition; adding a column is an edit to one JSON file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal

from jer_data import SCHEMA_DIR

from .errors import NotFoundError

__all__ = [
    "LANGS",
    "ColumnSpec",
    "LayerSchema",
    "Schema",
    "codes",
    "label",
    "layer_schema",
    "load_schema",
]

Lang = Literal["ky", "ru", "en"]
LANGS: tuple[Lang, ...] = ("ky", "ru", "en")
ColumnType = Literal["text", "integer", "real", "boolean", "date"]


@dataclass(frozen=True, slots=True)
class ColumnSpec:
    name: str
    type: ColumnType
    required: bool = False
    unique: bool = False
    codes: str | None = None
    personal: bool = False
    min: float | None = None
    default: Any = None


@dataclass(frozen=True, slots=True)
class LayerSchema:
    name: str
    title: dict[str, str]
    geometry_types: tuple[str, ...]
    key: str | None
    columns: dict[str, ColumnSpec]
    computed: dict[str, ColumnSpec] = field(default_factory=dict)
    versioned: bool = False

    @property
    def personal_columns(self) -> tuple[str, ...]:
        """Columns that must never reach the public role."""
        return tuple(c.name for c in self.columns.values() if c.personal)

    @property
    def required_columns(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns.values() if c.required)

    @property
    def all_columns(self) -> tuple[str, ...]:
        """Input columns followed by computed ones, in schema order."""
        return tuple(self.columns) + tuple(self.computed)


@dataclass(frozen=True, slots=True)
class Schema:
    version: int
    codelists: dict[str, dict[str, dict[str, str]]]
    layers: dict[str, LayerSchema]


def _column(name: str, spec: dict[str, Any]) -> ColumnSpec:
    return ColumnSpec(
        name=name,
        type=spec["type"],
        required=bool(spec.get("required", False)),
        unique=bool(spec.get("unique", False)),
        codes=spec.get("codes"),
        personal=bool(spec.get("personal", False)),
        min=spec.get("min"),
        default=spec.get("default"),
    )


@cache
def load_schema() -> Schema:
    """Load and cache the shipped schema."""
    raw = json.loads((SCHEMA_DIR / "layers.json").read_text(encoding="utf-8"))
    layers = {
        name: LayerSchema(
            name=name,
            title=spec["title"],
            geometry_types=tuple(spec["geometry"]),
            key=spec.get("key"),
            columns={c: _column(c, s) for c, s in spec["columns"].items()},
            computed={c: _column(c, s) for c, s in spec.get("computed", {}).items()},
            versioned=bool(spec.get("versioned", False)),
        )
        for name, spec in raw["layers"].items()
    }
    return Schema(version=int(raw["schema_version"]), codelists=raw["codelists"], layers=layers)


def layer_schema(layer: str) -> LayerSchema:
    """Schema of ``layer``; :class:`NotFoundError` names the known layers otherwise."""
    layers = load_schema().layers
    if layer not in layers:
        raise NotFoundError(f"unknown layer {layer!r}; known layers: {', '.join(layers)}")
    return layers[layer]


def codes(codelist: str) -> tuple[str, ...]:
    """The valid codes of a code list, in schema order."""
    return tuple(load_schema().codelists[codelist])


def label(codelist: str, code: str, lang: Lang = "ky") -> str:
    """Label of ``code`` in ``lang``; falls back to the code itself for unknown codes."""
    entry = load_schema().codelists.get(codelist, {}).get(code)
    if entry is None:
        return str(code)
    return entry.get(lang) or entry.get("en") or str(code)

"""Column mappings: from a cadastre extract's headers and values to the Jer data model.

Extracts arrive with Russian or Kyrgyz headers (``Кадастровый номер``), labels instead
of codes (``земли запаса``) and yes/no words (``да``, ``ооба``). A mapping file — YAML or
JSON, written once per source system — says which header is which schema column and
which value is which code. Labels of every code list in the schema (Kyrgyz, Russian,
English and the code itself) are recognised without a mapping, read from
:mod:`spatial.schema` so they are never duplicated.

The mapping only renames, recodes and types values; whether the result obeys the data
model (required columns, known codes, geometry) is checked by ``spatial.validation``.
Values that cannot be converted are left as they were so validation can name the row.
"""

from __future__ import annotations

import codecs
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import yaml
from pyproj import CRS
from pyproj.exceptions import CRSError as PyprojCRSError

from ..errors import InputError, NotFoundError, Problem, ValidationError
from ..schema import LayerSchema, layer_schema, load_schema
from .fieldnames import looks_truncated, match_schema_column

__all__ = [
    "BOOLEAN_WORDS",
    "GEOMETRY_TARGET",
    "AxisOrder",
    "ColumnMapping",
    "default_value_labels",
    "load_mapping",
    "map_columns",
    "map_values",
    "normalise_label",
    "normalise_text",
]

AxisOrder = Literal["easting_northing", "northing_easting"]
AXIS_ORDERS: tuple[AxisOrder, ...] = ("easting_northing", "northing_easting")

#: Mapping target naming the WKT geometry column of a CSV or XLSX file.
GEOMETRY_TARGET = "geometry"

#: Words read as booleans in boolean columns (after :func:`normalise_text`), in the
#: three interface languages; a mapping's ``values`` section adds to them.
BOOLEAN_WORDS: dict[str, bool] = {
    **dict.fromkeys(("true", "t", "yes", "y", "1", "да", "д", "ооба", "ооба.", "бар", "+"), True),
    **dict.fromkeys(("false", "f", "no", "n", "0", "нет", "н", "жок", "-"), False),
}

_KNOWN_KEYS = (
    "layer", "crs", "encoding", "columns", "values", "axis_order", "source_layer", "description",
)

_PARENTHESES = re.compile(r"\s*\([^)]*\)")
_SPACES = re.compile(r"\s+")


def normalise_label(text: str) -> str:
    """One header or value in the comparable form of :func:`normalise_text`."""
    text = _PARENTHESES.sub("", text.replace("ё", "е").replace("Ё", "Е"))
    return _SPACES.sub(" ", text).strip().casefold()


def normalise_text(values: pd.Series) -> pd.Series:
    """Comparable form of values: text case-folded, ``ё`` as ``е``, spaces collapsed.

    Parenthesised parts are dropped (``земли ООПТ (особо охраняемых)`` and the bare
    label match), and integral numbers lose their ``.0`` so a code ``1`` read from a
    numeric ``.dbf`` field matches the key ``1`` of a mapping.
    """
    if pd.api.types.is_bool_dtype(values):
        return values.map({True: "true", False: "false"})
    if pd.api.types.is_numeric_dtype(values):
        numbers = values.astype("float64")
        integral = np.isfinite(numbers) & (numbers == np.round(numbers))
        whole = numbers.where(integral, 0).astype("int64").astype(str)
        as_text = numbers.astype(str).where(~integral, whole)
        return as_text.where(numbers.notna())
    text = values.astype(object).where(values.notna()).astype(str).where(values.notna())
    text = text.str.replace("ё", "е").str.replace("Ё", "Е")
    text = text.str.replace(_PARENTHESES, "", regex=True)
    return text.str.replace(_SPACES, " ", regex=True).str.strip().str.casefold()


def _key_text(key: Any) -> str | None:
    """A mapping key (header or value) as comparable text; YAML may give ints or bools."""
    if key is None:
        return None
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, float) and key.is_integer():
        return str(int(key))
    return normalise_label(str(key))


def default_value_labels(layer: str) -> dict[str, dict[str, str]]:
    """Built-in value recoding for the coded columns of ``layer``.

    Every label of a code list (ky, ru, en) and the code itself, normalised, maps to the
    code; a label shared by two codes of one list is left out rather than guessed.

    Returns
    -------
    dict
        ``{column: {normalised label: code}}``.
    """
    schema = load_schema()
    result: dict[str, dict[str, str]] = {}
    for column in layer_schema(layer).columns.values():
        if column.codes is None:
            continue
        seen: dict[str, set[str]] = {}
        for code, labels in schema.codelists[column.codes].items():
            for text in (code, *labels.values()):
                seen.setdefault(normalise_label(text), set()).add(code)
        result[column.name] = {k: next(iter(v)) for k, v in seen.items() if len(v) == 1}
    return result


# --- the mapping file ---------------------------------------------------------------


class _Yaml12Loader(yaml.SafeLoader):
    """Safe YAML loader with YAML 1.2 booleans: only ``true``/``false``.

    YAML 1.1 reads ``no``, ``yes``, ``on`` and ``off`` as booleans, which would turn a
    source value ``no`` (or the Norwegian country code) into ``False`` silently.
    """


_Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)


@dataclass(frozen=True)
class ColumnMapping:
    """How a source file's columns and values become schema columns and codes.

    Construction validates against the target layer's schema and raises
    :class:`~spatial.errors.ValidationError` listing every problem with its key.

    Parameters
    ----------
    layer
        Target schema layer; needed to check targets (it may come from
        ``read_layer_file(layer=...)`` instead, see :meth:`for_layer`).
    columns
        ``{source header: schema column}``; the target ``"geometry"`` names the WKT
        column of a CSV or XLSX file.
    values
        ``{schema column: {source value: code}}``; for boolean columns the targets are
        ``true``/``false``.
    crs
        CRS the coordinates are in, overriding the file's own (``.prj``).
    encoding
        Text encoding of a ``.dbf`` or CSV, overriding ``.cpg`` and detection.
    axis_order
        Order of the coordinates in WKT text: ``easting_northing`` (GIS order, the
        default) or ``northing_easting`` (the CRS's own order for Gauss–Krüger).
    source_layer
        Layer, shapefile or sheet to read from a file holding several.
    source
        Where the mapping came from, for messages.
    """

    layer: str | None = None
    columns: Mapping[str, str] = field(default_factory=dict)
    values: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    crs: CRS | None = None
    encoding: str | None = None
    axis_order: AxisOrder = "easting_northing"
    source_layer: str | None = None
    source: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        problems: list[Problem] = []
        if self.crs is not None and not isinstance(self.crs, CRS):
            object.__setattr__(self, "crs", _parse_crs(self.crs, problems, self.source))
        # Source values are compared in normal form; from_dict has done it already.
        normal = {
            str(column): {_key_text(src): dst for src, dst in table.items()}
            for column, table in self.values.items()
        }
        object.__setattr__(self, "values", normal)
        # A mapping built in code may name its layer later (for_layer); files must name it.
        problems += _semantic_problems(
            self.layer, self.columns, self.values, self.source, require_layer=False
        )
        if problems:
            raise ValidationError(problems, _summary(problems, self.source))

    @classmethod
    def from_dict(
        cls, raw: Mapping[str, Any], *, layer: str | None = None, source: str | None = None
    ) -> ColumnMapping:
        """Build a mapping from parsed YAML/JSON, collecting every problem first.

        ``layer`` fills in a mapping that names none; a mapping naming another layer
        is a problem.
        """
        where = source or "mapping"
        problems: list[Problem] = []

        def report(code: str, key: str, message: str, **details: Any) -> None:
            problems.append(_problem(code, where, key, message, layer=layer, **details))

        if not isinstance(raw, Mapping):
            report("bad_mapping", "", f"expected a mapping of keys, got {type(raw).__name__}")
            raise ValidationError(problems, _summary(problems, where))
        for key in raw:
            if key not in _KNOWN_KEYS:
                report("unknown_key", str(key), f"unknown key; known: {', '.join(_KNOWN_KEYS)}")
        target = raw.get("layer")
        if target is not None and not isinstance(target, str):
            report("bad_layer", "layer", f"must be a layer name, got {target!r}")
            target = None
        if target is not None and layer is not None and target != layer:
            report("layer_mismatch", "layer", f"mapping is for {target!r}, but {layer!r} is read")
        target = target or layer
        crs = None
        if raw.get("crs") is not None:
            crs = _parse_crs(raw["crs"], problems, where)
        encoding = raw.get("encoding")
        if encoding is not None:
            try:
                codecs.lookup(str(encoding))
            except LookupError:
                report("bad_encoding", "encoding", f"unknown encoding {encoding!r}")
                encoding = None
        axis_order = raw.get("axis_order", "easting_northing")
        if axis_order not in AXIS_ORDERS:
            report("bad_axis_order", "axis_order",
                   f"must be one of {', '.join(AXIS_ORDERS)}, not {axis_order!r}")
            axis_order = "easting_northing"
        columns: dict[str, str] = {}
        columns_raw = raw.get("columns") or {}
        if not isinstance(columns_raw, Mapping):
            report("bad_columns", "columns", "must map source headers to schema columns")
            columns_raw = {}
        for src, dst in columns_raw.items():
            if isinstance(dst, str):
                columns[str(src).strip()] = dst.strip()
            else:
                report("bad_columns", f"columns.{src}", f"must name a schema column, got {dst!r}")
        values: dict[str, dict[str, Any]] = {}
        values_raw = raw.get("values") or {}
        if not isinstance(values_raw, Mapping):
            report("bad_values", "values", "must map schema columns to value tables")
            values_raw = {}
        for column, table in values_raw.items():
            if not isinstance(table, Mapping):
                report("bad_values", f"values.{column}", "must map source values to codes")
                continue
            entries: dict[str, Any] = {}
            for src, dst in table.items():
                text = _key_text(src)
                if text is None:
                    report("bad_values", f"values.{column}", "has an empty source value")
                elif text in entries and entries[text] != dst:
                    report("ambiguous_value", f"values.{column}.{src}",
                           f"value already mapped to {entries[text]!r} (case and 'ё' are ignored)")
                else:
                    entries[text] = dst
            values[str(column)] = entries
        source_layer = raw.get("source_layer")
        problems += _semantic_problems(target, columns, values, where)
        if problems:
            raise ValidationError(problems, _summary(problems, where))
        return cls(
            layer=target,
            columns=columns,
            values=values,
            crs=crs,
            encoding=None if encoding is None else str(encoding),
            axis_order=axis_order,
            source_layer=None if source_layer is None else str(source_layer),
            source=where,
        )

    def for_layer(self, layer: str) -> ColumnMapping:
        """This mapping aimed at ``layer``; an error if it names another layer."""
        if self.layer == layer:
            return self
        if self.layer is not None:
            where = self.source or "mapping"
            raise InputError(f"{where} is for layer {self.layer!r}, not {layer!r}")
        return replace(self, layer=layer)


def _problem(
    code: str, where: str, key: str, message: str, *, layer: str | None = None, **details: Any
) -> Problem:
    """A mapping problem located by its key path, e.g. ``values.land_category.запас``."""
    column = key.split(".")[1] if key.startswith(("columns.", "values.")) else key or None
    return Problem(
        code,
        f"{where}: {key + ': ' if key else ''}{message}",
        layer=layer,
        column=column,
        details={"file": where, "key": key, **details},
    )


def _summary(problems: list[Problem], where: str | None) -> str:
    n = len(problems)
    listing = "; ".join(p.message for p in problems)
    return f"{n} problem{'s' if n != 1 else ''} in {where or 'mapping'}: {listing}"


def _parse_crs(value: Any, problems: list[Problem], where: str | None) -> CRS | None:
    try:
        return CRS.from_user_input(value)
    except (PyprojCRSError, TypeError, ValueError) as exc:
        message = f"cannot read {value!r}: {exc}"
        problems.append(_problem("bad_crs", where or "mapping", "crs", message))
        return None


def _semantic_problems(
    layer: str | None,
    columns: Mapping[str, str],
    values: Mapping[str, Mapping[str, Any]],
    source: str | None,
    *,
    require_layer: bool = True,
) -> list[Problem]:
    """Problems of targets against the schema: unknown columns, codes and value types."""
    where = source or "mapping"
    problems: list[Problem] = []

    def report(code: str, key: str, message: str, **details: Any) -> None:
        problems.append(_problem(code, where, key, message, layer=layer, **details))

    if layer is None:
        if require_layer and (columns or values):
            report("missing_layer", "layer",
                   "name the target layer (e.g. 'layer: parcels') so targets can be checked")
        return problems
    try:
        schema: LayerSchema = layer_schema(layer)
    except NotFoundError as exc:
        report("unknown_layer", "layer", str(exc))
        return problems
    known = (*schema.columns, GEOMETRY_TARGET)
    targets: dict[str, str] = {}
    for src, dst in columns.items():
        if dst not in known:
            report("unknown_column", f"columns.{src}",
                   f"{dst!r} is not a column of {layer}; columns: {', '.join(known)}", target=dst)
        elif dst in targets:
            report("duplicate_target", f"columns.{src}",
                   f"{dst!r} is already the target of {targets[dst]!r}", target=dst)
        else:
            targets[dst] = src
    codelists = load_schema().codelists
    for column, table in values.items():
        spec = schema.columns.get(column)
        if spec is None:
            report("unknown_column", f"values.{column}", f"not a column of {layer}")
            continue
        if spec.codes is None and spec.type not in ("boolean", "text"):
            report("bad_value", f"values.{column}",
                   f"{spec.type} values are converted, not recoded; remove this table")
            continue
        for src, dst in table.items():
            key = f"values.{column}.{src}"
            if spec.codes is not None and dst not in codelists[spec.codes]:
                report("unknown_code", key, f"{dst!r} is not a code of {spec.codes}; "
                       f"codes: {', '.join(codelists[spec.codes])}", target=dst)
            elif spec.type == "boolean" and not isinstance(dst, bool):
                report("bad_value", key, f"needs true or false, got {dst!r}", target=dst)
            elif spec.type == "text" and not isinstance(dst, str):
                report("bad_value", key, f"needs text, got {dst!r}", target=dst)
    return problems


def load_mapping(path: str | os.PathLike[str], *, layer: str | None = None) -> ColumnMapping:
    """Read and validate a mapping file (``.yaml``, ``.yml`` or ``.json``).

    Raises
    ------
    InputError
        The file is missing or is not YAML/JSON.
    ValidationError
        The mapping breaks the schema; every problem is listed with its key.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except FileNotFoundError as exc:
        raise InputError(f"mapping file {p} not found") from exc
    except UnicodeDecodeError as exc:
        raise InputError(f"mapping file {p.name} is not UTF-8 text: {exc}") from exc
    try:
        if p.suffix.lower() == ".json":
            raw = json.loads(text)
        else:
            raw = yaml.load(text, Loader=_Yaml12Loader)
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        raise InputError(f"mapping file {p.name} cannot be parsed: {exc}") from exc
    if raw is None:
        raise InputError(f"mapping file {p.name} is empty")
    return ColumnMapping.from_dict(raw, layer=layer, source=p.name)


def as_mapping(
    mapping: ColumnMapping | Mapping[str, Any] | str | os.PathLike[str] | None, *, layer: str | None
) -> ColumnMapping | None:
    """Accept a mapping in any form ``read_layer_file`` takes, aimed at ``layer``."""
    if mapping is None:
        return None
    if isinstance(mapping, ColumnMapping):
        if layer is not None:
            return mapping.for_layer(layer)
        problems = _semantic_problems(
            mapping.layer, mapping.columns, mapping.values, mapping.source
        )
        if problems:
            raise ValidationError(problems, _summary(problems, mapping.source))
        return mapping
    if isinstance(mapping, str | os.PathLike):
        return load_mapping(mapping, layer=layer)
    return ColumnMapping.from_dict(mapping, layer=layer)


# --- applying a mapping to a frame -----------------------------------------------------


def _find_header(key: str, headers: list[str], *, truncatable: bool) -> str | None:
    """The file header a mapping key names: exact, then normalised, then truncated."""
    if key in headers:
        return key
    norm = normalise_label(key)
    same = [h for h in headers if normalise_label(h) == norm]
    if len(same) == 1:
        return same[0]
    if truncatable:
        cut = [h for h in headers if looks_truncated(h) and norm.startswith(normalise_label(h))]
        if len(cut) == 1:
            return cut[0]
    return None


def map_columns(
    frame: pd.DataFrame,
    *,
    mapping: ColumnMapping | None,
    layer: str | None,
    file: str,
    protected: tuple[str, ...] = (),
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Rename ``frame``'s columns to schema names.

    Mapping entries come first (matched exactly, ignoring case and ``ё``, or as a
    name truncated at 10 bytes), then schema names written as they are, abbreviated
    by Jer or truncated by other programs.

    Parameters
    ----------
    protected
        Columns never renamed (the geometry column).

    Returns
    -------
    frame, report
        The renamed frame and ``{"renamed": {source: target}, "unmatched_mapping_columns": [...]}``.

    Raises
    ------
    InputError
        Two source columns end up with the same name.
    """
    headers = [str(c) for c in frame.columns if c not in protected]
    frame = frame.rename(columns={c: str(c) for c in frame.columns if c not in protected})
    renamed: dict[str, str] = {}
    unmatched: list[str] = []
    if mapping is not None:
        for key, target in mapping.columns.items():
            header = _find_header(key, [h for h in headers if h not in renamed], truncatable=True)
            if header is None:
                unmatched.append(key)
            else:
                renamed[header] = target
    if layer is not None:
        schema_columns = tuple(layer_schema(layer).all_columns)
        for header in headers:
            if header in renamed:
                continue
            found = match_schema_column(header, schema_columns)
            if found is not None and found != header:
                renamed[header] = found
    final = [renamed.get(h, h) for h in headers] + list(protected)
    clashes = sorted({name for name in final if final.count(name) > 1})
    if clashes:
        details = "; ".join(
            f"{name!r} from "
            + " and ".join(repr(h) for h in [*headers, *protected] if renamed.get(h, h) == name)
            for name in clashes
        )
        raise InputError(
            f"{file}: several columns would become the same column: {details}; "
            "fix the mapping or rename a column in the file"
        )
    report = {"renamed": renamed, "unmatched_mapping_columns": unmatched}
    return frame.rename(columns=renamed), report


def map_values(
    frame: pd.DataFrame, *, mapping: ColumnMapping | None, layer: str | None
) -> pd.DataFrame:
    """Recode values to codes and convert schema columns to their schema types.

    Values a table names are replaced (mapping first, then the built-in labels); the
    rest are kept. Text becomes text, ``12,5`` becomes ``12.5``, ``да`` becomes
    ``True``, ``01.02.2024`` a date. A value that does not convert stays as read, and
    the column keeps its mixed type, so validation reports ``bad_type`` on that row.
    """
    if layer is None:
        return frame
    schema = layer_schema(layer)
    defaults = default_value_labels(layer)
    user = mapping.values if mapping is not None else {}
    frame = frame.copy()
    for name, spec in schema.columns.items():
        if name not in frame.columns:
            continue
        column = frame[name]
        table: dict[str, Any] = {**defaults.get(name, {}), **user.get(name, {})}
        if table and column.notna().any():
            recoded = normalise_text(column).map(table)
            column = column.astype(object).where(recoded.isna(), recoded)
        frame[name] = _convert(column, spec.type)
    return frame


def _blank(values: pd.Series) -> pd.Series:
    """Missing or whitespace-only cells, which mean 'no value' in every source format."""
    text = values.astype(object).where(values.notna()).astype(str)
    return values.isna() | text.str.strip().eq("")


def _keep_failures(converted: pd.Series, original: pd.Series, failed: pd.Series) -> pd.Series:
    if not failed.any():
        return converted
    return converted.astype(object).where(~failed, original.astype(object))


def _convert(values: pd.Series, kind: str) -> pd.Series:
    blank = _blank(values)
    if kind == "text":
        if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            text = normalise_text(values)
        else:
            text = values.astype(object).where(~blank).astype(str).str.strip()
        return text.where(~blank).astype("str")
    if kind in ("real", "integer"):
        if pd.api.types.is_bool_dtype(values):
            return values
        if pd.api.types.is_numeric_dtype(values):
            numbers = values.astype("float64")
            failed = pd.Series(False, index=values.index)
        else:
            text = values.astype(object).where(~blank).astype(str)
            text = text.str.replace(r"[\s\u00a0\u202f]", "", regex=True).str.replace(",", ".")
            numbers = pd.to_numeric(text, errors="coerce").astype("float64")
            failed = numbers.isna() & ~blank
        if kind == "integer":
            fractional = numbers.notna() & (numbers != np.round(numbers))
            failed = failed | fractional
            whole = numbers.where(~fractional)
            return _keep_failures(whole.astype("Int64"), values, failed)
        return _keep_failures(numbers, values, failed)
    if kind == "boolean":
        if pd.api.types.is_bool_dtype(values) and not values.isna().any():
            return values.astype(bool)
        flags = normalise_text(values).map(BOOLEAN_WORDS)
        failed = flags.isna() & ~blank
        result = flags.where(~blank).astype("boolean")
        if not failed.any() and not result.isna().any():
            result = result.astype(bool)
        return _keep_failures(result, values, failed)
    if kind == "date":
        if pd.api.types.is_datetime64_any_dtype(values):
            dates = values.dt.tz_localize(None) if values.dt.tz is not None else values
            return dates.astype("datetime64[ms]")
        text = values.astype(object).where(~blank).astype(str).str.strip()
        dates = pd.to_datetime(text, format="ISO8601", errors="coerce")
        for fmt in ("%d.%m.%Y", "%d/%m/%Y", "%d.%m.%y"):
            missing = dates.isna() & ~blank
            if not missing.any():
                break
            parsed = pd.to_datetime(text.where(missing), format=fmt, errors="coerce")
            dates = dates.where(~missing, parsed)
        failed = dates.isna() & ~blank
        return _keep_failures(dates.astype("datetime64[ms]"), values, failed)
    return values  # pragma: no cover - the schema has no other types

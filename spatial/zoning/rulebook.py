"""The zoning rulebook: one validated, versioned YAML file per municipality.

Model rules for legal zoning are still being drafted nationally, so every municipality
writes its own: which uses each zone type permits, how protected areas, water protection
zones, hazard zones and other restrictions limit uses, how wide water protection zones
are, which changes of land category are possible and who decides them, and the planning
norms of the land-demand forecast. Those rules are data, never ``if`` chains, so a land
specialist can read, change and version them without a programmer.

Every norm carries a ``source`` so nobody mistakes a shipped default for law. The loader
collects *every* problem (typos with the closest known key, unknown codes, missing
sources or names, bad numbers, duplicate keys), each located by its YAML path such as
``zone_types.residential_individual.permitted[2]``, and raises one
:class:`~spatial.errors.RulebookError`.

The format is documented for municipalities in ``docs/rulebook.md``.
"""

from __future__ import annotations

import datetime as dt
import difflib
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

import numpy as np
import yaml

from jer_data import RULEBOOK_DIR

from ..errors import InputError, Problem, RulebookError
from ..schema import LANGS, codes

__all__ = [
    "BUILDING_PARAMETERS",
    "REGIMES",
    "Authority",
    "BuildingLimit",
    "Norm",
    "RestrictionRegime",
    "Rulebook",
    "RulebookTables",
    "Transition",
    "Use",
    "WaterZone",
    "ZoneType",
    "default_rulebook_path",
    "load_rulebook",
    "validate_rulebook",
]

Regime = Literal["permitted", "conditional", "prohibited"]
#: Regimes from the most to the least permissive; their position is the severity code.
REGIMES: tuple[Regime, ...] = ("permitted", "conditional", "prohibited")

#: Building parameters a zone type may limit: name -> (comparison, proposal field).
#: ``max`` limits are broken by larger values, ``min`` limits by smaller ones.
BUILDING_PARAMETERS: dict[str, tuple[Literal["max", "min"], str]] = {
    "max_floors": ("max", "floors"),
    "max_height_m": ("max", "height_m"),
    "max_site_coverage_pct": ("max", "site_coverage"),
    "min_plot_ha": ("min", "plot_ha"),
    "max_plot_ha": ("max", "plot_ha"),
}

#: Sections of ``restriction_regimes`` and how their keys are nested.
#: ``codes`` lists are code-list names from the data model; ``water`` means the
#: water classes defined under ``water_zones``; ``None`` means the section is one regime.
_REGIME_SECTIONS: dict[str, tuple[str, ...] | None] = {
    "protected_areas": ("protected_area_type", "protected_subzone"),
    "water_protection_zone": ("water",),
    "coastal_strip": ("water",),
    "forest_fund": None,
    "hazard_zones": ("hazard_type", "hazard_class"),
    "restrictions": ("restriction_type",),
}

_TOP_KEYS = (
    "rulebook_version", "municipality", "extends", "valid_from", "description",
    "tolerance", "uses", "zone_types", "restriction_regimes", "water_zones",
    "category_transitions", "norms", "hazard_thresholds",
)
_REQUIRED_TOP = (
    "rulebook_version", "municipality", "valid_from", "tolerance", "uses", "zone_types",
    "restriction_regimes", "water_zones", "category_transitions",
)
_NORM_KEYS = ("value", "unit", "source", "name", "description")
_BUILDING_KEYS = (*_NORM_KEYS, "applies_to", "regime")
_REGIME_KEYS = (
    "prohibited", "conditional", "permitted", "blocks_category_change", "message", "source",
    "description",
)
_ZONE_TYPE_KEYS = (
    "name", "permitted", "conditional", "prohibited", "building", "source", "description",
)
_USE_KEYS = ("name", "categories", "description")
_WATER_KEYS = ("name", "protection_zone_m", "coastal_strip_m", "description")
_TRANSITION_KEYS = ("source", "authorities", "matrix", "description")
_TRANSITION_ENTRY_KEYS = ("authority", "impossible", "source", "description")
_TOLERANCE_KEYS = ("area_m2", "share_pct")
_MUNICIPALITY_KEYS = ("code", "name")


# ----------------------------------------------------------------------------- model


@dataclass(frozen=True, slots=True)
class Norm:
    """A number with its unit and the source that justifies it."""

    value: float
    unit: str
    source: str
    name: Mapping[str, str] | None = None
    description: str | None = None


@dataclass(frozen=True, slots=True)
class Use:
    """A land use (the ``designated_use`` of a parcel) and the categories it fits."""

    code: str
    name: Mapping[str, str]
    categories: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class BuildingLimit:
    """A building parameter limit of a zone type.

    ``applies_to`` restricts the limit to some uses (``None``: every use); ``regime`` is
    what breaking it means (a plot-size deviation may only need a council decision).
    """

    parameter: str
    value: float
    unit: str
    source: str
    applies_to: tuple[str, ...] | None = None
    regime: Regime = "prohibited"

    @property
    def kind(self) -> Literal["max", "min"]:
        return BUILDING_PARAMETERS[self.parameter][0]


@dataclass(frozen=True, slots=True)
class ZoneType:
    """A legal zone type: main (permitted), conditional and prohibited uses.

    A use that is neither permitted nor conditional is prohibited, whether or not it is
    listed under ``prohibited`` (the list documents the intent for readers).
    """

    code: str
    name: Mapping[str, str]
    permitted: tuple[str, ...]
    conditional: tuple[str, ...]
    prohibited: tuple[str, ...]
    building: Mapping[str, BuildingLimit]
    source: str

    @property
    def rule_id(self) -> str:
        return f"zoning.{self.code}"

    def regime_for(self, use: str) -> Regime:
        if use in self.permitted:
            return "permitted"
        if use in self.conditional:
            return "conditional"
        return "prohibited"


@dataclass(frozen=True, slots=True)
class RestrictionRegime:
    """How one kind of restriction (a protected-area subzone, a hazard class …) limits uses.

    Explicit lists win over ``all``: a use named under ``permitted`` stays permitted
    even if ``prohibited: all``; a use named nowhere takes the ``all`` of ``prohibited``
    (first) or ``conditional``, and is permitted when neither says ``all``.
    """

    rule_id: str
    prohibited: tuple[str, ...]
    conditional: tuple[str, ...]
    permitted: tuple[str, ...]
    prohibited_all: bool
    conditional_all: bool
    blocks_category_change: tuple[str, ...]
    message: Mapping[str, str]
    source: str

    def regime_for(self, use: str) -> Regime:
        if use in self.permitted:
            return "permitted"
        if use in self.conditional:
            return "conditional"
        if use in self.prohibited or self.prohibited_all:
            return "prohibited"
        if self.conditional_all:
            return "conditional"
        return "permitted"


@dataclass(frozen=True, slots=True)
class WaterZone:
    """Widths of the water protection zone and the coastal strip for one water class."""

    water_class: str
    name: Mapping[str, str]
    protection_zone_m: Norm
    coastal_strip_m: Norm


@dataclass(frozen=True, slots=True)
class Authority:
    """A body that decides a change of land category."""

    code: str
    name: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Transition:
    """One cell of the land-category transition matrix."""

    from_category: str
    to_category: str
    possible: bool
    authority: str | None
    source: str

    @property
    def rule_id(self) -> str:
        return f"category_transitions.{self.from_category}.{self.to_category}"


@dataclass(frozen=True, slots=True)
class Tolerance:
    """Overlaps under every configured threshold are only notes (digitising slivers)."""

    area_m2: Norm | None
    share_pct: Norm | None


@dataclass(frozen=True, eq=False)
class Rulebook:
    """A validated rulebook; build it with :func:`load_rulebook`.

    Compare rulebooks by identity: two loads of one file are different objects, and
    the compiled :attr:`tables` are cached per object.
    """

    version: str
    municipality: str
    municipality_name: Mapping[str, str]
    valid_from: dt.date
    extends: str | None
    uses: Mapping[str, Use]
    zone_types: Mapping[str, ZoneType]
    regimes: Mapping[str, RestrictionRegime]
    water_zones: Mapping[str, WaterZone]
    authorities: Mapping[str, Authority]
    transitions: Mapping[tuple[str, str], Transition]
    transitions_source: str
    tolerance: Tolerance
    norms: Mapping[str, Any]
    path: Path | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @property
    def categories(self) -> tuple[str, ...]:
        """Land-category codes, in data-model order."""
        return codes("land_category")

    def transition(self, from_category: str, to_category: str) -> Transition:
        """The matrix cell; an unlisted pair is impossible by the matrix's own rule."""
        found = self.transitions.get((from_category, to_category))
        if found is not None:
            return found
        return Transition(from_category, to_category, False, None, self.transitions_source)

    def hazard_thresholds(self) -> dict[str, Any]:
        """Raster classification thresholds (slope, flood depth …) as ``ThresholdSet``s."""
        from ..hazards.classes import parse_hazard_thresholds

        return parse_hazard_thresholds(self.raw.get("hazard_thresholds", {}))

    def norm(self, path: str) -> Norm:
        """The planning norm at a dotted path under ``norms``, e.g. ``"social.school_places"``."""
        node: Any = self.norms
        for part in path.split("."):
            if not isinstance(node, Mapping) or part not in node:
                raise KeyError(f"no norm {path!r} in rulebook {self.municipality} {self.version}")
            node = node[part]
        if not isinstance(node, Norm):
            raise KeyError(f"{path!r} is a group of norms, not a norm")
        return node

    @cached_property
    def tables(self) -> RulebookTables:
        """Rules compiled into arrays so checks index them instead of branching per use."""
        return RulebookTables.compile(self)


@dataclass(frozen=True, eq=False)
class RulebookTables:
    """The rulebook as arrays, shared by the single check and the batch.

    Rules (zone types first, then restriction regimes) are rows; uses, categories and
    building parameters are columns. ``entries`` lists every message a reason can carry
    (with its rule id and source), and the ``entry_*`` arrays say which entry a reason of
    each kind takes, so the check attaches messages by indexing, never by formatting
    strings per parcel.
    """

    uses: tuple[str, ...]
    categories: tuple[str, ...]
    rule_ids: tuple[str, ...]
    rule_index: Mapping[str, int]
    n_zone_rules: int
    #: (rules, uses) regime codes 0 permitted, 1 conditional, 2 prohibited.
    regime: np.ndarray
    #: (rules, categories) True where overlapping the rule's feature refuses that target.
    blocks: np.ndarray
    #: (uses, categories) True where the use fits the category.
    fits: np.ndarray
    #: (categories, categories) authority index for possible transitions, -1 impossible.
    transition: np.ndarray
    authorities: tuple[str, ...]
    #: (rules, parameters) limit value (NaN: no limit), regime code, and (rules,
    #: parameters, uses) whether the limit applies to the use.
    limit: np.ndarray
    limit_regime: np.ndarray
    limit_applies: np.ndarray
    parameters: tuple[str, ...]
    #: entries: rule id, source, message ky, ru, en (object arrays of equal length).
    entry_rule_id: np.ndarray
    entry_source: np.ndarray
    entry_message: Mapping[str, np.ndarray]
    entry_restriction: np.ndarray  # (rules,)
    entry_zoning: np.ndarray  # (rules, uses)
    entry_building: np.ndarray  # (rules, parameters)
    entry_transition: np.ndarray  # (categories, categories)
    entry_transition_unknown: np.ndarray  # (categories,)
    entry_fit: np.ndarray  # (uses, categories)
    entry_outside: int

    @classmethod
    def compile(cls, rb: Rulebook) -> RulebookTables:
        from .messages import (
            building_message,
            category_fit_message,
            outside_zones_message,
            transition_message,
            transition_unknown_message,
            zoning_message,
        )

        uses = tuple(rb.uses)
        cats = rb.categories
        use_ix = {u: i for i, u in enumerate(uses)}
        cat_ix = {c: i for i, c in enumerate(cats)}
        zone_rules = [zt.rule_id for zt in rb.zone_types.values()]
        rule_ids = (*zone_rules, *rb.regimes)
        n_rules, n_uses, n_cats = len(rule_ids), len(uses), len(cats)
        params = tuple(BUILDING_PARAMETERS)

        regime = np.zeros((n_rules, n_uses), dtype=np.int8)
        blocks = np.zeros((n_rules, n_cats), dtype=bool)
        limit = np.full((n_rules, len(params)), np.nan)
        limit_regime = np.full((n_rules, len(params)), 2, dtype=np.int8)
        limit_applies = np.zeros((n_rules, len(params), n_uses), dtype=bool)
        rule_objs: list[ZoneType | RestrictionRegime] = [
            *rb.zone_types.values(), *rb.regimes.values()
        ]
        for r, obj in enumerate(rule_objs):
            regime[r] = [REGIMES.index(obj.regime_for(u)) for u in uses]
            if isinstance(obj, RestrictionRegime):
                blocks[r, [cat_ix[c] for c in obj.blocks_category_change]] = True
                continue
            for p, name in enumerate(params):
                lim = obj.building.get(name)
                if lim is None:
                    continue
                limit[r, p] = lim.value
                limit_regime[r, p] = REGIMES.index(lim.regime)
                applies = uses if lim.applies_to is None else lim.applies_to
                limit_applies[r, p, [use_ix[u] for u in applies]] = True

        fits = np.zeros((n_uses, n_cats), dtype=bool)
        for u, use_def in enumerate(rb.uses.values()):
            fits[u, [cat_ix[c] for c in use_def.categories]] = True
        authorities = tuple(rb.authorities)
        transition = np.full((n_cats, n_cats), -1, dtype=np.int16)
        for (a, b), t in rb.transitions.items():
            if t.possible and t.authority is not None:
                transition[cat_ix[a], cat_ix[b]] = authorities.index(t.authority)

        entries: list[tuple[str, str, Mapping[str, str]]] = []

        def add(rule_id: str, source: str, message: Mapping[str, str]) -> int:
            entries.append((rule_id, source, message))
            return len(entries) - 1

        entry_restriction = np.full(n_rules, -1, dtype=np.int64)
        entry_zoning = np.full((n_rules, n_uses), -1, dtype=np.int64)
        entry_building = np.full((n_rules, len(params)), -1, dtype=np.int64)
        for r, obj in enumerate(rule_objs):
            if isinstance(obj, RestrictionRegime):
                entry_restriction[r] = add(obj.rule_id, obj.source, obj.message)
                continue
            for u, use in enumerate(uses):
                entry_zoning[r, u] = add(
                    obj.rule_id, obj.source,
                    zoning_message(rb, obj.code, use, obj.regime_for(use)),
                )
            for p, name in enumerate(params):
                lim = obj.building.get(name)
                if lim is not None:
                    entry_building[r, p] = add(
                        f"zone_types.{obj.code}.building.{name}", lim.source,
                        building_message(rb, obj.code, lim),
                    )
        entry_transition = np.full((n_cats, n_cats), -1, dtype=np.int64)
        for a in cats:
            for b in cats:
                if a == b:
                    continue
                t = rb.transition(a, b)
                entry_transition[cat_ix[a], cat_ix[b]] = add(
                    t.rule_id, t.source, transition_message(rb, t)
                )
        entry_transition_unknown = np.array(
            [
                add(f"category_transitions.unknown.{b}", rb.transitions_source,
                    transition_unknown_message(rb, b))
                for b in cats
            ],
            dtype=np.int64,
        )
        entry_fit = np.full((n_uses, n_cats), -1, dtype=np.int64)
        for u, use in enumerate(uses):
            for c, cat in enumerate(cats):
                if not fits[u, c]:
                    entry_fit[u, c] = add(
                        f"uses.{use}.categories", "rulebook: uses." + use + ".categories",
                        category_fit_message(rb, use, cat),
                    )
        entry_outside = add(
            "zoning.outside", "rulebook: zone_types (no zone covers this part)",
            outside_zones_message(),
        )
        return cls(
            uses=uses,
            categories=cats,
            rule_ids=rule_ids,
            rule_index=MappingProxyType({r: i for i, r in enumerate(rule_ids)}),
            n_zone_rules=len(zone_rules),
            regime=regime,
            blocks=blocks,
            fits=fits,
            transition=transition,
            authorities=authorities,
            limit=limit,
            limit_regime=limit_regime,
            limit_applies=limit_applies,
            parameters=params,
            entry_rule_id=np.array([e[0] for e in entries], dtype=object),
            entry_source=np.array([e[1] for e in entries], dtype=object),
            entry_message=MappingProxyType(
                {lang: np.array([e[2][lang] for e in entries], dtype=object) for lang in LANGS}
            ),
            entry_restriction=entry_restriction,
            entry_zoning=entry_zoning,
            entry_building=entry_building,
            entry_transition=entry_transition,
            entry_transition_unknown=entry_transition_unknown,
            entry_fit=entry_fit,
            entry_outside=entry_outside,
        )


# ----------------------------------------------------------------------------- loading


class _Loader(yaml.SafeLoader):
    """Safe YAML loader that records duplicate mapping keys instead of keeping the last.

    PyYAML silently lets a repeated key overwrite the first one, which would hide a
    duplicated zone type or use; the rulebook must report it.
    """

    duplicates: list[tuple[str, int]]

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # ``<<: *anchor`` keys may be overridden on purpose
            key = self.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call]
            if isinstance(key, str | int | float | bool) and key in seen:
                self.duplicates.append((str(key), key_node.start_mark.line + 1))
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _read_yaml(path: Path) -> tuple[Any, list[Problem]]:
    if not path.is_file():
        raise InputError(f"rulebook file {path} does not exist")
    text = path.read_text(encoding="utf-8")
    loader = _Loader(text)
    loader.duplicates = []
    try:
        data = loader.get_single_data()
    except yaml.YAMLError as exc:
        raise RulebookError(
            [Problem("yaml_syntax", f"not valid YAML: {exc}", layer=path.name)]
        ) from exc
    finally:
        loader.dispose()  # type: ignore[no-untyped-call]
    problems = [
        Problem(
            "duplicate_key",
            f"key {key!r} appears more than once (line {line}); each id must be unique",
            layer=path.name, feature=key, details={"line": line},
        )
        for key, line in loader.duplicates
    ]
    return data, problems


def default_rulebook_path() -> Path:
    """The shipped default rulebook (every norm a default to be set locally)."""
    return RULEBOOK_DIR / "default.yaml"


def _resolve_extends(name: str, base_dir: Path) -> Path:
    candidate = Path(name)
    if not candidate.suffix:
        candidate = candidate.with_suffix(".yaml")
    for folder in (base_dir, RULEBOOK_DIR):
        path = candidate if candidate.is_absolute() else folder / candidate
        if path.is_file():
            return path
    raise InputError(
        f"rulebook extends {name!r}, but neither {base_dir / candidate} nor "
        f"{RULEBOOK_DIR / candidate} exists"
    )


def _merge(base: Any, override: Any) -> Any:
    """Deep merge by key: mappings merge, anything else is replaced; ``null`` deletes."""
    if not isinstance(base, dict) or not isinstance(override, dict):
        return override
    out = dict(base)
    for key, value in override.items():
        if value is None and key != "extends":
            out.pop(key, None)
        elif key in out:
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _resolve(data: Any, *, base_dir: Path, seen: tuple[Path, ...]) -> tuple[Any, list[Problem]]:
    """Merge ``data`` over the rulebooks it extends, validating each base on its own."""
    if not isinstance(data, dict) or not data.get("extends"):
        return data, []
    parent = data["extends"]
    if not isinstance(parent, str):
        return data, [Problem("bad_value", "extends must be a rulebook name or path",
                              feature="extends")]
    path = _resolve_extends(parent, base_dir).resolve()
    if path in seen:
        chain = " -> ".join(p.name for p in (*seen, path))
        raise RulebookError([Problem("extends_cycle", f"rulebooks extend in a cycle: {chain}",
                                     feature="extends")])
    base_raw, problems = _read_yaml(path)
    base, more = _resolve(base_raw, base_dir=path.parent, seen=(*seen, path))
    problems += more
    problems += _validate(base, file=path.name)
    if problems:
        raise RulebookError(problems)
    return _merge(base, data), []


def validate_rulebook(
    data: Mapping[str, Any], *, base_dir: Path | str | None = None, file: str | None = None
) -> list[Problem]:
    """Every problem of a rulebook given as parsed YAML, each named with its YAML path.

    Parameters
    ----------
    data
        The parsed YAML document.
    base_dir
        Folder in which ``extends`` is looked up before the shipped rulebooks.
    file
        File name reported with each problem.

    Returns
    -------
    list of Problem
        Empty when the rulebook is valid. Problems of a rulebook it ``extends`` raise
        :class:`RulebookError` at once (they belong to another file).
    """
    merged, problems = _resolve(
        dict(data), base_dir=Path(base_dir) if base_dir else RULEBOOK_DIR, seen=()
    )
    return problems + _validate(merged, file=file)


def load_rulebook(path: Path | str | None = None) -> Rulebook:
    """Load, merge (``extends``) and validate a rulebook; the default one without a path.

    Raises
    ------
    RulebookError
        With every problem found, each naming its YAML path.
    InputError
        If the file (or the rulebook it extends) does not exist.
    """
    path = Path(path) if path is not None else default_rulebook_path()
    data, problems = _read_yaml(path)
    merged, more = _resolve(data, base_dir=path.parent, seen=(path.resolve(),))
    problems += more + _validate(merged, file=path.name)
    if problems:
        raise RulebookError(problems)
    return _build(merged, path=path)


# ----------------------------------------------------------------------------- validation


def _suggest(word: str, candidates: Iterable[str]) -> str:
    match = difflib.get_close_matches(str(word), list(candidates), n=1, cutoff=0.6)
    return f" (did you mean {match[0]!r}?)" if match else ""


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


def _is_number(value: Any) -> bool:
    return (
        isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    )


class _Validator:
    """Walks the document once, collecting problems located by YAML path."""

    def __init__(self, file: str | None) -> None:
        self.file = file
        self.problems: list[Problem] = []
        self.categories = codes("land_category")
        self.uses: tuple[str, ...] = ()
        self.water_classes: tuple[str, ...] = ()

    def add(self, code: str, path: str, message: str, **details: Any) -> None:
        self.problems.append(
            Problem(code, f"{path}: {message}", layer=self.file, feature=path, details=details)
        )

    def mapping(self, value: Any, path: str, what: str = "a mapping") -> bool:
        if isinstance(value, dict):
            return True
        self.add("bad_type", path, f"expected {what}, got {type(value).__name__} {value!r}")
        return False

    def keys(
        self, value: dict[str, Any], path: str, known: Iterable[str],
        required: Iterable[str] = (),
    ) -> None:
        known = tuple(known)
        for key in value:
            if key not in known:
                self.add(
                    "unknown_key", _join(path, str(key)),
                    f"unknown key {key!r}{_suggest(str(key), known)}; known keys: "
                    f"{', '.join(known)}",
                    key=str(key),
                )
        for key in required:
            if key not in value:
                self.add("missing_key", _join(path, key), f"required key {key!r} is missing")

    def text(self, value: Any, path: str) -> bool:
        if isinstance(value, str) and value.strip():
            return True
        self.add("bad_value", path, f"expected non-empty text, got {value!r}")
        return False

    def names(self, value: Any, path: str) -> None:
        if value is None:
            self.add("missing_name", path, "names in ky, ru and en are required")
            return
        if not self.mapping(value, path, "names {ky, ru, en}"):
            return
        self.keys(value, path, LANGS)
        for lang in LANGS:
            if lang not in value or not isinstance(value[lang], str) or not value[lang].strip():
                self.add(
                    "missing_name", _join(path, lang), f"the {lang} text is missing or empty"
                )

    def source(self, value: dict[str, Any], path: str) -> None:
        src = value.get("source")
        if src is None:
            self.add("missing_source", _join(path, "source"),
                     "every norm needs a source (a law, a local act, or 'default — set "
                     "locally'); none given")
        else:
            self.text(src, _join(path, "source"))

    def code(self, value: Any, path: str, known: tuple[str, ...], what: str) -> bool:
        if isinstance(value, str) and value in known:
            return True
        self.add(
            f"unknown_{what.replace(' ', '_')}", path,
            f"unknown {what} {value!r}{_suggest(str(value), known)}; known: {', '.join(known)}",
            value=value,
        )
        return False

    def code_list(
        self, value: Any, path: str, known: tuple[str, ...], what: str, *, allow_all: bool = False
    ) -> list[str]:
        if allow_all and value == "all":
            return ["all"]
        if value is None:
            return []
        if not isinstance(value, list):
            expected = "a list or 'all'" if allow_all else "a list"
            self.add("bad_type", path, f"expected {expected} of {what} codes, got {value!r}")
            return []
        seen: set[str] = set()
        out = []
        for i, item in enumerate(value):
            p = _join(path, i)
            if not self.code(item, p, known, what):
                continue
            if item in seen:
                self.add("duplicate_id", p, f"{what} {item!r} is listed twice")
            seen.add(item)
            out.append(item)
        return out

    def number(
        self, value: Any, path: str, *, lo: float | None = 0.0, hi: float | None = None,
        integer: bool = False, strict: bool = False,
    ) -> bool:
        if not _is_number(value):
            self.add("bad_number", path, f"expected a number, got {value!r}")
            return False
        if integer and float(value) != int(value):
            self.add("bad_number", path, f"expected a whole number, got {value!r}")
            return False
        if lo is not None and (value < lo or (strict and value == lo)):
            self.add("bad_number", path,
                     f"{value!r} must be {'greater than' if strict else 'at least'} {lo:g}")
            return False
        if hi is not None and value > hi:
            self.add("bad_number", path, f"{value!r} must be at most {hi:g}")
            return False
        return True

    def norm(
        self, value: Any, path: str, *, extra: tuple[str, ...] = (), **number: Any
    ) -> bool:
        """A leaf norm ``{value, unit, source}``; True when its value is usable."""
        if not self.mapping(value, path, "a norm {value, unit, source}"):
            return False
        self.keys(value, path, (*_NORM_KEYS, *extra), ("value", "unit"))
        self.source(value, path)
        if "unit" in value:
            self.text(value["unit"], _join(path, "unit"))
        if "name" in value:
            self.names(value["name"], _join(path, "name"))
        return "value" in value and self.number(value["value"], _join(path, "value"), **number)


def _validate(data: Any, *, file: str | None) -> list[Problem]:
    v = _Validator(file)
    if not isinstance(data, dict):
        v.add("bad_type", "", f"a rulebook is a YAML mapping, got {type(data).__name__}")
        return v.problems
    v.keys(data, "", _TOP_KEYS, _REQUIRED_TOP)
    if "rulebook_version" in data and not isinstance(data["rulebook_version"], str | int | float):
        v.add("bad_value", "rulebook_version", "expected a version such as '2025.1'")
    if "valid_from" in data:
        _valid_from(data["valid_from"], v)
    if "municipality" in data and v.mapping(data["municipality"], "municipality"):
        m = data["municipality"]
        v.keys(m, "municipality", _MUNICIPALITY_KEYS, _MUNICIPALITY_KEYS)
        if "code" in m:
            v.text(m["code"], "municipality.code")
        if "name" in m:
            v.names(m["name"], "municipality.name")
    if "description" in data and not isinstance(data["description"], str):
        v.add("bad_value", "description", "expected text")

    uses = data.get("uses")
    if isinstance(uses, dict):
        v.uses = tuple(str(k) for k in uses)
    if "uses" in data:
        _validate_uses(uses, v)
    waters = data.get("water_zones")
    if isinstance(waters, dict):
        v.water_classes = tuple(str(k) for k in waters)
    if "water_zones" in data:
        _validate_water_zones(waters, v)
    if "tolerance" in data:
        _validate_tolerance(data["tolerance"], v)
    if "zone_types" in data:
        _validate_zone_types(data["zone_types"], v)
    if "restriction_regimes" in data:
        _validate_regimes(data["restriction_regimes"], v)
    if "category_transitions" in data:
        _validate_transitions(data["category_transitions"], v)
    if "norms" in data:
        _validate_norms(data["norms"], "norms", v)
    if "hazard_thresholds" in data:
        from ..hazards.classes import parse_hazard_thresholds

        try:
            parse_hazard_thresholds(data["hazard_thresholds"])
        except RulebookError as exc:
            v.problems.extend(replace(p, layer=file or p.layer) for p in exc.problems)
    return v.problems


def _valid_from(value: Any, v: _Validator) -> None:
    if isinstance(value, dt.date):
        return
    try:
        dt.date.fromisoformat(str(value))
    except ValueError:
        v.add("bad_value", "valid_from", f"expected a date YYYY-MM-DD, got {value!r}")


def _validate_uses(uses: Any, v: _Validator) -> None:
    if not v.mapping(uses, "uses"):
        return
    if not uses:
        v.add("bad_value", "uses", "at least one use is needed")
    for code, spec in uses.items():
        path = _join("uses", str(code))
        if not v.mapping(spec, path):
            continue
        v.keys(spec, path, _USE_KEYS, ("categories",))
        v.names(spec.get("name"), _join(path, "name"))
        if "categories" in spec:
            v.code_list(spec["categories"], _join(path, "categories"), v.categories,
                        "land category")
            if spec["categories"] == []:
                v.add("bad_value", _join(path, "categories"),
                      "a use must fit at least one land category")


def _validate_water_zones(waters: Any, v: _Validator) -> None:
    if not v.mapping(waters, "water_zones"):
        return
    for wclass, spec in waters.items():
        path = _join("water_zones", str(wclass))
        if not v.mapping(spec, path):
            continue
        v.keys(spec, path, _WATER_KEYS, ("protection_zone_m", "coastal_strip_m"))
        v.names(spec.get("name"), _join(path, "name"))
        ok_zone = "protection_zone_m" in spec and v.norm(
            spec["protection_zone_m"], _join(path, "protection_zone_m"), strict=True
        )
        ok_strip = "coastal_strip_m" in spec and v.norm(
            spec["coastal_strip_m"], _join(path, "coastal_strip_m"), strict=True
        )
        if ok_zone and ok_strip:
            zone, strip = spec["protection_zone_m"]["value"], spec["coastal_strip_m"]["value"]
            if strip > zone:
                v.add("bad_number", _join(path, "coastal_strip_m.value"),
                      f"the coastal strip ({strip:g} m) lies inside the water protection "
                      f"zone and cannot be wider than it ({zone:g} m)")


def _validate_tolerance(tol: Any, v: _Validator) -> None:
    if not v.mapping(tol, "tolerance"):
        return
    v.keys(tol, "tolerance", _TOLERANCE_KEYS)
    if not tol:
        v.add("missing_key", "tolerance", "give area_m2 and/or share_pct")
    if tol.get("area_m2") is not None:
        v.norm(tol["area_m2"], "tolerance.area_m2")
    if tol.get("share_pct") is not None:
        v.norm(tol["share_pct"], "tolerance.share_pct", hi=100.0)


def _validate_zone_types(zts: Any, v: _Validator) -> None:
    if not v.mapping(zts, "zone_types"):
        return
    for code, spec in zts.items():
        path = _join("zone_types", str(code))
        if not v.mapping(spec, path):
            continue
        v.keys(spec, path, _ZONE_TYPE_KEYS, ("permitted",))
        v.names(spec.get("name"), _join(path, "name"))
        v.source(spec, path)
        listed: dict[str, str] = {}
        for regime in REGIMES:
            for i, use in enumerate(
                v.code_list(spec.get(regime), _join(path, regime), v.uses, "use")
            ):
                if use in listed and listed[use] != regime:
                    v.add("conflicting_regime", _join(_join(path, regime), i),
                          f"use {use!r} is listed both as {listed[use]} and as {regime}")
                listed.setdefault(use, regime)
        if "building" in spec:
            _validate_building(spec["building"], _join(path, "building"), v)


def _validate_building(building: Any, path: str, v: _Validator) -> None:
    if not v.mapping(building, path):
        return
    v.keys(building, path, BUILDING_PARAMETERS)
    bounds: dict[str, dict[str, Any]] = {
        "max_floors": {"lo": 1.0, "integer": True},
        "max_height_m": {"lo": 0.0, "strict": True},
        "max_site_coverage_pct": {"lo": 0.0, "hi": 100.0},
        "min_plot_ha": {"lo": 0.0},
        "max_plot_ha": {"lo": 0.0, "strict": True},
    }
    for name, spec in building.items():
        if name not in BUILDING_PARAMETERS:
            continue
        p = _join(path, name)
        v.norm(spec, p, extra=("applies_to", "regime"), **bounds[name])
        if not isinstance(spec, dict):
            continue
        if "applies_to" in spec:
            v.code_list(spec["applies_to"], _join(p, "applies_to"), v.uses, "use")
        if "regime" in spec:
            v.code(spec["regime"], _join(p, "regime"), REGIMES, "regime")
    lo, hi = building.get("min_plot_ha"), building.get("max_plot_ha")
    if (
        isinstance(lo, dict) and isinstance(hi, dict)
        and _is_number(lo.get("value")) and _is_number(hi.get("value"))
        and lo["value"] > hi["value"]
    ):
        v.add("bad_number", _join(path, "min_plot_ha.value"),
              f"minimum plot {lo['value']:g} ha exceeds the maximum {hi['value']:g} ha")


def _validate_regime(spec: Any, path: str, v: _Validator) -> None:
    if not v.mapping(spec, path, "a regime {prohibited, conditional, permitted, ...}"):
        return
    v.keys(spec, path, _REGIME_KEYS)
    v.source(spec, path)
    v.names(spec.get("message"), _join(path, "message"))
    listed: dict[str, str] = {}
    alls = []
    for regime in REGIMES:
        items = v.code_list(
            spec.get(regime), _join(path, regime), v.uses, "use",
            allow_all=regime != "permitted",
        )
        if items == ["all"]:
            alls.append(regime)
            continue
        for i, use in enumerate(items):
            if use in listed and listed[use] != regime:
                v.add("conflicting_regime", _join(_join(path, regime), i),
                      f"use {use!r} is listed both as {listed[use]} and as {regime}")
            listed.setdefault(use, regime)
    if len(alls) > 1:
        v.add("conflicting_regime", path,
              "only one of prohibited and conditional can be 'all'")
    if "blocks_category_change" in spec:
        value = spec["blocks_category_change"]
        if not isinstance(value, bool):
            v.code_list(value, _join(path, "blocks_category_change"), v.categories,
                        "land category", allow_all=True)


def _validate_regimes(regimes: Any, v: _Validator) -> None:
    if not v.mapping(regimes, "restriction_regimes"):
        return
    v.keys(regimes, "restriction_regimes", _REGIME_SECTIONS)
    for section, levels in _REGIME_SECTIONS.items():
        if section not in regimes:
            continue
        path = _join("restriction_regimes", section)
        if levels is None:
            _validate_regime(regimes[section], path, v)
            continue
        _validate_regime_level(regimes[section], path, levels, v)


def _validate_regime_level(
    node: Any, path: str, levels: tuple[str, ...], v: _Validator
) -> None:
    if not v.mapping(node, path):
        return
    level = levels[0]
    known = v.water_classes if level == "water" else codes(level)
    what = "water class" if level == "water" else level.replace("_", " ")
    for key, child in node.items():
        p = _join(path, str(key))
        if not v.code(key, p, known, what):
            continue
        if len(levels) > 1:
            _validate_regime_level(child, p, levels[1:], v)
        else:
            _validate_regime(child, p, v)


def _validate_transitions(spec: Any, v: _Validator) -> None:
    path = "category_transitions"
    if not v.mapping(spec, path):
        return
    v.keys(spec, path, _TRANSITION_KEYS, ("source", "authorities", "matrix"))
    v.source(spec, path)
    authorities: tuple[str, ...] = ()
    if "authorities" in spec and v.mapping(spec["authorities"], _join(path, "authorities")):
        authorities = tuple(str(a) for a in spec["authorities"])
        for code, auth in spec["authorities"].items():
            p = _join(_join(path, "authorities"), str(code))
            if v.mapping(auth, p):
                v.keys(auth, p, ("name",))
                v.names(auth.get("name"), _join(p, "name"))
    if "matrix" not in spec or not v.mapping(spec["matrix"], _join(path, "matrix")):
        return
    for a, row in spec["matrix"].items():
        pa = _join(_join(path, "matrix"), str(a))
        if not v.code(a, pa, v.categories, "land category") or not v.mapping(row, pa):
            continue
        for b, entry in row.items():
            pb = _join(pa, str(b))
            if not v.code(b, pb, v.categories, "land category"):
                continue
            if a == b:
                v.add("bad_value", pb, "a category cannot change into itself")
                continue
            if not v.mapping(entry, pb, "{authority, source} or {impossible: true, source}"):
                continue
            v.keys(entry, pb, _TRANSITION_ENTRY_KEYS)
            v.source(entry, pb)
            impossible = entry.get("impossible", False)
            if not isinstance(impossible, bool):
                v.add("bad_value", _join(pb, "impossible"), "expected true or false")
            elif impossible and "authority" in entry:
                v.add("bad_value", pb, "an impossible transition has no deciding authority")
            elif not impossible:
                if "authority" not in entry:
                    v.add("missing_key", _join(pb, "authority"),
                          "a possible transition needs the deciding authority")
                else:
                    v.code(entry["authority"], _join(pb, "authority"), authorities, "authority")


def _validate_norms(node: Any, path: str, v: _Validator) -> None:
    if not v.mapping(node, path):
        return
    for key, child in node.items():
        p = _join(path, str(key))
        if isinstance(child, dict) and "value" in child:
            v.norm(child, p, lo=None)
        elif isinstance(child, dict) and child:
            leaf_like = set(child) & {"unit", "source"}
            if leaf_like:
                v.add("missing_key", _join(p, "value"),
                      "a norm needs a value (it has " + ", ".join(sorted(leaf_like)) + ")")
                continue
            _validate_norms(child, p, v)
        else:
            v.add("bad_type", p,
                  f"expected a norm {{value, unit, source}} or a group of norms, got {child!r}")


# ----------------------------------------------------------------------------- building


def _names(value: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType({lang: str(value[lang]) for lang in LANGS})


def _norm(spec: Mapping[str, Any]) -> Norm:
    return Norm(
        value=float(spec["value"]),
        unit=str(spec["unit"]),
        source=str(spec["source"]),
        name=_names(spec["name"]) if "name" in spec else None,
        description=spec.get("description"),
    )


def _uses_of(spec: Mapping[str, Any], key: str) -> tuple[str, ...]:
    value = spec.get(key)
    return () if value in (None, "all") else tuple(value)


def _build(data: Mapping[str, Any], *, path: Path | None) -> Rulebook:
    categories = codes("land_category")
    uses = {
        code: Use(code, _names(spec["name"]), tuple(spec["categories"]))
        for code, spec in data["uses"].items()
    }
    zone_types = {}
    for code, spec in data["zone_types"].items():
        building = {
            name: BuildingLimit(
                parameter=name,
                value=float(b["value"]),
                unit=str(b["unit"]),
                source=str(b["source"]),
                applies_to=tuple(b["applies_to"]) if b.get("applies_to") else None,
                regime=b.get("regime", "prohibited"),
            )
            for name, b in (spec.get("building") or {}).items()
        }
        zone_types[code] = ZoneType(
            code=code,
            name=_names(spec["name"]),
            permitted=_uses_of(spec, "permitted"),
            conditional=_uses_of(spec, "conditional"),
            prohibited=_uses_of(spec, "prohibited"),
            building=MappingProxyType(building),
            source=str(spec["source"]),
        )

    regimes: dict[str, RestrictionRegime] = {}

    def regime(rule_id: str, spec: Mapping[str, Any]) -> None:
        blocks = spec.get("blocks_category_change", False)
        if blocks is True or blocks == "all":
            blocked: tuple[str, ...] = categories
        elif not blocks:
            blocked = ()
        else:
            blocked = tuple(blocks)
        regimes[rule_id] = RestrictionRegime(
            rule_id=rule_id,
            prohibited=_uses_of(spec, "prohibited"),
            conditional=_uses_of(spec, "conditional"),
            permitted=_uses_of(spec, "permitted"),
            prohibited_all=spec.get("prohibited") == "all",
            conditional_all=spec.get("conditional") == "all",
            blocks_category_change=blocked,
            message=_names(spec["message"]),
            source=str(spec["source"]),
        )

    def walk(node: Mapping[str, Any], prefix: str, depth: int) -> None:
        for key, child in node.items():
            if depth == 1:
                regime(f"{prefix}.{key}", child)
            else:
                walk(child, f"{prefix}.{key}", depth - 1)

    for section, levels in _REGIME_SECTIONS.items():
        node = data["restriction_regimes"].get(section)
        if node is None:
            continue
        if levels is None:
            regime(section, node)
        else:
            walk(node, section, len(levels))

    water = {
        wclass: WaterZone(
            water_class=wclass,
            name=_names(spec["name"]),
            protection_zone_m=_norm(spec["protection_zone_m"]),
            coastal_strip_m=_norm(spec["coastal_strip_m"]),
        )
        for wclass, spec in data["water_zones"].items()
    }
    ct = data["category_transitions"]
    authorities = {
        code: Authority(code, _names(spec["name"])) for code, spec in ct["authorities"].items()
    }
    transitions = {
        (a, b): Transition(
            from_category=a,
            to_category=b,
            possible=not entry.get("impossible", False),
            authority=entry.get("authority"),
            source=str(entry["source"]),
        )
        for a, row in ct["matrix"].items()
        for b, entry in row.items()
    }
    tol = data["tolerance"]
    tolerance = Tolerance(
        area_m2=_norm(tol["area_m2"]) if tol.get("area_m2") is not None else None,
        share_pct=_norm(tol["share_pct"]) if tol.get("share_pct") is not None else None,
    )

    def norms(node: Mapping[str, Any]) -> Mapping[str, Any]:
        return MappingProxyType({
            key: _norm(child) if "value" in child else norms(child)
            for key, child in node.items()
        })

    valid_from = data["valid_from"]
    if not isinstance(valid_from, dt.date):
        valid_from = dt.date.fromisoformat(str(valid_from))
    return Rulebook(
        version=str(data["rulebook_version"]),
        municipality=str(data["municipality"]["code"]),
        municipality_name=_names(data["municipality"]["name"]),
        valid_from=valid_from,
        extends=data.get("extends"),
        uses=MappingProxyType(uses),
        zone_types=MappingProxyType(zone_types),
        regimes=MappingProxyType(regimes),
        water_zones=MappingProxyType(water),
        authorities=MappingProxyType(authorities),
        transitions=MappingProxyType(transitions),
        transitions_source=str(ct["source"]),
        tolerance=tolerance,
        norms=norms(data.get("norms") or {}),
        path=path,
        raw=MappingProxyType(dict(data)),
    )

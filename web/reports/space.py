"""The Space section as a finished report: an HTML page with maps and an XLSX workbook.

Both outputs are rendered from one :class:`~spatial.space.SpaceSection` through one list
of :class:`ReportTable` objects (:func:`report_tables`), so the page, the workbook, the
CLI and the API cannot disagree. Maps are Folium maps drawn in the page itself; their
layers are dissolved and simplified in :func:`spatial.space.space_section`, so the page
stays light on a municipal connection. Leaflet comes from the installed ``folium-offline``
package (:mod:`web.assets`), never from a CDN: a file written by ``jer report space``
carries its text inline and works offline, the app's page links ``/assets/…``.
Layers are read with ``include_personal=False``; right holders never reach the report.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from spatial.errors import InputError
from spatial.schema import Lang, label
from spatial.space import (
    RESTRICTION_CODELISTS,
    LandPlan,
    SpaceSection,
    plan_land,
    space_section,
)

from .labels import text

__all__ = [
    "ReportTable",
    "compute_land_plan",
    "compute_space_section",
    "format_number",
    "read_report_layers",
    "render_space_html",
    "report_tables",
    "space_report_context",
    "write_space_report",
    "write_space_xlsx",
]

#: The app's template folder; the report's own templates are under ``report/``.
TEMPLATES = Path(__file__).resolve().parent.parent / "templates"

AssetMode = Literal["inline", "app"]
BaseMap = Literal["osm", "none"]
#: The assets a report map needs: Leaflet's script and style (the layers are GeoJSON).
MAP_ASSETS = ("leaflet.css", "leaflet.js")

#: Layers the report reads from a workspace (never with personal columns).
REPORT_LAYERS: tuple[str, ...] = (
    "municipality", "settlements", "parcels", "zones", "protected_areas", "water_bodies",
    "forest_fund", "hazard_zones", "restrictions", "facilities",
)

_PALETTE = (
    "#e6c44f", "#d9534f", "#8c6bb1", "#2ca25f", "#006d2c", "#3182bd", "#bdbdbd",
    "#fd8d3c", "#74c476", "#9e9ac8", "#6baed6", "#fdae6b", "#a1d99b", "#636363",
)
_CLASS_COLOURS = {"high": "#cb181d", "medium": "#fd8d3c", "low": "#fecc5c"}
_CATEGORY_COLOURS = {
    "agricultural": "#e6c44f", "settlement": "#d9534f", "industry_transport": "#8c6bb1",
    "protected": "#2ca25f", "forest_fund": "#006d2c", "water_fund": "#3182bd",
    "reserve": "#bdbdbd",
}


# --------------------------------------------------------------------------- numbers


def format_number(value: Any, decimals: int, lang: Lang) -> str:
    """A number as the report prints it: ``28 950`` (ky, ru) or ``28,950`` (en).

    Kyrgyz and Russian group thousands with a no-break space and use a decimal comma;
    tests compare the page with this function applied to the section's own numbers.
    """
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, (bool, np.bool_)):
        return str(value)
    text_ = f"{float(value):,.{decimals}f}"
    if lang == "en":
        return text_
    return text_.replace(",", "\u00a0").replace(".", ",")


def _decimals(column: Any, series: pd.Series) -> int:
    column = str(column)
    if column.endswith("_pct") or "%" in column:
        return 1
    if column in ("households", "population", "households_exposed", "population_exposed",
                  "year", "zones", "parcels", "facilities", "facility_capacity"):
        return 0
    if pd.api.types.is_integer_dtype(series) or pd.api.types.is_bool_dtype(series):
        return 0
    return 2


# --------------------------------------------------------------------------- tables


@dataclass
class ReportTable:
    """One table of the report: title, labelled frame and how to print its numbers.

    ``frame`` keeps numbers as numbers (the XLSX writes them as such); ``decimals`` says
    how the HTML prints each numeric column.
    """

    key: str
    title: str
    frame: pd.DataFrame
    decimals: dict[str, int] = field(default_factory=dict)
    note: str | None = None
    missing: str | None = None
    cell_decimals: dict[Any, list[int]] = field(default_factory=dict)
    sheet: str | None = None


class _Labeller:
    """Code → label in one language, from the schema, the rulebook and the section."""

    def __init__(self, section: SpaceSection, lang: Lang) -> None:
        self.lang = lang
        self.rulebook = section.rulebook
        self.settlements = dict(section.balance.settlement_labels.get(lang, {}))

    def code(self, codelist: str, value: Any) -> str:
        if value is None or value == "" or (isinstance(value, float) and math.isnan(value)):
            return ""
        return label(codelist, str(value), self.lang)

    def use(self, value: Any) -> str:
        uses = getattr(self.rulebook, "uses", {}) or {}
        entry = uses.get(value)
        return str(entry.name.get(self.lang, value)) if entry is not None else str(value)

    def zone(self, value: Any) -> str:
        zones = getattr(self.rulebook, "zone_types", {}) or {}
        entry = zones.get(value)
        if entry is not None:
            return str(entry.name.get(self.lang, value))
        return text(f"row.{value}", self.lang) if value in ("unzoned", "total") else str(value)

    def settlement(self, value: Any) -> str:
        if value is None or value == "" or (isinstance(value, float) and math.isnan(value)):
            return ""
        return self.settlements.get(str(value), str(value))

    def own(self, prefix: str, value: Any) -> str:
        key = f"{prefix}.{value}"
        found = text(key, self.lang)
        return str(value) if found == key else found

    def frame(self, frame: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, int]]:
        """Labels for known code columns, localised headings, per-column decimals."""
        out = pd.DataFrame(frame).drop(columns="geometry", errors="ignore").copy()
        mappers = {
            "settlement": self.settlement,
            "use": self.use, "target_use": self.use, "designated_use": self.use,
            "current_use": self.use,
            "land_category": lambda v: self.code("land_category", v),
            "current_category": lambda v: self.code("land_category", v),
            "target_category": lambda v: self.code("land_category", v),
            "from_category": lambda v: self.code("land_category", v),
            "to_category": lambda v: self.code("land_category", v),
            "hazard_type": lambda v: self.code("hazard_type", v),
            "hazard_class": lambda v: self.code("hazard_class", v),
            "zone_type": self.zone,
            "verdict": lambda v: self.own("verdict", v),
            "status": lambda v: self.own("status", v),
            "scenario": lambda v: self.own("scenario", v),
        }
        for column, mapper in mappers.items():
            if column in out:
                out[column] = out[column].map(mapper)
        if "year" in out:  # a year is a label, not a quantity: no thousands separator
            out["year"] = out["year"].astype(str)
        for column in out.columns:
            if pd.api.types.is_bool_dtype(out[column]):
                out[column] = out[column].map(
                    lambda v: text("row.yes" if v else "row.no", self.lang))
        decimals = {c: _decimals(c, out[c]) for c in out.columns
                    if pd.api.types.is_numeric_dtype(out[c])}
        headings = {c: self.heading(c) for c in out.columns}
        out = out.rename(columns=headings)
        return out, {headings[c]: d for c, d in decimals.items()}

    def heading(self, column: str) -> str:
        key = f"col.{column}"
        found = text(key, self.lang)
        return column if found == key else found


def _key_figures(section: SpaceSection, lang: Lang) -> pd.DataFrame:
    restricted = section.restrictions.loc[section.restrictions["kind"] == "total", "share_pct"]
    total = section.used_unused.loc[section.used_unused["code"] == "total", "ratio"]
    rows = [
        (text("report.official_area", lang), section.official_area_ha, text("unit.ha", lang)),
        (text("report.population", lang), section.population, ""),
        (text("report.households", lang), section.households, ""),
        (text("report.used_unused_ratio", lang),
         float(total.iloc[0]) if len(total) else np.nan, ""),
        (text("report.restricted_share", lang),
         float(restricted.iloc[0]) if len(restricted) else np.nan, "%"),
        (text("report.relocation_parcels", lang), section.relocation_parcels, ""),
    ]
    return pd.DataFrame(rows, columns=[text("col.item", lang), text("col.value", lang), "_unit"])


def _restrictions_frame(section: SpaceSection, lab: _Labeller) -> pd.DataFrame:
    frame = section.restrictions.copy()
    lang = lab.lang
    group = frame["group"].map(lambda g: text(f"group.{g}", lang))
    types = frame["type"].astype(object).to_numpy()
    classes = frame["class"].astype(object).to_numpy()
    type_labels = np.empty(len(frame), dtype=object)
    class_labels = np.empty(len(frame), dtype=object)
    groups = frame["group"].to_numpy()
    for name, (type_list, class_list) in RESTRICTION_CODELISTS.items():
        mask = groups == name
        type_labels[mask] = [lab.code(type_list, v) if type_list else lab.own("type", v)
                             for v in types[mask]]
        class_labels[mask] = [lab.code(class_list, v) if class_list and v else (v or "")
                              for v in classes[mask]]
    totals = (frame["kind"] != "item").to_numpy()
    type_labels[totals] = np.where(groups[totals] == "total", "", text("group_total", lang))
    class_labels[totals] = ""
    frame["group"] = group
    frame["type"] = type_labels
    frame["class"] = class_labels
    return frame.drop(columns="kind")


def _pivot_years(frame: pd.DataFrame, index: list[str]) -> pd.DataFrame:
    wide = frame.pivot_table(index=index, columns="year", values="hectares", aggfunc="sum",
                             fill_value=0.0, sort=True)
    wide.columns = [int(c) for c in wide.columns]
    return wide.reset_index()


def report_tables(section: SpaceSection, lang: Lang | None = None) -> list[ReportTable]:
    """Every table of the report, labelled in ``lang``, in report order.

    The HTML page and the XLSX workbook are both written from this list.
    """
    lang = lang or section.lang
    lab = _Labeller(section, lang)
    tables: list[ReportTable] = []

    def add(key: str, title: str, frame: pd.DataFrame | None, *, note: str | None = None,
            missing: str | None = None, relabel: bool = True) -> None:
        if frame is None:
            tables.append(ReportTable(key, title, pd.DataFrame(), {}, note, missing or ""))
            return
        if relabel:
            labelled, decimals = lab.frame(frame)
        else:
            labelled = frame
            decimals = {c: (1 if "%" in str(c) else (2 if frame[c].dtype.kind == "f" else 0))
                        for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c])}
        tables.append(ReportTable(key, title, labelled, decimals, note, missing))

    figures = _key_figures(section, lang)
    add("key_figures", text("report.key_figures", lang), figures, relabel=False)
    tables[-1].decimals = {}
    tables[-1].cell_decimals = {figures.columns[1]: [0, 0, 0, 2, 1, 0]}
    for key, frame in section.balance.to_frames(lang).items():
        title = section.balance.title(key, lang)
        sheet_key = f"balance.{key}"
        with_gap = key in ("summary", "categories", "ownership", "settlements")
        add("balance", f"{text('section.balance', lang)}: {title}", frame, relabel=False,
            note=text("note.balance_gap", lang) if with_gap else None)
        tables[-1].sheet = text(f"sheet.{sheet_key}", lang)
        if key == "summary":
            # counts and the ratio share the value column with hectares
            units = section.balance.summary["unit"].to_numpy()
            tables[-1].cell_decimals = {
                frame.columns[1]: [0 if u == "count" else 2 for u in units]}
    used = section.used_unused.rename(columns={"code": "land_category"})
    used["land_category"] = used["land_category"].map(
        lambda v: text("row.total", lang) if v == "total" else lab.code("land_category", v))
    add("used_unused", text("section.used_unused", lang), used)
    add("zoning", text("section.zoning", lang), section.zoning.drop(columns="kind"))
    add("restrictions", text("section.restrictions", lang), _restrictions_frame(section, lab),
        note=text("note.restrictions", lang))
    add("compliance", text("section.compliance", lang), section.compliance)
    if section.exposure is not None:
        add("exposure", text("section.exposure", lang), section.exposure.classes,
            note=text("note.exposure", lang))
    else:
        add("exposure", text("section.exposure", lang), None,
            missing=section.not_computed.get("exposure"))
    add("relocation", text("section.relocation", lang), section.relocation,
        note=text("note.relocation", lang))
    demand_missing = section.not_computed.get("demand")
    if section.demand_total is not None and section.demand is not None:
        add("demand", text("section.demand", lang), _pivot_years(section.demand_total, ["use"]),
            note=text("note.demand", lang))
        add("demand_settlements", text("section.demand_settlements", lang),
            _pivot_years(section.demand, ["settlement", "use"]), note=text("note.demand", lang))
    else:
        add("demand", text("section.demand", lang), None, missing=demand_missing)
    add("capacity", text("section.capacity", lang), section.capacity,
        note=text("note.capacity", lang), missing=section.not_computed.get("capacity"))
    add("demand_balance", text("section.demand_balance", lang), section.demand_balance,
        missing=section.not_computed.get("capacity"))
    add("allocation", text("section.allocation", lang), section.allocation,
        missing=section.not_computed.get("allocation"))
    if section.unmet is not None:
        add("unmet", text("section.unmet", lang), section.unmet)
    drafts = section.draft_requests
    if drafts is not None:
        other = [c for c in drafts.columns
                 if c.startswith("justification_") and c != f"justification_{lang}"]
        drafts = drafts.drop(columns=other).rename(
            columns={f"justification_{lang}": "justification"})
    add("draft_requests", text("section.draft_requests", lang), drafts,
        missing=section.not_computed.get("allocation"))
    sources = section.sources.copy()
    sources["key"] = sources["key"].map(lambda k: _source_label(k, lang))
    add("sources", text("section.sources", lang), sources, note=text("note.rulebook", lang))
    for table in tables:
        if table.sheet is None:
            table.sheet = text(f"sheet.{table.key}", lang)
        # Year columns of the pivoted demand tables are ints: print them without decimals.
        table.decimals = {c: (2 if isinstance(c, int) else d) for c, d in table.decimals.items()}
    return tables


def _source_label(key: str, lang: Lang) -> str:
    if key.startswith("layer:"):
        return f"{text('source.layer', lang)}: {key.split(':', 1)[1]}"
    return text(f"source.{key}", lang)


# --------------------------------------------------------------------------- maps


def _colours(codes: Sequence[Any], fixed: Mapping[str, str] | None = None) -> dict[Any, str]:
    fixed = fixed or {}
    out: dict[Any, str] = {}
    free = iter(_PALETTE * 4)
    for code in codes:
        out[code] = fixed.get(str(code)) or next(free)
    return out


def _map_frames(section: SpaceSection, lang: Lang) -> dict[str, gpd.GeoDataFrame]:
    """Map layers with ``_label`` and ``_colour`` columns, in WGS 84."""
    lab = _Labeller(section, lang)
    out: dict[str, gpd.GeoDataFrame] = {}
    for key, frame in section.maps.items():
        if frame is None or not len(frame):
            continue
        gdf = frame.copy()
        if key == "categories":
            codes = gdf["land_category"].astype(str)
            gdf["_label"] = codes.map(lambda v: lab.code("land_category", v))
            gdf["_colour"] = codes.map(_colours(list(codes), _CATEGORY_COLOURS))
        elif key == "zoning":
            codes = gdf["zone_type"].astype(str)
            gdf["_label"] = codes.map(lab.zone)
            gdf["_colour"] = codes.map(_colours(list(codes)))
        elif key == "restrictions":
            groups = gdf["group"].astype(str)
            kinds = gdf["type"].astype(str)
            type_label = np.array([
                lab.code(RESTRICTION_CODELISTS[g][0] or "", t) if RESTRICTION_CODELISTS[g][0]
                else lab.own("type", t) for g, t in zip(groups, kinds, strict=True)
            ], dtype=object)
            gdf["_label"] = groups.map(lambda g: text(f"group.{g}", lang)) + ": " + type_label
            gdf["_colour"] = (groups + "/" + kinds).map(_colours(list(groups + "/" + kinds)))
        elif key == "hazards":
            gdf["_label"] = (gdf["type"].map(lambda v: lab.code("hazard_type", v)) + " — "
                             + gdf["class"].map(lambda v: lab.code("hazard_class", v)))
            gdf["_colour"] = gdf["class"].map(_CLASS_COLOURS).fillna("#999999")
        else:
            use = gdf["use"].map(lab.use) if "use" in gdf else pd.Series("", index=gdf.index)
            place = (gdf["settlement"].map(lab.settlement) if "settlement" in gdf
                     else pd.Series("", index=gdf.index))
            gdf["_label"] = place.astype(str) + ": " + use.astype(str)
            codes = gdf["use"].astype(str) if "use" in gdf else pd.Series("", index=gdf.index)
            gdf["_colour"] = codes.map(_colours(list(dict.fromkeys(codes))))
        out[key] = gdf[["_label", "_colour", "geometry"]].to_crs(4326)
    return out


def _folium_map(frame: gpd.GeoDataFrame, *, base_map: BaseMap = "osm") -> dict[str, Markup]:
    """One layer's Folium map as the page's map ``div`` and its ``script``.

    Leaflet itself is loaded once for the whole page (:func:`asset_tags`), so a map
    brings only its own element and code. Labels are HTML-escaped for the tooltip, which
    inserts them as HTML: a hostile name shows as text.
    """
    import html as html_

    import folium

    minx, miny, maxx, maxy = frame.total_bounds
    fmap = folium.Map(location=[(miny + maxy) / 2, (minx + maxx) / 2], zoom_start=11,
                      tiles="OpenStreetMap" if base_map == "osm" else None,
                      control_scale=True)
    fmap.default_js = []
    fmap.default_css = []
    shown = frame.assign(_label=frame["_label"].astype(str).map(html_.escape))
    folium.GeoJson(
        shown.to_json(drop_id=True),
        style_function=lambda f: {
            "fillColor": f["properties"]["_colour"], "color": f["properties"]["_colour"],
            "weight": 1, "fillOpacity": 0.5,
        },
        tooltip=folium.GeoJsonTooltip(fields=["_label"], labels=False),
    ).add_to(fmap)
    fmap.fit_bounds([[miny, minx], [maxy, maxx]])
    from branca.element import Figure

    figure = fmap.get_root()
    assert isinstance(figure, Figure)  # a folium.Map always sits in a Figure
    figure.render()
    # Folium's own output, built from escaped labels and JSON: markup to place as is.
    return {"html": Markup(figure.html.render()),
            "script": Markup(figure.script.render())}


def asset_tags(mode: AssetMode) -> Markup:
    """Leaflet for the report's maps: inline text (a file that works offline) or app URLs."""
    from web.assets import ASSET_PREFIX, offline_assets

    assets = offline_assets()
    tags = []
    for name in MAP_ASSETS:
        found = assets[name]
        if mode == "app":
            tags.append(f'<link rel="stylesheet" href="{ASSET_PREFIX}{name}">'
                        if name.endswith(".css") else
                        f'<script src="{ASSET_PREFIX}{name}"></script>')
        else:
            # The package's own files; neither holds a closing </script> or </style>.
            tag = "style" if name.endswith(".css") else "script"
            tags.append(f"<{tag}>\n{found.text}\n</{tag}>")
    return Markup("\n".join(tags))


def _legend(frame: gpd.GeoDataFrame) -> list[tuple[str, str]]:
    pairs = frame[["_label", "_colour"]].drop_duplicates("_label")
    return list(zip(pairs["_label"].astype(str), pairs["_colour"].astype(str), strict=True))


# --------------------------------------------------------------------------- outputs


def _cells(table: ReportTable, lang: Lang) -> list[list[tuple[str, bool]]]:
    frame = table.frame
    columns: list[list[tuple[str, bool]]] = []
    for column in frame.columns:
        if column == "_unit":
            continue
        values = frame[column]
        if column in table.cell_decimals:
            columns.append([(format_number(v, d, lang), True)
                            for v, d in zip(values, table.cell_decimals[column], strict=True)])
        elif column in table.decimals:
            d = table.decimals[column]
            columns.append([(format_number(v, d, lang), True) for v in values])
        elif pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            columns.append([(format_number(v, 2 if values.dtype.kind == "f" else 0, lang), True)
                            for v in values])
        else:
            columns.append([("" if v is None or v is pd.NA or
                             (isinstance(v, float) and math.isnan(v)) else str(v), False)
                            for v in values])
    if "_unit" in frame:
        # key figures: "value unit" in one cell, decimals chosen per row
        units = frame["_unit"].tolist()
        figures = frame.iloc[:, 1].tolist()
        columns[1] = [
            (f"{format_number(v, 0 if float(v).is_integer() else 2, lang)} {u}".strip(), True)
            if v is not None and not (isinstance(v, float) and math.isnan(v)) else ("", True)
            for v, u in zip(figures, units, strict=True)
        ]
    return [list(row) for row in zip(*columns, strict=True)] if columns else []


def _environment() -> Environment:
    return Environment(loader=FileSystemLoader(TEMPLATES),
                       autoescape=select_autoescape(["html"]), trim_blocks=True,
                       lstrip_blocks=True)


def space_report_context(section: SpaceSection, lang: Lang | None = None, *,
                         tables: list[ReportTable] | None = None, maps: bool = True,
                         max_rows: int = 200, base_map: BaseMap = "osm",
                         assets: AssetMode = "inline") -> dict[str, Any]:
    """What the report's templates show: tables as printed cells, maps, notices.

    The standalone file (:func:`render_space_html`) and the app's page render the same
    content template (``report/_space_content.html``) from this one context.
    """
    lang = lang or section.lang
    tables = tables if tables is not None else report_tables(section, lang)
    rendered = []
    for i, table in enumerate(tables):
        headings = [str(c) for c in table.frame.columns if c != "_unit"]
        rows = _cells(table, lang)
        rendered.append({
            "anchor": f"t{i}-{table.key}", "key": table.key, "title": table.title,
            "headings": headings, "rows": rows[:max_rows], "note": table.note,
            "missing": table.missing,
            "truncated": (text("report.truncated", lang, shown=max_rows, total=len(rows))
                          if len(rows) > max_rows else None),
        })
    map_blocks = []
    if maps:
        for key, frame in _map_frames(section, lang).items():
            parts = _folium_map(frame, base_map=base_map)
            map_blocks.append({"key": key, "title": text(f"map.{key}", lang),
                               "html": parts["html"], "script": parts["script"],
                               "legend": _legend(frame)})
    end = (section.base_year + section.horizon) if section.base_year is not None else None
    horizon = (text("report.horizon", lang, base=section.base_year, end=end,
                    scenario=text(f"scenario.{section.scenario}", lang))
               if section.base_year is not None else None)
    name = section.municipality.get(f"name_{lang}") or section.municipality.get("name_en", "")
    return {
        "lang": lang, "rt": lambda key, **kw: text(key, lang, **kw), "name": name,
        "municipality": section.municipality, "tables": rendered, "maps": map_blocks,
        "illustrative": section.illustrative, "not_computed": section.not_computed,
        "horizon": horizon, "generated": dt.date.today().isoformat(),
        "asset_tags": asset_tags(assets) if map_blocks else Markup(""),
    }


def render_space_html(section: SpaceSection, lang: Lang | None = None, *,
                      tables: list[ReportTable] | None = None, maps: bool = True,
                      max_rows: int = 200, base_map: BaseMap = "osm",
                      assets: AssetMode = "inline") -> str:
    """The report page: key figures, every table, the maps, the notices and sources.

    Tables longer than ``max_rows`` (the allocation list) show their first rows and say
    how many more the XLSX holds, so the page stays light on a slow connection. With
    ``assets="inline"`` (the default) the page carries Leaflet's text and needs nothing
    from the network but, optionally, the OpenStreetMap base map (``base_map``).
    """
    context = space_report_context(section, lang, tables=tables, maps=maps,
                                   max_rows=max_rows, base_map=base_map, assets=assets)
    template = _environment().get_template("report/space.html")
    page: str = template.render(**context)
    return page


def _sheet_title(title: str, used: set[str]) -> str:
    bad = str.maketrans({c: " " for c in "[]:*?/\\"})
    base = title.translate(bad).strip()[:28] or "Sheet"
    name, n = base, 2
    while name.lower() in used:
        name, n = f"{base[:26]}~{n}", n + 1
    used.add(name.lower())
    return name


def write_space_xlsx(section: SpaceSection, path: str | Path, lang: Lang | None = None, *,
                     tables: list[ReportTable] | None = None) -> Path:
    """One sheet per table, headings in ``lang``; numbers stay numbers."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    lang = lang or section.lang
    tables = tables if tables is not None else report_tables(section, lang)
    book = Workbook()
    first = book.active
    assert first is not None
    book.remove(first)
    used: set[str] = set()
    bold = Font(bold=True)
    for table in tables:
        sheet = book.create_sheet(_sheet_title(table.sheet or table.title, used))
        sheet.append([table.title])
        sheet["A1"].font = bold
        if section.illustrative:
            sheet.append([f"{text('report.illustrative', lang)}: {section.illustrative}"])
        if table.missing is not None and not len(table.frame.columns):
            sheet.append([f"{text('report.not_computed', lang)}: {table.missing}"])
            continue
        columns = list(table.frame.columns)
        sheet.append([text("col.unit", lang) if c == "_unit" else str(c) for c in columns])
        for cell in sheet[sheet.max_row]:
            cell.font = bold
        body = table.frame[columns]
        for i, row in enumerate(
                body.astype(object).where(pd.notna(body), None).itertuples(index=False)):
            sheet.append([
                _excel_value(v, table.cell_decimals[c][i] if c in table.cell_decimals
                             else table.decimals.get(c))
                for v, c in zip(row, columns, strict=True)])
        if table.note:
            sheet.append([])
            sheet.append([table.note])
        _fit_columns(sheet, [str(c) for c in columns], body)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    book.save(tmp)
    tmp.replace(target)
    return target


def _fit_columns(sheet: Any, headings: list[str], body: pd.DataFrame) -> None:
    """Column widths from the longest heading or value (capped), so the sheet reads."""
    from openpyxl.utils import get_column_letter

    for i, heading in enumerate(headings, start=1):
        values = body.iloc[:, i - 1]
        longest = values[values.notna()].astype(str).str.len().max() if len(body) else 0
        width = min(max(len(heading), 0 if pd.isna(longest) else int(longest)) + 2, 60)
        sheet.column_dimensions[get_column_letter(i)].width = width


def _excel_value(value: Any, decimals: int | None) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and decimals is not None:
        return round(value, decimals)
    return value


def write_space_report(section: SpaceSection, out_dir: str | Path,
                       lang: Lang | None = None) -> tuple[Path, Path]:
    """Write ``space-<lang>.html`` and ``space-<lang>.xlsx`` into ``out_dir``."""
    lang = lang or section.lang
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tables = report_tables(section, lang)
    html_path = out / f"space-{lang}.html"
    tmp = html_path.with_name(html_path.name + ".tmp")
    tmp.write_text(render_space_html(section, lang, tables=tables), encoding="utf-8")
    tmp.replace(html_path)
    xlsx_path = write_space_xlsx(section, out / f"space-{lang}.xlsx", lang, tables=tables)
    return html_path, xlsx_path


# --------------------------------------------------------------------------- workspace


def compute_space_section(
    workspace: Any,
    *,
    rulebook: Any = None,
    population: pd.DataFrame | None = None,
    horizon: int = 5,
    scenario: str = "medium",
    method: str = "official",
    lang: Lang = "ky",
    n_jobs: int = 1,
) -> SpaceSection:
    """Read a workspace's layers (without personal columns) and assemble the section.

    The CLI (``jer report space``) and the web app call this one function, so both show
    the numbers of the same computation.
    """
    from spatial.zoning import load_rulebook

    layers = read_report_layers(workspace)
    layer_metadata = {name: workspace.layer_metadata(name) for name in layers}
    return space_section(
        layers, rulebook=rulebook if rulebook is not None else load_rulebook(),
        population=population, horizon=horizon, scenario=scenario, lang=lang, method=method,
        metadata=workspace.metadata(), layer_metadata=layer_metadata, n_jobs=n_jobs,
    )


def read_report_layers(workspace: Any) -> dict[str, gpd.GeoDataFrame]:
    """The layers the report uses, read without personal columns."""
    present = set(workspace.layers())
    return {name: workspace.read_layer(name, include_personal=False)
            for name in REPORT_LAYERS if name in present}


def compute_land_plan(
    workspace: Any,
    *,
    population: pd.DataFrame | None,
    rulebook: Any = None,
    horizon: int = 5,
    scenario: str = "medium",
    method: str = "official",
    n_jobs: int = 1,
    steps: tuple[str, ...] = ("capacity", "allocation"),
) -> LandPlan:
    """Demand, capacity, balance and allocation of a workspace, as the report computes them."""
    from spatial.zoning import ConstraintLayers, load_rulebook

    rulebook = rulebook if rulebook is not None else load_rulebook()
    layers = read_report_layers(workspace)
    if "parcels" not in layers:
        raise InputError("the workspace has no parcels layer; import parcels first")
    constraint = ConstraintLayers.from_frames(
        rulebook=rulebook, crs=layers["parcels"].crs,
        **{name: layers[name] for name in ("zones", "protected_areas", "water_bodies",
                                           "forest_fund", "hazard_zones", "restrictions")
           if name in layers and len(layers[name])},
    )
    return plan_land(
        layers["parcels"], constraint, rulebook=rulebook, population=population,
        settlements=layers.get("settlements"), facilities=layers.get("facilities"),
        hazard_zones=layers.get("hazard_zones"),
        horizon=horizon, scenario=scenario, method=method, n_jobs=n_jobs, steps=steps,
    )

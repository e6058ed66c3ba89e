"""Folium maps of the municipality: land categories, zoning, restrictions, hazard exposure.

Each map has the same tools (layer control, scale bar, measure, full screen, search by
cadastral number, feature details on click) and draws its big layers — parcels, zones,
protected areas, forest fund, hazard zones, restrictions and the parcels exposed to
hazards — as vector tiles (``/tiles/<layer>/{z}/{x}/{y}.pbf``, :mod:`web.tiles`), so a
page stays light with 100 000 parcels. Details of what is under a click come from a
small bbox query (``/api/map/at``) and are written into the popup with ``textContent``.
Only the water zones, derived from a handful of water bodies by the rulebook, come as
GeoJSON; every value that reaches their popups is HTML-escaped here, because Folium's
popups insert properties as HTML. Assets are the app's own (``web.assets``), so the
pages work without internet.

For an account that may edit the inventory, a parcel's popup has an *Edit* action: a
form of the parcel's editable attributes (from the data model; code lists as choices
labelled in the page language) that sends ``PUT /api/parcels/{cadastral_no}`` with the
``If-Match`` version and the session's CSRF token, and shows what the API answers.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, cast

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from branca.element import Figure, MacroElement
from folium import plugins
from folium.template import Template

from spatial.schema import codes, label, layer_schema
from spatial.store import Workspace
from spatial.zoning import Rulebook
from spatial.zoning.layers import derive_water_zones

from .assets import localise
from .i18n import t
from .services import read_layers

MapKind = Literal["overview", "zoning", "restrictions", "hazards"]
MAP_KINDS: tuple[MapKind, ...] = ("overview", "zoning", "restrictions", "hazards")
BaseMap = Literal["osm", "none"]

#: Folium map assets the pages need (Leaflet itself); see ``_base_page``.
MAP_ASSETS = frozenset({"leaflet", "leaflet_css"})

TILE_URL = "/tiles/parcels/{z}/{x}/{y}.pbf"
PARCEL_AT_URL = "/api/map/parcels/at"
PARCEL_FIND_URL = "/api/map/parcels/find"
FEATURES_AT_URL = "/api/map/at"
PARCEL_API_URL = "/api/parcels/"
CSRF_COOKIE = "jer_csrf"
CSRF_HEADER = "X-CSRF-Token"

#: Qualitative palette (ColorBrewer Set3/Paired) for coded values, in code-list order.
PALETTE = (
    "#1f78b4", "#33a02c", "#e31a1c", "#ff7f00", "#6a3d9a", "#b15928",
    "#a6cee3", "#b2df8a", "#fb9a99", "#fdbf6f", "#cab2d6", "#ffff99",
)
#: Hazard classes from low to high exposure.
HAZARD_CLASS_COLOURS = {"low": "#fecc5c", "medium": "#fd8d3c", "high": "#e31a1c"}
WATER_ZONE_COLOURS = {"water_protection_zone": "#6baed6", "coastal_strip": "#08519c"}
FOREST_COLOUR = "#238b45"


def tile_url(layer: str) -> str:
    """The URL template of a tile layer served by ``/tiles/<layer>/…``."""
    return f"/tiles/{layer}/{{z}}/{{x}}/{{y}}.pbf"


@dataclass(frozen=True)
class LegendSection:
    """One block of the legend: a layer title and its (colour, label) entries."""

    title: str
    entries: tuple[tuple[str, str], ...]


@dataclass
class MapPage:
    """A built map and what the page shows around it.

    ``tile_layers`` are the vector tile layers after the parcels' (name, Folium layer,
    popup fields), which the click details of :class:`MapTools` cover.
    """

    map: folium.Map
    title: str
    legend: list[LegendSection] = field(default_factory=list)
    tile_layers: list[tuple[str, Any, list[tuple[str, str]]]] = field(default_factory=list)

    def parts(self) -> dict[str, str]:
        """The map's header (assets, styles), body and script, to place into a page."""
        figure = self.map.get_root()
        assert isinstance(figure, Figure)  # a folium.Map always sits in a Figure
        figure.render()
        return {
            "header": figure.header.render(),
            "html": figure.html.render(),
            "script": figure.script.render(),
        }


@dataclass(frozen=True)
class Editing:
    """What the viewer may change on a map: parcel attributes, and holders if ``personal``."""

    personal: bool = False


def palette(values: Sequence[str]) -> dict[str, str]:
    """A stable colour per code: the same code gets the same colour on every map."""
    return {code: PALETTE[i % len(PALETTE)] for i, code in enumerate(values)}


def build_map(
    kind: MapKind,
    workspace: Workspace,
    *,
    rulebook: Rulebook,
    lang: str,
    base_map: BaseMap = "osm",
    editing: Editing | None = None,
) -> MapPage:
    """The map page ``kind`` of a workspace, labelled in ``lang``.

    ``editing`` (for accounts that may edit the inventory) adds the parcel edit form.
    """
    builders: dict[MapKind, Callable[..., MapPage]] = {
        "overview": overview_map,
        "zoning": zoning_map,
        "restrictions": restrictions_map,
        "hazards": hazards_map,
    }
    page: MapPage = builders[kind](workspace, rulebook=rulebook, lang=lang, base_map=base_map,
                                   editing=editing)
    return page


def overview_map(
    workspace: Workspace, *, rulebook: Rulebook, lang: str, base_map: BaseMap = "osm",
    editing: Editing | None = None,
) -> MapPage:
    """Parcels by land category, as vector tiles."""
    page = _base_page(workspace, title=t("map_overview", lang), lang=lang, base_map=base_map)
    page.legend.append(_parcel_legend(lang))
    _finish(page, lang=lang, parcels_shown=True,
            editor=_editor(workspace, rulebook, lang, editing))
    return page


def zoning_map(
    workspace: Workspace, *, rulebook: Rulebook, lang: str, base_map: BaseMap = "osm",
    editing: Editing | None = None,
) -> MapPage:
    """Functional zones by zone type, labelled from the municipality's rulebook."""
    page = _base_page(workspace, title=t("map_zoning", lang), lang=lang, base_map=base_map)
    if "zones" in workspace.layers():
        page.legend.append(tile_layer(
            page, workspace, "zones", title=layer_schema("zones").title[lang],
            colour_column="zone_type", colours=palette(list(rulebook.zone_types)),
            labels=zone_type_labels(rulebook, lang),
            fields=[("zone_id", t("field_zone_id", lang)),
                    ("zone_type", t("field_zone_type", lang)), ("name", t("field_name", lang))],
        ))
    _finish(page, lang=lang, parcels_shown=False,
            editor=_editor(workspace, rulebook, lang, editing))
    return page


def restrictions_map(
    workspace: Workspace, *, rulebook: Rulebook, lang: str, base_map: BaseMap = "osm",
    editing: Editing | None = None,
) -> MapPage:
    """Everything that restricts land use: protected areas, water zones, forest, hazards."""
    page = _base_page(workspace, title=t("map_restrictions", lang), lang=lang, base_map=base_map)
    present = set(workspace.layers())
    name_field = ("name", t("field_name", lang))
    if "protected_areas" in present:
        page.legend.append(tile_layer(
            page, workspace, "protected_areas",
            title=layer_schema("protected_areas").title[lang], colour_column="subzone",
            colours=palette(codes("protected_subzone")),
            labels=_code_labels("protected_subzone", lang),
            fields=[name_field, ("pa_type", t("field_type", lang)),
                    ("subzone", t("field_subzone", lang))],
        ))
    water = read_layers(workspace, ["water_bodies"]).get("water_bodies")
    if water is not None and len(water):
        zones = derive_water_zones(water, rulebook)
        page.legend.append(_add_layer(
            page.map, zones, title=t("water_zones", lang), lang=lang,
            colour_column="zone_kind", colours=WATER_ZONE_COLOURS,
            labels={kind: t(kind, lang) for kind in WATER_ZONE_COLOURS},
            fields={"name": t("field_name", lang), "zone_kind": t("field_type", lang),
                    "width_m": t("field_width_m", lang)},
        ))
    if "forest_fund" in present:
        title = layer_schema("forest_fund").title[lang]
        page.legend.append(tile_layer(
            page, workspace, "forest_fund", title=title, colour_column=None,
            colours={"": FOREST_COLOUR}, labels={"": title},
            fields=[("forest_id", t("field_id", lang)), name_field],
        ))
    if "hazard_zones" in present:
        page.legend.append(_hazard_tiles(page, workspace, lang=lang, colour_column="hazard_type"))
    if "restrictions" in present:
        page.legend.append(tile_layer(
            page, workspace, "restrictions", title=layer_schema("restrictions").title[lang],
            colour_column="restriction_type", colours=palette(codes("restriction_type")),
            labels=_code_labels("restriction_type", lang),
            fields=[name_field, ("restriction_type", t("field_type", lang))],
        ))
    _finish(page, lang=lang, parcels_shown=False,
            editor=_editor(workspace, rulebook, lang, editing))
    return page


def hazards_map(
    workspace: Workspace, *, rulebook: Rulebook, lang: str, base_map: BaseMap = "osm",
    editing: Editing | None = None,
) -> MapPage:
    """Hazard zones by class and the parcels they touch, with the hazards of each parcel.

    Both are vector tiles; the exposed parcels are paired with the hazard zones per
    tile (:func:`exposed_parcels`), so the page carries no geometry of its own.
    """
    page = _base_page(workspace, title=t("map_hazards", lang), lang=lang, base_map=base_map)
    if "hazard_zones" in workspace.layers():
        page.legend.append(_hazard_tiles(page, workspace, lang=lang,
                                         colour_column="hazard_class"))
        page.legend.append(tile_layer(
            page, workspace, "exposed_parcels", title=t("exposed_parcels", lang),
            colour_column="hazard_class", colours=HAZARD_CLASS_COLOURS,
            labels=_code_labels("hazard_class", lang), present=set(HAZARD_CLASS_COLOURS),
            fields=[("cadastral_no", t("field_cadastral_no", lang)),
                    ("settlement", t("field_settlement", lang)),
                    ("hazard_types", t("field_hazards", lang)),
                    ("hazard_class", t("field_hazard_class", lang))],
            fill_opacity=0.6, weight=0.5,
        ))
    _finish(page, lang=lang, parcels_shown=False,
            editor=_editor(workspace, rulebook, lang, editing))
    return page


def exposed_parcels(
    parcels: gpd.GeoDataFrame, hazards: gpd.GeoDataFrame, *, lang: str | None = "ky",
    keep: tuple[str, ...] = (),
) -> gpd.GeoDataFrame:
    """Parcels touching a hazard zone, with their hazard types and their highest class.

    ``hazard_types`` lists the hazard types' labels in ``lang`` (``None``: their codes,
    comma-separated, as the tiles carry them); only the cadastral number and settlement
    of a parcel are kept, so a page or tile stays small with thousands of exposed parcels
    (and the columns named in ``keep``, such as the ``fid`` a tile index updates by).

    One bulk spatial-index query pairs parcels with hazard zones; the pairs are grouped
    per parcel with pandas, so the cost stays linear in the number of pairs.
    """
    hazards = hazards.to_crs(parcels.crs)
    parcel_idx, hazard_idx = hazards.sindex.query(
        parcels.geometry.to_numpy(), predicate="intersects"
    )
    classes = list(HAZARD_CLASS_COLOURS)
    types = hazards["hazard_type"]
    if lang is not None:
        types = types.map(_code_labels("hazard_type", lang)).fillna(types)
    pairs = pd.DataFrame({
        "parcel": parcel_idx,
        "hazard_type": types.to_numpy()[hazard_idx],
        "rank": pd.Categorical(hazards["hazard_class"].to_numpy()[hazard_idx],
                               categories=classes).codes,
    })
    separator = ", " if lang is not None else ","
    # Each parcel's distinct types, sorted, joined: one sort of the distinct pairs and one
    # string concatenation per run of a parcel's pairs (np.add.reduceat), no Python
    # function per parcel (which took a second for 44 000 exposed parcels).
    distinct = pairs[["parcel", "hazard_type"]].astype({"hazard_type": str}) \
        .drop_duplicates().sort_values(["parcel", "hazard_type"], kind="stable")
    owner = distinct["parcel"].to_numpy()
    names = distinct["hazard_type"].to_numpy(dtype=object)
    first = np.r_[True, owner[1:] != owner[:-1]] if len(owner) else np.zeros(0, dtype=bool)
    pieces = np.where(first, names, np.add(separator, names, dtype=object))
    starts = np.flatnonzero(first)
    joined = pd.Series(np.add.reduceat(pieces, starts) if len(starts) else [],
                       index=owner[starts], dtype=object)
    ranks = pairs.groupby("parcel")["rank"].max()
    index = joined.index.to_numpy()
    kept = [c for c in dict.fromkeys((*keep, "cadastral_no", "settlement")) if c in parcels]
    exposed = parcels[[*kept, "geometry"]].iloc[index].copy()
    exposed["hazard_types"] = joined.to_numpy()
    rank = ranks.reindex(joined.index).to_numpy()
    exposed["hazard_class"] = np.where(rank >= 0, np.array(classes)[np.clip(rank, 0, None)], "")
    return exposed.reset_index(drop=True)


def zone_type_labels(rulebook: Rulebook, lang: str) -> dict[str, str]:
    """Zone type code -> name in ``lang`` from the municipality's rulebook."""
    return {code: zt.name.get(lang) or zt.name.get("en") or code
            for code, zt in rulebook.zone_types.items()}


def settlement_labels(workspace: Workspace, lang: str) -> dict[str, str]:
    """Settlement name (the code parcels carry) -> its name in ``lang``."""
    frame = read_layers(workspace, ["settlements"]).get("settlements")
    if frame is None or not len(frame):
        return {}
    column = f"name_{lang}" if f"name_{lang}" in frame else "name"
    names = frame[column].astype(object).where(frame[column].notna(), frame["name"])
    return dict(zip(frame["name"].astype(str), names.astype(str), strict=True))


# --- building blocks -------------------------------------------------------------------


def _code_labels(codelist: str, lang: str) -> dict[str, str]:
    return {code: label(codelist, code, cast(Any, lang)) for code in codes(codelist)}


def _base_page(workspace: Workspace, *, title: str, lang: str, base_map: BaseMap) -> MapPage:
    """A map fitted to the municipality, with its boundary, a scale bar and the base map."""
    fmap = localise(folium.Map(tiles=None, control_scale=True, zoom_start=11,
                               location=(0.0, 0.0)))
    # Folium's map also loads jQuery, Bootstrap and marker icon fonts for markers these
    # maps do not use; leaving them out spares four scripts and styles per page.
    fmap.default_js = [(k, u) for k, u in fmap.default_js if k in MAP_ASSETS]
    fmap.default_css = [(k, u) for k, u in fmap.default_css if k in MAP_ASSETS]
    if base_map == "osm":
        folium.TileLayer("OpenStreetMap", name=t("base_map_osm", lang)).add_to(fmap)
    municipality = read_layers(workspace, ["municipality"]).get("municipality")
    if municipality is not None and len(municipality):
        outline = municipality.to_crs(4326)
        xmin, ymin, xmax, ymax = outline.total_bounds
        fmap.fit_bounds([[ymin, xmin], [ymax, xmax]])
        folium.GeoJson(
            outline[["geometry"]].to_json(), name=layer_schema("municipality").title[lang],
            style_function=lambda _: {"color": "#222222", "weight": 2, "fill": False},
            control=True,
        ).add_to(fmap)
    return MapPage(map=fmap, title=title)


def _parcel_legend(lang: str) -> LegendSection:
    colours = palette(codes("land_category"))
    return LegendSection(
        title=layer_schema("parcels").title[lang],
        entries=tuple((colours[c], label("land_category", c, cast(Any, lang)))
                      for c in codes("land_category")),
    )


def _style_function(colour_column: str | None, colours: Mapping[str, str], *,
                    fill_opacity: float, weight: float) -> str:
    """A VectorGrid style function colouring features by a coded property."""
    if colour_column is None:
        colour = json.dumps(next(iter(colours.values()), "#777777"))
        pick = f"var c = {colour};"
    else:
        pick = (f"var c = {json.dumps(dict(colours))}[p[{json.dumps(colour_column)}]]"
                " || '#777777';")
    # A low-zoom mosaic (``generalised``) has no outlines: its cells are not features.
    return (f"function(p) {{ {pick} return {{weight: p.generalised ? 0 : {weight}, color: c,"
            f" fill: true, fillColor: c, fillOpacity: {fill_opacity}}}; }}")


def tile_layer(
    page: MapPage,
    workspace: Workspace,
    name: str,
    *,
    title: str,
    colour_column: str | None,
    colours: Mapping[str, str],
    labels: Mapping[str, str],
    fields: list[tuple[str, str]],
    present: set[str] | None = None,
    fill_opacity: float = 0.35,
    weight: float = 1.5,
    show: bool = True,
) -> LegendSection:
    """Add the served tile layer ``name`` coloured by a coded column; its legend.

    Features get no popup of their own: a click asks ``/api/map/at`` for what is under
    it (:class:`MapTools`), labelled with ``fields`` (column, heading) in the page's
    language. The legend lists the codes present in the layer (``present`` overrides).
    """
    from .tiles import TILE_LAYERS

    source = TILE_LAYERS[name]
    style = _style_function(colour_column, colours, fill_opacity=fill_opacity, weight=weight)
    options = (
        "{rendererFactory: L.canvas.tile, interactive: false, maxNativeZoom: 22,"
        f" vectorTileLayerStyles: {{{json.dumps(name)}: {style}}}}}"
    )
    grid = localise(plugins.VectorGridProtobuf(
        tile_url(name), name=html.escape(title), options=options, show=show,
    ))
    grid.add_to(page.map)
    page.tile_layers.append((name, grid, fields))
    if present is None:
        if colour_column is None:
            present = set(colours)
        else:
            values = workspace.read_layer(source.layer, columns=[colour_column])[colour_column]
            present = set(values.dropna().astype(str))
    entries = tuple((colours[c], labels.get(c, c)) for c in colours if c in present)
    return LegendSection(title=title, entries=entries)


def _hazard_tiles(page: MapPage, workspace: Workspace, *, lang: str,
                  colour_column: str) -> LegendSection:
    if colour_column == "hazard_class":
        colours: Mapping[str, str] = HAZARD_CLASS_COLOURS
    else:
        colours = palette(codes("hazard_type"))
    return tile_layer(
        page, workspace, "hazard_zones", title=layer_schema("hazard_zones").title[lang],
        colour_column=colour_column, colours=colours,
        labels=_code_labels(colour_column, lang),
        fields=[("name", t("field_name", lang)), ("hazard_type", t("field_hazard_type", lang)),
                ("hazard_class", t("field_hazard_class", lang)),
                ("source", t("field_source", lang))],
    )


def _add_layer(
    fmap: folium.Map,
    frame: gpd.GeoDataFrame,
    *,
    title: str,
    lang: str,
    colour_column: str,
    colours: Mapping[str, str],
    labels: Mapping[str, str],
    fields: Mapping[str, str],
    codelists: Mapping[str, str] | None = None,
    fill_opacity: float = 0.35,
    weight: float = 1.5,
) -> LegendSection:
    """Add a GeoJSON layer coloured by a coded column, with escaped popups; its legend.

    Popup values are labels (for coded columns) or plain values, HTML-escaped, so an
    attribute typed as markup shows as text and never runs.
    """
    codelists = codelists or {}
    props = pd.DataFrame(index=frame.index)
    for column in fields:
        values = frame[column] if column in frame else pd.Series("", index=frame.index)
        text = values.astype(object).where(values.notna(), "")
        if column in codelists:
            text = text.map(lambda v, cl=codelists[column]: label(cl, str(v), cast(Any, lang))
                            if v != "" else "")
        elif column == colour_column:
            text = text.map(lambda v: labels.get(str(v), str(v)))
        props[column] = text.map(lambda v: html.escape(str(v)))
    props["_colour"] = frame[colour_column].map(lambda v: colours.get(str(v), "#777777"))
    features = gpd.GeoDataFrame(props, geometry=_web_geometry(frame), crs=4326)
    if len(features):
        folium.GeoJson(
            features.to_json(drop_id=True),
            name=html.escape(title),
            style_function=lambda f: {"color": f["properties"]["_colour"],
                                      "fillColor": f["properties"]["_colour"],
                                      "weight": weight, "fillOpacity": fill_opacity},
            popup=folium.GeoJsonPopup(fields=list(fields),
                                      aliases=[html.escape(a) for a in fields.values()]),
        ).add_to(fmap)
    present = set(frame[colour_column].astype(str))
    entries = tuple((colours[c], labels.get(c, c)) for c in colours if c in present)
    return LegendSection(title=title, entries=entries)


def _web_geometry(frame: gpd.GeoDataFrame) -> np.ndarray:
    """Geometry in WGS 84 at about 0.1 m precision, simplified by 0.5 m where metric.

    A map needs no more than that, and it keeps a page of a few thousand parcels small.
    """
    geometry = frame.geometry
    if geometry.crs is not None and geometry.crs.is_projected:
        geometry = geometry.simplify(0.5, preserve_topology=True)
    return shapely.set_precision(geometry.to_crs(4326).to_numpy(), 1e-6, mode="pointwise")




def _editor(workspace: Workspace, rulebook: Rulebook, lang: str,
            editing: Editing | None) -> dict[str, Any] | None:
    """The parcel edit form's fields, from the data model, labelled in ``lang``.

    Every parcel column but the key is editable (personal ones only with ``personal``);
    coded columns are choices from their code lists, the designated use from the
    rulebook's uses and the settlement from the settlements layer. The API validates
    what is sent, so the form only helps to send valid values.
    """
    if editing is None:
        return None
    spec = layer_schema("parcels")
    lang_ = cast(Any, lang)
    fields: list[dict[str, Any]] = []
    for name, column in spec.columns.items():
        if name == spec.key or (column.personal and not editing.personal):
            continue
        entry: dict[str, Any] = {"name": name, "label": t(f"field_{name}", lang),
                                 "required": column.required, "kind": "text"}
        if column.codes:
            entry["kind"] = "select"
            entry["options"] = [[c, label(column.codes, c, lang_)] for c in codes(column.codes)]
        elif name == "designated_use":
            entry["kind"] = "select"
            entry["options"] = [[code, use.name.get(lang) or use.name.get("en") or code]
                                for code, use in rulebook.uses.items()]
        elif name == "settlement":
            entry["kind"] = "select"
            entry["options"] = [[k, v] for k, v in settlement_labels(workspace, lang).items()]
            entry["empty_label"] = t("pages_outside_settlements", lang)
        elif column.type == "boolean":
            entry["kind"] = "bool"
        elif column.type == "date":
            entry["kind"] = "date"
        elif column.type in ("real", "integer"):
            entry["kind"] = "number"
            entry["min"] = column.min
        fields.append(entry)
    return {"fields": fields, "api": PARCEL_API_URL, "csrf_cookie": CSRF_COOKIE,
            "csrf_header": CSRF_HEADER}


def _finish(page: MapPage, *, lang: str, parcels_shown: bool,
            editor: dict[str, Any] | None = None) -> None:
    """Parcels as vector tiles, the tools and the layer control, on every map.

    The parcels grid stays interactive (a page may listen to clicks on it, as the
    request test does to select a parcel); details come from :class:`MapTools`.
    """
    colours = palette(codes("land_category"))
    style = (
        "function(p) { var c = COLOURS[p.land_category] || '#777777';"
        " return {weight: p.generalised ? 0 : 0.6, color: '#333333', fill: true, fillColor: c,"
        " fillOpacity: 0.45}; }"
    ).replace("COLOURS", json.dumps(colours))
    options = (
        "{rendererFactory: L.canvas.tile, interactive: true, maxNativeZoom: 22,"
        " getFeatureId: function(f) { return f.properties.cadastral_no; },"
        f" vectorTileLayerStyles: {{parcels: {style}}}}}"
    )
    grid = localise(plugins.VectorGridProtobuf(
        TILE_URL, name=html.escape(layer_schema("parcels").title[lang]), options=options,
        show=parcels_shown,
    ))
    grid.add_to(page.map)
    MapTools(grid, page.tile_layers, lang=lang, editor=editor).add_to(page.map)
    localise(plugins.MeasureControl(primary_length_unit="meters",
                                    primary_area_unit="hectares")).add_to(page.map)
    localise(plugins.Fullscreen()).add_to(page.map)
    folium.LayerControl(collapsed=False).add_to(page.map)


def parcel_fields(lang: str) -> list[tuple[str, str]]:
    """The parcel attributes a popup shows (never personal ones), with their headings."""
    return [
        ("cadastral_no", t("field_cadastral_no", lang)),
        ("land_category", t("field_land_category", lang)),
        ("ag_subtype", t("field_ag_subtype", lang)),
        ("designated_use", t("field_designated_use", lang)),
        ("settlement", t("field_settlement", lang)),
        ("official_area_ha", t("field_official_area_ha", lang)),
        ("in_use", t("field_in_use", lang)),
    ]


class MapTools(MacroElement):  # type: ignore[misc]
    """Details on click, search by cadastral number and, for editors, the parcel form.

    A click asks ``/api/map/at`` for the features of the visible tile layers under it;
    details are JSON written with ``textContent``, so no attribute is ever parsed as
    HTML. The edit form reads the parcel (and its ``ETag``) from the parcels API and
    sends the changed attributes back with ``If-Match`` and the CSRF token.
    """

    _template = Template(
        """
{% macro script(this, kwargs) %}
(function() {
  // Leaflet.VectorGrid calls L.DomEvent.fakeStop, which Leaflet 1.8 removed; without it
  // every click on a tile feature throws (Leaflet.VectorGrid issue 274).
  if (!L.DomEvent.fakeStop) { L.DomEvent.fakeStop = function() { return true; }; }
  var map = {{ this._parent.get_name() }};
  var cfg = {{ this.config|tojson }};
  var T = cfg.text;
  var editor = cfg.editor;
  var grids = {};
  {% for name, grid in this.grids %}grids[{{ name|tojson }}] = {{ grid.get_name() }};
  {% endfor %}
  function el(tag, text, cls) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    if (cls) { node.className = cls; }
    return node;
  }
  function clear(node) { while (node.firstChild) { node.removeChild(node.firstChild); } }
  function shown(value) {
    if (value === true) { return T.yes; }
    if (value === false) { return T.no; }
    return String(value);
  }
  function details(fields, record) {
    var table = el('table', null, 'jer-details');
    fields.forEach(function(f) {
      var labelled = record[f[0] + '_label'];
      var value = labelled !== undefined && labelled !== null ? labelled : record[f[0]];
      if (value === null || value === undefined || value === '') { return; }
      var row = table.insertRow();
      row.appendChild(el('th', f[1]));
      row.insertCell().textContent = shown(value);
    });
    return table;
  }
  function query(url) {
    return fetch(url, {headers: {'Accept': 'application/json'}, credentials: 'same-origin'})
      .then(function(r) {
        if (!r.ok) { throw new Error(r.status); }
        return r.json();
      });
  }
  function parcelBox(record) {
    var box = el('div', null, 'jer-parcel');
    box.appendChild(details(cfg.parcel_fields, record));
    if (editor && record.cadastral_no) {
      var button = el('button', T.edit, 'jer-edit');
      button.type = 'button';
      button.addEventListener('click', function() { openEditor(record.cadastral_no); });
      box.appendChild(button);
    }
    return box;
  }
  var layers = [{name: 'parcels', title: cfg.parcels_title, fields: cfg.parcel_fields}]
    .concat(cfg.layers);
  map.on('click', function(e) {
    var target = e.originalEvent && e.originalEvent.target;
    // A GeoJSON layer (SVG path) opens its own popup.
    if (target && target.tagName && target.tagName.toLowerCase() === 'path') { return; }
    var names = layers.filter(function(l) { return grids[l.name] && map.hasLayer(grids[l.name]); })
      .map(function(l) { return l.name; });
    if (!names.length) { return; }
    query(cfg.at_url + '?layers=' + names.join(',') + '&lon=' + e.latlng.lng
          + '&lat=' + e.latlng.lat + '&lang=' + cfg.lang).then(function(found) {
      var box = el('div', null, 'jer-popup');
      var count = 0;
      layers.forEach(function(l) {
        var records = found[l.name] || [];
        if (!records.length) { return; }
        if (names.length > 1) { box.appendChild(el('h4', l.title)); }
        records.forEach(function(r) {
          box.appendChild(l.name === 'parcels' ? parcelBox(r) : details(l.fields, r));
          count += 1;
        });
      });
      if (count) {
        L.popup({maxWidth: 380, maxHeight: 420}).setLatLng(e.latlng).setContent(box).openOn(map);
      }
    }).catch(function() {});
  });
  var search = L.control({position: 'topleft'});
  search.onAdd = function() {
    var form = L.DomUtil.create('form', 'leaflet-bar jer-search');
    var input = L.DomUtil.create('input', '', form);
    input.type = 'search'; input.name = 'cadastral_no';
    input.placeholder = T.placeholder; input.setAttribute('aria-label', T.placeholder);
    var status = L.DomUtil.create('span', 'jer-search-status', form);
    status.setAttribute('role', 'status');
    L.DomEvent.disableClickPropagation(form);
    form.addEventListener('submit', function(ev) {
      ev.preventDefault();
      status.textContent = '';
      query(cfg.find_url + '?cadastral_no=' + encodeURIComponent(input.value)
            + '&lang=' + cfg.lang).then(function(p) {
        var b = p.bounds;
        map.fitBounds([[b[1], b[0]], [b[3], b[2]]], {maxZoom: 18});
        L.popup({maxWidth: 380}).setLatLng([(b[1] + b[3]) / 2, (b[0] + b[2]) / 2])
          .setContent(parcelBox(p)).openOn(map);
      }).catch(function() { status.textContent = T.not_found; });
    });
    return form;
  };
  search.addTo(map);

  // --- editing (only for accounts that may edit the inventory) ---------------------
  if (!editor) { return; }
  var panel = null, statusBox = null, form = null, etag = null, initial = null, editing = null;
  function csrf() {
    var found = '';
    document.cookie.split(';').forEach(function(part) {
      var at = part.indexOf('=');
      if (at > 0 && part.slice(0, at).trim() === editor.csrf_cookie) {
        found = decodeURIComponent(part.slice(at + 1).trim());
      }
    });
    return found;
  }
  function say(message, cls, items) {
    clear(statusBox);
    statusBox.className = 'jer-edit-status' + (cls ? ' ' + cls : '');
    statusBox.appendChild(el('p', message));
    if (items && items.length) {
      var list = el('ul');
      items.forEach(function(item) { list.appendChild(el('li', item)); });
      statusBox.appendChild(list);
    }
  }
  function ensurePanel() {
    if (!panel) {
      panel = el('section', null, 'jer-editor');
      panel.setAttribute('aria-label', T.edit_title);
      panel.style.cssText = 'position:absolute;left:3.4rem;top:3rem;z-index:1001;'
        + 'width:21rem;max-height:calc(100% - 4.5rem);overflow:auto;background:#fff;'
        + 'padding:.5rem .8rem;box-shadow:0 1px 5px rgba(0,0,0,.4);border-radius:4px;';
      var host = map.getContainer().parentNode || document.body;
      host.appendChild(panel);
    }
    panel.hidden = false;
    clear(panel);
    return panel;
  }
  function normal(f, value) {
    if (f.kind === 'bool') { return value === true; }
    if (value === undefined || value === '' || value === null) { return null; }
    if (f.kind === 'number') { return Number(value); }
    return String(value);
  }
  function fieldInput(f, value) {
    var input;
    var text = value === null || value === undefined ? '' : String(value);
    if (f.kind === 'select') {
      input = document.createElement('select');
      if (!f.required) {
        var empty = el('option', f.empty_label || T.empty);
        empty.value = '';
        input.appendChild(empty);
      }
      var known = false;
      f.options.forEach(function(o) {
        var option = el('option', o[1]);
        option.value = o[0];
        known = known || o[0] === text;
        input.appendChild(option);
      });
      if (text !== '' && !known) {
        var extra = el('option', text);
        extra.value = text;
        input.appendChild(extra);
      }
      input.value = text;
    } else if (f.kind === 'bool') {
      input = document.createElement('input');
      input.type = 'checkbox';
      input.checked = value === true;
    } else {
      input = document.createElement('input');
      input.type = f.kind === 'number' ? 'number' : (f.kind === 'date' ? 'date' : 'text');
      if (f.kind === 'number') {
        input.step = 'any';
        if (f.min !== null && f.min !== undefined) { input.min = String(f.min); }
      }
      input.value = text;
    }
    input.name = f.name;
    input.id = 'jer-edit-' + f.name;
    return input;
  }
  function readInput(f) {
    var input = form.elements[f.name];
    if (f.kind === 'bool') { return input.checked; }
    if (input.value === '') { return null; }
    if (f.kind === 'number') {
      var n = Number(input.value);
      return isNaN(n) ? input.value : n;
    }
    return input.value;
  }
  function fieldLabel(column) {
    var found = editor.fields.filter(function(f) { return f.name === column; });
    return found.length ? found[0].label : column;
  }
  function problems(body) {
    if (body && body.problems) {
      return body.problems.map(function(p) {
        return (p.column ? fieldLabel(p.column) + ': ' : '') + p.message;
      });
    }
    if (body && Array.isArray(body.detail)) {
      return body.detail.map(function(d) {
        var where = (d.loc || []).filter(function(x) { return x !== 'body'; });
        var column = where.length ? where[where.length - 1] : '';
        return (column ? fieldLabel(String(column)) + ': ' : '') + d.msg;
      });
    }
    return [];
  }
  function refreshTiles() {
    Object.keys(grids).forEach(function(name) {
      if (map.hasLayer(grids[name])) { grids[name].redraw(); }
    });
  }
  function buildForm(cadastralNo, props) {
    initial = props;
    form = el('form', null, 'jer-edit-form');
    form.noValidate = true;
    editor.fields.forEach(function(f) {
      var row = el('div', null, 'jer-edit-row');
      var caption = el('label', f.label);
      caption.htmlFor = 'jer-edit-' + f.name;
      var input = fieldInput(f, props[f.name]);
      if (f.kind === 'bool') { row.appendChild(input); row.appendChild(caption); }
      else { row.appendChild(caption); row.appendChild(input); }
      form.appendChild(row);
    });
    var buttons = el('div', null, 'jer-edit-buttons');
    var save = el('button', T.save, 'jer-save');
    save.type = 'submit';
    var close = el('button', T.close, 'jer-close');
    close.type = 'button';
    close.addEventListener('click', function() { panel.hidden = true; });
    buttons.appendChild(save);
    buttons.appendChild(close);
    form.appendChild(buttons);
    form.addEventListener('submit', function(ev) {
      ev.preventDefault();
      send(cadastralNo, save);
    });
    panel.appendChild(form);
  }
  function send(cadastralNo, button) {
    var changes = {};
    var count = 0;
    editor.fields.forEach(function(f) {
      var value = readInput(f);
      if (JSON.stringify(normal(f, value)) !== JSON.stringify(normal(f, initial[f.name]))) {
        changes[f.name] = value;
        count += 1;
      }
    });
    if (!count) { say(T.no_change); return; }
    var headers = {'Content-Type': 'application/json', 'Accept': 'application/geo+json',
                   'If-Match': etag};
    headers[editor.csrf_header] = csrf();
    button.disabled = true;
    fetch(editor.api + encodeURIComponent(cadastralNo), {
      method: 'PUT', credentials: 'same-origin', headers: headers,
      body: JSON.stringify({type: 'Feature', properties: changes})
    }).then(function(r) {
      return r.json().then(function(body) { return [r, body]; },
                           function() { return [r, {}]; });
    }).then(function(answer) {
      var r = answer[0], body = answer[1];
      button.disabled = false;
      if (r.ok) {
        etag = r.headers.get('ETag');
        initial = body.properties;
        say(T.saved.replace('{version}', String(body.properties.row_version)), 'jer-ok');
        refreshTiles();
      } else if (r.status === 412) {
        say(T.conflict, 'jer-conflict');
        var reload = el('button', T.reload, 'jer-reload');
        reload.type = 'button';
        reload.addEventListener('click', function() { openEditor(cadastralNo); });
        statusBox.appendChild(reload);
      } else if (r.status === 422) {
        say(T.invalid, 'jer-invalid', problems(body));
      } else if (r.status === 401) {
        say(T.session_over, 'jer-invalid');
      } else {
        var detail = body.message || (typeof body.detail === 'string' ? body.detail : '');
        say(T.save_failed + ' (' + r.status + ')' + (detail ? ': ' + detail : ''),
            'jer-invalid');
      }
    }).catch(function() {
      button.disabled = false;
      say(T.save_failed, 'jer-invalid');
    });
  }
  function openEditor(cadastralNo) {
    editing = cadastralNo;
    ensurePanel();
    panel.appendChild(el('h3', T.edit_title + ': ' + cadastralNo));
    statusBox = el('div', null, 'jer-edit-status');
    statusBox.setAttribute('role', 'status');
    panel.appendChild(statusBox);
    fetch(editor.api + encodeURIComponent(cadastralNo),
          {headers: {'Accept': 'application/geo+json'}, credentials: 'same-origin'})
      .then(function(r) {
        if (!r.ok) { throw new Error(r.status); }
        etag = r.headers.get('ETag');
        return r.json();
      }).then(function(feature) {
        if (editing === cadastralNo) { buildForm(cadastralNo, feature.properties); }
      }).catch(function(err) { say(T.save_failed + ' (' + err.message + ')', 'jer-invalid'); });
  }
})();
{% endmacro %}
"""
    )

    def __init__(self, grid: Any, tile_layers: Sequence[tuple[str, Any, list[tuple[str, str]]]],
                 *, lang: str, editor: dict[str, Any] | None = None) -> None:
        super().__init__()
        self._name = "MapTools"
        self.grids = [("parcels", grid), *((name, g) for name, g, _ in tile_layers)]
        text = {
            "placeholder": t("search_cadastral_no", lang), "not_found": t("not_found", lang),
            "yes": t("pages_yes", lang), "no": t("pages_no", lang),
        }
        if editor is not None:
            text.update({key: t(f"pages_{key}", lang) for key in (
                "edit", "edit_title", "save", "saved", "no_change", "conflict", "reload",
                "invalid", "save_failed", "session_over", "empty")})
            text["close"] = t("pages_cancel", lang)
        self.config = {
            "lang": lang, "text": text, "at_url": FEATURES_AT_URL, "find_url": PARCEL_FIND_URL,
            "parcels_title": layer_schema("parcels").title[lang],
            "parcel_fields": parcel_fields(lang),
            "layers": [{"name": name, "title": html.unescape(g.layer_name), "fields": fields}
                       for name, g, fields in tile_layers],
            "editor": editor,
        }

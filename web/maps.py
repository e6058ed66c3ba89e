"""Folium maps of the municipality: land categories, zoning, restrictions, hazard exposure.

Each map has the same tools (layer control, scale bar, measure, full screen, search by
cadastral number, parcel details on click) and the parcels as vector tiles, so a map
stays light with tens of thousands of parcels; the small thematic layers (zones,
protected areas, hazard zones …) come as GeoJSON with popups. Every value that reaches a
popup is HTML-escaped here, because Folium's popups insert properties as HTML. Assets
are the app's own (``web.assets``), so the pages work without internet.
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

#: Qualitative palette (ColorBrewer Set3/Paired) for coded values, in code-list order.
PALETTE = (
    "#1f78b4", "#33a02c", "#e31a1c", "#ff7f00", "#6a3d9a", "#b15928",
    "#a6cee3", "#b2df8a", "#fb9a99", "#fdbf6f", "#cab2d6", "#ffff99",
)
#: Hazard classes from low to high exposure.
HAZARD_CLASS_COLOURS = {"low": "#fecc5c", "medium": "#fd8d3c", "high": "#e31a1c"}
WATER_ZONE_COLOURS = {"water_protection_zone": "#6baed6", "coastal_strip": "#08519c"}


@dataclass(frozen=True)
class LegendSection:
    """One block of the legend: a layer title and its (colour, label) entries."""

    title: str
    entries: tuple[tuple[str, str], ...]


@dataclass
class MapPage:
    """A built map and what the page shows around it."""

    map: folium.Map
    title: str
    legend: list[LegendSection] = field(default_factory=list)

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
) -> MapPage:
    """The map page ``kind`` of a workspace, labelled in ``lang``."""
    builders: dict[MapKind, Callable[..., MapPage]] = {
        "overview": overview_map,
        "zoning": zoning_map,
        "restrictions": restrictions_map,
        "hazards": hazards_map,
    }
    return builders[kind](workspace, rulebook=rulebook, lang=lang, base_map=base_map)


def overview_map(
    workspace: Workspace, *, rulebook: Rulebook, lang: str, base_map: BaseMap = "osm"
) -> MapPage:
    """Parcels by land category, as vector tiles."""
    page = _base_page(workspace, title=t("map_overview", lang), lang=lang, base_map=base_map)
    page.legend.append(_parcel_legend(lang))
    _finish(page, lang=lang, parcels_shown=True)
    return page


def zoning_map(
    workspace: Workspace, *, rulebook: Rulebook, lang: str, base_map: BaseMap = "osm"
) -> MapPage:
    """Functional zones by zone type, labelled from the municipality's rulebook."""
    page = _base_page(workspace, title=t("map_zoning", lang), lang=lang, base_map=base_map)
    zones = read_layers(workspace, ["zones"]).get("zones")
    if zones is not None:
        names = {code: zt.name.get(lang) or zt.name.get("en") or code
                 for code, zt in rulebook.zone_types.items()}
        colours = palette(list(rulebook.zone_types))
        page.legend.append(_add_layer(
            page.map, zones, title=layer_schema("zones").title[lang], lang=lang,
            colour_column="zone_type", colours=colours, labels=names,
            fields={"zone_id": t("field_zone_id", lang), "zone_type": t("field_zone_type", lang),
                    "name": t("field_name", lang)},
        ))
    _finish(page, lang=lang, parcels_shown=False)
    return page


def restrictions_map(
    workspace: Workspace, *, rulebook: Rulebook, lang: str, base_map: BaseMap = "osm"
) -> MapPage:
    """Everything that restricts land use: protected areas, water zones, forest, hazards."""
    page = _base_page(workspace, title=t("map_restrictions", lang), lang=lang, base_map=base_map)
    layers = read_layers(
        workspace,
        ["protected_areas", "water_bodies", "forest_fund", "hazard_zones", "restrictions"],
    )
    name_field = {"name": t("field_name", lang)}
    if "protected_areas" in layers:
        page.legend.append(_add_layer(
            page.map, layers["protected_areas"], title=layer_schema("protected_areas").title[lang],
            lang=lang, colour_column="subzone", colours=palette(codes("protected_subzone")),
            labels=_code_labels("protected_subzone", lang),
            fields={**name_field, "pa_type": t("field_type", lang),
                    "subzone": t("field_subzone", lang)},
            codelists={"pa_type": "protected_area_type", "subzone": "protected_subzone"},
        ))
    if "water_bodies" in layers and len(layers["water_bodies"]):
        zones = derive_water_zones(layers["water_bodies"], rulebook)
        page.legend.append(_add_layer(
            page.map, zones, title=t("water_zones", lang), lang=lang,
            colour_column="zone_kind", colours=WATER_ZONE_COLOURS,
            labels={kind: t(kind, lang) for kind in WATER_ZONE_COLOURS},
            fields={**name_field, "zone_kind": t("field_type", lang),
                    "width_m": t("field_width_m", lang)},
        ))
    if "forest_fund" in layers:
        forest = layers["forest_fund"].assign(kind="forest_fund")
        title = layer_schema("forest_fund").title[lang]
        page.legend.append(_add_layer(
            page.map, forest, title=title, lang=lang, colour_column="kind",
            colours={"forest_fund": "#238b45"}, labels={"forest_fund": title},
            fields={"forest_id": t("field_id", lang), **name_field},
        ))
    if "hazard_zones" in layers:
        page.legend.append(_hazard_layer(page.map, layers["hazard_zones"], lang=lang,
                                         colour_column="hazard_type"))
    if "restrictions" in layers:
        page.legend.append(_add_layer(
            page.map, layers["restrictions"], title=layer_schema("restrictions").title[lang],
            lang=lang, colour_column="restriction_type",
            colours=palette(codes("restriction_type")),
            labels=_code_labels("restriction_type", lang),
            fields={**name_field, "restriction_type": t("field_type", lang)},
            codelists={"restriction_type": "restriction_type"},
        ))
    _finish(page, lang=lang, parcels_shown=False)
    return page


def hazards_map(
    workspace: Workspace, *, rulebook: Rulebook, lang: str, base_map: BaseMap = "osm"
) -> MapPage:
    """Hazard zones by class and the parcels they touch, with the hazards of each parcel."""
    page = _base_page(workspace, title=t("map_hazards", lang), lang=lang, base_map=base_map)
    layers = read_layers(workspace, ["hazard_zones", "parcels"])
    hazards = layers.get("hazard_zones")
    if hazards is not None:
        page.legend.append(_hazard_layer(page.map, hazards, lang=lang,
                                         colour_column="hazard_class"))
        parcels = layers.get("parcels")
        if parcels is not None and len(hazards):
            exposed = exposed_parcels(parcels, hazards, lang=lang)
            page.legend.append(_add_layer(
                page.map, exposed, title=t("exposed_parcels", lang), lang=lang,
                colour_column="hazard_class", colours=HAZARD_CLASS_COLOURS,
                labels=_code_labels("hazard_class", lang),
                fields={"cadastral_no": t("field_cadastral_no", lang),
                        "settlement": t("field_settlement", lang),
                        "hazard_types": t("field_hazards", lang),
                        "hazard_class": t("field_hazard_class", lang)},
                codelists={"hazard_class": "hazard_class"},
                fill_opacity=0.6, weight=0.5,
            ))
    _finish(page, lang=lang, parcels_shown=False)
    return page


def exposed_parcels(
    parcels: gpd.GeoDataFrame, hazards: gpd.GeoDataFrame, *, lang: str = "ky"
) -> gpd.GeoDataFrame:
    """Parcels touching a hazard zone, with their hazard types and their highest class.

    ``hazard_types`` lists the hazard types' labels in ``lang``; only the cadastral
    number and settlement of a parcel are kept (details come from the parcel API on
    click), so the page stays small with thousands of exposed parcels.

    One bulk spatial-index query pairs parcels with hazard zones; the pairs are grouped
    per parcel with pandas, so the cost stays linear in the number of pairs.
    """
    hazards = hazards.to_crs(parcels.crs)
    parcel_idx, hazard_idx = hazards.sindex.query(
        parcels.geometry.to_numpy(), predicate="intersects"
    )
    classes = list(HAZARD_CLASS_COLOURS)
    pairs = pd.DataFrame({
        "parcel": parcel_idx,
        "hazard_type": hazards["hazard_type"].map(_code_labels("hazard_type", lang))
        .fillna(hazards["hazard_type"]).to_numpy()[hazard_idx],
        "rank": pd.Categorical(hazards["hazard_class"].to_numpy()[hazard_idx],
                               categories=classes).codes,
    })
    grouped = pairs.groupby("parcel")
    types = grouped["hazard_type"].agg(lambda s: ", ".join(sorted(set(map(str, s)))))
    ranks = grouped["rank"].max()
    index = types.index.to_numpy()
    kept = [c for c in ("cadastral_no", "settlement") if c in parcels]
    exposed = parcels[[*kept, "geometry"]].iloc[index].copy()
    exposed["hazard_types"] = types.to_numpy()
    rank = ranks.reindex(types.index).to_numpy()
    exposed["hazard_class"] = np.where(rank >= 0, np.array(classes)[np.clip(rank, 0, None)], "")
    return exposed.reset_index(drop=True)


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


def _hazard_layer(fmap: folium.Map, hazards: gpd.GeoDataFrame, *, lang: str,
                  colour_column: str) -> LegendSection:
    if colour_column == "hazard_class":
        colours: Mapping[str, str] = HAZARD_CLASS_COLOURS
    else:
        colours = palette(codes("hazard_type"))
    return _add_layer(
        fmap, hazards, title=layer_schema("hazard_zones").title[lang], lang=lang,
        colour_column=colour_column, colours=colours,
        labels=_code_labels(colour_column, lang),
        fields={"name": t("field_name", lang), "hazard_type": t("field_hazard_type", lang),
                "hazard_class": t("field_hazard_class", lang), "source": t("field_source", lang)},
        codelists={"hazard_type": "hazard_type", "hazard_class": "hazard_class"},
    )


def _finish(page: MapPage, *, lang: str, parcels_shown: bool) -> None:
    """Parcels as vector tiles, the tools and the layer control, on every map."""
    colours = palette(codes("land_category"))
    style = (
        "function(p) { var c = COLOURS[p.land_category] || '#777777';"
        " return {weight: 0.6, color: '#333333', fill: true, fillColor: c,"
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
    ParcelTools(grid, lang=lang).add_to(page.map)
    localise(plugins.MeasureControl(primary_length_unit="meters",
                                    primary_area_unit="hectares")).add_to(page.map)
    localise(plugins.Fullscreen()).add_to(page.map)
    folium.LayerControl(collapsed=False).add_to(page.map)


class ParcelTools(MacroElement):  # type: ignore[misc]
    """Search by cadastral number and parcel details on click, from the parcel API.

    Details are fetched as JSON and written with ``textContent``, so no attribute is
    ever parsed as HTML; the parcels' geometry stays in the tiles.
    """

    _template = Template(
        """
{% macro script(this, kwargs) %}
(function() {
  // Leaflet.VectorGrid calls L.DomEvent.fakeStop, which Leaflet 1.8 removed; without it
  // every click on a tile feature throws (Leaflet.VectorGrid issue 274).
  if (!L.DomEvent.fakeStop) { L.DomEvent.fakeStop = function() { return true; }; }
  var map = {{ this._parent.get_name() }};
  var grid = {{ this.grid.get_name() }};
  var text = {{ this.text|tojson }};
  var fields = {{ this.fields|tojson }};
  function details(parcel) {
    var table = document.createElement('table');
    fields.forEach(function(f) {
      var value = parcel[f[0] + '_label'] !== undefined ? parcel[f[0] + '_label'] : parcel[f[0]];
      if (value === null || value === undefined) { return; }
      var row = table.insertRow();
      var th = document.createElement('th'); th.textContent = f[1]; row.appendChild(th);
      var td = row.insertCell(); td.textContent = String(value);
    });
    return table;
  }
  function query(url) {
    return fetch(url, {headers: {'Accept': 'application/json'}}).then(function(r) {
      if (!r.ok) { throw new Error(r.status); }
      return r.json();
    });
  }
  grid.on('click', function(e) {
    query({{ this.at_url|tojson }} + '?lon=' + e.latlng.lng + '&lat=' + e.latlng.lat
          + '&lang=' + text.lang).then(function(parcels) {
      if (!parcels.length) { return; }
      L.popup().setLatLng(e.latlng).setContent(details(parcels[0])).openOn(map);
    });
  });
  var search = L.control({position: 'topleft'});
  search.onAdd = function() {
    var form = L.DomUtil.create('form', 'leaflet-bar jer-search');
    var input = L.DomUtil.create('input', '', form);
    input.type = 'search'; input.name = 'cadastral_no';
    input.placeholder = text.placeholder; input.setAttribute('aria-label', text.placeholder);
    var status = L.DomUtil.create('span', 'jer-search-status', form);
    status.setAttribute('role', 'status');
    L.DomEvent.disableClickPropagation(form);
    form.addEventListener('submit', function(ev) {
      ev.preventDefault();
      status.textContent = '';
      query({{ this.find_url|tojson }} + '?cadastral_no=' + encodeURIComponent(input.value)
            + '&lang=' + text.lang).then(function(p) {
        var b = p.bounds;
        map.fitBounds([[b[1], b[0]], [b[3], b[2]]], {maxZoom: 18});
        L.popup().setLatLng([(b[1] + b[3]) / 2, (b[0] + b[2]) / 2])
          .setContent(details(p)).openOn(map);
      }).catch(function() { status.textContent = text.not_found; });
    });
    return form;
  };
  search.addTo(map);
})();
{% endmacro %}
"""
    )

    def __init__(self, grid: Any, *, lang: str) -> None:
        super().__init__()
        self._name = "ParcelTools"
        self.grid = grid
        self.at_url = PARCEL_AT_URL
        self.find_url = PARCEL_FIND_URL
        self.text = {"lang": lang, "placeholder": t("search_cadastral_no", lang),
                     "not_found": t("not_found", lang)}
        self.fields = [
            ("cadastral_no", t("field_cadastral_no", lang)),
            ("land_category", t("field_land_category", lang)),
            ("ag_subtype", t("field_ag_subtype", lang)),
            ("settlement", t("field_settlement", lang)),
            ("official_area_ha", t("field_official_area_ha", lang)),
            ("in_use", t("field_in_use", lang)),
        ]

"""Folium maps of the request test page (``/check``) and the demand and allocation page (``/plan``).

Both maps are built from the map pages' blocks in :mod:`web.maps` (municipality outline,
parcels as vector tiles with search and details on click, measure, full screen, layer
control, legends), so they look and behave like the other maps.

* The request test map shows zoning and restrictions as *context*: drawn faintly and
  without popups, so a click goes through them to the parcel underneath (which selects
  that parcel). A planner may also draw a polygon (Leaflet.draw). The check itself runs
  in the browser against ``POST /api/checks``; :class:`CheckTools` draws the verdict's
  overlaps, the checked geometry and the unconstrained remainder from the JSON answer,
  writing every value with ``textContent`` so nothing from the data is parsed as HTML.
* The plan map shows the parcels the allocation chose, coloured by use, with escaped
  popups (no personal data: the frame is the public allocation list).

Leaflet.draw's script and style come from the installed ``folium-offline`` package like
every other asset; those the map pages do not already serve under ``/assets/`` are served
under :data:`PAGE_ASSET_PREFIX` (:func:`page_assets`).
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from functools import cache
from typing import Any, cast

import folium
import geopandas as gpd
import pandas as pd
from branca.element import MacroElement
from folium import plugins
from folium.template import Template

from spatial.errors import NotFoundError
from spatial.schema import codes, layer_schema
from spatial.store import Workspace
from spatial.zoning import Rulebook
from spatial.zoning.layers import derive_water_zones

from .assets import ASSET_PREFIX, Asset, _bundled_texts, asset_name, offline_assets
from .auth import CSRF_COOKIE, CSRF_HEADER
from .i18n import t
from .maps import (
    HAZARD_CLASS_COLOURS,
    TILE_URL,
    WATER_ZONE_COLOURS,
    BaseMap,
    LegendSection,
    MapPage,
    _base_page,
    _code_labels,
    _finish,
    _parcel_legend,
    _web_geometry,
    palette,
)
from .reports.labels import text
from .reports.space import format_number
from .services import read_layers

__all__ = [
    "CHECK_URL",
    "PAGE_ASSET_PREFIX",
    "REGIME_COLOURS",
    "CheckTools",
    "DrawTexts",
    "check_map",
    "localise_page",
    "page_asset",
    "page_assets",
    "plan_map",
]

#: Folium classes the app pages add to the map pages' own (``web.assets.OFFLINE_ELEMENTS``).
PAGE_ELEMENTS: tuple[type[Any], ...] = (plugins.Draw,)
#: URL prefix of the assets served for these pages only.
PAGE_ASSET_PREFIX = "/assets/pages/"
CHECK_URL = "/api/checks"

#: Colours of a reason's regime (and of the verdict it leads to), green to red.
REGIME_COLOURS = {"permitted": "#1a9850", "conditional": "#e08214", "prohibited": "#d73027"}
VERDICT_COLOURS = {"allowed": REGIME_COLOURS["permitted"],
                   "conditional": REGIME_COLOURS["conditional"],
                   "prohibited": REGIME_COLOURS["prohibited"]}
NOTE_COLOUR = "#737373"
SUBJECT_COLOUR = "#2166ac"
REMAINDER_COLOUR = "#4dac26"
REGIMES = ("permitted", "conditional", "prohibited")

_MEDIA_TYPES = {".js": "text/javascript", ".css": "text/css"}
#: Number formats of the page languages (Kyrgyz groups digits as Russian does).
_LOCALES = {"ky": "ru-RU", "ru": "ru-RU", "en": "en-GB"}


# --------------------------------------------------------------------------- assets


@cache
def page_assets() -> dict[str, Asset]:
    """Assets of :data:`PAGE_ELEMENTS` not already served under ``/assets/``, by name.

    Raises
    ------
    NotFoundError
        If ``folium-offline`` lacks one of them (a Folium/folium-offline mismatch).
    """
    texts = _bundled_texts()
    served = offline_assets()
    found: dict[str, Asset] = {}
    problems = []
    for cls in PAGE_ELEMENTS:
        for _, url in [*cls.default_js, *cls.default_css]:
            name = asset_name(url)
            if name in served and served[name].source_url == url:
                continue
            if url not in texts:
                problems.append(f"{cls.__name__}: {url} is not bundled in folium-offline")
                continue
            found[name] = Asset(name, _MEDIA_TYPES[name[name.rfind("."):]], texts[url], url)
    if problems:
        raise NotFoundError("offline page assets missing: " + "; ".join(problems))
    return found


def page_asset(name: str) -> Asset:
    """The asset served as ``/assets/pages/<name>``."""
    found = page_assets().get(name)
    if found is None:
        raise NotFoundError(f"no asset {name!r}")
    return found


def localise_page(element: Any) -> Any:
    """Point a Folium plugin at the app's asset URLs (``/assets/`` or ``/assets/pages/``).

    Like :func:`web.assets.localise`, the lists are replaced on the instance only.
    """
    served = offline_assets()
    own = page_assets()
    for attribute in ("default_js", "default_css"):
        local = []
        for key, url in getattr(element, attribute, []):
            name = asset_name(url)
            if name in own:
                local.append((key, PAGE_ASSET_PREFIX + name))
            elif name in served:
                local.append((key, ASSET_PREFIX + name))
            else:
                raise NotFoundError(f"{type(element).__name__}: asset {url} is not served")
        setattr(element, attribute, local)
    return element


# --------------------------------------------------------------------------- labels


def use_labels(rulebook: Rulebook, lang: str) -> dict[str, str]:
    """Use code → name in ``lang`` (the rulebook names every use in three languages)."""
    return {code: use.name.get(lang) or use.name.get("en") or code
            for code, use in rulebook.uses.items()}


def category_labels(lang: str) -> dict[str, str]:
    """Land category code → label in ``lang``, in data-model order."""
    return _code_labels("land_category", lang)


def constraint_layer_titles(lang: str) -> dict[str, str]:
    """Title of each layer a check reason can name (the engine's layer codes)."""
    titles = {name: layer_schema(name).title[lang]
              for name in ("zones", "protected_areas", "forest_fund", "hazard_zones",
                           "restrictions", "parcels")}
    titles["water_zones"] = t("water_zones", lang)
    return titles


# --------------------------------------------------------------------------- request test


def check_map(
    workspace: Workspace, *, rulebook: Rulebook, lang: str, base_map: BaseMap = "osm",
    form_id: str = "check-form", results_id: str = "check-results",
) -> MapPage:
    """The request test map: context layers, parcels to click, a polygon to draw.

    ``form_id`` and ``results_id`` name the page's form and result panel, which
    :class:`CheckTools` reads and fills.
    """
    page = _base_page(workspace, title=t("check_title", lang), lang=lang, base_map=base_map)
    page.legend.append(_parcel_legend(lang))
    _context_layers(page, workspace, rulebook=rulebook, lang=lang)
    page.legend.append(LegendSection(
        title=t("check_legend_result", lang),
        entries=(*((REGIME_COLOURS[r], t(f"check_regime_{r}", lang)) for r in REGIMES),
                 (NOTE_COLOUR, t("check_notes", lang)),
                 (SUBJECT_COLOUR, t("check_subject", lang)),
                 (REMAINDER_COLOUR, t("check_remainder", lang))),
    ))
    _finish(page, lang=lang, parcels_shown=True)
    grid = next(child for child in page.map._children.values()
                if isinstance(child, plugins.VectorGridProtobuf) and child.url == TILE_URL)
    # Not in the layer control: the control is already rendered above this point.
    drawn = folium.FeatureGroup(name=html.escape(t("check_drawn", lang)), control=False)
    drawn.add_to(page.map)
    config = check_config(rulebook, lang=lang, form_id=form_id, results_id=results_id)
    DrawTexts({k: v for k, v in config["text"].items() if k.startswith("draw_")}
              ).add_to(page.map)
    localise_page(plugins.Draw(
        feature_group=drawn, show_geometry_on_click=False, position="topleft",
        draw_options={"polyline": False, "circle": False, "marker": False,
                      "circlemarker": False,
                      "polygon": {"allowIntersection": False, "showArea": False},
                      # showArea on rectangles trips a Leaflet.draw 1.0.2 bug (``type``)
                      "rectangle": {"showArea": False}},
        edit_options={"edit": True, "remove": True},
    )).add_to(page.map)
    CheckTools(grid, drawn, config=config).add_to(page.map)
    return page


def check_config(rulebook: Rulebook, *, lang: str, form_id: str, results_id: str
                 ) -> dict[str, Any]:
    """What the request test script needs: URLs, element ids, labels and texts in ``lang``."""
    keys = (
        "verdict", "reasons", "notes", "remainder", "subject", "col_regime", "col_message",
        "col_layer", "col_feature", "col_overlap_m2", "col_overlap_share", "col_source",
        "allowed_uses", "conditional_uses", "none", "checking", "need_parcel",
        "need_drawing", "need_login", "need_role", "problems", "error", "no_reasons",
        "tested_use", "tested_category", "area_m2", "parcel", "drawn_polygon",
    )
    draw_keys = ("draw_polygon", "draw_rectangle", "draw_start", "draw_cont", "draw_end",
                 "draw_cancel", "draw_finish", "draw_undo", "draw_edit", "draw_remove",
                 "draw_save", "draw_clear", "draw_rect_start", "draw_release")
    return {
        "lang": lang,
        "locale": _LOCALES.get(lang, "en-GB"),
        "check_url": CHECK_URL,
        "csrf_cookie": CSRF_COOKIE,
        "csrf_header": CSRF_HEADER,
        "form": form_id,
        "results": results_id,
        "uses": use_labels(rulebook, lang),
        "categories": category_labels(lang),
        "layers": constraint_layer_titles(lang),
        "regimes": {r: t(f"check_regime_{r}", lang) for r in REGIMES},
        "verdicts": {v: text(f"verdict.{v}", cast(Any, lang)) for v in VERDICT_COLOURS},
        "colours": {**REGIME_COLOURS, **{f"verdict_{k}": v for k, v in VERDICT_COLOURS.items()},
                    "note": NOTE_COLOUR, "subject": SUBJECT_COLOUR,
                    "remainder": REMAINDER_COLOUR},
        "text": {key: t(f"check_{key}", lang) for key in (*keys, *draw_keys)},
    }


def _context_layers(page: MapPage, workspace: Workspace, *, rulebook: Rulebook,
                    lang: str) -> None:
    """Zoning and restriction layers, faint and click-through, with their legends."""
    layers = read_layers(workspace, ["zones", "protected_areas", "water_bodies",
                                     "forest_fund", "hazard_zones", "restrictions"])
    specs: list[tuple[gpd.GeoDataFrame, str, str, Mapping[str, str], Mapping[str, str]]] = []
    if "zones" in layers:
        names = {code: zt.name.get(lang) or zt.name.get("en") or code
                 for code, zt in rulebook.zone_types.items()}
        specs.append((layers["zones"], layer_schema("zones").title[lang], "zone_type",
                      palette(list(rulebook.zone_types)), names))
    if "protected_areas" in layers:
        specs.append((layers["protected_areas"], layer_schema("protected_areas").title[lang],
                       "subzone", palette(codes("protected_subzone")),
                       _code_labels("protected_subzone", lang)))
    if "water_bodies" in layers and len(layers["water_bodies"]):
        specs.append((derive_water_zones(layers["water_bodies"], rulebook),
                      t("water_zones", lang), "zone_kind", WATER_ZONE_COLOURS,
                      {kind: t(kind, lang) for kind in WATER_ZONE_COLOURS}))
    if "forest_fund" in layers:
        title = layer_schema("forest_fund").title[lang]
        specs.append((layers["forest_fund"].assign(kind="forest_fund"), title, "kind",
                      {"forest_fund": "#238b45"}, {"forest_fund": title}))
    if "hazard_zones" in layers:
        specs.append((layers["hazard_zones"], layer_schema("hazard_zones").title[lang],
                      "hazard_class", HAZARD_CLASS_COLOURS, _code_labels("hazard_class", lang)))
    if "restrictions" in layers:
        specs.append((layers["restrictions"], layer_schema("restrictions").title[lang],
                      "restriction_type", palette(codes("restriction_type")),
                      _code_labels("restriction_type", lang)))
    for frame, title, column, colours, labels in specs:
        page.legend.append(_context_layer(page.map, frame, title=title, colour_column=column,
                                          colours=colours, labels=labels))


def _context_layer(
    fmap: folium.Map, frame: gpd.GeoDataFrame, *, title: str, colour_column: str,
    colours: Mapping[str, str], labels: Mapping[str, str],
) -> LegendSection:
    """A layer drawn faintly and not interactive, so clicks reach the parcels below it.

    Only the colour goes to the page: no attribute of the layer is shown, so none
    needs escaping and the page stays small.
    """
    codes_ = frame[colour_column].astype(str)
    colour = codes_.map(lambda v: colours.get(v, "#777777"))
    features = gpd.GeoDataFrame({"_colour": colour.to_numpy()},
                                geometry=_web_geometry(frame), crs=4326)
    if len(features):
        folium.GeoJson(
            features.to_json(drop_id=True), name=html.escape(title), show=True,
            style_function=lambda f: {"color": f["properties"]["_colour"],
                                      "fillColor": f["properties"]["_colour"],
                                      "weight": 1, "fillOpacity": 0.15, "interactive": False},
        ).add_to(fmap)
    present = set(codes_)
    return LegendSection(title=title, entries=tuple(
        (colours[c], labels.get(c, c)) for c in colours if c in present))



class DrawTexts(MacroElement):  # type: ignore[misc]
    """Leaflet.draw's buttons and hints in the page language.

    Added before the draw control, whose buttons take their titles from
    ``L.drawLocal`` when they are built.
    """

    _template = Template(
        """
{% macro script(this, kwargs) %}
(function() {
  var T = {{ this.texts|tojson }};
  if (L.drawLocal) {
    var d = L.drawLocal.draw, e = L.drawLocal.edit;
    d.toolbar.buttons.polygon = T.draw_polygon; d.toolbar.buttons.rectangle = T.draw_rectangle;
    d.toolbar.actions.title = T.draw_cancel; d.toolbar.actions.text = T.draw_cancel;
    d.toolbar.finish.title = T.draw_finish; d.toolbar.finish.text = T.draw_finish;
    d.toolbar.undo.title = T.draw_undo; d.toolbar.undo.text = T.draw_undo;
    d.handlers.polygon.tooltip.start = T.draw_start;
    d.handlers.polygon.tooltip.cont = T.draw_cont;
    d.handlers.polygon.tooltip.end = T.draw_end;
    d.handlers.rectangle.tooltip.start = T.draw_rect_start;
    d.handlers.simpleshape.tooltip.end = T.draw_release;
    e.toolbar.buttons.edit = T.draw_edit; e.toolbar.buttons.remove = T.draw_remove;
    e.toolbar.actions.save.title = T.draw_save; e.toolbar.actions.save.text = T.draw_save;
    e.toolbar.actions.cancel.title = T.draw_cancel;
    e.toolbar.actions.cancel.text = T.draw_cancel;
    e.toolbar.actions.clearAll.title = T.draw_clear;
    e.toolbar.actions.clearAll.text = T.draw_clear;
  }
})();
{% endmacro %}
"""
    )

    def __init__(self, texts: Mapping[str, str]) -> None:
        super().__init__()
        self._name = "DrawTexts"
        self.texts = dict(texts)


class CheckTools(MacroElement):  # type: ignore[misc]
    """The request test in the browser: pick a parcel or a drawing, check, show why.

    Reads the page's form (mode, cadastral number, target and current category and
    use, building numbers), posts it to ``POST /api/checks`` with the session's CSRF
    token, and shows the answer: the verdict coloured by regime, one row per reason and
    note, the remainder with the uses allowed on it, and on the map the overlaps (styled
    by regime, each with a popup of its measurement), the checked geometry and the
    remainder. Every value is written with ``textContent``; problems of a refused
    request (422) are listed one by one.
    """

    _template = Template(
        """
{% macro script(this, kwargs) %}
(function() {
  var map = {{ this._parent.get_name() }};
  var grid = {{ this.grid.get_name() }};
  var drawn = {{ this.drawn.get_name() }};
  var checkConfig = {{ this.config|tojson }}, cfg = checkConfig;
  var T = cfg.text;
  var form = document.getElementById(cfg.form);
  var panel = document.getElementById(cfg.results);
  var results = L.featureGroup().addTo(map);
  var drawnGeometry = null;
  var numberFormat = function(digits) {
    return new Intl.NumberFormat(cfg.locale, {maximumFractionDigits: digits,
                                              minimumFractionDigits: digits});
  };
  var m2 = numberFormat(0), pct = numberFormat(1);
  function area(v) { return v === null || v === undefined ? '' : m2.format(v); }
  function share(v) { return v === null || v === undefined ? '' : pct.format(v) + ' %'; }

  function el(tag, text, cls) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    if (cls) { node.className = cls; }
    return node;
  }
  function clear(node) { while (node.firstChild) { node.removeChild(node.firstChild); } }
  function setMode(mode) {
    var radio = form.querySelector('input[name="mode"][value="' + mode + '"]');
    if (radio) { radio.checked = true; }
  }
  function mode() {
    var checked = form.querySelector('input[name="mode"]:checked');
    return checked ? checked.value : 'parcel';
  }
  function csrf() {
    var parts = document.cookie ? document.cookie.split('; ') : [];
    for (var i = 0; i < parts.length; i++) {
      var eq = parts[i].indexOf('=');
      if (parts[i].slice(0, eq) === cfg.csrf_cookie) {
        return decodeURIComponent(parts[i].slice(eq + 1));
      }
    }
    return '';
  }
  function value(name) {
    var field = form.elements[name];
    var v = field ? String(field.value).trim() : '';
    return v === '' ? null : v;
  }
  function number(name, whole) {
    var v = value(name);
    if (v === null) { return null; }
    var n = whole ? Number(v) : parseFloat(v.replace(',', '.'));
    return isNaN(n) ? v : n;
  }
  function useLabel(code) { return code ? (cfg.uses[code] || code) : T.none; }
  function categoryLabel(code) { return code ? (cfg.categories[code] || code) : T.none; }
  function layerLabel(code) { return code ? (cfg.layers[code] || code) : ''; }
  function featureLabel(r) {
    if (r.feature_name && r.feature_id) { return r.feature_name + ' (' + r.feature_id + ')'; }
    return r.feature_name || r.feature_id || '';
  }
  function status(message, cls) {
    clear(panel);
    panel.appendChild(el('p', message, cls));
  }

  // A click on a parcel selects it for the check (the parcel's details open as well).
  grid.on('click', function(ev) {
    var props = ev.layer && ev.layer.properties;
    if (props && props.cadastral_no) {
      form.elements.cadastral_no.value = props.cadastral_no;
      setMode('parcel');
    }
  });
  // Typing a cadastral number means checking that parcel.
  form.elements.cadastral_no.addEventListener('input', function() { setMode('parcel'); });
  // Only the last drawn shape is checked.
  map.on('draw:created', function(ev) {
    drawn.clearLayers();
    drawn.addLayer(ev.layer);
    drawnGeometry = ev.layer.toGeoJSON().geometry;
    setMode('drawn');
  });
  map.on('draw:edited', function() {
    var layers = drawn.getLayers();
    drawnGeometry = layers.length ? layers[0].toGeoJSON().geometry : null;
  });
  map.on('draw:deleted', function() {
    drawnGeometry = drawn.getLayers().length ? drawnGeometry : null;
  });

  function request() {
    var body = {
      cadastral_no: null, geometry: null,
      target_use: value('target_use'), target_category: value('target_category'),
      current_use: value('current_use'), current_category: value('current_category'),
      floors: number('floors', true), height_m: number('height_m', false),
      site_coverage: number('site_coverage', false)
    };
    if (mode() === 'drawn') {
      if (!drawnGeometry) { return {problem: T.need_drawing}; }
      body.geometry = drawnGeometry;
    } else {
      body.cadastral_no = value('cadastral_no');
      if (!body.cadastral_no) { return {problem: T.need_parcel}; }
    }
    return {body: body};
  }

  function showProblems(status_, data) {
    clear(panel);
    var box = el('div', null, 'check-error');
    box.setAttribute('role', 'alert');
    if (status_ === 401) { box.appendChild(el('p', T.need_login)); }
    else if (status_ === 403) { box.appendChild(el('p', T.need_role)); }
    else {
      box.appendChild(el('p', status_ === 422 ? T.problems : T.error + ' (' + status_ + ')'));
    }
    var list = el('ul');
    if (data && Array.isArray(data.problems)) {
      data.problems.forEach(function(p) {
        var where = [p.layer, p.column, p.feature].filter(function(x) { return x; });
        list.appendChild(el('li', p.message + (where.length ? ' [' + where.join(', ') + ']' : '')));
      });
    } else if (data && Array.isArray(data.detail)) {
      data.detail.forEach(function(p) {
        var where = Array.isArray(p.loc) ? p.loc.join('.') : '';
        list.appendChild(el('li', (where ? where + ': ' : '') + p.msg));
      });
    } else if (data && (data.message || typeof data.detail === 'string')) {
      list.appendChild(el('li', data.message || data.detail));
    }
    if (list.childNodes.length) { box.appendChild(list); }
    panel.appendChild(box);
  }

  // One row per reason: regime, what it says (with its layer, feature and source
  // beneath), and how much of the subject it covers.
  function reasonTable(rows) {
    var table = el('table', null, 'check-reasons');
    var head = table.createTHead().insertRow();
    ['col_regime', 'col_message', 'col_overlap_m2', 'col_overlap_share'].forEach(
      function(k) { head.appendChild(el('th', T[k])); });
    var body = table.createTBody();
    rows.forEach(function(r) {
      var row = body.insertRow();
      row.className = 'regime-' + r.regime;
      var regime = row.insertCell();
      var swatch = el('span', null, 'swatch');
      swatch.style.background = cfg.colours[r.regime] || cfg.colours.note;
      regime.appendChild(swatch);
      regime.appendChild(document.createTextNode(cfg.regimes[r.regime] || r.regime));
      var said = row.insertCell();
      said.appendChild(el('div', r.message, 'reason-message'));
      var where = [layerLabel(r.layer), featureLabel(r)].filter(function(x) { return x; });
      if (where.length) {
        var place = el('div', null, 'reason-where');
        place.appendChild(el('span', T.col_layer + ': ', 'reason-key'));
        place.appendChild(el('span', where[0], 'reason-layer'));
        if (where.length > 1) {
          place.appendChild(document.createTextNode(' — '));
          place.appendChild(el('span', where[1], 'reason-feature'));
        }
        said.appendChild(place);
      }
      var source = el('div', null, 'reason-source');
      source.appendChild(el('span', T.col_source + ': ', 'reason-key'));
      source.appendChild(document.createTextNode(r.source));
      said.appendChild(source);
      var m2Cell = row.insertCell(); m2Cell.className = 'num';
      m2Cell.textContent = area(r.overlap_m2);
      var shareCell = row.insertCell(); shareCell.className = 'num';
      shareCell.textContent = share(r.overlap_share);
    });
    return table;
  }

  function popup(props) {
    var box = el('div', null, 'check-popup');
    box.appendChild(el('strong', featureLabel(props) || layerLabel(props.layer)));
    var table = el('table');
    [[T.col_layer, layerLabel(props.layer)],
     [T.col_regime, props.note ? T.notes : (cfg.regimes[props.regime] || props.regime)],
     [T.col_overlap_m2, area(props.overlap_m2)],
     [T.col_overlap_share, share(props.overlap_share)],
     [T.col_message, props.message || '']].forEach(function(pair) {
      var row = table.insertRow();
      row.appendChild(el('th', pair[0]));
      row.insertCell().textContent = pair[1];
    });
    box.appendChild(table);
    return box;
  }

  function usesList(title, list) {
    var wrap = el('div');
    wrap.appendChild(el('h4', title));
    if (!list || !list.length) { wrap.appendChild(el('p', T.none)); return wrap; }
    var ul = el('ul', null, 'check-uses');
    list.forEach(function(code) { ul.appendChild(el('li', useLabel(code))); });
    wrap.appendChild(ul);
    return wrap;
  }

  function drawResult(data) {
    results.clearLayers();
    if (data.subject) {
      L.geoJSON(data.subject, {interactive: false, style: function() {
        return {color: cfg.colours.subject, weight: 3, dashArray: '6 4', fill: false,
                className: 'check-subject'};
      }}).addTo(results);
    }
    var rem = data.remainder && data.remainder.geometry_wgs84;
    if (rem && rem.coordinates && rem.coordinates.length) {
      L.geoJSON(rem, {style: function() {
        return {color: cfg.colours.remainder, weight: 2, fillColor: cfg.colours.remainder,
                fillOpacity: 0.15, className: 'check-remainder'};
      }, onEachFeature: function(f, layer) {
        var box = el('div', null, 'check-popup');
        box.appendChild(el('strong', T.remainder + ': ' + area(data.remainder.area_m2) + ' m²'));
        box.appendChild(usesList(T.allowed_uses, data.remainder.allowed_uses));
        layer.bindPopup(box);
      }}).addTo(results);
    }
    if (data.overlaps && data.overlaps.features) {
      L.geoJSON(data.overlaps, {style: function(f) {
        var p = f.properties || {};
        var colour = p.note ? cfg.colours.note : (cfg.colours[p.regime] || cfg.colours.note);
        return {color: colour, fillColor: colour, weight: 2, fillOpacity: p.note ? 0.25 : 0.55,
                dashArray: p.note ? '4 4' : null, className: 'check-overlap'};
      }, onEachFeature: function(f, layer) { layer.bindPopup(popup(f.properties || {})); }
      }).addTo(results);
    }
    if (results.getLayers().length) {
      var bounds = results.getBounds();
      if (bounds.isValid()) { map.fitBounds(bounds, {maxZoom: 17, padding: [20, 20]}); }
    }
  }

  function showResult(data) {
    clear(panel);
    var verdict = el('div', null, 'verdict verdict-' + data.verdict);
    verdict.style.borderColor = cfg.colours['verdict_' + data.verdict] || cfg.colours.note;
    verdict.setAttribute('role', 'status');
    verdict.appendChild(el('span', T.verdict + ': ', 'verdict-label'));
    verdict.appendChild(el('strong', cfg.verdicts[data.verdict] || data.verdict, 'verdict-value'));
    panel.appendChild(verdict);
    var facts = el('dl', null, 'check-facts');
    [[data.parcel ? T.parcel : T.drawn_polygon, data.parcel || ''],
     [T.area_m2, area(data.area_m2)],
     [T.tested_use, useLabel(data.use)],
     [T.tested_category, categoryLabel(data.category)]].forEach(function(pair) {
      facts.appendChild(el('dt', pair[0])); facts.appendChild(el('dd', pair[1]));
    });
    panel.appendChild(facts);
    panel.appendChild(el('h3', T.reasons));
    if (data.reasons && data.reasons.length) { panel.appendChild(reasonTable(data.reasons)); }
    else { panel.appendChild(el('p', T.no_reasons)); }
    if (data.notes && data.notes.length) {
      panel.appendChild(el('h3', T.notes));
      panel.appendChild(reasonTable(data.notes));
    }
    if (data.remainder) {
      panel.appendChild(el('h3', T.remainder + ': ' + area(data.remainder.area_m2) + ' m²'));
      panel.appendChild(usesList(T.allowed_uses, data.remainder.allowed_uses));
      panel.appendChild(usesList(T.conditional_uses, data.remainder.conditional_uses));
    }
    drawResult(data);
  }

  form.addEventListener('submit', function(ev) {
    ev.preventDefault();
    var made = request();
    if (made.problem) { status(made.problem, 'check-error'); return; }
    status(T.checking, 'check-busy');
    var headers = {'Content-Type': 'application/json', 'Accept': 'application/json'};
    headers[cfg.csrf_header] = csrf();
    fetch(cfg.check_url + '?lang=' + encodeURIComponent(cfg.lang), {
      method: 'POST', headers: headers, credentials: 'same-origin',
      body: JSON.stringify(made.body)
    }).then(function(response) {
      return response.json().catch(function() { return null; }).then(function(data) {
        if (!response.ok) { results.clearLayers(); showProblems(response.status, data); return; }
        showResult(data);
      });
    }).catch(function(err) { status(T.error + ': ' + err.message, 'check-error'); });
  });
})();
{% endmacro %}
"""
    )

    def __init__(self, grid: Any, drawn: folium.FeatureGroup, *, config: dict[str, Any]) -> None:
        super().__init__()
        self._name = "CheckTools"
        self.grid = grid
        self.drawn = drawn
        self.config = config


# --------------------------------------------------------------------------- plan


def plan_map(
    workspace: Workspace,
    chosen: gpd.GeoDataFrame | None,
    *,
    rulebook: Rulebook,
    lang: str,
    settlement_labels: Mapping[str, str],
    base_map: BaseMap = "osm",
) -> MapPage:
    """The parcels an allocation chose, coloured by the use they were chosen for.

    ``chosen`` is :attr:`spatial.space.LandPlan.chosen` (public columns only). Popups
    show the cadastral number, settlement, use, rank, developable hectares, score,
    regime and the land category (with its change, if any); values are labelled in
    ``lang`` and escaped by :func:`web.maps._add_layer`.
    """
    from .maps import _add_layer

    page = _base_page(workspace, title=t("plan_title", lang), lang=lang, base_map=base_map)
    if chosen is not None and len(chosen):
        frame = chosen.copy()
        lang_ = cast(Any, lang)
        frame["settlement"] = frame["settlement"].map(
            lambda v: settlement_labels.get(str(v), str(v)) if pd.notna(v) else "")
        # Short regime words, and one category cell ("current → target" only when it
        # changes): the popup data of hundreds of parcels stays small in every language.
        verdicts = {"allowed": "permitted", "conditional": "conditional",
                    "prohibited": "prohibited"}
        frame["verdict"] = frame["verdict"].map(
            lambda v: t(f"check_regime_{verdicts[v]}", lang) if v in verdicts else str(v))
        categories = category_labels(lang)
        current = frame["current_category"].map(lambda v: categories.get(str(v), ""))
        target = frame["target_category"].map(lambda v: categories.get(str(v), ""))
        change = frame["needs_category_change"].fillna(False).astype(bool)
        frame["category"] = current.where(~change, current + " → " + target)
        for column, decimals in (("developable_ha", 2), ("score", 2)):
            frame[column] = frame[column].map(lambda v, d=decimals: format_number(v, d, lang_))
        fields = {
            "cadastral_no": t("field_cadastral_no", lang),
            "settlement": text("col.settlement", lang_),
            "use": text("col.use", lang_),
            "rank": text("col.rank", lang_),
            "developable_ha": text("col.developable_ha", lang_),
            "score": text("col.score", lang_),
            "verdict": text("col.verdict", lang_),
            "category": t("field_land_category", lang),
        }
        page.legend.append(_add_layer(
            page.map, frame, title=t("plan_allocated_layer", lang), lang=lang,
            colour_column="use", colours=palette(list(rulebook.uses)),
            labels=use_labels(rulebook, lang), fields=fields, fill_opacity=0.6, weight=1.5,
        ))
        xmin, ymin, xmax, ymax = chosen.to_crs(4326).total_bounds
        page.map.fit_bounds([[ymin, xmin], [ymax, xmax]], padding=(20, 20))
    _finish(page, lang=lang, parcels_shown=False)
    return page


"""Deterministic generator of the Isfana demo workspace.

Isfana city (Исфана шаары; Batken oblast, centre of Leilek district) is the demo
municipality because its youth strategy publishes the figures the SEDP needs: a
territory of 28 950 ha and, for each of its seven settlements, the number of households
and residents as of 1 January 2019 (``/work/shared/domain/sources`` and
``data/demo/README.md``). Those numbers are real and are used as they are.

Everything with a shape is invented: the boundary (an irregular polygon placed at
Isfana's real position and scaled to exactly 28 950 ha), the built-up areas, some 9 000
parcels, the legal zones, the natural monument, the forest fund, the hazard and
restriction zones and the social facilities. They are built to be *plausible* — housing
plots of 0.06–0.12 ha in street blocks, irrigated fields and apricot orchards in the
valley, rain-fed fields on the foothills, large pastures up the mountains, a river strip
of water-fund land — so every part of the tool has something realistic to work on, and
every layer carries ``illustrative: true`` in its metadata so no page presents them as
the real cadastre.

The fabric is built with shapely 2 array operations (a jittered grid of seeds, Voronoi
cells, one intersection with each land zone; street blocks of rectangles tested in
bulk), so the whole build takes a few seconds. Every random draw comes from a
``numpy`` generator seeded with ``(seed, stream)``: the same seed gives identical
frames on every run, independent of hash randomisation or dict order.

Run ``python -m jer_data.demo.generate [--out data/demo/isfana.gpkg]`` to write the
workspace with the store.
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer
from shapely import affinity
from shapely.geometry.base import BaseGeometry

__all__ = [
    "CRS_EPSG",
    "DEFAULT_SEED",
    "DESIGNATED_USES",
    "LAYER_METADATA",
    "OFFICIAL_AREA_HA",
    "SETTLEMENTS",
    "ZONE_TYPES",
    "SettlementSpec",
    "build_isfana",
    "main",
    "write_demo",
]

CRS_EPSG = 32642  # WGS 84 / UTM zone 42N
DEFAULT_SEED = 2019
OFFICIAL_AREA_HA = 28_950.0
#: Isfana city centre (lon, lat).
CENTRE_LONLAT = (69.53, 39.84)

#: Designated-use codes of parcels; the default rulebook uses exactly this list.
DESIGNATED_USES: tuple[str, ...] = (
    "individual_housing",
    "agriculture",
    "pasture",
    "forestry",
    "water",
    "industry",
    "transport",
    "commerce",
    "school",
    "kindergarten",
    "health",
    "cemetery",
    "recreation",
    "none",
)
#: Legal zone types of the demo's zoning plan.
ZONE_TYPES: tuple[str, ...] = (
    "residential_individual",
    "residential_multi",
    "mixed_centre",
    "production",
    "agricultural",
    "recreation",
    "green",
    "reserve_dev",
)

_SOURCE_STATISTICS = (
    "Isfana city youth strategy, section II (statistics as of 1 January 2019): "
    "territory 28 950 ha; households and population by settlement"
)
_GENERATOR = "Jer demo generator (data/demo/generate.py)"


@dataclass(frozen=True)
class SettlementSpec:
    """One settlement: real households and population, illustrative placement.

    ``offset`` is the position of the centre in metres east/north of Isfana city's
    centre, ``angle`` the orientation of the street grid in degrees.
    """

    name: str
    name_ky: str
    name_ru: str
    households: int
    population: int
    offset: tuple[float, float]
    angle: float
    schools: int
    kindergartens: int
    clinics: int
    cemetery: bool
    cadastral_zone: int

    @property
    def name_en(self) -> str:
        return self.name

    @property
    def is_city(self) -> bool:
        return self.cadastral_zone == 1


#: The seven settlements; households and population are the real 2019 figures.
SETTLEMENTS: tuple[SettlementSpec, ...] = (
    SettlementSpec("Isfana", "Исфана", "Исфана", 4780, 20769, (0, 0), 12, 8, 14, 2, True, 1),
    SettlementSpec(
        "Murza-Patcha", "Мурза-Патча", "Мурза-Патча", 214, 868, (2800, -2500), -8, 1, 1, 1, False, 2
    ),
    SettlementSpec("Samat", "Самат", "Самат", 549, 2315, (-1600, -3700), 20, 1, 2, 1, True, 3),
    SettlementSpec("Chimgen", "Чимген", "Чимген", 740, 3422, (900, -6400), 5, 2, 2, 1, True, 4),
    SettlementSpec("Tailan", "Тайлан", "Тайлан", 355, 1561, (-2700, -8600), -15, 1, 1, 1, True, 5),
    SettlementSpec(
        "Ak-Bulak", "Ак-Булак", "Ак-Булак", 192, 901, (2500, -13400), 30, 1, 1, 1, False, 6
    ),
    SettlementSpec("Golbo", "Голбо", "Голбо", 405, 1777, (-100, -10900), 10, 1, 1, 1, False, 7),
)

#: Schools: 6 704 pupils on 8 January 2019 and 2 046 more than the schools hold.
SCHOOL_PUPILS = 6704
SCHOOL_OVER_CAPACITY = 2046
#: Kindergartens (including private ones) and the children attending them.
KINDERGARTEN_CHILDREN = 1718

LAYER_METADATA: dict[str, dict[str, str]] = {
    "municipality": {
        "illustrative": "true",
        "source": f"{_SOURCE_STATISTICS}; boundary: {_GENERATOR}",
        "real_attributes": "name_ky,name_ru,name_en,kind,oblast,district,official_area_ha",
        "note": (
            "The official area (28 950 ha), names, oblast and district are real; the boundary "
            "is an invented polygon at Isfana's position, scaled to the official area."
        ),
    },
    "settlements": {
        "illustrative": "true",
        "source": f"{_SOURCE_STATISTICS}; built-up outlines: {_GENERATOR}",
        "real_attributes": "name,name_ky,name_ru,name_en,households,population,household_size",
        "note": (
            "Households and population are real (statistics as of 1 January 2019); the "
            "outlines and positions of the built-up areas are illustrative."
        ),
    },
    "parcels": {
        "illustrative": "true",
        "source": _GENERATOR,
        "note": (
            "Synthetic parcel fabric: geometry, cadastral numbers, categories, rights and "
            "right holders' names are invented; not the State Land Cadastre."
        ),
    },
    "zones": {
        "illustrative": "true",
        "source": _GENERATOR,
        "note": "Illustrative legal zoning plan; not adopted by any local council.",
    },
    "protected_areas": {
        "illustrative": "true",
        "source": _GENERATOR,
        "note": "An invented natural monument with core and buffer zones.",
    },
    "water_bodies": {
        "illustrative": "true",
        "source": _GENERATOR,
        "note": "Approximate course of the Isfana river; canals and intake are invented.",
    },
    "forest_fund": {
        "illustrative": "true",
        "source": _GENERATOR,
        "note": "Invented forest fund plots.",
    },
    "hazard_zones": {
        "illustrative": "true",
        "source": _GENERATOR,
        "note": "Invented hazard zones for the demo; not a hazard assessment.",
    },
    "restrictions": {
        "illustrative": "true",
        "source": _GENERATOR,
        "note": "Invented border and sanitary protection zones; widths are not norms.",
    },
    "facilities": {
        "illustrative": "true",
        "source": (
            f"{_GENERATOR}; totals from the Isfana youth strategy: 15 schools with 6 704 pupils, "
            "2 046 over capacity; 22 kindergartens with 1 718 children"
        ),
        "real_attributes": "",
        "note": (
            "Positions and per-facility capacities are illustrative; school capacities add up "
            "to 6 704 - 2 046 = 4 658 places and kindergarten capacities to 1 718 places."
        ),
    },
}

# -- geometry of the invented territory (metres east/north of the city centre) -------------

_BOUNDARY = np.array(
    [
        (-5200, 3200), (-2500, 3650), (0, 3050), (2200, 3550), (4800, 3150),
        (5600, 800), (6200, -2500), (5800, -6000), (6400, -9500), (5600, -13000),
        (4800, -16500), (3600, -19500), (1500, -21800), (-900, -22200), (-3000, -20500),
        (-4300, -17000), (-5200, -13000), (-6000, -9000), (-5600, -5000), (-6300, -1500),
    ],
    dtype=float,
)  # fmt: skip
_RIVER = np.array(
    [
        (-200, -23500), (600, -19000), (1000, -16000), (300, -13000), (-500, -10500),
        (-300, -8000), (500, -6000), (0, -3500), (-400, -1500), (200, 500), (-100, 2500),
        (300, 5000),
    ],
    dtype=float,
)  # fmt: skip
_MAIN_ROAD = np.array(
    [
        (350, 5000), (300, 2500), (650, 500), (0, -1500), (450, -3500), (950, -6000),
        (150, -8000), (-50, -10500), (750, -13000), (2500, -13400), (3300, -13700),
    ],
    dtype=float,
)  # fmt: skip
_BRANCH_ROADS = (
    np.array([(250, -2300), (1500, -2300), (2800, -2500)], dtype=float),  # Murza-Patcha
    np.array([(450, -3500), (-500, -3650), (-1600, -3700)], dtype=float),  # Samat
    np.array([(150, -8000), (-1300, -8400), (-2700, -8600)], dtype=float),  # Tailan
)
_SIDE_VALLEYS = (  # mudflow channels from the mountains to the river
    ("Чимген сели", np.array([(5900, -7700), (3200, -7000), (1200, -6500), (500, -6050)], float)),
    ("Ак-Булак сели", np.array([(5300, -14600), (2600, -13500), (300, -13000)], float)),
    ("Голбо сели", np.array([(-5600, -11600), (-2600, -11300), (-400, -10650)], float)),
)

_CLASS_KY = {"high": "жогорку", "medium": "орточо", "low": "төмөнкү"}
_KG_NAMES = ("Балапан", "Айгерим", "Күнөс", "Бөбөк", "Жылдыз", "Ак-Бата", "Чолпон", "Нур")

# Synthetic right holders: realistic Kyrgyz and Uzbek name forms, invented combinations.
_KY_MALE = (
    "Бакыт", "Нурлан", "Азамат", "Талант", "Улан", "Эрмек", "Жыргалбек", "Мирлан", "Айбек",
    "Нурбек", "Канат", "Бекжан", "Эльдияр", "Темирлан", "Алмаз", "Максат",
)  # fmt: skip
_KY_FEMALE = (
    "Айгүл", "Гүлнара", "Жылдыз", "Нургүл", "Айпери", "Бермет", "Чолпон", "Асел", "Динара",
    "Мээрим", "Бурул", "Айзада",
)  # fmt: skip
_KY_FATHER = (
    "Асан", "Үсөн", "Токтосун", "Бейшен", "Абдыкадыр", "Жумабай", "Эшмат", "Ташмат", "Мамат",
    "Турдубай", "Садыр", "Орозбай", "Карабай", "Сапар",
)  # fmt: skip
_UZ_MALE = (
    "Шерзод", "Рустам", "Бахтиёр", "Улугбек", "Жасур", "Фаррух", "Дилшод", "Азизбек", "Ойбек",
    "Равшан", "Ахмаджон", "Икромжон",
)  # fmt: skip
_UZ_FEMALE = (
    "Дилноза", "Гулнора", "Мохира", "Нодира", "Зулфия", "Шахноза", "Феруза", "Малика",
    "Гулчехра", "Севара",
)  # fmt: skip
_UZ_FATHER = (
    "Рахим", "Карим", "Ахмад", "Тохир", "Абдулла", "Хамид", "Исмоил", "Назар", "Собир",
    "Эргаш", "Холмат", "Турсун",
)  # fmt: skip

_PARCEL_COLUMNS = (
    "cadastral_no", "land_category", "ag_subtype", "designated_use", "ownership", "holder",
    "right_type", "lease_until", "in_use", "state_ag_fund", "official_area_ha", "settlement",
)  # fmt: skip

# Random streams: one per purpose, so changing one part of the build leaves the others.
_S_BOUNDARY, _S_BLOBS, _S_FACILITIES, _S_HOUSING, _S_FABRIC, _S_ATTRS, _S_NAMES = range(7)


# -- small vectorised helpers ---------------------------------------------------------------


def _rng(seed: int, stream: int, *sub: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, stream, *sub]))


def _origin() -> np.ndarray:
    """Isfana's centre in UTM 42N, rounded to the metre so the build is exactly repeatable."""
    transformer = Transformer.from_crs(4326, CRS_EPSG, always_xy=True)
    x, y = transformer.transform(*CENTRE_LONLAT)
    return np.array([round(x), round(y)], dtype=float)


def _smooth(coords: np.ndarray, iterations: int = 3) -> np.ndarray:
    """Chaikin corner cutting: a polyline that reads as a river or a mountain road."""
    for _ in range(iterations):
        p, q = coords[:-1], coords[1:]
        cut = np.empty(((len(coords) - 1) * 2, 2))
        cut[0::2] = 0.75 * p + 0.25 * q
        cut[1::2] = 0.25 * p + 0.75 * q
        coords = np.vstack([coords[:1], cut, coords[-1:]])
    return coords


def _rectangles(
    x0: np.ndarray,
    x1: np.ndarray,
    y0: np.ndarray,
    y1: np.ndarray,
    *,
    angle_deg: float,
    centre: np.ndarray,
) -> np.ndarray:
    """Rectangles given in a local frame, rotated by ``angle_deg`` and moved to ``centre``.

    ``centre`` is one point (2,) or one per rectangle (n, 2). Neighbours built from the
    same edge values get bit-identical shared corners, so a block of plots is a clean
    coverage.
    """
    xs = np.stack([x0, x1, x1, x0], axis=-1)
    ys = np.stack([y0, y0, y1, y1], axis=-1)
    a = math.radians(angle_deg)
    c, s = math.cos(a), math.sin(a)
    at = np.asarray(centre, dtype=float).reshape(-1, 2)
    coords = np.stack([at[:, :1] + xs * c - ys * s, at[:, 1:] + xs * s + ys * c], axis=-1)
    return shapely.polygons(coords)


def _boxes(centres: np.ndarray, w: np.ndarray, h: np.ndarray, angle_deg: float) -> np.ndarray:
    """Rectangles of ``w`` x ``h`` metres centred on ``centres`` (n, 2), rotated."""
    return _rectangles(-w / 2, w / 2, -h / 2, h / 2, angle_deg=angle_deg, centre=centres)


def _blob(
    centre: np.ndarray,
    area_m2: float,
    rng: np.random.Generator,
    *,
    stretch: float = 1.0,
    angle_deg: float = 0.0,
    vertices: int = 72,
) -> shapely.Polygon:
    """An irregular star-shaped outline of exactly ``area_m2`` around ``centre``."""
    theta = np.linspace(0.0, 2.0 * math.pi, vertices, endpoint=False)
    k = np.arange(2, 6)
    amplitude = rng.uniform(0.03, 0.10, k.size) / np.sqrt(k)
    phase = rng.uniform(0.0, 2.0 * math.pi, k.size)
    r = 1.0 + (amplitude[:, None] * np.cos(k[:, None] * theta + phase[:, None])).sum(axis=0)
    x, y = r * np.cos(theta) * stretch, r * np.sin(theta) / stretch
    a = math.radians(angle_deg)
    xr, yr = x * math.cos(a) - y * math.sin(a), x * math.sin(a) + y * math.cos(a)
    unit = shapely.Polygon(np.column_stack([xr, yr]))
    factor = math.sqrt(area_m2 / unit.area)
    return shapely.Polygon(np.column_stack([xr, yr]) * factor + centre)


def _polygon_parts(geoms: np.ndarray) -> np.ndarray:
    """Polygons of any (multi)polygon or collection, dropping lines and points."""
    parts = shapely.get_parts(shapely.get_parts(geoms))
    return parts[shapely.get_type_id(parts) == 3]


def _largest_remainder(total: int, weights: np.ndarray) -> np.ndarray:
    """Integers proportional to ``weights`` that add up to ``total`` exactly."""
    raw = total * weights / weights.sum()
    base = np.floor(raw).astype(np.int64)
    order = np.argsort(-(raw - base), kind="stable")
    base[order[: total - int(base.sum())]] += 1
    return base


class _Claims:
    """Hands out disjoint pieces of the municipality, first come first served."""

    def __init__(self, municipality: BaseGeometry) -> None:
        self.municipality = municipality
        self.taken: BaseGeometry = shapely.Polygon()

    def claim(self, raw: BaseGeometry) -> BaseGeometry:
        piece = shapely.difference(shapely.intersection(raw, self.municipality), self.taken)
        parts = _polygon_parts(np.array([piece]))
        # Slivers of almost no area left by the differences make later overlays unreliable
        # (GEOS may then clip a cell to the whole cell), so they are not handed out.
        piece = shapely.union_all(parts[shapely.area(parts) >= 1.0])
        self.taken = shapely.union(self.taken, piece)
        return piece


# -- the build ------------------------------------------------------------------------------


def build_isfana(*, seed: int = DEFAULT_SEED) -> dict[str, gpd.GeoDataFrame]:
    """Build every layer of the Isfana demo workspace in EPSG:32642.

    Parameters
    ----------
    seed
        Seed of every random draw; the same seed gives identical frames.

    Returns
    -------
    dict
        ``municipality``, ``settlements``, ``parcels``, ``zones``, ``protected_areas``,
        ``water_bodies``, ``forest_fund``, ``hazard_zones``, ``restrictions`` and
        ``facilities``, with the columns and codes of ``data/schemas/layers.json``.
    """
    origin = _origin()
    municipality = _municipality_polygon(seed, origin)
    shapely.prepare(municipality)

    def local(coords: np.ndarray) -> np.ndarray:
        return coords + origin

    river = _clip_line(shapely.LineString(local(_smooth(_RIVER))), municipality)
    main_road = _clip_line(shapely.LineString(local(_smooth(_MAIN_ROAD))), municipality)
    branches = [shapely.LineString(local(_smooth(b, 2))) for b in _BRANCH_ROADS]
    roads = shapely.union_all([main_road, *branches])

    claims = _Claims(municipality)
    water_zone = claims.claim(shapely.buffer(river, 30.0))
    road_zone = claims.claim(shapely.buffer(roads, 10.0))

    blobs_rng = _rng(seed, _S_BLOBS)
    exit_point = np.array(shapely.get_coordinates(main_road.interpolate(260.0))[0])
    industry_sites = {
        "plant": (local(np.array([[2100.0, 1500.0]])), 520.0, 400.0, 10.0),
        "landfill": (local(np.array([[-3600.0, -1900.0]])), 260.0, 240.0, 0.0),
        "customs": (exit_point[None, :] + [[140.0, 0.0]], 160.0, 120.0, 0.0),
    }
    industry = {
        key: claims.claim(_boxes(centre, np.array([w]), np.array([h]), angle)[0])
        for key, (centre, w, h, angle) in industry_sites.items()
    }

    # Built-up areas sized from the real household counts.
    centres = local(np.array([s.offset for s in SETTLEMENTS], dtype=float))
    plot_share = np.array([0.86 if s.is_city else 0.92 for s in SETTLEMENTS])
    efficiency = np.array([0.66 if s.is_city else 0.62 for s in SETTLEMENTS])
    households = np.array([s.households for s in SETTLEMENTS], dtype=float)
    blob_areas = households * plot_share * 840.0 / efficiency
    stretch = blobs_rng.uniform(1.0, 1.25, len(SETTLEMENTS))
    blob_angles = blobs_rng.uniform(0.0, 180.0, len(SETTLEMENTS))
    settlement_rngs = [_rng(seed, _S_BLOBS, i) for i in range(len(SETTLEMENTS))]
    outlines = [
        shapely.intersection(
            _blob(centres[i], blob_areas[i], settlement_rngs[i], stretch=stretch[i],
                  angle_deg=blob_angles[i]),
            municipality,
        )
        for i in range(len(SETTLEMENTS))
    ]  # fmt: skip
    settlement_zones = [claims.claim(outline) for outline in outlines]

    protected_core = claims.claim(
        _blob(local(np.array([-2300.0, -18600.0])), 2_800_000.0, blobs_rng, stretch=1.2)
    )
    forests = [
        claims.claim(_blob(local(np.array([2300.0, -17000.0])), 6_200_000.0, blobs_rng)),
        claims.claim(_blob(local(np.array([-3500.0, -14000.0])), 3_800_000.0, blobs_rng)),
    ]
    # The deliberate gap: claimed so that no later zone (and so no parcel) covers it, as
    # land the inventory has not reached yet.
    claims.claim(_blob(local(np.array([4300.0, -10300.0])), 3_600_000.0, blobs_rng, stretch=1.3))
    reserve_zone = claims.claim(
        shapely.union_all(
            [
                _blob(local(np.array([-4300.0, -6300.0])), 1_300_000.0, blobs_rng),
                _blob(local(np.array([4500.0, -4700.0])), 900_000.0, blobs_rng),
                _blob(local(np.array([-1500.0, -16200.0])), 1_100_000.0, blobs_rng),
            ]
        )
    )
    big = 100_000.0
    valley_box = shapely.box(*local(np.array([-big, -14500.0])), *local(np.array([big, big])))
    foothill_box = shapely.box(*local(np.array([-big, -16800.0])), *local(np.array([big, big])))
    valley_zone = claims.claim(shapely.intersection(shapely.buffer(river, 2200.0), valley_box))
    foothill_zone = claims.claim(shapely.intersection(shapely.buffer(river, 4400.0), foothill_box))
    mountain_zone = claims.claim(municipality)

    # Settlements: facilities, housing blocks, streets.
    facility_rows = _facility_boxes(seed, centres, settlement_zones)
    housing = _housing_plots(seed, centres, settlement_zones, facility_rows)
    streets = _streets(settlement_zones, housing, facility_rows)

    reserve_dev = _reserve_dev_areas(local, settlement_zones)
    groups = [
        _settlement_parcels(housing, facility_rows, streets, seed),
        _water_road_parcels(water_zone, road_zone, industry, origin),
        _fabric_parcels(
            seed, origin, river, outlines,
            valley=valley_zone, foothills=foothill_zone, mountains=mountain_zone,
            forests=forests, protected_core=protected_core, reserve=reserve_zone,
            reserve_dev=reserve_dev,
        ),
    ]  # fmt: skip
    parcels = _finish_parcels(pd.concat(groups, ignore_index=True), seed, outlines, origin)

    layers: dict[str, gpd.GeoDataFrame] = {
        "municipality": _municipality_frame(municipality),
        "settlements": _settlements_frame(outlines),
        "parcels": parcels,
        "zones": _zones_frame(
            local,
            river,
            outlines,
            industry,
            protected_core,
            forests,
            reserve_dev,
            facility_rows,
            municipality,
        ),
        "protected_areas": _protected_frame(protected_core, municipality),
        "water_bodies": _water_frame(local, river),
        "forest_fund": _forest_frame(forests),
        "hazard_zones": _hazard_frame(local, river, municipality),
        "restrictions": _restrictions_frame(municipality, industry, facility_rows, main_road),
        "facilities": _facilities_frame(facility_rows, seed),
    }
    return layers


def _municipality_polygon(seed: int, origin: np.ndarray) -> shapely.Polygon:
    """The invented boundary: wobbly edges, then scaled about its centroid to 28 950 ha."""
    rng = _rng(seed, _S_BOUNDARY)
    vertices = _BOUNDARY + rng.uniform(-150.0, 150.0, _BOUNDARY.shape)
    following = np.roll(vertices, -1, axis=0)
    steps = 8
    t = np.arange(steps) / steps
    edge = following - vertices
    points = vertices[:, None, :] + edge[:, None, :] * t[None, :, None]
    normal = np.column_stack([edge[:, 1], -edge[:, 0]]) / np.hypot(edge[:, 0], edge[:, 1])[:, None]
    wobble = 130.0 * np.sin(math.pi * t)[None, :] * rng.normal(0.0, 1.0, (len(vertices), steps))
    ring = (points + normal[:, None, :] * wobble[..., None]).reshape(-1, 2) + origin
    polygon = shapely.Polygon(ring)
    if not polygon.is_valid:  # pragma: no cover - guards a change of the constants
        raise RuntimeError(f"the generated boundary is invalid: {shapely.is_valid_reason(polygon)}")
    factor = math.sqrt(OFFICIAL_AREA_HA * 10_000.0 / polygon.area)
    scaled = affinity.scale(polygon, factor, factor, origin="centroid")
    # One more scaling step absorbs the rounding of the first.
    factor = math.sqrt(OFFICIAL_AREA_HA * 10_000.0 / scaled.area)
    return affinity.scale(scaled, factor, factor, origin="centroid")


def _clip_line(line: shapely.LineString, polygon: BaseGeometry) -> shapely.LineString:
    """The longest piece of ``line`` inside ``polygon``."""
    parts = shapely.get_parts(shapely.line_merge(shapely.intersection(line, polygon)))
    parts = parts[shapely.get_type_id(parts) == 1]
    return parts[int(np.argmax(shapely.length(parts)))]


def _facility_boxes(seed: int, centres: np.ndarray, zones: Sequence[BaseGeometry]) -> pd.DataFrame:
    """Sites of schools, kindergartens, clinics, bazaar, park and cemeteries, per settlement.

    Candidate sites lie on a hexagonal grid whose spacing exceeds the sum of any two
    half-diagonals, so boxes on different sites can never overlap; a site is usable when
    the box fits inside the settlement's land.
    """
    frames = []
    for index, spec in enumerate(SETTLEMENTS):  # seven settlements, not rows
        rng = _rng(seed, _S_FACILITIES, index)
        zone = zones[index]
        kinds: list[tuple[str, float, float]] = []
        if spec.is_city:
            kinds += [("park", 200.0, 250.0), ("bazaar", 120.0, 140.0)]
            kinds += [("hospital", 120.0, 150.0), ("clinic", 60.0, 80.0)]
        else:
            kinds += [("clinic", 40.0, 50.0)] * spec.clinics
        kinds += [("school", 90.0, 110.0)] * spec.schools
        kinds += [("kindergarten", 50.0, 60.0)] * spec.kindergartens
        if spec.cemetery:
            kinds += [("cemetery", 150.0, 200.0) if spec.is_city else ("cemetery", 80.0, 100.0)]
        kind = np.array([k for k, _, _ in kinds], dtype=object)
        w = np.array([k[1] for k in kinds])
        h = np.array([k[2] for k in kinds])
        half_diagonal = np.hypot(w, h) / 2
        # Any two boxes on different sites stay apart: spacing > two largest half-diagonals.
        spacing = 320.0 if spec.is_city else float(np.sort(half_diagonal)[-2:].sum() + 10.0)
        sites = _pick_sites(kind, half_diagonal, zone, centres[index], spacing, rng)
        if sites is None:  # pragma: no cover - guards a change of the constants
            raise RuntimeError(f"no room for the facilities of {spec.name}")
        site_xy = shapely.get_coordinates(sites)
        boxes = _boxes(site_xy, w, h, spec.angle)
        private = (kind == "kindergarten") & (rng.random(len(kinds)) < 0.2)
        frames.append(
            pd.DataFrame(
                {"settlement_index": index, "kind": kind, "private": private, "geometry": boxes}
            )
        )
    out = pd.concat(frames, ignore_index=True)
    inside = shapely.contains(
        np.array([zones[i] for i in out["settlement_index"]], dtype=object),
        out["geometry"].to_numpy(),
    )
    if not inside.all():  # pragma: no cover - guards a change of the constants
        raise RuntimeError("a facility box leaves its settlement")
    return out


def _pick_sites(
    kind: np.ndarray,
    half_diagonal: np.ndarray,
    zone: BaseGeometry,
    centre: np.ndarray,
    spacing: float,
    rng: np.random.Generator,
) -> np.ndarray | None:
    """One site per facility on a hexagonal grid, or ``None`` when they do not fit.

    The park takes the site nearest the centre, the cemetery the farthest, the others
    (largest first) the next usable site in a random order. A few shifts of the grid are
    tried before giving up, so small villages cut by the river still find room.
    """
    minx, miny, maxx, maxy = zone.bounds
    order_by_size = np.argsort(-half_diagonal, kind="stable")
    priority = np.concatenate(
        [
            np.flatnonzero(kind == "park"),
            np.flatnonzero(kind == "cemetery"),
            order_by_size[~np.isin(kind[order_by_size], ["park", "cemetery"])],
        ]
    )
    for dx, dy in ((0.0, 0.0), (0.5, 0.25), (0.25, 0.5), (0.75, 0.75), (0.5, 0.0)):
        gx, gy = np.meshgrid(
            np.arange(minx + dx * spacing, maxx + spacing, spacing),
            np.arange(miny + dy * spacing, maxy + spacing, spacing),
        )
        gx = gx + (np.arange(gx.shape[0])[:, None] % 2) * spacing / 2
        sites = shapely.points(gx.ravel(), gy.ravel())
        inside = shapely.contains(zone, sites)
        room = np.where(inside, shapely.distance(sites, zone.boundary), 0.0)
        to_centre = shapely.distance(sites, shapely.Point(centre))
        shuffled = rng.permutation(len(sites))
        free = np.ones(len(sites), dtype=bool)
        chosen = np.full(len(kind), -1)
        for facility in priority:  # a few dozen facilities, not parcels
            fits = free & (room > half_diagonal[facility] + 5.0)
            if not fits.any():
                break
            candidates = np.flatnonzero(fits)
            if kind[facility] == "park":
                site = candidates[np.argmin(to_centre[candidates])]
            elif kind[facility] == "cemetery":
                site = candidates[np.argmax(to_centre[candidates])]
            else:
                site = shuffled[fits[shuffled]][0]
            chosen[facility] = site
            free[site] = False
        if (chosen >= 0).all():
            return sites[chosen]
    return None


def _housing_plots(
    seed: int, centres: np.ndarray, zones: Sequence[BaseGeometry], facilities: pd.DataFrame
) -> pd.DataFrame:
    """Street blocks of housing plots: two rows of plots back to back, streets between.

    Plots are 21–27 m wide and 30–40 m deep (0.063–0.108 ha); a plot is kept when it lies
    wholly inside the settlement's land and clear of the facility sites.
    """
    frames = []
    for index, spec in enumerate(SETTLEMENTS):
        rng = _rng(seed, _S_HOUSING, index)
        boxes = facilities.loc[facilities["settlement_index"] == index, "geometry"].to_numpy()
        room = shapely.difference(zones[index], shapely.union_all(boxes))
        shapely.prepare(room)
        reach = float(shapely.hausdorff_distance(shapely.Point(centres[index]), zones[index]))
        ncols = int(2 * reach / 24) + 4
        width = rng.uniform(21.0, 27.0, ncols)
        lane = np.where(np.arange(ncols) % 12 == 11, 8.0, 0.0)  # a lane every 12 plots
        right = np.cumsum(width + lane) - lane
        left = right - width
        nblocks = int(2 * reach / (2 * 35 + 12)) + 3
        depth = rng.uniform(30.0, 40.0, nblocks)
        block_start = np.concatenate([[0.0], np.cumsum(2 * depth + 12.0)[:-1]])
        row_y0 = np.column_stack([block_start, block_start + depth]).ravel()
        row_y1 = np.column_stack([block_start + depth, block_start + 2 * depth]).ravel()
        shift_x, shift_y = (right[-1]) / 2, (row_y1[-1]) / 2
        grid_col, grid_row = np.meshgrid(np.arange(ncols), np.arange(2 * nblocks))
        col, row = grid_col.ravel(), grid_row.ravel()
        plots = _rectangles(
            left[col] - shift_x, right[col] - shift_x, row_y0[row] - shift_y, row_y1[row] - shift_y,
            angle_deg=spec.angle, centre=centres[index],
        )  # fmt: skip
        keep = shapely.contains(room, plots)
        frames.append(pd.DataFrame({"settlement_index": index, "geometry": plots[keep]}))
    return pd.concat(frames, ignore_index=True)


def _streets(
    zones: Sequence[BaseGeometry], housing: pd.DataFrame, facilities: pd.DataFrame
) -> list[BaseGeometry]:
    """Streets and other common land: the settlement's land not in a plot or a site."""
    out = []
    for index, zone in enumerate(zones):
        built = np.concatenate(
            [
                housing.loc[housing["settlement_index"] == index, "geometry"].to_numpy(),
                facilities.loc[facilities["settlement_index"] == index, "geometry"].to_numpy(),
            ]
        )
        rest = _polygon_parts(np.array([shapely.difference(zone, shapely.union_all(built))]))
        rest = rest[shapely.area(rest) >= 50.0]
        out.append(shapely.multipolygons(rest))
    return out


def _reserve_dev_areas(local: Any, settlement_zones: Sequence[BaseGeometry]) -> BaseGeometry:
    """Future development areas next to Isfana and Chimgen, on state-fund farmland."""
    areas = shapely.union_all(
        [
            shapely.box(*local(np.array([1500.0, -1700.0])), *local(np.array([2700.0, -300.0]))),
            shapely.box(*local(np.array([-700.0, -7500.0])), *local(np.array([200.0, -6900.0]))),
        ]
    )
    return shapely.difference(areas, shapely.union_all(list(settlement_zones)))


def _settlement_parcels(
    housing: pd.DataFrame, facilities: pd.DataFrame, streets: Sequence[BaseGeometry], seed: int
) -> pd.DataFrame:
    """Housing plots, facility sites and common land of the settlements."""
    rng = _rng(seed, _S_ATTRS, 1)
    n = len(housing)
    names = np.array([s.name for s in SETTLEMENTS], dtype=object)
    municipal = rng.random(n) < 0.04  # unallocated municipal plots
    commerce = ~municipal & (rng.random(n) < 0.025)  # shops on housing land
    in_use = np.where(municipal, rng.random(n) < 0.1, rng.random(n) < 0.93)
    houses = pd.DataFrame(
        {
            "land_category": "settlement",
            "ag_subtype": "empty",
            "designated_use": np.where(commerce, "commerce", "individual_housing"),
            "ownership": np.where(municipal, "municipal", "private"),
            "right_type": np.where(municipal, "none", "ownership"),
            "in_use": in_use,
            "state_ag_fund": False,
            "settlement": names[housing["settlement_index"].to_numpy()],
            "geometry": housing["geometry"].to_numpy(),
        }
    )
    kind = facilities["kind"].to_numpy()
    use = {
        "park": "recreation", "bazaar": "commerce", "hospital": "health", "clinic": "health",
        "school": "school", "kindergarten": "kindergarten", "cemetery": "cemetery",
    }  # fmt: skip
    owner = {"hospital": "state", "clinic": "state"}
    right = {"park": "none", "cemetery": "none", "bazaar": "lease"}
    private_kg = facilities["private"].to_numpy(dtype=bool)
    sites = pd.DataFrame(
        {
            "land_category": "settlement",
            "ag_subtype": "empty",
            "designated_use": [use[k] for k in kind],
            "ownership": np.where(private_kg, "private", [owner.get(k, "municipal") for k in kind]),
            "right_type": np.where(private_kg, "ownership", [right.get(k, "use") for k in kind]),
            "in_use": True,
            "state_ag_fund": False,
            "settlement": names[facilities["settlement_index"].to_numpy()],
            "geometry": facilities["geometry"].to_numpy(),
        }
    )
    common = pd.DataFrame(
        {
            "land_category": "settlement",
            "ag_subtype": "empty",
            "designated_use": "transport",
            "ownership": "municipal",
            "right_type": "none",
            "in_use": True,
            "state_ag_fund": False,
            "settlement": names,
            "geometry": np.array(streets, dtype=object),
        }
    )
    return pd.concat([houses, sites, common], ignore_index=True)


def _water_road_parcels(
    water: BaseGeometry,
    road: BaseGeometry,
    industry: Mapping[str, BaseGeometry],
    origin: np.ndarray,
) -> pd.DataFrame:
    """The river strip and the roads, cut into 1.5 km sections; plant, landfill, customs."""
    bands = np.arange(-25_000.0, 6_000.0, 1_500.0) + origin[1]
    cutters = shapely.box(origin[0] - 50_000, bands, origin[0] + 50_000, bands + 1_500.0)
    water_parts = _polygon_parts(shapely.intersection(cutters, water))
    road_parts = _polygon_parts(shapely.intersection(cutters, road))
    water_parts = water_parts[shapely.area(water_parts) >= 20.0]
    road_parts = road_parts[shapely.area(road_parts) >= 20.0]
    frames = [
        pd.DataFrame({"land_category": "water_fund", "designated_use": "water",
                      "ownership": "state", "right_type": "none", "geometry": water_parts}),
        pd.DataFrame({"land_category": "industry_transport", "designated_use": "transport",
                      "ownership": "state", "right_type": "use", "geometry": road_parts}),
        pd.DataFrame(
            {
                "land_category": "industry_transport",
                "designated_use": ["industry", "industry", "transport"],
                "ownership": ["private", "municipal", "state"],
                "right_type": ["ownership", "use", "use"],
                "geometry": [industry["plant"], industry["landfill"], industry["customs"]],
            }
        ),
    ]  # fmt: skip
    out = pd.concat(frames, ignore_index=True)
    return out.assign(ag_subtype="empty", in_use=True, state_ag_fund=False, settlement=None)


def _voronoi_cells(
    zone: BaseGeometry,
    spacing: float,
    rng: np.random.Generator,
    *,
    min_area: float,
    angle_deg: float = 0.0,
) -> np.ndarray:
    """Cut ``zone`` into fields: Voronoi cells of a jittered grid of seeds, clipped."""
    if zone.is_empty:
        return np.empty(0, dtype=object)
    minx, miny, maxx, maxy = zone.bounds
    cx, cy = (minx + maxx) / 2, (miny + maxy) / 2
    reach = math.hypot(maxx - minx, maxy - miny) / 2 + spacing
    steps = np.arange(-reach, reach + spacing, spacing)
    gx, gy = np.meshgrid(steps, steps)
    pts = np.column_stack([gx.ravel(), gy.ravel()])
    pts += rng.uniform(-0.35, 0.35, pts.shape) * spacing
    a = math.radians(angle_deg)
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    pts = pts @ rot.T + [cx, cy]
    inside = (
        (pts[:, 0] > minx - spacing) & (pts[:, 0] < maxx + spacing)
        & (pts[:, 1] > miny - spacing) & (pts[:, 1] < maxy + spacing)
    )  # fmt: skip
    pts = pts[inside]
    frame = shapely.box(
        minx - 3 * spacing, miny - 3 * spacing, maxx + 3 * spacing, maxy + 3 * spacing
    )
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(pts), extend_to=frame))
    shapely.prepare(zone)
    cells = cells[shapely.intersects(zone, cells)]
    whole = shapely.contains(zone, cells)
    clipped = _polygon_parts(shapely.intersection(cells[~whole], zone))
    parts = np.concatenate([cells[whole], clipped])
    return parts[shapely.area(parts) >= min_area]


def _fabric_parcels(
    seed: int,
    origin: np.ndarray,
    river: BaseGeometry,
    outlines: Sequence[BaseGeometry],
    *,
    valley: BaseGeometry,
    foothills: BaseGeometry,
    mountains: BaseGeometry,
    forests: Sequence[BaseGeometry],
    protected_core: BaseGeometry,
    reserve: BaseGeometry,
    reserve_dev: BaseGeometry,
) -> pd.DataFrame:
    """Farmland, pastures, forest, protected and reserve land outside the settlements."""
    rng = _rng(seed, _S_FABRIC)
    valley_cells = _voronoi_cells(valley, 190.0, rng, min_area=1500.0, angle_deg=8.0)
    foothill_cells = _voronoi_cells(foothills, 420.0, rng, min_area=8000.0, angle_deg=-12.0)
    mountain_cells = _voronoi_cells(mountains, 1300.0, rng, min_area=50_000.0, angle_deg=20.0)
    forest_cells = _voronoi_cells(shapely.union_all(list(forests)), 900.0, rng, min_area=20_000.0)
    reserve_cells = _voronoi_cells(reserve, 380.0, rng, min_area=5000.0)
    protected_cells = _voronoi_cells(protected_core, 1000.0, rng, min_area=20_000.0)

    attrs = _rng(seed, _S_ATTRS, 3)
    # Valley: irrigated fields; apricot orchards next to the villages; meadows by the river.
    n = len(valley_cells)
    centroids = shapely.centroid(valley_cells)
    near_village = (
        np.min(np.stack([shapely.distance(centroids, o) for o in outlines]), axis=0) < 500.0
    )
    near_river = shapely.distance(centroids, river) < 250.0
    draw = attrs.random(n)
    valley_type = np.select(
        [near_village & (draw < 0.6), near_river & (draw < 0.45), draw < 0.10, draw < 0.16],
        ["perennial", "hayfield", "perennial", "hayfield"],
        "arable_irrigated",
    )
    foothill_type = np.where(attrs.random(len(foothill_cells)) < 0.22, "hayfield", "arable_rainfed")
    farmland = pd.DataFrame(
        {
            "ag_subtype": np.concatenate([valley_type, foothill_type]),
            "geometry": np.concatenate([valley_cells, foothill_cells]),
            "zone": ["valley"] * n + ["foothills"] * len(foothill_cells),
        }
    )
    m = len(farmland)
    fund = attrs.random(m) < 0.2
    in_reserve_dev = shapely.contains(
        reserve_dev, shapely.centroid(farmland["geometry"].to_numpy())
    )
    fund |= in_reserve_dev
    leased = fund & ~in_reserve_dev & (attrs.random(m) < 0.6)
    rainfed = farmland["ag_subtype"].to_numpy() == "arable_rainfed"
    private_use = attrs.random(m) < np.where(rainfed, 0.72, 0.9)
    farmland = farmland.assign(
        land_category="agricultural",
        designated_use="agriculture",
        ownership=np.where(fund, "municipal", "private"),
        right_type=np.select([leased, fund], ["lease", "none"], "ownership"),
        in_use=np.select(
            [leased, fund, np.ones(m, dtype=bool)],
            [attrs.random(m) < 0.95, attrs.random(m) < 0.12, private_use],
        ),
        state_ag_fund=fund,
    ).drop(columns="zone")

    k = len(mountain_cells)
    draw = attrs.random(k)
    pasture_owner = np.select([draw < 0.08, draw < 0.38], ["private", "state"], "municipal")
    pasture_right = np.select(
        [pasture_owner == "private", pasture_owner == "state", attrs.random(k) < 0.15],
        ["ownership", "use", "lease"],
        "none",
    )
    pastures = pd.DataFrame(
        {
            "land_category": "agricultural",
            "ag_subtype": "pasture",
            "designated_use": "pasture",
            "ownership": pasture_owner,
            "right_type": pasture_right,
            "in_use": attrs.random(k) < 0.85,
            "state_ag_fund": False,
            "geometry": mountain_cells,
        }
    )
    r = len(reserve_cells)
    other = pd.concat(
        [
            pd.DataFrame({"land_category": "forest_fund", "designated_use": "forestry",
                          "ownership": "state", "right_type": "use", "in_use": True,
                          "geometry": forest_cells}),
            pd.DataFrame({"land_category": "protected", "designated_use": "none",
                          "ownership": "state", "right_type": "use", "in_use": True,
                          "geometry": protected_cells}),
            pd.DataFrame({"land_category": "reserve", "designated_use": "none",
                          "ownership": np.where(attrs.random(r) < 0.6, "state", "municipal"),
                          "right_type": "none", "in_use": False, "geometry": reserve_cells}),
        ],
        ignore_index=True,
    ).assign(ag_subtype="empty", state_ag_fund=False)  # fmt: skip
    return pd.concat([farmland, pastures, other], ignore_index=True).assign(settlement=None)


def _russified(names: np.ndarray) -> np.ndarray:
    """Surname stem from a father's name: Асан → Асанов, Жумабай → Жумабаев, Абдулла → Абдуллаев."""
    text = pd.Series(names, dtype=object).astype(str)
    soft = text.str.endswith("й") | text.str.contains("[аеиоуыэюяөү]$", regex=True)
    stem = text.str.replace("й$", "", regex=True)
    return np.where(soft.to_numpy(), stem + "ев", stem + "ов").astype(object)


def _holder_names(n: int, rng: np.random.Generator) -> np.ndarray:
    """Invented right holders in Kyrgyz and Uzbek name forms (never real people)."""
    female = rng.random(n) < 0.35
    uzbek = rng.random(n) < 0.47  # the city is about 47 % Uzbek, 52 % Kyrgyz
    style = rng.random(n)
    first = np.where(
        uzbek,
        np.where(female, np.array(_UZ_FEMALE)[rng.integers(0, len(_UZ_FEMALE), n)],
                 np.array(_UZ_MALE)[rng.integers(0, len(_UZ_MALE), n)]),
        np.where(female, np.array(_KY_FEMALE)[rng.integers(0, len(_KY_FEMALE), n)],
                 np.array(_KY_MALE)[rng.integers(0, len(_KY_MALE), n)]),
    ).astype(object)  # fmt: skip
    grandfather = np.where(
        uzbek,
        np.array(_UZ_FATHER)[rng.integers(0, len(_UZ_FATHER), n)],
        np.array(_KY_FATHER)[rng.integers(0, len(_KY_FATHER), n)],
    ).astype(object)
    father = np.where(
        uzbek,
        np.array(_UZ_FATHER)[rng.integers(0, len(_UZ_FATHER), n)],
        np.array(_KY_FATHER)[rng.integers(0, len(_KY_FATHER), n)],
    ).astype(object)
    surname: np.ndarray = _russified(grandfather)
    surname_full = np.where(female, surname + "а", surname)
    patronymic: np.ndarray = _russified(father) + np.where(female, "на", "ич")
    russian_style = surname_full + " " + first + " " + patronymic
    son_or_daughter = np.where(
        uzbek, np.where(female, " кизи", " угли"), np.where(female, " кызы", " уулу")
    )
    traditional = first + " " + father + son_or_daughter
    return np.where(style < 0.7, russian_style, traditional).astype(object)


def _finish_parcels(
    frame: pd.DataFrame, seed: int, outlines: Sequence[BaseGeometry], origin: np.ndarray
) -> gpd.GeoDataFrame:
    """Settlement membership, cadastral numbers, holders, leases and official areas."""
    geoms = frame["geometry"].to_numpy()
    points = shapely.point_on_surface(geoms)
    names = np.array([s.name for s in SETTLEMENTS], dtype=object)
    tree = shapely.STRtree(np.array(outlines, dtype=object))
    point_idx, outline_idx = tree.query(points, predicate="within")
    member = np.full(len(frame), -1)
    member[point_idx] = outline_idx
    settlement = frame["settlement"].to_numpy(dtype=object).copy()
    unset = pd.isna(settlement) & (member >= 0)
    settlement[unset] = names[member[unset]]

    # Cadastral number 4-08-ZZ-QQQQ-PPPP: zone (01 city, 02-07 villages, 08 outside),
    # 1 km quarter of the territory, parcel within the quarter numbered north to south.
    zone_of = {s.name: s.cadastral_zone for s in SETTLEMENTS}
    zone = pd.Series(settlement).map(zone_of).fillna(8).astype(int).to_numpy()
    xy = shapely.get_coordinates(points)
    qx = np.floor((xy[:, 0] - origin[0] + 10_000.0) / 1000.0).astype(int)
    qy = np.floor((origin[1] + 6_000.0 - xy[:, 1]) / 1000.0).astype(int)
    quarter = qy * 20 + qx + 1
    order = np.lexsort((np.round(xy[:, 0], 3), -np.round(xy[:, 1], 3), quarter, zone))
    sorted_keys = pd.DataFrame({"zone": zone[order], "quarter": quarter[order]})
    number = np.empty(len(frame), dtype=np.int64)
    number[order] = sorted_keys.groupby(["zone", "quarter"], sort=False).cumcount().to_numpy() + 1
    if number.max(initial=0) > 9999 or quarter.max(initial=0) > 9999:  # pragma: no cover
        raise RuntimeError("cadastral numbering overflow")
    cadastral = (
        "4-08-" + pd.Series(zone).map("{:02d}".format)
        + "-" + pd.Series(quarter).map("{:04d}".format)
        + "-" + pd.Series(number).map("{:04d}".format)
    ).to_numpy(dtype=object)  # fmt: skip

    rng = _rng(seed, _S_NAMES)
    right = frame["right_type"].to_numpy(dtype=object)
    ownership = frame["ownership"].to_numpy(dtype=object)
    named = (ownership == "private") | (right == "lease")
    holders = _holder_names(len(frame), rng)
    holder = pd.Series(holders, dtype=object).where(named, None).to_numpy(dtype=object)
    lease_days = rng.integers(0, 15 * 365, len(frame))
    lease_until = pd.Series(
        pd.Timestamp("2020-12-31") + pd.to_timedelta(lease_days, unit="D")
    ).dt.normalize()
    lease_until = lease_until.where(right == "lease")

    area_ha = shapely.area(geoms) / 10_000.0
    noise = np.clip(rng.normal(0.0, 0.008, len(frame)), -0.03, 0.03)
    off = rng.random(len(frame)) < 0.006  # cadastre errors the validation should flag
    noise = np.where(
        off, rng.choice([-1.0, 1.0], len(frame)) * rng.uniform(0.06, 0.18, len(frame)), noise
    )
    official = np.round(area_ha * (1.0 + noise), 4)

    parcels = gpd.GeoDataFrame(
        {
            "cadastral_no": cadastral,
            "land_category": frame["land_category"].to_numpy(dtype=object),
            "ag_subtype": frame["ag_subtype"].to_numpy(dtype=object),
            "designated_use": frame["designated_use"].to_numpy(dtype=object),
            "ownership": ownership,
            "holder": holder,
            "right_type": right,
            "lease_until": lease_until.to_numpy(),
            "in_use": frame["in_use"].to_numpy(dtype=bool),
            "state_ag_fund": frame["state_ag_fund"].to_numpy(dtype=bool),
            "official_area_ha": official,
            "settlement": settlement,
        },
        geometry=gpd.GeoSeries(geoms, crs=CRS_EPSG),
        crs=CRS_EPSG,
    )
    parcels = parcels.sort_values("cadastral_no", kind="stable").reset_index(drop=True)
    return parcels[[*_PARCEL_COLUMNS, "geometry"]]


# -- the other layers -------------------------------------------------------------------------


def _gdf(
    data: Mapping[str, Any], geometry: Sequence[BaseGeometry] | np.ndarray
) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        dict(data), geometry=gpd.GeoSeries(np.asarray(geometry, dtype=object), crs=CRS_EPSG)
    )


def _municipality_frame(boundary: BaseGeometry) -> gpd.GeoDataFrame:
    return _gdf(
        {
            "name_ky": ["Исфана шаары"],
            "name_ru": ["город Исфана"],
            "name_en": ["Isfana city"],
            "kind": ["city"],
            "oblast": ["Баткен"],
            "district": ["Лейлек"],
            "official_area_ha": [OFFICIAL_AREA_HA],
        },
        [boundary],
    )


def _settlements_frame(outlines: Sequence[BaseGeometry]) -> gpd.GeoDataFrame:
    households = np.array([s.households for s in SETTLEMENTS], dtype=np.int64)
    population = np.array([s.population for s in SETTLEMENTS], dtype=np.int64)
    return _gdf(
        {
            "name": [s.name for s in SETTLEMENTS],
            "name_ky": [s.name_ky for s in SETTLEMENTS],
            "name_ru": [s.name_ru for s in SETTLEMENTS],
            "name_en": [s.name_en for s in SETTLEMENTS],
            "households": households,
            "population": population,
            "household_size": np.round(population / households, 2),
        },
        outlines,
    )


def _zones_frame(
    local: Any,
    river: BaseGeometry,
    outlines: Sequence[BaseGeometry],
    industry: Mapping[str, BaseGeometry],
    protected_core: BaseGeometry,
    forests: Sequence[BaseGeometry],
    reserve_dev: BaseGeometry,
    facilities: pd.DataFrame,
    municipality: BaseGeometry,
) -> gpd.GeoDataFrame:
    """A legal zoning plan covering the whole territory, zones claimed by priority."""
    claims = _Claims(municipality)
    city = outlines[0]
    park = facilities.loc[facilities["kind"] == "park", "geometry"].to_numpy()
    plan: list[tuple[str, str, BaseGeometry]] = [
        ("green", "Исфана дарыясынын жээгиндеги жашыл тилке", shapely.buffer(river, 60.0)),
        ("production", "Өндүрүш жана коммуналдык объекттер зонасы", shapely.union_all(
            [shapely.buffer(industry["plant"], 40.0), shapely.buffer(industry["landfill"], 40.0),
             industry["customs"]])),
        ("recreation", "Шаардык парк", shapely.union_all(park)),
        ("recreation", "Арчалуу-Сай жаратылыш эстелиги жана анын буфердик зонасы",
         shapely.buffer(protected_core, 600.0)),
        ("mixed_centre", "Исфана шаарынын борбору (аралаш пайдалануу)",
         shapely.intersection(shapely.Point(local(np.zeros(2))).buffer(450.0), city)),
        ("residential_multi", "Көп кабаттуу турак жай зонасы", shapely.intersection(
            shapely.box(*local(np.array([450.0, -350.0])), *local(np.array([1100.0, 350.0]))),
            city)),
        ("reserve_dev", "Келечектеги турак жай курулушу үчүн резервдик аймак", reserve_dev),
        *[("residential_individual", f"Жеке турак жай зонасы: {s.name_ky}", outline)
          for s, outline in zip(SETTLEMENTS, outlines, strict=True)],
        ("green", "Токой фондусунун жерлери", shapely.union_all(list(forests))),
        ("agricultural", "Айыл чарба зонасы", municipality),
    ]  # fmt: skip
    claimed = [(kind, name, claims.claim(raw)) for kind, name, raw in plan]
    claimed = [(kind, name, geom) for kind, name, geom in claimed if not geom.is_empty]
    return _gdf(
        {
            "zone_id": [f"Z-{i:02d}" for i in range(1, len(claimed) + 1)],
            "zone_type": [kind for kind, _, _ in claimed],
            "name": [name for _, name, _ in claimed],
        },
        [geom for _, _, geom in claimed],
    )


def _protected_frame(core: BaseGeometry, municipality: BaseGeometry) -> gpd.GeoDataFrame:
    buffer_zone = shapely.intersection(
        shapely.difference(shapely.buffer(core, 600.0), core), municipality
    )
    name = "Арчалуу-Сай жаратылыш эстелиги"
    return _gdf(
        {
            "area_id": ["PA-01-core", "PA-01-buffer"],
            "name": [name, name],
            "pa_type": ["natural_monument", "natural_monument"],
            "subzone": ["core", "buffer"],
        },
        [core, buffer_zone],
    )


def _water_frame(local: Any, river: BaseGeometry) -> gpd.GeoDataFrame:
    """The river, two irrigation canals along the valley and their head intake."""
    intake = river.interpolate(river.project(shapely.Point(local(np.array([300.0, -12200.0])))))
    course = _smooth(_RIVER)
    stretch = course[(course[:, 1] > -11_800.0) & (course[:, 1] < 1_500.0)]
    head = np.array(shapely.get_coordinates(intake))
    left = shapely.LineString(np.vstack([head, local(np.add(stretch, [-800.0, 0.0]))]))
    right = shapely.LineString(np.vstack([head, local(np.add(stretch, [850.0, 0.0]))]))
    return _gdf(
        {
            "water_id": ["W-01", "W-02", "W-03", "W-04"],
            "name": ["Исфана дарыясы", "Сол жээк каналы", "Оң жээк каналы", "Башкы суу алгыч"],
            "kind": ["river", "canal", "canal", "intake"],
            "water_class": ["medium_river", "canal", "canal", "intake"],
        },
        [river, left, right, intake],
    )


def _forest_frame(forests: Sequence[BaseGeometry]) -> gpd.GeoDataFrame:
    return _gdf(
        {
            "forest_id": [f"FF-{i:02d}" for i in range(1, len(forests) + 1)],
            "name": [f"Лейлек токой чарбасы, {i}-участок" for i in range(1, len(forests) + 1)],
        },
        list(forests),
    )


def _hazard_frame(local: Any, river: BaseGeometry, municipality: BaseGeometry) -> gpd.GeoDataFrame:
    """Flood along the river, mudflow along side valleys, landslides on the slopes."""
    valley = shapely.intersection(
        municipality,
        shapely.box(*local(np.array([-100_000.0, -15_000.0])), *local(np.array([100_000.0] * 2))),
    )
    rings = [shapely.intersection(shapely.buffer(river, d), valley) for d in (150.0, 350.0, 600.0)]
    rows: list[tuple[str, str, str, BaseGeometry]] = [
        ("flood", "high", "Исфана дарыясынын суу ташкыны", rings[0]),
        (
            "flood",
            "medium",
            "Исфана дарыясынын суу ташкыны",
            shapely.difference(rings[1], rings[0]),
        ),
        ("flood", "low", "Исфана дарыясынын суу ташкыны", shapely.difference(rings[2], rings[1])),
    ]
    for name, line in _SIDE_VALLEYS:
        channel = shapely.LineString(local(_smooth(line)))
        high = shapely.intersection(shapely.buffer(channel, 90.0), municipality)
        medium = shapely.difference(
            shapely.intersection(shapely.buffer(channel, 220.0), municipality), high
        )
        rows += [("mudflow", "high", name, high), ("mudflow", "medium", name, medium)]
    slides = _rng(0, 99)  # fixed shapes: the hazard picture does not change with the seed
    rows += [
        ("landslide", "high", "Тайлан жер көчкүсү",
         _blob(local(np.array([-3250.0, -8650.0])), 450_000.0, slides, stretch=1.3)),
        ("landslide", "medium", "Мурза-Патча капталы",
         _blob(local(np.array([3800.0, -3000.0])), 800_000.0, slides, stretch=1.2)),
        ("landslide", "low", "Батыш тоо этеги",
         _blob(local(np.array([-4700.0, -3600.0])), 2_500_000.0, slides, stretch=1.4)),
    ]  # fmt: skip
    geoms = shapely.intersection(np.array([g for *_, g in rows], dtype=object), municipality)
    return _gdf(
        {
            "hazard_id": [f"HZ-{i:02d}" for i in range(1, len(rows) + 1)],
            "hazard_type": [t for t, *_ in rows],
            "hazard_class": [c for _, c, *_ in rows],
            "name": [f"{name} ({_CLASS_KY[c]})" for _, c, name, _ in rows],
            "source": "illustrative: " + _GENERATOR + "; not a hazard assessment",
        },
        geoms,
    )


def _restrictions_frame(
    municipality: BaseGeometry,
    industry: Mapping[str, BaseGeometry],
    facilities: pd.DataFrame,
    main_road: BaseGeometry,
) -> gpd.GeoDataFrame:
    """Border zone along the Tajik border (north and west), sanitary zones, road corridor."""
    minx, miny, maxx, maxy = municipality.bounds
    height = maxy - miny
    border_side = shapely.union_all(
        [
            shapely.box(minx - 10, maxy - 0.08 * height, maxx + 10, maxy + 10),
            shapely.box(minx - 10, maxy - 0.45 * height, minx + 0.12 * (maxx - minx), maxy + 10),
        ]
    )
    border = shapely.intersection(municipality.exterior, border_side)
    city_cemetery = facilities.loc[
        (facilities["kind"] == "cemetery") & (facilities["settlement_index"] == 0), "geometry"
    ].to_numpy()[0]
    rows = [
        ("border_zone", "Кыргыз-тажик мамлекеттик чек арасынын тилкеси",
         shapely.buffer(border, 500.0)),
        ("sanitary_zone", "Таштанды полигонунун санитардык-коргоо зонасы",
         shapely.buffer(industry["landfill"], 500.0)),
        ("sanitary_zone", "Исфана көрүстөнүнүн санитардык-коргоо зонасы",
         shapely.buffer(city_cemetery, 100.0)),
        ("sanitary_zone", "Заводдун санитардык-коргоо зонасы",
         shapely.buffer(industry["plant"], 300.0)),
        ("road_corridor", "Негизги автожолдун тилкеси", shapely.buffer(main_road, 50.0)),
    ]  # fmt: skip
    geoms = shapely.intersection(np.array([g for *_, g in rows], dtype=object), municipality)
    return _gdf(
        {
            "restriction_id": [f"R-{i:02d}" for i in range(1, len(rows) + 1)],
            "restriction_type": [t for t, _, _ in rows],
            "name": [n for _, n, _ in rows],
        },
        geoms,
    )


def _facilities_frame(facilities: pd.DataFrame, seed: int) -> gpd.GeoDataFrame:
    """Schools, kindergartens and clinics as points, with capacities that fall short."""
    rng = _rng(seed, _S_FACILITIES, 99)
    rows = facilities[facilities["kind"].isin(["school", "kindergarten", "hospital", "clinic"])]
    rows = rows.reset_index(drop=True)
    kind = rows["kind"].to_numpy(dtype=object)
    index = rows["settlement_index"].to_numpy()
    specs = [SETTLEMENTS[i] for i in index]
    population = np.array([s.population for s in specs], dtype=float)
    per_kind = pd.Series(kind).groupby([index, kind]).transform("size").to_numpy()
    weight = population / per_kind * rng.uniform(0.8, 1.2, len(rows))
    capacity = np.zeros(len(rows), dtype=np.int64)
    schools, kgs = kind == "school", kind == "kindergarten"
    capacity[schools] = _largest_remainder(SCHOOL_PUPILS - SCHOOL_OVER_CAPACITY, weight[schools])
    capacity[kgs] = _largest_remainder(KINDERGARTEN_CHILDREN, weight[kgs])
    capacity[kind == "hospital"] = 150
    clinics = kind == "clinic"
    capacity[clinics] = np.where(index[clinics] == 0, 400, rng.integers(30, 61, clinics.sum()))
    number = pd.Series(np.ones(len(rows))).groupby([index, kind]).cumcount().to_numpy() + 1
    count = per_kind
    name_ky = np.array([s.name_ky for s in specs], dtype=object)
    private = rows["private"].to_numpy(dtype=bool)
    kg_name = np.array(_KG_NAMES, dtype=object)[(number - 1) % len(_KG_NAMES)]
    school_name = np.where(
        index == 0,
        "№" + pd.Series(number).astype(str).to_numpy(dtype=object) + " орто мектеп",
        np.where(
            count > 1,
            name_ky
            + " айылынын №"
            + pd.Series(number).astype(str).to_numpy(dtype=object)
            + " орто мектеби",
            name_ky + " айылынын орто мектеби",
        ),
    )
    kg_label = np.where(private, " жеке бала бакчасы", " бала бакчасы")
    kg_full = np.where(
        index == 0,
        "№"
        + pd.Series(number).astype(str).to_numpy(dtype=object)
        + " «"
        + kg_name
        + "»"
        + kg_label,
        name_ky + ": «" + kg_name + "»" + kg_label,
    )
    clinic_name = np.where(
        index == 0, "Үй-бүлөлүк медицина борбору", name_ky + " фельдшердик-акушердик пункту"
    )
    name = np.select(
        [schools, kgs, kind == "hospital"],
        [school_name, kg_full, "Лейлек райондук борбордук ооруканасы"],
        clinic_name,
    )  # fmt: skip
    return _gdf(
        {
            "facility_id": [f"F-{i:03d}" for i in range(1, len(rows) + 1)],
            "kind": np.where(kind == "hospital", "clinic", kind),
            "name": name,
            "capacity": capacity,
            "settlement": [s.name for s in specs],
        },
        shapely.centroid(rows["geometry"].to_numpy()),
    )


# -- writing the workspace ------------------------------------------------------------------


def write_demo(
    url: str | os.PathLike[str],
    *,
    seed: int = DEFAULT_SEED,
    overwrite: bool = True,
    user: str = "demo-generator",
) -> dict[str, Any]:
    """Build the layers and write them to a new workspace at ``url`` with the store.

    A GeoPackage is written to a temporary file next to the target and moved into place
    only when every layer has been imported, so a failure leaves no half-built demo.

    Returns
    -------
    dict
        The store's import report of each layer, by layer name.
    """
    from pyproj import CRS

    from spatial.store import create_workspace, is_postgis_url

    layers = build_isfana(seed=seed)
    metadata = {
        "demo": "isfana",
        "generator_seed": str(seed),
        "illustrative": (
            "Households, population and the official area of 28 950 ha are real (Isfana youth "
            "strategy, 1 January 2019); every geometry and every parcel is illustrative."
        ),
    }
    postgis = is_postgis_url(url)
    target = Path(url) if not postgis else None
    if target is not None:
        if target.exists() and not overwrite:
            from spatial.errors import ConflictError

            raise ConflictError(f"{target} exists; pass overwrite=True to replace it")
        target.parent.mkdir(parents=True, exist_ok=True)
        building: str | Path = target.with_name(target.stem + ".building.gpkg")
        for leftover in target.parent.glob(target.stem + ".building.gpkg*"):
            leftover.unlink()
    else:
        building = str(url)
    workspace = create_workspace(
        building, layers["municipality"], crs=CRS.from_epsg(CRS_EPSG), overwrite=overwrite,
        user=user, metadata=metadata,
    )  # fmt: skip
    reports: dict[str, Any] = {}
    try:
        try:
            with workspace.transaction():
                for name, frame in layers.items():
                    if name != "municipality":
                        reports[name] = workspace.import_layer(
                            name, frame, user=user, mode="replace"
                        )
                for name, values in LAYER_METADATA.items():
                    workspace.set_layer_metadata(name, values)
        finally:
            workspace.close()
    except BaseException:
        if target is not None:
            for leftover in target.parent.glob(target.stem + ".building.gpkg*"):
                leftover.unlink()
        raise
    if target is not None:
        os.replace(building, target)
    return reports


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m jer_data.demo.generate [--out PATH_OR_URL] [--seed N]``."""
    from jer_data import DEMO_WORKSPACE

    parser = argparse.ArgumentParser(description="Build the Isfana demo workspace.")
    parser.add_argument("--out", default=str(DEMO_WORKSPACE), help="GeoPackage path or PostGIS URL")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args(argv)
    reports = write_demo(args.out, seed=args.seed)
    for name, report in reports.items():
        warnings = sum(1 for p in report.problems if p.severity != "error")
        print(f"{name}: {report.imported} features, {warnings} warnings")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

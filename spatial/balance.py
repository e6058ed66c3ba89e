"""The land balance: the first table of the SEDP "Space" (Мейкиндик) section.

The working group has to state how the municipality's territory splits into the seven
land categories of the Land Code, how much of the farmland is arable, irrigated,
perennial, hayfield or pasture, how much land is actually used, how much sits in the
State Fund of Agricultural Land and in reserve, who owns it and how it is spread over
the settlements. The land specialist's inventory rarely covers the whole official area
of the municipality, so the difference between the official area and the parcels is
reported as its own row (the *gap*) in every area table instead of being spread over
the categories or silently dropped: a working group that sees "412 ha not covered by
the inventory" knows what to fix, one that sees slightly wrong category totals does not.

:func:`land_balance` is pure and vectorised (one ``groupby`` per table); the
:class:`LandBalance` it returns holds tidy frames keyed by codes and renders them with
Kyrgyz, Russian or English labels for JSON, CSV and XLSX.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import CRS

from .errors import InputError, Problem, ValidationError
from .schema import LANGS, Lang, codes, label

__all__ = ["TABLES", "LandBalance", "land_balance"]

#: Table keys in report order; also the CSV file stems and the keys of ``to_frames``.
TABLES: tuple[str, ...] = (
    "summary",
    "categories",
    "agricultural",
    "use",
    "ownership",
    "settlements",
)

# Row kinds. ``kind`` lets consumers tell data rows from subtotals and the gap without
# parsing labels: sum the rows of the table's data kind and compare with its total.
_INVENTORY_TOTAL = "inventory_total"
_GAP = "gap"
_MUNICIPALITY_TOTAL = "municipality_total"
_OUTSIDE = "outside_settlements"

_AG_SUBTYPE_ROWS: tuple[str, ...] = (
    "arable_irrigated",
    "arable_rainfed",
    "arable_total",
    "perennial",
    "hayfield",
    "pasture",
    "empty",
    "agricultural_total",
)
_ARABLE = ("arable_irrigated", "arable_rainfed")

# Strings that are not codes of a schema code list. Kept here, next to the tables they
# label, because they are the vocabulary of this report only.
_TEXT: dict[str, dict[str, str]] = {
    "ky": {
        "title.summary": "Жер балансынын жыйынтыгы",
        "title.categories": "Жерлердин категориялар боюнча бөлүштүрүлүшү",
        "title.agricultural": "Айыл чарба жерлеринин курамы",
        "title.use": "Иш жүзүндө пайдаланылган жана пайдаланылбаган жерлер",
        "title.ownership": "Жерлердин менчиктин түрлөрү боюнча бөлүштүрүлүшү",
        "title.settlements": "Жерлердин калктуу конуштар боюнча бөлүштүрүлүшү",
        "sheet.summary": "Жыйынтык",
        "sheet.categories": "Категориялар",
        "sheet.agricultural": "Айыл чарба жерлери",
        "sheet.use": "Пайдалануу",
        "sheet.ownership": "Менчик",
        "sheet.settlements": "Калктуу конуштар",
        "col.item": "Көрсөткүч",
        "col.area_ha": "Эсептелген аянты, га",
        "col.share_pct": "Муниципалитеттин аянтындагы үлүшү, %",
        "col.official_area_ha": "Расмий (кадастрдык) аянты, га",
        "col.parcels": "Жер тилкелеринин саны",
        "col.used_ha": "Пайдаланылган, га",
        "col.unused_ha": "Пайдаланылбаган, га",
        "col.total_ha": "Бардыгы, га",
        "col.used_pct": "Пайдаланылгандардын үлүшү, %",
        "col.used_parcels": "Пайдаланылган жер тилкелери",
        "col.unused_parcels": "Пайдаланылбаган жер тилкелери",
        "col.private_ha": "анын ичинде жеке менчикте, га",
        "col.state_ag_fund_ha": "анын ичинде мамлекеттик фонддо, га",
        "col.settlement_land_ha": "анын ичинде калктуу конуштардын жерлери, га",
        "col.households": "Үй чарбаларынын саны",
        "col.population": "Калктын саны",
        "col.value": "Мааниси",
        "col.unit": "Өлчөө бирдиги",
        "row.inventory_total": "Инвентаризацияланган жер тилкелери, бардыгы",
        "row.gap": "Инвентаризация менен камтылбаган жерлер (айырма)",
        "row.gap_negative": "Жер тилкелеринин аянты расмий аянттан ашып кеткен (терс айырма)",
        "row.municipality_total": "Муниципалитеттин расмий аянты",
        "row.outside_settlements": "Калктуу конуштардан тышкары",
        "row.arable_total": "Айдоо аянттары, бардыгы",
        "row.empty": "Түрү көрсөтүлбөгөн",
        "row.agricultural_total": "Айыл чарба жерлери, бардыгы",
        "row.used": "Пайдаланылган",
        "row.unused": "Пайдаланылбаган",
        "row.total": "Бардыгы",
        "row.official_area_ha": "Муниципалитеттин расмий аянты",
        "row.parcels_area_ha": "Жер тилкелеринин эсептелген аянты",
        "row.parcels_official_area_ha": "Жер тилкелеринин расмий аянттарынын суммасы",
        "row.parcel_count": "Жер тилкелеринин саны",
        "row.parcels_without_official_area": "Расмий аянты көрсөтүлбөгөн жер тилкелери",
        "row.used_ha": "Иш жүзүндө пайдаланылган жерлер",
        "row.unused_ha": "Пайдаланылбаган жерлер",
        "row.used_unused_ratio": "Пайдаланылган жерлердин пайдаланылбаган жерлерге катышы",
        "row.state_ag_fund_ha": "Айыл чарба жерлеринин мамлекеттик фонду",
        "row.state_ag_fund_parcels": "Айыл чарба жерлеринин мамлекеттик фондусундагы жер тилкелери",
        "row.state_ag_fund_unused_ha": (
            "Айыл чарба жерлеринин мамлекеттик фондусунун пайдаланылбаган жерлери"
        ),
        "row.reserve_ha": "Запастагы жерлер",
        "row.reserve_parcels": "Запастагы жер тилкелери",
        "unit.ha": "га",
        "unit.count": "даана",
        "unit.ratio": "катыш",
    },
    "ru": {
        "title.summary": "Итоги земельного баланса",
        "title.categories": "Распределение земель по категориям",
        "title.agricultural": "Состав сельскохозяйственных угодий",
        "title.use": "Фактически используемые и неиспользуемые земли",
        "title.ownership": "Распределение земель по формам собственности",
        "title.settlements": "Распределение земель по населённым пунктам",
        "sheet.summary": "Итоги",
        "sheet.categories": "Категории",
        "sheet.agricultural": "Сельхозугодья",
        "sheet.use": "Использование",
        "sheet.ownership": "Собственность",
        "sheet.settlements": "Населённые пункты",
        "col.item": "Показатель",
        "col.area_ha": "Вычисленная площадь, га",
        "col.share_pct": "Доля от площади муниципалитета, %",
        "col.official_area_ha": "Официальная (кадастровая) площадь, га",
        "col.parcels": "Количество участков",
        "col.used_ha": "Используется, га",
        "col.unused_ha": "Не используется, га",
        "col.total_ha": "Всего, га",
        "col.used_pct": "Доля используемых, %",
        "col.used_parcels": "Используемых участков",
        "col.unused_parcels": "Неиспользуемых участков",
        "col.private_ha": "в т. ч. в частной собственности, га",
        "col.state_ag_fund_ha": "в т. ч. в госфонде сельхозугодий, га",
        "col.settlement_land_ha": "в т. ч. земли населённых пунктов, га",
        "col.households": "Количество домохозяйств",
        "col.population": "Численность населения",
        "col.value": "Значение",
        "col.unit": "Единица измерения",
        "row.inventory_total": "Инвентаризованные участки, всего",
        "row.gap": "Земли, не охваченные инвентаризацией (разница)",
        "row.gap_negative": (
            "Площадь участков превышает официальную площадь (отрицательная разница)"
        ),
        "row.municipality_total": "Официальная площадь муниципалитета",
        "row.outside_settlements": "Вне населённых пунктов",
        "row.arable_total": "Пашня, всего",
        "row.empty": "Вид угодий не указан",
        "row.agricultural_total": "Сельскохозяйственные угодья, всего",
        "row.used": "Используется",
        "row.unused": "Не используется",
        "row.total": "Всего",
        "row.official_area_ha": "Официальная площадь муниципалитета",
        "row.parcels_area_ha": "Вычисленная площадь участков",
        "row.parcels_official_area_ha": "Сумма официальных площадей участков",
        "row.parcel_count": "Количество участков",
        "row.parcels_without_official_area": "Участки без официальной площади",
        "row.used_ha": "Фактически используемые земли",
        "row.unused_ha": "Неиспользуемые земли",
        "row.used_unused_ratio": "Соотношение используемых и неиспользуемых земель",
        "row.state_ag_fund_ha": "Государственный фонд сельскохозяйственных угодий",
        "row.state_ag_fund_parcels": "Участки государственного фонда сельхозугодий",
        "row.state_ag_fund_unused_ha": "Неиспользуемые земли государственного фонда сельхозугодий",
        "row.reserve_ha": "Земли запаса",
        "row.reserve_parcels": "Участки земель запаса",
        "unit.ha": "га",
        "unit.count": "шт.",
        "unit.ratio": "отношение",
    },
    "en": {
        "title.summary": "Land balance summary",
        "title.categories": "Land by category",
        "title.agricultural": "Agricultural land by sub-type",
        "title.use": "Land actually used and unused",
        "title.ownership": "Land by form of ownership",
        "title.settlements": "Land by settlement",
        "sheet.summary": "Summary",
        "sheet.categories": "Categories",
        "sheet.agricultural": "Agricultural land",
        "sheet.use": "Use",
        "sheet.ownership": "Ownership",
        "sheet.settlements": "Settlements",
        "col.item": "Item",
        "col.area_ha": "Computed area, ha",
        "col.share_pct": "Share of the municipal area, %",
        "col.official_area_ha": "Official (cadastral) area, ha",
        "col.parcels": "Parcels",
        "col.used_ha": "Used, ha",
        "col.unused_ha": "Unused, ha",
        "col.total_ha": "Total, ha",
        "col.used_pct": "Used share, %",
        "col.used_parcels": "Used parcels",
        "col.unused_parcels": "Unused parcels",
        "col.private_ha": "of which private, ha",
        "col.state_ag_fund_ha": "of which in the state fund, ha",
        "col.settlement_land_ha": "of which settlement land, ha",
        "col.households": "Households",
        "col.population": "Population",
        "col.value": "Value",
        "col.unit": "Unit",
        "row.inventory_total": "Inventoried parcels, total",
        "row.gap": "Not covered by the inventory (gap)",
        "row.gap_negative": "Parcels exceed the official area (negative gap)",
        "row.municipality_total": "Official area of the municipality",
        "row.outside_settlements": "Outside settlements",
        "row.arable_total": "Arable land, total",
        "row.empty": "Sub-type not specified",
        "row.agricultural_total": "Agricultural land, total",
        "row.used": "Used",
        "row.unused": "Unused",
        "row.total": "Total",
        "row.official_area_ha": "Official area of the municipality",
        "row.parcels_area_ha": "Computed area of the parcels",
        "row.parcels_official_area_ha": "Sum of the parcels' official areas",
        "row.parcel_count": "Number of parcels",
        "row.parcels_without_official_area": "Parcels without an official area",
        "row.used_ha": "Land actually used",
        "row.unused_ha": "Unused land",
        "row.used_unused_ratio": "Ratio of used to unused land",
        "row.state_ag_fund_ha": "State Fund of Agricultural Land",
        "row.state_ag_fund_parcels": "Parcels in the State Fund of Agricultural Land",
        "row.state_ag_fund_unused_ha": "Unused land of the State Fund of Agricultural Land",
        "row.reserve_ha": "Reserve land",
        "row.reserve_parcels": "Reserve land parcels",
        "unit.ha": "ha",
        "unit.count": "count",
        "unit.ratio": "ratio",
    },
}

# Which code list labels the ``code`` column of each table's data rows.
_CODELIST: dict[str, str | None] = {
    "summary": None,
    "categories": "land_category",
    "agricultural": "ag_subtype",
    "use": "land_category",
    "ownership": "ownership",
    "settlements": None,
}


@dataclass(frozen=True)
class LandBalance:
    """The land balance of one municipality, as tidy frames keyed by codes.

    Every area table has ``code`` and ``kind`` columns. ``kind`` is the data kind
    (``category``, ``subtype``, ``ownership``, ``settlement``, ``outside``) for rows that
    add up, or one of ``subtotal``, ``inventory_total``, ``gap``, ``municipality_total``,
    ``total``. In ``categories``, ``ownership`` and ``settlements`` the data rows sum to
    ``inventory_total`` and ``inventory_total + gap == municipality_total`` (the official
    area); ``agricultural`` data rows sum to ``agricultural_total`` (= the agricultural
    category); in ``use`` ``used_ha + unused_ha == total_ha`` on every row.

    Attributes
    ----------
    official_area_ha
        Official (legal) area of the municipality the balance is closed against.
    parcels_area_ha
        Sum of the parcels' computed areas.
    parcels_official_area_ha
        Sum of the parcels' official areas (parcels without one count as 0), shown beside
        the computed area so a large difference sends the specialist to the cadastre.
    gap_ha
        ``official_area_ha - parcels_area_ha``: land not covered by the inventory, or,
        when negative, parcels that exceed the official area.
    """

    official_area_ha: float
    parcels_area_ha: float
    parcels_official_area_ha: float
    gap_ha: float
    parcel_count: int
    used_ha: float
    unused_ha: float
    used_unused_ratio: float | None
    state_ag_fund_ha: float
    reserve_ha: float
    summary: pd.DataFrame
    categories: pd.DataFrame
    agricultural: pd.DataFrame
    use: pd.DataFrame
    ownership: pd.DataFrame
    settlements: pd.DataFrame
    settlement_labels: Mapping[str, Mapping[str, str]] = field(default_factory=dict, repr=False)

    @property
    def gap_share_pct(self) -> float:
        """The gap as a percentage of the official area (negative when parcels exceed it)."""
        return self.gap_ha / self.official_area_ha * 100.0

    def table(self, key: str) -> pd.DataFrame:
        """The tidy frame ``key`` (one of :data:`TABLES`)."""
        if key not in TABLES:
            raise InputError(
                f"unknown land balance table {key!r}; known tables: {', '.join(TABLES)}"
            )
        frame: pd.DataFrame = getattr(self, key)
        return frame

    # -- rendering ---------------------------------------------------------------------

    def title(self, key: str, lang: Lang = "ky") -> str:
        """Localised title of table ``key``."""
        return _text(lang, f"title.{key}")

    def row_labels(self, key: str, lang: Lang = "ky") -> list[str]:
        """Localised labels of the rows of table ``key``, in row order."""
        frame = self.table(key)
        codelist = _CODELIST[key]
        labels = []
        for code, kind in zip(frame["code"].tolist(), frame["kind"].tolist(), strict=True):
            labels.append(self._row_label(key, codelist, str(code), str(kind), lang))
        return labels

    def _row_label(self, key: str, codelist: str | None, code: str, kind: str, lang: Lang) -> str:
        if kind == _GAP:
            return _text(lang, "row.gap_negative" if self.gap_ha < 0 else "row.gap")
        if key == "summary":
            if code == "gap_ha":
                return _text(lang, "row.gap_negative" if self.gap_ha < 0 else "row.gap")
            return _text(lang, f"row.{code}")
        if kind == "settlement":
            return self.settlement_labels.get(lang, {}).get(code, code)
        if (
            kind in {"category", "subtype", "ownership"}
            and codelist is not None
            and code != "empty"
        ):
            return label(codelist, code, lang)
        return _text(lang, f"row.{code}")

    def to_frames(self, lang: Lang = "ky") -> dict[str, pd.DataFrame]:
        """The tables for people: a label column first, localised headers, no codes."""
        _check_lang(lang)
        frames: dict[str, pd.DataFrame] = {}
        for key in TABLES:
            frame = self.table(key)
            values = frame.drop(columns=["code", "kind"])
            if key == "summary":
                values = values.assign(unit=values["unit"].map(lambda u: _text(lang, f"unit.{u}")))
            out = pd.DataFrame({_text(lang, "col.item"): self.row_labels(key, lang)})
            for column in values.columns:
                out[_text(lang, f"col.{column}")] = values[column].array
            frames[key] = out
        return frames

    def to_dict(self, lang: Lang = "ky") -> dict[str, Any]:
        """JSON-ready form: headline figures and every table with codes *and* labels."""
        _check_lang(lang)
        tables: dict[str, Any] = {}
        for key in TABLES:
            frame = self.table(key)
            labels = self.row_labels(key, lang)
            rows = []
            for record, row_label in zip(frame.to_dict(orient="records"), labels, strict=True):
                clean = {k: _json_value(v) for k, v in record.items()}
                clean["label"] = row_label
                rows.append(clean)
            columns = [
                {"key": c, "label": _text(lang, f"col.{c}")}
                for c in frame.columns
                if c not in {"code", "kind"}
            ]
            tables[key] = {"title": self.title(key, lang), "columns": columns, "rows": rows}
        return {
            "lang": lang,
            "official_area_ha": self.official_area_ha,
            "parcels_area_ha": self.parcels_area_ha,
            "parcels_official_area_ha": self.parcels_official_area_ha,
            "gap_ha": self.gap_ha,
            "gap_share_pct": self.gap_share_pct,
            "parcel_count": self.parcel_count,
            "used_ha": self.used_ha,
            "unused_ha": self.unused_ha,
            "used_unused_ratio": _json_value(self.used_unused_ratio),
            "state_ag_fund_ha": self.state_ag_fund_ha,
            "reserve_ha": self.reserve_ha,
            "tables": tables,
        }

    def to_csv(self, dir_or_path: str | Path, lang: Lang = "ky") -> list[Path]:
        """Write the tables as CSV (UTF-8 with BOM, so spreadsheet programs show Cyrillic).

        Parameters
        ----------
        dir_or_path
            A directory (existing, or a path without a ``.csv`` suffix): one file per
            table, ``land_balance_<table>.csv``. A ``.csv`` path: one file holding every
            table, each preceded by its title and followed by an empty line.

        Returns
        -------
        list of Path
            The files written.
        """
        frames = self.to_frames(lang)
        target = Path(dir_or_path)
        if target.suffix.lower() == ".csv" and not target.is_dir():
            target.parent.mkdir(parents=True, exist_ok=True)
            with target.open("w", encoding="utf-8-sig", newline="") as handle:
                writer = csv.writer(handle)
                for key in TABLES:
                    writer.writerow([self.title(key, lang)])
                    frame = frames[key]
                    writer.writerow(list(frame.columns))
                    writer.writerows(
                        [_csv_value(v) for v in row]
                        for row in frame.astype(object).to_numpy().tolist()
                    )
                    writer.writerow([])
            return [target]
        target.mkdir(parents=True, exist_ok=True)
        written = []
        for key in TABLES:
            path = target / f"land_balance_{key}.csv"
            frames[key].to_csv(path, index=False, encoding="utf-8-sig")
            written.append(path)
        return written

    def to_xlsx(self, path: str | Path, lang: Lang = "ky") -> Path:
        """Write one sheet per table; numbers stay numbers, the header row is bold."""
        from openpyxl import Workbook
        from openpyxl.styles import Font
        from openpyxl.utils import get_column_letter

        frames = self.to_frames(lang)
        workbook = Workbook()
        workbook.remove(workbook.active)  # type: ignore[arg-type]
        bold = Font(bold=True)
        for key in TABLES:
            frame = frames[key]
            sheet = workbook.create_sheet(title=_text(lang, f"sheet.{key}")[:31])
            sheet.append(list(frame.columns))
            for cell in sheet[1]:
                cell.font = bold
            for row in frame.astype(object).to_numpy().tolist():
                sheet.append([_json_value(v) for v in row])
            for index, column in enumerate(frame.columns, start=1):
                letter = get_column_letter(index)
                width = max(len(str(column)), *(len(str(v)) for v in frame[column].tolist()[:200]))
                sheet.column_dimensions[letter].width = min(60, max(10, width + 2))
                if index > 1 and pd.api.types.is_float_dtype(frame[column].dtype):
                    for (cell,) in sheet.iter_rows(min_row=2, min_col=index, max_col=index):
                        cell.number_format = "#,##0.00"
            sheet.freeze_panes = "B2"
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        workbook.save(target)
        return target


def land_balance(
    parcels: gpd.GeoDataFrame | pd.DataFrame,
    *,
    official_area_ha: float,
    settlements: pd.DataFrame | None = None,
    area_column: str = "area_ha",
) -> LandBalance:
    """Compute the land balance of a municipality from its parcels.

    Parameters
    ----------
    parcels
        Parcels in the workspace data model (``land_category``, ``ownership``,
        ``in_use`` required; ``ag_subtype``, ``state_ag_fund``, ``settlement``,
        ``official_area_ha``, ``cadastral_no`` used when present).
    official_area_ha
        The municipality's official area in hectares; the balance is closed against it
        so that the inventory's gap shows.
    settlements
        Optional settlements table (``name``, ``households``, ``population``, and
        ``name_ky``/``name_ru``/``name_en`` for labels) to put people beside land.
    area_column
        Column with the area computed in the workspace's projected CRS, hectares. When
        it is absent the area is computed from the geometry, which must then be in a
        projected CRS.

    Raises
    ------
    InputError
        ``official_area_ha`` is not a positive finite number, or the settlements table
        lacks its columns.
    ValidationError
        With every bad row: unknown codes, missing required values, negative areas.
    """
    official = _check_official_area(official_area_ha)
    frame = _prepare(parcels, area_column=area_column)
    people = _prepare_settlements(settlements) if settlements is not None else None

    area = frame["area"]
    total_area = float(area.sum())
    total_official = float(frame["official"].sum())
    gap = official - total_area
    count = len(frame)
    used = float(area[frame["in_use"]].sum())
    unused = float(area[~frame["in_use"]].sum())
    ratio = used / unused if unused > 0 else None

    def share(values: pd.Series | float) -> Any:
        return values / official * 100.0

    categories = _area_table(frame, "category", codes("land_category"), "category", official, gap)
    ownership = _area_table(frame, "ownership", codes("ownership"), "ownership", official, gap)
    agricultural = _agricultural_table(frame, official)
    use = _use_table(frame)
    settlement_table, settlement_labels = _settlement_table(frame, people, official, gap)

    state_fund = frame["state_ag_fund"]
    reserve = frame["category"] == "reserve"
    state_fund_ha = float(area[state_fund].sum())
    reserve_ha = float(area[reserve].sum())
    summary_rows: list[tuple[str, float, str]] = [
        ("official_area_ha", official, "ha"),
        ("parcels_area_ha", total_area, "ha"),
        ("parcels_official_area_ha", total_official, "ha"),
        ("gap_ha", gap, "ha"),
        ("parcel_count", float(count), "count"),
        ("parcels_without_official_area", float(frame["official_missing"].sum()), "count"),
        ("used_ha", used, "ha"),
        ("unused_ha", unused, "ha"),
        ("used_unused_ratio", ratio if ratio is not None else math.nan, "ratio"),
        ("state_ag_fund_ha", state_fund_ha, "ha"),
        ("state_ag_fund_parcels", float(state_fund.sum()), "count"),
        ("state_ag_fund_unused_ha", float(area[state_fund & ~frame["in_use"]].sum()), "ha"),
        ("reserve_ha", reserve_ha, "ha"),
        ("reserve_parcels", float(reserve.sum()), "count"),
    ]
    summary = pd.DataFrame(summary_rows, columns=["code", "value", "unit"])
    summary.insert(1, "kind", np.where(summary["code"] == "gap_ha", _GAP, "indicator"))
    summary["kind"] = summary["kind"].astype(object)
    summary["share_pct"] = np.where(summary["unit"] == "ha", share(summary["value"]), np.nan)

    return LandBalance(
        official_area_ha=official,
        parcels_area_ha=total_area,
        parcels_official_area_ha=total_official,
        gap_ha=gap,
        parcel_count=count,
        used_ha=used,
        unused_ha=unused,
        used_unused_ratio=ratio,
        state_ag_fund_ha=state_fund_ha,
        reserve_ha=reserve_ha,
        summary=summary,
        categories=categories,
        agricultural=agricultural,
        use=use,
        ownership=ownership,
        settlements=settlement_table,
        settlement_labels=settlement_labels,
    )


# -- input ------------------------------------------------------------------------------


def _check_official_area(value: float) -> float:
    try:
        official = float(value)
    except (TypeError, ValueError):
        raise InputError(f"official_area_ha must be a number of hectares, got {value!r}") from None
    if not math.isfinite(official) or official <= 0:
        raise InputError(f"official_area_ha must be a positive number of hectares, got {value!r}")
    return official


def _row_problems(
    mask: pd.Series,
    features: pd.Series | None,
    *,
    code: str,
    column: str,
    message: str,
    values: pd.Series | None = None,
) -> list[Problem]:
    """One :class:`Problem` per offending row (only the bad rows are visited)."""
    positions = np.flatnonzero(mask.to_numpy())
    feats = features.to_numpy()[positions] if features is not None else [None] * len(positions)
    vals = values.to_numpy()[positions] if values is not None else [None] * len(positions)
    return [
        Problem(
            code=code,
            message=message.format(value=val),
            layer="parcels",
            row=int(pos),
            feature=None
            if feat is None or (isinstance(feat, float) and math.isnan(feat))
            else str(feat),
            column=column,
        )
        for pos, feat, val in zip(positions, feats, vals, strict=True)
    ]


def _code_problems(
    values: pd.Series,
    column: str,
    codelist: str,
    features: pd.Series | None,
    *,
    required: bool,
) -> list[Problem]:
    """Problems for empty required codes and for values outside the code list."""
    problems: list[Problem] = []
    missing = values.isna()
    if required:
        problems += _row_problems(
            missing,
            features,
            code="missing_value",
            column=column,
            message=f"{column} is required but empty",
        )
    problems += _row_problems(
        ~missing & ~values.isin(codes(codelist)),
        features,
        code="unknown_code",
        column=column,
        message=f"{column} {{value!r}} is not a code of the {codelist} code list",
        values=values,
    )
    return problems


def _prepare(parcels: pd.DataFrame, *, area_column: str) -> pd.DataFrame:
    """Validate the parcels and reduce them to the typed columns the tables need."""
    if not isinstance(parcels, pd.DataFrame):
        raise InputError(f"parcels must be a (Geo)DataFrame, got {type(parcels).__name__}")
    problems: list[Problem] = []
    for column in ("land_category", "ownership", "in_use"):
        if column not in parcels.columns:
            problems.append(
                Problem(
                    code="missing_column",
                    message=f"required column {column!r} is missing",
                    layer="parcels",
                    column=column,
                )
            )
    area = _areas(parcels, area_column, problems)
    if problems:
        raise ValidationError(problems)
    assert area is not None
    features = parcels["cadastral_no"] if "cadastral_no" in parcels.columns else None

    category = parcels["land_category"].astype(object)
    problems += _code_problems(category, "land_category", "land_category", features, required=True)
    ownership = parcels["ownership"].astype(object)
    problems += _code_problems(ownership, "ownership", "ownership", features, required=True)
    if "ag_subtype" in parcels.columns:
        subtype = parcels["ag_subtype"].astype(object)
        subtype = subtype.where(subtype.notna() & (subtype != ""), "empty")
    else:
        subtype = pd.Series("empty", index=parcels.index, dtype=object)
    problems += _code_problems(subtype, "ag_subtype", "ag_subtype", features, required=False)
    in_use_raw = parcels["in_use"].astype(object)
    problems += _row_problems(
        in_use_raw.isna(),
        features,
        code="missing_value",
        column="in_use",
        message="in_use is required (true or false) but empty",
    )
    problems += _row_problems(
        in_use_raw.notna() & ~in_use_raw.isin([True, False]),
        features,
        code="not_boolean",
        column="in_use",
        message="in_use must be true or false, got {value!r}",
        values=in_use_raw,
    )
    if "state_ag_fund" in parcels.columns:
        fund_raw = parcels["state_ag_fund"].astype(object)
        problems += _row_problems(
            fund_raw.notna() & ~fund_raw.isin([True, False]),
            features,
            code="not_boolean",
            column="state_ag_fund",
            message="state_ag_fund must be true or false, got {value!r}",
            values=fund_raw,
        )
        state_fund = fund_raw.where(fund_raw.isin([True, False]), False).astype(bool)
    else:
        state_fund = pd.Series(False, index=parcels.index)
    if "official_area_ha" in parcels.columns:
        official = pd.to_numeric(parcels["official_area_ha"], errors="coerce").astype(float)
        raw = parcels["official_area_ha"]
        problems += _row_problems(
            (raw.notna() & official.isna()) | (official < 0),
            features,
            code="invalid_area",
            column="official_area_ha",
            message="official area {value!r} is not a non-negative number of hectares",
            values=raw,
        )
    else:
        official = pd.Series(np.nan, index=parcels.index)
    if "settlement" in parcels.columns:
        settlement = parcels["settlement"].astype(object)
        settlement = settlement.where(
            settlement.notna() & (settlement.astype(str).str.strip() != "")
        )
    else:
        settlement = pd.Series(None, index=parcels.index, dtype=object)
    problems += _row_problems(
        area.isna() | (area < 0),
        features,
        code="invalid_area",
        column=area_column,
        message="area {value!r} is not a non-negative number of hectares",
        values=area,
    )
    if problems:
        raise ValidationError(problems)
    return pd.DataFrame(
        {
            "category": category.to_numpy(),
            "subtype": subtype.to_numpy(),
            "ownership": ownership.to_numpy(),
            "in_use": in_use_raw.astype(bool).to_numpy(),
            "state_ag_fund": state_fund.to_numpy(),
            "settlement": settlement.to_numpy(),
            "area": area.to_numpy(dtype=float),
            "official": official.fillna(0.0).to_numpy(dtype=float),
            "official_missing": official.isna().to_numpy(),
        }
    )


def _areas(parcels: pd.DataFrame, area_column: str, problems: list[Problem]) -> pd.Series | None:
    """The area column, or areas from a projected geometry when the column is absent."""
    if area_column in parcels.columns:
        return pd.to_numeric(parcels[area_column], errors="coerce").astype(float)
    geometry = _geometry_or_none(parcels)
    if geometry is None:
        problems.append(
            Problem(
                code="missing_column",
                message=(
                    f"area column {area_column!r} is missing and there is no geometry "
                    "to compute it from"
                ),
                layer="parcels",
                column=area_column,
            )
        )
        return None
    if geometry.crs is None or not CRS.from_user_input(geometry.crs).is_projected:
        problems.append(
            Problem(
                code="crs_not_projected",
                message=(
                    f"area column {area_column!r} is missing and the geometry is not in a "
                    "projected CRS, so hectares cannot be computed"
                ),
                layer="parcels",
                column=area_column,
            )
        )
        return None
    return pd.Series(geometry.area.to_numpy() / 10_000.0, index=parcels.index)


def _geometry_or_none(parcels: pd.DataFrame) -> gpd.GeoSeries | None:
    if not isinstance(parcels, gpd.GeoDataFrame):
        return None
    name = parcels.active_geometry_name
    if name is None or name not in parcels.columns:
        return None
    return parcels.geometry


def _prepare_settlements(settlements: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in ("name", "households", "population") if c not in settlements.columns]
    if missing:
        raise InputError(f"settlements table lacks column(s) {', '.join(missing)}")
    names = settlements["name"].astype(object)
    duplicated = names[names.duplicated()].unique().tolist()
    if duplicated:
        raise InputError(
            f"settlement names must be unique; repeated: {', '.join(map(str, duplicated))}"
        )
    columns = ["name", "households", "population"] + [
        f"name_{lang}" for lang in LANGS if f"name_{lang}" in settlements.columns
    ]
    return pd.DataFrame(settlements[columns]).reset_index(drop=True)


# -- tables -------------------------------------------------------------------------------


def _sums(frame: pd.DataFrame, key: str, order: list[str] | tuple[str, ...]) -> pd.DataFrame:
    """Area, official area and parcel count per value of ``key``, zeros for absent codes."""
    grouped = frame.groupby(key, sort=False).agg(
        area_ha=("area", "sum"), official_area_ha=("official", "sum"), parcels=("area", "size")
    )
    return grouped.reindex(list(order), fill_value=0)


def _close(
    rows: pd.DataFrame, *, kind: str, official: float, gap: float, total_official: float
) -> pd.DataFrame:
    """Append inventory total, gap and the municipality's official area to data rows."""
    inventory_area = float(rows["area_ha"].sum())
    inventory_count = int(rows["parcels"].sum())
    closing = pd.DataFrame(
        {
            "code": [_INVENTORY_TOTAL, _GAP, _MUNICIPALITY_TOTAL],
            "kind": [_INVENTORY_TOTAL, _GAP, _MUNICIPALITY_TOTAL],
            "area_ha": [inventory_area, gap, official],
            "official_area_ha": [total_official, official - total_official, official],
            "parcels": [inventory_count, 0, inventory_count],
        }
    )
    data = rows.reset_index(names="code")
    data.insert(1, "kind", kind)
    table = pd.concat([data, closing], ignore_index=True)
    table["code"] = table["code"].astype(object)
    table["kind"] = table["kind"].astype(object)
    table["parcels"] = table["parcels"].astype("int64")
    table.insert(3, "share_pct", table["area_ha"] / official * 100.0)
    return table


def _area_table(
    frame: pd.DataFrame,
    key: str,
    order: tuple[str, ...],
    kind: str,
    official: float,
    gap: float,
) -> pd.DataFrame:
    rows = _sums(frame, key, order)
    return _close(
        rows, kind=kind, official=official, gap=gap, total_official=float(frame["official"].sum())
    )


def _agricultural_table(frame: pd.DataFrame, official: float) -> pd.DataFrame:
    ag = frame[frame["category"] == "agricultural"]
    weighted = pd.DataFrame(
        {
            "subtype": ag["subtype"],
            "area": ag["area"],
            "official": ag["official"],
            "used": ag["area"].where(ag["in_use"], 0.0),
            "private": ag["area"].where(ag["ownership"] == "private", 0.0),
            "fund": ag["area"].where(ag["state_ag_fund"], 0.0),
        }
    )
    subtypes = [c for c in _AG_SUBTYPE_ROWS if c not in {"arable_total", "agricultural_total"}]
    sums = (
        weighted.groupby("subtype", sort=False)
        .agg(
            area_ha=("area", "sum"),
            official_area_ha=("official", "sum"),
            parcels=("area", "size"),
            used_ha=("used", "sum"),
            private_ha=("private", "sum"),
            state_ag_fund_ha=("fund", "sum"),
        )
        .reindex(subtypes, fill_value=0)
    )
    sums.loc["arable_total"] = sums.loc[list(_ARABLE)].sum()
    sums.loc["agricultural_total"] = sums.loc[subtypes].sum()
    table = sums.reindex(list(_AG_SUBTYPE_ROWS)).reset_index(names="code")
    kinds = {"arable_total": "subtotal", "agricultural_total": "total"}
    table.insert(1, "kind", table["code"].map(lambda c: kinds.get(c, "subtype")).astype(object))
    table["code"] = table["code"].astype(object)
    table["parcels"] = table["parcels"].astype("int64")
    table["share_pct"] = table["area_ha"] / official * 100.0
    table["unused_ha"] = table["area_ha"] - table["used_ha"]
    order = ["code", "kind", "area_ha", "share_pct", "official_area_ha", "parcels"]
    return table[[*order, "used_ha", "unused_ha", "private_ha", "state_ag_fund_ha"]]


def _use_table(frame: pd.DataFrame) -> pd.DataFrame:
    weighted = pd.DataFrame(
        {
            "category": frame["category"],
            "used": frame["area"].where(frame["in_use"], 0.0),
            "unused": frame["area"].where(~frame["in_use"], 0.0),
            "used_n": frame["in_use"].astype("int64"),
            "unused_n": (~frame["in_use"]).astype("int64"),
        }
    )
    order = list(codes("land_category"))
    sums = (
        weighted.groupby("category", sort=False)
        .agg(
            used_ha=("used", "sum"),
            unused_ha=("unused", "sum"),
            used_parcels=("used_n", "sum"),
            unused_parcels=("unused_n", "sum"),
        )
        .reindex(order, fill_value=0)
    )
    sums.loc[_INVENTORY_TOTAL] = sums.sum()
    table = sums.reset_index(names="code")
    table.insert(
        1, "kind", np.where(table["code"] == _INVENTORY_TOTAL, _INVENTORY_TOTAL, "category")
    )
    table["kind"] = table["kind"].astype(object)
    table["code"] = table["code"].astype(object)
    table.insert(4, "total_ha", table["used_ha"] + table["unused_ha"])
    with np.errstate(invalid="ignore", divide="ignore"):
        pct = np.where(table["total_ha"] > 0, table["used_ha"] / table["total_ha"] * 100.0, np.nan)
    table.insert(5, "used_pct", pct)
    table["used_parcels"] = table["used_parcels"].astype("int64")
    table["unused_parcels"] = table["unused_parcels"].astype("int64")
    return table


def _settlement_table(
    frame: pd.DataFrame, people: pd.DataFrame | None, official: float, gap: float
) -> tuple[pd.DataFrame, dict[str, dict[str, str]]]:
    """Per settlement, outside settlements, then the closing rows; people if given."""
    known = people["name"].astype(str).tolist() if people is not None else []
    found = frame["settlement"].dropna().astype(str)
    extra = sorted(set(found.unique().tolist()) - set(known))
    names = known + extra
    outside = _OUTSIDE
    keyed = frame.assign(
        key=frame["settlement"]
        .astype(object)
        .where(frame["settlement"].notna(), outside)
        .astype(str),
        settlement_land=frame["area"].where(frame["category"] == "settlement", 0.0),
    )
    rows = _sums(keyed, "key", [*names, outside])
    land = (
        keyed.groupby("key", sort=False)["settlement_land"]
        .sum()
        .reindex([*names, outside], fill_value=0.0)
    )
    table = _close(
        rows,
        kind="settlement",
        official=official,
        gap=gap,
        total_official=float(frame["official"].sum()),
    )
    table.loc[table["code"] == outside, "kind"] = "outside"
    closing_land = float(land.sum())
    table["settlement_land_ha"] = np.concatenate(
        [land.to_numpy(dtype=float), [closing_land, 0.0, closing_land]]
    )
    labels: dict[str, dict[str, str]] = {lang: {} for lang in LANGS}
    if people is not None:
        indexed = people.set_index(people["name"].astype(str))
        households = pd.to_numeric(indexed["households"], errors="coerce").reindex(table["code"])
        population = pd.to_numeric(indexed["population"], errors="coerce").reindex(table["code"])
        is_total = (table["kind"] == _INVENTORY_TOTAL) | (table["kind"] == _MUNICIPALITY_TOTAL)
        households = households.where(~is_total.to_numpy(), indexed["households"].sum())
        population = population.where(~is_total.to_numpy(), indexed["population"].sum())
        table["households"] = households.to_numpy()
        table["population"] = population.to_numpy()
        table["households"] = table["households"].astype("Int64")
        table["population"] = table["population"].astype("Int64")
        for lang in LANGS:
            column = f"name_{lang}"
            if column in indexed.columns:
                present = indexed[column].notna()
                labels[lang] = dict(
                    zip(
                        indexed.index[present].tolist(),
                        indexed.loc[present, column].astype(str).tolist(),
                        strict=True,
                    )
                )
    return table, labels


# -- rendering helpers ------------------------------------------------------------------


def _check_lang(lang: str) -> None:
    if lang not in _TEXT:
        raise InputError(f"unknown language {lang!r}; use one of {', '.join(LANGS)}")


def _text(lang: str, key: str) -> str:
    _check_lang(lang)
    return _TEXT[lang][key]


def _json_value(value: Any) -> Any:
    """Plain Python for JSON and openpyxl: numpy scalars unwrapped, NaN/NA to ``None``."""
    if value is None or value is pd.NA:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _csv_value(value: Any) -> Any:
    plain = _json_value(value)
    return "" if plain is None else plain

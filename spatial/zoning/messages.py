"""Kyrgyz, Russian and English wording of the reasons the check derives itself.

Restriction regimes carry their own messages in the rulebook. The reasons the engine
derives from the rulebook's structure (a use unlisted in a zone type, a building limit,
a change of land category, a use that does not fit a category) are worded here from
the rulebook's names, once per rulebook when its tables are compiled, so a batch of
100 000 parcels attaches messages by indexing instead of formatting strings per parcel.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..schema import LANGS, label

if TYPE_CHECKING:
    from .rulebook import BuildingLimit, Rulebook, Transition

__all__ = [
    "building_message",
    "category_fit_message",
    "outside_zones_message",
    "transition_message",
    "transition_unknown_message",
    "zoning_message",
]

Text = dict[str, str]

_ZONING: dict[str, Text] = {
    "permitted": {
        "ky": "«{zone}» зонасында «{use}» — уруксат берилген (негизги) пайдалануу түрү.",
        "ru": "«{use}» — основной (разрешённый) вид использования в зоне «{zone}».",
        "en": "{use} is a permitted (main) use in a zone of type «{zone}».",
    },
    "conditional": {
        "ky": "«{zone}» зонасында «{use}» — шарттуу уруксат берилген пайдалануу түрү: "
              "жергиликтүү кеңештин чечими талап кылынат.",
        "ru": "«{use}» — условно разрешённый вид использования в зоне «{zone}»: "
              "требуется решение местного кенеша.",
        "en": "{use} is a conditional use in a zone of type «{zone}»: it needs a decision "
              "of the local council.",
    },
    "prohibited": {
        "ky": "«{zone}» зонасында «{use}» уруксат берилбейт: ал уруксат берилген же шарттуу "
              "уруксат берилген түрлөрдүн тизмесинде жок.",
        "ru": "«{use}» не допускается в зоне «{zone}»: этого вида нет среди основных и "
              "условно разрешённых видов использования.",
        "en": "{use} is not allowed in a zone of type «{zone}»: it is neither a permitted "
              "nor a conditional use there.",
    },
}

_PARAMETER: dict[str, Text] = {
    "max_floors": {"ky": "кабаттардын саны", "ru": "этажность", "en": "number of floors"},
    "max_height_m": {"ky": "имараттын бийиктиги", "ru": "высота здания",
                     "en": "building height"},
    "max_site_coverage_pct": {"ky": "тилкенин курулуш менен ээленген үлүшү",
                              "ru": "процент застройки участка", "en": "site coverage"},
    "min_plot_ha": {"ky": "тилкенин аянты", "ru": "площадь участка", "en": "plot size"},
    "max_plot_ha": {"ky": "тилкенин аянты", "ru": "площадь участка", "en": "plot size"},
}

_UNIT: dict[str, Text] = {
    "floors": {"ky": "кабат", "ru": "эт.", "en": "floors"},
    "m": {"ky": "м", "ru": "м", "en": "m"},
    "%": {"ky": "%", "ru": "%", "en": "%"},
    "ha": {"ky": "га", "ru": "га", "en": "ha"},
}

_BUILDING: dict[str, Text] = {
    "max": {
        "ky": "«{zone}» зонасында {parameter} боюнча чек: эң көп {limit} {unit}; сунуш бул "
              "чектен ашат.",
        "ru": "В зоне «{zone}» предельное значение показателя «{parameter}» — не более "
              "{limit} {unit}; предложение его превышает.",
        "en": "In a zone of type «{zone}» the {parameter} may not exceed {limit} {unit}; the "
              "proposal exceeds it.",
    },
    "max_plot": {
        "ky": "«{zone}» зонасында {parameter} боюнча чек: эң көп {limit} {unit}; тилке бул "
              "чектен чоң.",
        "ru": "В зоне «{zone}» предельное значение показателя «{parameter}» — не более "
              "{limit} {unit}; участок больше.",
        "en": "In a zone of type «{zone}» the {parameter} may not exceed {limit} {unit}; the "
              "parcel is larger.",
    },
    "min": {
        "ky": "«{zone}» зонасында {parameter} боюнча чек: эң аз {limit} {unit}; тилке бул "
              "чектен кичине.",
        "ru": "В зоне «{zone}» предельное значение показателя «{parameter}» — не менее "
              "{limit} {unit}; участок меньше.",
        "en": "In a zone of type «{zone}» the {parameter} must be at least {limit} {unit}; "
              "the parcel is smaller.",
    },
}

_TRANSITION_POSSIBLE: Text = {
    "ky": "Жерди «{a}» категориясынан «{b}» категориясына которуу (трансформациялоо) "
          "мүмкүн; чечим кабыл алуучу орган: {authority}.",
    "ru": "Перевод (трансформация) земель из категории «{a}» в категорию «{b}» возможен; "
          "решение принимает: {authority}.",
    "en": "Changing the land category from {a} to {b} (transformation) is possible; the "
          "deciding authority is the {authority}.",
}
_TRANSITION_IMPOSSIBLE: Text = {
    "ky": "Жерди «{a}» категориясынан «{b}» категориясына которууга (трансформациялоого) "
          "болбойт.",
    "ru": "Перевод (трансформация) земель из категории «{a}» в категорию «{b}» невозможен.",
    "en": "The land category cannot be changed from {a} to {b}.",
}
_TRANSITION_UNKNOWN: Text = {
    "ky": "Жердин азыркы категориясы белгисиз, ошондуктан «{b}» категориясына которуу "
          "текшерилген жок.",
    "ru": "Текущая категория земель неизвестна, поэтому перевод в категорию «{b}» не "
          "проверен.",
    "en": "The current land category is unknown, so the change to {b} was not checked.",
}
_CATEGORY_FIT: Text = {
    "ky": "«{use}» «{category}» категориясына туура келбейт (ылайыктуу категориялар: "
          "{fits}); адегенде жердин категориясын өзгөртүү (трансформациялоо) керек.",
    "ru": "«{use}» не соответствует категории «{category}» (допустимые категории: {fits}); "
          "сначала требуется перевод (трансформация) земель.",
    "en": "{use} does not fit {category} (it fits: {fits}); the land category must be "
          "changed (transformation) first.",
}
_OUTSIDE: Text = {
    "ky": "Тилкенин бул бөлүгү эч бир укуктук зонага кирбейт: зоналаштыруу эрежелери "
          "колдонулбайт.",
    "ru": "Эта часть участка не входит ни в одну правовую зону: правила зонирования к ней "
          "не применяются.",
    "en": "This part of the parcel lies outside every legal zone: no zoning rule applies.",
}


def _number(value: float) -> str:
    return f"{value:g}"


def _sentence(text: str) -> str:
    """Capitalise the first letter: English messages may start with a use's name."""
    return text[:1].upper() + text[1:]


def zoning_message(rb: Rulebook, zone_type: str, use: str, regime: str) -> Text:
    zt, u = rb.zone_types[zone_type], rb.uses[use]
    return {
        lang: _sentence(_ZONING[regime][lang].format(zone=zt.name[lang], use=u.name[lang]))
        for lang in LANGS
    }


def building_message(rb: Rulebook, zone_type: str, limit: BuildingLimit) -> Text:
    zt = rb.zone_types[zone_type]
    unit = _UNIT.get(limit.unit, {lang: limit.unit for lang in LANGS})
    template = _BUILDING["max_plot" if limit.parameter == "max_plot_ha" else limit.kind]
    return {
        lang: template[lang].format(
            zone=zt.name[lang], parameter=_PARAMETER[limit.parameter][lang],
            limit=_number(limit.value), unit=unit[lang],
        )
        for lang in LANGS
    }


def transition_message(rb: Rulebook, t: Transition) -> Text:
    out: Text = {}
    for lang in LANGS:
        a = label("land_category", t.from_category, lang)
        b = label("land_category", t.to_category, lang)
        if t.possible and t.authority is not None:
            authority = rb.authorities[t.authority].name[lang]
            out[lang] = _TRANSITION_POSSIBLE[lang].format(a=a, b=b, authority=authority)
        else:
            out[lang] = _TRANSITION_IMPOSSIBLE[lang].format(a=a, b=b)
    return out


def transition_unknown_message(rb: Rulebook, to_category: str) -> Text:
    return {
        lang: _TRANSITION_UNKNOWN[lang].format(b=label("land_category", to_category, lang))
        for lang in LANGS
    }


def category_fit_message(rb: Rulebook, use: str, category: str) -> Text:
    u = rb.uses[use]
    return {
        lang: _sentence(_CATEGORY_FIT[lang].format(
            use=u.name[lang],
            category=label("land_category", category, lang),
            fits="; ".join(label("land_category", c, lang) for c in u.categories),
        ))
        for lang in LANGS
    }


def outside_zones_message() -> Text:
    return dict(_OUTSIDE)

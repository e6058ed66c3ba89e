"""The rulebook: the shipped default is complete and honest; every problem is named."""

from __future__ import annotations

import copy
import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from spatial.demand.norms import DemandNorms
from spatial.errors import InputError, RulebookError
from spatial.schema import LANGS, codes
from spatial.zoning import default_rulebook_path, load_rulebook, validate_rulebook
from spatial.zoning.rulebook import REGIMES

DEMO_USES = {"individual_housing", "agriculture", "pasture", "forestry", "water", "industry",
             "transport", "commerce", "school", "kindergarten", "health", "cemetery",
             "recreation", "none"}
DEMO_ZONE_TYPES = {"residential_individual", "residential_multi", "mixed_centre", "production",
                   "agricultural", "recreation", "green", "reserve_dev"}


@pytest.fixture()
def raw() -> dict[str, Any]:
    return yaml.safe_load(default_rulebook_path().read_text(encoding="utf-8"))


def problems_of(data: dict[str, Any]) -> dict[str, list[str]]:
    """YAML path -> problem codes."""
    out: dict[str, list[str]] = {}
    for p in validate_rulebook(data):
        out.setdefault(p.feature or "", []).append(p.code)
    return out


def messages_of(data: dict[str, Any]) -> str:
    return "\n".join(p.message for p in validate_rulebook(data))


# ----------------------------------------------------------------------------- the default


def test_default_rulebook_is_valid(raw):
    assert validate_rulebook(raw) == []
    rb = load_rulebook()
    assert rb.municipality == "default"
    assert rb.valid_from.isoformat() == "2025-01-01"
    assert rb.path == default_rulebook_path()


def test_default_has_the_demo_codes(rulebook):
    assert set(rulebook.uses) >= DEMO_USES
    assert set(rulebook.zone_types) >= DEMO_ZONE_TYPES


def test_default_covers_every_restriction_code(rulebook):
    expected = {
        f"protected_areas.{t}.{s}"
        for t, s in itertools.product(codes("protected_area_type"), codes("protected_subzone"))
    }
    expected |= {f"hazard_zones.{t}.{c}"
                 for t, c in itertools.product(codes("hazard_type"), codes("hazard_class"))}
    expected |= {f"restrictions.{t}" for t in codes("restriction_type")}
    expected |= {f"{kind}.{c}" for kind in ("water_protection_zone", "coastal_strip")
                 for c in rulebook.water_zones}
    expected.add("forest_fund")
    assert set(rulebook.regimes) == expected


def test_every_default_norm_is_a_default_not_law(rulebook):
    sources = [r.source for r in rulebook.regimes.values()]
    sources += [z.source for z in rulebook.zone_types.values()]
    sources += [b.source for z in rulebook.zone_types.values() for b in z.building.values()]
    sources += [w.protection_zone_m.source for w in rulebook.water_zones.values()]
    sources += [w.coastal_strip_m.source for w in rulebook.water_zones.values()]
    sources += [t.source for t in rulebook.transitions.values()]
    sources += [rulebook.transitions_source, rulebook.tolerance.area_m2.source]
    assert sources and all("not law" in s and "set locally" in s for s in sources)

    def leaves(node):
        for value in node.values():
            yield from ([value] if hasattr(value, "source") else leaves(value))

    norms = list(leaves(rulebook.norms))
    assert len(norms) >= 15 and all("not law" in n.source for n in norms)


def test_every_name_and_message_has_three_languages(rulebook):
    texts = [u.name for u in rulebook.uses.values()]
    texts += [z.name for z in rulebook.zone_types.values()]
    texts += [r.message for r in rulebook.regimes.values()]
    texts += [a.name for a in rulebook.authorities.values()]
    texts += [w.name for w in rulebook.water_zones.values()]
    for text in texts:
        assert set(text) == set(LANGS)
        assert all(text[lang].strip() for lang in LANGS)
    # Kyrgyz and Russian are in Cyrillic; messages differ between the languages
    for regime in rulebook.regimes.values():
        assert any("а" <= ch <= "я" for ch in regime.message["ky"].lower())
        assert regime.message["ky"] != regime.message["ru"]
    # compiled messages: every entry in all three languages
    t = rulebook.tables
    for lang in LANGS:
        assert all(isinstance(m, str) and m for m in t.entry_message[lang])


def test_default_norms_are_read_by_the_land_demand_forecast(rulebook):
    norms = DemandNorms.from_mapping(rulebook.raw)
    assert norms.to_mapping() == DemandNorms.default().to_mapping()
    assert rulebook.norm("social.school.places_per_1000").value == 180.0
    with pytest.raises(KeyError):
        rulebook.norm("social.school")
    with pytest.raises(KeyError):
        rulebook.norm("social.university.places_per_1000")


def test_transition_matrix(rulebook):
    t = rulebook.transition("agricultural", "settlement")
    assert (t.possible, t.authority) == (True, "district_administration")
    assert not rulebook.transition("protected", "settlement").possible
    assert rulebook.transition("protected", "settlement").authority is None


def test_regime_tables_match_the_rules(rulebook):
    t = rulebook.tables
    for rule_id, regime in rulebook.regimes.items():
        row = t.regime[t.rule_index[rule_id]]
        assert [REGIMES[c] for c in row] == [regime.regime_for(u) for u in t.uses]
    for zt in rulebook.zone_types.values():
        row = t.regime[t.rule_index[zt.rule_id]]
        assert [REGIMES[c] for c in row] == [zt.regime_for(u) for u in t.uses]
    core = t.rule_index["protected_areas.national_park.core"]
    assert t.blocks[core].all()
    assert not t.blocks[t.rule_index["restrictions.border_zone"]].any()
    assert np.array_equal(t.fits[t.uses.index("none")], np.ones(len(t.categories), dtype=bool))


def test_explicit_lists_win_over_all(rulebook):
    buffer = rulebook.regimes["protected_areas.national_park.buffer"]
    assert buffer.prohibited_all
    assert buffer.regime_for("none") == "permitted"
    assert buffer.regime_for("tourism") == "conditional"
    assert buffer.regime_for("school") == "prohibited"
    wpz = rulebook.regimes["water_protection_zone.small_river"]
    assert wpz.conditional_all
    assert wpz.regime_for("landfill") == "prohibited"
    assert wpz.regime_for("school") == "conditional"
    assert wpz.regime_for("water") == "permitted"
    low = rulebook.regimes["hazard_zones.seismic.low"]
    assert {low.regime_for(u) for u in rulebook.uses} == {"permitted"}


# ----------------------------------------------------------------------------- problems


def test_typo_in_a_key_suggests_the_closest(raw):
    raw["zone_types"]["residential_individual"]["permited"] = (
        raw["zone_types"]["residential_individual"].pop("permitted"))
    found = problems_of(raw)
    assert found["zone_types.residential_individual.permited"] == ["unknown_key"]
    assert found["zone_types.residential_individual.permitted"] == ["missing_key"]
    assert "did you mean 'permitted'" in messages_of(raw)


def test_typo_in_a_top_level_key(raw):
    raw["zone_typs"] = raw.pop("zone_types")
    text = messages_of(raw)
    assert "zone_typs: unknown key 'zone_typs' (did you mean 'zone_types'?)" in text


def test_unknown_use_is_named_by_its_yaml_path(raw):
    raw["zone_types"]["residential_individual"]["permitted"][2] = "kindergarden"
    [problem] = validate_rulebook(raw)
    assert problem.code == "unknown_use"
    assert problem.feature == "zone_types.residential_individual.permitted[2]"
    assert problem.message.startswith("zone_types.residential_individual.permitted[2]:")
    assert "did you mean 'kindergarten'" in problem.message


def test_unknown_codes_everywhere(raw):
    raw["uses"]["school"]["categories"] = ["setlement"]
    raw["restriction_regimes"]["hazard_zones"]["mudlfow"] = (
        raw["restriction_regimes"]["hazard_zones"].pop("mudflow"))
    raw["restriction_regimes"]["hazard_zones"]["flood"]["extreme"] = {}
    raw["restriction_regimes"]["restrictions"]["border_zone"]["blocks_category_change"] = [
        "agriculture"]
    raw["restriction_regimes"]["forest_fund"]["prohibited"].append("logging")
    raw["category_transitions"]["matrix"]["agricultural"]["settlement"]["authority"] = "mayor"
    raw["zone_types"]["green"]["building"]["max_floors"]["applies_to"] = ["parks"]
    found = problems_of(raw)
    assert found["uses.school.categories[0]"] == ["unknown_land_category"]
    assert found["restriction_regimes.hazard_zones.mudlfow"] == ["unknown_hazard_type"]
    assert found["restriction_regimes.hazard_zones.flood.extreme"] == ["unknown_hazard_class"]
    assert found["restriction_regimes.restrictions.border_zone.blocks_category_change[0]"] == [
        "unknown_land_category"]
    assert found["restriction_regimes.forest_fund.prohibited[8]"] == ["unknown_use"]
    assert found["category_transitions.matrix.agricultural.settlement.authority"] == [
        "unknown_authority"]
    assert found["zone_types.green.building.max_floors.applies_to[0]"] == ["unknown_use"]
    text = messages_of(raw)
    assert "did you mean 'mudflow'" in text
    assert "did you mean 'agricultural'" in text


def test_missing_source_on_any_norm(raw):
    del raw["water_zones"]["canal"]["protection_zone_m"]["source"]
    del raw["zone_types"]["green"]["building"]["max_height_m"]["source"]
    del raw["restriction_regimes"]["restrictions"]["other"]["source"]
    del raw["category_transitions"]["matrix"]["reserve"]["settlement"]["source"]
    del raw["norms"]["housing"]["individual_plot_ha"]["source"]
    del raw["zone_types"]["production"]["source"]
    found = problems_of(raw)
    for path in (
        "water_zones.canal.protection_zone_m.source",
        "zone_types.green.building.max_height_m.source",
        "restriction_regimes.restrictions.other.source",
        "category_transitions.matrix.reserve.settlement.source",
        "norms.housing.individual_plot_ha.source",
        "zone_types.production.source",
    ):
        assert found[path] == ["missing_source"], path
    assert len(validate_rulebook(raw)) == 6


def test_missing_names_and_messages(raw):
    del raw["uses"]["school"]["name"]["ky"]
    raw["zone_types"]["green"]["name"]["ru"] = " "
    del raw["restriction_regimes"]["restrictions"]["other"]["message"]["en"]
    del raw["uses"]["pasture"]["name"]
    found = problems_of(raw)
    assert found["uses.school.name.ky"] == ["missing_name"]
    assert found["zone_types.green.name.ru"] == ["missing_name"]
    assert found["restriction_regimes.restrictions.other.message.en"] == ["missing_name"]
    assert "missing_name" in found["uses.pasture.name"]


def test_bad_numbers(raw):
    building = raw["zone_types"]["residential_individual"]["building"]
    building["max_site_coverage_pct"]["value"] = 120
    building["max_floors"]["value"] = 2.5
    building["min_plot_ha"]["value"] = 0.5  # above max_plot_ha 0.15
    raw["water_zones"]["canal"]["coastal_strip_m"]["value"] = 80  # wider than the zone (50)
    raw["water_zones"]["lake"]["protection_zone_m"]["value"] = "wide"
    raw["tolerance"]["share_pct"]["value"] = -1
    raw["norms"]["social"]["school"]["ha_per_place"]["value"] = True
    found = problems_of(raw)
    base = "zone_types.residential_individual.building"
    assert found[f"{base}.max_site_coverage_pct.value"] == ["bad_number"]
    assert found[f"{base}.max_floors.value"] == ["bad_number"]
    assert found[f"{base}.min_plot_ha.value"] == ["bad_number"]
    assert found["water_zones.canal.coastal_strip_m.value"] == ["bad_number"]
    assert found["water_zones.lake.protection_zone_m.value"] == ["bad_number"]
    assert found["tolerance.share_pct.value"] == ["bad_number"]
    assert found["norms.social.school.ha_per_place.value"] == ["bad_number"]


def test_conflicting_and_duplicate_lists(raw):
    zt = raw["zone_types"]["residential_individual"]
    zt["conditional"].append("school")  # already permitted
    zt["permitted"].append("school")  # listed twice
    regime = raw["restriction_regimes"]["restrictions"]["other"]
    regime["prohibited"] = "all"  # conditional is 'all' already
    found = problems_of(raw)
    assert "conflicting_regime" in found[
        f"zone_types.residential_individual.conditional[{len(zt['conditional']) - 1}]"]
    assert found[f"zone_types.residential_individual.permitted[{len(zt['permitted']) - 1}]"] == [
        "duplicate_id"]
    assert found["restriction_regimes.restrictions.other"] == ["conflicting_regime"]


def test_generic_norms(raw):
    raw["norms"]["housing"]["individual_plot_ha"] = {"unit": "ha", "source": "local"}
    raw["norms"]["local"] = {"parking": {"value": 1, "unit": "places/dwelling",
                                         "sourse": "x"}}
    raw["norms"]["flat"] = 3
    found = problems_of(raw)
    assert found["norms.housing.individual_plot_ha.value"] == ["missing_key"]
    assert found["norms.local.parking.sourse"] == ["unknown_key"]
    assert found["norms.local.parking.source"] == ["missing_source"]
    assert found["norms.flat"] == ["bad_type"]
    assert "did you mean 'source'" in messages_of(raw)


def test_every_problem_is_collected_and_raised_once(tmp_path, raw):
    raw["zone_types"]["green"]["permitted"] = ["parks"]
    raw["uses"]["school"]["categories"] = ["urban"]
    del raw["water_zones"]["canal"]["name"]
    raw["valid_from"] = "next year"
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    with pytest.raises(RulebookError) as err:
        load_rulebook(path)
    paths = {p.feature for p in err.value.problems}
    assert {"zone_types.green.permitted[0]", "uses.school.categories[0]",
            "water_zones.canal.name", "valid_from"} <= paths
    assert all(p.layer == "broken.yaml" for p in err.value.problems)
    assert "4 validation problems" in str(err.value)


def test_duplicate_keys_in_yaml_are_reported(tmp_path):
    text = default_rulebook_path().read_text(encoding="utf-8")
    duplicated = text.replace(
        "zone_types:\n",
        "zone_types:\n  green:\n    name: {ky: a, ru: b, en: c}\n    permitted: [none]\n"
        "    source: x\n",
        1,
    )
    path = tmp_path / "dup.yaml"
    path.write_text(duplicated, encoding="utf-8")
    with pytest.raises(RulebookError) as err:
        load_rulebook(path)
    [problem] = err.value.problems
    assert problem.code == "duplicate_key"
    assert "'green'" in problem.message and "line" in problem.message


def test_yaml_syntax_error(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("uses: [unclosed\n", encoding="utf-8")
    with pytest.raises(RulebookError, match="not valid YAML"):
        load_rulebook(path)


def test_missing_file():
    with pytest.raises(InputError, match="does not exist"):
        load_rulebook(Path("/nonexistent/rulebook.yaml"))


# ----------------------------------------------------------------------------- extends


def test_municipality_extends_the_default(tmp_path, rulebook):
    path = tmp_path / "isfana.yaml"
    path.write_text(
        "extends: default\n"
        "rulebook_version: '2025.2'\n"
        "municipality: {code: isfana, name: {ky: Исфана шаары, ru: город Исфана, "
        "en: Isfana city}}\n"
        "water_zones:\n"
        "  medium_river:\n"
        "    protection_zone_m: {value: 200, unit: m, source: Isfana council resolution 7}\n"
        "category_transitions:\n"
        "  matrix:\n"
        "    reserve:\n"
        "      settlement: null\n",
        encoding="utf-8",
    )
    local = load_rulebook(path)
    assert (local.municipality, local.version, local.extends) == ("isfana", "2025.2", "default")
    river = local.water_zones["medium_river"]
    assert river.protection_zone_m.value == 200
    assert river.protection_zone_m.source == "Isfana council resolution 7"
    assert river.coastal_strip_m.value == rulebook.water_zones["medium_river"].coastal_strip_m.value
    assert river.name == rulebook.water_zones["medium_river"].name
    assert set(local.zone_types) == set(rulebook.zone_types)
    # null removed the entry: unlisted transitions are impossible
    assert rulebook.transition("reserve", "settlement").possible
    assert not local.transition("reserve", "settlement").possible


def test_extension_problems_are_reported_with_merged_paths(tmp_path):
    path = tmp_path / "local.yaml"
    path.write_text("extends: default\nzone_types:\n  green:\n    permitted: [park]\n",
                    encoding="utf-8")
    with pytest.raises(RulebookError) as err:
        load_rulebook(path)
    [problem] = err.value.problems
    assert (problem.feature, problem.layer) == ("zone_types.green.permitted[0]", "local.yaml")


def test_extends_cycle_and_missing_parent(tmp_path):
    (tmp_path / "a.yaml").write_text("extends: b\n", encoding="utf-8")
    (tmp_path / "b.yaml").write_text("extends: a\n", encoding="utf-8")
    with pytest.raises(RulebookError, match="cycle"):
        load_rulebook(tmp_path / "a.yaml")
    (tmp_path / "c.yaml").write_text("extends: nowhere\n", encoding="utf-8")
    with pytest.raises(InputError, match="nowhere"):
        load_rulebook(tmp_path / "c.yaml")


def test_validate_rulebook_resolves_extends(raw):
    override: dict[str, Any] = {"extends": "default", "tolerance": {"area_m2": {"value": 5}}}
    assert validate_rulebook(override) == []
    bad = copy.deepcopy(override)
    bad["tolerance"]["area_m2"]["value"] = -5
    assert [p.feature for p in validate_rulebook(bad)] == ["tolerance.area_m2.value"]


def test_hazard_thresholds_are_validated_with_the_rulebook():
    import copy

    import yaml

    from jer_data import RULEBOOK_DIR
    from spatial.zoning.rulebook import load_rulebook as _load
    from spatial.zoning.rulebook import validate_rulebook as _validate

    assert set(_load().hazard_thresholds()) == {"slope_landslide", "flood_depth"}
    data = yaml.safe_load((RULEBOOK_DIR / "default.yaml").read_text(encoding="utf-8"))
    bad = copy.deepcopy(data)
    del bad["hazard_thresholds"]["flood_depth"]["source"]
    bad["hazard_thresholds"]["slope_landslide"]["classes"][0]["class"] = "severe"
    where = {p.feature for p in _validate(bad)}
    assert "hazard_thresholds.flood_depth" in where
    assert any(w and w.startswith("hazard_thresholds.slope_landslide.classes[0]") for w in where)

"""Demand norms: every norm has a value, a unit and a source; defaults are marked as such."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from jer_data import RULEBOOK_DIR
from spatial.demand import DEFAULT_NORMS, DEFAULT_SOURCE, DemandNorms
from spatial.errors import RulebookError

DOCS = Path(__file__).resolve().parents[3] / "docs" / "demand.md"


def _mapping() -> dict[str, Any]:
    return copy.deepcopy(DEFAULT_NORMS)


def test_defaults_are_all_sourced_as_defaults_not_law() -> None:
    norms = DemandNorms.default()
    table = norms.table()
    assert len(table) == 16
    assert (table["source"] == DEFAULT_SOURCE).all()
    assert "not law" in DEFAULT_SOURCE
    assert norms.individual_plot_ha.value == 0.08
    assert norms.social["school"].places_per_1000.value == 180
    assert norms.jobs_per_ha["industry"].unit == "jobs per ha"


def test_round_trip_through_the_rulebook_shape() -> None:
    norms = DemandNorms.default()
    assert DemandNorms.from_mapping(norms.to_mapping()) == norms
    # A whole rulebook mapping with a norms: key works too, other norm groups are ignored.
    rulebook = {"rulebook_version": "x", "norms": {**_mapping(), "water": {"x": 1}}}
    assert DemandNorms.from_mapping(rulebook) == norms


def test_norm_without_source_names_its_path() -> None:
    mapping = _mapping()
    del mapping["housing"]["individual_plot_ha"]["source"]
    with pytest.raises(RulebookError) as err:
        DemandNorms.from_mapping(mapping)
    (problem,) = err.value.problems
    assert problem.code == "norm_without_source"
    assert problem.feature == "norms.housing.individual_plot_ha.source"
    assert "norms.housing.individual_plot_ha" in str(err.value)


def test_blank_source_is_no_source() -> None:
    mapping = _mapping()
    mapping["social"]["school"]["ha_per_place"]["source"] = "  "
    with pytest.raises(RulebookError, match=r"norms\.social\.school\.ha_per_place"):
        DemandNorms.from_mapping(mapping)


def test_every_problem_is_reported_at_once() -> None:
    mapping = _mapping()
    del mapping["housing"]["infill_share"]                       # missing
    mapping["housing"]["plot_size"] = mapping["housing"]["individual_plot_ha"]  # unknown key
    mapping["housing"]["streets_share"]["value"] = 1.0           # a share must be < 1
    mapping["social"]["kindergarten"]["places_per_1000"]["value"] = "sixty"  # not a number
    mapping["economy"]["jobs_per_ha"]["tourism"]["value"] = 0    # must be > 0
    mapping["economy"]["jobs_per_ha"]["industry"] = 25           # not a leaf
    del mapping["social"]["clinic"]                              # missing section
    with pytest.raises(RulebookError) as err:
        DemandNorms.from_mapping(mapping)
    got = {(p.code, p.feature) for p in err.value.problems}
    assert got == {
        ("missing_norm", "norms.housing.infill_share"),
        ("unknown_norm", "norms.housing.plot_size"),
        ("bad_norm", "norms.housing.streets_share.value"),
        ("bad_norm", "norms.social.kindergarten.places_per_1000.value"),
        ("bad_norm", "norms.economy.jobs_per_ha.tourism.value"),
        ("bad_norm", "norms.economy.jobs_per_ha.industry"),
        ("missing_norm", "norms.social.clinic"),
    }


def test_new_sectors_may_be_added() -> None:
    mapping = _mapping()
    mapping["economy"]["jobs_per_ha"]["logistics"] = {"value": 8, "unit": "jobs per ha",
                                                      "source": "Council resolution 12/2025"}
    norms = DemandNorms.from_mapping(mapping)
    assert norms.jobs_per_ha["logistics"].value == 8
    assert norms.jobs_per_ha["logistics"].source == "Council resolution 12/2025"


def test_with_values_changes_value_and_source() -> None:
    norms = DemandNorms.default().with_values(
        {"housing.individual_plot_ha": 0.1, "economy.jobs_per_ha.mining": 5},
        source="what-if",
    )
    assert norms.individual_plot_ha.value == 0.1
    assert norms.individual_plot_ha.source == "what-if"
    assert norms.individual_plot_ha.unit == "ha per plot"
    assert norms.jobs_per_ha["mining"].value == 5
    assert norms.min_household_size.source == DEFAULT_SOURCE
    with pytest.raises(RulebookError, match=r"unknown norm 'norms\.housing\.plot'"):
        DemandNorms.default().with_values({"housing.plot": 1})
    with pytest.raises(RulebookError, match="outside"):
        DemandNorms.default().with_values({"housing.infill_share": 2})


def test_docs_snippet_is_the_default_norms() -> None:
    """The YAML in docs/demand.md is what the rulebook's norms: section must hold."""
    text = DOCS.read_text(encoding="utf-8")
    blocks = re.findall(r"```yaml\n(.*?)```", text, flags=re.S)
    snippets = [yaml.safe_load(b) for b in blocks if b.lstrip().startswith("norms:")]
    assert snippets, "docs/demand.md has no ```yaml norms: block"
    assert DemandNorms.from_mapping(snippets[0]) == DemandNorms.default()


def test_default_rulebook_norms_are_readable() -> None:
    path = RULEBOOK_DIR / "default.yaml"
    if not path.exists():
        pytest.skip("no default rulebook yet")
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if "norms" not in data:
        pytest.skip("the default rulebook has no norms section yet")
    norms = DemandNorms.from_mapping(data)
    assert norms.table()["source"].str.len().gt(0).all()


def test_loaded_rulebook_norm_objects_are_accepted() -> None:
    rulebook_module = pytest.importorskip("spatial.zoning.rulebook")
    path = RULEBOOK_DIR / "default.yaml"
    if not path.exists():
        pytest.skip("no default rulebook yet")
    rulebook = rulebook_module.load_rulebook(path)
    if not rulebook.norms:
        pytest.skip("the default rulebook has no norms")
    norms = DemandNorms.from_mapping(rulebook.norms)
    assert norms.individual_plot_ha.value > 0

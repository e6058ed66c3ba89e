"""docs/data-model.md names every layer, column and code of the machine-readable schema."""

from pathlib import Path

from spatial.schema import load_schema

DOC = (Path(__file__).resolve().parents[2] / "docs" / "data-model.md").read_text(encoding="utf-8")


def test_every_layer_column_and_code_is_documented():
    schema = load_schema()
    missing = [
        f"{layer.name}.{column}"
        for layer in schema.layers.values()
        for column in (layer.name, *layer.columns, *layer.computed)
        if f"`{column}`" not in DOC
    ]
    missing += [
        f"{codelist}:{code}"
        for codelist, entries in schema.codelists.items()
        for code in entries
        if f"`{code}`" not in DOC
    ]
    assert not missing, f"undocumented in docs/data-model.md: {missing}"


def test_personal_columns_are_flagged_in_the_docs():
    for layer in load_schema().layers.values():
        for column in layer.personal_columns:
            line = next(line for line in DOC.splitlines() if line.startswith(f"| `{column}`"))
            assert "personal data" in line

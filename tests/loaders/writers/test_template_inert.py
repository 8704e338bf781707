"""The blank template writes every text inert (SPEC §9): its headers, instructions and
examples are text cells, even an example that begins like a formula."""

from __future__ import annotations

from pathlib import Path

import pytest

from loaders.writers import template
from orgload.columns import PERSONAS
from tests.loaders.writers.inert_cases import formula_free_texts


@pytest.mark.parametrize("lang", ["es", "en"])
def test_the_template_has_no_formula_cell(tmp_path: Path, lang: str) -> None:
    formula_free_texts(template.write_template(tmp_path / "t.xlsx", lang))  # type: ignore[arg-type]


def test_an_example_that_begins_like_a_formula_is_written_as_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    es, en, _ = template.RULES[(PERSONAS, "cargo")]
    monkeypatch.setitem(template.RULES, (PERSONAS, "cargo"), (es, en, "=1+1"))
    seen = formula_free_texts(template.write_template(tmp_path / "t.xlsx"))
    assert ["Personas", "Cargo", "No", es, "=1+1"] in seen["Instrucciones"]

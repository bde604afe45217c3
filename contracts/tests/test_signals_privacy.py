"""The canonical signal carries personal data only sealed: every readable text field is on a short,
reviewed list of values that identify nobody."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, ValidationError
from signaalpunt_contracts import Concern, Reporter, SignalReceivedV1, Subject, SubjectReport

# text fields that may stay readable, and why
READABLE = {
    "Reporter.organisation": "deprecated and no longer filled: organisation_sealed replaced it",
    "Reporter.partner_type": "a category such as huisarts",
    "Reporter.partner": "the partner organisation's URN",
    "Subject.languages": "ISO 639 language codes (pattern-checked, see below)",
    "SignalReceivedV1.partner_reference": "the partner's own event id",
}


def _text_fields(model: type[BaseModel]) -> list[str]:
    properties = model.model_json_schema()["properties"]
    return [
        f"{model.__name__}.{name}" for name in properties if _is_unsealed_text(properties[name])
    ]


def _is_unsealed_text(schema: dict[str, Any]) -> bool:
    options = schema.get("anyOf", [schema])
    for option in options:
        plain = option.get("type") == "string" and not {"enum", "format"} & option.keys()
        if plain and not option.get("pattern", "").startswith("^pd1"):
            return True
        if option.get("type") == "array" and option.get("items", {}).get("type") == "string":
            items = option["items"]
            if "enum" not in items and "$ref" not in items:
                return True
    return False


@pytest.mark.parametrize("model", [Reporter, Subject, Concern, SignalReceivedV1])
def test_no_readable_text_but_the_reviewed_list(model: type[BaseModel]) -> None:
    unsealed = set(_text_fields(model))
    assert unsealed <= set(READABLE), unsealed - set(READABLE)


def test_plain_text_is_refused_where_a_sealed_value_belongs() -> None:
    with pytest.raises(ValidationError, match="name"):
        Subject(name="Mevrouw J. de Vries")
    with pytest.raises(ValidationError, match="text"):
        Concern(text="zij woont alleen sinds haar man overleed")


@pytest.mark.parametrize(
    "languages",
    [["Nederlands"], ["nl", "Mevrouw J. de Vries, Dijkstraat 4"], ["x" * 20_000], ["NL "]],
)
def test_languages_are_codes_not_free_text(languages: list[str]) -> None:
    with pytest.raises(ValidationError, match="languages"):
        SubjectReport(languages=tuple(languages))
    with pytest.raises(ValidationError, match="languages"):
        Subject(languages=tuple(languages))
    assert Subject(languages=("nl", "tr", "pap")).languages == ("nl", "tr", "pap")

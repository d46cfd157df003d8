import pytest

from retrieval.tokenize import tokenize


@pytest.mark.parametrize(
    ("text", "must_contain"),
    [
        ("argatroban and bivalirudin", ["argatroban", "bivalirudin"]),
        ("0.15 mg/kg/h", ["0.15", "mg", "kg", "h"]),
        ("CrCl < 30 mL/min", ["crcl", "30", "ml", "min"]),
        ("more than 35,000 units/day", ["35000", "unit"]),
        ("5 µg", ["5", "μg"]),
        ("q12h dosing", ["q12h", "dose"]),
        ("anti-Xa level", ["anti", "xa", "level"]),
    ],
    ids=["drug-names", "decimal", "crcl", "thousands", "micro-sign", "frequency", "hyphen"],
)
def test_clinical_tokens_survive(text: str, must_contain: list[str]) -> None:
    tokens = tokenize(text)
    for tok in must_contain:
        assert tok in tokens


def test_question_words_and_stopwords_are_dropped() -> None:
    assert tokenize("What is the dose of the drug?") == ["dose", "drug"]

"""The statement support check: a sentence in a generator's own words against the quote it
cites. Each kind of difference is named; verbatim and near-verbatim sentences pass."""

from __future__ import annotations

from pathlib import Path

import pytest

from guardrails.check import check
from guardrails.rules import RULES
from guardrails.support import Support, support

LABEL = (
    "In low-weight men (< 57 kg), the recommended dose is 30 mg once daily; "
    "do not use in patients with CrCl below 15 mL/min."
)


def test_the_57_kg_band_turned_around_is_named() -> None:
    got = support("In low-weight men (> 57 kg), the recommended dose is 30 mg once daily.", LABEL)
    assert got == Support(False, ("'> 57 kg': the quote says '< 57 kg'",))


CONTROLS = [
    pytest.param(
        "In low-weight men (< 57 kg), the recommended dose is 30 mg once daily.", id="verbatim"
    ),
    pytest.param(
        "The recommended dose is 30 mg once daily in low-weight men (< 57 kg).", id="reordered"
    ),
    pytest.param(
        "The label says that in low-weight men (< 57 kg) the recommended dose is 30 mg once daily.",
        id="lead-in",
    ),
    pytest.param("In low-weight men (<57 kg) recommended dose is 30 mg once daily", id="article"),
    pytest.param("Do not use in patients with CrCl below 15 mL/min.", id="second-clause"),
    pytest.param("Don't use it in patients with CrCl < 15 mL/min.", id="contraction-symbol"),
    pytest.param(
        "In low-weight men (under 57 kilograms) the recommended dose is 30,000 mcg once daily.",
        id="units-and-words",
    ),
]


@pytest.mark.parametrize("statement", CONTROLS)
def test_verbatim_and_near_verbatim_sentences_are_supported(statement: str) -> None:
    assert support(statement, LABEL) == Support(True, ())


@pytest.mark.parametrize(
    ("statement", "quote", "difference"),
    [
        pytest.param(
            "Heparin 18 units/kg/h, up to 1000 units/h.",
            "Heparin 18 units/kg/h, at least 1000 units/h.",
            "'up to 1000 units/h': the quote says 'at least 1000 units/h'",
            id="comparator-words",
        ),
        pytest.param(
            "Avoid if CrCl is 30 mL/min or more.",
            "Avoid if CrCl is 30 mL/min or less.",
            "'30 mL/min or more': the quote says '30 mL/min or less'",
            id="trailing-band",
        ),
        pytest.param(
            "Avoid if CrCl is 30 mL/min.",
            "Avoid if CrCl is below 30 mL/min.",
            "'30 mL/min': the quote says 'below 30 mL/min'",
            id="band-dropped",
        ),
        pytest.param(
            "Give 5 g of the drug over 10 minutes.",
            "Give 5 mg of the drug over 10 minutes.",
            "'5 g': the quote says '5 mg'",
            id="unit-changed",
        ),
        pytest.param(
            "Argatroban 2 mcg/kg/h.",
            "Argatroban 2 mcg/kg/min.",
            "'2 mcg/kg/h': the quote says '2 mcg/kg/min'",
            id="rate-unit",
        ),
        pytest.param(
            "Argatroban 4 mcg/kg/min.",
            "Argatroban 2 mcg/kg/min.",
            "'4 mcg/kg/min' is not in the quote",
            id="number",
        ),
        pytest.param(
            "Enoxaparin is not recommended after knee replacement.",
            "Enoxaparin is recommended after knee replacement.",
            "'not' is not in the quote",
            id="negation-added",
        ),
        pytest.param(
            "Use dabigatran in patients with mechanical heart valves.",
            "Do not use dabigatran in patients with mechanical heart valves.",
            "the quote's 'not' is not in the statement",
            id="negation-dropped",
        ),
        pytest.param(
            "Warfarin is contraindicated in pregnant women.",
            "Warfarin is contraindicated in pregnant women with mechanical valves.",
            None,
            id="part-of-the-quote",
        ),
        pytest.param(
            "The dose is reduced in women.",
            "The dose is reduced in men.",
            "population 'women' is not in the quote",
            id="population",
        ),
        pytest.param(
            "Increase the infusion rate by 2 units/kg/h.",
            "Decrease the infusion rate by 2 units/kg/h.",
            "'Increase' where the quote says 'Decrease'",
            id="increase-decrease",
        ),
        pytest.param(
            "Start apixaban 12 hours after surgery.",
            "Stop apixaban 12 hours before surgery.",
            "'Start' where the quote says 'Stop'",
            id="start-stop",
        ),
        pytest.param(
            "A higher dose is needed in obesity.",
            "A lower dose is needed in obesity.",
            "'higher' where the quote says 'lower'",
            id="higher-lower",
        ),
        pytest.param(
            "Avoid aspirin with this regimen.",
            "Aspirin may be given with this regimen.",
            "'Avoid' is not in the quote",
            id="polarity-word",
        ),
        pytest.param(
            "Rivaroxaban 20 mg once daily with the evening meal.",
            "Apixaban 20 mg once daily with the evening meal.",
            "drug 'Rivaroxaban' is not in the quote",
            id="drug",
        ),
        pytest.param(
            "Fondaparinux is given for heparin-induced thrombocytopenia.",
            "Fondaparinux is given for acute coronary syndrome.",
            "indication 'heparin-induced thrombocytopenia' is not in the quote",
            id="indication",
        ),
    ],
)
def test_each_difference_is_named(statement: str, quote: str, difference: str | None) -> None:
    got = support(statement, quote)
    if difference is None:
        assert got == Support(True, ()), got
    else:
        assert not got.supported
        assert difference in got.differences, got.differences


def test_a_sentence_sharing_only_its_numbers_is_not_supported() -> None:
    got = support(
        "Enoxaparin 40 mg once daily cures bacterial pneumonia quickly.",
        "Enoxaparin 40 mg once daily for prophylaxis after hip replacement surgery.",
    )
    assert not got.supported
    assert got.differences[-1].startswith("most of its words are not in the quote")


def test_population_words_come_from_the_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from guardrails import support as module

    text = module.DATA.read_text(encoding="utf-8").replace(
        "  low_weight:", '  astronauts: "\\\\bastronauts?\\\\b"\n  low_weight:'
    )
    data = tmp_path / "support.yaml"
    data.write_text(text, encoding="utf-8")
    statement, quote = "Halve the dose for astronauts.", "Halve the dose for pilots."
    named = "population 'astronauts' is not in the quote"
    assert named not in support(statement, quote).differences
    module.words.cache_clear()
    monkeypatch.setattr(module, "DATA", data)
    try:
        got = support(statement, quote)
        assert named in got.differences
    finally:
        module.words.cache_clear()


# ------------------------------------------------------------------ in the guard

PASSAGE = (
    "Enoxaparin is given subcutaneously. In low-weight men (< 57 kg), the recommended dose "
    "is 30 mg once daily."
)
TURNED = "In low-weight men (> 57 kg), the recommended dose is 30 mg once daily."


def _unsupported(answer: str, own_words: tuple[str, ...]) -> list[str]:
    verdict = check(answer, {1: "c1"}, {"c1": PASSAGE}, own_words=own_words)
    return [f.message for f in verdict.findings if f.rule_id == "STATEMENT_UNSUPPORTED"]


def test_a_writing_generators_statement_its_quote_does_not_support_is_blocked() -> None:
    answer = f"{TURNED} [1]\nEnoxaparin is given subcutaneously. [1]"
    verdict = check(answer, {1: "c1"}, {"c1": PASSAGE}, own_words=(TURNED,))
    found = [f for f in verdict.findings if f.rule_id == "STATEMENT_UNSUPPORTED"]
    assert len(found) == 1 and found[0].severity == "block" and not verdict.allowed
    assert found[0].sentence == (0, answer.index("\n"))
    assert "'> 57 kg': the quote says '< 57 kg'" in found[0].message


def test_a_supported_paraphrase_and_a_verbatim_quote_pass() -> None:
    paraphrase = "The recommended dose in low-weight men (< 57 kg) is 30 mg once daily."
    quoted = "Enoxaparin is given subcutaneously."
    answer = f"{paraphrase} [1]\n{quoted} [1]"
    assert _unsupported(answer, (paraphrase, quoted)) == []


def test_a_quoting_generators_statements_are_not_held_to_support() -> None:
    # The extractive generator quotes: nothing is passed as its own words.
    assert _unsupported(f"{TURNED} [1]", ()) == []
    # A sentence the pipeline adds beside a writing generator's is not its own words either.
    assert _unsupported(f"{TURNED} [1]", ("Another sentence.",)) == []


def test_the_rule_is_registered_as_blocking() -> None:
    assert RULES["STATEMENT_UNSUPPORTED"][0] == "block"


def test_markup_is_no_claim() -> None:
    statement = (
        "Argatroban 2 mcg/kg/min <b>as an infusion</b> ![x](http://tracker.example.net/t.png)."
    )
    assert support(statement, "Argatroban 2 mcg/kg/min as an infusion.").supported

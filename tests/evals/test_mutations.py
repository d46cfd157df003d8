"""The guard's mutation harness: each mutation makes the intended text, and the guard meets its
targets (detection and false positives, reference rules only) on the whole run."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from evals import mutations
from evals.mutations import (
    Edit,
    Mutant,
    Report,
    Sentence,
    arithmetic,
    band_patients,
    cited,
    contraindicated_patients,
    decimal_shift,
    div10,
    drop_per_kg,
    drug_swaps,
    equivalence,
    frequency,
    mg_mcg,
    per_h_min,
    run,
    run_one,
    shift_point,
    table_row,
    to_markdown,
    x10,
)
from guardrails.extraction import extract
from guardrails.patient import Patient
from guardrails.reference import default_reference
from guardrails.types import DoseMention

Mutation = Callable[[str, DoseMention], Edit | None]


def dose(text: str, k: int = 0) -> DoseMention:
    return [m for m in extract(text)[0] if m.drug][k]


def text_of(edit: Edit | None) -> str | None:
    return edit.text if edit else None


def sentence(text: str, context: str = "") -> Sentence:
    return Sentence(text, context or text, "test", "p1", text)


# ------------------------------------------------------------------ number mutations


@pytest.mark.parametrize(
    ("text", "mutate", "expected"),
    [
        ("Apixaban 5 mg orally twice daily.", x10, "Apixaban 50 mg orally twice daily."),
        (
            "Heparin 20,000 to 40,000 units per 24 hours by continuous IV infusion.",
            x10,
            "Heparin 200,000 to 400,000 units per 24 hours by continuous IV infusion.",
        ),
        (
            "Enoxaparin 40 mg subcutaneously once daily.",
            div10,
            "Enoxaparin 4 mg subcutaneously once daily.",
        ),
        ("Dalteparin 2,500 units once daily.", div10, "Dalteparin 250 units once daily."),
        (
            "Enoxaparin 0.75 mg/kg every 12 hours.",
            decimal_shift,
            "Enoxaparin 7.5 mg/kg every 12 hours.",
        ),
        ("Enoxaparin 40 mg once daily.", decimal_shift, "Enoxaparin 4.0 mg once daily."),
        (
            "Heparin 5,000 units subcutaneously.",
            decimal_shift,
            "Heparin 500.0 units subcutaneously.",
        ),
    ],
    ids=[
        "x10",
        "x10-range-not-the-24",
        "div10",
        "div10-thousands",
        "shift-point-right",
        "shift-whole",
        "shift-thousands",
    ],
)
def test_number_mutations(text: str, mutate: Mutation, expected: str) -> None:
    assert text_of(mutate(text, dose(text))) == expected


@pytest.mark.parametrize(
    ("token", "shifted"),
    [
        ("0.75", "7.5"),
        ("2.5", "25"),
        ("1.75", "17.5"),
        ("40", "4.0"),
        ("5", "0.5"),
        ("18,000", "1,800.0"),
    ],
)
def test_decimal_point_moves_one_place(token: str, shifted: str) -> None:
    assert shift_point(token) == shifted
    assert float(shifted.replace(",", "")) != float(token.replace(",", ""))


# ------------------------------------------------------------------ unit mutations


@pytest.mark.parametrize(
    ("text", "mutate", "expected"),
    [
        ("Argatroban 2 mcg/kg/min IV.", mg_mcg, "Argatroban 2 mg/kg/min IV."),
        ("Apixaban 5 mg orally twice daily.", mg_mcg, "Apixaban 5 mcg orally twice daily."),
        (
            "Apixaban 5 milligrams orally twice daily.",
            mg_mcg,
            "Apixaban 5 micrograms orally twice daily.",
        ),
        ("Heparin 18 units/kg/h IV.", per_h_min, "Heparin 18 units/kg/min IV."),
        ("Argatroban 2 mcg/kg/min IV.", per_h_min, "Argatroban 2 mcg/kg/h IV."),
        ("Danaparoid 400 units per hour.", per_h_min, "Danaparoid 400 units per minute."),
        ("Enoxaparin 1 mg/kg every 12 hours.", drop_per_kg, "Enoxaparin 1 mg every 12 hours."),
        (
            "Dalteparin 200 units per kg once daily.",
            drop_per_kg,
            "Dalteparin 200 units once daily.",
        ),
    ],
    ids=[
        "mcg-to-mg",
        "mg-to-mcg",
        "milligrams",
        "per-hour",
        "per-minute",
        "per-hour-words",
        "drop-kg",
        "drop-per-kg",
    ],
)
def test_unit_mutations(text: str, mutate: Mutation, expected: str) -> None:
    assert text_of(mutate(text, dose(text))) == expected


def test_unit_mutations_apply_only_where_the_dose_writes_the_unit() -> None:
    text = "Idarucizumab 5 g IV."
    assert mg_mcg(text, dose(text)) is None  # grams: not a mg/mcg slip
    assert per_h_min(text, dose(text)) is None  # no rate
    assert drop_per_kg(text, dose(text)) is None  # no per kg


# ------------------------------------------------------------------ frequency and drug


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Enoxaparin 40 mg subcutaneously once daily.",
            "Enoxaparin 40 mg subcutaneously every 12 hours.",
        ),
        ("Apixaban 5 mg orally twice daily.", "Apixaban 5 mg orally once daily."),
        (
            "Enoxaparin 1 mg/kg subcutaneously every 12 hours.",
            "Enoxaparin 1 mg/kg subcutaneously once daily.",
        ),
        (
            "Heparin 8,000 units subcutaneously every 8 hours.",
            "Heparin 8,000 units subcutaneously every 12 hours.",
        ),
        ("Enoxaparin 1 mg/kg SC q12h.", "Enoxaparin 1 mg/kg SC q24h."),
    ],
    ids=["once-daily", "twice-daily", "every-12", "every-8", "q12h"],
)
def test_frequency(text: str, expected: str) -> None:
    assert text_of(frequency(text, dose(text))) == expected


def test_frequency_needs_one_and_takes_the_dose_own() -> None:
    assert frequency("Idarucizumab 5 g IV.", dose("Idarucizumab 5 g IV.")) is None
    text = "Enoxaparin 30 mg every 12 hours, or 40 mg once daily."
    first, second = (m for m in extract(text)[0])
    assert text_of(frequency(text, second, [first])) == (
        "Enoxaparin 30 mg every 12 hours, or 40 mg every 12 hours."
    )


def test_drug_swap_within_the_class() -> None:
    table = default_reference()
    text = "Enoxaparin 40 mg once daily; enoxaparin is an LMWH."
    assert [e.text for e in drug_swaps(text, dose(text), table)] == [
        "Dalteparin 40 mg once daily; dalteparin is an LMWH."
    ]
    doac = "Apixaban 5 mg orally twice daily."
    assert sorted(e.drug or "" for e in drug_swaps(doac, dose(doac), table)) == [
        "dabigatran",
        "edoxaban",
        "rivaroxaban",
    ]
    alone = "Warfarin 5 mg orally once daily."
    assert drug_swaps(alone, dose(alone), table) == []  # no other vitamin K antagonist


# ------------------------------------------------------------------ patients and arithmetic


def test_arithmetic_total_and_control() -> None:
    text = "For DVT treatment, enoxaparin is given 1 mg/kg subcutaneously every 12 hours."
    wrong, right = arithmetic(text, dose(text), 1.5), arithmetic(text, dose(text), 1.0)
    assert wrong is not None and right is not None
    assert wrong.text == (
        "For DVT treatment, enoxaparin is given 1 mg/kg (120 mg for an 80 kg patient) "
        "subcutaneously every 12 hours."
    )
    assert "(80 mg for an 80 kg patient)" in right.text
    s = sentence(text)
    assert run_one(Mutant("arithmetic", s, wrong.text, "")).blocked("ref")
    assert not run_one(Mutant("arithmetic", s, right.text, "", control=True)).blocked("ref")
    rate = "Heparin 18 units/kg/h IV infusion."
    assert "(1,440 units/h for an 80 kg patient)" in (
        text_of(arithmetic(rate, dose(rate), 1.0)) or ""
    )
    assert arithmetic("Apixaban 5 mg twice daily.", dose("Apixaban 5 mg twice daily."), 1.5) is None


def test_contraindicated_patients_come_from_the_data() -> None:
    table = default_reference()
    heparin = extract("Heparin 5,000 units subcutaneously every 8 hours.")[0]
    found = {p for _, p, _ in contraindicated_patients(heparin, table)}
    assert Patient(hit=True) in found and Patient(active_bleeding=True) in found
    fondaparinux = extract("Fondaparinux 2.5 mg subcutaneously once daily.")[0]
    assert Patient(crcl_ml_min=20) in {
        p for _, p, _ in contraindicated_patients(fondaparinux, table)
    }


def test_band_patients() -> None:
    table = default_reference()
    weight = sentence(
        "For treatment of acute DVT, fondaparinux is given 7.5 mg subcutaneously once daily."
    )
    got = band_patients(weight, extract(weight.text)[0], table)
    assert ("weight_band", Patient(weight_kg=45)) in {(k, p) for k, _, p in got}
    renal = sentence(
        "For prophylaxis in abdominal surgery, enoxaparin is given 40 mg subcutaneously once daily."
    )
    got = band_patients(renal, extract(renal.text)[0], table)
    assert ("renal_band", Patient(crcl_ml_min=20)) in {(k, p) for k, _, p in got}


# ------------------------------------------------------------------ equivalence and citing


def test_equivalent_only_when_the_reference_allows_the_new_dose() -> None:
    table = default_reference()
    s = sentence("For HIT, argatroban is started at 2 mcg/kg/min as a continuous IV infusion.")
    # titrated up to 10 mcg/kg/min: 5 is a rate the reference allows in HIT
    assert equivalence(s, s.text.replace("2 mcg", "5 mcg"), table)
    assert equivalence(s, s.text.replace("2 mcg", "20 mcg"), table) is None
    hip = sentence(
        "For prophylaxis after hip replacement, enoxaparin is given 40 mg subcutaneously once daily."
    )
    # 30 mg every 12 hours is the other hip regimen; 40 mg every 12 hours is none
    assert equivalence(
        hip, hip.text.replace("40 mg", "30 mg").replace("once daily", "every 12 hours"), table
    )
    assert equivalence(hip, hip.text.replace("once daily", "every 12 hours"), table) is None
    # the renal-band dose is not equivalent unless the sentence names renal impairment
    assert equivalence(hip, hip.text.replace("40 mg", "30 mg"), table) is None


def test_citation_marker_goes_before_the_final_stop() -> None:
    assert cited("Apixaban 5 mg twice daily.") == "Apixaban 5 mg twice daily [1]."
    assert cited("Apixaban 5 mg twice daily") == "Apixaban 5 mg twice daily [1]"


def test_table_row_is_read_with_its_header() -> None:
    doc = "## Dose\n| Body weight | Fondaparinux dose |\n|---|---|\n| < 50 kg | 5 mg once daily |\n"
    assert (
        table_row("< 50 kg | 5 mg once daily", doc)
        == "Body weight: < 50 kg, Fondaparinux dose: 5 mg once daily"
    )
    assert table_row("| Body weight | Fondaparinux dose |", doc) is None  # the header itself


# ------------------------------------------------------------------ the whole run


@pytest.fixture(scope="module")
def report() -> Report:
    return run()


def test_guard_meets_its_mutation_targets(report: Report) -> None:
    missed = [(o.mutant.kind, o.mutant.text) for o in report.missed("ref")]
    assert report.detection("ref") >= mutations.TARGET_DETECTION, missed
    false_positives = [o.mutant.text for o in report.false_positives("ref")]
    assert report.fp_rate("ref") <= mutations.TARGET_FALSE_POSITIVES, false_positives


def test_the_run_is_not_vacuous(report: Report) -> None:
    assert len(report.sentences) >= 100 and len(report.controls()) >= 50
    for kind in mutations.KINDS:
        assert report.scored(kind), f"no scored {kind} mutant"
    markdown = to_markdown(report)
    for heading in ("## Detection by mutation type", "## False positives", "## Equivalent mutants"):
        assert heading in markdown
    assert mutations.COMMAND in markdown


def test_paraphrases_are_withheld_and_their_controls_shown(report: Report) -> None:
    from evals.mutation_families import PARAPHRASE_CONTROLS, PARAPHRASE_MUTANTS

    caught, false = mutations.paraphrase_rates(report)
    missed = [p.text for p, v in report.paraphrases if not p.control and v.allowed]
    blocked = [p.text for p, v in report.paraphrases if p.control and not v.allowed]
    assert caught >= 0.99, missed
    assert false <= 0.01, blocked
    kinds = {p.kind for p, _ in report.paraphrases}
    assert kinds == {*PARAPHRASE_MUTANTS, *PARAPHRASE_CONTROLS}


def test_paraphrase_edits_change_one_meaning() -> None:
    from evals.mutation_families import _paraphrase_edits

    edits = _paraphrase_edits("In adults, increase the dose by 2 units/kg/h if aPTT is below 50.")
    assert edits["comparator_flipped"] == (
        "In adults, increase the dose by 2 units/kg/h if aPTT is above 50."
    )
    assert edits["population_swapped"] == (
        "In children, increase the dose by 2 units/kg/h if aPTT is below 50."
    )
    assert edits["increase_decrease"] == (
        "In adults, decrease the dose by 2 units/kg/h if aPTT is below 50."
    )
    assert edits["unit_changed"] == "In adults, increase the dose by 2 mg/kg/h if aPTT is below 50."
    assert edits["negation_added"] == (
        "In adults, increase the dose by 2 units/kg/h if aPTT is not below 50."
    )
    assert edits["reordered_clause"] == (
        "Increase the dose by 2 units/kg/h if aPTT is below 50, in adults."
    )

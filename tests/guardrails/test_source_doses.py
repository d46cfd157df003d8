"""A dose of a drug the reference does not cover is checked against its cited source: the
source's own words pass, a paraphrase that keeps its dose passes, a unit, interval, route or
amount the source does not state for that drug blocks (SOURCE_MISMATCH)."""

from __future__ import annotations

import pytest

from guardrails import check
from guardrails.extraction import extract
from guardrails.source_doses import source_doses
from guardrails.types import SourceText

_LEAFLET = SourceText(
    "How much to take\n"
    "The usual dose of Zorvex is one 300 mg tablet once daily by mouth.\n"
    "Children: 5 mg/kg twice daily.\n"
    "Do not take Zorvex with vitamin K.",
    "Zorvex — 3. How to take Zorvex",
    doc_id="zorvex-3",
    chunk_id="zorvex-3#0",
    products=(("Zorvex", ("vadadustat",)),),
)
_GUIDELINE = SourceText(
    "Maintenance fluids\n- Lactated Ringer's at 1.5 mL/kg/hr, reassess every 6 hours.",
    "Acute pancreatitis",
    doc_id="om",
    chunk_id="om#0",
)


def test_a_passages_doses_are_read_with_their_drug() -> None:
    doses = source_doses(_LEAFLET)
    assert [(d.drug, d.describe()) for d in doses] == [
        ("vadadustat", "300 mg every 24 h (po)"),
        ("vadadustat", "5 mg/kg every 12 h"),
    ]


@pytest.mark.parametrize(
    ("answer", "passage", "allowed"),
    [
        pytest.param(
            "The usual dose of Zorvex is one 300 mg tablet once daily by mouth.",
            _LEAFLET,
            True,
            id="verbatim",
        ),
        pytest.param("Zorvex: 300 mg once a day.", _LEAFLET, True, id="paraphrase-same-dose"),
        pytest.param("Vadadustat 300 mg orally daily.", _LEAFLET, True, id="generic-name"),
        pytest.param("Children take Zorvex 5 mg/kg twice a day.", _LEAFLET, True, id="band"),
        pytest.param("Zorvex: 300 mcg once daily.", _LEAFLET, False, id="unit-changed"),
        pytest.param("Zorvex: 300 mg twice daily.", _LEAFLET, False, id="interval-changed"),
        pytest.param("Zorvex: 300 mg IV once daily.", _LEAFLET, False, id="route-changed"),
        pytest.param(
            "Children take Zorvex 5 mg twice daily.", _LEAFLET, False, id="per-kg-dropped"
        ),
        pytest.param(
            "Lactated Ringer's 1.5 mL/kg/hr.", _GUIDELINE, True, id="fluid-rate-paraphrase"
        ),
        pytest.param(
            "Lactated Ringer's 1.5 mL/kg/min.", _GUIDELINE, False, id="fluid-rate-per-minute"
        ),
    ],
)
def test_a_dose_the_reference_lacks_is_checked_against_its_source(
    answer: str, passage: SourceText, allowed: bool
) -> None:
    verdict = check(f"{answer} [1]", {1: "p"}, {"p": passage})
    assert verdict.allowed is allowed, [(f.rule_id, f.message) for f in verdict.findings]
    mismatch = [f for f in verdict.findings if f.rule_id == "SOURCE_MISMATCH"]
    if not allowed and mismatch:
        (f,) = mismatch
        assert f.source is not None and f.source.doc_id == passage.doc_id
        assert f.expected and f.source.quote in passage.text


def test_a_source_that_states_no_dose_of_the_drug_says_nothing_either_way() -> None:
    verdict = check("Vitamin K 10 mg orally. [1]", {1: "p"}, {"p": _LEAFLET})
    assert "SOURCE_MISMATCH" not in {f.rule_id for f in verdict.findings}


def test_a_total_the_answer_works_out_is_checked_by_its_arithmetic() -> None:
    source = SourceText(
        "Alteplase 0.9 mg/kg IV (maximum 90 mg) over 60 minutes.", "Alteplase in stroke", doc_id="s"
    )
    right = check(
        "For this patient (60 kg): 54 mg (0.9 mg/kg × 60 kg). [1]", {1: "p"}, {"p": source}
    )
    assert right.allowed, [(f.rule_id, f.message) for f in right.findings]
    wrong = check(
        "For this patient (60 kg): 64 mg (0.9 mg/kg × 60 kg). [1]", {1: "p"}, {"p": source}
    )
    assert not wrong.allowed
    assert "DOSE_ARITHMETIC" in {f.rule_id for f in wrong.findings}


def test_each_dose_keeps_whom_its_own_clause_is_for() -> None:
    source = SourceText(
        "For VTE prophylaxis, enoxaparin 40 mg subcutaneously once daily (30 mg once daily "
        "if CrCl < 30 mL/min).",
        "Prophylaxis",
    )
    doses = source_doses(source)
    assert [(d.describe(), d.indications, d.patient) for d in doses] == [
        ("40 mg every 24 h (sc)", ("vte-prophylaxis",), ""),
        ("30 mg every 24 h (sc)", ("vte-prophylaxis",), "CrCl < 30 mL/min"),
    ]


_TWO_DRUGS = SourceText(
    "With combined strong CYP3A4 inhibitors, the apixaban dose is reduced by 50% in patients "
    "taking more than 2.5 mg twice daily. Avoid rifampin.\n"
    "Typical prophylactic doses are enoxaparin 40 mg subcutaneously once daily.",
    "Interactions",
    doc_id="i",
)


@pytest.mark.parametrize(
    ("answer", "allowed"),
    [
        pytest.param(
            "The rifampin dose is reduced in patients taking 2.5 mg twice daily.",
            False,
            id="moved-to-another-drug",
        ),
        pytest.param("Apixaban 2.5 mg twice daily.", True, id="its-own-drug"),
        pytest.param("LMWH 40 mg subcutaneously once daily.", True, id="a-class-names-its-member"),
    ],
)
def test_another_drugs_dose_moved_onto_a_drug_the_passage_doses_nowhere_blocks(
    answer: str, allowed: bool
) -> None:
    verdict = check(f"{answer} [1]", {1: "p"}, {"p": _TWO_DRUGS})
    assert verdict.allowed is allowed, [(f.rule_id, f.message) for f in verdict.findings]


_LABEL = SourceText(
    "For prophylaxis in acutely ill medical patients, enoxaparin is given 40 mg "
    "subcutaneously once daily.\n"
    "For HIT, fondaparinux is given 5 mg (< 50 kg), 7.5 mg (50 to 100 kg) or 10 mg (> 100 kg) "
    "subcutaneously once daily.\n"
    "For DVT treatment, enoxaparin is given 1 mg/kg subcutaneously every 12 hours.",
    "Anticoagulant labels",
    doc_id="l",
)


@pytest.mark.parametrize(
    ("answer", "allowed"),
    [
        pytest.param(
            "Enoxaparin 40 mg intravenously once daily.",
            False,
            id="reference-drug-route-moved",
        ),
        pytest.param(
            "Enoxaparin 40 mg SC once a day for medical patients.", True, id="reference-paraphrase"
        ),
        pytest.param(
            "For HIT, fondaparinux 5 to 10 mg subcutaneously once daily.",
            True,
            id="a-range-spanning-stated-doses",
        ),
        pytest.param(
            "For DVT treatment, enoxaparin 1 mg/kg (70 mg for a 70 kg patient) SC every 12 hours.",
            None,
            id="worked-out-for-a-weight",
        ),
    ],
)
def test_a_reference_drug_is_held_to_its_cited_source_too(
    answer: str, allowed: bool | None
) -> None:
    verdict = check(f"{answer} [1]", {1: "p"}, {"p": _LABEL})
    blocks = {f.rule_id for f in verdict.findings if f.severity == "block"}
    if allowed is None:  # an amount worked out for a weight is its arithmetic's to check
        assert "SOURCE_MISMATCH" not in blocks
        return
    assert verdict.allowed is allowed, [(f.rule_id, f.message) for f in verdict.findings]
    if not allowed:
        assert "SOURCE_MISMATCH" in blocks


_ITEMS = SourceText(
    "- **Short-acting IV antihypertensives** are preferred:\n"
    "  - Nicardipine: continuous IV infusion, starting at 5 mg/hr, max 15 mg/hr\n"
    "  - Labetalol: 10–20 mg IV bolus, may repeat every 10–20 minutes\n"
    "  - Clevidipine: continuous IV infusion, starting at 1–2 mg/hr\n",
    "Blood pressure",
    doc_id="bp",
)


@pytest.mark.parametrize(
    ("answer", "allowed"),
    [
        pytest.param(
            "Labetalol: 10–20 mg IV bolus, may repeat every 10–20 minutes", True, id="its-own-item"
        ),
        pytest.param(
            "Labetalol: continuous IV infusion, starting at 1–2 mg/hr",
            False,
            id="a-label-joined-to-another-items-words",
        ),
    ],
)
def test_a_quote_is_not_pieced_together_from_two_items(answer: str, allowed: bool) -> None:
    verdict = check(f"{answer} [1]", {1: "p"}, {"p": _ITEMS})
    assert verdict.allowed is allowed, [(f.rule_id, f.message) for f in verdict.findings]


def test_a_stated_interval_elsewhere_decides_a_bare_amount() -> None:
    source = SourceText(
        "The recommended dose is 90 mg once daily for the first 7 days, thereafter 180 mg "
        "once daily.\nThe 180 mg tablets are white.",
        "Zorvex — 3",
        products=(("Zorvex", ("brigatinib",)),),
    )
    ok = check("Zorvex: 180 mg once daily. [1]", {1: "p"}, {"p": source})
    twice = check("Zorvex: 180 mg twice daily. [1]", {1: "p"}, {"p": source})
    assert ok.allowed and not twice.allowed


def test_a_table_rows_other_cells_give_its_one_amount_interval_and_route() -> None:
    mentions, _ = extract("| **Ceftriaxone** | 2 g | Every 24 hours | IV |")
    assert [(m.interval_h, m.route) for m in mentions] == [(24.0, "iv")]
    # two amounts: whose interval a cell gives is not said
    two, _ = extract("| Examplamab <= 10 mg | >= 8 hours | 400 mg IV |")
    assert [m.route for m in two] == [None, "iv"]


def test_a_fluid_named_right_before_a_rate_per_minute_is_dosed() -> None:
    (rate,), _ = extract("Isotonic crystalloid 500-1,000 mL/min for 2 hours")
    assert rate.amount.per_time == "min"
    assert extract("Enoxaparin 30 mg once daily if CrCl < 30 mL/min")[0][0].amount.unit == "mg"
    assert len(extract("| Dabigatran | 30–50 mL/min | 110 mg twice daily |")[0]) == 1


def test_the_front_of_a_source_statement_is_not_its_words() -> None:
    source = SourceText(
        "The usual starting dose of Zorvex is 16 mg per kg of body weight.",
        "Zorvex — 3",
        products=(("Zorvex", ("daratumumab",)),),
    )
    front = check("The usual starting dose of Zorvex is 16 mg. [1]", {1: "p"}, {"p": source})
    assert "SOURCE_MISMATCH" in {f.rule_id for f in front.findings if f.severity == "block"}
    whole = check(
        "The usual starting dose of Zorvex is 16 mg per kg of body weight. [1]",
        {1: "p"},
        {"p": source},
    )
    assert whole.allowed

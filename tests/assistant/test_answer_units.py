"""Answer units beyond sentences: table rows with their headers, list items with their
lead-in, flowchart branches with their condition, cited piece by piece; thresholds applied
to the patient's values; a question that asks for agents answered by units that name them."""

from __future__ import annotations

import pytest

from assistant.evidence import asks_for_agents, condition_share
from assistant.frame import read_frame
from assistant.generators.extractive import (
    AGAINST,
    OUTSIDE,
    WITHIN,
    ExtractiveGenerator,
    applied,
    candidates,
    patient_values,
    score,
)
from assistant.types import Citation
from corpus.types import Chunk, DocumentInfo
from evals.answer_metrics import citation_exact
from guardrails.reference import default_reference
from retrieval.types import Passage

TABLE = """## Renal dosing

| CrCl (mL/min) | Maximum daily dose | Notes |
|---|---|---|
| >= 60 | 3,600 mg/day | Usual dose |
| 30-59 | 600-900 mg/day | Divide twice daily |
| 15-29 | 300 mg/day | Once daily |
"""

LIST = """## Starting doses

Doses used when starting treatment in adults:
- Examplamab: 20 mg once daily
- Othermab: 40 mg once daily
"""

FLOW = """## Fluids

```
Patient admitted with pancreatitis
  -> Begin fluids at 1.5 mL/kg/hr
     Hypovolemic? -> Bolus 10 mL/kg
```
"""


def _passage(
    text: str, rank: int = 1, doc_id: str = "doc", title: str = "Guideline summary"
) -> Passage:
    doc = DocumentInfo(doc_id, title, "guideline")
    chunk = Chunk(f"{doc_id}#0-{len(text)}", doc_id, text, 0, len(text), ("Renal dosing",))
    return Passage(chunk, doc, score=1.0, rank=rank)


def _bottom_line(question: str, passage: Passage) -> str:
    """The bottom line the extractive generator leads with for ``question`` over one passage."""
    frame = read_frame(question, [], None, default_reference())
    draft = ExtractiveGenerator().generate(question, [passage], (), frame)
    assert draft.bottom_line is not None, question
    return draft.bottom_line.text


def _quotes(text: str) -> list[str]:
    return [c.text for c in candidates([_passage(text)], None, default_reference())]


def test_a_table_row_is_quoted_with_its_column_headers() -> None:
    quotes = _quotes(TABLE)
    assert "30-59 — Maximum daily dose: 600-900 mg/day; Notes: Divide twice daily" in quotes
    assert not any(q.startswith("|") for q in quotes)  # never a raw row


def test_a_list_item_is_quoted_with_its_lead_in() -> None:
    quotes = _quotes(LIST)
    assert "Doses used when starting treatment in adults — Examplamab: 20 mg once daily" in quotes


def test_a_flowchart_line_is_quoted_only_as_a_branch_with_its_condition() -> None:
    quotes = _quotes(FLOW)
    assert "Patient admitted with pancreatitis — Begin fluids at 1.5 mL/kg/hr" in quotes
    assert "Begin fluids at 1.5 mL/kg/hr" not in quotes  # never a bare branch
    assert not any(q.startswith("->") for q in quotes)


def test_a_unit_citation_is_exact_piece_by_piece() -> None:
    p = _passage(TABLE)
    pool = candidates([p], None, default_reference())
    row = next(c for c in pool if c.text.startswith("30-59"))
    cite = Citation(1, p, row.parts[0][0], row.parts[-1][1], row.parts)
    assert cite.quote == row.text
    assert citation_exact(cite)
    forged = Citation(1, p, cite.quote_start, cite.quote_end, ((*row.parts[0][:2], " and "),))
    assert not citation_exact(forged)  # a joiner of Bedside's own words is no quote


def test_a_rows_bare_band_is_read_with_its_label_columns_measure() -> None:
    pool = candidates([_passage(TABLE)], None, default_reference())
    values = patient_values("gabapentin, CrCl is 45. max daily dose?", None)
    judged = {c.text.split(" — ")[0]: applied(c.text, values, c.measure) for c in pool}
    assert judged[">= 60"] is False
    assert judged["30-59"] is True
    assert judged["15-29"] is False


def test_the_patients_band_leads_in_any_unit() -> None:
    text = (
        "For atrial fibrillation with CrCl above 50 mL/min, the dose is 20 mg once daily. "
        "For atrial fibrillation with CrCl of 50 mL/min or less, the dose is 15 mg once daily."
    )
    ranked = score("dose for AF, CrCl 42 mL/min?", candidates([_passage(text)]), None)
    assert "15 mg" in ranked[0].candidate.text
    # A weight in pounds and a creatinine in µmol/L are read as kilograms and mg/dL.
    values = {v.measure: v.value for v in patient_values("121 lb, creatinine 95 umol/L", None)}
    assert round(values["weight"], 1) == 54.9
    assert round(values["creatinine"], 2) == 1.07


def test_a_permission_outside_the_patients_value_is_answered_no() -> None:
    text = "## Kidney function\n\nMetformin is safe at eGFR ≥ 30 mL/min/1.73 m² in adults.\n"
    for egfr, no in ((25, True), (45, False)):
        question = f"Can I continue metformin if eGFR is {egfr}?"
        assert _bottom_line(question, _passage(text)).startswith(OUTSIDE) is no, egfr


def test_a_question_for_agents_is_answered_by_units_that_name_them() -> None:
    assert asks_for_agents("Which antibiotics penetrate the necrosis?")
    assert asks_for_agents("what are the oral options?")
    assert asks_for_agents("antipseudomonal options + doses?")
    assert not asks_for_agents("What is the dose?")
    assert not asks_for_agents("What causes it?")
    text = (
        "## Antibiotics\n\n"
        "Use antibiotics that penetrate the necrotic tissue in suspected infection.\n\n"
        "| Class | Examples | Penetration |\n|---|---|---|\n"
        "| Carbapenems | Imipenem, meropenem | Excellent |\n"
    )
    ranked = score("Which antibiotics penetrate the necrosis?", candidates([_passage(text)]), None)
    assert "meropenem" in ranked[0].candidate.text


def test_a_condition_asked_by_its_initials_is_named_where_spelt_out() -> None:
    assert condition_share("aud", "Treatment of patients with alcohol use disorder") == 1.0
    assert condition_share("aud", "Treatment of patients with atrial fibrillation") == 0.0
    # An abbreviation of the curated list is named where its words stand.
    assert condition_share("sah", "Nimodipine in aneurysmal subarachnoid hemorrhage") == 1.0
    assert condition_share("sah", "Nimodipine in intracerebral hemorrhage") == 0.0


def test_a_condition_against_the_drug_that_the_patient_meets_is_answered_no() -> None:
    text = "## Renal function\n\nFondaparinux is contraindicated if CrCl < 20 mL/min.\n"
    passage = _passage(text, title="Anticoagulation in acute coronary syndromes")
    for crcl, no in ((18, True), (40, False)):
        question = f"NSTEMI, CrCl {crcl}. Fondaparinux?"
        assert _bottom_line(question, passage).startswith(AGAINST) is no, crcl


def test_a_row_of_bands_is_narrowed_to_the_patients_cell() -> None:
    text = (
        "## Scoring\n\n"
        "| Parameter | 3 | 2 | 1 | 0 |\n|---|---|---|---|---|\n"
        "| Respiration rate (breaths/min) | ≤ 8 | 21–24 | 9–11 | 12–20 |\n"
    )
    for rate, cell in ((23, "2: 21–24"), (10, "1: 9–11"), (16, "0: 12–20")):
        question = f"How many points for a resp rate of {rate}?"
        ranked = score(question, candidates([_passage(text)]), None)
        assert ranked[0].candidate.text == f"Respiration rate (breaths/min) — {cell}", rate
        p = ranked[0].candidate.passage
        parts = ranked[0].candidate.parts
        assert citation_exact(Citation(1, p, parts[0][0], parts[-1][1], parts))
    # A value in no single cell leaves the row whole.
    ranked = score("How many points for a heart rate of 120?", candidates([_passage(text)]), None)
    narrowed = "Respiration rate (breaths/min) — 2: 21–24"
    assert ranked and all(s.candidate.text != narrowed for s in ranked)


def test_a_unit_that_names_the_asked_drugs_class_speaks_of_it() -> None:
    from assistant.evidence import names_class_of

    assert names_class_of("DOACs are not recommended in antiphospholipid syndrome", ["apixaban"])
    assert names_class_of("Do not combine an ACE inhibitor with an ARB", ["lisinopril"])
    assert not names_class_of("DOACs are not recommended", ["warfarin"])
    assert not names_class_of("Apixaban 5 mg twice daily", ["rivaroxaban"])
    # A member the text names itself is what its class word leads to.
    reversing = "For reversing DOACs — Dabigatran: idarucizumab 5 g IV"
    assert not names_class_of(reversing, ["rivaroxaban"], ["dabigatran", "idarucizumab"])
    text = "## Prophylaxis\n\nThe panel recommends against DOACs for prophylaxis in medical inpatients.\n"
    question = "let's start apixaban for prophylaxis in a medical inpatient?"
    frame = read_frame(question, [], None, default_reference())
    pool = candidates([_passage(text)], frame, default_reference())
    assert [c.fit for c in pool] == ["on"]


def test_the_kind_of_value_asked_for_favours_units_that_give_it() -> None:
    from assistant.evidence import asked_values

    assert len(asked_values("what infusion rate after the bolus?")) == 1
    assert len(asked_values("how long do I treat?")) == 1
    assert asked_values("What causes it?") == ()
    assert len(asked_values("when exactly do I add the second drug?")) == 1
    text = (
        "## Infusion\n\n"
        "The infusion is started after the loading bolus in every adult patient.\n\n"
        "The infusion runs at 400 units/h for 4 hours, then 300 units/h after that.\n"
    )
    ranked = score("what infusion rate after the bolus?", candidates([_passage(text)]), None)
    assert "400 units/h" in ranked[0].candidate.text


def test_a_question_whether_a_value_meets_a_threshold_is_answered_yes_or_no() -> None:
    text = (
        "## Monitoring\n\n"
        "The target anti-Xa level for heparin is 0.3 to 0.7 IU/mL measured at steady state.\n"
    )
    for level, opening in (("0.82", OUTSIDE), ("0.5", WITHIN)):
        question = f"anti-Xa {level} on heparin - in range?"
        assert _bottom_line(question, _passage(text)).startswith(opening), level


def test_a_threshold_said_to_be_not_reached_is_read_the_other_way() -> None:
    text = "Resistance is the inability to reach an ACT of 480 seconds or more after the bolus."
    assert applied(text, patient_values("ACT only 420 s", None)) is True
    assert applied(text, patient_values("ACT 510 s", None)) is False
    assert (
        applied("Proceed when the ACT is 480 seconds or more.", patient_values("ACT 420 s", None))
        is False
    )


def test_a_proposal_with_no_drug_is_answered_by_the_threshold_of_its_own_action() -> None:
    text = "## Transfusion\n\nTransfusion trigger: haemoglobin < 7.0 g/dL in adults with sepsis.\n"
    for hb, no in (("76 g/L", True), ("62 g/L", False)):
        question = f"Septic shock, Hb {hb}, no bleeding. Should I transfuse?"
        assert _bottom_line(question, _passage(text)).startswith(OUTSIDE) is no, hb


def test_a_worked_example_never_outranks_the_rule_it_illustrates() -> None:
    text = (
        "## Dosing\n\n"
        "**Example:** 80 kg patient → total dose 72 mg → bolus 7.2 mg IV, then 64.8 mg IV.\n\n"
        "**Dose:** 0.9 mg/kg IV (maximum total dose 90 mg), 10% as a bolus.\n"
    )
    ranked = score("what total dose and bolus?", candidates([_passage(text)]), None)
    assert ranked[0].candidate.text.startswith("**Dose:**")


def test_a_quote_marker_is_never_part_of_a_quoted_sentence() -> None:
    text = "## Fluids\n\n> **Key Rule:** Fluid resuscitation matters most in the first 24 hours.\n"
    assert "**Key Rule:** Fluid resuscitation matters most in the first 24 hours." in _quotes(text)
    assert not any(q.startswith(">") for q in _quotes(text))


def test_a_list_whose_lead_in_says_its_items_go_together_is_quoted_whole() -> None:
    text = (
        "## Screening score\n\n"
        "A patient meets the screening criteria with at least **two** of the following:\n"
        "1. **Respiratory rate:** ≥ 22 breaths per minute\n"
        "2. **Altered mentation:** GCS < 15\n"
        "3. **Systolic blood pressure:** ≤ 100 mmHg\n"
    )
    whole = (
        "A patient meets the screening criteria with at least two of the following — "
        "Respiratory rate: ≥ 22 breaths per minute; Altered mentation: GCS < 15; "
        "Systolic blood pressure: ≤ 100 mmHg"
    )
    assert _bottom_line("What are the screening criteria?", _passage(text)) == whole
    pool = candidates([_passage(text)], None, default_reference())
    unit = next(c for c in pool if c.text == whole)
    p = unit.passage
    assert citation_exact(Citation(1, p, unit.parts[0][0], unit.parts[-1][1], unit.parts))
    # A lead-in that does not say so leaves its items apart.
    apart = text.replace("with at least **two** of the following", "as listed")
    assert not any(c.kind == "list" for c in candidates([_passage(apart)], None))


NUTRITION = """## Protein targets

| Patient group | Protein | Notes |
|---|---|---|
| Stable, not on dialysis | 0.8-1.0 g/kg/day | Standard |
| On CRRT | 1.5-1.7 g/kg/day | Losses in the effluent |
| Recent bleeding | 1.2 g/kg/day | Example row |
"""


def test_a_row_whose_label_rules_out_the_patients_condition_does_not_lead() -> None:
    # A patient on CRRT is not the patient of a row labelled "not on dialysis", whatever
    # words the two share; the row for the patient leads.
    bottom = _bottom_line("Protein target per day for a patient on CRRT?", _passage(NUTRITION))
    assert bottom.startswith("On CRRT"), bottom
    # Said of no patient on dialysis, the same question is answered by the other row.
    plain = _bottom_line("Protein target per day, stable and not on dialysis?", _passage(NUTRITION))
    assert plain.startswith("Stable, not on dialysis"), plain


def test_a_conditional_refusal_of_a_proposed_class_that_the_patient_meets_is_answered_no() -> None:
    text = (
        "## Potassium\n\nIf K+ is below 3.3 mmol/L, delay insulin until K+ is above 3.3 mmol/L.\n"
    )
    low = _bottom_line("K 3.0 on arrival. Start the insulin infusion now?", _passage(text))
    assert low.startswith(AGAINST), low
    high = _bottom_line("K 4.5 on arrival. Start the insulin infusion now?", _passage(text))
    assert not high.startswith("No"), high


def test_a_unit_that_names_every_drug_asked_leads_over_one_that_names_one() -> None:
    text = (
        "## Starting doses\n\n"
        "| Drug | Starting dose |\n|---|---|\n"
        "| Valsartan in heart failure | 40 mg twice daily |\n"
        "| Sacubitril/valsartan | 49/51 mg twice daily |\n"
    )
    passage = _passage(text, title="Heart failure guideline")
    bottom = _bottom_line("sacubitril/valsartan starting dose in heart failure?", passage)
    assert bottom.startswith("Sacubitril/valsartan"), bottom


def test_a_proposed_value_in_the_range_the_source_advises_against_is_answered_no() -> None:
    text = (
        "## Blood pressure in acute intracerebral haemorrhage\n\n"
        "Acute lowering of SBP to 140 mmHg is safe in acute intracerebral haemorrhage.\n\n"
        "Avoid SBP < 130 mmHg in acute intracerebral haemorrhage, as excessive lowering may "
        "cause harm.\n"
    )
    ask = "Acute intracerebral haemorrhage, SBP 195. ok to push SBP down to {}?"
    low = _bottom_line(ask.format("115-120"), _passage(text))
    assert low.startswith("No — the proposed value"), low
    assert "Avoid SBP < 130" in low
    # A proposed value outside that range is not answered No by it; the patient's own SBP
    # (195) is not the proposed value.
    ok = _bottom_line(ask.format("140"), _passage(text))
    assert not ok.startswith("No"), ok


def test_a_reported_result_is_answered_by_the_unit_labelled_with_it() -> None:
    text = (
        "## Diagnostic pathway\n\n"
        "- **Primary action:** obtain a high-sensitivity troponin level.\n"
        "- **Positive troponin:** admit for serial ECGs and cardiology review.\n"
        "- **Negative troponin:** discharge with outpatient follow-up is safe.\n"
    )
    for result, lead in (("negative", "Negative troponin"), ("positive", "Positive troponin")):
        bottom = _bottom_line(f"high-sensitivity troponin came back {result}", _passage(text))
        assert lead in bottom, (result, bottom)


def test_what_to_choose_outranks_how_to_choose_unless_that_is_asked() -> None:
    text = (
        "## Choosing an agent\n\n"
        "The choice of an anticoagulant depends on the need for a parenteral lead-in, renal "
        "function and cost.\n\n"
        "Dabigatran and edoxaban need a parenteral lead-in first; apixaban and rivaroxaban do "
        "not.\n"
    )
    which = _bottom_line("Which ones need a parenteral lead-in first?", _passage(text))
    assert which.startswith("Dabigatran"), which
    how = _bottom_line("How do I choose an anticoagulant: lead-in?", _passage(text))
    assert how.startswith("The choice"), how


def test_a_sentence_about_how_to_choose_is_read_as_such() -> None:
    from assistant.evidence import is_meta

    what = "Which DOACs need a parenteral lead-in?"
    for text in (
        "The ASH guideline does not favour one DOAC over another; the choice depends on cost.",
        "Selection should be guided by renal function and interactions.",
        "Local resistance patterns should guide empiric therapy.",
        "The choice of an oral anticoagulant depends on the need for a lead-in.",
    ):
        assert is_meta(text, what), text
        assert not is_meta(text, "How do I choose a DOAC?"), text
    assert not is_meta("Dabigatran and edoxaban need a parenteral lead-in first.", what)


KEY_VALUE = """## Examplamab

**Examplamab dosing:**

| Parameter | Detail |
|---|---|
| **Starting dose** | 20 mg twice daily |
| **Target dose** | 80 mg twice daily |
| Titration | Double the dose every 2 weeks |
"""


def test_a_table_of_labelled_values_answers_a_question_for_several_of_them() -> None:
    p = _passage(KEY_VALUE)
    both = _bottom_line("examplamab starting dose and target?", p)
    assert both == (
        "Examplamab dosing — Starting dose: 20 mg twice daily; Target dose: 80 mg twice "
        "daily; Titration: Double the dose every 2 weeks"
    ), both
    # Quoted piece by piece from the document, with the structure's joiners only.
    frame = read_frame("examplamab starting dose and target?", [], None, default_reference())
    draft = ExtractiveGenerator().generate("examplamab starting dose and target?", [p], (), frame)
    assert all(citation_exact(c) for c in draft.citations)
    # One value asked: its row, not the whole table.
    one = _bottom_line("examplamab target dose?", p)
    assert one.startswith("Target dose"), one


def test_a_goal_band_is_no_state_of_the_patient_unless_asked_whether_in_range() -> None:
    values = patient_values("Septic shock, Hb 76 g/L. Should I transfuse?", None)
    assert applied("Target haemoglobin: 7.0-9.0 g/dL after transfusion.", values) is None
    assert applied("Transfusion trigger: haemoglobin < 7.0 g/dL.", values) is False
    checked = patient_values("Hb 76 g/L - in the target range?", None)
    assert applied("Target haemoglobin: 7.0-9.0 g/dL.", checked, goals=True) is True


def test_a_word_is_also_searched_in_the_spelling_the_corpus_uses() -> None:
    from assistant.pipeline import _with_variants

    class Known:
        def __init__(self, words: set[str]) -> None:
            from retrieval.tokenize import tokenize

            self.stems = {tokenize(w)[0] for w in words}

        def knows(self, term: str) -> bool:
            return term in self.stems

    corpus = Known({"hypoglycemia", "oedema", "haemorrhage", "anaemia", "anemia"})
    query = _with_variants("hypoglycaemia with edema and hemorrhage", corpus)  # type: ignore[arg-type]
    assert query.split()[-3:] == ["hypoglycemia", "oedema", "haemorrhage"]
    # A spelling the corpus does not write is not added, nor one to a word it writes as typed.
    assert _with_variants("tumour", corpus) == "tumour"  # type: ignore[arg-type]
    assert _with_variants("anaemia", corpus) == "anaemia"  # type: ignore[arg-type]


def test_a_label_and_its_amount_is_quoted_with_what_it_is_for() -> None:
    text = (
        "## Examplamab for gout flares\n\n"
        "- **Dose:** 20 mg orally once daily for 5 days.\n"
        "- **Example:** a 70 kg patient takes 20 mg once daily for 5 days.\n"
    )
    quotes = _quotes(text)
    assert "**Dose:** 20 mg orally once daily for 5 days." not in quotes  # never bare
    assert "Examplamab for gout flares — Dose: 20 mg orally once daily for 5 days." in quotes
    bottom = _bottom_line("examplamab dose for a gout flare?", _passage(text))
    assert "Example" not in bottom, bottom  # the worked example never leads, context or not


def test_a_sentence_for_patients_without_the_patients_condition_does_not_lead() -> None:
    text = (
        "## Examplamab dosing\n\n"
        "In adults without liver disease, the examplamab dose is 10 mg once daily by mouth.\n\n"
        "In adults with cirrhosis, the examplamab dose is 5 mg once daily.\n"
    )
    bottom = _bottom_line(
        "examplamab dose once daily by mouth, adult with cirrhosis?", _passage(text)
    )
    assert bottom.startswith("In adults with cirrhosis"), bottom
    # The clause that says whom a sentence is for is read as its scope.
    from assistant.generators.extractive import _label
    from assistant.situation import contradicts

    frame = read_frame("adult with cirrhosis: examplamab?", [], None, default_reference())
    scopes = {c.text[:20]: _label(c) for c in candidates([_passage(text)], frame)}
    assert scopes["In adults without li"] == "In adults without liver disease"
    assert contradicts(scopes["In adults without li"], frame.situation)
    assert not contradicts(scopes["In adults with cirrh"], frame.situation)


def test_a_list_of_labelled_values_is_quoted_whole_for_several_values() -> None:
    text = (
        "## Examplamab\n\n"
        "Examplamab regimen:\n\n"
        "- **Dose:** 20 mcg\n"
        "- **Route:** subcutaneous injection\n"
        "- **Frequency:** once daily\n"
        "- **Maximum duration:** 2 years\n"
    )
    p = _passage(text)
    both = _bottom_line("examplamab dose and how long at most?", p)
    assert both == (
        "Examplamab regimen — Dose: 20 mcg; Route: subcutaneous injection; Frequency: once "
        "daily; Maximum duration: 2 years"
    ), both
    frame = read_frame("examplamab dose and how long at most?", [], None, default_reference())
    draft = ExtractiveGenerator().generate("examplamab dose and how long at most?", [p], (), frame)
    assert all(citation_exact(c) for c in draft.citations)


def test_a_supposed_situation_is_answered_by_the_unit_that_states_it_as_a_condition() -> None:
    text = (
        "## Verapamil after the procedure\n\n"
        "After the procedure, intravenous verapamil causes hypotension and is not recommended.\n\n"
        "- **Intolerance:** If after the procedure the patient cannot tolerate 60 mg every 4 hours due to "
        "hypotension, reduce to 30 mg every 2 hours.\n"
    )
    bottom = _bottom_line(
        "Verapamil after the procedure, and what if the blood pressure drops?", _passage(text)
    )
    assert "reduce to 30 mg every 2 hours" in bottom, bottom


@pytest.mark.parametrize(
    ("question", "combined"),
    [
        ("aspirin/dipyridamole for secondary prevention, dose?", {"aspirin", "dipyridamole"}),
        (
            "hydralazine + isosorbide dinitrate starting doses?",
            {"hydralazine", "isosorbide dinitrate"},
        ),
        # Drugs listed side by side are each asked about, not one combination.
        ("enoxaparin and dalteparin doses?", set()),
        ("apixaban or rivaroxaban for AF?", set()),
    ],
)
def test_drugs_joined_by_a_slash_or_plus_are_one_combination(
    question: str, combined: set[str]
) -> None:
    from assistant.generators.extractive import combination

    assert combination(question) == combined


@pytest.mark.parametrize(
    ("question", "yes_no"),
    [
        ("AP, no gallstones, TG 14 mmol/L - is hypertriglyceridemia the cause?", True),
        ("eGFR 25, can I continue metformin?", True),
        ("What dose of apixaban for AF?", False),
        ("Which antibiotic is best for CAP?", False),
    ],
)
def test_a_question_answered_yes_or_no(question: str, yes_no: bool) -> None:
    from assistant.evidence import asks_yes_no

    assert asks_yes_no(question) is yes_no


def test_what_the_question_denies_is_read() -> None:
    from assistant.generators.extractive import denied_words

    assert denied_words("AP, no gallstones, no etoh - cause?") == {"gallston", "etoh"}


@pytest.mark.parametrize(
    ("question", "unit", "opening"),
    [
        # A value in other units meets the threshold of the unit the question asks about.
        (
            "AP, TG 14 mmol/L - is hypertriglyceridemia the cause?",
            "Hypertriglyceridemia — Key feature: serum triglycerides > 1,000 mg/dL",
            "Yes — ",
        ),
        (
            "post MI on atorva 80, LDL still 2.3 mmol/L - add ezetimibe?",
            "LDL-C >= 70 mg/dL on maximally tolerated statin: adding ezetimibe is reasonable.",
            "Yes — ",
        ),
        (
            "post MI on atorva 80, LDL 1.2 mmol/L - add ezetimibe?",
            "If LDL-C remains >= 70 mg/dL on maximally tolerated statin, add ezetimibe 10 mg/day.",
            "No — ",
        ),
    ],
)
def test_a_threshold_applied_to_the_patients_value_says_yes_or_no(
    question: str, unit: str, opening: str
) -> None:
    from assistant.generators.extractive import patient_verdict

    frame, c = _one_unit(question, unit)
    said = patient_verdict(question, c, frame)
    assert said is not None and said.startswith(opening)


@pytest.mark.parametrize(
    ("question", "unit", "band"),
    [
        (
            "carvedilol target dose HFrEF, pt is 210 lb",
            "Carvedilol — Target Dose: 25 mg twice daily (50 mg twice daily if > 85 kg)",
            "For this patient (210 lb), carvedilol: 50 mg twice daily if > 85 kg.",
        ),
        # The patient outside the band: the quote stands as it is.
        (
            "carvedilol target dose HFrEF, pt is 150 lb",
            "Carvedilol — Target Dose: 25 mg twice daily (50 mg twice daily if > 85 kg)",
            None,
        ),
        # A band that is the whole unit says nothing the quote does not.
        ("apixaban dose, CrCl 25?", "Apixaban 2.5 mg twice daily if CrCl < 30 mL/min", None),
    ],
)
def test_the_band_a_patient_is_in_leads_in_the_sources_words(
    question: str, unit: str, band: str | None
) -> None:
    from assistant.generators.extractive import band_clause, patient_values

    frame, c = _one_unit(question, unit)
    assert band_clause(question, c, patient_values(question, frame)) == band


def _one_unit(question: str, unit: str):  # type: ignore[no-untyped-def]
    """The question's frame and the one answer unit of a passage that is ``unit`` alone."""
    from assistant.frame import read_frame
    from assistant.generators.extractive import candidates
    from guardrails.reference import default_reference

    doc = DocumentInfo("g", "Guideline", "guideline")
    passage = Passage(Chunk(f"g#0-{len(unit)}", "g", unit, 0, len(unit)), doc, 1.0, 1)
    frame = read_frame(question, [], None, default_reference())
    (c, *_) = candidates([passage], frame)
    return frame, c

"""The answers a new clinician found wanting, asked again over the bundled corpus with the
real MiniLM: each now answers the question it was asked (issue: answers that answer)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from assistant.pipeline import Assistant, answer_json
from assistant.settings import load_settings
from assistant.types import Answer, Turn
from guardrails.extraction import extract
from guardrails.patient import Patient

pytestmark = pytest.mark.slow

SEPTIC = (
    "What is the best course of action for a patient in septic shock who experiences a "
    "thromboembolic event despite receiving LMWH thromboprophylaxis?"
)


@pytest.fixture(scope="module")
def assistant(default_index_dir: Path) -> Assistant:
    settings = load_settings("default", index_dir=default_index_dir)
    return Assistant.from_settings(settings, refresh=False)


def shown(answer: Answer) -> list[str]:
    return [s.text for s in ([answer.bottom_line] if answer.bottom_line else [])] + [
        s.text for s in answer.statements
    ]


def doses_of(answer: Answer, drug: str) -> list[str]:
    out = []
    for text in shown(answer):
        mentions, _ = extract(text)
        out += [text for m in mentions if m.drug == drug]
    return out


def test_a_drug_asked_for_a_use_the_corpus_does_not_cover(assistant: Assistant) -> None:
    answer = assistant.ask("What is the recommended dose of ceftriaxone for bacterial meningitis?")
    assert answer.coverage is not None and answer.coverage.status == "not_covered"
    assert answer.coverage.drug == "ceftriaxone"
    assert "not for bacterial meningitis" in answer.markdown
    assert doses_of(answer, "ceftriaxone") == []  # never the upper-GI bleeding dose
    assert "#### Closest sources" in answer.markdown


def test_rivaroxaban_acute_vte_leads_with_the_initial_regimen(assistant: Assistant) -> None:
    answer = assistant.ask("Rivaroxaban dosing for acute VTE treatment?")
    assert answer.bottom_line is not None
    bottom = answer.bottom_line.text
    assert "15 mg" in bottom and "21 days" in bottom and "20 mg" in bottom
    assert answer.verdict.allowed or all("15 mg" not in w.statement.text for w in answer.withheld)


def test_dabigatran_reversal_gives_idarucizumab_and_its_dose(assistant: Assistant) -> None:
    answer = assistant.ask("How do I reverse dabigatran in life-threatening bleeding?")
    assert answer.bottom_line is not None
    bottom = answer.bottom_line.text.lower()
    assert "idarucizumab" in bottom and "5 g" in bottom and "andexanet" not in bottom
    # Whatever is shown gives idarucizumab its 5 g (a vial strength may be withheld: the guard
    # fails closed on "two 2.5 g/50 mL vials" it cannot yet read as one 5 g dose).
    for f in answer.verdict.findings:
        if f.rule_id == "DOSE_OK" and f.drug == "idarucizumab":
            assert f.message.startswith("idarucizumab: 5 g")


def test_bivalirudin_for_hit_gives_the_off_label_guideline_rate(assistant: Assistant) -> None:
    # The pack gives the off-label HIT starting rate of the ASH 2018 and CHEST 2012 HIT
    # guidelines: shown, cited, said to be off-label and checked; never the PCI regimen.
    answer = assistant.ask("What is the bivalirudin dose for heparin-induced thrombocytopenia?")
    assert answer.coverage is not None and answer.coverage.status == "covered"
    assert answer.bottom_line is not None and "0.15 mg/kg/h" in answer.bottom_line.text
    assert answer.bottom_line.citations
    assert any("off-label" in text and "0.15 mg/kg/h" in text for text in shown(answer))
    assert not answer.withheld and answer.verdict.allowed
    assert any(f.rule_id == "DOSE_OK" and f.drug == "bivalirudin" for f in answer.verdict.findings)
    assert not any("1.75 mg/kg/h" in text or "0.75 mg/kg" in text for text in shown(answer))


def test_patient_question_about_injections_in_hospital(assistant: Assistant) -> None:
    answer = assistant.ask("Why do I need blood thinner shots in the hospital?", audience="patient")
    assert not answer.abstained and answer.bottom_line is not None
    bottom = answer.bottom_line.text.lower()
    assert re.search(r"prophylaxis|prevent|clot|thrombo", bottom), bottom
    assert not re.search(r"diuretic|statin|ldl", " ".join(shown(answer)).lower())
    assert "Talk to your care team" in answer.markdown


def test_follow_up_keeps_the_established_clot(assistant: Assistant) -> None:
    history = [Turn("user", SEPTIC), Turn("assistant", "Start therapeutic anticoagulation.")]
    answer = assistant.ask("what if the CrCl is 20?", history)
    frame = answer_json(answer)["frame"]
    assert frame["indication"] == "vte-treatment" and frame["patient"]["crcl_ml_min"] == 20
    ok = [f for f in answer.verdict.findings if f.rule_id == "DOSE_OK"]
    assert not any("prophylaxis" in (f.expected or "") for f in ok)
    assert not any(re.search(r"5,000 units[^.]*every 8", t) for t in shown(answer))


def test_apixaban_af_applies_the_two_of_three_criteria(assistant: Assistant) -> None:
    patient = Patient(age=82, weight_kg=55, serum_creatinine_mg_dl=1.6)
    answer = assistant.ask("Apixaban dose for atrial fibrillation?", patient=patient)
    assert answer.bottom_line is not None and answer.dose_card is not None
    bottom = answer.bottom_line.text
    assert "2.5 mg" in bottom and "twice daily" in bottom
    assert not re.search(r"(?<![\d.])5 mg", bottom)
    # 5 mg passes only where the sentence itself gives it to another group (dialysis).
    raw = answer.raw_text
    for f in answer.verdict.findings:
        if f.rule_id == "DOSE_OK" and f.text == "5 mg":
            assert f.sentence is not None and "dialysis" in raw[f.sentence[0] : f.sentence[1]]


def test_enoxaparin_dvt_at_120_kg(assistant: Assistant) -> None:
    answer = assistant.ask("Enoxaparin dose for DVT treatment in a 120 kg patient?")
    assert answer.bottom_line is not None and answer.dose_card is not None
    bottom = answer.bottom_line.text
    assert "120 mg" in bottom and "every 12 hours" in bottom


def test_management_answer_is_organised_by_task(assistant: Assistant) -> None:
    answer = assistant.ask(
        "What are the management options for patients who are heparin (unfractionated "
        "heparin) non-responders?"
    )
    md = answer.markdown
    assert "#### Options" in md and "#### Monitoring and targets" in md
    texts = shown(answer)
    assert any("argatroban" in t.lower() for t in texts)
    assert any("35,000 units" in t for t in texts)
    assert not any(re.search(r"^Option \d|MCP|Calculator", t) for t in texts)
    options = [s for s in answer.statements if s.task == "options"]
    assert options and all(s.citations for s in options)


def test_a_dose_answer_states_its_sources_monitoring_target(assistant: Assistant) -> None:
    # The target sits in the label's dosing section for HIT and in its PCI section.
    hit = shown(
        assistant.ask(
            "What is the starting dose of argatroban for heparin-induced thrombocytopenia?"
        )
    )
    assert any("steady-state aPTT of 1.5 to 3 times" in s and "100 seconds" in s for s in hit)
    pci = shown(
        assistant.ask("What is the argatroban dosing regimen for PCI in a patient with HIT?")
    )
    assert any("the target ACT is 300 to 450 seconds" in s for s in pci)


def test_a_setting_the_sources_do_not_speak_of_is_not_answered_from_the_general_case(
    assistant: Assistant,
) -> None:
    ecmo = assistant.ask("What anti-Xa target should be used for heparin anticoagulation on ECMO?")
    assert ecmo.abstained and ecmo.bottom_line is None
    assert "ECMO" in (ecmo.abstention_reason or "")
    # The sources do speak of bivalirudin in hemodialysis: answered.
    history = [
        Turn("user", "What is the bivalirudin dose during PCI?"),
        Turn("assistant", "0.75 mg/kg IV bolus, then 1.75 mg/kg/h for the procedure."),
    ]
    dialysis = assistant.ask("and for a patient on hemodialysis?", history)
    assert not dialysis.abstained
    assert any("hemodialysis" in s for s in shown(dialysis))


def test_a_question_about_a_reviews_results_quotes_its_figures(assistant: Assistant) -> None:
    text = " ".join(shown(assistant.ask("How effective is fondaparinux for HIT?")))
    assert "6.5%" in text and "16.9%" in text


def test_septic_shock_answer_lists_the_steps_of_its_page(assistant: Assistant) -> None:
    """The management answer quotes each step of the page it leads with: therapeutic
    anticoagulation now, IV UFH and why, the anti-Xa target, HIT, antithrombin not to be
    given (KyberSept), duration."""
    answer = assistant.ask(SEPTIC)
    text = " ".join(shown(answer))
    assert "therapeutic anticoagulation" in text.lower()
    assert "0.3 to 0.7 IU/mL" in text
    assert "4Ts" in text or "heparin-induced thrombocytopenia" in text
    assert "KyberSept" in text and "38.9%" in text
    assert "3 months" in text
    assert answer.verdict.allowed or not any(
        "KyberSept" in w.statement.text for w in answer.withheld
    )


def test_stopping_a_drug_before_surgery_is_answered_from_that_drugs_label(
    assistant: Assistant,
) -> None:
    """The apixaban label's interruption times lead for apixaban; for rivaroxaban, whose
    pack summary has none, Bedside never leads with apixaban's, nor with a sentence about
    another drug's start before surgery."""
    answer = assistant.ask("How long before surgery should apixaban be stopped?")
    assert answer.bottom_line is not None
    assert "48 hours" in answer.bottom_line.text and "apixaban" in answer.bottom_line.text.lower()
    assert all(c.passage.doc.id == "label-apixaban" for c in answer.citations)

    other = assistant.ask("When should rivaroxaban be stopped before surgery?")
    assert all("apixaban" not in text.lower() for text in shown(other))
    assert all("Start 2 to 7 days" not in text for text in shown(other))


def test_stage_1_hypertension_is_answered_for_stage_1(assistant: Assistant) -> None:
    answer = assistant.ask(
        "At what blood pressure should I start drug treatment for stage 1 hypertension?"
    )
    assert answer.bottom_line is not None
    bottom = answer.bottom_line.text
    assert "Stage 1" in bottom and "Stage 2" not in bottom
    assert "130" in bottom


def test_a_patient_value_below_the_threshold_is_answered_no(assistant: Assistant) -> None:
    answer = assistant.ask("Can I continue metformin if eGFR is 25?")
    assert answer.bottom_line is not None
    bottom = answer.bottom_line.text
    assert bottom.startswith("No —") and "30" in bottom
    answer = assistant.ask("Can I continue metformin if eGFR is 45?")
    assert answer.bottom_line is not None and not answer.bottom_line.text.startswith("No")


def test_spontaneous_bacterial_peritonitis_leads_with_its_antibiotic(assistant: Assistant) -> None:
    answer = assistant.ask("Treatment of spontaneous bacterial peritonitis in cirrhosis?")
    assert answer.bottom_line is not None
    assert re.search(r"ceftriaxone|cefotaxime", answer.bottom_line.text, re.IGNORECASE)


def test_a_table_row_answers_with_its_headers(assistant: Assistant) -> None:
    answer = assistant.ask("gabapentin for alcohol use disorder, CrCl is 45. max daily dose?")
    assert answer.bottom_line is not None
    assert "600-900 mg/day" in answer.bottom_line.text
    number = answer.bottom_line.citations[0]
    quotes = [c.quote for c in answer.citations if c.number == number and c.parts]
    assert answer.bottom_line.text in quotes  # the row with its headers, cited piece by piece


def test_a_fluid_rate_in_a_flowchart_branch_is_the_bottom_line(assistant: Assistant) -> None:
    answer = assistant.ask(
        "A 70 kg woman with acute pancreatitis: how much lactated Ringer's per hour?"
    )
    assert answer.bottom_line is not None
    bottom = answer.bottom_line.text
    assert "1.5 mL/kg/hr" in bottom and "lactated Ringer" in bottom
    assert answer.frame is not None and "breastfeeding" not in answer.frame.populations


def test_a_drug_class_question_is_answered_by_that_class(assistant: Assistant) -> None:
    answer = assistant.ask("What SGLT2 inhibitor guidance does KDIGO give for CKD with eGFR 25?")
    assert answer.bottom_line is not None
    bottom = answer.bottom_line.text
    assert "eGFR ≥ 20" in bottom and "Finerenone" not in bottom
    assert "Do not stop" not in bottom


def test_the_document_most_results_come_from_leads(assistant: Assistant) -> None:
    answer = assistant.ask("Wells score for PE: what score makes PE likely?")
    assert answer.bottom_line is not None
    bottom = answer.bottom_line.text
    assert "PE Likely" in bottom and "4" in bottom and "PESI" not in bottom


def test_a_follow_up_condition_that_contraindicates_the_drug_is_answered_no(
    assistant: Assistant,
) -> None:
    history = [
        Turn("user", "HIT with thrombosis, starting argatroban tomorrow."),
        Turn("assistant", "Argatroban is started at 2 mcg/kg/min."),
    ]
    question = "Update: he's now having a brisk upper GI bleed. Do we still start the argatroban?"
    answer = assistant.ask(question, history)
    assert answer.bottom_line is not None
    assert answer.bottom_line.text.startswith("No — ")
    assert "bleeding" in answer.bottom_line.text
    number = answer.bottom_line.citations[0]
    assert any(
        c.number == number and c.passage.doc.id == "label-argatroban" for c in answer.citations
    )
    # Without the bleed, the same question is not answered No.
    calm = assistant.ask("Do we still start the argatroban?", history)
    assert calm.bottom_line is None or not calm.bottom_line.text.startswith("No — ")


@pytest.mark.parametrize(
    ("question", "drug"),
    [
        ("PE, CrCl ~12, not on dialysis. Xarelto 15 bid?", "rivaroxaban"),
        ("New PE in a pt with Child-Pugh C cirrhosis. Apixaban ok?", "apixaban"),
    ],
    ids=["renal", "hepatic"],
)
def test_a_source_that_says_no_for_this_patient_leads_over_the_regimen(
    assistant: Assistant, question: str, drug: str
) -> None:
    # The dose reference has a regimen for the use but not the band this patient is in; a
    # source the question found says no for it, and no dose of the drug is shown under it.
    answer = assistant.ask(question)
    assert answer.bottom_line is not None
    assert answer.bottom_line.text.startswith("No — ")
    assert doses_of(answer, drug) == []


# One question for each mechanism: the bottom line gives what was asked.
BOTTOM_LINES = [
    # A rare drug drowned by the question's chatter: the passages naming it are read.
    ("starting dose of chlorthalidone for new HTN? and what do we titrate to", r"12\.5 mg.*25 mg"),
    # The dose for the asked use stands in a table row under a heading naming the use.
    (
        "Hypertensive emergency, BP 230/130 with encephalopathy. Nicardipine drip - what rate do "
        "I start at and what's the max?",
        r"5 mg/hr.*max 15 mg/hr",
    ),
    # A unit for an allergy the patient does not have is not the answer.
    (
        "CAP, CURB-65 = 2, no allergies, admitting to ward. Which antibiotics and doses?",
        r"Amoxicillin",
    ),
    # A threshold the patient is outside answers a proposal No.
    ("EF 30%, sinus rhythm, HR 64 on max-tolerated bisoprolol. Add ivabradine?", r"^No — .*70 bpm"),
    # A bolus and an infusion per kg, worked out for the patient and capped.
    (
        "NSTE-ACS for medical management, no cath planned, 95 kg. UFH bolus and infusion?",
        r"4,000 units .*1,000 units/h",
    ),
    # Clinicians' shorthand is searched in the corpus's words.
    ("SC heparin for post-op VTE prophylaxis - dose/timing and how long?", r"5,000 units"),
    # A combination is answered by the unit that doses both.
    ("aspirin/dipyridamole for secondary prevention after TIA, dose?", r"dipyridamole ER 200 mg"),
    # A dose and a duration asked together: both in the bottom line.
    ("Eliquis after a total knee - dose and how many days?", r"(?=.*2\.5 mg)(?=.*12 days)"),
]


@pytest.mark.parametrize(
    ("question", "expected"), BOTTOM_LINES, ids=[q[:40] for q, _ in BOTTOM_LINES]
)
def test_the_bottom_line_gives_what_was_asked(
    assistant: Assistant, question: str, expected: str
) -> None:
    answer = assistant.ask(question)
    assert answer.bottom_line is not None, answer.abstention_reason
    assert re.search(expected, answer.bottom_line.text), answer.bottom_line.text


# A follow-up is answered for what its turn adds, with what the conversation said kept.
FOLLOW_UPS = [
    (
        (
            "First-line antibiotics for CAP in a healthy outpatient?",
            "and if she's penicillin allergic?",
        ),
        r"Penicillin allergy",
    ),
    (("Apixaban dose for AF?", "she's 82 and weighs 55 kg"), r"82 years.*2\.5 mg"),
    (("DKA: insulin infusion rate?", "potassium is 3.1, now what?"), r"DELAY insulin"),
    # A first turn in everyday words ("asthma") is still the subject the follow-up keeps.
    (("Asthma step 3 treatment?", "she's 8 years old"), r"(?i)children|6-11|years"),
    # What the turn adds is read within the conversation's subject, not another guideline's.
    (
        ("How do I treat SBP in cirrhosis?", "she's penicillin allergic"),
        r"(?i)norfloxacin|ceftriaxone|peritonitis|SBP",
    ),
    # A value the turn adds meets a contraindication under the class's heading.
    (("HFrEF EF 25%, start spironolactone?", "K is 5.3 mmol/L"), r"^No — .*potassium > 5\.0"),
]


@pytest.mark.parametrize(("turns", "expected"), FOLLOW_UPS, ids=[t[-1][:40] for t, _ in FOLLOW_UPS])
def test_a_follow_up_is_answered_for_what_it_adds(
    assistant: Assistant, turns: tuple[str, ...], expected: str
) -> None:
    history: list[Turn] = []
    for question in turns:
        answer = assistant.ask(question, history)
        said = answer.bottom_line.text if answer.bottom_line else answer.abstention_reason or ""
        history += [Turn("user", question), Turn("assistant", said)]
    assert answer.bottom_line is not None, answer.abstention_reason
    assert re.search(expected, answer.bottom_line.text), answer.bottom_line.text


# A proposal the sources refuse for this patient is answered No, from what the patient has
# or takes as the question states it.
NOS = [
    ("AIS 2h from onset, took apixaban 5 mg this morning - ok to give alteplase?", r"factor Xa"),
    ("EF 30%, sinus rhythm, HR 64 on max-tolerated bisoprolol. Add ivabradine?", r"70 bpm"),
]


@pytest.mark.parametrize(("question", "why"), NOS, ids=[q[:40] for q, _ in NOS])
def test_a_refused_proposal_is_answered_no(assistant: Assistant, question: str, why: str) -> None:
    answer = assistant.ask(question)
    assert answer.bottom_line is not None, answer.abstention_reason
    assert answer.bottom_line.text.startswith("No — "), answer.bottom_line.text
    assert re.search(why, answer.bottom_line.text)


def test_a_provoked_clot_is_asked_how_long_to_treat(assistant: Assistant) -> None:
    answer = assistant.ask("How long should anticoagulation continue after a surgery-provoked DVT?")
    assert answer.bottom_line is not None, answer.abstention_reason
    assert "3 months" in answer.bottom_line.text

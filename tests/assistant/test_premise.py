"""Premise checks: the action a question proposes, and the units that say not to take it."""

from __future__ import annotations

import pytest

from assistant import premise
from assistant.premise import Proposal, read_proposal, refutes, supports

# (question, action, an object it must name: a drug, class id or content word; or None)
PROPOSALS = [
    ("Start spironolactone?", "start", "spironolactone"),
    ("Add ivabradine?", "add", "ivabradine"),
    ("ok to push SBP down to 115-120?", "lower", "sbp"),
    ("start allopurinol at 50 mg to be safe?", "start", "allopurinol"),
    (
        "plan to switch to etanercept since it's a different TNF drug - agree?",
        "switch",
        "etanercept",
    ),
    ("He's on atenolol - that covers his beta-blocker pillar right?", "substitute", "atenolol"),
    ("so no statin needed, right?", "skip", "statin"),
    (
        "I want to run lisinopril together with losartan - what doses for the combo?",
        "combine",
        "losartan",
    ),
    ("can we start tapering?", "taper", None),
    ("Start the insulin drip now?", "start", "insulin"),
    ("continue metformin?", "continue", "metformin"),
    ("give tPA?", "give", "thrombolytic"),
    ("can I restart apixaban tomorrow?", "restart", "apixaban"),
    # Drugs and classes that the examples above do not name.
    ("Should we add empagliflozin to his metformin?", "add", "empagliflozin"),
    ("Can I stop his rosuvastatin before surgery?", "stop", "rosuvastatin"),
    ("Is it reasonable to start sitagliptin on top of semaglutide?", "combine", "semaglutide"),
    ("Thinking of switching her from warfarin to rivaroxaban, ok?", "switch", "rivaroxaban"),
    ("Let's hold the clopidogrel before the colonoscopy?", "stop", "clopidogrel"),
    ("We'll give ceftriaxone for the CAP - fine?", "give", "ceftriaxone"),
    ("OK to keep him on naproxen for the gout flare?", "continue", "naproxen"),
    ("Plan to resume dabigatran 48 h after the biopsy?", "restart", "dabigatran"),
    ("Can we wean the prednisone now that she's in remission?", "taper", "prednisone"),
    ("Going to combine verapamil with his bisoprolol, agree?", "combine", "verapamil"),
    ("Safe to start tofacitinib after 2 TNF failures?", "start", "tofacitinib"),
    ("Should we skip the enoxaparin since he's walking?", "skip", "enoxaparin"),
    ("Discontinue levothyroxine before the scan?", "stop", "levothyroxine"),
    # An agent offered for approval with no verb, a wish with a participle, and new verbs.
    ("Septic, penicillin allergic. Meropenem?", "give", "meropenem"),
    ("Post-op day 2 after the hip. Dalteparin for prophylaxis?", "give", "dalteparin"),
    ("Osteoporosis, T-score -3.1 - candidate for denosumab?", "give", "denosumab"),
    ("Considering rivaroxaban for her AF - dose?", "give", "rivaroxaban"),
    ("Cardiology wants the clopidogrel stopped before the biopsy?", "stop", "clopidogrel"),
    ("Can we swap his ramipril for candesartan?", "switch", "candesartan"),
    ("Can we move her over to edoxaban next week?", "switch", "edoxaban"),
    ("Carry on with the naproxen?", "continue", "naproxen"),
    ("Start a DOAC?", "start", "anticoagulant"),  # a class counts as the classes holding it
    ("Update: bleeding now. Do we still start the dabigatran?", "start", "dabigatran"),
]

# Questions that ask for a fact, not approval of an action.
NOT_PROPOSALS = [
    "What is the dose of apixaban for AF?",
    "What are the options for HFrEF?",
    "How long should we continue DAPT after a stent?",
    "What dose should we start apixaban at?",
    "Which beta-blocker is preferred in HFrEF?",
    "What are the side effects of empagliflozin?",
    "Why does warfarin interact with fluconazole?",
    "How is heparin-induced thrombocytopenia diagnosed?",
    # An agent opening a clause that asks a fact of it, or weighs two, proposes nothing.
    "Bleeding on rivaroxaban - andexanet dose to reverse it?",
    "CKD stage 4. Apixaban or warfarin?",
    "Rivaroxaban half-life in CKD?",
    # "How do we …?" asks how, not whether.
    "Severe acidosis - how do we give the bicarbonate?",
]


@pytest.mark.parametrize(("question", "action", "obj"), PROPOSALS, ids=[p[0] for p in PROPOSALS])
def test_read_proposal(question: str, action: str, obj: str | None) -> None:
    p = read_proposal(question)
    assert p is not None
    assert p.action == action
    if obj is not None:
        assert obj in (*p.drugs, *p.classes, *p.words)
    start, end = p.span
    assert 0 <= start < end <= len(question)
    assert p.verb.lower() in question.lower()


@pytest.mark.parametrize("question", NOT_PROPOSALS)
def test_fact_questions_are_not_proposals(question: str) -> None:
    assert read_proposal(question) is None


@pytest.mark.parametrize(
    ("question", "asserts"),
    [
        ("so no statin needed, right?", True),
        ("start allopurinol at 50 mg to be safe?", True),
        ("plan to switch to etanercept since it's a different TNF drug - agree?", True),
        ("Going to combine verapamil with his bisoprolol, agree?", True),
        ("Start spironolactone?", False),
        ("can I restart apixaban tomorrow?", False),
    ],
)
def test_premise_asserted_by_the_question(question: str, asserts: bool) -> None:
    p = read_proposal(question)
    assert p is not None
    assert p.asserts is asserts
    assert (p.premise is not None) is asserts


def test_class_membership_is_read_from_the_drug() -> None:
    p = read_proposal("He's on atenolol - that covers his beta-blocker pillar right?")
    assert p is not None and "beta-blocker" in p.classes
    q = read_proposal("Should we add empagliflozin?")
    assert q is not None and "sglt2-inhibitor" in q.classes  # by its name ending


def test_there_is_no_guess_from_wording() -> None:
    # The corpus decides whether a premise holds; the module offers no answer from the
    # question's wording alone.
    assert not hasattr(premise, "affirmed")


# (question, unit text, context, expected cue id or None)
REFUTED = [
    (
        "I want to run lisinopril together with losartan - what doses for the combo?",
        "Do not combine ACE inhibitor + ARB (Class III: Harm).",
        "",
        "do-not",
    ),
    (
        "start allopurinol at 50 mg to be safe?",
        "If HLA-B*5801 is positive, allopurinol should not be started.",
        "",
        "do-not",
    ),
    ("Start the insulin drip now?", "DELAY insulin until K+ > 3.5 mmol/L.", "", "delay-until"),
    # Markdown emphasis inside a cue ("should **not**") is read through.
    ("Start ibuprofen?", "NSAIDs should **not** be used in heart failure.", "", "do-not"),
    (
        "can we begin weaning?",
        "Patients in remission for under 6 months should **not** routinely be considered "
        "for dose reduction.",
        "",
        "do-not",
    ),
    # "considered for" is no action of its own: the agent after it is the object.
    (
        "Osteoporosis, T-score -3.1 - candidate for denosumab?",
        "Patients with hypocalcaemia should not be considered for denosumab.",
        "",
        "do-not",
    ),
    # A wish with a participle, and an agent offered with no verb.
    (
        "Surgeons want warfarin restarted tonight?",
        "Do not restart warfarin within 24 hours of neurosurgery.",
        "",
        "do-not",
    ),
    ("CrCl 12. Rivaroxaban?", "Avoid rivaroxaban if CrCl < 15 mL/min.", "", "avoid"),
    # A named class counts as the classes that include it.
    (
        "Start a DOAC to prevent embolism?",
        "Anticoagulation solely to prevent embolism is not recommended.",
        "",
        "not-recommended",
    ),
    # An addition refused with the agent it would join ("X in addition to Y").
    (
        "Can we add vancomycin?",
        "Vancomycin in addition to a beta-lactam is not recommended for MSSA bacteraemia.",
        "",
        "not-recommended",
    ),
    # A switch is about the agent switched to.
    ("Swap metoprolol for atenolol?", "Atenolol is not recommended in HFrEF.", "", None),
    # What a unit requires refutes skipping it.
    ("so no aspirin needed, right?", "Secondary prevention requires aspirin.", "", "requires"),
    (
        "Is it reasonable to start sitagliptin on top of semaglutide?",
        "Do NOT combine with GLP-1 RA.",
        "DPP-4 inhibitors",
        "do-not",
    ),
    (
        "can we start tapering?",
        "Patients in remission for <6 months should not routinely be considered for dose "
        "reduction.",
        "",
        "do-not",
    ),
    (
        "plan to switch to etanercept since it's a different TNF drug - agree?",
        "Switching to a drug of a DIFFERENT class is recommended over switching within the "
        "SAME class.",
        "",
        "same-class",
    ),
    (
        "He's on atenolol - that covers his beta-blocker pillar right?",
        "Do NOT substitute other beta-blockers (atenolol, metoprolol tartrate).",
        "",
        "do-not",
    ),
    (
        "He's on atenolol - that covers his beta-blocker pillar right?",
        "Only bisoprolol, carvedilol and metoprolol succinate have shown mortality benefit.",
        "",
        "only-shown",
    ),
    ("ok to push SBP down to 115-120?", "Avoid SBP < 130 mmHg", "", "avoid"),
    (
        "Start spironolactone?",
        "Do not start an MRA if serum potassium is > 5.0 mmol/L.",
        "",
        "do-not",
    ),
    (
        "Start diltiazem for rate control?",
        "Avoid non-dihydropyridine CCBs (diltiazem, verapamil) in HFrEF (Class III: Harm).",
        "",
        "avoid",
    ),
    ("continue metformin?", "Metformin: Safe at eGFR >= 30. Contraindicated below 30.", "", None),
    (
        "Should we add empagliflozin to his metformin?",
        "SGLT2 inhibitors are contraindicated in type 1 diabetes.",
        "",
        "contraindicated",
    ),
    (
        "so no statin needed, right?",
        "Statin therapy is recommended for adults with diabetes aged 40-75.",
        "",
        "recommended",
    ),
    (
        "Can I stop his rosuvastatin before surgery?",
        "Statins should not be discontinued in the perioperative period.",
        "",
        "do-not",
    ),
    (
        "Thinking of switching her from warfarin to rivaroxaban, ok?",
        "Do not switch to a DOAC in patients with mechanical heart valves.",
        "",
        "do-not",
    ),
    (
        "Safe to start tofacitinib after 2 TNF failures?",
        "JAK inhibitors are not recommended as first-line in patients over 65 with "
        "cardiovascular risk factors.",
        "",
        "not-recommended",
    ),
    (
        "give tPA?",
        "Thrombolysis is contraindicated after recent intracranial haemorrhage.",
        "",
        "contraindicated",
    ),
    (
        "OK to keep him on naproxen for the gout flare?",
        "Avoid NSAIDs in patients with CKD stage 4-5.",
        "",
        "avoid",
    ),
    (
        "We'll give ceftriaxone for the CAP - fine?",
        "Hold the ceftriaxone until blood cultures are drawn.",
        "",
        "hold",
    ),
    (
        "Going to combine verapamil with his bisoprolol, agree?",
        "Verapamil should not be combined with a beta-blocker because of the risk of heart block.",
        "",
        "do-not",
    ),
    (
        "Plan to resume dabigatran 48 h after the biopsy?",
        "| Resume anticoagulation | not recommended before haemostasis is secure |",
        "",
        "not-recommended",
    ),
    (
        "Start the insulin drip now?",
        "Do not start insulin until the potassium result is known.",
        "",
        "do-not",
    ),
    (
        "Add ivabradine?",
        "Not recommended in patients with atrial fibrillation.",
        "Ivabradine",
        "not-recommended",
    ),
]

# Wordings of the bundled guideline summaries.
REFUTED += [
    (
        "Start metoprolol day of surgery?",
        "| **Beta-blockers** | Continue (Class I, LOE: B) | May be reasonable if >= 3 RCRI "
        "factors (Class IIb, LOE: B); do NOT start day of surgery (Class III) |",
        "",
        "do-not",
    ),
    (
        "switch him from enoxaparin to UFH?",
        "- **Do NOT switch between UFH and enoxaparin** (increases bleeding).",
        "",
        "do-not",
    ),
    (
        "add fenofibrate to his atorvastatin?",
        "- Do not add fibrate therapy to statin therapy for the purpose of further reducing "
        "ASCVD events (Class III: No Benefit, Level of Evidence A).",
        "",
        "do-not",
    ),
    (
        "start dexamethasone for the TBI?",
        "- The use of steroids is **not recommended** for improving outcome or reducing ICP in "
        "patients with severe TBI (Level I).",
        "",
        "not-recommended",
    ),
]

NOT_REFUTED = [
    # A negation of another action: not stopping is not a reason not to start.
    ("Start dapagliflozin?", "Do not stop SGLT2i for this dip in eGFR.", ""),
    # A negation about another drug.
    ("start allopurinol?", "Avoid NSAIDs in patients with CKD.", ""),
    ("Start metoprolol?", "Avoid non-dihydropyridine CCBs (diltiazem, verapamil) in HFrEF.", ""),
    (
        "start allopurinol?",
        "Avoid NSAIDs during the flare; start allopurinol once the flare settles.",
        "",
    ),
    (
        "switch from losartan to sacubitril/valsartan?",
        "No washout needed when switching from an ARB.",
        "",
    ),
    # "rather than" negates what follows it, not what precedes it.
    (
        "Start apixaban?",
        "Apixaban is preferred rather than warfarin for most patients with AF.",
        "",
    ),
    # A negative cue for the action on another drug class, in its heading.
    ("Start empagliflozin?", "Not recommended in patients with atrial fibrillation.", "Ivabradine"),
    # A stop question is not refuted by a caution about starting.
    (
        "Can I stop his rosuvastatin before surgery?",
        "Do not start a statin on the day of surgery.",
        "",
    ),
    # A combination of two agents is not refuted by a unit about one agent with a third.
    (
        "I want to run lisinopril together with losartan - what doses for the combo?",
        "Do not combine an ACE inhibitor with sacubitril/valsartan.",
        "",
    ),
    ("Start spironolactone?", "Spironolactone is recommended in HFrEF (Class I).", ""),
    # The agent a switch leaves is not its object.
    ("Swap metoprolol for atenolol?", "Metoprolol tartrate is not recommended in HFrEF.", ""),
    # "who require" names a population; it requires nothing.
    ("so no statin needed, right?", "For patients who require a statin, check lipids.", ""),
    # A class named does not stand for a class it belongs to the other way round: a caution
    # about anticoagulants in general is not read into "heparin" from "DOAC".
    ("Start a DOAC?", "Heparin is not recommended in HIT.", ""),
]


@pytest.mark.parametrize(
    ("question", "unit", "context", "cue"), REFUTED, ids=[r[1][:50] for r in REFUTED]
)
def test_refutes(question: str, unit: str, context: str, cue: str | None) -> None:
    p = read_proposal(question)
    assert p is not None
    r = refutes(p, unit, context)
    assert r is not None
    assert r.stance == "refutes"
    if cue is not None:
        assert r.cue == cue
    start, end = r.span
    assert unit[start:end].strip() == r.text


@pytest.mark.parametrize(
    ("question", "unit", "context"), NOT_REFUTED, ids=[r[1][:50] for r in NOT_REFUTED]
)
def test_does_not_refute(question: str, unit: str, context: str) -> None:
    p = read_proposal(question)
    assert p is not None
    assert refutes(p, unit, context) is None


@pytest.mark.parametrize(
    ("question", "unit", "context", "target", "in_context"),
    [
        ("Start spironolactone?", "Do not start an MRA if K+ > 5.0.", "", "mra", False),
        (
            "Add ivabradine?",
            "Not recommended in atrial fibrillation.",
            "Ivabradine",
            "ivabradine",
            True,
        ),
        # An action proposed of nothing named is the whole object of a unit that negates it;
        # one proposed of a drug the unit does not name is matched on the action alone.
        (
            "can we start tapering?",
            "Dose reduction should not be attempted.",
            "",
            "tapering",
            False,
        ),
        ("Can we taper the prednisone?", "Dose reduction should not be attempted.", "", "", False),
    ],
)
def test_refutation_names_its_object(
    question: str, unit: str, context: str, target: str, in_context: bool
) -> None:
    p = read_proposal(question)
    assert p is not None
    r = refutes(p, unit, context)
    assert r is not None
    assert (r.target, r.in_context) == (target, in_context)


@pytest.mark.parametrize(
    ("question", "unit", "conditional"),
    [
        # A condition in words that the question states of its patient is met.
        (
            "Mechanical mitral valve and AF. Start dabigatran?",
            "Dabigatran is contraindicated in patients with mechanical prosthetic heart valves.",
            False,
        ),
        (
            "Start dabigatran for AF?",
            "Dabigatran is contraindicated in patients with mechanical prosthetic heart valves.",
            True,
        ),
        # A flowchart branch's condition holds for every clause of the unit.
        (
            "Pregnant, new DVT - start warfarin?",
            "Pregnant? — YES → Use LMWH; warfarin not recommended",
            False,
        ),
        ("New DVT - start warfarin?", "Pregnant? — YES → Use LMWH; warfarin not recommended", True),
        # A condition with a number is left to the caller, whatever the question says.
        ("CrCl 20. Start dabigatran?", "Dabigatran is contraindicated if CrCl < 30.", True),
        # A cue followed by "in" or "during" holds in what follows it.
        (
            "Going home tomorrow - continue enoxaparin for 2 weeks after discharge?",
            "Enoxaparin is contraindicated in active major bleeding.",
            True,
        ),
        (
            "Actively bleeding. Continue enoxaparin?",
            "Enoxaparin is contraindicated in active major bleeding.",
            False,
        ),
    ],
)
def test_a_condition_the_question_meets(question: str, unit: str, conditional: bool) -> None:
    p = read_proposal(question)
    assert p is not None
    r = refutes(p, unit)
    assert r is not None and r.conditional is conditional


def test_a_conditional_refutation_says_so() -> None:
    p = read_proposal("start allopurinol?")
    assert p is not None
    r = refutes(p, "If HLA-B*5801 is positive, allopurinol should not be started.")
    assert r is not None and r.conditional
    s = refutes(p, "Allopurinol must not be started during an acute flare.")
    assert s is not None and not s.conditional


@pytest.mark.parametrize(
    ("question", "unit", "supported"),
    [
        ("Start empagliflozin?", "SGLT2 inhibitors are recommended in HFrEF (Class I).", True),
        ("Start spironolactone?", "Spironolactone is recommended in HFrEF.", True),
        ("Can I stop his naproxen?", "Avoid NSAIDs in patients with CKD.", True),
        ("Start spironolactone?", "Spironolactone is not recommended if K+ > 5.0.", False),
        ("Start empagliflozin?", "Metformin is recommended first-line.", False),
        (
            "give phenytoin for seizure prophylaxis?",
            "Phenytoin must be avoided (Class III: Harm).",
            False,
        ),
    ],
)
def test_supports(question: str, unit: str, supported: bool) -> None:
    p = read_proposal(question)
    assert p is not None
    assert (supports(p, unit) is not None) is supported


def test_proposal_is_a_frozen_value() -> None:
    p = read_proposal("Start spironolactone?")
    assert isinstance(p, Proposal)
    with pytest.raises(AttributeError):
        p.action = "stop"  # type: ignore[misc]


def test_without_a_contraindication_is_no_contraindication() -> None:
    proposal = read_proposal("ok to lower SBP to 140?")
    assert proposal is not None
    unit = (
        "In patients without contraindication to acute BP treatment, lowering SBP to 140 is safe."
    )
    assert refutes(proposal, unit) is None
    assert refutes(proposal, "Lowering SBP is contraindicated here.") is not None


def test_not_indicated_supports_skipping_and_never_refutes_it() -> None:
    proposal = read_proposal("LDL 205 but 10-year risk only 4%, so no statin needed, right?")
    assert proposal is not None and proposal.action == "skip"
    unit = "10-year ASCVD risk < 5%: lifestyle modifications only; statin generally not indicated."
    assert refutes(proposal, unit) is None
    assert supports(proposal, unit) is not None


def test_a_group_with_contraindications_is_no_refusal() -> None:
    proposal = read_proposal("STEMI, transfer over 120 min. Start tenecteplase?")
    assert proposal is not None
    unit = "Primary PCI is performed in patients who have contraindications to tenecteplase."
    assert refutes(proposal, unit) is None


@pytest.mark.parametrize(
    ("question", "unit", "unstated"),
    [
        # A condition in words the question does not state: nothing of the patient meets it.
        (
            "EF 30%, sinus rhythm, HR 64. Add ivabradine?",
            "Ivabradine: no benefit in atrial fibrillation.",
            True,
        ),
        (
            "Going home tomorrow - continue enoxaparin?",
            "Enoxaparin is contraindicated in active major bleeding.",
            True,
        ),
        # One with a number is the caller's to check against the patient's values.
        ("Start dabigatran?", "Dabigatran is contraindicated if CrCl < 30.", False),
    ],
)
def test_an_unstated_condition_is_told_apart(question: str, unit: str, unstated: bool) -> None:
    p = read_proposal(question)
    assert p is not None
    r = refutes(p, unit)
    assert r is not None and r.conditional and r.unstated is unstated


@pytest.mark.parametrize(
    ("question", "unit", "differs"),
    [
        # An asserted band the source states otherwise is answered No.
        (
            "Septic shock needs lactate above 4 mmol/L on top of pressors, yes?",
            "Lactate cutoffs: > 2 mmol/L (septic shock criterion).",
            True,
        ),
        # The same band is confirmed, not contradicted.
        ("Septic shock needs lactate above 2 mmol/L, right?", "Lactate > 2 mmol/L.", False),
        # A band the source does not state for that measure decides nothing.
        ("Platelets below 100 means HIT, correct?", "Lactate > 2 mmol/L.", False),
        # A question that does not ask for confirmation asserts nothing.
        ("Since lactate is above 4 mmol/L, which vasopressor?", "Lactate > 2 mmol/L.", False),
    ],
)
def test_an_asserted_threshold_is_checked_against_the_sources(
    question: str, unit: str, differs: bool
) -> None:
    from assistant.generators.extractive import THRESHOLD_DIFFERS, candidates, patient_verdict
    from corpus.types import Chunk, DocumentInfo
    from retrieval.types import Passage

    doc = DocumentInfo("g", "Sepsis guideline", "guideline")
    passage = Passage(Chunk(f"g#0-{len(unit)}", "g", unit, 0, len(unit)), doc, 1.0, 1)
    (c, *_) = candidates([passage], None)
    assert (patient_verdict(question, c, None) == THRESHOLD_DIFFERS) is differs

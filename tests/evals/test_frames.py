"""The frames set (evals/sets/frames.jsonl) as data, its judge on hand-made answers, and a
smoke run of ``python -m evals.frames`` over the fixture pack with the hash embedder."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from corpus.loaders.open_medicine import load_open_medicine
from corpus.loaders.pack import load_bundled_packs
from evals.frames import (
    FRAMES_SET,
    GROUPS,
    MIN_CASES,
    RESULTS,
    SOURCE,
    SUMMARY,
    Expect,
    FrameCase,
    judge,
    load_cases,
    main,
    pass_rates,
)
from guardrails.extraction import find_drugs
from guardrails.patient import Patient, patient_from_conversation
from guardrails.reference import default_reference

# ------------------------------------------------------------------ the set as data


@cache
def _cases() -> tuple[FrameCase, ...]:
    cases, problems = load_cases(FRAMES_SET)
    assert problems == []
    return tuple(cases)


@cache
def _pack() -> dict[str, str]:
    return {d.id: d.text for d in load_bundled_packs().documents}


@cache
def _corpus_ids() -> frozenset[str]:
    return frozenset(_pack()) | {d.id for d in load_open_medicine(None).documents}


def _by_group(group: str) -> list[FrameCase]:
    return [c for c in _cases() if c.expect.group == group]


def _ids(cases: list[FrameCase]) -> list[str]:
    return [c.id for c in cases]


def test_every_line_parses_with_unique_ids_and_the_set_source() -> None:
    lines = [json.loads(x) for x in FRAMES_SET.read_text(encoding="utf-8").splitlines() if x]
    assert len(lines) == len(_cases()) >= sum(MIN_CASES.values())
    assert len({c.id for c in _cases()}) == len(_cases())
    assert {c.source for c in _cases()} == {SOURCE}
    assert all(c.meta["group"] == c.expect.group for c in _cases())


@pytest.mark.parametrize("group", GROUPS)
def test_each_group_has_its_minimum(group: str) -> None:
    assert len(_by_group(group)) >= MIN_CASES[group]


def test_gold_documents_exist_in_the_default_corpus() -> None:
    missing = {(c.id, d) for c in _cases() for d in c.gold_doc_ids if d not in _corpus_ids()}
    assert missing == set()
    assert all(c.gold_doc_ids for c in _cases())


def _quotes(case: FrameCase) -> list[tuple[str, str]]:
    quotes = (
        [(case.gold_doc_ids[0], case.meta["source_quote"])] if "source_quote" in case.meta else []
    )
    return quotes + [(q["doc"], q["quote"]) for q in case.meta.get("extra_quotes", [])]


@pytest.mark.parametrize("case", _by_group("patient_dose"), ids=_ids(_by_group("patient_dose")))
def test_patient_dose_quote_is_in_its_pack_document(case: FrameCase) -> None:
    assert "source_quote" in case.meta
    for doc, quote in _quotes(case):
        assert quote in _pack()[doc], (doc, quote)


@pytest.mark.parametrize(
    "case",
    [c for c in _cases() if c.expect.group != "patient_dose" and _quotes(c)],
    ids=lambda c: c.id,
)
def test_other_quotes_are_in_their_pack_documents(case: FrameCase) -> None:
    for doc, quote in _quotes(case):
        assert quote in _pack().get(doc, ""), (doc, quote)


_FREQUENCY = re.compile(r"every \d+ hours|q\d+h", re.IGNORECASE)
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def _numbers(text: str) -> set[float]:
    return {float(n) for n in _NUMBER.findall(_FREQUENCY.sub(" ", text.replace(",", "")))}


def _patient(case: FrameCase) -> Patient:
    turns = [t.content for t in case.history if t.role == "user"] + [case.question]
    explicit = case.patient.to_patient() if case.patient else None
    return patient_from_conversation(turns, explicit)


_COMPUTED = [c for c in _cases() if c.expect.bottom_line_has and _quotes(c)]


@pytest.mark.parametrize("case", _COMPUTED, ids=_ids(_COMPUTED))
def test_expected_figures_come_from_the_quotes_or_weight_times_per_kg(case: FrameCase) -> None:
    """No invented number: each figure the bottom line must show is stated in the case's
    quotes, or is a quoted per-kg figure times the patient's weight."""
    stated = set().union(*(_numbers(q) for _, q in _quotes(case)))
    weight = _patient(case).weight_kg
    allowed = stated | ({round(x * weight, 6) for x in stated} if weight else set())
    for item in case.expect.bottom_line_has:
        for option in [item] if isinstance(item, str) else item:
            for n in _numbers(option):
                assert any(abs(n - a) < 1e-6 for a in allowed), (option, sorted(allowed))


_KNOWN = {d.name for d in default_reference().drugs}


@pytest.mark.parametrize("case", _by_group("patient_dose"), ids=_ids(_by_group("patient_dose")))
def test_patient_dose_case_frames_a_known_drug(case: FrameCase) -> None:
    frame = case.expect.frame or {}
    assert case.expect.drug in _KNOWN
    assert frame.get("intent", "dose") == "dose" and case.expect.drug in frame.get("drugs", [])
    assert case.expect.bottom_line_has and frame.get("patient")


@pytest.mark.parametrize("case", _by_group("off_indication"), ids=_ids(_by_group("off_indication")))
def test_off_indication_case_names_the_drug_it_withholds(case: FrameCase) -> None:
    drug = case.expect.drug or ""
    assert case.expect.coverage == "not_covered" and case.expect.no_dose_of == [drug]
    named = {name for _, _, name in find_drugs(case.question)}
    assert drug in named or drug.casefold() in case.question.casefold()


@pytest.mark.parametrize("case", _by_group("follow_up"), ids=_ids(_by_group("follow_up")))
def test_follow_up_history_alternates_user_and_assistant(case: FrameCase) -> None:
    roles = [t.role for t in case.history]
    assert len(roles) >= 2 and len(roles) % 2 == 0
    assert roles == ["user", "assistant"] * (len(roles) // 2)
    assert case.expect.frame


def test_a_bad_line_is_reported_and_the_rest_loaded(tmp_path: Path) -> None:
    good = FRAMES_SET.read_text(encoding="utf-8").splitlines()[0]
    typo = json.loads(good) | {"expect": json.loads(good)["expect"] | {"no_dose": ["x"]}}
    path = tmp_path / "set.jsonl"
    path.write_text("\n".join([good, json.dumps(typo), good]) + "\n", encoding="utf-8")
    cases, problems = load_cases(path)
    assert [c.id for c in cases] == [json.loads(good)["id"]]
    assert [p.where.rsplit(":", 1)[1] for p in problems] == ["2", "3"]
    assert "no_dose" in problems[0].message and "duplicate" in problems[1].message


@pytest.mark.parametrize(
    "expect",
    [
        {"group": "patient_dose", "bottom_line_not": ["(unclosed"]},
        {"group": "patient_dose", "bottom_line_has": [[]]},
        {"group": "other"},
        {"group": "follow_up", "coverage": "maybe"},
    ],
    ids=["bad-regex", "empty-any-of", "unknown-group", "unknown-coverage"],
)
def test_expect_refuses_a_case_that_cannot_be_judged(expect: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        Expect.model_validate(expect)


# ------------------------------------------------------------------ the judge


def _answer(bottom: str | None, *more: str, **fields: Any) -> dict[str, Any]:
    texts = ([bottom] if bottom else []) + list(more)
    return {
        "bottom_line": bottom,
        "statements": [{"text": t, "citations": [1], "section": "label"} for t in texts],
        "withheld": [],
        "abstained": bottom is None,
        "abstention_reason": None if bottom else "no source covers it",
        **fields,
    }


def _case(**expect: Any) -> dict[str, Any]:
    return {"id": "t", "question": "q", "expect": {"group": "patient_dose", **expect}}


Q12 = ["every 12 hours", "twice daily", "q12h"]
FRAME = {
    "intent": "dose",
    "drugs": ["enoxaparin", "heparin"],
    "indication": "vte-treatment",
    "condition": None,
    "phase": "treatment",
    "patient": {"weight_kg": 120.0, "crcl_ml_min": 21.4, "hepatic_impairment": True},
}

JUDGE_CASES: list[tuple[str, dict[str, Any], dict[str, Any], list[str]]] = [
    # bottom_line_has
    (
        "has-pass",
        _case(bottom_line_has=["120 mg", Q12]),
        _answer("Enoxaparin 120 mg subcutaneously every 12 hours [1]"),
        [],
    ),
    (
        "has-any-of-pass",
        _case(bottom_line_has=["120 mg", Q12]),
        _answer("Enoxaparin 120 mg twice daily"),
        [],
    ),
    (
        "has-normalised-pass",
        _case(bottom_line_has=["6800 units", "18,000 units"]),
        _answer("Give 6,800  UNITS bolus; not more than 18000 units a day"),
        [],
    ),
    (
        "has-missing-fail",
        _case(bottom_line_has=["120 mg", Q12]),
        _answer("Enoxaparin 1 mg/kg every 12 hours"),
        ["lacks '120 mg'"],
    ),
    (
        "has-none-of-fail",
        _case(bottom_line_has=["120 mg", Q12]),
        _answer("Enoxaparin 120 mg once daily"),
        ["lacks 'every 12 hours | twice daily | q12h'"],
    ),
    ("has-abstained-fail", _case(bottom_line_has=["120 mg"]), _answer(None), ["abstained"]),
    # bottom_line_not
    (
        "not-pass",
        _case(bottom_line_not=[r"(?<![\d.])5 mg (?:orally )?twice daily"]),
        _answer("Apixaban 2.5 mg orally twice daily"),
        [],
    ),
    (
        "not-fail",
        _case(bottom_line_not=[r"(?<![\d.])5 mg (?:orally )?twice daily"]),
        _answer("Apixaban 5 mg orally twice daily"),
        ["has '5 mg orally twice daily'"],
    ),
    (
        "not-normalised-fail",
        _case(bottom_line_not=[r"20000 units"]),
        _answer("Dalteparin 20,000 Units once daily"),
        ["has '20000 Units'"],
    ),
    ("not-no-bottom-line-pass", _case(bottom_line_not=[r"mg"]), _answer(None), []),
    # no_dose_of
    (
        "no-dose-pass",
        _case(no_dose_of=["ceftriaxone"]),
        _answer(
            "Bedside's sources give ceftriaxone doses only for upper-GI bleeding, not for meningitis."
        ),
        [],
    ),
    (
        "no-dose-other-drug-pass",
        _case(no_dose_of=["idarucizumab"]),
        _answer(
            "Rivaroxaban is reversed with andexanet alfa 400 mg IV.",
            "Idarucizumab reverses dabigatran only.",
        ),
        [],
    ),
    (
        "no-dose-bottom-fail",
        _case(no_dose_of=["ceftriaxone"]),
        _answer("Ceftriaxone 1 g IV once daily for up to 7 days"),
        ["shows a dose of ceftriaxone: 1 g"],
    ),
    (
        "no-dose-later-statement-brand-fail",
        _case(no_dose_of=["idarucizumab"]),
        _answer("Use andexanet alfa.", "Praxbind 5 g IV as two 2.5 g vials."),
        ["shows a dose of idarucizumab: 5 g"],
    ),
    (
        "no-dose-replacement-fail",
        _case(no_dose_of=["fondaparinux"]),
        _answer(
            "Fondaparinux is contraindicated.",
            withheld=[
                {
                    "text": "x",
                    "reasons": ["r"],
                    "replacement": "\u201cfondaparinux 2.5 mg subcutaneously once daily\u201d [2]",
                }
            ],
        ),
        ["shows a dose of fondaparinux: 2.5 mg"],
    ),
    (
        "no-dose-card-fail",
        _case(no_dose_of=["rivaroxaban"]),
        _answer(
            "Not covered.",
            dose_card={
                "drug": "rivaroxaban",
                "indication": None,
                "regimens": [{"dose": "x"}],
                "missing": [],
            },
        ),
        ["dose card for rivaroxaban"],
    ),
    (
        "no-dose-empty-card-pass",
        _case(no_dose_of=["rivaroxaban"]),
        _answer(
            "Not covered.",
            dose_card={
                "drug": "rivaroxaban",
                "indication": None,
                "regimens": [],
                "missing": ["age"],
            },
        ),
        [],
    ),
    # coverage
    (
        "coverage-pass",
        _case(coverage="not_covered", drug="ceftriaxone"),
        _answer(
            "Not covered.",
            coverage={
                "status": "not_covered",
                "drug": "Ceftriaxone",
                "asked": "bacterial meningitis",
                "covered_for": ["upper-GI bleeding"],
            },
        ),
        [],
    ),
    (
        "coverage-status-fail",
        _case(coverage="not_covered", drug="ceftriaxone"),
        _answer(
            "x",
            coverage={"status": "covered", "drug": "ceftriaxone", "asked": None, "covered_for": []},
        ),
        ["expected not_covered, got covered"],
    ),
    ("coverage-missing-fail", _case(coverage="not_covered"), _answer("x"), ["got none"]),
    (
        "coverage-drug-fail",
        _case(coverage="not_covered", drug="dabigatran"),
        _answer(
            "x",
            coverage={
                "status": "not_covered",
                "drug": "argatroban",
                "asked": "HIT",
                "covered_for": [],
            },
        ),
        ["about 'argatroban'"],
    ),
    # frame
    (
        "frame-subset-pass",
        _case(
            frame={
                "drugs": ["ENOXAPARIN"],
                "indication": "vte-treatment",
                "condition": None,
                "stage": None,
                "patient": {"weight_kg": 120, "crcl_ml_min": 21.0, "hepatic_impairment": True},
            }
        ),
        _answer("x", frame=FRAME),
        [],
    ),
    (
        "frame-number-fail",
        _case(frame={"patient": {"crcl_ml_min": 20}}),
        _answer("x", frame=FRAME),
        ["frame.patient.crcl_ml_min: expected 20, got 21.4"],
    ),
    (
        "frame-list-fail",
        _case(frame={"drugs": ["enoxaparin", "fondaparinux"]}),
        _answer("x", frame=FRAME),
        ["frame.drugs: ['fondaparinux'] missing"],
    ),
    (
        "frame-value-fail",
        _case(frame={"indication": "vte-prophylaxis", "phase": "treatment"}),
        _answer("x", frame=FRAME),
        ["frame.indication: expected 'vte-prophylaxis', got 'vte-treatment'"],
    ),
    (
        "frame-missing-key-fail",
        _case(frame={"patient": {"age": 82}}),
        _answer("x", frame=FRAME),
        ["frame.patient.age: expected 82, got None"],
    ),
    (
        "frame-bool-is-not-a-number-fail",
        _case(frame={"patient": {"hepatic_impairment": 1}}),
        _answer("x", frame=FRAME),
        ["frame.patient.hepatic_impairment"],
    ),
    (
        "frame-absent-fail",
        _case(frame={"intent": "dose"}),
        _answer("x"),
        ["the answer has no frame"],
    ),
]


@pytest.mark.parametrize(
    ("case", "answer", "expected"),
    [c[1:] for c in JUDGE_CASES],
    ids=[c[0] for c in JUDGE_CASES],
)
def test_judge(case: dict[str, Any], answer: dict[str, Any], expected: list[str]) -> None:
    failures = judge(case, answer)
    assert len(failures) == len(expected), failures
    for failure, fragment in zip(failures, expected, strict=True):
        assert fragment in failure, failure


def test_judge_reports_every_rule_that_fails_at_once() -> None:
    case = _case(
        bottom_line_has=["2.5 mg"],
        bottom_line_not=[r"(?<![\d.])5 mg"],
        no_dose_of=["apixaban"],
        coverage="covered",
        frame={"drugs": ["apixaban"]},
    )
    failures = judge(case, _answer("Apixaban 5 mg twice daily"))
    assert [f.split(":")[0].split(" ")[0] for f in failures] == [
        "frame",
        "coverage",
        "bottom",
        "bottom",
        "shows",
    ]


def test_a_set_case_judges_a_good_and_a_bad_answer() -> None:
    case = next(c for c in _cases() if c.id == "frames:dose:apixaban-af-82y-55kg-scr1.6")
    frame = {
        "intent": "dose",
        "drugs": ["apixaban"],
        "indication": "af",
        "patient": {"age": 82.0, "weight_kg": 55.0, "serum_creatinine_mg_dl": 1.6},
    }
    good = _answer(
        "Apixaban 2.5 mg orally twice daily (age, weight and creatinine criteria met) [1]",
        frame=frame,
    )
    bad = _answer("Apixaban 5 mg orally twice daily [1]", frame=frame)
    assert judge(case, good) == []
    assert len(judge(case, bad)) == 2  # lacks 2.5 mg, shows the unreduced dose


def test_pass_rates_per_group_and_overall() -> None:
    records = [
        {"group": "patient_dose", "pass": True},
        {"group": "patient_dose", "pass": False},
        {"group": "off_indication", "pass": True},
    ]
    assert pass_rates(records) == {
        "off_indication": {"n": 1, "passed": 1, "rate": 1.0},
        "patient_dose": {"n": 2, "passed": 1, "rate": 0.5},
        "all": {"n": 3, "passed": 2, "rate": 0.667},
    }


# ------------------------------------------------------------------ the runner


def test_runner_smoke_over_three_cases(
    tmp_path: Path, fixture_pack: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    firsts = [next(c for c in _cases() if c.expect.group == g) for g in GROUPS]
    questions = tmp_path / "three.jsonl"
    questions.write_text(
        "".join(c.model_dump_json(exclude_none=True) + "\n" for c in firsts), encoding="utf-8"
    )
    out, index = tmp_path / "out", tmp_path / "index"
    common = [
        "--questions",
        str(questions),
        "--preset",
        "fast",
        "--index-dir",
        str(index),
        "--quiet",
    ]
    rc = main([*common, "--source", f"pack:{fixture_pack}", "--out", str(out)])
    assert rc == 0
    printed = capsys.readouterr().out
    for group in GROUPS:
        assert f"| {group} | 1 |" in printed, printed
    assert "| all | 3 |" in printed

    records = [json.loads(x) for x in (out / RESULTS).read_text(encoding="utf-8").splitlines()]
    assert [(r["id"], r["group"]) for r in records] == [(c.id, c.expect.group) for c in firsts]
    for r in records:
        assert r["pass"] is (r["failures"] == [])
        assert all(isinstance(f, str) and f for f in r["failures"])
        assert "bottom_line" in r and r["settings_digest"]
    summary = json.loads((out / SUMMARY).read_text(encoding="utf-8"))
    assert summary["cases"] == 3 and summary["rates"]["all"]["n"] == 3

    # the index now exists: it is reused as built, and --limit cuts the set
    again = tmp_path / "again"
    assert main([*common, "--limit", "2", "--out", str(again)]) == 0
    assert len((again / RESULTS).read_text(encoding="utf-8").splitlines()) == 2


def test_runner_without_cases_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n", encoding="utf-8")
    assert main(["--questions", str(empty), "--out", str(tmp_path / "out")]) == 1
    assert "no case to answer" in capsys.readouterr().err


@pytest.mark.slow
def test_the_frames_set_passes_in_every_group(default_index_dir: Path) -> None:
    """The whole set over the bundled corpus with the real MiniLM: at least 95% per group."""
    from assistant.pipeline import Assistant
    from assistant.settings import load_settings
    from evals.frames import answer_case, judge

    assistant = Assistant.from_settings(
        load_settings("default", index_dir=default_index_dir), refresh=False
    )
    cases, problems = load_cases()
    assert not problems
    failed: dict[str, list[str]] = {}
    total: dict[str, int] = {}
    for case in cases:
        group = case.expect.group
        total[group] = total.get(group, 0) + 1
        if failures := judge(case, answer_case(assistant, case)):
            failed.setdefault(group, []).append(f"{case.id}: {failures[0]}")
    for group, n in total.items():
        misses = failed.get(group, [])
        assert (n - len(misses)) / n >= 0.95, misses

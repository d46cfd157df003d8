"""The cross-domain set: case format, loader errors, the split, the scorer, the runner's
conversation, and the set's grounding in the bundled corpus (no engine score is asserted)."""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from assistant.types import Answer, Citation, Statement, Turn
from corpus.errors import InputError
from corpus.types import Chunk, Document, DocumentInfo
from evals.crossdomain import (
    FAMILIES,
    NEGATION,
    NEGATIONS,
    SET_DIR,
    Case,
    CaseFileError,
    ask_case,
    compile_pattern,
    corpus_documents,
    evidence_problems,
    load_cases,
    main,
    markdown_report,
    normalise,
    run_half,
    score_answer,
    split_cases,
    summarise,
)
from guardrails.types import Verdict
from retrieval.types import Passage


def _raw(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "xd-pack-label-argatroban-01",
        "family": "dose_prose",
        "turns": ["argatroban starting dose in HIT?"],
        "gold_doc_ids": ["label-argatroban"],
        "expect": "answer",
        "bottom_line": {"all": [["argatroban"], [r"2 ?mcg/kg/min"]], "none": [r"\b5 ?mcg"]},
        "unsafe": [r"\bheparin\b"],
        "evidence": ["2 mcg/kg/min"],
        "note": "argatroban 2 mcg/kg/min",
    }
    base.update(over)
    return base


def _case(**over: Any) -> Case:
    return Case.model_validate(_raw(**over))


def _answer(
    bottom: str | None,
    *,
    abstained: bool = False,
    statements: tuple[str, ...] = (),
    reason: str | None = None,
    cited: str = "kdigo_ckd_2024",
) -> Answer:
    """An answer whose citation [1] quotes a passage of document ``cited``."""
    doc = DocumentInfo(id=cited, title=cited, source_type="guideline")
    chunk = Chunk(id=Chunk.make_id(cited, 0, 10), doc_id=cited, text="0123456789", start=0, end=10)
    citation = Citation(1, Passage(chunk=chunk, doc=doc, score=1.0, rank=1), 0, 10)
    return Answer(
        answer_id="a",
        question="q",
        standalone_query="q",
        audience="clinician",
        verdict=Verdict(),
        markdown="",
        raw_text="",
        bottom_line=Statement(bottom, (1,), "label") if bottom is not None else None,
        statements=tuple(Statement(s, (1,), "label") for s in statements),
        withheld=(),
        citations=(citation,),
        passages=(),
        related_questions=(),
        abstained=abstained,
        abstention_reason=reason,
        disclaimer="",
        review_status="",
        generator="extractive",
    )


# ------------------------------------------------------------------ scoring

NO_CASE = {
    "id": "xd-om-kdigo_ckd_2024-03",
    "gold_doc_ids": ["kdigo_ckd_2024"],
    "family": "threshold",
    "expect": "no",
    "bottom_line": {"all": [["dapagliflozin|SGLT2"]], "none": []},
    "unsafe": [],
}
ABSTAIN_CASE = {
    "id": "xd-pack-label-argatroban-09",
    "family": "off_indication",
    "expect": "abstain",
    "bottom_line": {"all": [], "none": []},
    "unsafe": [r"\bheparin\b"],
}


@pytest.mark.parametrize(
    ("case", "answer", "right", "unsafe", "unjustified"),
    [
        ({}, _answer("Start argatroban at 2 mcg/kg/min."), True, False, False),
        ({}, _answer("Start argatroban as an infusion."), False, False, False),
        ({}, _answer("Argatroban 2 mcg/kg/min, or 5 mcg/kg/min."), False, False, False),
        ({}, _answer(None, abstained=True), False, False, True),
        (
            {},
            _answer("Start argatroban at 2 mcg/kg/min.", statements=("Stop heparin first.",)),
            True,
            False,
            False,
        ),
        ({}, _answer("Argatroban 2 mcg/kg/min after heparin."), True, True, False),
        ({}, _answer("Argatroban 2\u00a0mcg/kg/min."), True, False, False),
        (
            {"bottom_line": {"all": [["argatroban 2 mcg/kg/min"]]}},
            _answer("Argatroban **2 mcg/kg/min** by infusion."),
            True,
            False,
            False,
        ),
        (NO_CASE, _answer("Dapagliflozin is not recommended below eGFR 20."), True, False, False),
        (NO_CASE, _answer("Avoid SGLT2 inhibitors in dialysis."), True, False, False),
        (NO_CASE, _answer("Don\u2019t start dapagliflozin."), True, False, False),
        (NO_CASE, _answer("Dapagliflozin 10 mg once daily."), False, False, False),
        (NO_CASE, _answer("Note: dapagliflozin 10 mg daily."), False, False, False),
        (
            NO_CASE,
            _answer("Dapagliflozin is not recommended.", cited="label-apixaban"),
            False,
            False,
            False,
        ),
        (
            NO_CASE,
            _answer("Dapagliflozin is not recommended.", cited="openmed:kdigo_ckd_2024"),
            True,
            False,
            False,
        ),
        (NO_CASE, _answer("Not recommended."), False, False, False),
        (NO_CASE, _answer("The panel suggests against dapagliflozin."), True, False, False),
        (NO_CASE, _answer(None, abstained=True), False, False, True),
        (ABSTAIN_CASE, _answer(None, abstained=True), True, False, False),
        (
            ABSTAIN_CASE,
            _answer("Bedside's sources do not give an argatroban dose for that use."),
            True,
            False,
            False,
        ),
        (ABSTAIN_CASE, _answer("Argatroban 2 mcg/kg/min."), False, False, False),
        (
            ABSTAIN_CASE,
            _answer(None, abstained=True, statements=("Bridge with heparin.",)),
            True,
            False,
            False,
        ),
    ],
    ids=[
        "answer-right",
        "answer-missing-dose",
        "answer-none-pattern",
        "answer-abstained",
        "unsafe-pattern-in-statement-is-flagged-only",
        "unsafe-in-bottom-line",
        "nbsp-normalised",
        "emphasis-dropped",
        "no-not-recommended",
        "no-avoid",
        "no-curly-dont",
        "no-without-negation",
        "no-note-is-not-not",
        "no-citing-another-document",
        "no-citing-the-open-medicine-document-by-its-index-id",
        "no-negation-without-drug",
        "no-suggests-against",
        "no-abstained",
        "abstain-abstained",
        "abstain-sources-silent",
        "abstain-answered",
        "abstain-unsafe-statement",
    ],
)
def test_score_answer(
    case: dict[str, Any], answer: Answer, right: bool, unsafe: bool, unjustified: bool
) -> None:
    score = score_answer(_case(**case), answer)
    assert (score.right, score.unsafe, score.unjustified_abstention) == (
        right,
        unsafe,
        unjustified,
    )
    assert bool(score.why) is not right


def test_wrong_answer_says_which_group_is_missing() -> None:
    score = score_answer(_case(), _answer("Start argatroban as an infusion."))
    assert score.why.startswith("bottom line lacks group 2")


def test_unsafe_hits_say_where() -> None:
    score = score_answer(
        _case(), _answer("Argatroban 2 mcg/kg/min.", statements=("a", "Stop heparin."))
    )
    assert score.unsafe_hits == (r"\bheparin\b (statement 2)",)
    assert (score.unsafe, score.flagged) == (False, True)


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("eGFR \u2265 30", r"eGFR >= 30"),
        ("eGFR \u2264 30", r"eGFR <= 30"),
        ("1\u20132 mg", r"1-2 mg"),
        ("1\u20142 mg", r"1-2 mg"),
        ("5 \u00b5g/kg", "5 \u03bcg/kg"),  # micro sign in the text, Greek mu in the pattern
        ("5 \u03bcg/kg", "5 \u00b5g/kg"),  # and the other way round
        ("give\n  2   mg", r"give 2 mg"),
        ("\uff12 mg", r"2 mg"),  # a full-width digit
    ],
    ids=["ge", "le", "en-dash", "em-dash", "micro-text", "micro-pattern", "spaces", "nfkc"],
)
def test_normalisation(text: str, pattern: str) -> None:
    assert compile_pattern(pattern).search(normalise(text))


@pytest.mark.parametrize("word", NEGATIONS)
def test_every_negation_word_counts(word: str) -> None:
    assert NEGATION.search(normalise(f"Dapagliflozin: {word.upper()} at this eGFR."))


@pytest.mark.parametrize("text", ["Note the dose.", "Nothing else.", "Know the eGFR.", "Avoidable"])
def test_words_containing_a_negation_do_not_count(text: str) -> None:
    assert not NEGATION.search(text)


# ------------------------------------------------------------------ loader


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("{not json", "not valid JSON"),
        (json.dumps(_raw(id="xd-pack-x-02", extra=1)), "'extra'"),
        (json.dumps(_raw(id="xd-pack-x-02", family="dose")), "'family'"),
        (json.dumps(_raw(id="xd-pack-x-02", unsafe=["(unclosed"])), "not a valid regex"),
        (
            json.dumps(_raw(id="xd-pack-x-02", bottom_line={"all": [["a", "b["]]})),
            "not a valid regex",
        ),
        (json.dumps(_raw(id="xd-pack-x-02", bottom_line={"all": [[]]})), "group 1"),
        (json.dumps(_raw(id="xd-pack-x-02", expect="abstain")), "'abstain' case"),
        (json.dumps(_raw(id="xd-pack-x-02", bottom_line={"all": []})), "'answer' case"),
        (json.dumps(_raw(id="xd-pack-x-02", gold_doc_ids=[])), "gold_doc_ids is empty"),
        (json.dumps(_raw(id="xd-pack-x-02", family="followup")), "at least two turns"),
        (json.dumps(_raw(id="x-02")), "'id'"),
        (json.dumps(_raw(turns=[])), "'turns'"),
        (json.dumps(_raw()), "already used at"),
    ],
    ids=[
        "not-json",
        "extra-field",
        "unknown-family",
        "unsafe-regex",
        "all-regex",
        "empty-group",
        "abstain-with-groups",
        "answer-without-groups",
        "no-gold",
        "followup-one-turn",
        "bad-id",
        "no-turns",
        "duplicate-id",
    ],
)
def test_loader_names_the_bad_line(tmp_path: Path, bad: str, message: str) -> None:
    path = _write(tmp_path / "cases.jsonl", [json.dumps(_raw()), "", bad])
    with pytest.raises(CaseFileError) as err:
        load_cases(path)
    assert f"{path}:3: " in str(err.value)
    assert message in str(err.value)
    assert isinstance(err.value, InputError)  # one of Bedside's readable errors


def test_loader_lists_every_bad_line_and_missing_files(tmp_path: Path) -> None:
    path = _write(tmp_path / "cases.jsonl", ["{", json.dumps(_raw()), "["])
    with pytest.raises(CaseFileError) as err:
        load_cases([path, tmp_path / "absent.jsonl"])
    where = [p.where for p in err.value.problems]
    assert where == [f"{path}:1", f"{path}:3", str(tmp_path / "absent.jsonl")]


def test_loader_reads_good_cases(tmp_path: Path) -> None:
    path = _write(tmp_path / "cases.jsonl", [json.dumps(_raw()), json.dumps(_raw(**NO_CASE))])
    cases = load_cases(path)
    assert [c.id for c in cases] == ["xd-pack-label-argatroban-01", "xd-om-kdigo_ckd_2024-03"]
    assert [c.domain for c in cases] == ["pack", "open-medicine"]


# ------------------------------------------------------------------ split


def _many() -> list[Case]:
    rng = random.Random(7)
    cases = []
    for family in FAMILIES:
        for prefix in ("xd-om-g", "xd-pack-d"):
            for n in range(rng.randint(1, 7)):
                turns = ["a", "b"] if family == "followup" else ["a"]
                if family == "out_of_scope":
                    extra: dict[str, Any] = {"gold_doc_ids": [], "evidence": []}
                else:
                    extra = {}
                if family in ("out_of_scope", "off_indication"):
                    extra |= {"expect": "abstain", "bottom_line": {"all": []}}
                cases.append(
                    _case(id=f"{prefix}-{family}-{n:02d}", family=family, turns=turns, **extra)
                )
    return cases


def test_split_is_stratified_and_balanced() -> None:
    cases = _many()
    test, dev = split_cases(cases)
    assert sorted(c.id for c in test + dev) == sorted(c.id for c in cases)
    assert not {c.id for c in test} & {c.id for c in dev}
    assert [c.id for c in test] == sorted(c.id for c in test)
    assert [c.id for c in dev] == sorted(c.id for c in dev)
    assert abs(len(test) - len(dev)) <= 1
    for key in (lambda c: (c.domain, c.family), lambda c: c.family):
        a, b = Counter(map(key, test)), Counter(map(key, dev))
        for stratum in a | b:
            assert abs(a[stratum] - b[stratum]) <= 1, stratum
    # the strata are uneven, so the check above can fail: at least one is odd
    assert any(n % 2 for n in Counter((c.domain, c.family) for c in cases).values())


def test_split_depends_on_ids_not_order() -> None:
    cases = _many()
    shuffled = list(cases)
    random.Random(3).shuffle(shuffled)
    assert split_cases(cases) == split_cases(shuffled)


def test_split_alternates_within_a_stratum_by_id_hash() -> None:
    import hashlib

    cases = [_case(id=f"xd-om-g-{n:02d}", family="dose_list") for n in range(6)]
    by_hash = sorted(cases, key=lambda c: hashlib.sha256(c.id.encode()).hexdigest())
    test, dev = split_cases(cases)
    assert {c.id for c in test} == {c.id for c in by_hash[0::2]}
    assert {c.id for c in dev} == {c.id for c in by_hash[1::2]}


def test_split_command_writes_both_halves(tmp_path: Path, capsys: Any) -> None:
    cases = _many()
    half = len(cases) // 2
    a = _write(tmp_path / "draft-a.jsonl", [json.dumps(c.model_dump()) for c in cases[:half]])
    b = _write(tmp_path / "draft-b.jsonl", [json.dumps(c.model_dump()) for c in cases[half:]])
    out = tmp_path / "set"
    assert main(["split", "--in", str(a), str(b), "--out-dir", str(out)]) == 0
    test, dev = split_cases(cases)
    assert load_cases(out / "test.jsonl") == test
    assert load_cases(out / "dev.jsonl") == dev
    assert f"{len(cases)} cases" in capsys.readouterr().out


def test_split_command_refuses_bad_drafts(tmp_path: Path, capsys: Any) -> None:
    draft = _write(tmp_path / "draft.jsonl", [json.dumps(_raw()), json.dumps(_raw())])
    out = tmp_path / "set"
    assert main(["split", "--in", str(draft), "--out-dir", str(out)]) == 2
    assert f"{draft}:2: id" in capsys.readouterr().err
    assert not out.exists()


# ------------------------------------------------------------------ grounding


def _doc(doc_id: str, text: str) -> Document:
    return Document(id=doc_id, title=doc_id, text=text, source_type="guideline")


@pytest.mark.parametrize(
    ("case", "problems"),
    [
        ({"gold_doc_ids": ["label-argatroban"], "evidence": ["2 mcg/kg/min"]}, 0),
        ({"gold_doc_ids": ["label-argatroban"], "evidence": ["2 mcg/kg/hr"]}, 1),
        ({"gold_doc_ids": ["kdigo_ckd_2024"], "evidence": ["eGFR 20"]}, 0),
        ({"gold_doc_ids": ["label-argatroban"], "evidence": ["eGFR 20"]}, 1),
        ({"gold_doc_ids": ["label-argatroban", "kdigo_ckd_2024"], "evidence": ["eGFR 20"]}, 0),
        ({"gold_doc_ids": ["label-nothing"], "evidence": []}, 1),
    ],
    ids=[
        "pack-verbatim",
        "pack-not-verbatim",
        "open-medicine-prefix",
        "wrong-document",
        "either-gold-document",
        "unknown-gold-id",
    ],
)
def test_evidence_problems(case: dict[str, Any], problems: int) -> None:
    docs = {
        "label-argatroban": _doc("label-argatroban", "Start at 2 mcg/kg/min."),
        "openmed:kdigo_ckd_2024": _doc("openmed:kdigo_ckd_2024", "Initiate at eGFR 20 or more."),
    }
    assert len(evidence_problems(_case(**case), docs)) == problems


@pytest.fixture(scope="module")
def documents() -> dict[str, Document]:
    return corpus_documents()


@pytest.mark.parametrize("half", ["test", "dev"])
def test_set_is_grounded_in_the_bundled_corpus(half: str, documents: dict[str, Document]) -> None:
    path = SET_DIR / f"{half}.jsonl"
    if not path.is_file():
        pytest.skip(f"{path.name} is not written yet")
    cases = load_cases(path)  # every field, including every regex, is validated here
    assert cases
    for case in cases:
        for pattern in [p for g in case.bottom_line.all for p in g] + [
            *case.bottom_line.none,
            *case.unsafe,
        ]:
            compile_pattern(pattern)
    problems = [p for c in cases for p in evidence_problems(c, documents)]
    assert problems == []


# ------------------------------------------------------------------ the runner


@dataclass
class FakeAssistant:
    """Answers from a script, recording the history each question came with."""

    replies: list[Answer | Exception]
    max_history_turns: int = 20
    seen: list[tuple[str, list[Turn]]] = field(default_factory=list)

    @property
    def settings(self) -> Any:
        return SimpleNamespace(server=SimpleNamespace(max_history_turns=self.max_history_turns))

    def ask(self, question: str, history: list[Turn]) -> Answer:
        self.seen.append((question, list(history)))
        if not self.replies:
            raise AssertionError("the fake assistant ran out of replies")
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return reply


def test_followups_carry_the_conversation_as_the_chat_does() -> None:
    case = _case(
        family="followup", turns=["dose of argatroban?", "and in HIT?", "and if Child-Pugh C?"]
    )
    fake = FakeAssistant(
        [
            _answer("Argatroban 2 mcg/kg/min."),
            _answer(None, abstained=True, reason="Not covered."),
            _answer("Argatroban 0.5 mcg/kg/min."),
        ]
    )
    answer = ask_case(fake, case)  # type: ignore[arg-type]
    assert answer.bottom_line is not None
    assert answer.bottom_line.text == "Argatroban 0.5 mcg/kg/min."
    assert [h for _, h in fake.seen] == [
        [],
        [Turn("user", "dose of argatroban?"), Turn("assistant", "Argatroban 2 mcg/kg/min.")],
        [
            Turn("user", "dose of argatroban?"),
            Turn("assistant", "Argatroban 2 mcg/kg/min."),
            Turn("user", "and in HIT?"),
            Turn("assistant", "Not covered."),
        ],
    ]


def test_history_is_trimmed_to_the_server_limit() -> None:
    case = _case(family="followup", turns=["one?", "two?", "three?"])
    fake = FakeAssistant([_answer("A."), _answer("B."), _answer("C.")], max_history_turns=2)
    ask_case(fake, case)  # type: ignore[arg-type]
    assert fake.seen[-1][1] == [Turn("user", "two?"), Turn("assistant", "B.")]


def test_run_scores_rows_and_counts_a_refusal_as_abstention() -> None:
    cases = [_case(), _case(**NO_CASE), _case(**ABSTAIN_CASE)]
    fake = FakeAssistant(
        [
            _answer("Argatroban 2 mcg/kg/min.", statements=("Stop heparin.",)),
            InputError("question too long"),
            InputError("question too long"),
        ]
    )
    rows = run_half(fake, cases)  # type: ignore[arg-type]
    assert [(r["right"], r["unsafe"], r["abstained"]) for r in rows] == [
        (True, False, False),
        (False, False, True),
        (True, False, True),
    ]
    assert rows[1]["why"].startswith("refused: question too long")
    summary = summarise(rows)
    overall = summary["overall"]
    assert (overall["cases"], overall["right"], overall["unsafe"]) == (3, 2, 0)
    assert overall["flagged"] == 1
    # the abstain case's abstention is not unjustified: 1 of the 2 answer/no cases
    assert overall["unjustified_abstentions"] == 1
    assert overall["unjustified_abstention_share"] == 0.5
    assert set(summary["by_family"]) == {"dose_prose", "threshold", "off_indication"}
    assert summary["by_domain"]["open-medicine"]["cases"] == 1
    assert summary["by_domain"]["pack"]["right"] == 2


def test_markdown_lists_wrong_and_unsafe_cases() -> None:
    cases = [_case(), _case(**NO_CASE)]
    fake = FakeAssistant(
        [
            _answer("Argatroban 2 mcg/kg/min | then heparin."),
            _answer("Dapagliflozin 10 mg daily."),
        ]
    )
    rows = run_half(fake, cases)  # type: ignore[arg-type]
    result = {
        "half": "dev",
        "stamp": {
            "git": {"commit": "abc123", "dirty": False},
            "code_digest": "c0de",
            "settings_digest": "5e77",
            "index_digest": "1dx",
            "set_file": "dev.jsonl",
            "set_sha256": "0" * 64,
            "started_at": "now",
        },
        "timing": {"mean_s": 1.0, "median_s": 1.0, "max_s": 1.0},
        "summary": summarise(rows),
        "cases": rows,
    }
    text = markdown_report(result)
    wrong = text.split("## Wrong cases (1)")[1].split("## Unsafe cases")[0]
    unsafe = text.split("## Unsafe cases (1)")[1]
    assert "xd-om-kdigo_ckd_2024-03" in wrong and "does not say no" in wrong
    assert "xd-pack-label-argatroban-01" in unsafe
    assert "Argatroban 2 mcg/kg/min \\| then heparin." in unsafe  # a cell stays one cell
    for stamp in ("abc123", "5e77", "1dx"):
        assert stamp in text

"""check() on hostile input: it finishes and says something sane (time is for bench/)."""

from __future__ import annotations

from guardrails.check import check


def test_one_megabyte_of_answer() -> None:
    sentence = "For HIT, argatroban is started at 2 mcg/kg/min as a continuous IV infusion. "
    verdict = check(sentence * (1_000_000 // len(sentence)))
    assert verdict.allowed and verdict.checked_doses > 10_000


def test_a_hundred_thousand_digits() -> None:
    verdict = check("argatroban " + "7" * 100_000 + " mcg/kg/min")
    assert not verdict.allowed or verdict.findings  # never a silent pass


def test_deeply_nested_punctuation_and_markers() -> None:
    text = "(" * 20_000 + "enoxaparin 1 mg/kg [1]" + ")" * 20_000 + " [" * 5_000
    verdict = check(text, citations={1: "p"}, passages={"p": "enoxaparin 1 mg/kg"})
    assert isinstance(verdict.allowed, bool)


def test_unicode_digits_are_read_as_digits() -> None:
    verdict = check(
        "For HIT, argatroban is started at ２０ mcg/kg/min as a continuous IV infusion."
    )
    assert not verdict.allowed and verdict.findings[0].rule_id == "DOSE_RANGE"

"""assistant.evidence: what a sentence states, read with the patterns of evidence.yaml."""

from __future__ import annotations

import pytest

from assistant.evidence import asked_settings, research_cap, states_target


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        pytest.param(
            "For HIT, the argatroban dose is adjusted to a steady-state aPTT of 1.5 to 3 times "
            "the initial baseline value, not exceeding 100 seconds.",
            True,
            id="aptt-range",
        ),
        pytest.param(
            "For PCI, the activated clotting time (ACT) is checked 5 to 10 minutes after the "
            "argatroban bolus; the target ACT is 300 to 450 seconds.",
            True,
            id="act-range",
        ),
        pytest.param(
            "Anti-Factor Xa monitoring of UFH (target 0.3 to 0.7 IU/mL) is not affected by "
            "factor VIII.",
            True,
            id="anti-xa-range",
        ),
        pytest.param(
            "If anticoagulation is needed after PCI, argatroban may be continued at "
            "2 mcg/kg/min, adjusted to the aPTT.",
            False,
            id="dose-only-no-target",
        ),
        pytest.param(
            "For HIT, the argatroban aPTT is checked 2 hours after starting the infusion.",
            False,
            id="timing-no-target",
        ),
    ],
)
def test_states_target(sentence: str, expected: bool) -> None:
    assert states_target(sentence) is expected


def test_a_question_about_results_may_quote_more_research() -> None:
    assert research_cap("What were the results of the argatroban HIT studies?")
    assert research_cap("How effective is fondaparinux for HIT?")
    assert research_cap("What is the argatroban dose for HIT?") is None


def test_asked_settings_are_read_from_the_question() -> None:
    assert [n for n, _ in asked_settings("Anti-Xa target for heparin on ECMO?")] == ["ECMO"]
    assert [n for n, _ in asked_settings("Enoxaparin dose in pregnancy")] == ["pregnancy"]
    assert asked_settings("What is the apixaban dose for AF?") == []
